"""Opening a DuckDB file safely: one transaction per connection, lock retries, clear errors.

Contract: ``connect(path, read_only=False)`` yields a connection inside a transaction that commits
on success and rolls back on any error, and always closes the file. While another process holds
the file's lock it retries with jittered back-off (DuckDB allows one writing process per file).
Every way a results file can be unusable (a folder, zero bytes, another file type, a corrupt or
truncated database, a read-only file system, a full disk) becomes a :class:`StoreError` whose one-line message
names the file and says what to do, instead of a DuckDB traceback (a missing one: how to write it,
``WRITE_IT_FIRST``); a run that is not in the file is a :class:`RunNotFound` for its readers. Both
show as one line in a notebook too (``config.validation.one_line``). Within one process, threads
take turns on a file (one lock per path): the answer+judge stage's worker threads read and write the cache while
the main thread commits results, and two DuckDB transactions replacing one row would conflict.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ragbench.config.validation import one_line

#: The first bytes of every DuckDB database file after the 8-byte checksum.
DUCKDB_MAGIC = b"DUCK"
#: What to do when a results file, or a run in it, is not there yet (notebook 02 reads one).
WRITE_IT_FIRST = "run an experiment first: notebook 01, `make demo` or `ragbench run EXPERIMENT`"


class StoreError(ValueError):
    """A results file that cannot be used as asked; the message is shown to the user as is."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


class RunNotFound(LookupError):
    """No such run, or no run of an experiment, in a results file; one line for the user."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


def check_file(path: Path, read_only: bool) -> None:
    """Fail early, with a useful message, on a path that cannot be a DuckDB database."""
    if path.is_dir():
        raise StoreError(f"results file {path} is a folder; pass a file path with --db")
    if not path.exists():
        if read_only:
            raise StoreError(f"results file not found: {path}; {WRITE_IT_FIRST}")
        return
    size = path.stat().st_size
    if size == 0:
        raise StoreError(
            f"results file {path} is empty (0 bytes), not a DuckDB database; "
            "delete it or pass another --db"
        )
    with path.open("rb") as handle:
        head = handle.read(16)
    if len(head) < 12 or head[8:12] != DUCKDB_MAGIC:
        raise StoreError(
            f"results file {path} is not a DuckDB database (wrong file type); "
            "pass the .duckdb file written by ragbench run"
        )


def _explain(path: Path, exc: duckdb.Error, read_only: bool) -> StoreError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = text.lower()
    if _disk_full(exc):
        # A failed COMMIT leaves the file as it was: the runs committed before are whole.
        return StoreError(
            f"results file {path} cannot be written: the disk is full (no space left on the disk "
            f"holding {path.resolve().parent}); free some space or pass another --db. The runs "
            "already in the file are intact"
        )
    if "read-only" in lowered or "read only" in lowered or "permission denied" in lowered:
        return StoreError(
            f"results file {path} cannot be written ({text}); "
            "reading works (report, gate, notebooks): for a run pass a writable --db"
        )
    if read_only and "no such file" in lowered:
        return StoreError(f"results file not found: {path}; {WRITE_IT_FIRST}")
    return StoreError(
        f"results file {path} cannot be opened: it looks corrupt or truncated ({text}); "
        "restore it from a copy or pass another --db"
    )


def _open(path: Path, read_only: bool, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower() and time.monotonic() < deadline:
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
                continue
            if "lock" in str(exc).lower():
                raise StoreError(
                    f"results file {path} stayed locked by another process for "
                    f"{lock_timeout_s:.0f}s; wait for it or pass another --db"
                ) from None
            raise _explain(path, exc, read_only) from None
        except duckdb.Error as exc:
            raise _explain(path, exc, read_only) from None


_GUARD = threading.Lock()
_PATH_LOCKS: dict[str, threading.RLock] = {}


def _path_lock(path: Path) -> threading.RLock:
    """The in-process lock of one file (re-entrant: a thread may nest its own transactions)."""
    with _GUARD:
        return _PATH_LOCKS.setdefault(str(path.resolve()), threading.RLock())


@contextmanager
def connect(
    path: str | Path, lock_timeout_s: float = 120.0, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction on ``path`` (see the module docstring)."""
    path = Path(path)
    with _path_lock(path):
        with _transaction(path, lock_timeout_s, read_only) as con:
            yield con


@contextmanager
def _transaction(
    path: Path, lock_timeout_s: float, read_only: bool
) -> Iterator[duckdb.DuckDBPyConnection]:
    check_file(path, read_only)
    con = _open(path, read_only, lock_timeout_s)
    try:
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
    except duckdb.Error as exc:
        _rollback(con)
        if isinstance(exc, duckdb.IOException | duckdb.PermissionException) or _disk_full(exc):
            raise _explain(path, exc, read_only) from None
        raise
    except BaseException:
        _rollback(con)
        raise
    finally:
        try:
            con.close()
        except duckdb.Error as exc:  # closing writes the log out: a full disk can fail it too
            if not _disk_full(exc):
                raise
            raise _explain(path, exc, read_only) from None


def _disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "no space left on device" in text or "disk quota exceeded" in text


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back what is left of the transaction. A COMMIT that failed (a full disk) has ended it
    already, and DuckDB's "no transaction is active" must not hide why it failed."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass
