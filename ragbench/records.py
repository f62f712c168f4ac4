"""The one record contract every stage of a run hands to the next.

Contract:
- :class:`Record` is one (trial, question): what was asked, what was retrieved, what was answered.
  Field names are ragas' (``user_input``, ``retrieved_contexts``, ``response``, ``reference``), so
  no column mapping exists anywhere: the store's ``records`` table has exactly these columns.
- :class:`ScoreRow` is one (trial, question, metric) score, in long format. A failure is a row with
  ``value`` None and ``error`` saying why; it is never averaged in and never cached.
- The stages of a run have names, the same in code, progress and stored rows: :data:`RETRIEVAL`
  (or :data:`RECORDS` when a question set comes with its passages), :data:`STAGED_SEARCH` and
  :data:`ANSWER_JUDGE`. :class:`Progress` is what ``run(..., on_progress=...)`` reports to a
  notebook or a bar.
- :class:`RunStats` is the work a run did, counted by its stages as they go (stored as the run's
  ``stats_json``); :class:`RunInfo` is one run as the store reads it back, every JSON column
  parsed once. No other module parses a run's JSON columns.

``run`` builds records in the retrieval stage, completes them in memory in the answer+judge stage
and writes them together with their score rows; the database is read back only to resume or report.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass
class Record:
    """One question answered (or only retrieved for) by one trial."""

    run_id: str
    trial_id: str
    question_id: str
    user_input: str
    retrieved_contexts: list[str]
    retrieved_doc_ids: list[str]
    reference: str | None = None
    response: str | None = None  # None: not answered (outside the judged subset, or failed)
    cited_doc_ids: list[str] | None = None
    retrieval_s: float | None = None
    generation_s: float | None = None
    latency_s: float | None = None  # retrieval + generation
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    split: str | None = None  # the question's held-out split: "dev" | "test"; None: no split

    @property
    def key(self) -> tuple[str, str]:
        """(trial_id, question_id): a record's identity within its run."""
        return self.trial_id, self.question_id

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Record:
        """Build from a mapping with extra keys (e.g. a joined ``label``) ignored."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        for name in ("retrieved_contexts", "retrieved_doc_ids", "cited_doc_ids"):
            if values.get(name) is not None:
                values[name] = list(values[name])
        return cls(**values)


RECORD_COLUMNS = tuple(f.name for f in fields(Record))


@dataclass
class ScoreRow:
    """One metric's score for one (trial, question); ``value`` is None exactly when ``error`` is set."""

    run_id: str
    trial_id: str
    question_id: str
    metric: str
    value: float | None
    error: str | None = None
    seconds: float | None = None
    details: str | None = None  # JSON: judge trace, tokens spent, cache hit

    def __post_init__(self) -> None:
        if (self.value is None) == (self.error is None):
            raise ValueError(
                f"score {self.metric} of {self.question_id}: exactly one of value and error "
                f"must be set (value={self.value!r}, error={self.error!r})"
            )
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(
                f"score {self.metric} of {self.question_id}: {self.value} is not finite"
            )

    @classmethod
    def of(
        cls,
        record: Record,
        metric: str,
        value: float | None,
        error: str | None = None,
        seconds: float | None = None,
        details: str | None = None,
    ) -> ScoreRow:
        """A score of ``record``'s (run, trial, question)."""
        key = (record.run_id, record.trial_id, record.question_id)
        return cls(*key, metric, value, error, seconds, details)


SCORE_COLUMNS = tuple(f.name for f in fields(ScoreRow))


#: Every (trial, question) is retrieved for, and scored on the retrieval metrics.
RETRIEVAL = "retrieval"
#: The retrieval stage of a question set that comes with its passages: nothing is searched.
RECORDS = "records"
#: Staged search keeps the trials that go on to be answered and judged (``staged:``).
STAGED_SEARCH = "staged search"
#: Answers are generated and judged, for the judged questions of the trials that went on.
ANSWER_JUDGE = "answer+judge"
#: The stage a trial reached, in run order (a trial staged search pruned reached retrieval only).
STAGES = (RETRIEVAL, STAGED_SEARCH, ANSWER_JUDGE)


