"""Judge meta-evaluation: agreement metrics by hand, loaders, sampling, storage, CLI and notebook."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.llms import CompletionResponse
from llama_index.core.llms.callbacks import llm_completion_callback
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.config.experiment import JudgeConfig
from ragbench.data import labelled as lb
from ragbench.data.datasets import DataError
from ragbench.data.labelled import LabelledItem
from ragbench.judge import check as jc
from ragbench.models import FakeLLM
from ragbench.render.judge_check import JudgeCheck, confusion_chart
from ragbench.render.views import as_view
from ragbench.store import Store

ROOT = Path(__file__).parents[1]
BEGIN = ROOT.parent / "shared" / "datasets" / "begin-wow"
needs_begin = pytest.mark.skipif(
    not (BEGIN / "begin_dev_wow.tsv").is_file(), reason="../shared/datasets/begin-wow absent"
)

SIX_ROWS = [
    (
        "The Corran lighthouse was built in 1871 by Ada Finch.",
        "Ada Finch built it in 1871.",
        "true",
    ),
    ("The ferry to Ostby leaves at 7:15 from pier 4.", "The ferry leaves at 7:15.", "yes"),
    ("Crayola began with chalk, then crayons.", "Crayola began with chalk.", "1"),
    ("The library opens at nine.", "The library opens at noon on Mondays.", "false"),
    ("Pier 4 is on the east quay.", "Pier 4 was rebuilt in 1990 after a storm.", "No"),
    ("Ada Finch was an engineer.", "Ada Finch GARBAGE was a famous painter.", "0"),
]


def write_csv(path: Path, rows: list[tuple[str, str, str]] = SIX_ROWS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["context", "answer", "label"])
        writer.writerows(rows)
    return path


def items(labels: list[bool]) -> list[LabelledItem]:
    return [LabelledItem(f"i{k}", "ctx", "ans", lab) for k, lab in enumerate(labels)]


# --- metrics by hand -----------------------------------------------------------------------------

# 4 attributable, 6 not; judge: tp=3, fn=1, fp=2, tn=4
HUMAN = [True] * 4 + [False] * 6
JUDGE = [True, True, True, False] + [True, True, False, False, False, False]


def test_confusion_counts() -> None:
    assert jc.confusion(HUMAN, JUDGE) == {"tp": 3, "fn": 1, "fp": 2, "tn": 4}


def test_balanced_accuracy_by_hand() -> None:
    # (3/4 + 4/6) / 2
    assert jc.balanced_accuracy(HUMAN, JUDGE) == pytest.approx((0.75 + 4 / 6) / 2)


def test_kappa_by_hand() -> None:
    # p_o = 7/10; judge says yes 5/10, humans 4/10: p_e = .5*.4 + .5*.6 = .5; (0.7-0.5)/0.5
    assert jc.cohen_kappa(HUMAN, JUDGE) == pytest.approx(0.4)


def test_perfect_agreement_kappa_one() -> None:
    assert jc.cohen_kappa(HUMAN, HUMAN) == pytest.approx(1.0)
    assert jc.balanced_accuracy(HUMAN, HUMAN) == pytest.approx(1.0)


@pytest.mark.parametrize("constant", [True, False])
def test_constant_judge_kappa_zero(constant: bool) -> None:
    judge = [constant] * len(HUMAN)
    assert jc.cohen_kappa(HUMAN, judge) == pytest.approx(0.0)
    assert jc.balanced_accuracy(HUMAN, judge) == pytest.approx(0.5)


def test_metrics_match_sklearn_when_available() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    human = [True, False, True, True, False, False, True, False, True, True, False]
    judge = [True, True, False, True, False, False, True, True, True, False, False]
    assert jc.balanced_accuracy(human, judge) == pytest.approx(
        metrics.balanced_accuracy_score(human, judge)
    )
    assert jc.cohen_kappa(human, judge) == pytest.approx(metrics.cohen_kappa_score(human, judge))


def test_degenerate_metrics_are_nan() -> None:
    assert math.isnan(jc.balanced_accuracy([True, True], [True, False]))  # one human class
    assert math.isnan(jc.cohen_kappa([True, True], [True, True]))  # p_e = 1


def test_agreement_ci_seeded_and_contains_estimate() -> None:
    human = HUMAN * 3
    judge = JUDGE * 3
    ci = jc.agreement_ci(human, judge, seed=1)
    assert ci == jc.agreement_ci(human, judge, seed=1)
    lo, hi = ci["balanced_accuracy"]
    assert 0.0 <= lo <= jc.balanced_accuracy(human, judge) <= hi <= 1.0
    lo, hi = ci["kappa"]
    assert -1.0 <= lo <= 0.4 <= hi <= 1.0


# --- sampling ------------------------------------------------------------------------------------


def test_stratified_sample_balanced_deterministic() -> None:
    pool = items([True] * 10 + [False] * 90)
    sample = lb.stratified_sample(pool, 8, seed=3)
    assert len(sample) == 8
    assert sum(it.label for it in sample) == 4
    assert sample == lb.stratified_sample(pool, 8, seed=3)
    assert sample != lb.stratified_sample(pool, 8, seed=4)
    assert [it.item_id for it in sample] == sorted(
        (it.item_id for it in sample), key=lambda s: int(s[1:])
    )  # input order kept


def test_stratified_sample_small_class_exhausted() -> None:
    pool = items([True] * 2 + [False] * 50)
    sample = lb.stratified_sample(pool, 10, seed=0)
    assert len(sample) == 10 and sum(it.label for it in sample) == 2


def test_stratified_sample_nests_and_limit_none() -> None:
    pool = items([True, False] * 20)
    small = {it.item_id for it in lb.stratified_sample(pool, 6, seed=0)}
    large = {it.item_id for it in lb.stratified_sample(pool, 12, seed=0)}
    assert small <= large
    assert lb.stratified_sample(pool, None) == pool
    assert lb.stratified_sample(pool, 100) == pool
    with pytest.raises(ValueError, match="at least 1"):
        lb.stratified_sample(pool, 0)


# --- loaders -------------------------------------------------------------------------------------


def test_csv_loader_label_mapping(tmp_path: Path) -> None:
    loaded = lb.load_labelled(write_csv(tmp_path / "six.csv"))
    assert [it.label for it in loaded] == [True, True, True, False, False, False]
    assert (
        loaded[0].context.startswith("The Corran")
        and loaded[0].answer == "Ada Finch built it in 1871."
    )
    assert loaded[0].item_id == "six-0001"


def test_csv_loader_limit_has_both_classes(tmp_path: Path) -> None:
    loaded = lb.load_labelled(write_csv(tmp_path / "six.csv"), limit=2, seed=5)
    assert sorted(it.label for it in loaded) == [False, True]


def test_csv_loader_bad_label(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [("ctx", "ans", "true"), ("ctx", "ans", "maybe")])
    with pytest.raises(DataError, match=r"row 2: label 'maybe' is not one of true/1/yes"):
        lb.load_labelled(path)


def test_csv_loader_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("context,response,label\nc,a,true\n")
    with pytest.raises(DataError, match="missing column.*answer"):
        lb.load_labelled(path)


def test_unknown_dataset_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="did you mean 'begin-wow'"):
        lb.load_labelled("begin-woww")
    with pytest.raises(DataError, match="not found"):
        lb.load_labelled(tmp_path / "absent.csv")


def test_begin_missing_folder_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGBENCH_SHARED", str(tmp_path))
    with pytest.raises(DataError, match="begin-wow not found.*RAGBENCH_SHARED"):
        lb.load_labelled("begin-wow")
    with pytest.raises(DataError, match="did you mean 'test'"):
        lb.load_labelled("begin-wow", split="tset")


@needs_begin
def test_begin_wow_dev_loader() -> None:
    loaded = lb.load_labelled("begin-wow", split="dev")
    assert len(loaded) == 430  # dev has no Generic rows
    assert sum(it.label for it in loaded) == 180
    first = loaded[0]
    assert first.label is True and first.context.startswith("originally an industrial pigment")
    assert first.answer.startswith("crayola shifted its focus")
    assert loaded[1].label is False


@needs_begin
def test_begin_wow_test_drops_generic() -> None:
    loaded = lb.load_labelled("begin-wow", split="test")
    assert len(loaded) == 3607 - 6
    assert sum(it.label for it in loaded) == 1392
    sample = lb.load_labelled("begin-wow", split="test", limit=10, seed=0)
    assert sum(it.label for it in sample) == 5


# --- end to end ----------------------------------------------------------------------------------


def test_judge_check_end_to_end_fake(tmp_path: Path) -> None:
    db = tmp_path / "jc.duckdb"
    loaded = lb.load_labelled(write_csv(tmp_path / "six.csv"))
    result = jc.judge_check(loaded, JudgeConfig(provider="fake"), db, progress=False, dataset="six")
    # the fake judge supports every statement: a constant "faithful" judge
    assert result.n == 6 and result.n_failed == 0
    assert result.counts == {"tp": 3, "fn": 0, "fp": 3, "tn": 0}
    assert result.matrix.tolist() == [[3, 0], [3, 0]]
    assert result.balanced_accuracy == pytest.approx(0.5) and result.kappa == pytest.approx(0.0)
    assert result.fake_models and "FAKE MODELS" in result.summary()

    store = Store(db)
    run = store.run_info(result.run_id)
    assert run.experiment == "judge-check-six" and run.status == "finished"
    assert run.fake_models and "fake-llm" in json.dumps(run.versions)
    assert len(store.query("SELECT * FROM trials WHERE run_id = ?", [result.run_id])) == 1
    records = store.query(
        "SELECT * FROM records WHERE run_id = ? ORDER BY question_id", [result.run_id]
    )
    assert len(records) == 6
    assert set(records.user_input) == {lb.USER_INPUT}
    assert list(records.retrieved_contexts.iloc[0]) == [SIX_ROWS[0][0]]
    assert list(records.retrieved_doc_ids.iloc[0]) == ["six-0001"]
    assert list(records.response) == [row[1] for row in SIX_ROWS]  # judged as given
    scores = store.query(
        "SELECT metric, count(*) AS n, count(value) AS ok FROM scores WHERE run_id = ? "
        "GROUP BY metric ORDER BY metric",
        [result.run_id],
    )
    assert scores.to_dict("list") == {
        "metric": ["faithfulness", "human_label"],
        "n": [6, 6],
        "ok": [6, 6],
    }
    # agreement recomputed from SQL alone
    sql = store.query(
        "SELECT sum(CASE WHEN h.value = 1 AND f.value >= 0.5 THEN 1 ELSE 0 END) AS tp, "
        "sum(CASE WHEN h.value = 0 AND f.value >= 0.5 THEN 1 ELSE 0 END) AS fp "
        "FROM scores f JOIN scores h USING (run_id, trial_id, question_id) "
        "WHERE f.metric = 'faithfulness' AND h.metric = 'human_label' AND run_id = ?",
        [result.run_id],
    )
    assert (int(sql.tp.iloc[0]), int(sql.fp.iloc[0])) == (3, 3)

    # a second check is served from the judge cache
    again = jc.judge_check(loaded, JudgeConfig(provider="fake"), db, progress=False, dataset="six")
    assert again.n_cached == 6 and again.counts == result.counts


class PickyLLM(FakeLLM):
    """The fake judge, except that it answers garbage (not JSON) about any GARBAGE answer."""

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if "GARBAGE" in prompt:
            self.calls += 1
            return CompletionResponse(text="Sure! {statements: oops")
        return super().complete(prompt, formatted=formatted, **kwargs)


def test_judge_check_progress_names_its_ready_made_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A judge check retrieves nothing: its first stage is "records", never "retrieval"."""
    seen: list[Any] = []
    run = jc.run
    monkeypatch.setattr(jc, "run", lambda *a, **kw: run(*a, on_progress=seen.append, **kw))
    loaded = lb.load_labelled(write_csv(tmp_path / "six.csv"))
    jc.judge_check(loaded, JudgeConfig(provider="fake"), tmp_path / "jc.duckdb", dataset="six")
    bars = capsys.readouterr().err  # the bars a person sees
    assert "records" in bars and "nothing retrieved" in bars and "answer+judge" in bars
    assert "retrieval" not in bars
    assert [(p.stage, p.done) for p in seen][:2] == [("records", 0), ("records", 1)]
    assert {p.stage for p in seen} == {"records", "answer+judge"}


