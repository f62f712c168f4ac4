"""Buffered store access: the batch writer of results, and a cache view for the answer stage.

Contract:
- ``BatchWriter`` (made by ``Store.batch()``) buffers records, score rows and cache entries and
  writes them in one transaction per batch (see its docstring).
- ``BufferedCache(store)`` has the store's ``cache_get(kind, key)`` / ``cache_put(kind, key,
  value)`` interface and may be used from several threads at once. ``prefetch(kind, keys)`` reads
  many keys in one transaction (with the keys other threads asked for meanwhile); afterwards a key
  found is answered from memory and a key not found is known to be absent (no query). A put is
  kept in memory (a later get in this process sees it at once, as the file would return it: JSON,
  redacted) and queued; ``drain()`` hands the queue to the one thread that commits, which writes
  it in its next batch (``BatchWriter.add(..., cache=...)``).

Why: every store call opens the file for one transaction (tens of ms) and threads take turns on
it, so per-call gets and puts made the store, not the endpoint, the limit of concurrent judging.
A key another process writes after a prefetch is computed again: the cache saves work, it never
changes a result.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ragbench.records import Record, ScoreRow
from ragbench.store.rows import CacheEntry

__all__ = ["BatchWriter", "BufferedCache", "CacheEntry"]


# What these classes need of a Store: only this, so the Store can make them without a cycle.
class Writes(Protocol):
    def write(
        self,
        records: Sequence[Record] = (),
        scores: Sequence[ScoreRow] = (),
        cache: Sequence[CacheEntry] = (),
    ) -> None: ...


class CacheReads(Protocol):
    def redact(self, text: str) -> str: ...
    def cache_get(self, kind: str, key: str) -> Any | None: ...
    def cache_get_many(self, kind: str, keys: Sequence[str]) -> dict[str, Any]: ...


class BufferedCache:
    """See the module docstring."""

    def __init__(self, store: CacheReads) -> None:
        self.store = store
        self._lock = threading.Lock()  # guards the dicts below; never held during a query
        self._fetching = threading.Lock()  # one prefetch query at a time
        self._known: dict[tuple[str, str], Any] = {}  # value, or None: known to be absent
        self._wanted: set[tuple[str, str]] = set()
        self._queue: list[CacheEntry] = []

    def prefetch(self, kind: str, keys: Iterable[str]) -> None:
        """Read the keys not yet known. Threads that ask while a query runs are served together
        by the next one (group commit, for reads): one transaction for many workers' keys."""
        with self._lock:
            self._wanted.update((kind, k) for k in keys if (kind, k) not in self._known)
        with self._fetching:
            with self._lock:
                wanted = sorted(k for k in self._wanted if k not in self._known)
                self._wanted.clear()
            for each_kind in sorted({k for k, _ in wanted}):
                chosen = [key for k, key in wanted if k == each_kind]
                found = self.store.cache_get_many(each_kind, chosen)
                with self._lock:
                    for key in chosen:
                        self._known.setdefault((each_kind, key), found.get(key))

    def cache_get(self, kind: str, key: str) -> Any | None:
        with self._lock:
            if (kind, key) in self._known:
                return self._known[(kind, key)]
        return self.store.cache_get(kind, key)

    def cache_put(self, kind: str, key: str, value: Any) -> None:
        # What a get from the file would return: the value as JSON, redacted.
        stored = json.loads(self.store.redact(json.dumps(value, default=str)))
        with self._lock:
            self._known[(kind, key)] = stored
            self._queue.append((kind, key, value))

    def drain(self) -> list[CacheEntry]:
        """The puts not yet handed out, oldest first; the caller commits them."""
        with self._lock:
            queue, self._queue = self._queue, []
        return queue


class BatchWriter:
    """Buffers records and score rows; writes one transaction per ``max_items`` questions or per
    ``max_seconds`` of work, whichever comes first, and the rest on exit (also after an error, so
    work completed before a crash is kept). A ``kill -9`` loses at most one unwritten batch."""

    def __init__(self, store: Writes, max_items: int, max_seconds: float) -> None:
        self.store = store
        self.max_items = max_items
        self.max_seconds = max_seconds
        self.records: list[Record] = []
        self.scores: list[ScoreRow] = []
        self.cache: list[CacheEntry] = []
        self.items = 0
        self.since = time.monotonic()
        self.transactions = 0

    def add(
        self,
        records: Sequence[Record] = (),
        scores: Sequence[ScoreRow] = (),
        cache: Sequence[CacheEntry] = (),
    ) -> None:
        """Buffer one item's rows (and the cache entries its work produced)."""
        self.records.extend(records)
        self.scores.extend(scores)
        self.cache.extend(cache)
        self.items += 1
        if self.items >= self.max_items or time.monotonic() - self.since >= self.max_seconds:
            self.flush()

    def flush(self) -> None:
        if self.records or self.scores or self.cache:
            self.store.write(self.records, self.scores, self.cache)
            self.transactions += 1
        self.records, self.scores, self.cache, self.items = [], [], [], 0
        self.since = time.monotonic()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