@dataclass(frozen=True)
class Progress:
    """Where a run is, for progress displays (``run(..., on_progress=callback)``): reported when a
    stage starts (``done`` 0) and after each (trial, question) pair it finishes."""

    stage: str  # RETRIEVAL | RECORDS (ready-made: nothing retrieved) | ANSWER_JUDGE
    done: int  # (trial, question) pairs done in this stage; 0: the stage has just started
    total: int  # pairs to do in this stage
    trial: str  # label of the trial being worked on
    elapsed_s: float  # since the run started


@dataclass
class RunStats:
    """The work a run did. The stages and the index builder count into one instance as they go;
    it is stored as the run's ``stats_json`` and read back by :meth:`from_dict` (keys a file of
    an older version lacks keep their defaults, keys it has that this version does not are
    dropped)."""

    seconds: float = 0.0  # the whole run
    # retrieval: indexes and embeddings
    indexes_built: int = 0
    chunks_embedded: int = 0
    chunks_from_cache: int = 0
    chunks_from_vector_store: int = 0
    embed_seconds: float = 0.0
    # answer + judge
    generated: int = 0
    generation_cache_hits: int = 0
    judged: int = 0
    judge_cache_hits: int = 0
    judge_failures: int = 0
    judge_calls: int = 0  # judge LLM calls made (cache hits make none)
    endpoint_retries: int = 0  # 429s, 5xx and lost calls retried by endpoint LLMs
    transactions: int = 0  # DuckDB write transactions of the records and scores
    allocation: dict[str, Any] | None = None  # the allocator's summary (judge_budget / adaptive)
    # the inputs
    dataset: str = ""  # what was loaded, e.g. "demo: 15 documents, 25 questions"
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what makes the run unfit to decide on

    def add(self, counts: dict[str, int]) -> None:
        """Add counts by field name (a work item's counters)."""
        for name, n in counts.items():
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunStats:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names and v is not None}
        values["skipped_files"] = [(str(p), str(r)) for p, r in values.get("skipped_files", [])]
        return cls(**values)


@dataclass(frozen=True)
class RunInfo:
    """One run as the store reads it back: its row of ``runs`` with the JSON columns parsed."""

    run_id: str
    experiment: str
    status: str  # running | finished | failed
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None  # why the run failed, or its problems
    git_sha: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the resolved experiment config
    versions: dict[str, Any] = field(default_factory=dict)  # packages, model identities
    fake_models: bool = False  # any trial used a test double: its scores mean nothing
    dataset: str | None = None
    config_hash: str | None = None  # None: a run from before hashes were stored
    data_hash: str | None = None
    stats: RunStats = field(default_factory=RunStats)

    @property
    def metrics(self) -> list[str]:
        """The experiment's ``metrics``, in its own order."""
        return [str(m) for m in self.config.get("metrics") or []]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunInfo:
        """From a ``runs`` row. Version-1 files kept the statistics in ``message``."""
        stats: dict[str, Any] = {}
        for text in (row.get("stats_json"), row.get("message")):
            if isinstance(text, str) and text.startswith("{"):
                try:
                    stats = dict(json.loads(text))
                    break
                except ValueError:
                    continue
        return cls(
            run_id=str(row["run_id"]),
            experiment=str(row["experiment"]),
            status=str(row["status"]),
            started_at=_time(row.get("started_at")),
            finished_at=_time(row.get("finished_at")),
            message=_text(row.get("message")),
            git_sha=_text(row.get("git_sha")),
            config=json.loads(row.get("config_json") or "{}"),
            versions=json.loads(row.get("versions_json") or "{}"),
            fake_models=bool(row.get("fake_models")),
            dataset=_text(row.get("dataset")),
            config_hash=_text(row.get("config_hash")),
            data_hash=_text(row.get("data_hash")),
            stats=RunStats.from_dict(stats),
        )


def _text(value: Any) -> str | None:
    """A nullable text column (pandas reads NULL as None or NaN)."""
    return value if isinstance(value, str) else None


def _time(value: Any) -> datetime | None:
    if value is None or value != value:  # NULL, or pandas' NaT (not equal to itself)
        return None
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
