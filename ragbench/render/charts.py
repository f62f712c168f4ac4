"""Comparison charts drawn from DataFrames: one matplotlib Figure per question you ask of a run.

Contract: every ``*_figure`` function takes data frames (a ``stats.summarize`` frame, long scores,
per-record latencies) and returns a ``matplotlib.figure.Figure``; it never opens the results store
and never writes a file (``save`` does, for ``render.report``); ``render.chart_set`` picks the
charts a run's metrics call for. Figures are made for a notebook at 100% zoom: at
most ``MAX_WIDTH_IN`` inches wide at ``DISPLAY_DPI`` (so JupyterLab does not shrink them), every
text at least ``MIN_FONT_PT`` points and inside the figure. Trials are labelled by their swept
values ("chunk_size=128, top_k=2") and axes by swept keys, never by hashes. Figures are built
without pyplot (``figures.new_figure``): no global registry, so nothing is shown twice in a notebook
and nothing leaks; ``display.register_figure_formatter`` lets IPython show them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ragbench.render.figures import (
    MIN_FONT_PT,
    escape,
    fit_title,
    new_figure,
    place_labels,
    plain,
    settle,
    shown_labels,
)
from ragbench.render.figures import save as save  # re-exported: a chart and its file, one import

#: Marker colour per ``stats`` verdict (the best trial and those tied with it stand out).
VERDICT_STYLE: dict[str, tuple[str, str]] = {
    "best": ("tab:green", "best"),
    "tied": ("tab:blue", "not significantly different from best"),
    "too_few": ("tab:orange", "too few questions to compare"),
    "worse": ("tab:gray", "significantly worse"),
    "not_compared": ("tab:gray", "not compared"),
}


# --- mean and interval of every metric ---------------------------------------------------------------


def metric_figure(
    summary: pd.DataFrame,
    title: str,
    verdicts: dict[str, dict[str, str]] | None = None,
) -> Figure:
    """One panel per metric: each trial's mean with its 95% interval and n.

    Args:
        summary: a ``stats.summarize`` frame (trial_id, label, metric, mean, ci_low, ci_high, n).
        title: figure title (the experiment, run and a FAKE MODELS mark when it applies).
        verdicts: metric -> trial_id -> ``stats`` verdict; colours the markers when given.
    """
    metrics = list(dict.fromkeys(summary.metric))
    labels = list(dict.fromkeys(summary.label))
    cols = min(len(metrics), 3 if len(metrics) != 4 else 2)
    rows = math.ceil(len(metrics) / cols)
    drawn = shown_labels(labels)
    shown = [drawn[label] for label in labels]
    lines = sum(s.count("\n") + 1 for s in shown)
    label_in = min(2.6, 0.09 * max(len(s) for line in shown for s in line.split("\n")) + 0.3)
    panel_h = 0.28 * max(lines, len(labels)) + 0.35 * len(labels) + 0.9
    fig = new_figure(label_in + 2.9 * cols, panel_h * rows + 1.2)
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False)
    used: set[str] = set()
    for k, metric in enumerate(metrics):
        ax = axes[k // cols][k % cols]
        part = summary[summary.metric == metric].set_index("label").reindex(labels)
        means = part["mean"].to_numpy(dtype=float)
        # arrays, not Series: errorbar on one-element Series warns (FutureWarning) in pandas
        err = np.vstack(
            [
                np.clip(means - part["ci_low"].to_numpy(dtype=float), 0, None),
                np.clip(part["ci_high"].to_numpy(dtype=float) - means, 0, None),
            ]
        )
        y = np.arange(len(labels))
        ax.errorbar(means, y, xerr=err, fmt="none", ecolor="0.55", capsize=4, zorder=1)
        verdict_of = (verdicts or {}).get(metric, {})
        trial_ids = part["trial_id"].tolist()
        colors = []
        for tid in trial_ids:
            verdict = verdict_of.get(str(tid), "tied" if not verdicts else "not_compared")
            used.add(verdict)
            colors.append(VERDICT_STYLE.get(verdict, VERDICT_STYLE["not_compared"])[0])
        ax.scatter(means, y, c=colors, s=45, zorder=2)
        high = np.nanmax(np.r_[part["ci_high"].to_numpy(dtype=float), means, [1.0]])
        for yi, mean, n in zip(y, means, part["n"].tolist(), strict=True):
            if np.isnan(mean):
                ax.text(0.02, yi, "no scores", va="center", fontsize=MIN_FONT_PT, alpha=0.7)
                continue
            # left of the point on the right half: "1.00 (n=1)" never runs past the panel
            right = mean > 0.55 * high
            ax.annotate(
                f"{mean:.2f} (n={int(n)})",
                (mean, yi),
                textcoords="offset points",
                xytext=(-4 if right else 4, 6),
                ha="right" if right else "left",
                va="bottom",
                fontsize=MIN_FONT_PT,
            )
        ax.set_title(metric, fontsize=11)
        ax.set_xlim(-0.05, high + 0.05)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=MIN_FONT_PT)
    for k in range(len(metrics), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    first = axes[0][0]
    first.set_yticks(range(len(labels)), shown)
    first.set_ylim(len(labels) - 0.5, -0.9)  # best-read order top to bottom; room for the label
    if verdicts:
        handles = [
            Line2D([], [], marker="o", ls="", color=color, label=text)
            for v, (color, text) in VERDICT_STYLE.items()
            if v in used and v != "not_compared"
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=MIN_FONT_PT)
    fit_title(fig, f"{title}\nmean with 95% interval (n = questions scored)")
    return settle(fig)


# --- sweep structure --------------------------------------------------------------------------------


def sweep_axes(overrides: dict[str, dict[str, Any]]) -> list[str]:
    """The swept keys whose value differs between trials, in sweep order."""
    keys = list(dict.fromkeys(k for o in overrides.values() for k in o))
    return [
        k for k in keys if len({json.dumps(o.get(k), default=str) for o in overrides.values()}) > 1
    ]


def _sort_values(values: list[Any]) -> list[Any]:
    """Numbers numerically, anything else as text; each distinct value once."""
    unique = list({json.dumps(v, default=str): v for v in values}.values())
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in unique):
        return sorted(unique)
    return sorted(unique, key=str)


def heatmap_figure(
    summary: pd.DataFrame, overrides: dict[str, dict[str, Any]], metric: str, title: str
) -> Figure | None:
    """Mean of ``metric`` over a two-axis sweep, one annotated cell per trial.

    Args:
        summary: a ``stats.summarize`` frame.
        overrides: trial_id -> {dotted swept key: value} (the trials' ``overrides_json``).

    Returns:
        The figure, or None when the run does not sweep exactly two keys.
    """
    axes_keys = sweep_axes(overrides)
    if len(axes_keys) != 2:
        return None
    row_key, col_key = axes_keys
    rows = _sort_values([o[row_key] for o in overrides.values() if row_key in o])
    cols = _sort_values([o[col_key] for o in overrides.values() if col_key in o])
    grid = np.full((len(rows), len(cols)), np.nan)
    counts = np.zeros_like(grid, dtype=int)
    rindex = {json.dumps(v, default=str): i for i, v in enumerate(rows)}
    cindex = {json.dumps(v, default=str): i for i, v in enumerate(cols)}
    for r in summary[summary.metric == metric].itertuples():
        o = overrides.get(r.trial_id)
        if o is None or row_key not in o or col_key not in o:
            continue
        i = rindex[json.dumps(o[row_key], default=str)]
        j = cindex[json.dumps(o[col_key], default=str)]
        grid[i, j], counts[i, j] = r.mean, r.n
    fig = new_figure(max(5.0, 1.2 * len(cols) + 3.2), max(3.6, 0.75 * len(rows) + 2.2))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            value = grid[i, j]
            text = "n/a" if np.isnan(value) else f"{value:.2f}\nn={counts[i, j]}"
            color = "black" if np.isnan(value) or value > 0.6 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=MIN_FONT_PT, color=color)
    ax.set_xticks(range(len(cols)), [escape(plain(str(v), 40)) for v in cols])
    ax.set_yticks(range(len(rows)), [escape(plain(str(v), 40)) for v in rows])
    ax.tick_params(labelsize=MIN_FONT_PT)
    ax.set_xlabel(col_key, fontsize=MIN_FONT_PT + 1)
    ax.set_ylabel(row_key, fontsize=MIN_FONT_PT + 1)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"mean {metric}", fontsize=MIN_FONT_PT)
    bar.ax.tick_params(labelsize=MIN_FONT_PT)
    short = f"{col_key.rsplit('.', 1)[-1]} and {row_key.rsplit('.', 1)[-1]}"
    fit_title(fig, f"{title}\nmean {metric} by {short}")
    return settle(fig)


# --- quality vs latency ------------------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, quality) points no other point beats: lower cost, higher quality.

    A point is dominated when another has cost <= and quality >= with at least one strict. Points
    with a NaN coordinate are never on the front. The indices come in order of increasing cost.
    """
    valid = [
        (i, float(c), float(q))
        for i, (c, q) in enumerate(points)
        if not (math.isnan(float(c)) or math.isnan(float(q)))
    ]
    front = [
        (c, -q, i)
        for i, c, q in valid
        if not any(c2 <= c and q2 >= q and (c2 < c or q2 > q) for _, c2, q2 in valid)
    ]
    return [i for _, _, i in sorted(front)]


def mean_latency(latencies: pd.DataFrame, judged: bool) -> pd.DataFrame:
    """Per trial [trial_id, label, latency_s]: end to end over answered questions when ``judged``,
    else retrieval time over every question; trials without a measurement are left out."""
    if latencies.empty:
        return pd.DataFrame(columns=["trial_id", "label", "latency_s"])
    if judged:
        part = latencies[latencies["answered"].astype(bool)][["trial_id", "label", "latency_s"]]
    else:
        part = latencies[["trial_id", "label", "retrieval_s"]].rename(
            columns={"retrieval_s": "latency_s"}
        )
    part = part.assign(latency_s=pd.to_numeric(part["latency_s"], errors="coerce"))
    return part.groupby(["trial_id", "label"], as_index=False)["latency_s"].mean().dropna()


def quality_latency_figure(
    summary: pd.DataFrame,
    latency: pd.DataFrame,
    metric: str,
    title: str,
    latency_label: str = "mean latency per question",
) -> Figure:
    """Each trial's mean ``metric`` against its mean latency, with the Pareto front marked.

    Args:
        summary: a ``stats.summarize`` frame.
        latency: one row per trial: trial_id, label, latency_s (see ``mean_latency``).
        metric: the quality metric (higher is better).
    """
    data = summary[summary.metric == metric].merge(
        latency[["trial_id", "latency_s"]], on="trial_id"
    )
    data = data.dropna(subset=["mean", "latency_s"]).reset_index(drop=True)
    seconds = data["latency_s"].to_numpy(dtype=float)
    unit, scale = ("ms", 1000.0) if len(seconds) and np.nanmax(seconds) < 1 else ("s", 1.0)
    x = seconds * scale
    means = data["mean"].to_numpy(dtype=float)
    front = pareto_front(list(zip(x, means, strict=True)))
    on_front = np.isin(np.arange(len(data)), front)
    fig = new_figure(7.5, 4.8)
    ax = fig.subplots()
    err = np.vstack(
        [
            np.clip(means - data["ci_low"].to_numpy(dtype=float), 0, None),
            np.clip(data["ci_high"].to_numpy(dtype=float) - means, 0, None),
        ]
    )
    ax.errorbar(x, means, yerr=err, fmt="none", ecolor="lightgray", capsize=3, zorder=1)
    ax.scatter(x[~on_front], means[~on_front], s=40, color="tab:gray", zorder=2, label="dominated")
    ax.plot(
        x[front],
        means[front],
        "-o",
        color="tab:red",
        markersize=8,
        zorder=3,
        label="Pareto front (better and faster)",
    )
    ax.set_xlabel(f"{latency_label} ({unit})", fontsize=MIN_FONT_PT + 1)
    ax.set_ylabel(f"mean {metric}", fontsize=MIN_FONT_PT + 1)
    ax.tick_params(labelsize=MIN_FONT_PT)
    lowest = data["ci_low"].min()  # NaN (no warning) when no trial has an interval
    low = min(0.0, float(lowest)) if pd.notna(lowest) else 0.0
    ax.set_ylim(low - 0.05, 1.15)
    if len(data):
        span = float(x.max() - x.min()) or float(x.max()) or 1.0
        ax.set_xlim(max(0.0, float(x.min()) - 0.1 * span), float(x.max()) + 0.5 * span)
    ax.grid(alpha=0.3)
    # Below the axes, not inside them: wherever it sat inside, some run put a point under it.
    fig.legend(loc="outside lower center", ncols=2, fontsize=MIN_FONT_PT)
    fit_title(fig, f"{title}\n{metric} vs latency (bars: 95% interval)")
    settle(fig)  # the axes must not move once labels are placed by their pixel positions
    drawn = shown_labels(data["label"])
    place_labels(ax, list(x), list(means), [drawn[s] for s in data["label"]])
    return fig


# --- per-question distributions ----------------------------------------------------------------------


def distribution_figure(scores: pd.DataFrame, metric: str, title: str) -> Figure:
    """Box plot plus the individual per-question scores of ``metric`` for every trial.

    Failed (NULL) scores are left out; each tick says how many scores (n) and failures there are.
    """
    part = scores[scores.metric == metric]
    labels = list(dict.fromkeys(scores.label))
    rng = np.random.default_rng(0)  # jitter only: the same run always draws the same picture
    fig = new_figure(8.0, 0.7 * len(labels) + 2.0)
    ax = fig.subplots()
    ticks = []
    drawn = shown_labels(labels)
    for y, label in enumerate(labels):
        trial = part[part.label == label]
        ok = pd.to_numeric(trial.value, errors="coerce").dropna().to_numpy(dtype=float)
        failed = int(trial.value.isna().sum())
        tick = drawn[label]
        ticks.append(f"{tick}\n(n={ok.size}" + (f", failed={failed})" if failed else ")"))
        if ok.size == 0:
            continue
        ax.boxplot(
            [ok],
            positions=[y],
            orientation="horizontal",
            widths=0.5,
            showfliers=False,
            medianprops={"color": "tab:orange"},
            boxprops={"color": "tab:blue"},
        )
        jitter = rng.uniform(-0.2, 0.2, ok.size)
        ax.scatter(ok, y + jitter, s=14, alpha=0.6, color="tab:blue", zorder=3)
        ax.scatter([ok.mean()], [y], marker="D", s=45, color="white", edgecolor="black", zorder=4)
    ax.set_yticks(range(len(labels)), ticks)
    ax.tick_params(labelsize=MIN_FONT_PT)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel(
        f"{metric} per question (box: quartiles, \u25c6: mean, dots: questions)",
        fontsize=MIN_FONT_PT,
    )
    ax.grid(axis="x", alpha=0.3)
    fit_title(fig, f"{title}\n{metric}: distribution over questions (failed scores excluded)")
    return settle(fig)
