"""The worker side of a run on a Ray cluster: one :class:`Worker` per worker slot, and the preflight.

Contract:
- :class:`Worker` is a plain class; ``ray_executor`` makes it a Ray actor (one per worker slot,
  threaded, restarted where it can run when its process or node dies). It holds a
  :class:`~ragbench.models.cache.ModelCache` for its whole life (a local model is loaded once per
  worker, whatever the run) and, per run, a :class:`WorkerRun`: the corpus (shipped through the
  object store, or read from ``dataset.path`` and checked against the driver's corpus hash), a
  :class:`~ragbench.pipeline.rag.Builder` whose indexes are the chunks the driver sends (with
  their embeddings), the run's judge and a :class:`WorkerCache`.
- Every method that belongs to a run is handed the run's :class:`RunSpec` as ``[ObjectRef]`` and
  sets the run up on first use, so a worker restarted mid-run (its process or node died, Ray
  retries its calls) carries on. ``chunk``, ``embed``, ``retrieve`` and ``judge`` compute with
  the same code as a local run (``Indexer.chunks``, ``get_text_embedding_batch``,
  ``RetrievalWork.compute``, ``JudgingWork.compute``) and never write to the store: they return
  records, score rows, vectors and the cache entries they made, and the counters the driver
  sums (``judge_calls``, ``endpoint_retries``: what was made since the last result said).
- ``preflight(needs)`` checks, on one node, what a run needs there (the ragbench version, local
  GGUF and embedding folders with the driver's content identity, llama.cpp, cross-encoder
  folders, API key variables the driver sends, ``dataset.path`` when workers read it) and returns
  what is missing, one line each.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragbench import models
from ragbench.config.experiment import EmbeddingConfig, ExperimentConfig, LLMConfig, PipelineConfig
from ragbench.config.redact import redact_text
from ragbench.config.secrets import secrets_for
from ragbench.data.datasets import Dataset, Question, load_dataset
from ragbench.experiment.judging import ItemResult, JudgingWork, WorkItem, make_judge
from ragbench.experiment.retrieval import RetrievalWork
from ragbench.models.cache import ModelCache
from ragbench.pipeline.index import Chunks
from ragbench.pipeline.rag import Builder
from ragbench.records import Record, RunStats, ScoreRow
from ragbench.store.rows import CacheEntry


@dataclass(frozen=True)
class RunSpec:
    """What a worker needs of one run (put into the object store once per run)."""

    run_id: str
    config: ExperimentConfig
    corpus_hash: str
    corpus: Any  # ObjectRef of the documents (data: ship), or None: read dataset.path
    limit: int | None  # the run's question limit (data: path loads the dataset as the driver did)
    exclude: dict[Path, str]  # the run's own files, never documents (data: path)
    judge: LLMConfig
    judged_metrics: list[str]
    splits: dict[str, str]


class WorkerCache:
    """The answer and verdict cache of one worker and run: what the driver sent with each item,
    and what this worker made (also queued for the driver, which commits it). Thread-safe."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], Any] = {}
        self._queue: list[CacheEntry] = []

    def add(self, entries: list[CacheEntry]) -> None:
        """Entries the driver read from the store (stored values: JSON, redacted)."""
        with self._lock:
            for kind, key, value in entries:
                self._known.setdefault((kind, key), value)

    def prefetch(self, kind: str, keys: Any) -> None:
        """Nothing to read: the driver sent what the store holds."""

    def cache_get(self, kind: str, key: str) -> Any | None:
        with self._lock:
            return self._known.get((kind, key))

    def cache_put(self, kind: str, key: str, value: Any) -> None:
        # What a get from the results file would return: the value as JSON, redacted.
        stored = json.loads(redact_text(json.dumps(value, default=str), self.secrets))
        with self._lock:
            self._known[(kind, key)] = stored
            self._queue.append((kind, key, value))

    def drain(self) -> list[CacheEntry]:
        with self._lock:
            queue, self._queue = self._queue, []
        return queue


@dataclass
class WorkerRun:
    """One run's state on one worker (see the module docstring)."""

    spec: RunSpec
    builder: Builder
    vectors_dir: Path
    cache: WorkerCache
    judging: JudgingWork | None = None
    provided: set[str] = field(default_factory=set)  # chunk keys whose chunks were received
    calls: int = 0  # judge calls already reported to the driver
    lock: threading.Lock = field(default_factory=threading.Lock)