def test_judge_failures_counted_and_excluded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jc.models, "make_llm", lambda cfg: PickyLLM())
    db = tmp_path / "jc.duckdb"
    loaded = lb.load_labelled(write_csv(tmp_path / "six.csv"))
    cfg = JudgeConfig(provider="fake", max_retries=0)
    result = jc.judge_check(loaded, cfg, db, progress=False, dataset="six")
    assert result.n == 5 and result.n_failed == 1
    assert sum(result.counts.values()) == 5
    assert result.counts == {"tp": 3, "fn": 0, "fp": 2, "tn": 0}
    failed = result.items[result.items.error.notna()]
    assert list(failed.item_id) == ["six-0006"] and failed.verdict.isna().all()
    rows = Store(db).query(
        "SELECT metric, value, error FROM scores WHERE run_id = ? AND question_id = 'six-0006' "
        "ORDER BY metric",
        [result.run_id],
    )
    assert rows.metric.tolist() == ["faithfulness", "human_label"]
    assert math.isnan(rows.value.iloc[0]) and "invalid JSON" in rows.error.iloc[0]
    assert rows.value.iloc[1] == 0.0


def test_confusion_chart(tmp_path: Path) -> None:
    loaded = lb.load_labelled(write_csv(tmp_path / "six.csv"))
    result = jc.judge_check(
        loaded, JudgeConfig(provider="fake"), tmp_path / "jc.duckdb", progress=False
    )
    path = confusion_chart(result, tmp_path / "out" / "confusion.png")
    assert path.stat().st_size > 5_000


