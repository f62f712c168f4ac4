"""PDF pages -> the text a person reads: reading order restored, page furniture and back matter out.

Contract: ``clean(pages) -> (text, dropped)``. ``pages`` are :class:`Page` objects (size and
positioned text :class:`Segment` runs, top-left origin, points) from any extractor;
``text`` is the body in reading order, one paragraph per block, blocks separated by a blank line;
``dropped`` counts the LINES removed per kind (every kind in :data:`KINDS`, zeros included):

- ``headers_footers``: the first or last line of a page, in its top or bottom 10%, whose text
  (digits ignored) recurs there in the same type size on at least half of the pages and twice, in
  a document of 3 pages or more (in a shorter one a running line cannot be told from text);
- ``page_numbers``: a bare page number there ("7", "Page 7", "7 of 12", "- 7 -", "vii");
- ``tables``: two or more consecutive lines that are mostly numbers, with the short header line
  right above them;
- ``authors``: on page 1 only, between the title (the largest type) and the first "Abstract" /
  "Introduction" line, when that stretch holds an e-mail, an affiliation or a list of names;
- ``acknowledgements``: a block that starts with "Acknowledgements", "Funding", "Conflicts of
  interest", "Competing interests" or "Author contributions", and the blocks of that section up
  to the next heading (3 at most);
- ``references``: from a "References" / "Bibliography" / "Literature cited" heading up to an
  "Appendix" / "Supplementary" heading or the end, and any run of 3+ blocks that start like
  reference entries ("[12] ...", "12. Name, X").

Reading order: a page whose text sits side by side on both sides of the middle of its text area
(3 runs of prose length or more on each side, next to each other, with almost nothing crossing
the middle there) is read as two columns: lines that cross the middle (titles, full-width
abstracts) cut the page into bands, and each band is read left column first. Lines of a paragraph are joined with spaces; a paragraph ends at a line that stops well
short of its column's right edge, a change of type size, a wide vertical gap or a heading. A word
broken at a line end is joined ("retrie-" + "val" -> "retrieval") unless it is a compound: either
part has a hyphen ("state-of-" + "the-art"), the next part does not start with a lower-case
letter ("HIV-" + "1"), or the document spells it with the hyphen elsewhere and never without.

Everything is conservative: a document without these signals (one or two pages, one column, no
"References" heading) comes back with every word it had.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

KINDS = (
    "headers_footers",
    "page_numbers",
    "tables",
    "authors",
    "acknowledgements",
    "references",
)
ZONE = 0.10  # top and bottom share of the page where running headers, footers, page numbers sit
FURNITURE_SHARE = 0.5  # of the pages a header/footer line recurs on, at least
MIN_COLUMN_LINES = 3  # on each side of the middle, for a two-column page
FULL_LINE = 0.8  # of the column's width: a line ending before this ends its paragraph
NUMERIC_SHARE = 0.6  # of a line's tokens, for a table row

_NUMBER = re.compile(r"^[-+<>=~±(\[]*\d[\d.,:%/±×x()\[\]-]*[%)\]*]*$|^(?:n/?a|nd|ns|-|–|—)$", re.I)
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$|^[-–]\s*\d{1,4}\s*[-–]$|^[ivxlc]{1,6}$", re.I
)
_REFERENCES = re.compile(
    r"^(?:\d+\.?\s*|[A-Z]\.?\s+)?(?:references?|bibliography|literature cited|works cited"
    r"|references and notes|cited literature)\s*:?$",
    re.I,
)
_AFTER_REFERENCES = re.compile(
    r"^(?:[A-Z]\.?\s+)?(?:appendi(?:x|ces)|supplementa|supporting inf)", re.I
)
_BACK_MATTER = re.compile(
    r"^(?:\d+\.?\s*)?(?:acknowledge?ments?|funding(?: information| statement| sources)?"
    r"|conflicts? of interest|competing interests?|declaration of competing interests?"
    r"|author contributions?|disclosure statement)\s*(?:[.:—–]\s*|$)",
    re.I,
)  # a heading alone on its line, or run in before a colon or full stop
_BODY_START = re.compile(r"^(?:\d+\.?\s*)?(?:abstract|summary|introduction|background)\b", re.I)
_ENTRY = re.compile(r"^(?:\[\d{1,3}\]\s*[A-Z]|\d{1,3}\.\s+[A-Z][\w'-]+,?\s+[A-Z])")
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_AFFILIATION = re.compile(
    r"\b(?:Universit(?:y|é|ät|at|à)|Institute|Institut|Department|Dept\.|School of|College"
    r"|Laborator(?:y|ies)|Hospital|Cent(?:er|re)|Faculty|Correspondence|Corresponding)\b"
)
_NAME = r"[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]*){1,3}[\d*†‡,]*"
_NAMES = re.compile(rf"^(?:{_NAME}\s*(?:,|and|&)\s*){{1,}}{_NAME}$")
_HEADING = re.compile(r"^(?:\d+(?:\.\d+)*\.?\s+)?[A-Z][^.!?]{0,60}$")


@dataclass(frozen=True)
class Segment:
    """A run of text on one line: its box (points, origin top-left) and type size."""

    x0: float
    x1: float
    top: float
    bottom: float
    text: str
    size: float


@dataclass(frozen=True)
class Page:
    width: float
    height: float
    segments: list[Segment]


@dataclass(frozen=True)
class Line:
    """A line in reading order: its page, column (0 full width or one column, 1 left, 2 right)."""

    page: int
    column: int
    x0: float
    x1: float
    top: float
    size: float
    text: str


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _drop_furniture(pages: list[Page], dropped: Counter[str]) -> list[Page]:
    """Running headers/footers and page numbers out (see the module docstring)."""

    edges = [
        (min(s.top for s in page.segments), max(s.top for s in page.segments))
        if page.segments
        else (0.0, 0.0)
        for page in pages
    ]

    def zone(n: int, s: Segment) -> bool:
        # the page's first or last line only: the body may reach into the margins' 10%
        page, (first, last) = pages[n], edges[n]
        return (s.top < ZONE * page.height and s.top - first < 2) or (
            s.bottom > (1 - ZONE) * page.height and last - s.top < 2
        )

    seen: Counter[str] = Counter()
    sizes: dict[str, list[float]] = {}
    for n, page in enumerate(pages):
        found = {_key(s.text): s.size for s in page.segments if zone(n, s)}
        seen.update(found.keys())
        for key, size in found.items():
            sizes.setdefault(key, []).append(size)
    need = max(2, FURNITURE_SHARE * len(pages))
    repeated = {
        k: statistics.median(sizes[k]) for k, n in seen.items() if n >= need and len(pages) >= 3
    }

    def running(s: Segment) -> bool:
        # the type size too: a title repeated small as the running header stays on page 1
        key = _key(s.text)
        return key in repeated and abs(s.size - repeated[key]) <= 1

    out = []
    for n, page in enumerate(pages):
        keep = []
        for s in page.segments:
            if zone(n, s) and _PAGE_NUMBER.match(s.text.strip()):
                dropped["page_numbers"] += 1
            elif zone(n, s) and running(s):
                dropped["headers_footers"] += 1
            else:
                keep.append(s)
        out.append(Page(page.width, page.height, keep))
    return out


def _rows(segments: Iterable[Segment], page: int, column: int) -> list[Line]:
    """Segments of one column grouped into lines (same baseline band), top to bottom."""
    lines: list[list[Segment]] = []
    for s in sorted(segments, key=lambda s: (s.top, s.x0)):
        if lines and abs(lines[-1][0].top - s.top) < 0.5 * max(s.size, 1.0):
            lines[-1].append(s)
        else:
            lines.append([s])
    out = []
    for row in lines:
        row.sort(key=lambda s: s.x0)
        text = " ".join(" ".join(s.text.split()) for s in row if s.text.strip())
        if text:
            size = max(s.size for s in row)
            out.append(
                Line(page, column, row[0].x0, max(s.x1 for s in row), row[0].top, size, text)
            )
    return out


def _two_columns(left: list[Segment], right: list[Segment], spanning: list[Segment]) -> bool:
    """Text on both sides of the middle, side by side, in lines of prose length, with (almost)
    nothing crossing the middle where they sit side by side."""
    # runs of prose length on both sides: short cells side by side are a table or a form
    if min(sum(len(s.text) >= 20 for s in side) for side in (left, right)) < MIN_COLUMN_LINES:
        return False
    top = max(min(s.top for s in left), min(s.top for s in right))
    bottom = min(max(s.top for s in left), max(s.top for s in right))
    if bottom <= top:
        return False
    beside = sum(top <= s.top <= bottom for s in left + right)
    across = sum(top <= s.top <= bottom for s in spanning)
    return across <= 0.1 * beside


def _ordered(page: Page, number: int) -> list[Line]:
    """The page's lines in reading order (see the module docstring)."""
    segs = [s for s in page.segments if s.text.strip()]
    if not segs:
        return []
    mid = (min(s.x0 for s in segs) + max(s.x1 for s in segs)) / 2
    left = [s for s in segs if s.x1 <= mid + 1]
    right = [s for s in segs if s.x0 >= mid - 1 and s.x1 > mid + 1]

    spanning = sorted((s for s in segs if s.x0 < mid - 1 and s.x1 > mid + 1), key=lambda s: s.top)
    if not _two_columns(left, right, spanning):
        return _rows(segs, number, 0)
    cuts = [s.top for s in spanning] + [float("inf")]
    out: list[Line] = []
    above = float("-inf")
    for i, cut in enumerate(cuts):
        out += _rows([s for s in left if above <= s.top < cut], number, 1)
        out += _rows([s for s in right if above <= s.top < cut], number, 2)
        if i < len(spanning):
            out += _rows([spanning[i]], number, 0)
            above = cut
    return out


