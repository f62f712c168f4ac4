"""LLM judging: ``scoring`` (``Judge``: one judged metric's spec -> a cached ``Score``), ``adapter``
(the judge's models as ragas sees them), ``prompts`` (compact prompts), ``faithfulness`` (NLI
replies checked by ``degenerate`` and re-asked one statement at a time), ``check`` (judge checks).
What each judged metric reads and how it is built is its spec in ``ragbench.metrics.judged``."""
