"""Which PDF library reads research papers best: text quality and speed of pypdf, pypdfium2, pdfplumber.

Reads the papers ``benchmarks/make_pdfs.py`` writes (the stand-in for real papers: two columns,
hyphenation, running headers, page numbers, a table, acknowledgements, references) with each
library twice: its own plain text (``raw``), and its positioned text through ragbench's cleaning
(``clean``: ``ragbench.data.pdf_layout.clean``, the same rules for every library). Prints per
library and mode, over all papers:

- ``recall``: share of the expected words (title, abstract and body as written, before
  hyphenation) recovered in order (word-level ``difflib`` matching blocks / expected words);
- ``extra``: share of the output's words that match nothing expected (references, affiliations,
  headers, table numbers, broken words);
- ``order``: reading-order errors per 100 consecutive body-line pairs on two-column pages (a line's
  inner words found before the previous line's in the output);
- ``furniture``: running header and footer lines left in the output, per paper;
- ``pages/s``: pages read (and cleaned) per second, single process;
- ``exact``: share of papers whose dropped-line counts (per kind) all equal the generator's.

    nice -n 10 .venv/bin/python benchmarks/pdf_extraction.py [--papers /tmp/ragbench-papers]

Makes the papers first (``make_pdfs.py``) when the folder has none. The libraries other than
the one ragbench uses are imported here only; install them to measure
(``pip install pypdfium2 pdfplumber``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from ragbench.data.pdf_layout import Page, Segment, clean

HERE = Path(__file__).resolve().parent
X_TOLERANCE = 1.5  # pdfplumber: a gap between characters wider than this (pt) splits words


# --- each library's positioned text, as pdf_layout.Page objects --------------------------------------


def pypdf_pages(path: Path) -> list[Page]:
    """pypdf's text runs (visitor) with their text matrices; pypdf gives no run width, so the
    right edge is estimated at 0.45 em per character (a Times average)."""
    from pypdf import PdfReader

    pages = []
    for page in PdfReader(path).pages:
        height = float(page.mediabox.height)
        runs: list[Segment] = []

        def visit(
            text: str,
            cm: Any,
            tm: Any,
            _font: Any,
            size: float,
            height: float = height,
            runs: list[Segment] = runs,
        ) -> None:
            if not text.strip():
                return
            scale = abs(float(cm[0])) or 1.0
            x = float(tm[4]) * scale + float(cm[4])
            y = float(tm[5]) * scale + float(cm[5])
            size = float(size) * abs(float(tm[0]) or 1.0) * scale
            top = height - y - size
            runs.append(
                Segment(x, x + 0.45 * size * len(text.strip()), top, top + size, text, size)
            )

        page.extract_text(visitor_text=visit)
        pages.append(Page(float(page.mediabox.width), height, merge_runs(runs)))
    return pages


def merge_runs(runs: list[Segment]) -> list[Segment]:
    """Runs on one line with gaps under 1.5 type heights joined (pypdf and pdfplumber give a
    word or a text-show operation at a time; the cleaning expects line runs, as PDFium's)."""
    merged: list[Segment] = []
    for r in sorted(runs, key=lambda r: (round(r.top), r.x0)):
        last = merged[-1] if merged else None
        if (
            last is not None
            and abs(last.top - r.top) < 0.5 * r.size
            and -0.5 * r.size <= r.x0 - last.x1 < 1.5 * r.size
        ):
            text = f"{last.text.rstrip()} {r.text.strip()}"
            merged[-1] = Segment(
                last.x0, max(last.x1, r.x1), last.top, last.bottom, text, last.size
            )
        else:
            merged.append(r)
    return merged


def pypdf_raw(path: Path) -> tuple[str, int]:
    from pypdf import PdfReader

    pages = PdfReader(path).pages
    return "\n".join(p.extract_text() or "" for p in pages), len(pages)


def pdfplumber_pages(path: Path) -> list[Page]:
    """pdfplumber's words, cut at gaps of 1.5 pt (``x_tolerance``; the default 3 glued justified
    words together), joined into line runs like pypdf's."""
    import pdfplumber

    pages = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            words = page.extract_words(x_tolerance=X_TOLERANCE)
            runs = [
                Segment(w["x0"], w["x1"], w["top"], w["bottom"], w["text"], w["bottom"] - w["top"])
                for w in words
            ]
            pages.append(Page(float(page.width), float(page.height), merge_runs(runs)))
    return pages


def pdfplumber_raw(path: Path) -> tuple[str, int]:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return "\n".join(p.extract_text(x_tolerance=X_TOLERANCE) or "" for p in pdf.pages), len(
            pdf.pages
        )


def pdfium_pages(path: Path) -> list[Page]:
    from ragbench.data.pdf import pdfium_pages as pages

    return pages(path)


def pdfium_raw(path: Path) -> tuple[str, int]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(path)
    try:
        texts = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
        return "\n".join(texts), len(texts)
    finally:
        doc.close()


LIBRARIES: dict[str, tuple[Callable[[Path], tuple[str, int]], Callable[[Path], list[Page]]]] = {
    "pypdf": (pypdf_raw, pypdf_pages),
    "pypdfium2": (pdfium_raw, pdfium_pages),
    "pdfplumber": (pdfplumber_raw, pdfplumber_pages),
}


# --- measures -------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-cased words (inner hyphens and apostrophes kept), for matching."""
    return re.findall(r"[a-z0-9]+(?:['-][a-z0-9]+)*", text.lower())


def recall_extra(expected: str, got: str) -> tuple[int, int, int]:
    """(expected words, of them matched in order, output words)."""
    a, b = words(expected), words(got)
    matched = sum(m.size for m in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return len(a), matched, len(b)


def order_errors(body_lines: list[list[str]], got: str, two_column: list[bool]) -> tuple[int, int]:
    """(line pairs checked, pairs out of order) on two-column pages; see the module docstring."""
    hay = " ".join(words(got))
    pairs = errors = 0
    for lines, columns in zip(body_lines, two_column, strict=True):
        if not columns:
            continue
        at = []
        for line in lines:
            inner = words(line)[1:-1]
            if len(inner) < 4:
                continue
            probe = " ".join(inner)
            if hay.count(probe) == 1:
                at.append(hay.find(probe))
        pairs += max(0, len(at) - 1)
        errors += sum(b < a for a, b in zip(at, at[1:], strict=False))
    return pairs, errors


def furniture(truth: dict[str, Any], got: str) -> int:
    """Header and footer lines (of two words or more) left in the output."""
    flat = " ".join(got.split())
    return sum(flat.count(f) for f in truth["furniture"] if len(f.split()) >= 2)


def measure(papers: list[Path], raw: Any, pages: Any) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for mode in ("raw", "clean"):
        exp = matched = produced = pairs = errors = left = n_pages = exact = 0
        seconds = 0.0
        for pdf in papers:
            truth = json.loads(pdf.with_suffix(".truth.json").read_text(encoding="utf-8"))
            start = time.perf_counter()
            if mode == "raw":
                text, count = raw(pdf)
            else:
                read = pages(pdf)
                text, dropped = clean(read)
                count = len(read)
            seconds += time.perf_counter() - start
            if mode == "clean":
                exact += dropped == truth["dropped"]
            n_pages += count
            e, m, p = recall_extra(truth["text"], text)
            exp, matched, produced = exp + e, matched + m, produced + p
            two = [any(lines) for lines in truth["body_lines"]]
            c, w = order_errors(truth["body_lines"], text, two)
            pairs, errors = pairs + c, errors + w
            left += furniture(truth, text)
        out[mode] = {
            "recall": matched / exp,
            "extra": (produced - matched) / produced if produced else 0.0,
            "order": 100 * errors / pairs if pairs else 0.0,
            "furniture": left / len(papers),
            "pages_per_s": n_pages / seconds if seconds else 0.0,
            "exact": exact / len(papers) if mode == "clean" else float("nan"),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=Path, default=Path("/tmp/ragbench-papers"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--libraries", nargs="*", default=list(LIBRARIES))
    args = parser.parse_args(argv)
    if not list(args.papers.glob("*.pdf")):
        spec = importlib.util.spec_from_file_location("make_pdfs", HERE / "make_pdfs.py")
        assert spec and spec.loader
        make = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = make  # dataclasses look their module up there
        spec.loader.exec_module(make)
        make.main(
            ["--out", str(args.papers)] + (["--limit", str(args.limit)] if args.limit else [])
        )
    papers = sorted(args.papers.glob("*.pdf"))[: args.limit]
    total_pages = sum(
        json.loads(p.with_suffix(".truth.json").read_text(encoding="utf-8"))["pages"]
        for p in papers
    )
    print(
        f"PDF extraction on {len(papers)} rendered papers ({total_pages} pages), "
        f"{dt.date.today()}, {platform.machine()} {os.cpu_count()} cores, one process"
    )
    header = f"{'library':<11} {'mode':<6} {'recall':>7} {'extra':>7} {'order':>7} {'furniture':>10} {'pages/s':>8} {'exact':>6}"
    print(header)
    for name in args.libraries:
        raw, pages = LIBRARIES[name]
        try:
            results = measure(papers, raw, pages)
        except ImportError as exc:
            print(f"{name:<11} not installed ({exc})")
            continue
        for mode, r in results.items():
            exact = "-" if mode == "raw" else f"{r['exact']:.2f}"
            print(
                f"{name:<11} {mode:<6} {r['recall']:>7.3f} {r['extra']:>7.3f} {r['order']:>7.2f} "
                f"{r['furniture']:>10.2f} {r['pages_per_s']:>8.1f} {exact:>6}"
            )
    print(
        "recall: expected words recovered in order; extra: output words matching nothing expected; "
        "order: errors per 100 body-line pairs on two-column pages; furniture: header/footer lines "
        "left per paper; exact: papers whose dropped-line counts per kind all match the "
        "generator's (2-page papers keep their running lines by design)"
    )


if __name__ == "__main__":
    main()