class Worker:
    """One worker slot of a run on a Ray cluster (see the module docstring)."""

    def __init__(self) -> None:
        self.models = ModelCache()
        self.tmp = Path(tempfile.mkdtemp(prefix="ragbench-worker-"))
        self._runs: dict[str, WorkerRun] = {}
        self._lock = threading.Lock()
        self._retries = 0  # endpoint retries already reported to a driver

    def ping(self) -> dict[str, Any]:
        """Where this worker runs (node, process) and with which ragbench."""
        import ray

        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "ragbench": _version("ragbench"),
        }

    def setup(self, box: list[Any]) -> dict[str, Any]:
        """Set up a run now (the driver waits for every worker: a bad corpus fails early)."""
        run = self._run(box)
        return self.ping() | {"documents": len(run.builder.dataset.corpus)}

    def chunk(self, box: list[Any], cfg: PipelineConfig) -> Chunks:
        """The corpus chunked for ``cfg`` (no embeddings yet: the driver sets them)."""
        return self._run(box).builder.indexer.chunks(cfg)

    def embed(self, cfg: EmbeddingConfig, texts: list[str]) -> list[list[float]]:
        """The vectors of ``texts`` (the driver sends only those its cache lacks)."""
        vectors = self.models.embedding(cfg).get_text_embedding_batch(texts)
        return [list(map(float, v)) for v in vectors]

    def retrieve(
        self, box: list[Any], trial: Any, questions: list[Question], chunks: list[Any]
    ) -> tuple[list[tuple[Record, list[ScoreRow]]], dict[str, int]]:
        """Retrieve for one trial and a shard of its questions: each record and its scores."""
        import ray

        run = self._run(box)
        cfg = trial.pipeline
        if cfg.retrieval.vector_store == "duckdb":  # this worker's own file, never the driver's
            path = str(run.vectors_dir / "vectors.duckdb")
            cfg = cfg.model_copy(
                update={"retrieval": cfg.retrieval.model_copy(update={"vector_store_path": path})}
            )
        with run.lock:  # building a pipeline once, whichever thread asks first
            key = run.builder.indexer.chunks_key(cfg)
            if key not in run.provided:
                run.builder.indexer.provide(cfg, ray.get(chunks[0]))
                run.provided.add(key)
            pipeline = run.builder.build(cfg)
        spec = run.spec
        work = RetrievalWork(
            {trial.trial_id: pipeline}, spec.run_id, spec.config.metrics, spec.splits
        )
        out = [work.compute((trial, q)) for q in questions]
        return out, self._counters(None)

    def judge(
        self, box: list[Any], item: WorkItem, known: list[CacheEntry]
    ) -> tuple[ItemResult, dict[str, int]]:
        """Answer and judge one item with the cache entries the driver sent; the entries this
        worker made come back in ``ItemResult.cache``."""
        run = self._run(box)
        with run.lock:
            if run.judging is None:
                spec = run.spec
                judge = make_judge(self.models, spec.judge, spec.judged_metrics, run.cache)
                run.judging = JudgingWork(self.models, judge, run.cache)
        run.cache.add(known)
        result = run.judging.compute(item)
        result.cache = run.cache.drain()
        return result, self._counters(run)

    def _run(self, box: list[Any]) -> WorkerRun:
        """The run a call belongs to, set up on first use (also after a restart)."""
        import ray

        spec_ref = box[0]
        key = spec_ref.hex()
        with self._lock:
            if key in self._runs:
                return self._runs[key]
            self._runs.clear()  # one run at a time: a new one frees the last one's indexes
            spec: RunSpec = ray.get(spec_ref)
            if spec.corpus is not None:
                documents = ray.get(spec.corpus)
                name = spec.config.dataset.loader
            else:
                loaded = load_dataset(spec.config.dataset, spec.limit, exclude=spec.exclude)
                documents, name = loaded.corpus, loaded.name
            dataset = Dataset(name, documents, [])
            if dataset.corpus_hash != spec.corpus_hash:
                node = ray.get_runtime_context().get_node_id()[:12]
                raise ValueError(
                    f"the documents Ray node {node} read from {spec.config.dataset.path} differ "
                    f"from the driver's (corpus hash {dataset.corpus_hash}, driver "
                    f"{spec.corpus_hash}): give every node the same files, or use executor "
                    "data: ship"
                )
            run = WorkerRun(
                spec,
                Builder(dataset, cache=None, stats=RunStats(), models=self.models),
                Path(tempfile.mkdtemp(prefix=f"run-{spec.run_id}-", dir=self.tmp)),
                WorkerCache(secrets_for(spec.config)),
            )
            self._runs[key] = run
            return run

    def _counters(self, run: WorkerRun | None) -> dict[str, int]:
        """Judge calls and endpoint retries made since the last result reported them."""
        with self._lock:
            retries = sum(int(getattr(llm, "retries", 0)) for llm in self.models.llms())
            new_retries, self._retries = retries - self._retries, retries
            calls = 0
            if run is not None and run.judging is not None:
                total = run.judging.judge.calls
                calls, run.calls = total - run.calls, total
        return {"judge_calls": calls, "endpoint_retries": new_retries}


