"""Research-paper PDFs made from plain text: the stand-in for real papers in the PDF benchmarks.

Only package registries are reachable from this workplace, so real papers cannot be downloaded.
This script renders the 98 COVID-QA papers (``../shared/datasets/covid-qa/200423_covidQA.json``,
read in place, never copied) as the PDFs a new user drops into ``ragbench init``: A4, a title
block with authors, affiliations and a corresponding-author e-mail, a full-width abstract, the
body in two columns with words hyphenated at line ends (compounds broken at their own hyphen), a
running header (short title, first author "et al.") and a page number in the footer from page 2,
a table of numbers, an acknowledgements section and a reference list of ``[n]`` entries. Half of
the papers are written to the content stream row by row (left line, right line, ...) as some
producers do, so the stream order is not the reading order; the other half column by column.

Every paper also gets a ``.truth.json`` beside it: the text a reader should get back (title,
abstract and body, as rendered before hyphenation), the body lines in reading order (for order
errors) and the header/footer lines (for spurious lines). ``tests/test_pdf.py`` renders tiny
papers with the same functions.

    .venv/bin/python benchmarks/make_pdfs.py [--out /tmp/ragbench-papers] [--limit 98]
"""

# no `from __future__ import annotations`: tests load this file without registering it as a
# module, and dataclasses would look string annotations up in sys.modules

import argparse
import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

COVID_QA = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "covid-qa" / "200423_covidQA.json"
)

PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
MARGIN = 18.0
GUTTER = 8.0
COL_W = (PAGE_W - 2 * MARGIN - GUTTER) / 2
BODY_PT, LINE_H = 9.5, 4.2  # Times 9.5 pt on 4.2 mm lines: a dense journal page
TOP, BOTTOM = 22.0, PAGE_H - 20.0  # the text block between header and footer

_INSTITUTES = (
    "Department of Microbiology",
    "Institute of Virology",
    "School of Public Health",
    "Department of Infectious Diseases",
    "Center for Vaccine Research",
)
_PLACES = (
    "University of Leeds, Leeds, UK",
    "McGill University, Montreal, Canada",
    "University of Hong Kong, Hong Kong, China",
    "Karolinska Institutet, Stockholm, Sweden",
    "University of Melbourne, Melbourne, Australia",
    "Emory University, Atlanta, USA",
)
_JOURNALS = (
    "J Virol",
    "Lancet Infect Dis",
    "PLoS Pathog",
    "Emerg Infect Dis",
    "Vaccine",
    "Proc Natl Acad Sci U S A",
    "Nature",
    "Clin Infect Dis",
)
_FUNDERS = (
    "the National Institutes of Health",
    "the Wellcome Trust",
    "the European Research Council",
    "the National Natural Science Foundation of China",
)


@dataclass
class Paper:
    """What is rendered; ``abstract`` and ``paragraphs`` are the text a reader should get back."""

    title: str
    authors: list[str]
    abstract: str
    paragraphs: list[str]
    affiliations: list[str] = field(default_factory=list)
    email: str = ""
    acknowledgements: str = ""
    references: list[str] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)  # header row, then rows of numbers
    table_caption: str = ""
    short_title: str = ""
    footer: str = "{page}"  # "{page}" or "Page {page} of {pages}" ...


def latin1(text: str) -> str:
    """Text the PDF core fonts can draw: typographic characters mapped, the rest dropped."""
    table = {
        "‐": "-",
        "‑": "-",
        "–": "-",
        "—": "-",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "≥": ">=",
        "≤": "<=",
        "×": "x",
        "±": "+/-",
        "→": "->",
        "…": "...",
        "\u2009": " ",
    }
    text = "".join(table.get(c, c) for c in text)
    text = unicodedata.normalize("NFKC", text)
    return text.encode("latin-1", "ignore").decode("latin-1")


def _surname(author: str) -> str:
    return author.split(",")[0].strip() if "," in author else author.split()[-1]


