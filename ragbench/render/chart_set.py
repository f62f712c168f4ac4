"""The charts of one run: which ones its metrics call for, by name, and the headings they go under.

Contract: ``chart_set(summary, scores, overrides, latencies, title, verdicts)`` draws (with
``render.charts``) the overview, a heatmap per metric for a two-key sweep, quality vs latency per
metric when latencies were measured and a distribution per metric that is not 0/1, and returns
them by name; ``GROUPS`` / ``group_of`` name the heading each chart is shown under. It takes data
frames, never the store, and writes no file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ragbench.metrics import names as metric_names
from ragbench.render.charts import (
    distribution_figure,
    heatmap_figure,
    mean_latency,
    metric_figure,
    quality_latency_figure,
)

#: Headings of the chart groups, in display order; a chart's group is its name up to the first "_"
#: of its metric suffix (``metrics``, ``heatmap_<m>``, ``quality_vs_latency_<m>``, ``distribution_<m>``).
GROUPS = {
    "metrics": "Overview: every metric",
    "heatmap": "Sweep heatmaps",
    "quality_vs_latency": "Quality vs latency",
    "distribution": "Per-question distributions",
}


def group_of(name: str) -> str:
    """The ``GROUPS`` key of a chart name from ``chart_set``."""
    return next((g for g in GROUPS if name == g or name.startswith(g + "_")), name)


def chart_set(
    summary: pd.DataFrame,
    scores: pd.DataFrame,
    overrides: dict[str, dict[str, Any]],
    latencies: pd.DataFrame,
    title: str,
    verdicts: dict[str, dict[str, str]] | None = None,
) -> dict[str, Figure]:
    """The charts a run's metrics call for, by name (``metrics``, ``heatmap_<metric>``, ...).

    Always the overview; a heatmap per metric when the run sweeps exactly two keys; quality vs
    latency per metric when latencies were measured (judged metrics against end-to-end latency of
    answered questions, retrieval metrics against retrieval latency); a distribution per metric
    whose scores are not all 0/1 (for a 0/1 metric the overview's proportion says it all).
    """
    if summary.empty:
        return {}
    figures = {"metrics": metric_figure(summary, title, verdicts)}
    metrics = list(dict.fromkeys(summary.metric))
    for metric in metrics:
        heat = heatmap_figure(summary, overrides, metric, title)
        if heat is not None:
            figures[f"heatmap_{metric}"] = heat
    for metric in metrics:
        judged = metric in metric_names("answered")  # of answered questions
        latency = mean_latency(latencies, judged)
        measured = summary[(summary.metric == metric) & summary["mean"].notna()]
        if not latency.empty and measured.trial_id.isin(latency.trial_id).any():
            what = (
                "mean latency per answered question (retrieval + generation)"
                if judged
                else "mean retrieval latency per question"
            )
            figures[f"quality_vs_latency_{metric}"] = quality_latency_figure(
                summary, latency, metric, title, what
            )
    for metric in metrics:
        values = pd.to_numeric(scores.loc[scores.metric == metric, "value"], errors="coerce")
        if not values.dropna().isin([0.0, 1.0]).all():
            figures[f"distribution_{metric}"] = distribution_figure(scores, metric, title)
    return figures
