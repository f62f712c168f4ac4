"""What a metric says about itself: the three spec shapes the tables in this package are made of.

Contract: a spec is frozen and holds everything about one metric that any other module asks:
its one-line ``description`` (``ragbench init`` writes it beside the metric), which questions it
``questions`` applies to (``"all"``, ``"answerable"``, ``"unanswerable"``), whether its value is
``binary`` (0/1) or graded in [0, 1], and how it is computed:

- :class:`RetrievalSpec`: ``score(Retrieved) -> float`` after retrieval, without a model, when the
  question has every field in ``needs`` (``gold_doc_ids``, ``gold_spans``, ``reference``).
- :class:`AnswerSpec`: ``score(response) -> float`` from the answer, without a model.
- :class:`JudgedSpec`: ``build(llm, embeddings, settings)`` returns a ragas 0.4 style scorer:
  ``await scorer.ascore(**inputs)`` with exactly the ragas sample fields in ``inputs``, whose
  result has ``.value``. ``llm`` and ``embeddings`` are the judge's ragas adapters
  (``judge.adapter``); ``settings`` the judge settings a metric may depend on. A judged metric
  people can label declares how in ``label`` (:class:`LabelSpec`: the question a person answers
  and the two answers' words); the labelling panel, ``ragbench label`` and the report's
  prediction-powered estimates take labels only of such metrics.

This module imports nothing of ragbench: every metric module builds on it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

#: Which questions a metric is scored on.
Questions = Literal["all", "answerable", "unanswerable"]


@dataclass(frozen=True)
class Retrieved:
    """What a retrieval metric reads of one (trial, question): the ranking and the labels."""

    doc_ids: Sequence[str]  # the doc id of each retrieved chunk, best first
    gold_doc_ids: Sequence[str]
    k: int  # the trial's top_k: every ranked metric's cutoff
    contexts: Sequence[str] = ()  # the retrieved chunks' texts, best first
    gold_spans: Sequence[str] = ()
    gains: Mapping[str, float] | None = None  # graded relevance (doc id -> gain), ndcg only
    reference: str = ""


@dataclass(frozen=True)
class RetrievalSpec:
    """A metric of what was retrieved, computed for every trial and question in the retrieval stage."""

    description: str
    score: Callable[[Retrieved], float]
    needs: tuple[str, ...]  # question fields that must be present: else the metric does not apply
    binary: bool = False
    questions: Questions = "answerable"  # an unanswerable question has nothing to retrieve


@dataclass(frozen=True)
class AnswerSpec:
    """A metric read from the generated answer without a model."""

    description: str
    score: Callable[[str], float]
    binary: bool = False
    questions: Questions = "all"


@dataclass(frozen=True)
class JudgeSettings:
    """The judge settings a metric may be built differently for."""

    temperature: float
    prompts: str = "compact"  # "compact" (judge.prompts) or "ragas" (ragas' prompts word for word)
    repair: bool = True  # faithfulness: degenerate NLI replies asked again (judge.faithfulness)
    nli: str = (
        "batch"  # faithfulness: "batch" (one NLI call per answer) or "single" (per statement)
    )


@dataclass(frozen=True)
class LabelSpec:
    """How a person labels one judged item of a metric: a yes/no question and its two answers.

    A label is 1.0 for ``yes`` and 0.0 for ``no``, so the labels' mean is the share of items
    people answer ``yes`` for (the estimand of the report's prediction-powered estimate).
    """

    question: str  # asked above every item, e.g. "Is the answer supported by the passages?"
    yes: str  # the button and CSV word for 1.0, e.g. "Supported"
    no: str  # the button and CSV word for 0.0, e.g. "Not supported"
    needs_reference: bool = False  # shows the reference answer (the question must have one)


class Scorer(Protocol):
    """What a judged metric's ``build`` returns: ragas 0.4's ``ascore`` (any keyword inputs)."""

    @property
    def ascore(self) -> Callable[..., Coroutine[Any, Any, Any]]: ...


@dataclass(frozen=True)
class JudgedSpec:
    """A metric scored by the judge (its LLM and/or its embedding model) through ragas."""

    description: str
    # The ragas sample fields the metric reads: exactly these reach ``ascore`` and the verdict's
    # cache key (user_input, response, retrieved_contexts, reference); one reading ``reference``
    # is recorded as "no reference answer" for a question without one.
    inputs: tuple[str, ...]
    build: Callable[[Any, Any, JudgeSettings], Scorer]
    llm: bool = True  # calls the judge LLM
    embedding: bool = False  # reads the judge's embedding model (loaded only when one does)
    # The value is (partly) a cosine similarity, which ragas does not clip: below 0 for unrelated
    # texts, 1.0000000000000002 for identical ones; the range is [0, 1], so it is clipped.
    cosine: bool = False
    nan_reason: str = "ragas returned NaN"  # why ragas' NaN means the metric is undefined
    binary: bool = False
    questions: Questions = "all"
    label: LabelSpec | None = None  # None: people cannot label it (the report is judge only)


Spec = RetrievalSpec | AnswerSpec | JudgedSpec

__all__ = [
    "AnswerSpec",
    "JudgeSettings",
    "JudgedSpec",
    "LabelSpec",
    "Questions",
    "Retrieved",
    "RetrievalSpec",
    "Scorer",
    "Spec",
]
