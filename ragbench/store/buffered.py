"""A read-through, write-behind view of the store's cache for the answer-and-judge stage.

Contract: ``BufferedCache(store)`` has the store's ``cache_get(kind, key)`` /
``cache_put(kind, key, value)`` interface and may be used from several threads at once.
``prefetch(kind, keys)`` reads many keys in one transaction (and the keys other threads asked
for meanwhile); afterwards a key found is answered
from memory and a key not found is known to be absent (no query). A put is kept in memory (so a
later get in this process sees it at once) and queued; ``drain()`` hands the queue to the one
thread that commits, which writes it with the rows it produced in the same batch
(``BatchWriter.add(..., cache=...)``). A get answered from memory returns what the file would
have: the value as JSON, redacted. Why: every store call opens the file for one transaction
(tens of ms), and worker threads take turns on it; per-call gets and puts made the store, not the
endpoint, the limit of concurrent judging. A key another process writes after a prefetch is
simply computed again (the cache is an optimisation; the results are the same).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from ragbench.store import CacheEntry, Store


class BufferedCache:
    """See the module docstring."""

    def __init__(self, store: Store) -> None:
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
