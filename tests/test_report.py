"""report(): significance lines, best-trial marks, fake warning and failures, on a hand-made store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.report import Report, report
from ragbench.stats import RANKING_COLUMNS
from ragbench.store import Store

QUESTIONS = [f"q{i:02d}" for i in range(20)]
LABELS = {"trial-1": "top_k=1", "trial-2": "top_k=2", "trial-3": "top_k=3"}
FAILED = ("q18", "q19")  # trial-1's faithfulness judge failed on these


def values(trial: str, metric: str, i: int) -> float | None:
    """Designed scores: hit_rate identical everywhere, trial-2 best on faithfulness with trial-1
    indistinguishable and trial-3 far behind, trial-3 clearly best on answer_relevancy."""
    if metric == "hit_rate":
        return 1.0 if i % 2 == 0 else 0.0
    if metric == "faithfulness":
        if trial == "trial-1":
            return {0: 0.8, 1: 0.95, 18: None, 19: None}.get(i, 0.9)
        return 0.9 if trial == "trial-2" else 0.3 + 0.01 * (i % 3)
    return {"trial-1": 0.5 + 0.01 * (i % 4), "trial-2": 0.4 + 0.02 * (i % 3),
            "trial-3": 0.8 + 0.01 * (i % 5)}[trial]


def build_db(db: Path, experiment: str, fake: bool, with_scores: bool = True) -> str:
    store = Store(db)
    run_id = f"run-{experiment}"
    store.start_run(run_id, experiment, {"name": experiment}, {"llms": ["x"]}, "abc123", fake, "demo")
    with store.connect() as con:
        for trial_id, label in LABELS.items():
            con.execute(
                "INSERT INTO trials (run_id, trial_id, label, params_json, overrides_json) "
                "VALUES (?, ?, ?, '{}', '{}')", [run_id, trial_id, label],
            )
    if with_scores:
        rows = []
        for trial_id in LABELS:
            for metric in ("hit_rate", "faithfulness", "answer_relevancy"):
                for i, q in enumerate(QUESTIONS):
                    v = values(trial_id, metric, i)
                    rows.append({"run_id": run_id, "trial_id": trial_id, "question_id": q,
                                 "metric": metric, "value": v,
                                 "error": None if v is not None else "judge timeout"})
        store.add_scores(rows)
    store.finish_run(run_id, "finished")
    return run_id


@pytest.fixture(scope="module", params=[False, True], ids=["real", "fake"])
def made(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[Report, Path, bool]:
    fake = request.param
    tmp = tmp_path_factory.mktemp("report")
    build_db(tmp / "r.duckdb", "exp", fake)
    return report("exp", tmp / "r.duckdb", out_dir=tmp / "out"), tmp / "out", fake


def row(table: str, trial_id: str) -> str:
    (line,) = [line for line in table.splitlines() if trial_id in line]
    return line


def test_significance_lines(made: tuple[Report, Path, bool]) -> None:
    rep, _, _ = made
    lines = rep.table.splitlines()
    assert "hit_rate: best = top_k=1 (0.500); not significantly different: top_k=2, top_k=3" in lines
    assert ("faithfulness: best = top_k=2 (0.900); not significantly different: top_k=1; "
            "significantly worse: top_k=3") in lines
    assert "answer_relevancy: best = top_k=3 (0.820); all others significantly worse" in lines


def test_best_cell_marked_with_star(made: tuple[Report, Path, bool]) -> None:
    rep, _, _ = made
    best = {"trial-1": "0.500*", "trial-2": "0.900*", "trial-3": "0.820*"}
    for trial_id, cell in best.items():
        line = row(rep.table, trial_id)
        assert cell in line
        assert line.count("*") == 1, line
    assert "0.897 [" in row(rep.table, "trial-1")  # runner-up on faithfulness: no mark


def test_fake_warning_only_when_fake(made: tuple[Report, Path, bool]) -> None:
    rep, out, fake = made
    assert rep.fake_models is fake
    assert ("WARNING" in rep.table) is fake and ("FAKE" in rep.table) is fake
    assert f"fake models: {'YES' if fake else 'no'}" in (out / "report.md").read_text()


def test_failures_counted_and_excluded_from_means(made: tuple[Report, Path, bool]) -> None:
    rep, _, _ = made
    assert list(rep.summary.columns) == ["trial_id", "label", "metric", "mean", "ci_low",
                                         "ci_high", "n", "n_failed"]
    s = rep.summary.set_index(["trial_id", "metric"])
    assert s.loc[("trial-1", "faithfulness"), "n_failed"] == 2
    assert s.loc[("trial-1", "faithfulness"), "n"] == 18
    assert s.loc[("trial-1", "faithfulness"), "mean"] == pytest.approx((16 * 0.9 + 0.8 + 0.95) / 18)
    assert (s.drop(("trial-1", "faithfulness")).n_failed == 0).all()
    assert "failed=2" in row(rep.table, "trial-1")
    ranking = rep.rankings["faithfulness"].set_index("trial_id")
    assert ranking.loc["trial-1", "n"] == 18
    assert ranking.loc["trial-1", "mean"] == pytest.approx((16 * 0.9 + 0.8 + 0.95) / 18)


def test_rankings_in_report_csv_and_markdown(made: tuple[Report, Path, bool]) -> None:
    rep, out, _ = made
    assert list(rep.rankings) == ["answer_relevancy", "faithfulness", "hit_rate"]
    faith = rep.rankings["faithfulness"]
    assert faith.trial_id.tolist() == ["trial-2", "trial-1", "trial-3"]
    assert faith.tied_with_best.tolist() == [True, True, False]
    assert rep.rankings["hit_rate"].tied_with_best.all()
    csv = pd.read_csv(out / "rankings.csv")
    assert list(csv.columns) == ["metric", *RANKING_COLUMNS]
    assert len(csv) == 9
    assert csv[csv.metric == "answer_relevancy"].tied_with_best.tolist() == [True, False, False]
    md = (out / "report.md").read_text()
    assert "answer_relevancy: best = top_k=3 (0.820); all others significantly worse" in md
    assert "## Rankings" in md and "0.900*" in md
    assert (out / "summary.csv").is_file() and (out / "metrics.png").is_file()


def test_run_without_scores(tmp_path: Path) -> None:
    build_db(tmp_path / "r.duckdb", "empty", fake=False, with_scores=False)
    rep = report("empty", tmp_path / "r.duckdb", out_dir=tmp_path / "out")
    assert rep.rankings == {} and rep.charts == []
    assert rep.table.endswith("(no scores)")
    assert pd.read_csv(tmp_path / "out" / "rankings.csv").empty


def test_cli_report_prints_significance(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    build_db(db, "exp", fake=False)
    result = CliRunner().invoke(app, ["report", "exp", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "answer_relevancy: best = top_k=3 (0.820); all others significantly worse" in result.stdout
    assert "FAKE" not in result.stdout
