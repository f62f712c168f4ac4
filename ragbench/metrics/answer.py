"""Answer metrics read without a model: ``abstained``, for questions the corpus cannot answer.

Contract:
- ``declines(response)``: True when an answer declines to answer: it contains
  ``pipeline.prompts.NOT_FOUND`` (the reply the answer prompts ask for) or an equivalent refusal.
- ``abstained(response)``: 1.0 when the answer declines, else 0.0. It applies to unanswerable
  questions only (declining an answerable question is not a virtue the mean should reward).
- :data:`ANSWER`: name -> :class:`~ragbench.metrics.spec.AnswerSpec` of every such metric.
"""

from __future__ import annotations

import re

from ragbench.metrics.spec import AnswerSpec
from ragbench.pipeline.prompts import NOT_FOUND

# Refusals the answer prompts ask for (prompts.NOT_FOUND) and the usual ways models say the same;
# each names the speaker or the sources, so "the fee does not include VAT" is not a refusal.
_SOURCES = r"(?:documents?|sources?|context|passages?|texts?|knowledge base|information)"
_REFUSALS = re.compile(
    r"\bi (?:do not|don't|cannot|can't|am unable to|am not able to) "
    r"(?:know|answer|tell|say|find|determine)\b"
    rf"|\b{_SOURCES}(?: provided| given| above| available)? "
    r"(?:do not|does not|did not|don't|doesn't|didn't) "
    r"(?:contain|include|say|mention|provide|specify|state|answer|have)\b"
    r"|\bnot (?:mentioned|stated|provided|specified|found|given|available) in the "
    rf"(?:provided |given |above )?{_SOURCES}"
    r"|\bno (?:information|mention)\b"
    r"|\b(?:cannot|can't|could not|couldn't) be (?:answered|determined|found)\b"
    r"|\bunable to (?:answer|find|determine)\b"
)


def declines(response: str) -> bool:
    """True when an answer declines to answer: it contains ``prompts.NOT_FOUND`` or an equivalent
    refusal (e.g. "I don't know", "the documents do not mention", "no information"), compared
    case-insensitively with curly apostrophes made straight."""
    text = " ".join(response.replace("\u2019", "'").split()).lower()
    return NOT_FOUND.lower() in text or _REFUSALS.search(text) is not None


def abstained(response: str) -> float:
    """1.0 if the answer declines (:func:`declines`), else 0.0: for questions the corpus cannot
    answer, where declining is the right answer (the run scores no other question with it)."""
    return 1.0 if declines(response) else 0.0


ANSWER: dict[str, AnswerSpec] = {
    "abstained": AnswerSpec(
        description="an unanswerable question was declined (read from the answer, no LLM)",
        score=abstained,
        binary=True,
        questions="unanswerable",
    ),
}

__all__ = ["ANSWER", "abstained", "declines"]
