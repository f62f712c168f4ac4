"""Running an experiment: ``run()`` (the only orchestrator) and its named stages.

How a run flows (``orchestrator.run``):

1. provenance: the config, the dataset, the trials, hashes and versions are recorded
   (``provenance.py``), and a :class:`~ragbench.experiment.context.RunContext` is opened: what
   every stage holds (store, model cache, builder, judged questions, resume state, progress).
2. ``retrieval`` (``retrieval.py``): every (trial, question) -> a Record and its retrieval scores.
3. ``staged search`` (``staged.py``): the trials that go on, each decision stored with its reason.
4. ``answer+judge`` (``scheduler.py``): one scheduler plans rounds with ``allocation.Allocator``
   (one round of everything, or budgeted / adaptive rounds) and runs their work items
   (``judging.py``: answer, then judge) on an executor (``workers.py``); the one committing
   thread writes each item's record, scores and cache entries.

``ragbench.experiment.run`` is the function the CLI, the notebooks and CI call. It is exported
lazily (like the top-level package) and this file imports nothing: Python runs a package's
``__init__`` before any module in it, so an eager import here made the judge's import of
``experiment.workers`` load the orchestrator, whose stages import the judge back (a cycle).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = ("DEFAULT_DB", "RunResult", "run")


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("ragbench.experiment.orchestrator"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


__all__ = ["DEFAULT_DB", "RunResult", "run"]
