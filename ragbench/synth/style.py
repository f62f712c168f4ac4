"""How far synthesized questions are from people's: word overlap, length and question type.

Contract:
- ``question_type(question)`` is one of :data:`TYPES`: the first wh-word among the question's
  first five words (``whom``/``whose`` count as ``who``: "In what year..." is ``what``), else
  ``yes-no`` when it opens with an auxiliary verb ("Is", "Did", "Can"...), else ``other``.
- ``overlap(question, evidence)``: the share of the question's distinct content words
  (``metrics.text.content_words``) that are in the evidence span; None when the question has no
  content word (it is left out of the mean, never counted as 0 or NaN).
- ``profile(pairs)`` -> :class:`StyleProfile` of ``(question, evidence)`` pairs: count, mean
  overlap, mean length in words, and the share of each type.
- ``distance(a, b)`` -> :class:`StyleDistance`: mean-overlap difference (a - b), mean-length
  difference (a - b) and the total-variation distance of the type distributions (half the sum of
  absolute share differences: 0 same mix, 1 no type in common).

Synthesized questions copy their evidence (high overlap) and are longer than people's; people
ask "what" and "how" and paraphrase. ``benchmarks/question_style.py`` prints the table for the
human sets and a synthesized file, for tuning the prompts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ragbench.metrics.text import content_words

TYPES = ("what", "which", "who", "when", "where", "why", "how", "yes-no", "other")
_WH = {"what": "what", "which": "which", "who": "who", "whom": "who", "whose": "who",
       "when": "when", "where": "where", "why": "why", "how": "how"}  # fmt: skip
_AUXILIARY = frozenset(
    "is are was were am be do does did can could should would will shall may might must has "
    "have had isn't aren't wasn't weren't don't doesn't didn't can't couldn't won't".split()
)


def question_type(question: str) -> str:
    """The question's type (see the module docstring)."""
    words = re.findall(r"[a-z']+", question.lower())
    for word in words[:5]:
        if word in _WH:
            return _WH[word]
    if words and words[0] in _AUXILIARY:
        return "yes-no"
    return "other"


def overlap(question: str, evidence: str) -> float | None:
    """Share of the question's content words found in the evidence; None without any."""
    asked = content_words(question)
    if not asked:
        return None
    return len(asked & content_words(evidence)) / len(asked)


def length(question: str) -> int:
    """Words in the question."""
    return len(question.split())


@dataclass(frozen=True)
class StyleProfile:
    """What a question set looks like (see the module docstring)."""

    n: int
    overlap: float | None  # mean over questions with a content word; None: no such question
    length: float  # mean words
    types: dict[str, float]  # share of each of TYPES

    def row(self) -> dict[str, float | int | None]:
        """One flat row for a table: n, overlap, length, then the type shares."""
        return {"n": self.n, "overlap": self.overlap, "length": self.length, **self.types}


@dataclass(frozen=True)
class StyleDistance:
    overlap: float | None  # a - b; None when either set has no content word to compare
    length: float  # a - b, words
    types: float  # total-variation distance of the type shares, 0..1


def profile(pairs: Iterable[tuple[str, str]]) -> StyleProfile:
    """The profile of ``(question, evidence)`` pairs.

    Raises:
        ValueError: no pair.
    """
    items = list(pairs)
    if not items:
        raise ValueError("no questions to profile")
    overlaps = [o for q, e in items if (o := overlap(q, e)) is not None]
    types = Counter(question_type(q) for q, _ in items)
    return StyleProfile(
        n=len(items),
        overlap=sum(overlaps) / len(overlaps) if overlaps else None,
        length=sum(length(q) for q, _ in items) / len(items),
        types={t: types[t] / len(items) for t in TYPES},
    )


def distance(a: StyleProfile, b: StyleProfile) -> StyleDistance:
    """How far profile ``a`` is from ``b`` (see the module docstring)."""
    tv = 0.5 * sum(abs(a.types[t] - b.types[t]) for t in TYPES)
    gap = None if a.overlap is None or b.overlap is None else a.overlap - b.overlap
    return StyleDistance(gap, a.length - b.length, tv)
