"""Where a run is: a progress bar per stage and the ``on_progress`` callback of ``run``.

Contract: ``Reporter(show, on_progress)`` is made when a run starts (``elapsed`` counts from
then). ``reporter.stage(name, total)`` says at once that the stage ``name`` has started
(:class:`~ragbench.records.Progress` with ``done`` 0, so a display names the stage doing the
work, not the last one that ticked) and returns a :class:`StageProgress`: ``tick(trial, note)``
after each (trial, question) pair, ``finish()`` when the stage ended normally (its bar ends full
even when a budget ended it early). Use it as a context manager: the bar is closed on exit. Only
the thread that commits results ticks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tqdm.auto import tqdm

from ragbench.records import Progress


class Reporter:
    """Progress of one run; see the module docstring."""

    def __init__(self, show: bool, on_progress: Callable[[Progress], None] | None) -> None:
        self.show = show
        self.on_progress = on_progress
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.start

    def report(self, stage: str, done: int, total: int, trial: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(stage, done, total, trial, self.elapsed()))

    def stage(self, name: str, total: int) -> StageProgress:
        """Say that stage ``name`` started, with ``total`` pairs to do; its progress."""
        self.report(name, 0, total)
        bar = tqdm(total=total, desc=name, disable=not self.show, unit="q", leave=True)
        return StageProgress(self, name, total, bar)


class StageProgress:
    """One stage's bar and counter (made by :meth:`Reporter.stage`)."""

    def __init__(self, reporter: Reporter, name: str, total: int, bar: Any) -> None:
        self.reporter = reporter
        self.name = name
        self.total = total
        self.done = 0
        self.bar = bar

    def note(self, text: str) -> None:
        """A line beside the bar (e.g. the pair last done)."""
        self.bar.set_postfix_str(text)

    def tick(self, trial: str, note: str | None = None) -> None:
        """One more pair done, of trial ``trial`` (its label)."""
        if note is not None:
            self.note(note)
        self.done += 1
        self.bar.update()
        self.reporter.report(self.name, self.done, self.total, trial)

    def finish(self) -> None:
        """The stage ended normally: the bar ends full (a budget may end it before ``total``)."""
        self.bar.total = self.done

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.bar.close()
