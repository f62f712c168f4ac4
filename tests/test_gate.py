"""`ragbench gate`: minimums and --baseline regressions; exit 0 pass, 1 fail, 2 bad input."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from run_pairs import known_pairs
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.experiment.orchestrator import run
from ragbench.records import ScoreRow
from ragbench.results.gate import GateError, check_gate, check_regression, parse_minimums
from ragbench.stats import summarize
from ragbench.store import Store

SMOKE = Path(__file__).parent / "data" / "smoke.yaml"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One smoke run (fake models, 4 trials) shared by the module, with its summary."""
    db = tmp_path_factory.mktemp("gate") / "ragbench.duckdb"
    result = run(SMOKE, db=db, progress=False)
    store = Store(db)
    return {
        "db": db,
        "store": store,
        "run_id": result.run_id,
        "summary": summarize(store.scores(result.run_id)),
    }


def gate(db: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["gate", "smoke", "--db", str(db), *args])


def mean(smoke: dict[str, Any], trial_id: str, metric: str) -> float:
    s = smoke["summary"]
    return float(s[(s.trial_id == trial_id) & (s.metric == metric)]["mean"].iloc[0])


def result_line(output: str, metric: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(metric + " "))


def test_pass_exits_0_and_minimum_is_inclusive(smoke: dict[str, Any]) -> None:
    best = check_gate(smoke["store"], "smoke", {"mrr": 0.0}).trial_id
    exact = repr(mean(smoke, best, "mrr"))  # the mean itself is a pass (>=)
    res = gate(smoke["db"], "--min", f"mrr={exact}", "--min", "hit_rate=0")
    assert res.exit_code == 0, res.output
    assert result_line(res.output, "mrr").endswith("PASS")
    assert result_line(res.output, "hit_rate").endswith("PASS")
    assert "PASS: all 2 minimum(s) met" in res.output and best in res.output


def test_fail_exits_1_with_fail_in_the_table(smoke: dict[str, Any]) -> None:
    summary = smoke["summary"]
    below = summary[summary["mean"] < 1].iloc[0]  # some trial scores below 1 on some metric
    other = next(m for m in summary.metric.unique() if m != below.metric)
    res = gate(
        smoke["db"], "--trial", below.trial_id, "--min", f"{below.metric}=1", "--min", f"{other}=0"
    )
    assert res.exit_code == 1, res.output
    assert result_line(res.output, below.metric).endswith("FAIL")
    assert f"{below['mean']:.3f}" in result_line(res.output, below.metric)
    assert result_line(res.output, other).endswith("PASS")
    assert "FAIL: 1 of 2 below minimum" in res.output


def test_best_picks_highest_mean_of_first_metric(smoke: dict[str, Any]) -> None:
    summary = smoke["summary"]
    for metric in ("mrr", "answer_relevancy"):
        result = check_gate(smoke["store"], "smoke", {metric: 0.0, "hit_rate": 0.0})
        part = summary[summary.metric == metric]
        assert mean(smoke, result.trial_id, metric) == part["mean"].max()
        assert [r.metric for r in result.rows] == [metric, "hit_rate"]


def test_trial_id_selects_that_trial(smoke: dict[str, Any]) -> None:
    summary = smoke["summary"]
    hit = summary[summary.metric == "mrr"].sort_values("mean")
    worst = hit.iloc[0]
    res = gate(smoke["db"], "--trial", worst.trial_id, "--min", "mrr=0")
    assert res.exit_code == 0, res.output
    assert f"trial {worst.trial_id}  ({worst.label})" in res.output
    assert f"{worst['mean']:.3f}" in result_line(res.output, "mrr")
    result = check_gate(smoke["store"], "smoke", {"mrr": 0.0}, trial=worst.trial_id)
    assert result.trial_id == worst.trial_id and result.rows[0].value == worst["mean"]


