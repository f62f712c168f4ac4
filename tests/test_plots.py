"""Charts (plots.py) from hand-made frames: content, readability at 100% zoom, no clipped text,
no warnings, and no dependency on the store or the report."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from ragbench.render import charts as plots
from ragbench.render import figures
from ragbench.render.chart_set import chart_set, group_of
from ragbench.render.charts import (
    distribution_figure,
    heatmap_figure,
    mean_latency,
    metric_figure,
    pareto_front,
    quality_latency_figure,
    sweep_axes,
)
from ragbench.stats import SUMMARY_COLUMNS

pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).parents[1]
LONG = "chunking.method=hierarchical, chunking.chunk_size=1024, retrieval.method=hybrid"


def frames(n_trials: int = 4, n_questions: int = 6) -> dict:
    """A 2x2 sweep (plus long labels) with scores, a summary, overrides and latencies."""
    rng = np.random.default_rng(1)
    trials = [f"t{k}" for k in range(n_trials)]
    labels = {
        t: (LONG if k == 0 else f"chunk_size={128 * (1 + k % 2)}, top_k={2 + 2 * (k // 2)}")
        for k, t in enumerate(trials)
    }
    overrides = {
        t: {"chunking.chunk_size": 128 * (1 + k % 2), "retrieval.top_k": 2 + 2 * (k // 2)}
        for k, t in enumerate(trials)
    }
    rows = []
    for t in trials:
        for q in range(n_questions):
            rows.append((t, labels[t], f"q{q}", "hit_rate", float(rng.integers(0, 2)), None))
            value = None if (t == "t1" and q == 0) else float(rng.uniform(0.3, 1.0))
            rows.append(
                (
                    t,
                    labels[t],
                    f"q{q}",
                    "faithfulness",
                    value,
                    None if value is not None else "judge timeout",
                )
            )
    scores = pd.DataFrame(
        rows, columns=["trial_id", "label", "question_id", "metric", "value", "error"]
    )
    summary = pd.DataFrame(
        [
            (
                t,
                labels[t],
                m,
                1.0 if t == "t2" else 0.5 + 0.1 * k,
                0.3,
                1.0,
                1 if t == "t2" else 6,
                0,
                "wilson",
            )
            for k, t in enumerate(trials)
            for m in ("hit_rate", "faithfulness")
        ],
        columns=SUMMARY_COLUMNS,
    )
    latencies = pd.DataFrame(
        [
            (t, labels[t], q < 3, 0.5 + k, 0.01 * (k + 1), 0.4)
            for k, t in enumerate(trials)
            for q in range(n_questions)
        ],
        columns=["trial_id", "label", "answered", "latency_s", "retrieval_s", "generation_s"],
    )
    verdicts = {
        m: {
            t: ("best" if t == "t2" else "tied" if k % 2 else "worse") for k, t in enumerate(trials)
        }
        for m in ("hit_rate", "faithfulness")
    }
    return {
        "scores": scores,
        "summary": summary,
        "overrides": overrides,
        "latencies": latencies,
        "verdicts": verdicts,
    }


def texts(fig: Figure) -> list[matplotlib.text.Text]:
    """The texts a person sees (tick labels of ticks outside the view are never drawn)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return [
        t
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_text() and t.get_visible() and id(t) not in hidden
    ]


def within(inner: Bbox, outer: Bbox) -> bool:
    return (
        outer.x0 - 1 <= inner.x0
        and inner.x1 <= outer.x1 + 1
        and outer.y0 - 1 <= inner.y0
        and inner.y1 <= outer.y1 + 1
    )


def assert_readable(fig: Figure) -> None:
    """Not shrunk by the notebook, every text >= 10 pt and wholly inside the figure (no clipping);
    a value written next to a point stays inside its own panel (no overlap with the next one)."""
    assert fig.get_figwidth() * fig.dpi <= figures.MAX_WIDTH_IN * figures.DISPLAY_DPI
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for text in texts(fig):
        assert text.get_fontsize() >= figures.MIN_FONT_PT, (text.get_text(), text.get_fontsize())
        extent = text.get_window_extent(renderer)
        assert within(extent, fig.bbox), f"text clipped by the figure edge: {text.get_text()!r}"
        if isinstance(text, matplotlib.text.Annotation):
            panel = text.axes.get_window_extent(renderer)
            assert within(extent, panel), f"text runs out of its panel: {text.get_text()!r}"


# --- pure functions --------------------------------------------------------------------------------


