"""The cheap filters of synthesis: self-containment (with a repair), answer leaks, duplicates.

Contract (each returns None when the question passes, else the detail of its rejection reason):
- ``make_self_contained(question) -> (question, detail)``: a question that points at its source
  ("the passage", "this text", "the author", "according to ...", a dangling "mentioned?") is
  first repaired deterministically (a leading "According to the passage," clause, an "in the
  text" phrase or the dangling participle is dropped); ``detail`` is None when the (possibly
  rewritten) question stands on its own.
- ``leak(question, answer, evidence)``: the question contains the normalised answer, at least
  :data:`LEAK_SHARE` of the answer's content words, or the evidence span verbatim.
- ``Deduper``: cosine similarity of question embeddings against the accepted questions;
  ``check`` names the closest one at or above the threshold.
- ``cites_source(question)``: the question is built on the document's citations rather than its
  content: a citation mark ("[12]", "et al."), "the authors of", "which paper / study / article",
  "cited", "reference 4" (a bibliography read as facts: "What conference did A, B and C attend?"
  comes from a reference list, which sampling skips, and from citations inside prose).
- ``points_at_layout(question)``: the question points at the page rather than the subject:
  "Table 3", "Figure 2", "Fig. 2", "Section 4.1", "page 5", "Eq. 3", "the appendix",
  "supplementary material", "the table / figure above".
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

LEAK_SHARE = 0.8  # of the answer's content words found in the question
DUPLICATE_COS = 0.92  # questions this similar ask the same thing in other words

_NOUNS = (
    r"passages?|texts?|excerpts?|extracts?|documents?|articles?|authors?|essays?|papers?"
    r"|snippets?|paragraphs?|sections?|writers?|context"
)
_DET = r"(?:the|this|that|these|those|above|given|provided|following)"
_POINTER = re.compile(rf"\b{_DET}\s+(?:(?:given|provided|above|following)\s+)?(?:{_NOUNS})\b", re.I)
_ACCORDING = re.compile(r"\baccording to\b", re.I)
_CLAUSE = (
    r"(?:according to|based on|as (?:stated|described|mentioned|discussed|explained|noted) in"
    r"|in|from|per|within)"
)
_LEADING = re.compile(
    rf"^\s*{_CLAUSE}\s+{_DET}\s+(?:(?:given|provided|above)\s+)?(?:{_NOUNS})\s*,\s*", re.I
)
_TRAILING = re.compile(
    rf"\s*,?\s*{_CLAUSE}\s+{_DET}\s+(?:(?:given|provided|above)\s+)?(?:{_NOUNS})\s*(?=[?.!]*\s*$)",
    re.I,
)
# "... of the notebook mentioned?": a dangling participle that points at the unseen source.
_DANGLING = re.compile(
    r"\s+(?:mentioned|described|discussed|cited|referred to|above)(?=\s*[?.!]*\s*$)", re.I
)
_INNER = re.compile(
    rf"\s+(?:in|from|within)\s+{_DET}\s+(?:(?:given|provided|above)\s+)?(?:{_NOUNS})\b", re.I
)
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as into about than then so that this "
    "these those it its is are was were be been being do does did done has have had having what "
    "which who whom whose when where why how not no nor can could should would will shall may "
    "might must i you he she we they me him her us them my your his our their there here also "
    "very just only more most some any each such own same other both all".split()
)


_CITES = re.compile(
    r"\[\s*\d+(?:\s*[,–-]\s*\d+)*\s*\]|\bet al\b|\bthe authors? of\b"
    r"|\b(?:which|what|whose) (?:papers?|studies|study|articles?|publications?|references?"
    r"|citations?|works?)\b|\bcit(?:ed|es|ing|ation)\b|\b(?:reference|ref\.?) \[?\d+"
    r"|\btitles? of (?:the|this|that|a|each) (?:papers?|articles?|studies|study|works?)\b",
    re.I,
)
_LAYOUT = re.compile(
    r"\b(?:tables?|figures?|figs?\.?|eq(?:uation)?s?\.?|appendix|algorithm|listing)\s*\(?"
    r"(?:[A-Z]?\d+|[IVX]+\b)"
    r"|\b(?:sections?|chapters?|pages?|pp?\.)\s*\d{1,2}(?:\.\d+)*\b(?!\.\d)"
    r"|\b(?:in|of) the appendix\b|\bsupplementary (?:materials?|information|data|tables?"
    r"|figures?)\b|\bthe (?:above|following|previous|next|preceding) (?:tables?|figures?"
    r"|sections?|pages?|equations?|charts?|graphs?)\b",
    re.I,
)


def cites_source(question: str) -> str | None:
    """What in the question cites a source instead of asking about content, or None."""
    match = _CITES.search(question)
    return f'asks about a citation ("{match.group(0).strip()}")' if match else None


def points_at_layout(question: str) -> str | None:
    """What in the question points at the page layout (a table, figure, section...), or None."""
    match = _LAYOUT.search(question)
    return f'points at "{match.group(0).strip()}"' if match else None


def _pointer(question: str) -> str | None:
    match = _POINTER.search(question) or _ACCORDING.search(question)
    return match.group(0) if match else None


def make_self_contained(question: str) -> tuple[str, str | None]:
    """The question, repaired if it can be, and why it still is not self-contained (or None)."""
    dangling = _DANGLING.search(question)
    if _pointer(question) is None and dangling is None:
        return question, None
    fixed = _TRAILING.sub("", _LEADING.sub("", question))
    fixed = _DANGLING.sub("", _INNER.sub("", fixed)).strip()
    if fixed and fixed[0].islower():
        fixed = fixed[0].upper() + fixed[1:]
    if fixed and not fixed.endswith(("?", ".")):
        fixed += "?"
    still = _pointer(fixed)
    if still is None and len(_words(fixed)) >= 3:
        return fixed, None
    where = still or _pointer(question) or (dangling.group(0).strip() if dangling else "")
    return question, f'refers to its source ("{where}")'


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def leak(question: str, answer: str, evidence: str = "") -> str | None:
    """Why the question gives its own answer away, or None (see the module docstring)."""
    q = _words(question)
    padded = f" {' '.join(q)} "
    a = _words(answer)
    content = [w for w in dict.fromkeys(a) if w not in STOPWORDS]
    if content and f" {' '.join(a)} " in padded:
        return f'the question contains the answer "{answer.strip()}"'
    if content:
        found = [w for w in content if w in set(q)]
        if len(found) >= LEAK_SHARE * len(content):
            return (
                f"the question holds {len(found)} of the answer's {len(content)} content words "
                f"({', '.join(found[:5])})"
            )
    e = _words(evidence)
    if len(e) >= 5 and f" {' '.join(e)} " in padded:
        return "the question quotes the evidence span"
    return None


class Deduper:
    """Near-duplicate questions by embedding cosine similarity (see the module docstring)."""

    def __init__(self, embed_model: Any, threshold: float = DUPLICATE_COS) -> None:
        self.embed_model = embed_model
        self.threshold = threshold
        self.ids: list[str] = []
        self.vectors: list[np.ndarray] = []

    def _unit(self, vector: Any) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float64)
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def vector(self, question: str) -> np.ndarray:
        return self._unit(self.embed_model.get_query_embedding(question))

    def add_many(self, items: list[tuple[str, str]]) -> None:
        """Remember accepted ``(question_id, question)`` pairs (a resumed file's)."""
        for qid, question in items:
            self.add(qid, self.vector(question))

    def add(self, question_id: str, vector: np.ndarray) -> None:
        self.ids.append(question_id)
        self.vectors.append(vector)

    def check(self, vector: np.ndarray) -> str | None:
        """``"<question_id> (cos 0.95)"`` of the most similar accepted question at or above the
        threshold, or None."""
        if not self.vectors:
            return None
        sims = np.stack(self.vectors) @ vector
        best = int(np.argmax(sims))
        if sims[best] >= self.threshold:
            return f"{self.ids[best]} (cos {sims[best]:.2f})"
        return None