def test_zero_successful_scores_is_a_fail(smoke: dict[str, Any], tmp_path: Path) -> None:
    db = tmp_path / "failed.duckdb"
    shutil.copy(smoke["db"], db)
    store = Store(db)
    scores = store.scores(smoke["run_id"])
    faith = scores[scores.metric == "faithfulness"]
    store.write(
        scores=[
            ScoreRow(
                r.run_id, r.trial_id, r.question_id, r.metric, None, "judge failed after 3 attempts"
            )
            for r in faith.itertuples()
        ]
    )
    res = gate(db, "--min", "faithfulness=0", "--min", "hit_rate=0")
    assert res.exit_code == 1, res.output
    line = result_line(res.output, "faithfulness")
    assert line.endswith("FAIL") and " - " in line  # no value
    row = check_gate(store, "smoke", {"faithfulness": 0.0}).rows[0]
    assert row.n == 0 and row.failed > 0 and row.value is None and not row.passed
    assert "faithfulness has no successful score" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min", "hit_rate"], "not METRIC=VALUE"),
        (["--min", "hit_rate=high"], "not a number"),
        (["--min", "hit_rate=80"], "between 0 and 1"),
        (["--min", "hit_rate=0.5", "--min", "hit_rate=0.6"], "given twice"),
        ([], "at least one minimum"),
        (["--baseline", "nope"], "no run nope"),
        (["--baseline", "RUN", "--min-effect", "-0.1"], "--min-effect -0.1: must be"),
        (["--min", "bleu=0.5"], "its metrics: hit_rate, mrr, faithfulness, answer_relevancy"),
        (["--min", "mrr=0.5", "--trial", "nope"], "valid: best, "),
    ],
)
def test_bad_input_exits_2(smoke: dict[str, Any], args: list[str], message: str) -> None:
    res = gate(smoke["db"], *args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and message in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_missing_db_and_unknown_experiment_exit_2(smoke: dict[str, Any], tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    res = gate(missing, "--min", "mrr=0.5")
    assert res.exit_code == 2 and "results file not found" in res.output
    assert not missing.exists()  # the gate never creates a results file
    res = CliRunner().invoke(app, ["gate", "nope", "--db", str(smoke["db"]), "--min", "mrr=0.5"])
    assert res.exit_code == 2 and "no run of experiment 'nope'" in res.output


def test_parse_minimums() -> None:
    assert parse_minimums(["faithfulness=0.6", " hit_rate = 1 "]) == {
        "faithfulness": 0.6,
        "hit_rate": 1.0,
    }
    with pytest.raises(GateError):
        parse_minimums(["=0.5"])


# --- gate --baseline: fail only on a significant regression of at least the minimum effect ------


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return known_pairs(tmp_path_factory.mktemp("pairs"))


def baseline_gate(db: Path, experiment: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["gate", experiment, "--db", str(db), *args])


def test_known_regression_fails(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    res = baseline_gate(db, "regressed", "--baseline", runs["base"])
    assert res.exit_code == 1, res.output
    assert result_line(res.output, "faithfulness").endswith("FAIL")
    assert result_line(res.output, "hit_rate").endswith("PASS")
    assert "FAIL: 1 metric(s) regressed significantly" in res.output
    result = check_regression(Store(db, read_only=True), "regressed", runs["base"])
    assert not result.passed and result.regressions.metric.tolist() == ["faithfulness"]
    row = result.regressions.iloc[0]
    assert row.p_adjusted < 0.05 and -row.delta >= 0.02


def test_noise_only_passes(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    res = baseline_gate(db, "noisy", "--baseline", runs["base"])
    assert res.exit_code == 0, res.output
    assert "PASS: no metric regressed significantly" in res.output
    assert "FAIL" not in res.output


def test_significant_but_small_drop_passes_unless_min_effect_is_lowered(
    pairs: tuple[Path, dict[str, str]],
) -> None:
    db, runs = pairs
    res = baseline_gate(db, "small", "--baseline", runs["base"])
    assert res.exit_code == 0, res.output
    assert result_line(res.output, "faithfulness").endswith("PASS (drop < 0.02)")
    res = baseline_gate(db, "small", "--baseline", runs["base"], "--min-effect", "0.005")
    assert res.exit_code == 1, res.output
    assert result_line(res.output, "faithfulness").endswith("FAIL")


def test_baseline_and_minimums_together(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    res = baseline_gate(db, "noisy", "--baseline", runs["base"], "--min", "hit_rate=0.99")
    assert res.exit_code == 1, res.output  # no regression, but below the minimum
    assert "FAIL: 1 of 1 below minimum" in res.output and "PASS: no metric regressed" in res.output


def test_baseline_usage_errors(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    res = baseline_gate(db, "pair", "--baseline", runs["base"])
    assert res.exit_code == 2 and "is the latest run of 'pair' itself" in res.output
    res = baseline_gate(db, "regressed", "--baseline", runs["base"], "--trial", "nope")
    assert res.exit_code == 2 and "run run-regressed has no trial 'nope'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    with pytest.raises(GateError, match="no run of experiment"):
        check_regression(Store(db, read_only=True), "absent", runs["base"])