def _numeric(line: Line) -> bool:
    tokens = line.text.split()
    numbers = sum(bool(_NUMBER.match(t)) for t in tokens)
    return numbers >= 2 and numbers >= NUMERIC_SHARE * len(tokens)


def _drop_tables(lines: list[Line], dropped: Counter[str]) -> list[Line]:
    numeric = [_numeric(line) for line in lines]
    drop = [False] * len(lines)
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and numeric[j] and lines[j].page == lines[i].page:
            j += 1
        if j - i >= 2:
            for k in range(i, j):
                drop[k] = True
            head = lines[i - 1].text.split() if i else []
            if head and len(head) <= 8 and not re.search(r"[.!?;]$", lines[i - 1].text):
                drop[i - 1] = True  # the table's column names
        i = max(j, i + 1)
    dropped["tables"] += sum(drop)
    return [line for line, gone in zip(lines, drop, strict=True) if not gone]


def _paragraphs(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped into paragraphs (see the module docstring)."""
    columns: dict[tuple[int, int], list[Line]] = {}
    for ln in lines:
        columns.setdefault((ln.page, ln.column), []).append(ln)
    edges: dict[tuple[int, int], tuple[float, float]] = {}
    for key, col in columns.items():
        rights = sorted(ln.x1 for ln in col)
        edges[key] = (min(ln.x0 for ln in col), rights[int(0.9 * (len(rights) - 1))])
    pitches = [
        b.top - a.top
        for a, b in zip(lines, lines[1:], strict=False)
        if (a.page, a.column) == (b.page, b.column) and b.top > a.top
    ]
    pitch = statistics.median(pitches) if pitches else 0.0
    blocks: list[list[Line]] = []
    for line in lines:
        if blocks and not _breaks(blocks[-1][-1], line, edges, pitch):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def _breaks(
    prev: Line, line: Line, edges: dict[tuple[int, int], tuple[float, float]], pitch: float
) -> bool:
    left, right = edges[(prev.page, prev.column)]
    if prev.x1 < left + FULL_LINE * (right - left) or abs(prev.size - line.size) > 1:
        return True
    same = (prev.page, prev.column) == (line.page, line.column)
    if same and pitch and line.top - prev.top > 1.5 * pitch:
        return True
    text = line.text
    return bool(_REFERENCES.match(text) or _BACK_MATTER.match(text) or _ENTRY.match(text))


def _drop_authors(blocks: list[list[Line]], dropped: Counter[str]) -> list[list[Line]]:
    first = [ln for b in blocks for ln in b if ln.page == 0]
    start = next((i for i, ln in enumerate(first) if _BODY_START.match(ln.text)), None)
    if not first or not start:
        return blocks
    biggest = max(ln.size for ln in first[:start])
    title = {id(ln) for ln in first[:start] if ln.size >= biggest - 0.5}
    between = [ln for ln in first[:start] if id(ln) not in title]
    if not any(
        _EMAIL.search(ln.text) or _AFFILIATION.search(ln.text) or _NAMES.match(ln.text)
        for ln in between
    ):
        return blocks
    gone = {id(ln) for ln in between}
    dropped["authors"] += len(gone)
    kept = [[ln for ln in b if id(ln) not in gone] for b in blocks]
    return [b for b in kept if b]


def _is_heading(block: list[Line]) -> bool:
    return len(block) == 1 and bool(_HEADING.match(block[0].text)) and len(block[0].text) < 70


def _drop_back_matter(blocks: list[list[Line]], dropped: Counter[str]) -> list[list[Line]]:
    keep: list[list[Line]] = []
    i = 0
    while i < len(blocks):
        text = blocks[i][0].text
        if _REFERENCES.match(text) and len(blocks[i]) == 1:
            j = i + 1
            while j < len(blocks) and not _AFTER_REFERENCES.match(blocks[j][0].text):
                j += 1
            dropped["references"] += sum(len(b) for b in blocks[i:j])
            i = j
            continue
        if _BACK_MATTER.match(text):
            j = i + 1
            if len(" ".join(ln.text for ln in blocks[i]).split()) <= 5:  # a heading on its own
                while j < len(blocks) and j <= i + 3 and not _is_heading(blocks[j]):
                    j += 1
            dropped["acknowledgements"] += sum(len(b) for b in blocks[i:j])
            i = j
            continue
        j = i
        while j < len(blocks) and _ENTRY.match(blocks[j][0].text):
            j += 1
        if j - i >= 3:
            dropped["references"] += sum(len(b) for b in blocks[i:j])
            i = j
            continue
        keep.append(blocks[i])
        i += 1
    return keep


def _vocabulary(lines: Iterable[Line]) -> Counter[str]:
    words: Counter[str] = Counter()
    for line in lines:
        tokens = line.text.split()
        if tokens and tokens[-1].endswith("-"):
            tokens = tokens[:-1]
        words.update(t.strip(".,;:()[]\"'").lower() for t in tokens)
    return words


def _join(block: list[Line], vocabulary: Counter[str]) -> str:
    text = block[0].text
    for line in block[1:]:
        nxt = line.text
        match = re.search(r"(\S+)-$", text[-80:]) if text.endswith("-") else None
        if match:
            head = match.group(1)
            tail = nxt.split()[0].rstrip(".,;:)")
            compound = (
                "-" in head
                or "-" in tail
                or not head[-1].isalpha()
                or not tail[:1].islower()
                or (
                    vocabulary[f"{head}-{tail}".lower()] > 0
                    and vocabulary[f"{head}{tail}".lower()] == 0
                )
            )
            text = text + nxt if compound else text[:-1] + nxt
        else:
            text = f"{text} {nxt}"
    return text


def clean(pages: list[Page]) -> tuple[str, dict[str, int]]:
    """The body text of the pages and the lines dropped per kind (see the module docstring)."""
    dropped: Counter[str] = Counter()
    pages = _drop_furniture(pages, dropped)
    lines = [ln for n, page in enumerate(pages) for ln in _ordered(page, n)]
    lines = _drop_tables(lines, dropped)
    blocks = _paragraphs(lines)
    blocks = _drop_authors(blocks, dropped)
    blocks = _drop_back_matter(blocks, dropped)
    vocabulary = _vocabulary(ln for b in blocks for ln in b)
    text = "\n\n".join(_join(b, vocabulary) for b in blocks)
    return text, {kind: dropped[kind] for kind in KINDS}