def test_pareto_front_hand_example() -> None:
    points = [
        (1.0, 0.5),  # 0: front
        (2.0, 0.8),  # 1: front
        (3.0, 0.7),  # 2: dominated by 1 (slower and worse)
        (0.5, 0.2),  # 3: front (fastest)
        (4.0, 0.9),  # 4: front (best quality)
        (2.5, 0.8),  # 5: dominated by 1 (same quality, slower)
        (math.nan, 1.0),  # 6: unmeasured, never on the front
        (1.0, 0.4),  # 7: dominated by 0 (same latency, worse)
    ]
    assert pareto_front(points) == [3, 0, 1, 4]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]  # equal points do not dominate
    assert pareto_front([]) == []


def test_sweep_axes_ignores_constant_keys() -> None:
    overrides = {
        "a": {"chunking.chunk_size": 128, "retrieval.top_k": 2, "seed": 1},
        "b": {"chunking.chunk_size": 256, "retrieval.top_k": 2, "seed": 1},
        "c": {"chunking.chunk_size": 128, "retrieval.top_k": 4, "seed": 1},
    }
    assert sweep_axes(overrides) == ["chunking.chunk_size", "retrieval.top_k"]
    assert sweep_axes({"a": {}}) == []


def test_mean_latency_judged_vs_retrieval() -> None:
    lat = frames()["latencies"]
    judged = mean_latency(lat, judged=True).set_index("trial_id").latency_s
    retrieval = mean_latency(lat, judged=False).set_index("trial_id").latency_s
    assert judged["t1"] == pytest.approx(1.5) and retrieval["t1"] == pytest.approx(0.02)
    assert mean_latency(lat.iloc[:0], judged=True).empty


# --- each chart ------------------------------------------------------------------------------------


def test_metric_figure_readable_with_full_marks_and_long_labels() -> None:
    f = frames()
    fig = metric_figure(f["summary"], "exp (run-1)  [FAKE MODELS]", f["verdicts"])
    assert_readable(fig)
    shown = [t.get_text() for t in texts(fig)]
    assert "1.00 (n=1)" in shown  # at the right edge, yet inside its panel
    assert any("hierarchical" in s for s in shown)  # the long label is wrapped, not dropped
    assert "best" in shown and "not significantly different from best" in shown
    colours = fig.axes[0].collections[-1].get_facecolors()
    assert len({tuple(c) for c in colours}) == 3  # best, tied and worse look different


def test_heatmap_labels_axes_with_swept_keys() -> None:
    f = frames()
    fig = heatmap_figure(f["summary"], f["overrides"], "faithfulness", "smoke")
    assert fig is not None
    assert_readable(fig)
    ax = fig.axes[0]
    assert {ax.get_xlabel(), ax.get_ylabel()} == {"chunking.chunk_size", "retrieval.top_k"}
    ticks = {t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()}
    assert ticks == {"128", "256", "2", "4"}
    shown = [t.get_text() for t in texts(fig)]
    assert "1.00\nn=1" in shown and "0.60\nn=6" in shown
    assert not any(tid in s for tid in f["overrides"] for s in shown)  # no trial ids


def test_heatmap_is_none_unless_two_axes() -> None:
    f = frames()
    one = {t: {"chunking.chunk_size": o["chunking.chunk_size"]} for t, o in f["overrides"].items()}
    assert heatmap_figure(f["summary"], one, "faithfulness", "t") is None
    three = {t: o | {"x.y": i} for i, (t, o) in enumerate(f["overrides"].items())}
    assert heatmap_figure(f["summary"], three, "faithfulness", "t") is None


def test_quality_vs_latency_marks_the_front() -> None:
    summary = pd.DataFrame(
        {
            "trial_id": ["t1", "t2", "t3"],
            "label": ["k=1", "k=2", "k=3"],
            "metric": ["m"] * 3,
            "mean": [0.5, 0.8, 0.7],
            "ci_low": [0.4, 0.7, 0.6],
            "ci_high": [0.6, 0.9, 0.8],
            "n": [5] * 3,
            "n_failed": [0] * 3,
        }
    )
    latency = pd.DataFrame(
        {
            "trial_id": ["t1", "t2", "t3"],
            "label": ["k=1", "k=2", "k=3"],
            "latency_s": [1.0, 2.0, 3.0],
        }
    )
    fig = quality_latency_figure(summary, latency, "m", "title")
    assert_readable(fig)
    ax = fig.axes[0]
    (front,) = [line for line in ax.get_lines() if line.get_label().startswith("Pareto")]
    assert list(front.get_xdata()) == [1.0, 2.0] and list(front.get_ydata()) == [0.5, 0.8]
    assert {"k=1", "k=2", "k=3"} <= {t.get_text() for t in texts(fig)}
    assert "latency" in ax.get_xlabel() and ax.get_ylabel() == "mean m"