def test_a_judge_check_shows_its_figures_in_a_notebook(tmp_path: Path) -> None:
    """The check computes (judge.check); its view adds the HTML and computes nothing again."""
    loaded = lb.load_labelled(write_csv(tmp_path / "six.csv"))
    result = jc.judge_check(
        loaded, JudgeConfig(provider="fake"), tmp_path / "jc.duckdb", progress=False
    )
    assert not hasattr(result, "_repr_html_")
    view = as_view(JudgeCheck, result)
    assert view.counts == result.counts and view.items is result.items
    html = view._repr_html_()
    assert "FAKE MODELS" in html and "balanced accuracy" in html and "confusion matrix" in html
    assert "0.500 [" in html and str(tmp_path) not in html  # no file paths


# --- CLI and notebook ----------------------------------------------------------------------------


def test_cli_judge_check_fake(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    out = CliRunner().invoke(
        app,
        [
            "judge-check",
            str(write_csv(tmp_path / "six.csv")),
            "--judge",
            "fake",
            "--db",
            str(db),
            "--limit",
            "4",
            "--prompts",
            "compact",
            "--no-progress",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "(compact prompts)" in out.output
    assert "n = 4 judged, n_failed = 0" in out.output
    assert "balanced accuracy 0.500 [" in out.output and "Cohen's kappa     0.000 [" in out.output
    assert "not attributable" in out.output and "FAKE MODELS" in out.output
    run_id = out.output.split("\nrun ", 1)[1].split()[0]
    assert Store(db).run_info(run_id).experiment == "judge-check-six"
    config = Store(db).run_info(run_id).config
    assert config["base"]["judge"]["prompts"] == "compact"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "error: labelled data file not found"),
        (["begin-woww"], "did you mean 'begin-wow'"),
        (["x.csv", "--judge", "gpt"], "error: unknown judge 'gpt'"),
    ],
)
def test_cli_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = CliRunner().invoke(app, ["judge-check", *args, "--db", str(tmp_path / "x.duckdb")])
    assert out.exit_code == 2
    assert message in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_judge_check_notebook(tmp_path: Path) -> None:
    pm = pytest.importorskip("papermill")
    db = tmp_path / "nb.duckdb"
    out = tmp_path / "04-judge-check.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "04-judge-check.ipynb"),
        str(out),
        parameters={
            "dataset": str(write_csv(tmp_path / "six.csv")),
            "judge": "fake",
            "limit": 4,
            "db": str(db),
        },
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
    )
    runs = Store(db).query("SELECT experiment, status, fake_models FROM runs")
    assert runs.to_dict("list") == {
        "experiment": ["judge-check-six"],
        "status": ["finished"],
        "fake_models": [True],
    }
    assert (tmp_path / "judge-check-six" / "confusion.png").stat().st_size > 5_000
    assert "balanced accuracy" in out.read_text()
