"""The one record contract every stage of a run hands to the next.

Contract:
- :class:`Record` is one (trial, question): what was asked, what was retrieved, what was answered.
  Field names are ragas' (``user_input``, ``retrieved_contexts``, ``response``, ``reference``), so
  no column mapping exists anywhere: the store's ``records`` table has exactly these columns.
- :class:`ScoreRow` is one (trial, question, metric) score, in long format. A failure is a row with
  ``value`` None and ``error`` saying why; it is never averaged in and never cached.
- :class:`Progress` is what ``run(..., on_progress=...)`` reports to a notebook or a bar.

``run`` builds records in stage A (retrieval), completes them in memory in stage B (answer) and
writes them together with their score rows; the database is read back only to resume or report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
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


SCORE_COLUMNS = tuple(f.name for f in fields(ScoreRow))


@dataclass(frozen=True)
class Progress:
    """Where a run is, for progress displays (``run(..., on_progress=callback)``): reported when a
    stage starts (``done`` 0) and after each (trial, question) pair it finishes."""

    stage: str  # "retrieval" | "records" (ready-made: nothing retrieved) | "answer+judge"
    done: int  # (trial, question) pairs done in this stage; 0: the stage has just started
    total: int  # pairs to do in this stage
    trial: str  # label of the trial being worked on
    elapsed_s: float  # since the run started