def covid_papers(path: Path = COVID_QA, limit: int | None = None) -> list[Paper]:
    """The COVID-QA contexts as papers, with made-up affiliations, table, thanks and references."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    raw = [d["paragraphs"][0]["context"] for d in data][:limit]
    heads = [_parse(latin1(c)) for c in raw]
    papers = []
    for i, (title, authors, abstract, paragraphs) in enumerate(heads):
        rng = random.Random(f"paper-{i}")
        others = [heads[j] for j in rng.sample(range(len(heads)), min(len(heads), 25)) if j != i]
        papers.append(decorate(Paper(title, authors, abstract, paragraphs), rng, others, i))
    return papers


def _parse(context: str) -> tuple[str, list[str], str, list[str]]:
    blocks = [b.strip() for b in context.split("\n\n") if b.strip()]
    title = blocks[0].splitlines()[0].strip()
    authors: list[str] = []
    abstract, body = "", []
    for block in blocks[1:]:
        for line in block.splitlines():
            if line.startswith("Authors:") or (";" in line and not authors and not abstract):
                authors = [a.strip() for a in line.removeprefix("Authors:").split(";") if a.strip()]
        if block.startswith("Abstract:"):
            abstract = block.removeprefix("Abstract:").strip()
        elif block.startswith("Text:"):
            body.append(block.removeprefix("Text:").strip())
        elif body or abstract:
            if not block.startswith(("Date:", "DOI:", "License:", "SHA:", "http")):
                body.append(" ".join(block.split()))
    authors = [" ".join(reversed([p.strip() for p in a.split(",", 1)])) for a in authors[:8]]
    return title, authors or ["Anonymous Author"], " ".join(abstract.split()), body


def decorate(paper: Paper, rng: random.Random, others: list[Any], index: int) -> Paper:
    """Add the parts a real paper has around its text (deterministic for a given ``rng``)."""
    paper.affiliations = [f"{n} {rng.choice(_INSTITUTES)}, {rng.choice(_PLACES)}" for n in (1, 2)]
    paper.email = f"*Correspondence: {_surname(paper.authors[0]).lower()}@example.edu"
    paper.acknowledgements = (
        f"We thank the study participants and the clinical staff. This work was supported by "
        f"{rng.choice(_FUNDERS)} (grant {rng.randint(10, 99)}-{rng.randint(1000, 9999)})."
    )
    paper.references = []
    for n, (title, authors, _a, _p) in enumerate(others[: rng.randint(12, 22)], start=1):
        names = ", ".join(_surname(a) + " " + a.split()[0][0] for a in authors[:3])
        etal = ", et al." if len(authors) > 3 else "."
        year = rng.randint(1998, 2019)
        paper.references.append(
            f"[{n}] {names}{etal} {title}. {rng.choice(_JOURNALS)}. {year};"
            f"{rng.randint(5, 120)}({rng.randint(1, 12)}):{rng.randint(100, 900)}-"
            f"{rng.randint(901, 999)}. doi:10.{rng.randint(1000, 9999)}/{rng.randint(10**5, 10**6)}"
        )
    paper.table_caption = "Table 1. Measurements by study group."
    paper.table = [["Group", "n", "Mean", "SD", "P"]] + [
        [
            f"{g}",
            str(rng.randint(20, 400)),
            f"{rng.uniform(1, 90):.1f}",
            f"{rng.uniform(0.1, 9):.2f}",
            f"{rng.uniform(0.001, 0.9):.3f}",
        ]
        for g in range(1, 6)
    ]
    words = paper.title.split()
    paper.short_title = " ".join(words[:6]) + (" ..." if len(words) > 6 else "")
    paper.footer = ("{page}", "Page {page} of {pages}", "PLoS ONE | www.plosone.org {page}")[
        index % 3
    ]
    return paper


# --- layout ----------------------------------------------------------------------------------------


@dataclass
class Item:
    """One drawn line: position (mm, top-left origin), text, font style and size, role."""

    x: float
    y: float
    text: str
    style: str = ""
    size: float = BODY_PT
    role: str = "body"  # body | title | authors | heading | table | caption | header | footer ...
    column: int = 0  # 0 full width, 1 left, 2 right
    justify: float = 0.0  # > 0: stretched to this width (word spacing), as journals set text


def _hyphen_point(word: str) -> list[int]:
    """Where a word may be broken with an added hyphen: after a vowel followed by a consonant,
    at least 3 letters on each side."""
    return [
        i
        for i in range(3, len(word) - 2)
        if word[i - 1] in "aeiou"
        and word[i] not in "aeiou"
        and word[i].isalpha()
        and word[i - 1].isalpha()
        and word[i:].isalpha()
    ]


def wrap(text: str, width: float, measure: Any) -> list[str]:
    """Lines of at most ``width`` mm; a word that does not fit is hyphenated when it can be (its
    own hyphen first, else an added one), else moved to the next line."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}" if line else word
        if measure(trial) <= width:
            line = trial
            continue
        head, tail = "", word
        cuts = [i + 1 for i, c in enumerate(word[:-1]) if c == "-" and i > 1]
        # As TeX does: a compound breaks only at its own hyphens, other words at syllables.
        cands = [(word[:c], word[c:]) for c in cuts] or [
            (word[:c] + "-", word[c:]) for c in _hyphen_point(word)
        ]
        for h, t in sorted(cands, key=lambda p: -len(p[0])):
            if measure(f"{line} {h}" if line else h) <= width:
                head, tail = h, t
                break
        if head:
            lines.append(f"{line} {head}" if line else head)
            line = tail
        else:
            if line:
                lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


