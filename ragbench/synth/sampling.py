"""Source passages for synthesis: cut, judged for prose, ordered fairly across documents, searched.

Contract:
- ``split_passages(doc_id, text)`` cuts a document's text at sentence boundaries into
  :class:`Passage` objects of ~600-1000 characters whose ``text`` is exactly
  ``text[start:end]`` (document offsets, so spans found in a passage are document spans).
  Every passage carries ``problem``: None for usable prose, else why it is skipped, named by one
  of :data:`PASSAGE_PROBLEMS` (too short; a reference list: bibliographic marks such as DOIs,
  URLs, "(2019)", "vol. 3", "pp. 4" or entries starting "[n]"; an author block: e-mails,
  affiliations, "Authors:" lines; a caption: most sentences start "Figure n" / "Table n"; code or
  an example prompt: "Prompt:", "Input:", "Output:", "User:" lines or code; mostly citations: a
  fifth of the characters are "[12]", "(Smith et al., 2019)"; a table: lines of numbers; short
  lines; mostly digits or symbols; little prose).
- ``fact_sentence(passage, text)`` is the document offsets of the passage's most fact-dense usable
  sentence (None if it has none): the evidence of a single-passage question, picked by ragbench.
- ``stratified_order(passages, seed)`` is the order sources are drawn in: documents in a seeded
  shuffled round-robin (every document gives its k-th passage before any gives its (k+1)-th, so a
  big document cannot dominate), passages of a document in a seeded shuffled order. Same seed,
  same order.
- ``PassageIndex`` is BM25 (bm25s) over every passage of the corpus, prose or not: ``search``
  finds the passages a question matches (the unanswerable check), ``related`` the best unused
  prose passage of another document among the 50 best matches, for a multi-passage pair.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TARGET_CHARS = 800  # a passage is closed once it reaches this length ...
MIN_CHARS = 600  # ... or, before the next sentence would pass MAX_CHARS, once it has this many
MAX_CHARS = 1000
MIN_PROSE_CHARS = 200  # shorter passages (tiny documents, tails) rarely support a real question
MIN_LETTER_SHARE = 0.7  # of non-space characters: tables of figures, code and IDs fall below
MIN_FUNCTION_WORD_SHARE = 0.08  # prose is full of "the", "of", "to"; name lists and tables are not
MAX_REFERENCE_MARKS = 3  # "et al.", DOIs, URLs, "(2019)", "[12]": a bibliography, not prose

# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space, or at a blank line.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n\s*\n")
# Periods that do not end a sentence: common abbreviations and initials ("J. R. R. Tolkien").
_ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|Mr|Mrs|Ms|Dr|Prof|St|No|Fig|Vol|pp|cf|al|approx|Inc|Ltd|Co)"
    r"|\b[A-Z])\.$"
)
MAX_CITATION_SHARE = 0.2  # of a passage's characters in citation marks: the top ~1% of COVID-QA
# passages (measured 2026-12-07), where sentences are lists of who-said-what, not facts
# Marks of a bibliography entry (a citation inside prose, "[12]" or "et al.", is not one).
_REFERENCE = re.compile(
    r"\bdoi\b|https?://|\(\d{4}[a-z]?\)|\bvol\.\s*\d|\bpp?\.\s*\d|\b(?:19|20)\d\d;\s*\d+"
    r"|\bin:? proceedings\b|\barxiv\b",
    re.I,
)
_ENTRY = re.compile(r"(?:^|\n)\s*(?:\[\d{1,3}\]|\d{1,3}\.\s+[A-Z][\w'-]+,\s+[A-Z])")
_CITATION = re.compile(
    r"\[\s*\d+(?:\s*[,–-]\s*\d+)*\s*\]"
    r"|\(\s*[A-Z][A-Za-z'-]+(?: et al\.?| and [A-Z][A-Za-z'-]+)?,? \d{4}[a-z]?(?:\s*[;,][^)]{0,80})?\)"
    r"|\bet al\.?"
)
_CONTACT = re.compile(
    r"\S+@\S+\.\w+|^\s*(?:authors?|affiliations?|correspondence|corresponding author)\s*:",
    re.I | re.M,
)
_AFFILIATION = re.compile(r"\b(?:University|Institute|Department|School|Laboratory|Faculty) of\b")
_CAPTION = re.compile(
    r"^(?:supplementary\s+)?(?:fig(?:ure)?|table|chart|plate)\.?\s*[A-Z]?\d+", re.I
)
_PROMPT = re.compile(
    r"^\s*(?:prompt|input|output|user|assistant|system|human|ai|question|answer|q|a|example"
    r"|response|instruction|context)\s*\d*\s*:|^\s*(?:>>>|\$ |```|def |class |import |return )"
    r"|[{};]\s*$",
    re.I | re.M,
)
_NUMBER = re.compile(r"^[-+(<>=~]*\d[\d.,:%/()-]*%?$")
_FUNCTION_WORDS = frozenset(
    "the a an of to in and or is are was were be been it that this for on with as by at from "
    "not but have has had which who they he she we you i their its his her our".split()
)


@dataclass(frozen=True)
class Passage:
    """A cut of one document: ``text == document_text[start:end]``."""

    doc_id: str
    start: int
    end: int
    text: str
    problem: str | None = None  # None: usable prose; else why it is not used as a source

    @property
    def key(self) -> tuple[str, int, int]:
        return self.doc_id, self.start, self.end

    def source(self) -> dict[str, object]:
        """The provenance entry of this passage."""
        return {"doc_id": self.doc_id, "start": self.start, "end": self.end, "passage": self.text}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed; over-long ones are cut at spaces."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if "\n\n" not in match.group(0) and _ABBREVIATION.search(
            text[max(0, start) : match.start()]
        ):
            continue
        spans.extend(_trimmed_pieces(text, start, match.start()))
        start = match.end()
    spans.extend(_trimmed_pieces(text, start, len(text)))
    return spans


_PERSONAL = frozenset({"i", "me", "my", "we", "our", "us", "you", "your", "i'm", "i've", "i'd"})


def fact_sentence(passage: Passage, text: str) -> tuple[int, int] | None:
    """Document offsets of the passage's most fact-dense sentence, or None if none is usable.

    A usable sentence has 8-60 words, starts with a capital and is not a question; among those,
    the one with the most specifics wins: digits, capitalised words after the first, and length,
    less first- and second-person words (ties: the earlier sentence). Picked by ragbench, not by the model, so the evidence is
    the document's own characters by construction.
    """
    best, best_score = None, -1.0
    for start, end in sentence_spans(text[passage.start : passage.end]):
        sentence = text[passage.start + start : passage.start + end]
        words = sentence.split()
        if (
            not 8 <= len(words) <= 60
            or sentence.rstrip().endswith("?")
            or not sentence[:1].isupper()  # a fragment, a quotation or a list item
        ):
            continue
        digits = sum(ch.isdigit() for ch in sentence)
        names = sum(w[:1].isupper() for w in words[1:])
        # first and second person ("I was...", "you should...") make questions about a speaker
        # the question cannot name
        personal = sum(w.strip(",.;:").lower() in _PERSONAL for w in words)
        score = min(digits, 8) + 2 * min(names, 6) + min(len(words), 30) / 10 - 3 * personal
        if score > best_score:
            best, best_score = (passage.start + start, passage.start + end), score
    return best


def _trimmed_pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The span without edge whitespace, cut at spaces into pieces of at most MAX_CHARS."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    pieces = []
    while end - start > MAX_CHARS:
        cut = text.rfind(" ", start + MIN_CHARS, start + TARGET_CHARS)
        cut = cut if cut > start else start + TARGET_CHARS
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def split_passages(doc_id: str, text: str) -> list[Passage]:
    """Cut a document into passages of whole sentences (see the module docstring)."""
    spans: list[tuple[int, int]] = []
    first: int | None = None
    last = 0
    for s, e in sentence_spans(text):
        if first is None:
            first, last = s, e
        elif e - first > MAX_CHARS and last - first >= MIN_CHARS:
            spans.append((first, last))
            first, last = s, e
        else:
            last = e
        if last - first >= TARGET_CHARS:
            spans.append((first, last))
            first = None
    if first is not None:  # the tail: joined to the previous passage when it is short
        if spans and last - first < MIN_CHARS and last - spans[-1][0] <= MAX_CHARS + MIN_CHARS // 2:
            spans[-1] = (spans[-1][0], last)
        else:
            spans.append((first, last))
    return [Passage(doc_id, s, e, text[s:e], prose_problem(text[s:e])) for s, e in spans]


PASSAGE_PROBLEMS = (
    "too short",
    "looks like a reference list",
    "author block",
    "code or example prompt",
    "caption",
    "mostly citations",
    "table",
    "short lines",
    "mostly digits or symbols",
    "little prose",
)


def _apparatus(text: str, lines: list[str]) -> str | None:
    """Why a passage is a paper's apparatus (references, authors, captions...), or None."""
    if (
        len(_REFERENCE.findall(text)) >= MAX_REFERENCE_MARKS
        or len(_ENTRY.findall(text)) >= MAX_REFERENCE_MARKS
    ):
        return "looks like a reference list"
    contacts = len(_CONTACT.findall(text))
    if contacts and contacts + len(_AFFILIATION.findall(text)) >= 2:
        return "author block (e-mails, affiliations, author lines)"
    if len(_PROMPT.findall(text)) >= 3:
        return "code or example prompt (Prompt:/Input:/Output: lines or code)"
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    if sentences and sum(bool(_CAPTION.match(x)) for x in sentences) >= 0.5 * len(sentences):
        return "caption (sentences about a figure or table)"
    cited = sum(len(m.group(0)) for m in _CITATION.finditer(text))
    if cited >= MAX_CITATION_SHARE * len(text):
        return f"mostly citations ({cited / len(text):.0%} of the characters)"
    numeric = 0
    for line in lines:
        tokens = line.split()
        numbers = sum(bool(_NUMBER.match(t)) for t in tokens)
        numeric += numbers >= 2 and numbers >= 0.5 * len(tokens)
    if numeric >= 3:
        return f"table ({numeric} lines of numbers)"
    return None


