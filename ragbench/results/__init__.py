"""Reading a finished run: the report's numbers, gates, run-to-run diffs, drill-downs."""
