"""PDF reading: the text of a PDF as a person reads it, and what was left out.

Contract: ``read_pdf(path) -> (text, metadata)``: the positioned text of every page (PDFium, via
pypdfium2) cleaned by :func:`ragbench.data.pdf_layout.clean` (reading order of two-column pages,
running headers and footers, page numbers, tables of numbers, author block, acknowledgements and
reference list dropped, words broken at line ends joined). ``metadata`` holds ``pages`` and one
``dropped_<kind>`` count of lines per kind of :data:`~ragbench.data.pdf_layout.KINDS`, which
``ragbench init`` adds up and prints. A PDF that cannot be used raises
:class:`~ragbench.data.readers.SkipFile`-compatible :class:`PdfSkip` with the whole reason:
``encrypted PDF`` (a user password is needed; an owner-only password, which every viewer
ignores, is not), ``corrupt pdf: <why>``.

Why PDFium: measured by ``benchmarks/pdf_extraction.py`` (table in docs/own-documents.md): on 98
rendered two-column papers, through the same cleaning, it recovers 0.997 of the body words in
order, as pdfplumber does at a tenth of the speed; pypdf gives no text widths (0.891).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragbench.data.pdf_layout import KINDS, Page, Segment, clean


class PdfSkip(Exception):
    """The PDF cannot be read; the message is the whole reason shown to the user."""


GAP = 1.5  # type sizes of horizontal white space that end a run (a column gutter, a table cell)


def _page_runs(textpage: Any, height: float) -> list[Segment]:
    """A page's characters joined into runs: same line, no gap wider than :data:`GAP` sizes."""
    import ctypes

    import pypdfium2.raw as raw

    handle = textpage.raw
    box = raw.FS_RECTF()
    runs: list[Segment] = []
    text: list[str] = []
    x0 = x1 = top = bottom = size = 0.0

    def close() -> None:
        joined = " ".join("".join(text).split())
        if joined:
            runs.append(Segment(x0, x1, top, bottom, joined, size))
        text.clear()

    count = raw.FPDFText_CountChars(handle)
    chars = textpage.get_text_range(0, count)  # one call; per-character calls are slow
    if len(chars) != count:  # a character PDFium could not give as text: ask one by one
        chars = "".join(chr(raw.FPDFText_GetUnicode(handle, i)) for i in range(count))
    for i, char in enumerate(chars):
        if char in "\r\n":  # PDFium's own line breaks: the boxes decide
            continue
        if char in "\x02\ufffe":  # PDFium's mark for a hyphen that ends a line (the range
            # call gives U+FFFE, the per-character call 2)
            char = "-"
        if char.isspace():
            if text:
                text.append(" ")
            continue
        if not raw.FPDFText_GetLooseCharBox(handle, i, ctypes.byref(box)):
            continue
        c_top, c_bottom = height - box.top, height - box.bottom
        c_size = c_bottom - c_top
        middle = (c_top + c_bottom) / 2  # a superscript's middle is still inside its line
        if text and (
            not top < middle < bottom
            or box.left - x1 > GAP * max(size, c_size)
            or box.left < x1 - 2 * size  # back to the left: a new line
        ):
            close()
        if not text:
            x0, top, bottom, size = box.left, c_top, c_bottom, c_size
        text.append(char)
        x1 = max(x1, box.right) if len(text) > 1 else box.right
    close()
    return runs


def pdfium_pages(path: Path) -> list[Page]:
    """Every page's text runs with their boxes (points, top-left origin).

    Runs are made from PDFium's characters and their loose boxes (the font's ascent to descent,
    so every character of a line has the same top and the box height is the type size).

    Raises:
        PdfSkip: encrypted with a user password, or not a PDF PDFium can open.
    """
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise PdfSkip("encrypted PDF") from None
        raise PdfSkip(f"corrupt pdf: {exc}") from None
    try:
        pages = []
        for index in range(len(doc)):
            page = doc[index]
            width, height = page.get_size()
            textpage = page.get_textpage()
            pages.append(Page(width, height, _page_runs(textpage, height)))
            textpage.close()
            page.close()
        return pages
    except pdfium.PdfiumError as exc:
        raise PdfSkip(f"corrupt pdf: {exc}") from None
    finally:
        doc.close()


def read_pdf(path: Path) -> tuple[str, dict[str, Any]]:
    """The cleaned text of a PDF and its metadata (see the module docstring)."""
    pages = pdfium_pages(path)
    text, dropped = clean(pages)
    meta: dict[str, Any] = {"pages": len(pages)}
    meta.update({f"dropped_{kind}": dropped[kind] for kind in KINDS})
    return text, meta
