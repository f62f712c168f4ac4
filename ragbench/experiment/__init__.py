"""Running an experiment: ``run()`` (the only orchestrator), its stages, judging budgets, provenance.

``ragbench.experiment.run`` is the function the CLI, the notebooks and CI call. It is exported
lazily (like the top-level package): importing one of this package's modules, e.g. ``workers``
from the judge, does not load the orchestrator, whose stages import the judge back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragbench.experiment.orchestrator import DEFAULT_DB, RunResult, run

_EXPORTS = ("DEFAULT_DB", "RunResult", "run")


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("ragbench.experiment.orchestrator"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


__all__ = ["DEFAULT_DB", "RunResult", "run"]
