"""Rows in bulk: how records, score rows and cache entries become table rows, and back.

Contract: ``upsert(con, records, scores, cache, redact)`` writes them in the caller's transaction,
one DataFrame per table that DuckDB scans at once (``executemany`` costs ~15 ms a row, which would
dominate a retrieval-only sweep), each an upsert on the table's natural key; ``redact`` is applied
to every string a person or a model wrote (questions, answers, passages, errors, details, cached
values). Columns are named, never counted: a row is built from its dataclass by field name.
``nulls(row)`` turns pandas' NaN for SQL NULL back into None. Only ``store.py`` uses this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from ragbench.records import RECORD_COLUMNS, SCORE_COLUMNS, Record, ScoreRow

Redact = Callable[[str], str]
CacheEntry = tuple[str, str, Any]  # (kind, key, value) of the cache table

# DataFrame columns of all-None values have no type DuckDB can infer: cast each to its column's.
_TYPES = {
    "retrieved_contexts": "VARCHAR[]",
    "retrieved_doc_ids": "VARCHAR[]",
    "cited_doc_ids": "VARCHAR[]",
    "retrieval_s": "DOUBLE",
    "generation_s": "DOUBLE",
    "latency_s": "DOUBLE",
    "prompt_tokens": "INTEGER",
    "completion_tokens": "INTEGER",
    "value": "DOUBLE",
    "seconds": "DOUBLE",
    "created_at": "TIMESTAMP",
}
_CACHE_COLUMNS = ("kind", "key", "value_json", "created_at")


def now() -> datetime:
    """The current UTC time as DuckDB's TIMESTAMP stores it (no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def upsert(
    con: duckdb.DuckDBPyConnection,
    records: Sequence[Record],
    scores: Sequence[ScoreRow],
    cache: Sequence[CacheEntry],
    redact: Redact,
) -> None:
    """Write records, score rows and cache entries in ``con``'s transaction (see module doc)."""
    if cache:
        at = now()
        latest = {(kind, key): value for kind, key, value in cache}  # one row per key
        rows = [[kind, key, redact(dumps(v)), at] for (kind, key), v in latest.items()]
        _insert(con, "cache", _CACHE_COLUMNS, rows)
    if records:
        _insert(con, "records", RECORD_COLUMNS, [_record_row(r, redact) for r in records])
    if scores:
        _insert(con, "scores", SCORE_COLUMNS, [_score_row(s, redact) for s in scores])


def _text(value: str | None, redact: Redact) -> str | None:
    return None if value is None else redact(value)


def _record_row(record: Record, redact: Redact) -> list[Any]:
    row = record.as_dict()
    for name in ("user_input", "response", "reference"):
        row[name] = _text(row[name], redact)
    row["retrieved_contexts"] = [redact(c) for c in row["retrieved_contexts"]]
    return [row[c] for c in RECORD_COLUMNS]


def _score_row(score: ScoreRow, redact: Redact) -> list[Any]:
    row = asdict(score)
    row["error"], row["details"] = _text(score.error, redact), _text(score.details, redact)
    return [row[c] for c in SCORE_COLUMNS]


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: list[list[Any]]
) -> None:
    """Upsert rows into ``table`` in bulk, through a DataFrame DuckDB scans at once."""
    casts = ", ".join(f"CAST({c} AS {_TYPES.get(c, 'VARCHAR')})" for c in columns)
    con.register(f"new_{table}", pd.DataFrame(rows, columns=list(columns)))
    con.execute(
        f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) SELECT {casts} FROM new_{table}"
    )


def nulls(row: dict[str, Any]) -> dict[str, Any]:
    """pandas gives NaN for SQL NULL in float columns; the record contract uses None."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