def prose_problem(text: str) -> str | None:
    """Why a passage is not prose worth asking about, or None when it is (the reason starts with
    one of :data:`PASSAGE_PROBLEMS`)."""
    if len(text) < MIN_PROSE_CHARS:
        return f"too short (< {MIN_PROSE_CHARS} characters)"
    lines = [line for line in text.splitlines() if line.strip()]
    apparatus = _apparatus(text, lines)
    if apparatus:
        return apparatus
    if len(lines) >= 6 and sum(len(line) for line in lines) / len(lines) < 40:
        return "short lines (a list, table or menu)"
    visible = [c for c in text if not c.isspace()]
    if sum(c.isalpha() for c in visible) < MIN_LETTER_SHARE * len(visible):
        return "mostly digits or symbols"
    words = re.findall(r"[a-z]+", text.lower())
    if sum(w in _FUNCTION_WORDS for w in words) < MIN_FUNCTION_WORD_SHARE * max(1, len(words)):
        return "little prose (a list, table or index)"
    return None


def stratified_order(passages: Iterable[Passage], seed: int) -> list[Passage]:
    """Usable passages in the order sources are drawn (see the module docstring)."""
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        if p.problem is None:
            by_doc.setdefault(p.doc_id, []).append(p)
    rng = random.Random(f"ragbench-synth:{seed}")  # a str seed hashes the same in every process
    doc_ids = sorted(by_doc)
    rng.shuffle(doc_ids)
    queues = [rng.sample(by_doc[d], len(by_doc[d])) for d in doc_ids]
    rounds = max((len(q) for q in queues), default=0)
    return [q[r] for r in range(rounds) for q in queues if r < len(q)]


def _tokens(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return list(bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False))


class PassageIndex:
    """BM25 over every passage of the corpus (see the module docstring)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        import bm25s

        self.passages = list(passages)
        self._bm25 = bm25s.BM25()
        if self.passages:
            self._bm25.index(_tokens([p.text for p in self.passages]), show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[Passage, float]]:
        """The best ``k`` passages for ``query`` with their BM25 scores; no zero-score passage."""
        k = min(k, len(self.passages))
        tokens = _tokens([query])
        if k == 0 or not tokens[0]:
            return []
        ids, scores = self._bm25.retrieve(tokens, k=k, show_progress=False)
        return [
            (self.passages[int(i)], float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if s > 0
        ]

    def related(
        self, passage: Passage, used: set[tuple[str, int, int]], k: int = 50
    ) -> Passage | None:
        """The usable, unused passage of another document that best matches ``passage``."""
        for other, _score in self.search(passage.text, k):
            if other.doc_id != passage.doc_id and other.problem is None and other.key not in used:
                return other
        return None
