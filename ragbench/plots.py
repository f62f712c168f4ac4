"""Comparison charts (matplotlib, headless): one PNG per question you would ask of a run.

Contract: each chart function takes data frames (a ``report.summarize`` frame, per-question scores
or per-trial latencies) and an output path, writes one PNG and returns its path. Trials are labelled
by their swept values ("chunk_size=128, top_k=2") and axes by swept keys, never by hashes.
``all_charts(store, run_id, out_dir, title)`` writes every chart of a run.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and papermill have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from ragbench.config import JUDGED_METRICS  # noqa: E402
from ragbench.store import Store  # noqa: E402


def metric_chart(summary: pd.DataFrame, path: Path, title: str) -> Path:
    """One panel per metric: each trial's mean with its 95% bootstrap interval."""
    metrics = list(dict.fromkeys(summary.metric))
    labels = list(dict.fromkeys(summary.label))
    fig, axes = plt.subplots(
        1,
        len(metrics),
        figsize=(3.2 * len(metrics) + 2.5, 0.5 * len(labels) + 2),
        sharey=True,
        squeeze=False,
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        part = summary[summary.metric == metric].set_index("label").reindex(labels)
        y = range(len(labels))
        err = [
            (part["mean"] - part.ci_low).clip(lower=0),
            (part.ci_high - part["mean"]).clip(lower=0),
        ]
        ax.errorbar(part["mean"], y, xerr=err, fmt="o", capsize=4, color="tab:blue")
        for yi, (_, r) in zip(y, part.iterrows(), strict=True):
            if pd.notna(r["mean"]):
                ax.annotate(
                    f"{r['mean']:.2f} (n={int(r['n'])})",
                    (r["mean"], yi),
                    textcoords="offset points",
                    xytext=(0, 7),
                    ha="center",
                    fontsize=8,
                )
        ax.set_title(metric)
        ax.set_xlim(-0.05, 1.1)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(labels)), labels)
    axes[0][0].set_ylim(len(labels) - 0.5, -0.8)  # top to bottom, room for the top annotation
    fig.suptitle(_fit(fig, title + "\nmean with 95% bootstrap CI", 10), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fit(fig: Any, text: str, fontsize: float) -> str:
    """Wrap each line of a title so that it fits the figure's width."""
    chars = max(20, int(fig.get_figwidth() * 72 / (fontsize * 0.62)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


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


def heatmap(
    summary: pd.DataFrame, overrides: dict[str, dict[str, Any]], metric: str, path: Path, title: str
) -> Path | None:
    """Mean of ``metric`` over a two-axis sweep, one annotated cell per trial.

    Args:
        summary: a ``report.summarize`` frame.
        overrides: trial_id -> {dotted swept key: value} (the ``trials.overrides_json`` column).

    Returns:
        The PNG path, or None when the run does not sweep exactly two keys.
    """
    axes_keys = sweep_axes(overrides)
    if len(axes_keys) != 2:
        return None
    row_key, col_key = axes_keys
    rows = _sort_values([o[row_key] for o in overrides.values()])
    cols = _sort_values([o[col_key] for o in overrides.values()])
    grid = np.full((len(rows), len(cols)), np.nan)
    counts = np.zeros_like(grid, dtype=int)
    part = summary[summary.metric == metric]
    index = {json.dumps(v, default=str): i for i, v in enumerate(rows)}
    cindex = {json.dumps(v, default=str): i for i, v in enumerate(cols)}
    for r in part.itertuples():
        o = overrides.get(r.trial_id)
        if o is None or row_key not in o or col_key not in o:
            continue
        i, j = (
            index[json.dumps(o[row_key], default=str)],
            cindex[json.dumps(o[col_key], default=str)],
        )
        grid[i, j], counts[i, j] = r.mean, r.n
    fig, ax = plt.subplots(
        figsize=(max(4.5, 1.3 * len(cols) + 2.8), max(3.2, 0.8 * len(rows) + 2.0))
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            value = grid[i, j]
            text = "n/a" if np.isnan(value) else f"{value:.2f}\nn={counts[i, j]}"
            color = "black" if np.isnan(value) or value > 0.6 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks(range(len(cols)), [str(v) for v in cols])
    ax.set_yticks(range(len(rows)), [str(v) for v in rows])
    ax.set_xlabel(col_key)
    ax.set_ylabel(row_key)
    fig.colorbar(image, ax=ax, label=f"mean {metric}")
    ax.set_title(
        _fit(
            fig,
            f"{title}\nmean {metric} by {col_key.rsplit('.', 1)[-1]} and {row_key.rsplit('.', 1)[-1]}",
            9,
        ),
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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


def quality_vs_latency(
    summary: pd.DataFrame,
    latency: pd.DataFrame,
    metric: str,
    path: Path,
    title: str,
    latency_label: str = "mean latency per question",
) -> Path:
    """Each trial's mean ``metric`` against its mean latency, with the Pareto front marked.

    Args:
        summary: a ``report.summarize`` frame.
        latency: columns ``trial_id``, ``label``, ``latency_s`` (the trial's mean, seconds).
        latency_label: what the latency measures, for the x axis.
    """
    part = summary[summary.metric == metric][["trial_id", "label", "mean", "ci_low", "ci_high"]]
    data = part.merge(latency[["trial_id", "latency_s"]], on="trial_id", how="inner")
    data = data.dropna(subset=["mean", "latency_s"]).reset_index(drop=True)
    scale, unit = (1000.0, "ms") if data.latency_s.max() < 1 else (1.0, "s")
    x = data.latency_s * scale
    front = pareto_front(list(zip(x, data["mean"], strict=True)))
    on_front = data.index.isin(front)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    err = [(data["mean"] - data.ci_low).clip(lower=0), (data.ci_high - data["mean"]).clip(lower=0)]
    ax.errorbar(x, data["mean"], yerr=err, fmt="none", ecolor="lightgray", capsize=3, zorder=1)
    ax.scatter(
        x[~on_front], data["mean"][~on_front], s=40, color="tab:gray", zorder=2, label="dominated"
    )
    ax.plot(
        x[front],
        data["mean"][front],
        "-o",
        color="tab:red",
        markersize=8,
        zorder=3,
        label="Pareto front (higher quality, lower latency)",
    )
    ax.set_xlabel(f"{latency_label} ({unit})")
    ax.set_ylabel(f"mean {metric}")
    low = min(0.0, float(data.ci_low.min()) if not data.empty else 0.0)
    ax.set_ylim(low - 0.05, 1.12)
    if not data.empty:
        span = float(x.max() - x.min()) or float(x.max()) or 1.0
        ax.set_xlim(max(0.0, float(x.min()) - 0.1 * span), float(x.max()) + 0.45 * span)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(_fit(fig, f"{title}\n{metric} vs latency (bars: 95% CI)", 9), fontsize=9)
    fig.tight_layout()
    _place_labels(ax, list(x), list(data["mean"]), list(data["label"]))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# Where a point's label may go, in order of preference: (offset in points, ha, va).
_LABEL_SPOTS = [
    ((7, 5), "left", "bottom"),
    ((7, -5), "left", "top"),
    ((0, 10), "center", "bottom"),
    ((0, -10), "center", "top"),
    ((-7, 5), "right", "bottom"),
    ((-7, -5), "right", "top"),
    ((7, 17), "left", "bottom"),
    ((7, -17), "left", "top"),
    ((-7, 17), "right", "bottom"),
    ((-7, -17), "right", "top"),
    ((7, 29), "left", "bottom"),
    ((7, -29), "left", "top"),
]


def _place_labels(ax: Any, xs: list[float], ys: list[float], labels: list[str]) -> None:
    """Annotate points without labels overlapping each other, the markers, the legend or the edge.

    Greedy: each label takes the first spot around its point that collides with nothing placed so
    far; when every spot collides it takes the first one. Call after ``tight_layout``.
    """
    fig = ax.figure
    fig.canvas.draw()  # fixes the legend's position and the data-to-pixel transform
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pixels = [ax.transData.transform((x, y)) for x, y in zip(xs, ys, strict=True)]
    obstacles = [Bbox.from_bounds(px - 6, py - 6, 12, 12) for px, py in pixels]
    if ax.get_legend() is not None:
        obstacles.append(ax.get_legend().get_window_extent(renderer))

    def place(k: int, offset: tuple[int, int], ha: str, va: str) -> Any:
        return ax.annotate(
            labels[k],
            (xs[k], ys[k]),
            textcoords="offset points",
            xytext=offset,
            ha=ha,
            va=va,
            fontsize=8,
        )

    for k in sorted(range(len(labels)), key=lambda i: (-ys[i], xs[i])):
        chosen = None
        for offset, ha, va in _LABEL_SPOTS:
            text = place(k, offset, ha, va)
            box = text.get_window_extent(renderer).padded(2)
            inside = (
                frame.x0 <= box.x0
                and box.x1 <= frame.x1
                and frame.y0 <= box.y0
                and box.y1 <= frame.y1
            )
            if inside and not any(box.overlaps(o) for o in obstacles):
                chosen = box
                break
            text.remove()
        if chosen is None:
            chosen = place(k, *_LABEL_SPOTS[0]).get_window_extent(renderer).padded(2)
        obstacles.append(chosen)


# --- per-question distributions ----------------------------------------------------------------------


def distributions(scores: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    """Box plot plus the individual per-question scores of ``metric`` for every trial.

    Failed (NULL) scores are left out; each tick says how many scores (n) and failures there are.
    """
    part = scores[scores.metric == metric]
    labels = list(dict.fromkeys(scores.label))
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(8, 0.65 * len(labels) + 1.8))
    ticks = []
    for y, label in enumerate(labels):
        trial = part[part.label == label]
        ok = trial.value.dropna().to_numpy(dtype=float)
        failed = int(trial.value.isna().sum())
        ticks.append(f"{label}\n(n={ok.size}" + (f", failed={failed})" if failed else ")"))
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
    ax.set_yticks(range(len(labels)), ticks, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel(f"{metric} per question  (box: quartiles, \u25c6: mean, dots: questions)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        _fit(fig, f"{title}\n{metric}: distribution over questions (failed scores excluded)", 9),
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- everything for one run --------------------------------------------------------------------------


def all_charts(store: Store, run_id: str, out_dir: str | Path, title: str) -> list[Path]:
    """Every chart of a run under ``out_dir``: metrics, heatmaps, quality vs latency, distributions.

    Heatmaps only when the run sweeps exactly two keys. Judged metrics are plotted against the
    end-to-end latency of the answered questions, retrieval metrics against retrieval latency.
    """
    from ragbench.report import summarize  # report imports this module: import at call time

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(store, run_id)
    if summary.empty:
        return []
    scores = store.scores(run_id)
    trials = store.query(
        "SELECT trial_id, label, overrides_json FROM trials WHERE run_id = ?", [run_id]
    )
    overrides = {r.trial_id: json.loads(r.overrides_json) for r in trials.itertuples()}
    records = store.query(
        "SELECT trial_id, response IS NOT NULL AS answered, latency_s, retrieval_s "
        "FROM records WHERE run_id = ?",
        [run_id],
    )
    labels = trials[["trial_id", "label"]]
    answered = records[records.answered].groupby("trial_id", as_index=False).latency_s.mean()
    retrieval = records.groupby("trial_id", as_index=False).retrieval_s.mean()
    latencies = {
        "judged": (
            labels.merge(answered, on="trial_id").dropna(subset=["latency_s"]),
            "mean latency per answered question (retrieval + generation)",
        ),
        "retrieval": (
            labels.merge(
                retrieval.rename(columns={"retrieval_s": "latency_s"}), on="trial_id"
            ).dropna(subset=["latency_s"]),
            "mean retrieval latency per question",
        ),
    }
    charts = [metric_chart(summary, out / "metrics.png", title)]
    for metric in dict.fromkeys(summary.metric):
        chart = heatmap(summary, overrides, metric, out / f"heatmap_{metric}.png", title)
        if chart is not None:
            charts.append(chart)
        latency, latency_label = latencies["judged" if metric in JUDGED_METRICS else "retrieval"]
        measured = summary[(summary.metric == metric) & summary["mean"].notna()]
        if not latency.empty and measured.trial_id.isin(latency.trial_id).any():
            charts.append(
                quality_vs_latency(
                    summary,
                    latency,
                    metric,
                    out / f"quality_vs_latency_{metric}.png",
                    title,
                    latency_label=latency_label,
                )
            )
        charts.append(distributions(scores, metric, out / f"distribution_{metric}.png", title))
    return charts
