"""`ragbench diff`: per metric, questions that improved or regressed, answers side by side."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_pairs import QUESTIONS, known_pairs
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.render.diff import ANSWER_CHARS, diff_runs
from ragbench.results.diff import QUESTION_COLUMNS, TEST_COLUMNS, DiffError
from ragbench.store import Store


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return known_pairs(tmp_path_factory.mktemp("pairs"))


def test_known_regression_is_found_question_by_question(
    pairs: tuple[Path, dict[str, str]],
) -> None:
    db, runs = pairs
    d = diff_runs(db, runs["base"], runs["regressed"])
    assert (d.trial_a, d.trial_b) == ("good", "good") and d.label_b == "top_k=2"
    assert list(d.tests.columns) == TEST_COLUMNS and list(d.questions.columns) == QUESTION_COLUMNS
    tests = d.tests.set_index("metric")
    assert tests.index.tolist() == ["hit_rate", "mrr", "faithfulness"]
    faith = tests.loc["faithfulness"]
    assert faith.verdict == "regressed" and faith.p_adjusted < 0.05 and faith.n == 30
    assert faith.delta < -0.1 and faith.delta_ci_high < 0
    assert (faith.regressed, faith.improved) == (20, 0)
    assert tests.loc["hit_rate", "verdict"] == "not significant"
    assert tests.loc["hit_rate", "p_value"] == 1.0
    # every regressed question, most regressed first, with both answers side by side
    down = d.regressed("faithfulness")
    assert sorted(down.question_id) == QUESTIONS[:20]
    assert down.delta.is_monotonic_increasing and (down.delta < 0).all()
    assert (down.response_b.str.startswith("a worse answer to")).all()
    assert (down.response_a == "good answers " + down.question_id).all()
    assert (down.user_input == "What is " + down.question_id + "?").all()
    assert d.improved().empty and d.regressed("hit_rate").empty


def test_text_and_html_views(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    d = diff_runs(db, runs["base"], runs["regressed"], max_rows=5)
    text = repr(d)
    assert "FAKE MODELS" in text and "faithfulness: 20 question(s) regressed" in text
    assert "... 15 more" in text and "B: a worse answer to" in text
    html = d._repr_html_()
    assert html.count("<table>") == 2  # the tests and the one metric that changed
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html  # answers escaped
    assert "regressed</td>" in html and "... 15 more" in html


def test_noise_only_is_no_change(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    d = diff_runs(db, runs["base"], runs["noisy"])
    assert set(d.tests.verdict) == {"not significant"}
    hits = d.tests.set_index("metric").loc["hit_rate"]
    assert (hits.improved, hits.regressed) == (2, 2) and hits.p_value == 1.0
    assert len(d.questions) > 0  # questions still moved, and are listed


def test_metric_option_and_long_answers_are_cut(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    d = diff_runs(db, runs["base"], runs["regressed"], metric="faithfulness")
    assert d.tests.metric.tolist() == ["faithfulness"]
    assert d.tests.p_adjusted.iloc[0] == d.tests.p_value.iloc[0]  # one test: Holm changes nothing
    d.questions.loc[0, "response_b"] = "x" * (ANSWER_CHARS * 3)
    assert "x" * ANSWER_CHARS not in d._repr_html_()
    assert "x" * (ANSWER_CHARS - 1) + "…" in d._repr_html_()


def test_trial_choice_and_bad_input(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    d = diff_runs(db, runs["base"], runs["other"])
    assert (d.trial_a, d.trial_b) == ("good", "fresh")  # A's best on hit_rate
    assert d.notes == ["run run-base has no trial fresh: compared with its best on hit_rate"]
    assert d.tests.set_index("metric").loc["faithfulness", "verdict"] == "regressed"
    assert d.notes[0] in repr(d)
    d = diff_runs(db, runs["base"], runs["regressed"], trial="poor")
    assert (d.trial_a, d.trial_b) == ("poor", "poor") and not d.notes
    with pytest.raises(DiffError, match="valid: best, good, poor"):
        diff_runs(db, runs["base"], runs["regressed"], trial="nope")
    with pytest.raises(DiffError, match="no run nope"):
        diff_runs(db, "nope", runs["regressed"])
    with pytest.raises(DiffError, match="common metrics: hit_rate, mrr, faithfulness"):
        diff_runs(db, runs["base"], runs["regressed"], metric="bleu")


def test_cli(pairs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, runs = pairs
    res = CliRunner().invoke(app, ["diff", runs["base"], runs["regressed"], "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "regressed" in res.output and "q00" in res.output
    res = CliRunner().invoke(app, ["diff", "nope", runs["regressed"], "--db", str(db)])
    assert res.exit_code == 2 and res.output.strip() == f"error: no run nope in {db}"
    missing = tmp_path / "none.duckdb"
    res = CliRunner().invoke(app, ["diff", "a", "b", "--db", str(missing)])
    assert res.exit_code == 2 and "results file not found" in res.output
    assert not missing.exists()


def test_read_only(pairs: tuple[Path, dict[str, str]]) -> None:
    db, runs = pairs
    store = Store(db, read_only=True)
    assert diff_runs(store, runs["base"], runs["small"]).tests.shape[0] == 3
