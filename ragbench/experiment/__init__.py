"""Running an experiment: ``run()`` (the only orchestrator), its stages, judging budgets, provenance.

``ragbench.experiment.run`` is the function the CLI, the notebooks and CI call.
"""

from ragbench.experiment.orchestrator import DEFAULT_DB, RunResult, run

__all__ = ["DEFAULT_DB", "RunResult", "run"]