def test_quality_vs_latency_legend_covers_no_point() -> None:
    """Quickstart-like: 4 trials, one slow and poor (where a legend in the lower right sat)."""
    trials = ["t1", "t2", "t3", "t4"]
    labels = [f"chunk_size={c}, top_k={k}" for c in (128, 256) for k in (2, 4)]
    means = [1.0, 0.67, 0.5, 0.0]
    summary = pd.DataFrame(
        {
            "trial_id": trials,
            "label": labels,
            "metric": ["faithfulness"] * 4,
            "mean": means,
            "ci_low": [max(0.0, m - 0.3) for m in means],
            "ci_high": [min(1.0, m + 0.3) for m in means],
            "n": [3] * 4,
            "n_failed": [0] * 4,
        }
    )
    latency = pd.DataFrame({"trial_id": trials, "label": labels, "latency_s": [5.1, 6.0, 7.2, 9.4]})
    fig = quality_latency_figure(summary, latency, "faithfulness", "quickstart")
    assert_readable(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend())]
    box = legend.get_window_extent(renderer)
    assert {t.get_text() for t in legend.get_texts()} == {
        "dominated",
        "Pareto front (better and faster)",
    }
    ax = fig.axes[0]
    for x, y in zip(latency.latency_s, means, strict=True):
        px, py = ax.transData.transform((x, y))
        marker = Bbox.from_bounds(px - 6, py - 6, 12, 12)  # the largest marker, 8 pt across
        assert not box.overlaps(marker), f"the legend covers the point ({x}, {y})"
    for label in (t for t in texts(fig) if isinstance(t, matplotlib.text.Annotation)):
        assert not box.overlaps(label.get_window_extent(renderer)), label.get_text()


def test_distribution_excludes_failed_scores() -> None:
    f = frames()
    fig = distribution_figure(f["scores"], "faithfulness", "smoke")
    assert_readable(fig)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "chunk_size=256, top_k=2\n(n=5, failed=1)" in ticks
    assert len(ticks) == 4


# --- the set of one run ----------------------------------------------------------------------------


def test_chart_set_chooses_by_metrics_and_draws_no_pyplot_figure() -> None:
    f = frames()
    plt.close("all")
    figures = chart_set(
        f["summary"], f["scores"], f["overrides"], f["latencies"], "exp", f["verdicts"]
    )
    assert set(figures) == {
        "metrics",
        "heatmap_hit_rate",
        "heatmap_faithfulness",
        "quality_vs_latency_hit_rate",
        "quality_vs_latency_faithfulness",
        "distribution_faithfulness",  # hit_rate is 0/1
    }
    assert plt.get_fignums() == []  # nothing left for the inline backend to show twice
    for fig in figures.values():
        assert_readable(fig)
    assert [group_of(n) for n in figures] == [
        "metrics",
        "heatmap",
        "heatmap",
        "quality_vs_latency",
        "quality_vs_latency",
        "distribution",
    ]
    judged = figures["quality_vs_latency_faithfulness"].axes[0].get_xlabel()
    assert "answered question" in judged
    assert "retrieval" in figures["quality_vs_latency_hit_rate"].axes[0].get_xlabel()
    assert chart_set(f["summary"].iloc[:0], f["scores"], {}, f["latencies"], "t") == {}


def test_save_writes_png(tmp_path: Path) -> None:
    f = frames()
    path = plots.save(metric_figure(f["summary"], "t"), tmp_path / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_one_trial_one_question_does_not_warn() -> None:
    """The 03 notebook case: a single trial scored once (one-element frames everywhere)."""
    f = frames(n_trials=1, n_questions=1)
    summary = f["summary"].assign(n=1, ci_low=np.nan, ci_high=np.nan, method="single")
    figures = chart_set(summary, f["scores"], f["overrides"], f["latencies"], "one")
    assert "metrics" in figures
    for fig in figures.values():
        assert_readable(fig)


def test_plots_never_imports_the_store_or_the_report() -> None:
    tree = ast.parse((ROOT / "ragbench" / "render" / "charts.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.startswith(("ragbench.store", "ragbench.results.report"))}
    code = (
        "import sys, ragbench.render.charts; "
        "print(sorted(m for m in sys.modules if m.startswith('ragbench')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "ragbench.store" not in loaded and "ragbench.results.report" not in loaded
