"""Datasets: corpora and question sets, every loader returning the same contract.

Contract (after BEIR's corpus/queries/qrels): ``load_dataset(cfg) -> Dataset`` with
- ``corpus``: LlamaIndex ``Document`` objects whose ``id_`` is a stable ``doc_id`` and whose metadata
  holds ``doc_id``, ``source`` (file path or URI) and ``file_type``, plus whatever the source carries
  (a table row's columns, a record's fields) and, for access control, ``allowed_groups`` (a list of
  group names; absent = public). None of the metadata reaches the embedded or prompted text.
  ``doc_id`` is the file's path relative to the corpus root (forward slashes); a file that holds
  many documents gives ``<path>#row<n>`` (CSV/Excel rows, 1-based data rows) or ``<path>#<n>``
  (JSON records by 1-based position, JSONL records by line number), unless a record names its own
  ``id``/``doc_id``; database rows (``load_sql``) use their id column;
- ``questions``: :class:`Question` rows using ragas field names (``user_input``, ``reference``) plus
  the gold evidence: ``gold_doc_ids`` and, where the set has them, verbatim ``gold_spans``;
- ``skipped``: files (or single records) that could not be read and why. One bad file never aborts
  a load.

Question sets are read through Hugging Face ``datasets`` (``load_dataset("json", ...)``): from local
files offline, and the same call takes a hub id when a user is online.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import Document

from ragbench.config import DatasetConfig

DEMO_DIR = Path(__file__).parent / "demo"
PERMISSIONS_FILE = "_permissions.json"  # at a corpus root: doc_id or glob -> allowed groups
# Set by the loader; a table column or record field of the same name cannot override them.
RESERVED_KEYS = ("doc_id", "source", "file_type")
TEXT_FIELDS = ("text", "content", "body")  # a JSON record's text, first one present wins
ID_FIELDS = ("id", "doc_id")  # a JSON record's own id, first one present wins


class DataError(ValueError):
    """A dataset that cannot be used at all (missing folder, no readable documents, no questions)."""


class SkipFile(Exception):
    """Raised by a reader: skip this file; the message is the whole reason shown to the user."""


@dataclass
class Question:
    question_id: str
    user_input: str
    reference: str
    gold_doc_ids: list[str] = field(default_factory=list)  # empty: the corpus cannot answer it
    gold_spans: list[str] = field(default_factory=list)
    user_groups: list[str] | None = None  # the asker's groups; None = no access-control info
    # A ready-made record (judge checks, answers logged elsewhere): judged as given, not retrieved
    # or generated. human_label: a person's verdict (True = attributable), for judge agreement.
    retrieved_contexts: list[str] | None = None
    retrieved_doc_ids: list[str] | None = None
    response: str | None = None
    human_label: bool | None = None


@dataclass
class Dataset:
    name: str
    corpus: list[Document]
    questions: list[Question]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def corpus_hash(self) -> str:
        """Content hash of the whole corpus: changes when any document's text or id changes."""
        digest = hashlib.sha256()
        for doc in sorted(self.corpus, key=lambda d: d.id_):
            digest.update(doc.id_.encode() + b"\0" + doc.text.encode() + b"\0")
        return digest.hexdigest()[:16]

    def summary(self) -> str:
        kinds = Counter(d.metadata.get("file_type", "?") for d in self.corpus)
        parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        text = (
            f"{self.name}: {len(self.corpus)} documents ({parts}), {len(self.questions)} questions"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(
                f"{p} ({r})" for p, r in self.skipped
            )
        return text


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
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            # An empty user password opens owner-password-only PDFs (print/copy restrictions),
            # which every viewer opens too; anything else needs a password we do not have.
            raise SkipFile("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (FileNotDecryptedError, DependencyError):
        raise SkipFile("encrypted PDF") from None
    except SkipFile:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types for a damaged file
        raise SkipFile(f"corrupt pdf: {type(exc).__name__}: {exc}") from None
    return [(None, "\n".join(pages), {"pages": len(pages)})]


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


def _cell(value: Any) -> str:
    """A table cell or record field as metadata-safe text (dates ISO, whole floats without .0)."""
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


def _groups(value: Any) -> list[str]:
    """An ``allowed_groups`` value from a column or field: a list, a JSON list or 'a, b' text."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [g.strip() for g in text.split(",") if g.strip()]


def _row_part(suffix: str, row: dict[str, Any], extra: dict[str, Any]) -> Part:
    """One table row or flat record: "column: value" lines as text, the columns as metadata."""
    meta = {k: _cell(v) for k, v in row.items() if k not in (*RESERVED_KEYS, "allowed_groups")}
    if _cell(row.get("allowed_groups")).strip():  # an empty cell means public, not "nobody"
        meta["allowed_groups"] = _groups(row["allowed_groups"])
    lines = [f"{k}: {_cell(v)}" for k, v in row.items() if k != "allowed_groups" and _cell(v)]
    return (suffix, "\n".join(lines), {**meta, **extra})


def _headers(cells: Iterable[Any]) -> list[str]:
    """Column names from a header row; blank or repeated names get a position-based name."""
    names: list[str] = []
    for i, cell in enumerate(cells, start=1):
        name = _cell(cell).strip() or f"column{i}"
        names.append(name if name not in names else f"{name}_{i}")
    return names


def _table_parts(rows: Iterable[Iterable[Any]], prefix: str, extra: dict[str, Any]) -> list[Part]:
    """Rows of a table whose first row is the header; wholly empty rows keep their number."""
    it = iter(rows)
    header = next(it, None)
    if header is None:
        return []
    names = _headers(header)
    parts = []
    for n, cells in enumerate(it, start=1):
        values = list(cells)
        if not any(_cell(v).strip() for v in values):
            continue
        # A row longer than the header gets positional names rather than losing cells.
        cols = names + [f"column{i}" for i in range(len(names) + 1, len(values) + 1)]
        row = dict(zip(cols, values + [None] * (len(cols) - len(values)), strict=True))
        parts.append(_row_part(f"#{prefix}row{n}", row, {**extra, "row": n}))
    return parts


def _read_csv(path: Path) -> list[Part]:
    text = path.read_bytes().decode("utf-8-sig")  # Excel writes a BOM before UTF-8 CSV
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # one column, or too little text to tell: plain commas
    return _table_parts(csv.reader(io.StringIO(text, newline=""), dialect), "", {})


def _read_xlsx(path: Path) -> list[Part]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile/openpyxl raise many types
        raise SkipFile(f"corrupt xlsx: {type(exc).__name__}: {exc}") from None
    parts: list[Part] = []
    try:
        for i, sheet in enumerate(book.worksheets):
            # The first sheet's rows are `#row<n>` (the common one-sheet case); later sheets are
            # prefixed with their title so that adding a sheet never renames existing rows.
            prefix = "" if i == 0 else f"{sheet.title}!"
            rows = sheet.iter_rows(values_only=True)
            parts += _table_parts(rows, prefix, {"sheet": sheet.title})
    finally:
        book.close()
    return parts


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


READERS: dict[str, Callable[[Path], list[Part]]] = {
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


def load_permissions(root: Path) -> dict[str, list[str]]:
    """The corpus's ``_permissions.json``: doc_id or glob -> groups; {} when there is none.

    Raises:
        DataError: the file exists but is not a mapping of strings to lists of strings. A broken
            permissions file must never silently make every document public.
    """
    path = root / PERMISSIONS_FILE
    if not path.is_file():
        return {}
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(rules, dict) or not all(
        isinstance(v, list) and all(isinstance(g, str) for g in v) for v in rules.values()
    ):
        raise DataError(f'{path}: expected {{"doc_id or glob": ["group", ...], ...}}')
    return rules


def allowed_groups(doc_id: str, path: str, rules: dict[str, list[str]]) -> list[str] | None:
    """Groups allowed to see a document, or None (public) when no rule matches.

    An exact doc_id wins, then the file's exact path (covers every row of a table), then the
    longest matching glob (the most specific: "finance/payroll/*" beats "finance/*" beats "*").
    Globs follow fnmatch, where "*" also crosses "/".
    """
    for key in (doc_id, path):
        if key in rules:
            return list(rules[key])
    globs = [p for p in rules if any(c in p for c in "*?[") and fnmatch.fnmatchcase(doc_id, p)]
    return list(rules[max(globs, key=len)]) if globs else None


def load_corpus(root: Path) -> tuple[list[Document], list[tuple[str, str]]]:
    """Read every supported file under ``root`` into Documents; return them and the skipped files."""
    if not root.is_dir():
        raise DataError(f"corpus folder not found: {root}")
    rules = load_permissions(root)
    docs: list[Document] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}  # doc_id -> the file it came from
    files = (p for p in root.rglob("*") if p.is_file())
    # Hidden files and folders (.git, .ipynb_checkpoints copies) are not part of the corpus.
    for path in sorted(
        p for p in files if not any(s.startswith(".") for s in p.relative_to(root).parts)
    ):
        rel = path.relative_to(root).as_posix()
        if rel == PERMISSIONS_FILE:
            continue
        file_type = path.suffix[1:].lower()
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            skipped.append((rel, f"unsupported extension '{path.suffix}'"))
            continue
        if path.stat().st_size == 0:
            skipped.append((rel, "empty file"))
            continue
        try:
            parts = reader(path)
        except UnicodeDecodeError:
            skipped.append((rel, "undecodable bytes (not UTF-8)"))
            continue
        except SkipFile as exc:
            skipped.append((rel, str(exc)[:200]))
            continue
        except Exception as exc:  # noqa: BLE001 - any reader failure skips that one file
            skipped.append((rel, f"corrupt {file_type}: {type(exc).__name__}: {exc}"[:200]))
            continue
        if not parts:
            skipped.append((rel, "no records"))
            continue
        for suffix, text, extra in parts:
            doc_id = str(extra.pop("doc_id", None) or rel + (suffix or ""))
            where = rel + (suffix or "")
            if text is None:
                skipped.append((where, extra.get("reason", "unreadable record")))
            elif not text.strip():
                skipped.append((where, "no extractable text"))
            elif doc_id in seen:
                skipped.append((where, f"duplicate doc_id '{doc_id}' (first from {seen[doc_id]})"))
            else:
                seen[doc_id] = where
                groups = allowed_groups(doc_id, rel, rules)
                if groups is not None:
                    extra["allowed_groups"] = groups
                meta = {**extra, "source": str(path), "file_type": file_type}
                docs.append(make_document(doc_id, text, **meta))
    return docs, skipped


def make_document(doc_id: str, text: str, **metadata: Any) -> Document:
    """A Document with a stable id; metadata stays out of the embedded and prompted text."""
    meta = {"doc_id": doc_id, **metadata}
    return Document(
        id_=doc_id,
        text=text,
        metadata=meta,
        excluded_embed_metadata_keys=list(meta),
        excluded_llm_metadata_keys=list(meta),
    )


# --- database rows ----------------------------------------------------------------------------------


def _sql_rows(url: str, query: str) -> tuple[list[str], list[tuple[Any, ...]], str]:
    """Run a query; return column names, rows and a source URI safe to store (no password)."""
    if url.startswith("duckdb:///"):
        # duckdb_engine (DuckDB's SQLAlchemy dialect) is not a dependency; the duckdb package is.
        import duckdb

        path = url.removeprefix("duckdb:///")
        if path != ":memory:" and not Path(path).is_file():
            raise DataError(f"DuckDB file not found: {path}")
        con = duckdb.connect(path, read_only=path != ":memory:")
        try:
            cursor = con.execute(query)
            names = [d[0] for d in cursor.description]
            return names, cursor.fetchall(), url
        finally:
            con.close()
    import sqlalchemy

    sqlite_path = url.removeprefix("sqlite:///")
    if (
        url.startswith("sqlite:///")
        and sqlite_path != ":memory:"
        and not Path(sqlite_path).is_file()
    ):
        # sqlite would silently create an empty database instead.
        raise DataError(f"SQLite file not found: {sqlite_path}")
    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:  # noqa: BLE001 - bad URL, unknown dialect, missing driver
        raise DataError(f"cannot open database '{url}': {exc}") from None
    source = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as con:
            result = con.execute(sqlalchemy.text(query))
            return list(result.keys()), [tuple(r) for r in result], source
    finally:
        engine.dispose()


def _sql_documents(
    url: str, query: str, id_column: str, text_columns: list[str]
) -> tuple[list[Document], list[tuple[str, str]]]:
    try:
        names, rows, source = _sql_rows(url, query)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - each driver has its own error types
        raise DataError(f"query failed on '{url}': {type(exc).__name__}: {exc}") from None
    for column in [id_column, *text_columns]:
        if column not in names:
            raise DataError(
                f"query result has no column '{column}'{_suggest(column, names)}; "
                f"columns: {', '.join(names)}"
            )
    docs, skipped, seen = [], [], set()
    for n, values in enumerate(rows, start=1):
        row = dict(zip(names, values, strict=True))
        doc_id = _cell(row[id_column])
        where = f"{source}#row{n}"
        texts = [_cell(row[c]) for c in text_columns]
        # One text column is the document itself; several are labelled so their roles stay clear.
        if len(text_columns) == 1:
            text = texts[0]
        else:
            text = "\n".join(f"{c}: {t}" for c, t in zip(text_columns, texts, strict=True) if t)
        if not doc_id:
            skipped.append((where, f"empty id column '{id_column}'"))
        elif doc_id in seen:
            skipped.append((where, f"duplicate doc_id '{doc_id}'"))
        elif not text.strip():
            skipped.append((where, "no extractable text"))
        else:
            seen.add(doc_id)
            meta: dict[str, Any] = {
                k: _cell(v)
                for k, v in row.items()
                if k not in (id_column, *text_columns, *RESERVED_KEYS, "allowed_groups")
            }
            if _cell(row.get("allowed_groups")).strip():  # NULL or empty: public
                meta["allowed_groups"] = _groups(row["allowed_groups"])
            docs.append(make_document(doc_id, text, **meta, source=source, file_type="sql"))
    return docs, skipped


def load_sql(url: str, query: str, id_column: str, text_columns: list[str]) -> list[Document]:
    """Database rows as Documents: one per row of ``query``.

    Args:
        url: any SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://...``), or
            ``duckdb:///path.duckdb``, read with the duckdb package directly.
        query: the SELECT whose rows become documents.
        id_column: the column holding each row's stable doc_id.
        text_columns: the columns that make the text; one column is used as is, several become
            "column: value" lines. Every other column goes into metadata (as text), and an
            ``allowed_groups`` column (JSON list or comma-separated) becomes the access-control list.

    Rows with an empty id, a repeated id or no text are left out (``load_dataset`` reports them).

    Raises:
        DataError: the database cannot be opened, the query fails, or a named column is missing.
    """
    return _sql_documents(url, query, id_column, text_columns)[0]


def _suggest(name: str, valid: list[str]) -> str:
    from ragbench.config import suggest

    return suggest(name, valid)


def _resolve_url(url: str, base: Path | None) -> str:
    """A relative sqlite/duckdb file path in a URL, made relative to ``base`` (the dataset path)."""
    for scheme in ("sqlite:///", "duckdb:///"):
        rest = url.removeprefix(scheme)
        if url.startswith(scheme) and base and rest and not rest.startswith(("/", ":memory:")):
            return scheme + str((base / rest).resolve())
    return url


# --- question sets ----------------------------------------------------------------------------------


def _hf_rows(path: Path, field: str | None = None) -> list[dict[str, Any]]:
    """Rows of a local JSON/JSONL file, read through Hugging Face `datasets`.

    ``field`` names the top-level key holding the rows (SQuAD files keep them under "data").
    """
    import datasets

    if not path.is_file():
        raise DataError(f"question file not found: {path}")
    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset("json", data_files=str(path), field=field, split="train")
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a bad file
        raise DataError(f"cannot read questions from {path}: {exc}") from None
    return table.to_list()


def _qa_rows(path: Path) -> list[Question]:
    """The native question schema (see ragbench/demo/README.md)."""
    questions = []
    for i, row in enumerate(_hf_rows(path)):
        # `datasets` fills a field missing from some rows with None rather than raising.
        for name in ("question_id", "user_input"):
            if row.get(name) is None or not str(row[name]).strip():
                raise DataError(f"{path}: row {i} lacks field '{name}'")
        groups = row.get("user_groups")
        questions.append(
            Question(
                question_id=str(row["question_id"]),
                user_input=row["user_input"],
                reference=row.get("reference") or "",
                gold_doc_ids=list(row.get("gold_doc_ids") or []),
                gold_spans=list(row.get("gold_spans") or []),
                user_groups=None if groups is None else [str(g) for g in groups],
            )
        )
    return questions


def _load_qa_folder(root: Path, name: str) -> Dataset:
    docs, skipped = load_corpus(root / "corpus")
    return Dataset(name, docs, _qa_rows(root / "questions.jsonl"), skipped)


def _load_demo(cfg: DatasetConfig) -> Dataset:
    return _load_qa_folder(DEMO_DIR, "demo")


def _load_generic(cfg: DatasetConfig) -> Dataset:
    if not cfg.path:
        raise DataError(
            "dataset loader 'qa-folder' needs 'path' (a folder with corpus/ and questions.jsonl)"
        )
    return _load_qa_folder(Path(cfg.path), Path(cfg.path).name)


def _load_pg_essays(cfg: DatasetConfig) -> Dataset:
    """Tonic Validate's Paul Graham essays: essays/*.txt + qa_pairs.json (essay, question, answer, quote)."""
    if not cfg.path:
        raise DataError(
            "dataset loader 'pg-essays' needs 'path' (e.g. ../shared/datasets/pg-essays)"
        )
    root = Path(cfg.path)
    docs, skipped = load_corpus(root / "essays")
    questions = [
        Question(
            question_id=f"pg{i:02d}",
            user_input=row["question"],
            reference=row["answer"],
            gold_doc_ids=[row["essay"]],
            gold_spans=[row["quote"]] if row.get("quote") else [],
        )
        for i, row in enumerate(_hf_rows(root / "qa_pairs.json"))
    ]
    return Dataset("pg-essays", docs, questions, skipped)


COVID_QA_FILE = "200423_covidQA.json"  # the snapshot in ../shared (98 papers, 1,380 QA)


def _load_covid_qa(cfg: DatasetConfig) -> Dataset:
    """deepset's COVID-QA (SQuAD format): one paper per ``context``, extractive QA on it.

    The file is read through `datasets` with ``field="data"``: Arrow keeps the nested
    data -> paragraphs -> qas -> answers structure as lists of structs, so no flattening is needed.
    doc_id is the paper's ``document_id`` (the file has no titles; the paper's title is the first
    line of its context and is kept as metadata). Every question has one answer: its text is both
    the reference and the gold span (it occurs verbatim in the paper, though ``answer_start`` is
    off for some of them, so the offset is not used).
    """
    if not cfg.path:
        raise DataError("dataset loader 'covid-qa' needs 'path' (e.g. ../shared/datasets/covid-qa)")
    path = Path(cfg.path)
    path = path / COVID_QA_FILE if path.is_dir() else path
    docs, questions, skipped = [], [], []
    for article in _hf_rows(path, field="data"):
        for paragraph in article["paragraphs"]:
            doc_id = str(paragraph["document_id"])
            context = paragraph["context"] or ""
            if not context.strip():
                skipped.append((f"{path.name}#{doc_id}", "no extractable text"))
                continue
            head = [line.strip() for line in context.splitlines()[:5] if line.strip()]
            url = next((line for line in head if line.startswith("http")), "")
            docs.append(
                make_document(
                    doc_id,
                    context,
                    title=head[0] if head else "",
                    url=url,
                    source=f"{path}#document_id={doc_id}",
                    file_type="paper",
                )
            )
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"] if a["text"]]
                questions.append(
                    Question(
                        question_id=str(qa["id"]),
                        user_input=qa["question"],
                        reference=answers[0] if answers else "",
                        gold_doc_ids=[doc_id] if answers else [],
                        gold_spans=answers[:1],
                    )
                )
    return Dataset("covid-qa", docs, questions, skipped)


def _load_sql(cfg: DatasetConfig) -> Dataset:
    """Database rows as the corpus (``sql`` block), questions from a native questions.jsonl."""
    if cfg.sql is None or not cfg.questions:
        raise DataError("dataset loader 'sql' needs a 'sql' block and 'questions'")
    base = Path(cfg.path) if cfg.path else None
    url = _resolve_url(cfg.sql.url, base)
    docs, skipped = _sql_documents(url, cfg.sql.query, cfg.sql.id_column, cfg.sql.text_columns)
    questions_path = Path(cfg.questions)
    if base and not questions_path.is_absolute():
        questions_path = base / questions_path
    name = Path(cfg.path).name if cfg.path else "sql"
    return Dataset(name, docs, _qa_rows(questions_path), skipped)


def _load_labelled(cfg: DatasetConfig) -> Dataset:
    from ragbench.labelled import labelled_dataset  # labelled builds on this module's contract

    return labelled_dataset(cfg.path or "", split=cfg.split)


LOADERS: dict[str, Callable[[DatasetConfig], Dataset]] = {
    "labelled": _load_labelled,
    "demo": _load_demo,
    "qa-folder": _load_generic,
    "pg-essays": _load_pg_essays,
    "covid-qa": _load_covid_qa,
    "sql": _load_sql,
}


def load_dataset(cfg: DatasetConfig, limit: int | None = None) -> Dataset:
    """Load the dataset a config names; ``limit`` keeps the first N questions.

    Raises:
        DataError: the folder or question file is missing, or no document could be read.
    """
    dataset = LOADERS[cfg.loader](cfg)
    if not dataset.corpus:
        reasons = "; ".join(f"{p}: {r}" for p, r in dataset.skipped[:5]) or "the folder is empty"
        raise DataError(f"dataset '{dataset.name}' has no readable documents ({reasons})")
    if not dataset.questions:
        raise DataError(f"dataset '{dataset.name}' has no questions")
    ids = [q.question_id for q in dataset.questions]
    if len(set(ids)) != len(ids):
        dupes = sorted(k for k, n in Counter(ids).items() if n > 1)
        raise DataError(f"dataset '{dataset.name}': duplicate question ids {dupes[:5]}")
    if limit is not None:
        dataset.questions = dataset.questions[:limit]
    return dataset


def write_questions(path: Path, questions: list[Question]) -> None:
    """Write questions in the native JSONL schema (used by tests and by users building sets)."""
    with path.open("w") as out:
        for q in questions:
            row = dict(q.__dict__)
            if row["user_groups"] is None:  # keep files without access control in the 5-key schema
                del row["user_groups"]
            out.write(json.dumps(row) + "\n")