class Layout:
    """Flows a paper into pages of :class:`Item` (two columns after the title block)."""

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf
        self.pages: list[list[Item]] = [[]]
        self.column, self.y = 1, TOP
        self.top_of_columns = TOP

    def measure(self, style: str, size: float) -> Any:
        def width(text: str) -> float:
            self.pdf.set_font("Times", style, size)
            return float(self.pdf.get_string_width(text))

        return width

    def full(self, text: str, style: str, size: float, role: str, gap: float = 1.5) -> None:
        lines = wrap(text, PAGE_W - 2 * MARGIN, self.measure(style, size))
        for n, line in enumerate(lines, start=1):
            w = self.measure(style, size)(line)
            x = (PAGE_W - w) / 2 if role in ("title", "authors") else MARGIN
            width = PAGE_W - 2 * MARGIN if role == "body" and n < len(lines) else 0.0
            self.pages[-1].append(Item(x, self.y, line, style, size, role, 0, width))
            self.y += size * 0.45
        self.y += gap

    def _advance(self, height: float) -> None:
        if self.y + height > BOTTOM:
            if self.column == 1:
                self.column, self.y = 2, self.top_of_columns
            else:
                self.pages.append([])
                self.column, self.y = 1, TOP
                self.top_of_columns = TOP

    def start_columns(self) -> None:
        self.top_of_columns = self.y + 2
        self.column, self.y = 1, self.top_of_columns

    def block(self, text: str, role: str = "body", style: str = "", size: float = BODY_PT) -> None:
        lines = wrap(text, COL_W, self.measure(style, size))
        for n, line in enumerate(lines, start=1):
            self._advance(LINE_H)
            x = MARGIN if self.column == 1 else MARGIN + COL_W + GUTTER
            width = COL_W if n < len(lines) else 0.0
            self.pages[-1].append(Item(x, self.y, line, style, size, role, self.column, width))
            self.y += LINE_H
        self.y += 1.2

    def table(self, rows: list[list[str]], caption: str) -> None:
        self._advance(LINE_H * (len(rows) + 2))
        self.block(caption, "caption", "I")
        for r, row in enumerate(rows):
            self._advance(LINE_H)
            base = MARGIN if self.column == 1 else MARGIN + COL_W + GUTTER
            for c, cell in enumerate(row):
                self.pages[-1].append(
                    Item(
                        base + c * COL_W / len(row),
                        self.y,
                        cell,
                        "B" * (r == 0),
                        BODY_PT,
                        "table",
                        self.column,
                    )
                )
            self.y += LINE_H
        self.y += 2


