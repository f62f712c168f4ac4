"""PDFs read as people read them: tiny research papers rendered here with fpdf2, by the same
generator as the extraction benchmark (benchmarks/make_pdfs.py), cleaned by ragbench.data.pdf.

Each paper has two columns (written to the stream column by column, or line by line across the
page), words hyphenated at line ends, a running header and page-number footer, a table of numbers,
an author block, acknowledgements and a reference list; the tests check that each is dropped
with its exact line count and that the body comes back word for word in reading order. A plain
report (the demo's annual report) keeps every word.
"""

from __future__ import annotations

import importlib.util
import io
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from ragbench.data.corpus import load_corpus
from ragbench.data.pdf import read_pdf
from ragbench.data.pdf_layout import KINDS, Line, _join, _vocabulary

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_pdfs", ROOT / "benchmarks" / "make_pdfs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


make_pdfs = _generator()

NOUNS = ["retrievability", "characterization", "transmission", "immunogenicity", "surveillance"]
ADJECTIVES = ["state-of-the-art", "mother-to-child", "well-characterized", "population-based"]


def tiny_paper(paragraphs: int = 16, footer: str = "{page}") -> Any:
    """A deterministic paper of about three pages."""
    rng = random.Random(7)
    body = []
    for p in range(paragraphs):
        sentences = [
            f"In cohort {p}-{s} the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} of the "
            f"{rng.choice(NOUNS)} pipeline changed by {rng.randint(2, 99)} percent over "
            f"{rng.randint(2, 30)} weeks of careful {rng.choice(NOUNS)} measurements."
            for s in range(6)
        ]
        body.append(" ".join(sentences))
    paper = make_pdfs.Paper(
        title="Retrieval Pipelines for Outbreak Surveillance: A Comparative Study",
        authors=["Ada Finch", "Boris Lund", "Chen Wei", "Dana Okafor"],
        abstract="We compare retrieval pipelines on outbreak reports. " * 6,
        paragraphs=body,
    )
    others = [
        (f"Earlier study number {n} of surveillance", ["Ann Bell", "Carl Dunn"], "", [])
        for n in range(30)
    ]
    paper = make_pdfs.decorate(paper, random.Random(3), others, 0)
    paper.footer = footer
    return paper


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+(?:['-][A-Za-z0-9]+)*", text)


@pytest.mark.parametrize("rows_first", [False, True], ids=["columns", "rows-first"])
@pytest.mark.parametrize("footer", ["{page}", "Page {page} of {pages}", "Journal {page}"])
def test_paper_is_read_in_order_without_its_furniture(
    tmp_path: Path, rows_first: bool, footer: str
) -> None:
    paper = tiny_paper(footer=footer)
    path = tmp_path / "paper.pdf"
    truth = make_pdfs.render(paper, path, rows_first=rows_first)
    assert truth["pages"] >= 3
    broken = [ln.split()[-1] for page in truth["body_lines"] for ln in page if ln.endswith("-")]
    assert len(broken) >= 5  # words broken at line ends: added hyphens and compounds' own

    text, meta = read_pdf(path)

    assert words(text) == words(truth["text"])
    assert meta["pages"] == truth["pages"]
    assert {k: meta[f"dropped_{k}"] for k in KINDS} == truth["dropped"]
    assert truth["dropped"]["references"] > len(paper.references)  # entries wrap
    if footer == "Journal {page}":  # a running footer, not a bare page number
        assert truth["dropped"]["headers_footers"] == 2 * (truth["pages"] - 1) + truth["pages"]
    else:
        assert truth["dropped"]["page_numbers"] == truth["pages"]
    for gone in (paper.references[0][:30], paper.email, paper.affiliations[0], paper.short_title):
        assert gone not in text
    assert "state-of-the-art" in text and "retrievability" in text


def test_plain_report_keeps_every_word(tmp_path: Path) -> None:
    from ragbench.demo.make_pdf import REPORT_PAGES, SUBTITLE, TITLE, build_pdf

    path = tmp_path / "report.pdf"
    build_pdf(path)
    text, meta = read_pdf(path)

    expected = [TITLE, SUBTITLE]
    for n, page in enumerate(REPORT_PAGES, start=1):  # a 2-page footer is kept: too few pages to
        expected += [line for _style, line in page]  # tell a running line from text
        expected.append(f"{SUBTITLE} - page {n} of {len(REPORT_PAGES)}")
    assert words(text) == words("\n".join(expected))
    assert all(meta[f"dropped_{k}"] == 0 for k in KINDS)
    demo, _ = read_pdf(ROOT / "ragbench" / "demo" / "corpus" / "annual-report-2024.pdf")
    assert demo == text  # the committed demo PDF reads the same


def _line(text: str, top: float = 0.0) -> Line:
    return Line(0, 1, 0.0, 100.0, top, 10.0, text)


@pytest.mark.parametrize(
    ("first", "second", "joined"),
    [
        ("the retrie-", "val step", "the retrieval step"),
        ("a state-of-", "the-art model", "a state-of-the-art model"),
        ("the mother-", "to-child route", "the mother-to-child route"),
        ("of HIV-", "1 infection", "of HIV-1 infection"),
        ("a non-", "specific band", "a non-specific band"),  # spelt so elsewhere below
        ("ends here.", "Next one", "ends here. Next one"),
    ],
)
def test_line_end_hyphens(first: str, second: str, joined: str) -> None:
    block = [_line(first), _line(second, 12)]
    vocabulary = _vocabulary([*block, _line("a non-specific result")])
    assert _join(block, vocabulary) == joined


def test_empty_and_encrypted_pdfs_are_skipped_with_a_reason(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    root = tmp_path / "papers"
    root.mkdir()
    make_pdfs.render(tiny_paper(), root / "paper.pdf")
    (root / "empty.pdf").write_bytes(b"")
    writer = PdfWriter(clone_from=root / "paper.pdf")
    writer.encrypt(user_password="pw", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    (root / "locked.pdf").write_bytes(buffer.getvalue())
    (root / "half.pdf").write_bytes((root / "paper.pdf").read_bytes()[:300])

    docs, skipped = load_corpus(root)

    assert [d.id_ for d in docs] == ["paper.pdf"]
    assert docs[0].metadata["dropped_references"] > 0
    reasons = dict(skipped)
    assert reasons["empty.pdf"] == "empty file"
    assert reasons["locked.pdf"] == "encrypted PDF"
    assert reasons["half.pdf"].startswith("corrupt pdf: ")


def test_superscripts_and_subscripts_stay_in_their_line(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Times", size=11)
    for i in range(12):
        pdf.write(5, f"Survey {i} found tide gauges installed at many harbours")
        pdf.char_vpos = "SUP"
        pdf.write(5, f"{i + 1},{i + 2}")
        pdf.char_vpos = "SUB"
        pdf.write(5, "2")
        pdf.char_vpos = "LINE"
        pdf.write(5, " and moved later. ")
    pdf.output(str(tmp_path / "sup.pdf"))
    text, _ = read_pdf(tmp_path / "sup.pdf")
    assert "\n" not in text  # one paragraph: no citation mark became a line of its own
    assert "Survey 3 found tide gauges installed at many harbours4,52 and moved later." in text
