"""Corpora: a folder of files, or database rows, as LlamaIndex Documents with stable ids.

Contract: ``load_corpus(root) -> (documents, skipped)`` and
``sql_documents(url, query, id_column, text_columns) -> (documents, skipped)``, where every
Document's ``id_`` is its stable ``doc_id`` and its metadata holds ``doc_id``, ``source`` (file path
or URI without password) and ``file_type``, plus what the source carries (a table row's columns, a
record's fields) and, for access control, ``allowed_groups`` (absent = public). None of the metadata
reaches the embedded or prompted text. ``skipped`` lists ``(file or record, reason)`` for every
input that could not be used: one bad file or record never aborts a load, and no Document holds
text that cannot be encoded as UTF-8. Which files of a folder are read (symbolic links, folders
that cannot be listed, ragbench's own files such as a question file or a results file inside the
folder) is decided by :mod:`ragbench.data.walk`; every file it leaves out is in ``skipped`` with
its reason.

doc_ids: the file's path relative to the corpus root (forward slashes); a file holding many
documents gives ``<path>#row<n>`` (CSV/Excel rows, 1-based data rows) or ``<path>#<n>`` (JSON
records by 1-based position, JSONL records by line number), unless a record names its own
``id``/``doc_id``; database rows use their id column. ``_permissions.json`` at the root maps doc ids
or globs to groups.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llama_index.core import Document

from ragbench.config.experiment import suggest
from ragbench.data.readers import (
    READERS,
    RESERVED_KEYS,
    DataError,
    SkipFile,
    cell_text,
    group_list,
    unicode_problem,
)
from ragbench.data.walk import PERMISSIONS_FILE, corpus_entries

# Larger files are skipped with a reason. Measured 2026-12-01 on 2 cores: a 50 MB text file takes
# ~4 min to chunk (sentence, 256) and ~2.4 GB of memory; at 100 MB that is ~5 GB, so beyond it a
# run would more likely die of memory than finish.
MAX_FILE_BYTES = 100_000_000
Skipped = list[tuple[str, str]]  # (file or record, reason)


def load_permissions(root: Path, follow_symlinks: bool = False) -> dict[str, list[str]]:
    """The corpus's ``_permissions.json``: doc_id or glob -> groups; {} when there is none.

    Raises:
        DataError: the file exists but is not a mapping of strings to lists of strings, or is a
            link to a file outside the folder (unless ``follow_symlinks``). A broken permissions
            file must never silently make every document public.
    """
    path = root / PERMISSIONS_FILE
    if not path.is_file():
        return {}
    if not follow_symlinks and not path.resolve().is_relative_to(root.resolve()):
        raise DataError(f"{path}: a symlink to a file outside the corpus folder: {path.resolve()}")
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


def load_corpus(
    root: Path, follow_symlinks: bool = False, exclude: Mapping[Path, str] | None = None
) -> tuple[list[Document], Skipped]:
    """Read every supported file under ``root`` into Documents.

    Args:
        root: the corpus folder.
        follow_symlinks: read what links point to outside ``root`` (see ``data.walk``).
        exclude: files or folders under ``root`` that are not documents -> the reason shown
            (the experiment's question file, its YAML, the results file...).

    Returns:
        The documents, in path order, and ``(file or record, reason)`` for every file or record
        that could not be used (unsupported, empty, too large, corrupt, encrypted, not UTF-8,
        invalid Unicode, no text, a repeated doc_id, unreadable, a link, one of ``exclude``).

    Raises:
        DataError: the folder does not exist or cannot be listed, or its ``_permissions.json``
            is broken.
    """
    if not root.is_dir():
        raise DataError(f"corpus folder not found: {root}")
    try:
        entries = corpus_entries(root, follow_symlinks, exclude)
    except OSError as exc:
        raise DataError(f"cannot read corpus folder {root}: {exc.strerror or exc}") from None
    rules = load_permissions(root, follow_symlinks)
    docs: list[Document] = []
    skipped: Skipped = []
    seen: dict[str, str] = {}  # doc_id -> the file it came from
    for entry in entries:
        rel, path = entry.rel, entry.path
        if entry.reason is not None:
            skipped.append((rel, entry.reason))
            continue
        if unicode_problem(rel):
            # Linux hands undecodable name bytes over as surrogates; show them replaced.
            shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            skipped.append((shown, "file name is not valid UTF-8"))
            continue
        file_docs, file_skipped = _read_file(rel, path, rules, seen)
        docs += file_docs
        skipped += file_skipped
    return docs, skipped


def _read_file(
    rel: str, path: Path, rules: dict[str, list[str]], seen: dict[str, str]
) -> tuple[list[Document], Skipped]:
    """One file's documents and skips; ``seen`` (doc_id -> where) gains its documents' ids.

    Readers stream (a CSV's rows become documents one at a time, the file is never held whole),
    so a file can fail halfway: then none of its documents is kept, and the file is one skip.
    """
    file_type = path.suffix[1:].lower()
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        return [], [(rel, f"unsupported extension '{path.suffix}'")]
    size = path.stat().st_size
    if size == 0:
        return [], [(rel, "empty file")]
    if size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // 1_000_000
        return [], [(rel, f"too large ({size / 1e6:.0f} MB > {limit} MB): split it")]
    source = str(path)  # one string shared by every document of the file
    docs: list[Document] = []
    skipped: Skipped = []
    mine: dict[str, str] = {}  # this file's doc ids, added to `seen` once the file is read whole
    parts = 0
    try:
        for suffix, text, extra in reader(path):
            parts += 1
            where = rel + (suffix or "")
            if text is None:
                skipped.append((where, extra.get("reason", "unreadable record")))
                continue
            # Checked before the id is used anywhere: a record's own id may hold the surrogate.
            problem = unicode_problem([text, extra])
            doc_id = str(extra.pop("doc_id", None) or where)
            first = seen.get(doc_id) or mine.get(doc_id)
            if problem:
                skipped.append((where, problem))
            elif not text.strip():
                skipped.append((where, "no extractable text"))
            elif first is not None:
                skipped.append((where, f"duplicate doc_id '{doc_id}' (first from {first})"))
            else:
                mine[doc_id] = where
                groups = allowed_groups(doc_id, rel, rules)
                if groups is not None:
                    extra["allowed_groups"] = groups
                meta = {**extra, "source": source, "file_type": file_type}
                docs.append(make_document(doc_id, text, **meta))
    except UnicodeDecodeError:
        return [], [(rel, "undecodable bytes (not UTF-8)")]
    except PermissionError:
        return [], [(rel, "cannot read file: permission denied")]
    except SkipFile as exc:
        return [], [(rel, str(exc)[:200])]
    except Exception as exc:  # noqa: BLE001 - any reader failure skips that one file
        return [], [(rel, f"corrupt {file_type}: {type(exc).__name__}: {exc}"[:200])]
    if not parts:
        return [], [(rel, "no records")]
    seen.update(mine)
    return docs, skipped


def make_document(doc_id: str, text: str, /, **metadata: Any) -> Document:
    """A Document with a stable id; metadata stays out of the embedded and prompted text.

    ``doc_id`` and ``text`` are positional-only: a table column named ``text`` is metadata.
    """
    meta = {"doc_id": doc_id, **metadata}
    return Document(
        id_=doc_id,
        text=text,
        metadata=meta,
        excluded_embed_metadata_keys=list(meta),
        excluded_llm_metadata_keys=list(meta),
    )


# --- database rows (the user's own query, run as given) -------------------------------------------


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
        with engine.connect() as connection:
            result = connection.execute(sqlalchemy.text(query))
            return list(result.keys()), [tuple(r) for r in result], source
    finally:
        engine.dispose()


def sql_documents(
    url: str, query: str, id_column: str, text_columns: list[str]
) -> tuple[list[Document], Skipped]:
    """Database rows as Documents plus the rows left out and why; see :func:`load_sql`."""
    try:
        names, rows, source = _sql_rows(url, query)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - each driver has its own error types
        raise DataError(f"query failed on '{url}': {type(exc).__name__}: {exc}") from None
    for column in [id_column, *text_columns]:
        if column not in names:
            raise DataError(
                f"query result has no column '{column}'{suggest(column, names)}; "
                f"columns: {', '.join(names)}"
            )
    docs: list[Document] = []
    skipped: Skipped = []
    seen: set[str] = set()
    for n, values in enumerate(rows, start=1):
        row = dict(zip(names, values, strict=True))
        doc_id = cell_text(row[id_column])
        where = f"{source}#row{n}"
        texts = [cell_text(row[c]) for c in text_columns]
        # One text column is the document itself; several are labelled so their roles stay clear.
        if len(text_columns) == 1:
            text = texts[0]
        else:
            text = "\n".join(f"{c}: {t}" for c, t in zip(text_columns, texts, strict=True) if t)
        problem = unicode_problem([doc_id, text])
        if problem:
            skipped.append((where, problem))
        elif not doc_id:
            skipped.append((where, f"empty id column '{id_column}'"))
        elif doc_id in seen:
            skipped.append((where, f"duplicate doc_id '{doc_id}'"))
        elif not text.strip():
            skipped.append((where, "no extractable text"))
        else:
            seen.add(doc_id)
            meta: dict[str, Any] = {
                k: cell_text(v)
                for k, v in row.items()
                if k not in (id_column, *text_columns, *RESERVED_KEYS, "allowed_groups")
            }
            if cell_text(row.get("allowed_groups")).strip():  # NULL or empty: public
                meta["allowed_groups"] = group_list(row["allowed_groups"])
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
    return sql_documents(url, query, id_column, text_columns)[0]


def resolve_url(url: str, base: Path | None) -> str:
    """A relative sqlite/duckdb file path in a URL, made relative to ``base`` (the dataset path)."""
    for scheme in ("sqlite:///", "duckdb:///"):
        rest = url.removeprefix(scheme)
        if url.startswith(scheme) and base and rest and not rest.startswith(("/", ":memory:")):
            return scheme + str((base / rest).resolve())
    return url