def layout(paper: Paper, pdf: Any) -> list[list[Item]]:
    """The paper's pages; running header and footer are added from page 2 (page 1: footer only)."""
    lay = Layout(pdf)
    lay.full(paper.title, "B", 15, "title", 3)
    lay.full(", ".join(f"{a}{1 + (i % 2)}" for i, a in enumerate(paper.authors)), "", 10, "authors")
    for aff in paper.affiliations:
        lay.full(aff, "I", 8, "affiliation", 0.5)
    lay.full(paper.email, "I", 8, "affiliation", 3)
    lay.full("Abstract", "B", 10, "heading", 0.5)
    lay.full(paper.abstract, "", 9.5, "body", 2)
    lay.start_columns()
    middle = max(1, len(paper.paragraphs) // 2)
    for i, para in enumerate(paper.paragraphs):
        lay.block(para)
        if i + 1 == middle and paper.table:
            lay.table(paper.table, paper.table_caption)
    if paper.acknowledgements:
        lay.block("Acknowledgements", "acknowledgements", "B")
        lay.block(paper.acknowledgements, "acknowledgements")
    if paper.references:
        lay.block("References", "references", "B")
        for ref in paper.references:
            lay.block(ref, "references", "", 8)
    pages = lay.pages
    for number, items in enumerate(pages, start=1):
        footer = paper.footer.format(page=number, pages=len(pages))
        w = lay.measure("", 8)(footer)
        items.append(Item((PAGE_W - w) / 2, PAGE_H - 12, footer, "", 8, "footer"))
        if number > 1:
            items.insert(0, Item(MARGIN, 12, paper.short_title, "I", 8, "header"))
            right = f"{_surname(paper.authors[0])} et al."
            w = lay.measure("I", 8)(right)
            items.insert(1, Item(PAGE_W - MARGIN - w, 12, right, "I", 8, "header"))
    return pages


def render(paper: Paper, path: Path, rows_first: bool = False) -> dict[str, Any]:
    """Write the paper's PDF to ``path``; return its truth (see the module docstring).

    ``rows_first``: write the two columns to the stream line by line across the page (left,
    right, left, ...) instead of column by column; the reading order is the same.
    """
    from fpdf import FPDF

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_title(paper.title)
    pages = layout(paper, pdf)
    for items in pages:
        pdf.add_page()
        drawn = sorted(items, key=lambda it: (round(it.y, 1), it.x)) if rows_first else items
        for it in drawn:
            pdf.set_font("Times", it.style, it.size)
            baseline = it.y + it.size * 0.3528  # 1 pt = 0.3528 mm
            words = it.text.split(" ")
            if it.justify and len(words) > 1:  # word by word, the gaps stretched (as TeX sets)
                space = pdf.get_string_width(" ")
                gap = space + (it.justify - pdf.get_string_width(it.text)) / (len(words) - 1)
                x = it.x
                for word in words:
                    pdf.text(x, baseline, word)
                    x += pdf.get_string_width(word) + gap
            else:
                pdf.text(it.x, baseline, it.text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return truth(paper, pages)


def truth(paper: Paper, pages: list[list[Item]]) -> dict[str, Any]:
    """What a reader should get back from the PDF, and what it should not.

    ``text``: title, "Abstract", abstract, body paragraphs and the table caption in reading order
    (words as written, before hyphenation); ``dropped``: the lines a cleaner should drop per kind
    (``ragbench.data.pdf_layout.KINDS``); ``body_lines``: per page, the body lines of the columns
    in reading order; ``furniture``: header and footer texts.
    """
    middle = max(1, len(paper.paragraphs) // 2)
    body = paper.paragraphs[:middle] + [paper.table_caption] * bool(paper.table)
    kept = [paper.title, "Abstract", paper.abstract, *body, *paper.paragraphs[middle:]]
    roles = Counter(it.role for items in pages for it in items)
    bare = paper.footer in ("{page}", "Page {page} of {pages}")  # page numbers, nothing else
    return {
        "text": "\n\n".join(kept),
        "pages": len(pages),
        "dropped": {
            "headers_footers": roles["header"] + roles["footer"] * (not bare),
            "page_numbers": roles["footer"] * bare,
            "tables": len(paper.table),
            "authors": roles["authors"] + roles["affiliation"],
            "acknowledgements": roles["acknowledgements"],
            "references": roles["references"],
        },
        "body_lines": [
            [it.text for it in items if it.role == "body" and it.column] for items in pages
        ],
        "furniture": sorted(
            {it.text for items in pages for it in items if it.role in ("header", "footer")}
        ),
        "paper": asdict(paper),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ragbench-papers"))
    parser.add_argument("--source", type=Path, default=COVID_QA)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    papers = covid_papers(args.source, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    pages = 0
    for i, paper in enumerate(papers):
        name = re.sub(r"[^a-z0-9]+", "-", paper.title.lower())[:40].strip("-") or "paper"
        path = args.out / f"{i:03d}-{name}.pdf"
        facts = render(paper, path, rows_first=i % 2 == 1)
        path.with_suffix(".truth.json").write_text(json.dumps(facts), encoding="utf-8")
        pages += facts["pages"]
    print(f"wrote {len(papers)} papers, {pages} pages, to {args.out}")


if __name__ == "__main__":
    main()
