"""Executors (where a stage's work items run), bounded worker threads, and per-key locks.

Contract:
- An :class:`Executor` runs a stage's work. ``pipelines(builder, trials)`` returns the built
  pipeline of each trial that searches, by trial id (the index builds happen here: chunking,
  embedding); ``completed(items, work)`` yields ``(item, work.compute(item))`` for every item as
  each finishes, to the one thread that consumes them and commits the results (the store has one
  writer). ``work`` (a :class:`Work`: ``retrieval.RetrievalWork``, ``judging.JudgingWork``)
  computes one item from the item and what it holds (pipelines, models, the judge, a cache
  object); it never writes to the store. :class:`LocalExecutor` builds the pipelines and runs the
  items in this process, through ``completed`` below. ``EXECUTORS`` names the kinds built here
  (``local``); ``ray_executor.connect`` opens the other (``ray``): it builds the indexes on its
  workers (``pipelines`` returns none: its workers build them) and hands back each item's
  :class:`~ragbench.records.Record`, score rows and cache entries the same way.
- ``completed(items, fn, workers)`` yields ``(item, fn(item))`` for every item: in input order from
  the calling thread when ``workers`` is 1, in completion order from a pool of ``workers`` threads
  otherwise (never more than ``workers`` calls at once). An exception from ``fn`` is raised in the
  caller. Closing the generator early (an error in the caller, Ctrl-C) cancels the queued items
  and waits for the running ones, so no worker outlives it: use it under ``contextlib.closing``.
  The caller consumes results in one thread, so whatever it writes to (a batch writer, counters)
  needs no lock.
- ``KeyedLocks().hold(key)`` lets one thread at a time hold a key: a second thread asking for the
  same cache key waits for the first and then finds its result in the cache, instead of repeating
  an LLM call that concurrency made simultaneous. Holders of different keys do not wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")
I_contra = TypeVar("I_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class Work(Protocol[I_contra, R_co]):
    """What computes one work item of a stage (module docstring)."""

    def compute(self, item: I_contra) -> R_co: ...


class Executor(Protocol):
    """Builds a stage's pipelines and runs its work items (module docstring)."""

    def pipelines(self, builder: Any, trials: Mapping[str, Any]) -> dict[str, Any]: ...

    def completed(
        self, items: Iterable[I], work: Work[I, R]
    ) -> Generator[tuple[I, R], None, None]: ...


class LocalExecutor:
    """Items in this process: in the calling thread for ``workers`` 1, else on that many threads."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def pipelines(self, builder: Any, trials: Mapping[str, Any]) -> dict[str, Any]:
        """Each trial's pipeline, built here by ``builder`` (``pipeline.rag.Builder``), which
        builds one index per (corpus, chunking, embedding, vector store) and shares it."""
        return {trial_id: builder.build(trial.pipeline) for trial_id, trial in trials.items()}

    def completed(self, items: Iterable[I], work: Work[I, R]) -> Generator[tuple[I, R], None, None]:
        """``completed(items, work.compute, self.workers)``: use it under ``contextlib.closing``."""
        return completed(items, work.compute, self.workers)


#: Executor kinds by name -> a factory taking the number of items to run at once.
EXECUTORS: dict[str, Callable[[int], Executor]] = {"local": LocalExecutor}


def completed(
    items: Iterable[I], fn: Callable[[I], R], workers: int
) -> Generator[tuple[I, R], None, None]:
    """``(item, fn(item))`` as each finishes (see the module docstring)."""
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragbench-worker")
    try:
        pending: dict[Future[R], I] = {pool.submit(fn, item): item for item in items}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                yield item, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class KeyedLocks:
    """One lock per key, created on demand and dropped when no thread holds or awaits it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
            with self._guard:
                _, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
