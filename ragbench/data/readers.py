"""File readers: one corpus file -> the documents it holds, as plain text parts.

Contract: ``READERS[suffix](path) -> Iterable[Part]``, where a ``Part`` is ``(doc_id suffix or
None, text or None, extra metadata)``. Tables (CSV, Excel) stream: their parts are made row by
row as the caller iterates, from a file read incrementally, so a 200,000-row table is never held
whole (and may fail halfway: the caller keeps none of its parts then). A reader raises :class:`SkipFile` (the message is the whole reason
shown to the user) when the file cannot be used; a part whose text is None is one unreadable record
of an otherwise readable file (the reason is in its metadata's ``"reason"``). Readers never raise
for bad input in any other way except ``UnicodeDecodeError``, which the corpus loader reports as
"not UTF-8". :func:`unicode_problem` finds text that cannot be written as UTF-8 (a lone surrogate
from a JSON ``"\\ud800"`` escape), which the corpus loader also reports per record.

The readers sit directly on the maintained parsers (pypdfium2 through ``data.pdf``, python-docx,
python-pptx, openpyxl, BeautifulSoup, csv/json); why not on ``llama-index-readers-file``: see the
note above ``READERS``. A PDF's text is cleaned as people read it (``data.pdf``); its metadata
counts the lines dropped per kind.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ragbench.config.validation import one_line

# Set by the loader; a table column or record field of the same name cannot override them.
RESERVED_KEYS = ("doc_id", "source", "file_type")
TEXT_FIELDS = ("text", "content", "body")  # a JSON record's text, first one present wins
ID_FIELDS = ("id", "doc_id")  # a JSON record's own id, first one present wins


class DataError(ValueError):
    """A dataset that cannot be used at all (missing folder, no readable documents, bad questions).

    Raised by every data module (corpus, questions, dataset loaders); the message is one line meant
    for the user as is.
    """

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


class SkipFile(Exception):
    """Raised by a reader: skip this file; the message is the whole reason shown to the user."""


# --- document readers: file -> [(doc_id suffix or None, text, extra metadata)] ----------------------
#
# A reader returns one part per document the file holds. The doc_id is the file's relative path plus
# the suffix (None: the path alone); a part whose metadata has "doc_id" names its own id instead. A
# part whose text is None is one unreadable record: it is reported in `skipped` with the reason in
# metadata["reason"], and the file's other records still load.

Part = tuple[str | None, str | None, dict[str, Any]]


def _read_text(path: Path) -> list[Part]:
    return [(None, path.read_bytes().decode("utf-8"), {})]


def _read_html(path: Path) -> list[Part]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes().decode("utf-8"), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return [(None, "\n".join(line for line in lines if line), {})]


def _read_pdf(path: Path) -> list[Part]:
    # The cleaning (reading order, headers, references...) and why PDFium: ragbench/data/pdf.py.
    from ragbench.data.pdf import PdfSkip, read_pdf

    try:
        text, meta = read_pdf(path)
    except PdfSkip as exc:
        raise SkipFile(str(exc)) from None
    return [(None, text, meta)]


def _read_docx(path: Path) -> list[Part]:
    import docx

    document = docx.Document(str(path))
    texts = [p.text for p in document.paragraphs if p.text.strip()]
    # Tables are where reports keep their figures; read them row by row, cells tab-separated.
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                texts.append("\t".join(cells))
    return [(None, "\n".join(texts), {})]


def _read_pptx(path: Path) -> list[Part]:
    from pptx import Presentation

    texts = []
    slides = Presentation(str(path)).slides
    for number, slide in enumerate(slides, start=1):
        texts.append(f"Slide {number}")
        texts += [s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text]
    return [(None, "\n".join(texts), {"slides": len(slides)})]


def cell_text(value: Any) -> str:
    """A table cell or record field as metadata-safe text (dates ISO, whole floats without .0)."""
    if type(value) is str:  # every CSV cell: first, as this runs for every cell of every table
        return value
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()  # Excel stores dates as midnight datetimes
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def group_list(value: Any) -> list[str]:
    """An ``allowed_groups`` value from a column or field: a list, a JSON list or 'a, b' text."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [g.strip() for g in text.split(",") if g.strip()]


def _row_part(suffix: str, row: dict[str, Any], extra: dict[str, Any]) -> Part:
    """One table row or flat record: "column: value" lines as text, the columns as metadata."""
    texts = {k: cell_text(v) for k, v in row.items()}
    meta: dict[str, Any] = {
        k: t for k, t in texts.items() if k not in (*RESERVED_KEYS, "allowed_groups")
    }
    if texts.get("allowed_groups", "").strip():  # an empty cell means public, not "nobody"
        meta["allowed_groups"] = group_list(row["allowed_groups"])
    lines = [f"{k}: {t}" for k, t in texts.items() if k != "allowed_groups" and t]
    return (suffix, "\n".join(lines), {**meta, **extra})


def _headers(cells: Iterable[Any]) -> list[str]:
    """Column names from a header row; blank or repeated names get a position-based name."""
    names: list[str] = []
    for i, cell in enumerate(cells, start=1):
        name = cell_text(cell).strip() or f"column{i}"
        names.append(name if name not in names else f"{name}_{i}")
    return names


