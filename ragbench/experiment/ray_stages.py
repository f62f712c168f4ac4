"""The stages of a run on a Ray cluster: index builds, retrieval shards and answer+judge items.

Contract:
- ``start(cluster, ...)`` ships what the workers need of one run (a
  :class:`~ragbench.experiment.ray_worker.RunSpec` in the object store; with ``data: ship`` the
  documents too) and waits until every worker has set the run up (``data: path``: read
  ``dataset.path`` and matched the driver's corpus hash), so a worker that cannot fails before
  any work, in one line. It returns a :class:`ClusterRun`; ``bind(stats)`` gives what
  ``RunContext.executor`` holds (concurrency -> :class:`RayExecutor`).
- ``RayExecutor.pipelines(builder, trials)`` builds the indexes on the workers: one chunking
  per (corpus, chunking, embedding), in parallel; the chunk texts the embedding cache lacks, in
  batches over the workers; the new vectors are written to the cache here (``embed_nodes``, as
  a local build does). The chunks, their embeddings set, go to the object store once; workers
  build their pipelines from them. It returns no pipeline.
- ``RayExecutor.completed(items, work)`` runs a stage's items: retrieval per trial and shard of
  questions (ready-made records here); answer+judge per item, at most ``concurrency`` per worker.
  An item whose answer and verdicts the cache holds never leaves (computed here: no model call),
  the others go with the cache entries the store holds for them; twins (``JudgingWork.twin_key``)
  wait for the first, then use its answer and verdicts, as twin threads do in a local run. The
  cache entries a worker made are put into the run's cache (committed with the item by the
  stage) and its counters added to the run's statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from ragbench import models
from ragbench.config.experiment import EmbeddingConfig, ExperimentConfig, LLMConfig
from ragbench.data.datasets import Dataset
from ragbench.experiment.judging import ItemResult, JudgingWork, WorkItem
from ragbench.experiment.ray_executor import Calls, Cluster, ClusterError
from ragbench.experiment.ray_worker import RunSpec
from ragbench.experiment.retrieval import RetrievalWork
from ragbench.experiment.workers import Work
from ragbench.pipeline.index import embed_nodes
from ragbench.records import RunStats

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")

#: Texts per embedding call: large enough that a call's overhead is small against its work.
EMBED_BATCH = 256
#: Retrieval shards: about this many per worker, so a slow shard does not hold up the stage.
SHARDS_PER_WORKER = 4


@dataclass
class ClusterRun:
    """One run's handle on the cluster (see the module docstring)."""

    cluster: Cluster
    spec: Any  # [ObjectRef of the RunSpec]: boxed, so Ray hands it to workers unresolved
    stats: RunStats | None = None
    chunks: dict[str, Any] = field(default_factory=dict)  # chunks key -> [ObjectRef of Chunks]
    keys: dict[str, str] = field(default_factory=dict)  # trial id -> its chunks key

    def bind(self, stats: RunStats) -> Callable[[int], RayExecutor]:
        """Count into the run's statistics; returns what ``RunContext.executor`` holds."""
        self.stats = stats
        return lambda concurrency: RayExecutor(self, concurrency)


def start(
    cluster: Cluster,
    run_id: str,
    config: ExperimentConfig,
    dataset: Dataset,
    limit: int | None,
    exclude: dict[Path, str],
    judge: LLMConfig,
    judged_metrics: list[str],
    splits: dict[str, str],
    read_path: bool,
) -> ClusterRun:
    """Ship one run to the workers and wait until each has set it up (module docstring)."""
    import ray

    corpus = None if read_path else ray.put(dataset.corpus)  # once; each node fetches it once
    spec = RunSpec(
        run_id, config, dataset.corpus_hash, corpus, limit, exclude, judge, judged_metrics, splits
    )
    box = [ray.put(spec)]
    calls = Calls(cluster, 1)
    for worker in cluster.live():
        calls.put(worker, "setup", box)
    try:
        for _ in calls.results():
            pass
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the documents differ on a node: one line
        raise ClusterError(f"a Ray worker could not set up the run: {exc}") from exc
    return ClusterRun(cluster, box)


