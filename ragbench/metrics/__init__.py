"""Every metric, one spec each: what it reads, which questions it applies to, how it is scored.

Contract:
- Three name -> spec tables, each beside the code that computes its metrics:
  :data:`RETRIEVAL` (``retrieval.py``: of the retrieved chunks, every trial and question, no
  model), :data:`ANSWER` (``answer.py``: read from the answer, no model) and :data:`JUDGED`
  (``judged.py``: the judge LLM and/or embedding, through ragas). The spec shapes are in
  ``spec.py``. Adding a metric is adding one entry to one table: config validation, the run's
  stages, the judge, the report and ``ragbench init`` all ask the helpers below.
- The helpers read the tables when called (never a copy made at import), so an entry added at
  run time (a test's ``monkeypatch.setitem(JUDGED, "toy", spec)``) is known everywhere at once.
- ``spec(name)`` and every helper taking a name raise ``ValueError`` for a name in no table.
- ``names(kind)``: the metric names of a kind, in table order; kinds: ``None`` (every metric:
  retrieval, judged, answer), ``"retrieval"``, ``"gold"`` (retrieval metrics that need gold
  documents), ``"ranked"`` (those that read only the ranking and the gold documents),
  ``"judged"``, ``"answer"``, ``"answered"`` (judged and answer: scored on answered questions)
  and ``"labelled"`` (judged metrics people can label: their spec has a ``label``).
- Human labels are score rows of metric ``human:<metric>`` (:data:`HUMAN`): ``label_metric``
  names one, ``labelled_metric`` reads the metric back, ``label_spec`` is a metric's
  :class:`LabelSpec` (``ValueError`` naming the labellable metrics for any other).
- The former tuple constants (``GOLD_METRICS``, ``RETRIEVAL_METRICS``, ``RANKED_METRICS``,
  ``JUDGED_METRICS``, ``ANSWER_METRICS``, ``METRICS``) are read-only views: each read asks
  ``names`` again.
"""

from __future__ import annotations

from collections.abc import Callable

from ragbench.metrics.answer import ANSWER, abstained, declines
from ragbench.metrics.judged import JUDGED
from ragbench.metrics.retrieval import RETRIEVAL, retrieval_scores
from ragbench.metrics.spec import (
    AnswerSpec,
    JudgedSpec,
    JudgeSettings,
    LabelSpec,
    RetrievalSpec,
    Retrieved,
    Scorer,
    Spec,
)
from ragbench.metrics.text import STOPWORDS, content_words


def _tables() -> tuple[dict[str, RetrievalSpec], dict[str, JudgedSpec], dict[str, AnswerSpec]]:
    return RETRIEVAL, JUDGED, ANSWER  # the order of names(): retrieval, judged, answer


def spec(name: str) -> Spec:
    """The spec of metric ``name``, from whichever table holds it.

    Raises:
        ValueError: no table has ``name``.
    """
    for table in _tables():
        if name in table:
            return table[name]
    raise ValueError(f"unknown metric '{name}'; valid: {', '.join(names())}")


def _gold() -> list[str]:
    return [n for n, s in RETRIEVAL.items() if "gold_doc_ids" in s.needs]


def _ranked() -> list[str]:
    return [n for n, s in RETRIEVAL.items() if s.needs == ("gold_doc_ids",)]


_KINDS: dict[str | None, Callable[[], list[str]]] = {
    None: lambda: [n for table in _tables() for n in table],
    "retrieval": lambda: list(RETRIEVAL),
    "gold": _gold,
    "ranked": _ranked,
    "judged": lambda: list(JUDGED),
    "answer": lambda: list(ANSWER),
    "answered": lambda: [*JUDGED, *ANSWER],
    "labelled": lambda: [n for n, s in JUDGED.items() if s.label is not None],
}

#: The metric prefix of a person's label of a judged item: ``human:faithfulness``.
HUMAN = "human:"


