"""Evidence alignment: find the span a model quoted in the source document's own characters.

Contract: ``align_span(evidence, text, start, end) -> Alignment | None`` looks for ``evidence``
inside ``text[start:end]`` (a source passage of the document ``text``) and returns document
offsets, so ``text[a.start:a.end]`` is the gold span: the source's characters, never the model's.
Small models wrap and reformat what they quote, so the evidence is first unwrapped
(``strip_wrappers``: "The passage states:", "According to the text,", quotes, leading and trailing
ellipses) and then found by, in order:

1. ``exact``: the unwrapped evidence occurs verbatim;
2. ``normalised``: it occurs ignoring case, runs of whitespace and curly-vs-straight quotes/dashes;
3. ``fragments``: evidence with inner ellipses ("A ... B"): every fragment occurs, in order, and the
   span runs from the first to the last;
4. ``fuzzy``: the most similar window of the passage between word boundaries has a ``difflib``
   similarity ratio of at least :data:`FUZZY_MIN` (the model changed a word or two);
   ``Alignment.score`` keeps the ratio. The search starts where the longest run the quote shares
   with the passage puts it and climbs from there (see ``_fuzzy``).

Evidence of fewer than :data:`MIN_WORDS` words is never located: "1871" matches anywhere and is
no gold span.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

FUZZY_MIN = 0.9  # below this the "quote" is a paraphrase, not the source's words
MIN_WORDS = 3

_NOUNS = r"passage|text|excerpt|extract|document|article|author|essay|paper|source|context"
_VERBS = r"states|says|mentions|notes|explains|writes|reads|argues|describes|shows|indicates"
_WRAPPER = re.compile(
    rf"^\s*(?:(?:the|this)\s+(?:{_NOUNS})\s+(?:{_VERBS})(?:\s+that)?"
    rf"|(?:according\s+to|as\s+stated\s+in|from|in)\s+(?:the|this)\s+(?:{_NOUNS}))\s*[:,]?\s*"
    r"|^\s*(?:evidence|quote|answer|sentence)\s*:\s*",
    re.I,
)
_QUOTES = "\"'“”‘’«»`"
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
_FOLD = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "\u00a0": " "})


@dataclass(frozen=True)
class Alignment:
    start: int  # document offsets of the span
    end: int
    method: str  # exact | normalised | fragments | fuzzy
    score: float = 1.0  # the fuzzy similarity ratio; 1.0 otherwise


def strip_wrappers(evidence: str) -> str:
    """The quoted text without the framing a model puts around a quote."""
    text = evidence.strip()
    while True:
        before = text
        text = _WRAPPER.sub("", text, count=1).strip()
        text = text.strip(_QUOTES).strip()
        text = re.sub(r"^(?:\.\.\.|…)|(?:\.\.\.|…)$", "", text).strip()
        if text == before:
            return text


def _normalise(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with folded quotes/dashes and single spaces, plus each character's offset."""
    chars: list[str] = []
    index: list[int] = []
    space = True  # drops leading whitespace
    for i, ch in enumerate(text.translate(_FOLD)):
        if ch.isspace():
            if not space:
                chars.append(" ")
                index.append(i)
            space = True
            continue
        low = ch.lower()
        chars.append(low if len(low) == 1 else ch)  # "İ".lower() is two characters
        index.append(i)
        space = False
    if chars and chars[-1] == " ":
        chars.pop()
        index.pop()
    return "".join(chars), index


def _find_normalised(
    needle: str, hay: str, index: list[int], at: int = 0
) -> tuple[int, int] | None:
    """Offsets (in the original passage) of normalised ``needle`` in normalised ``hay``."""
    found = hay.find(needle, at)
    if not needle or found < 0:
        return None
    return index[found], index[found + len(needle) - 1] + 1


def _fuzzy(needle: str, hay: str, index: list[int]) -> tuple[int, int, float] | None:
    """The window of ``hay`` most similar to ``needle`` (see the module docstring).

    Windows run between word boundaries. Scoring every pair costs seconds for a long quote, so the
    search starts where the longest run of characters the two share puts the quote, and moves the
    start or the end one word at a time while the similarity improves (it is smooth around the
    true position: a 0.9 match differs from its source by a few words).
    """
    size = len(needle)
    if size > 1.25 * len(hay):
        return None
    anchor = SequenceMatcher(None, hay, needle, autojunk=False).find_longest_match(
        0, len(hay), 0, size
    )
    if anchor.size == 0:
        return None
    starts = [0] + [m.end() for m in re.finditer(" ", hay)]
    ends = sorted({m.start() for m in re.finditer(" ", hay)} | {len(hay)})
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(needle)  # difflib caches its analysis of seq2: vary seq1 only
    scores: dict[tuple[int, int], float] = {}

    def score(i: int, j: int) -> float:
        if (i, j) not in scores:
            a, b = starts[i], ends[j]
            matcher.set_seq1(hay[a:b] if b > a else "")
            scores[(i, j)] = matcher.ratio()
        return scores[(i, j)]

    i = max(0, bisect.bisect_right(starts, anchor.a - anchor.b) - 1)
    j = min(bisect.bisect_left(ends, starts[i] + size), len(ends) - 1)
    while True:
        moves = [(i + di, j + dj) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        moves = [(a, b) for a, b in moves if 0 <= a < len(starts) and 0 <= b < len(ends)]
        best = max(moves, key=lambda m: score(*m), default=(i, j))
        if score(*best) <= score(i, j):
            break
        i, j = best
    ratio = score(i, j)
    if ratio < FUZZY_MIN:
        return None
    return index[starts[i]], index[ends[j] - 1] + 1, ratio


def align_span(evidence: str, text: str, start: int, end: int) -> Alignment | None:
    """Locate ``evidence`` in ``text[start:end]``; document offsets, or None (module docstring)."""
    quote = strip_wrappers(evidence)
    if len(re.findall(r"\w+", quote)) < MIN_WORDS:
        return None
    passage = text[start:end]
    found = passage.find(quote)
    if found >= 0:
        return Alignment(start + found, start + found + len(quote), "exact")
    hay, index = _normalise(passage)
    needle = _normalise(quote)[0]
    span = _find_normalised(needle, hay, index)
    if span:
        return Alignment(start + span[0], start + span[1], "normalised")
    fragments = [f for f in _ELLIPSIS.split(needle) if f.strip(" .,;")]
    if len(fragments) > 1:
        spans: list[tuple[int, int]] = []
        at = 0
        for fragment in fragments:
            span = _find_normalised(fragment, hay, index, at)
            if span is None:
                break
            spans.append(span)
            at = hay.find(fragment, at) + len(fragment)
        else:
            return Alignment(start + spans[0][0], start + spans[-1][1], "fragments")
    fuzzy = _fuzzy(needle, hay, index)
    if fuzzy:
        return Alignment(start + fuzzy[0], start + fuzzy[1], "fuzzy", round(fuzzy[2], 3))
    return None
