"""Running an experiment: ``run()`` (the only orchestrator), its stages, judging budgets, provenance.

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