# --- preflight ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needs:
    """What a run needs on every node (made by the driver, checked by :func:`preflight`)."""

    ragbench: str | None
    llms: dict[str, LLMConfig]  # the driver's content identity -> config
    embeddings: dict[str, EmbeddingConfig]  # likewise
    folders: list[str]  # cross-encoder model folders
    env: list[str]  # API key variables the driver has set (its endpoints send them)
    dataset_path: str | None  # data: path
    python: str = ""  # major.minor


def preflight(needs: Needs) -> list[str]:
    """What this node lacks for the run, one line each (empty: nothing)."""
    import platform

    problems = []
    here = _version("ragbench")
    if here != needs.ragbench:
        problems.append(f"ragbench {here} installed, the driver runs {needs.ragbench}")
    python = ".".join(platform.python_version_tuple()[:2])  # what pickles must agree on
    if needs.python and python != needs.python:
        problems.append(f"Python {python}, the driver runs {needs.python}")
    for identity, cfg in needs.llms.items():
        problems += _check_model(identity, cfg, models.llm_id, "LLM")
    for identity, emb in needs.embeddings.items():
        problems += _check_model(identity, emb, models.embedding_id, "embedding")
    if any(cfg.provider == "local" for cfg in needs.llms.values()):
        try:
            importlib.import_module("llama_cpp")
        except ImportError:
            problems.append("llama-cpp-python is not installed (pip install 'ragbench[local]')")
    problems += [f"model folder not found: {f}" for f in needs.folders if not Path(f).is_dir()]
    problems += [f"environment variable {n} is not set" for n in needs.env if not os.environ.get(n)]
    if needs.dataset_path and not Path(needs.dataset_path).exists():
        problems.append(f"dataset.path not found: {needs.dataset_path} (executor data: path)")
    return problems


def _check_model(identity: str, cfg: Any, identify: Any, kind: str) -> list[str]:
    """A local model this node must hold, with the identity the driver's cache keys name."""
    if cfg.provider in ("fake", "hashing", "openai"):
        return []
    if kind == "LLM" and cfg.model and not Path(cfg.model).is_file():
        return [f"GGUF model file not found: {cfg.model}"]
    if cfg.provider == "sentence-transformers" and not Path(cfg.model or "").is_dir():
        return [f"embedding model folder not found: {cfg.model}"]
    if kind == "LLM" and not cfg.model:
        if not (models.cache_dir() / "models" / f"{models.QWEN_NAME}.gguf").is_file():
            try:
                models.qwen_part_paths()  # the parts it is assembled from, on first use
            except models.ModelError as exc:
                return [f"the default local LLM is missing: {exc}"]
    try:
        here = identify(cfg)
    except Exception as exc:  # noqa: BLE001 - a missing package or folder, said in one line
        return [f"{kind} {cfg.provider} cannot be loaded: {type(exc).__name__}: {exc}"]
    if here != identity:
        return [f"{kind} {cfg.provider} differs from the driver's ({here}, driver {identity})"]
    return []


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
