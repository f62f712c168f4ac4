"""DuckDB results store: the one package that owns every SQL statement.

- ``store.py``: :class:`Store`, one results file: runs, trials, records, scores, the embedding and
  result caches, typed reads (see its docstring).
- ``schema.py``: the tables and the migrations of files written by older versions.
- ``buffered.py``: the batch writer of results and the cache view the answer+judge stage shares.
- ``connection.py``: opening a file per transaction, lock retries, one-line errors.
- ``vectors.py``: the DuckDB vector store of persistent indexes.

:data:`DEFAULT_DB` is the results file every entry point defaults to (the CLI, ``run``, judge
checks, synthesis, notebooks). This file imports nothing at run time (the names below load on
first use), so the CLI can name the default file without loading DuckDB or pandas.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragbench.store.buffered import BatchWriter, BufferedCache, CacheEntry
    from ragbench.store.connection import RunNotFound, StoreError, connect
    from ragbench.store.store import Store

#: Where results go unless ``--db`` / ``db=`` says otherwise (relative to the working directory).
DEFAULT_DB = Path("results") / "ragbench.duckdb"

#: name -> module that defines it, imported on first use.
_EXPORTS = {
    "BatchWriter": "ragbench.store.buffered",
    "BufferedCache": "ragbench.store.buffered",
    "CacheEntry": "ragbench.store.buffered",
    "RunNotFound": "ragbench.store.connection",
    "Store": "ragbench.store.store",
    "StoreError": "ragbench.store.connection",
    "connect": "ragbench.store.connection",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


__all__ = [
    "DEFAULT_DB",
    "BatchWriter",
    "BufferedCache",
    "CacheEntry",
    "RunNotFound",
    "Store",
    "StoreError",
    "connect",
]