def _table_parts(
    rows: Iterable[Iterable[Any]], prefix: str, extra: dict[str, Any]
) -> Iterator[Part]:
    """Rows of a table whose first row is the header, one part at a time; wholly empty rows keep
    their number."""
    it = iter(rows)
    header = next(it, None)
    if header is None:
        return
    names = _headers(header)
    for n, cells in enumerate(it, start=1):
        values = list(cells)
        if not any(cell_text(v).strip() for v in values):
            continue
        # A row longer than the header gets positional names rather than losing cells.
        cols = names + [f"column{i}" for i in range(len(names) + 1, len(values) + 1)]
        row = dict(zip(cols, values + [None] * (len(cols) - len(values)), strict=True))
        yield _row_part(f"#{prefix}row{n}", row, {**extra, "row": n})


def _read_csv(path: Path) -> Iterator[Part]:
    # utf-8-sig: Excel writes a BOM before UTF-8 CSV (stripped again after the seek below).
    with path.open(encoding="utf-8-sig", newline="") as f:
        try:
            dialect: Any = csv.Sniffer().sniff(f.read(8192), delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel  # one column, or too little text to tell: plain commas
        f.seek(0)
        yield from _table_parts(csv.reader(f, dialect), "", {})


def _read_xlsx(path: Path) -> Iterator[Part]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile/openpyxl raise many types
        raise SkipFile(f"corrupt xlsx: {type(exc).__name__}: {exc}") from None
    try:
        for i, sheet in enumerate(book.worksheets):
            # The first sheet's rows are `#row<n>` (the common one-sheet case); later sheets are
            # prefixed with their title so that adding a sheet never renames existing rows.
            prefix = "" if i == 0 else f"{sheet.title}!"
            rows = sheet.iter_rows(values_only=True)
            yield from _table_parts(rows, prefix, {"sheet": sheet.title})
    finally:
        book.close()


def _record_part(n: int, record: Any) -> Part:
    """One JSON record: text from a text field or "key: value" lines; its id if it names one."""
    if isinstance(record, str):
        return (f"#{n}", record, {})
    if not isinstance(record, dict):
        reason = f"record is a JSON {type(record).__name__}, not an object"
        return (f"#{n}", None, {"reason": reason})
    own_id = next((record[k] for k in ID_FIELDS if record.get(k) not in (None, "")), None)
    text_key = next((k for k in TEXT_FIELDS if isinstance(record.get(k), str)), None)
    if text_key is None:
        suffix, text, meta = _row_part(f"#{n}", record, {})
    else:
        rest = {k: v for k, v in record.items() if k != text_key}
        suffix, _, meta = _row_part(f"#{n}", rest, {})
        text = record[text_key]
    if own_id is not None:
        meta = {k: v for k, v in meta.items() if k not in ID_FIELDS}
        meta["doc_id"] = str(own_id)
    return (suffix, text, {**meta, "record": n})


def _read_json(path: Path) -> list[Part]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise SkipFile(f"invalid JSON: {exc}") from None
    if isinstance(data, dict):
        # An object wrapping its records ({"data": [...]}) or a single record.
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        data = lists[0] if lists else [data]
    if not isinstance(data, list):
        raise SkipFile(f"JSON top level is a {type(data).__name__}, not a list or object")
    return [_record_part(n, record) for n, record in enumerate(data, start=1)]


def _read_jsonl(path: Path) -> list[Part]:
    parts: list[Part] = []
    lines = path.read_bytes().decode("utf-8").splitlines()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            parts.append((f"#{n}", None, {"reason": f"invalid JSON on line {n}: {exc.msg}"}))
            continue
        parts.append(_record_part(n, record))
    return parts


# Why not llama-index-readers-file (0.7.0, tried on this corpus's fixtures, offline): its DocxReader
# needs docx2txt, which nothing else installs; PandasCSVReader gives rows without column names or
# metadata (no `<path>#row<n>` ids, no allowed_groups column); HTMLTagReader keeps one tag's text
# (the demo's HTML has no <section>: nothing read); PDFReader retries an encrypted file before
# failing with a RetryError that says nothing of a password. Its PDF and slide readers would only
# wrap pypdf (PDFs are now read with PDFium: data/pdf.py) and python-pptx, which this module calls
# directly, so the dependency was dropped.
READERS: dict[str, Callable[[Path], Iterable[Part]]] = {
    ".txt": _read_text,
    ".md": _read_text,
    ".markdown": _read_text,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".pptx": _read_pptx,
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".json": _read_json,
    ".jsonl": _read_jsonl,
}


def unicode_problem(value: Any) -> str | None:
    """Why a text (or the strings inside a list/dict) cannot be stored as UTF-8, else None.

    JSON may escape half of a surrogate pair on its own (``"\\ud800"``); Python decodes it into a
    ``str`` that every later step (hashing, DuckDB, the tokenizer) fails to encode. The reason
    names the first offending character and its position.
    """
    try:  # the common case, a clean record, in two C calls (this runs for every table row)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError):  # TypeError: not JSON; look closer
        pass
    else:
        return None
    for text in _texts(value):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            char = text[exc.start]
            return f"invalid Unicode: lone surrogate U+{ord(char):04X} at character {exc.start}"
    return None


def _texts(value: Any) -> list[str]:
    """The strings inside a value, in order: itself, a list's or tuple's items, a dict's keys
    then values."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack += [*reversed(item.values()), *reversed(item.keys())]
        elif isinstance(item, list | tuple):
            stack += reversed(item)
    return found
