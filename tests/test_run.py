"""End to end with fakes: `experiment.run` rows, report, resume, caches, and the run/report CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.config.experiment import ExperimentConfig, parse_config
from ragbench.experiment.context import judged_subset
from ragbench.experiment.orchestrator import RunResult, run
from ragbench.render.report import report
from ragbench.stats import summarize
from ragbench.store import Store

TABLES = ("runs", "trials", "records", "scores", "cache")


def counts(db: Path) -> dict[str, int]:
    store = Store(db)
    return {t: int(store.query(f"SELECT count(*) AS n FROM {t}").n[0]) for t in TABLES}


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, fake_config_data: dict[str, Any]) -> RunResult:
    """One fake run of the 2x2 sweep, shared by the tests of this module (they only read it)."""
    db = tmp_path_factory.mktemp("run") / "results" / "ragbench.duckdb"
    config = parse_config(copy.deepcopy(fake_config_data))
    return run(config, db=db, progress=False)


def test_run_writes_expected_rows(first: RunResult) -> None:
    store = Store(first.db)
    rid = [first.run_id]
    info = store.run_info(first.run_id)
    assert info.status == "finished"
    assert bool(info.fake_models) is True
    assert info.dataset == "demo"
    assert info.config["name"] == "fake-demo"
    assert info.versions["llms"] == ["fake-llm:v1"]

    trials = store.query("SELECT * FROM trials WHERE run_id = ?", rid)
    assert len(trials) == 4
    assert set(trials.trial_id) == {t.trial_id for t in first.trials}

    records = store.query("SELECT * FROM records WHERE run_id = ?", rid)
    assert len(records) == 4 * 6
    assert set(records.question_id) == {f"q0{i}" for i in range(1, 7)}
    top_k = {t.trial_id: t.pipeline.retrieval.top_k for t in first.trials}
    for r in records.itertuples():
        assert len(r.retrieved_doc_ids) == top_k[r.trial_id] == len(r.retrieved_contexts)
    answered = records[records.response.notna()]
    # judge_limit 2: the same seeded subset of the 6 questions for every trial
    expected = judged_subset([f"q{i:02d}" for i in range(1, 7)], 2, 0)
    assert len(expected) == 2
    assert sorted(set(answered.question_id)) == expected
    assert answered.groupby("trial_id").question_id.apply(sorted).map(tuple).nunique() == 1
    assert len(answered) == 4 * 2
    assert all(r.endswith("[1]") for r in answered.response)
    assert all(list(c) for c in answered.cited_doc_ids)
    assert (answered.generation_s >= 0).all() and (answered.latency_s >= answered.retrieval_s).all()


def test_run_writes_expected_scores(first: RunResult) -> None:
    scores = Store(first.db).scores(first.run_id)
    by_metric = scores.groupby("metric").size().to_dict()
    # q01-q06 all have gold documents: retrieval metrics for every (trial, question)
    assert by_metric == {"hit_rate": 24, "mrr": 24, "faithfulness": 8, "answer_relevancy": 8}
    judged = scores[scores.metric.isin(["faithfulness", "answer_relevancy"])]
    assert set(judged.question_id) == set(judged_subset([f"q{i:02d}" for i in range(1, 7)], 2, 0))
    assert judged.error.isna().all()
    assert judged.value.between(0, 1).all()
    assert scores.value.notna().all()
    retrieval = scores[scores.metric.isin(["hit_rate", "mrr"])]
    assert retrieval.value.isin([0.0, 1.0, 0.5, 1 / 3]).all()
    details = json.loads(judged.details.iloc[0])
    assert "trace" in details and "cached" in details


def test_run_stats(first: RunResult) -> None:
    stats = first.stats
    assert stats.indexes_built == 2  # two chunk sizes; top_k does not need a new index
    assert stats.generated + stats.generation_cache_hits == 8
    assert stats.judged == 16
    assert stats.judge_failures == 0
    assert "15 documents" in stats.dataset


def test_report_flags_fake_models_and_writes_chart(first: RunResult, tmp_path: Path) -> None:
    rep = report(first.experiment, first.db, run_id=first.run_id, out_dir=tmp_path)
    assert rep.fake_models
    assert "FAKE" in rep.table
    for label in ("chunk_size=128, top_k=2", "chunk_size=256, top_k=3"):
        assert label in rep.table
    assert [c.name for c in rep.charts][0] == "metrics.png"
    assert len(rep.charts) == len(set(rep.charts)) > 1  # plus heatmaps, latency, distributions
    chart = rep.charts[0]
    assert chart.is_file() and chart.stat().st_size > 1000
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fake models: YES" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "summary.csv").is_file()


def test_summary_counts_and_intervals(first: RunResult) -> None:
    summary = summarize(Store(first.db).scores(first.run_id))
    assert len(summary) == 4 * 4
    n = summary.set_index(["label", "metric"]).n
    assert n[("chunk_size=128, top_k=2", "hit_rate")] == 6
    assert n[("chunk_size=128, top_k=2", "faithfulness")] == 2
    assert (summary.ci_low <= summary["mean"]).all() and (summary["mean"] <= summary.ci_high).all()
    assert (summary.n_failed == 0).all()


def test_resume_adds_no_rows(first: RunResult, fake_config: ExperimentConfig) -> None:
    before = counts(first.db)
    again = run(fake_config, db=first.db, resume=first.run_id, progress=False)
    assert again.run_id == first.run_id
    assert counts(first.db) == before
    assert again.stats.generated == 0 and again.stats.judged == 0
    assert again.stats.indexes_built == 0  # nothing left to retrieve
    assert Store(first.db).run_info(first.run_id).status == "finished"


def test_resume_of_other_experiment_refused(
    first: RunResult, fake_config: ExperimentConfig
) -> None:
    other = fake_config.model_copy(update={"name": "another"})
    with pytest.raises(ValueError, match="belongs to experiment 'fake-demo'"):
        run(other, db=first.db, resume=first.run_id, progress=False)


def test_second_run_hits_caches(first: RunResult, fake_config: ExperimentConfig) -> None:
    second = run(fake_config, db=first.db, progress=False)
    assert second.run_id != first.run_id
    assert second.stats.generated == 0
    assert second.stats.generation_cache_hits == 8
    assert second.stats.judge_cache_hits == 16
    assert second.stats.judge_calls == 0
    # same trials, same retrieval scores
    store = Store(first.db)
    q = "SELECT trial_id, question_id, metric, value FROM scores WHERE run_id = ? ORDER BY ALL"
    a = store.query(q, [first.run_id])
    b = store.query(q, [second.run_id])
    assert a.equals(b)


def test_limit_argument_overrides_config(fake_config: ExperimentConfig, tmp_db: Path) -> None:
    config = fake_config.model_copy(update={"sweep": {}, "judge_limit": 0})
    result = run(config, db=tmp_db, limit=3, progress=False)
    assert counts(tmp_db)["records"] == 3
    assert result.stats.judged == 0 and result.stats.judge_calls == 0


def test_progress_reports_each_stage_when_it_starts(
    fake_config: ExperimentConfig, tmp_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A display names the stage doing the work: each stage is reported when it starts (0 of N),
    before its first question is done and before the first answer is asked for."""
    from ragbench.models import FakeLLM
    from ragbench.records import Progress

    seen: list[Any] = []
    complete = FakeLLM.complete

    def noted(self: FakeLLM, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        seen.append("llm call")
        return complete(self, prompt, formatted, **kwargs)

    monkeypatch.setattr(FakeLLM, "complete", noted)
    config = fake_config.model_copy(update={"sweep": {}, "judge_limit": 2})
    run(config, db=tmp_db, limit=3, progress=False, on_progress=seen.append)
    events = [(p.stage, p.done, p.total) for p in seen if isinstance(p, Progress)]
    assert events == [
        ("retrieval", 0, 3),
        ("retrieval", 1, 3),
        ("retrieval", 2, 3),
        ("retrieval", 3, 3),
        ("answer+judge", 0, 2),
        ("answer+judge", 1, 2),
        ("answer+judge", 2, 2),
    ]
    started = seen.index(
        next(p for p in seen if isinstance(p, Progress) and p.stage != "retrieval")
    )
    assert "llm call" not in seen[:started] and seen[started + 1] == "llm call"

    seen.clear()  # a judging budget reports its stage the same way, with the budget as total
    budgeted = parse_config({**config.model_dump(mode="json"), "judge_budget": 1})
    run(budgeted, db=tmp_db, limit=3, progress=False, on_progress=seen.append)
    events = [(p.stage, p.done, p.total) for p in seen if isinstance(p, Progress)]
    assert events[4:] == [("answer+judge", 0, 1), ("answer+judge", 1, 1)]


def test_context_metrics_alone_generate_no_answer(
    fake_config: ExperimentConfig, tmp_db: Path
) -> None:
    """Context precision / recall read the question, contexts and reference only: no answer is
    generated for them; adding a metric that reads the answer generates it (once per item)."""
    config = fake_config.model_copy(
        update={"sweep": {}, "metrics": ["hit_rate", "context_precision", "context_recall"]}
    )
    result = run(config, db=tmp_db, limit=4, progress=False)
    assert result.stats.generated == 0 and result.stats.generation_cache_hits == 0
    assert result.stats.judged == 2 * 2  # judge_limit 2 x two metrics, all judged
    store = Store(tmp_db)
    records = store.query("SELECT response FROM records WHERE run_id = ?", [result.run_id])
    assert len(records) == 4 and records.response.isna().all()
    scores = store.scores(result.run_id)
    judged = scores[scores.metric.isin(["context_precision", "context_recall"])]
    assert len(judged) == 4 and judged.error.isna().all()
    with_answer = config.model_copy(update={"metrics": [*config.metrics, "faithfulness"]})
    again = run(with_answer, db=tmp_db, limit=4, progress=False)
    assert again.stats.generated == 2 and again.stats.judge_cache_hits == 4


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_run_with_fakes(tmp_path: Path, fake_config_data: dict[str, Any]) -> None:
    data = copy.deepcopy(fake_config_data)
    data.update(name="cli-fake", limit=3, judge_limit=1, sweep={"retrieval.top_k": [2, 3]})
    exp = tmp_path / "cli-fake.yaml"
    exp.write_text(yaml.safe_dump(data))
    db = tmp_path / "out" / "r.duckdb"
    result = CliRunner().invoke(app, ["run", str(exp), "--db", str(db), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "FAKE" in result.stdout
    assert "top_k=2" in result.stdout and "top_k=3" in result.stdout
    assert "hit_rate" in result.stdout and "faithfulness" in result.stdout
    assert "2 trials" in result.stdout
    assert (tmp_path / "out" / "cli-fake" / "metrics.png").is_file()
    assert counts(db)["records"] == 2 * 3


def test_cli_run_bad_config_one_line_error(tmp_path: Path) -> None:
    exp = tmp_path / "bad.yaml"
    exp.write_text("name: bad\nbase:\n  retrieval: {method: dens}\n")
    result = CliRunner().invoke(app, ["run", str(exp), "--db", str(tmp_path / "r.duckdb")])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and "did you mean 'dense'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_report_unknown_experiment(first: RunResult) -> None:
    result = CliRunner().invoke(app, ["report", "no-such-experiment", "--db", str(first.db)])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ")
    assert "no-such-experiment" in result.stderr


def test_cli_report_missing_db(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "fake-demo", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: results file not found")


def test_cli_report_existing_run(first: RunResult) -> None:
    result = CliRunner().invoke(
        app, ["report", "fake-demo", "--db", str(first.db), "--run", first.run_id]
    )
    assert result.exit_code == 0, result.output
    assert first.run_id in result.stdout and "FAKE" in result.stdout


def test_judged_subset_is_seeded_nested_and_ordered() -> None:
    ids = [f"q{i:02d}" for i in range(1, 26)]
    three, five = judged_subset(ids, 3, 0), judged_subset(ids, 5, 0)
    assert len(three) == 3 and set(three) <= set(five)
    assert three == sorted(three) and three == judged_subset(ids, 3, 0)
    assert judged_subset(ids, 3, 1) != three
    assert judged_subset(ids, None, 0) == ids and judged_subset(ids, 99, 0) == ids