def names(kind: str | None = None) -> tuple[str, ...]:
    """The metric names of ``kind`` (see the module docstring), in table order.

    Raises:
        ValueError: an unknown kind.
    """
    if kind not in _KINDS:
        valid = ", ".join(k for k in _KINDS if k is not None)
        raise ValueError(f"unknown metric kind {kind!r}; valid: {valid}")
    return tuple(_KINDS[kind]())


def kind(name: str) -> str:
    """``"retrieval"``, ``"judged"`` or ``"answer"``: the table that holds ``name``."""
    found = spec(name)
    if isinstance(found, RetrievalSpec):
        return "retrieval"
    return "judged" if isinstance(found, JudgedSpec) else "answer"


def applies(name: str, answerable: bool) -> bool:
    """Whether metric ``name`` is scored on a question: ``abstained`` only on unanswerable ones
    (declining an answerable question is not a virtue the mean should reward), retrieval
    metrics only on answerable ones, judged metrics on both."""
    questions = spec(name).questions
    return questions == "all" or (questions == "answerable") == answerable


def reads_answer(name: str) -> bool:
    """Whether metric ``name`` reads the generated answer: answer metrics do, retrieval metrics
    do not, a judged metric when ``response`` is among its inputs. Context precision and recall
    read the question, the retrieved contexts and the reference only, so judging only them
    needs no answer: the run generates none (an answer costs a long prompt per question)."""
    found = spec(name)
    if isinstance(found, JudgedSpec):
        return "response" in found.inputs
    return isinstance(found, AnswerSpec)


def uses_embedding(name: str) -> bool:
    """Whether metric ``name`` reads the judge's embedding model (else the run loads none)."""
    found = spec(name)
    return isinstance(found, JudgedSpec) and found.embedding


def is_binary(name: str) -> bool:
    """Whether metric ``name`` only ever scores 0 or 1 (hit_rate, span_coverage, abstained)."""
    return spec(name).binary


def description(name: str) -> str:
    """The one line that says what metric ``name`` measures."""
    return spec(name).description


def label_metric(name: str) -> str:
    """The score-row metric of people's labels of metric ``name`` (``human:<name>``)."""
    return f"{HUMAN}{name}"


def labelled_metric(row_metric: str) -> str | None:
    """The metric a label row labels (``human:faithfulness`` -> ``faithfulness``); None for a
    row that is not a label."""
    return row_metric[len(HUMAN) :] if row_metric.startswith(HUMAN) else None


def label_spec(name: str) -> LabelSpec:
    """How people label metric ``name`` (its spec's ``label``).

    Raises:
        ValueError: ``name`` is no metric, or one people cannot label (the message lists those
            they can).
    """
    found = spec(name)
    if isinstance(found, JudgedSpec) and found.label is not None:
        return found.label
    valid = ", ".join(names("labelled"))
    raise ValueError(f"metric '{name}' takes no human labels; labellable metrics: {valid}")


_VIEWS = {
    "GOLD_METRICS": "gold",
    "RETRIEVAL_METRICS": "retrieval",
    "RANKED_METRICS": "ranked",
    "JUDGED_METRICS": "judged",
    "ANSWER_METRICS": "answer",
    "METRICS": None,
}


def __getattr__(attribute: str) -> tuple[str, ...]:
    """The former tuple constants, computed from the tables on each read (module docstring)."""
    if attribute in _VIEWS:
        return names(_VIEWS[attribute])
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


__all__ = [
    "ANSWER",
    "HUMAN",
    "JUDGED",
    "RETRIEVAL",
    "STOPWORDS",
    "AnswerSpec",
    "JudgeSettings",
    "JudgedSpec",
    "LabelSpec",
    "Retrieved",
    "RetrievalSpec",
    "Scorer",
    "Spec",
    "abstained",
    "applies",
    "content_words",
    "declines",
    "description",
    "is_binary",
    "kind",
    "label_metric",
    "label_spec",
    "labelled_metric",
    "names",
    "reads_answer",
    "retrieval_scores",
    "spec",
    "uses_embedding",
]
