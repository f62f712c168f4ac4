"""Running an experiment: ``run()`` (the only orchestrator, in ``orchestrator.py``), its stages,
judging budgets and provenance. ``ragbench.run`` is the function the CLI, the notebooks and CI call.
"""
