"""Charts (plots.py), the per-question drill-down and notebooks/02-compare-runs.ipynb on a smoke run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib.figure
import matplotlib.text
import nbformat
import pandas as pd
import papermill as pm
import pytest

from ragbench.experiment import run
from ragbench.inspect_run import drilldown, format_drilldown
from ragbench.plots import (
    all_charts,
    distributions,
    heatmap,
    pareto_front,
    quality_vs_latency,
    sweep_axes,
)
from ragbench.report import summarize
from ragbench.store import Store

ROOT = Path(__file__).parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"
METRICS = ["hit_rate", "mrr", "faithfulness", "answer_relevancy"]  # as in smoke.yaml
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One smoke run (2x2 sweep, fake models) shared by the module: store, run id, frames."""
    db = tmp_path_factory.mktemp("plots") / "results" / "ragbench.duckdb"
    result = run(SMOKE, db=db, progress=False)
    store = Store(db)
    trials = store.query(
        "SELECT trial_id, label, overrides_json FROM trials WHERE run_id = ?", [result.run_id]
    )
    return {
        "db": db,
        "store": store,
        "run_id": result.run_id,
        "summary": summarize(store, result.run_id),
        "scores": store.scores(result.run_id),
        "overrides": {r.trial_id: json.loads(r.overrides_json) for r in trials.itertuples()},
    }


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[matplotlib.figure.Figure]:
    """Every figure saved during the test, so its axes and texts can be inspected."""
    saved: list[matplotlib.figure.Figure] = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self: matplotlib.figure.Figure, *args: Any, **kwargs: Any) -> None:
        saved.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return saved


def texts(fig: matplotlib.figure.Figure) -> list[str]:
    """Every piece of text drawn on a figure: titles, labels, tick labels, annotations."""
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def assert_png(path: Path | None, min_bytes: int = 5_000) -> None:
    assert path is not None and path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > min_bytes, (path, len(data))


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


# --- charts on the smoke run -----------------------------------------------------------------------


def test_heatmap_labels_axes_with_swept_keys(
    smoke: dict[str, Any], tmp_path: Path, figures: list
) -> None:
    summary = smoke["summary"]
    path = heatmap(summary, smoke["overrides"], "mrr", tmp_path / "h.png", "smoke")
    assert_png(path)
    (ax, _colorbar) = figures[0].axes
    assert {ax.get_xlabel(), ax.get_ylabel()} == {"chunking.chunk_size", "retrieval.top_k"}
    ticks = {t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()}
    assert ticks == {"128", "256", "2", "4"}
    shown = texts(figures[0])
    for mean in summary[summary.metric == "mrr"]["mean"]:
        assert any(t.startswith(f"{mean:.2f}\n") for t in shown), mean
    assert not any(tid in t for tid in smoke["overrides"] for t in shown)  # no trial hashes


def test_heatmap_is_none_unless_two_axes(smoke: dict[str, Any], tmp_path: Path) -> None:
    one_axis = {
        tid: {"chunking.chunk_size": o["chunking.chunk_size"]}
        for tid, o in smoke["overrides"].items()
    }
    assert heatmap(smoke["summary"], one_axis, "mrr", tmp_path / "one.png", "t") is None
    three = {tid: o | {"x.y": i} for i, (tid, o) in enumerate(smoke["overrides"].items())}
    assert heatmap(smoke["summary"], three, "mrr", tmp_path / "three.png", "t") is None
    assert not (tmp_path / "one.png").exists() and not (tmp_path / "three.png").exists()


def test_quality_vs_latency_marks_the_front(tmp_path: Path, figures: list) -> None:
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
    path = quality_vs_latency(summary, latency, "m", tmp_path / "q.png", "title")
    assert_png(path)
    ax = figures[0].axes[0]
    front = [line for line in ax.get_lines() if line.get_label().startswith("Pareto")]
    assert len(front) == 1
    assert list(front[0].get_xdata()) == [1.0, 2.0] and list(front[0].get_ydata()) == [0.5, 0.8]
    assert {"k=1", "k=2", "k=3"} <= set(texts(figures[0]))
    assert "latency" in ax.get_xlabel() and ax.get_ylabel() == "mean m"


def test_distributions_exclude_failed_scores(
    smoke: dict[str, Any], tmp_path: Path, figures: list
) -> None:
    scores = smoke["scores"].copy()
    faith = scores[scores.metric == "faithfulness"]
    victim = faith[faith.value.notna()].index[0]
    label = scores.at[victim, "label"]
    n_ok = int(faith[faith.label == label].value.notna().sum())
    n_failed = int(faith[faith.label == label].value.isna().sum())
    scores.loc[victim, ["value", "error"]] = [None, "judge failed"]
    path = distributions(scores, "faithfulness", tmp_path / "d.png", "smoke")
    assert_png(path)
    ticks = [t.get_text() for t in figures[0].axes[0].get_yticklabels()]
    assert f"{label}\n(n={n_ok - 1}, failed={n_failed + 1})" in ticks
    assert len(ticks) == scores.label.nunique()


def test_all_charts_writes_every_chart(smoke: dict[str, Any], tmp_path: Path) -> None:
    charts = all_charts(smoke["store"], smoke["run_id"], tmp_path / "charts", "smoke [FAKE]")
    expected = {"metrics.png"} | {
        f"{kind}_{m}.png"
        for kind in ("heatmap", "quality_vs_latency", "distribution")
        for m in METRICS
    }
    assert {c.name for c in charts} == expected
    for chart in charts:
        assert_png(chart)


# --- drill-down ------------------------------------------------------------------------------------


def test_drilldown_shows_evidence_scores_and_reasons(smoke: dict[str, Any]) -> None:
    store, run_id = smoke["store"], smoke["run_id"]
    frame = drilldown(store, run_id)
    answered = store.query(
        "SELECT DISTINCT question_id FROM records WHERE run_id = ? "
        "AND response IS NOT NULL ORDER BY 1",
        [run_id],
    ).question_id
    assert frame.question_id.iloc[0] == answered.iloc[0]  # default: first judged question
    assert len(frame) == len(smoke["overrides"])
    row = frame.iloc[0]
    assert row.retrieved and {"doc_id", "context"} == set(row.retrieved[0])
    assert isinstance(row.response, str) and row.cited_doc_ids
    for metric in METRICS:
        assert metric in frame.columns and f"{metric}_error" in frame.columns
    assert row.faithfulness_reasons, "the judge's trace is missing"
    text = format_drilldown(frame)
    assert text.startswith(f"DRILL-DOWN question {row.question_id}")
    assert row.retrieved[0]["doc_id"] in text and "faithfulness" in text
    with pytest.raises(LookupError, match="q01"):
        drilldown(store, run_id, "no-such-question")


# --- notebook --------------------------------------------------------------------------------------


def test_compare_runs_notebook(smoke: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "02-compare-runs.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "02-compare-runs.ipynb"),
        str(out),
        parameters={"experiment": "smoke", "db": str(smoke["db"])},
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    first = (
        smoke["store"]
        .query(
            "SELECT min(question_id) AS q FROM records WHERE run_id = ? AND response IS NOT NULL",
            [smoke["run_id"]],
        )
        .q.iloc[0]
    )
    assert f"DRILL-DOWN question {first}" in outputs
    assert "FAKE models" in outputs
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    charts = smoke["db"].parent / "smoke" / smoke["run_id"]
    pngs = sorted(charts.glob("*.png"))
    assert len(pngs) == 13 and images == len(pngs)
    for png in pngs:
        assert_png(png)