class RayExecutor:
    """Runs a stage's work on the cluster (see the module docstring)."""

    def __init__(self, run: ClusterRun, concurrency: int) -> None:
        self.run = run
        self.concurrency = concurrency

    def pipelines(self, builder: Any, trials: Mapping[str, Any]) -> dict[str, Any]:
        """Build the trials' indexes on the workers (module docstring); no pipeline here."""
        import ray

        indexer = builder.indexer
        todo: dict[str, Any] = {}
        for trial_id, trial in trials.items():
            key = self.run.keys[trial_id] = indexer.chunks_key(trial.pipeline)
            if key not in self.run.chunks:
                todo.setdefault(key, trial.pipeline)
        calls = Calls(self.run.cluster, 1)
        for key, cfg in todo.items():
            calls.put(key, "chunk", self.run.spec, cfg)
        chunked = dict(calls.results())
        for key, cfg in todo.items():  # in trial order, as a local run embeds
            chunks = chunked[key]
            model_id = models.embedding_id(cfg.embedding)
            embed_nodes(
                chunks.nodes, self._embedder(cfg.embedding), model_id, indexer.cache, builder.stats
            )
            self.run.chunks[key] = [ray.put(chunks)]
        builder.stats.indexes_built += len({indexer.index_key(t.pipeline) for t in trials.values()})
        return {}

    def _embedder(self, cfg: EmbeddingConfig) -> Callable[[list[str]], list[list[float]]]:
        """Embeds texts in batches spread over the workers, in order."""

        def embed(texts: list[str]) -> list[list[float]]:
            calls = Calls(self.run.cluster, 1)
            for start in range(0, len(texts), EMBED_BATCH):
                calls.put(start, "embed", cfg, texts[start : start + EMBED_BATCH])
            done = dict(calls.results())
            return [vector for start in sorted(done) for vector in done[start]]

        return embed

    def completed(self, items: Iterable[I], work: Work[I, R]) -> Generator[tuple[I, R], None, None]:
        """Each item with its result, as it completes (module docstring)."""
        if isinstance(work, RetrievalWork):
            return cast(Generator[tuple[I, R], None, None], self._retrieved(list(items), work))
        if isinstance(work, JudgingWork):
            return cast(Generator[tuple[I, R], None, None], self._judged(list(items), work))
        raise TypeError(f"no Ray path for {type(work).__name__}")

    def _retrieved(self, items: list[Any], work: RetrievalWork) -> Generator[Any, None, None]:
        """Retrieval: per trial and shard on the workers; ready-made records here."""
        by_trial: dict[str, list[Any]] = {}
        trials = {}
        for trial, question in items:
            if question.retrieved_contexts is None:
                by_trial.setdefault(trial.trial_id, []).append(question)
                trials[trial.trial_id] = trial
        total = sum(map(len, by_trial.values()))
        size = max(1, -(-total // (max(1, len(self.run.cluster.live())) * SHARDS_PER_WORKER)))
        calls = Calls(self.run.cluster, 1)
        for trial_id, questions in by_trial.items():
            chunks = self.run.chunks[self.run.keys[trial_id]]
            for start in range(0, len(questions), size):
                shard = questions[start : start + size]
                calls.put(
                    (trial_id, start), "retrieve", self.run.spec, trials[trial_id], shard, chunks
                )
        calls.start()
        for item in items:
            if item[1].retrieved_contexts is not None:  # nothing to search: only recorded
                yield item, work.compute(item)
        for (trial_id, start), (results, counters) in calls.results():
            self._count(counters)
            questions = by_trial[trial_id][start : start + size]
            for question, result in zip(questions, results, strict=True):
                yield (trials[trial_id], question), result

    def _judged(self, items: list[WorkItem], work: JudgingWork) -> Generator[Any, None, None]:
        """Answer+judge items: cached ones here, twins after their first, the rest on workers."""
        calls = Calls(self.run.cluster, self.concurrency)
        held: dict[str, list[WorkItem]] = {}  # twin key -> twins waiting for the first
        here = []
        for item, (whole, known) in zip(items, work.cached(items), strict=True):
            twin = work.twin_key(item)
            if whole:  # the cache answers everything: no model call, nothing to send
                here.append(item)
            elif twin in held:
                held[twin].append(item)
            else:
                held[twin] = []
                calls.put((item, twin), "judge", self.run.spec, item, known)
        calls.start()
        for item in here:
            yield item, work.compute(item)
        for (item, twin), (result, counters) in calls.results():
            yield item, self._received(result, counters, work)
            waiting = held.pop(twin, [])
            for other, (whole, known) in zip(waiting, work.cached(waiting), strict=True):
                if whole:  # what the first made answers it: as a twin thread finds it locally
                    yield other, work.compute(other)
                elif twin in held:
                    held[twin].append(other)
                else:
                    held[twin] = []
                    calls.put((other, twin), "judge", self.run.spec, other, known)

    @staticmethod
    def _received(result: ItemResult, counters: dict[str, int], work: JudgingWork) -> ItemResult:
        """A worker's result: its cache entries into the run's cache (the stage commits them with
        the item), its counters added to the item's."""
        for kind, key, value in result.cache:
            work.cache.cache_put(kind, key, value)
        result.cache = []
        result.counts.update(counters)
        return result

    def _count(self, counters: dict[str, int]) -> None:
        if self.run.stats is not None:
            self.run.stats.add(counters)
