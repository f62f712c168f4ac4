"""Held-out split: a deterministic, kind-stratified split; the best trial chosen on the dev
questions (report, gate, diff, staged search); the report's held-out check on the test ones."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ragbench import stats
from ragbench.config.experiment import ConfigError, parse_config
from ragbench.data.datasets import load_dataset
from ragbench.data.questions import Question
from ragbench.data.splits import assign_splits, dev_scores, splits_for
from ragbench.experiment.orchestrator import run
from ragbench.records import Record, ScoreRow
from ragbench.render.diff import diff_runs
from ragbench.render.report import load
from ragbench.results.gate import check_gate
from ragbench.results.heldout import held_out_frame
from ragbench.store import Store


def questions(n: int, kind: str | None = None, prefix: str = "q") -> list[Question]:
    return [Question(f"{prefix}{i:02d}", f"question {i}?", "", kind=kind) for i in range(n)]


def held_out_ids(splits: dict[str, str]) -> list[str]:
    return sorted(q for q, s in splits.items() if s == "test")


# --- the split itself ------------------------------------------------------------------------------


def test_split_is_seeded_sized_and_independent_of_order() -> None:
    qs = questions(20)
    splits = assign_splits(qs, 0.3, seed=0)
    assert list(splits) == [q.question_id for q in qs]  # every question, in dataset order
    assert len(held_out_ids(splits)) == 6  # round(20 * 0.3)
    assert assign_splits(list(reversed(qs)), 0.3, seed=0) == splits  # same ids: same split
    assert assign_splits(qs, 0.3, seed=0) == splits
    assert held_out_ids(assign_splits(qs, 0.3, seed=1)) != held_out_ids(splits)


def test_split_keeps_at_least_one_question_on_each_side() -> None:
    assert len(held_out_ids(assign_splits(questions(3), 0.01, seed=0))) == 1
    assert len(held_out_ids(assign_splits(questions(3), 0.99, seed=0))) == 2
    with pytest.raises(ValueError, match="1 question\\(s\\) cannot be split"):
        assign_splits(questions(1), 0.3, seed=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        assign_splits(questions(4), 1.0, seed=0)


def test_split_is_stratified_by_kind() -> None:
    qs = questions(6, "single", "s") + questions(4, "unanswerable", "u")
    kinds = {q.question_id: q.kind for q in qs}
    held = held_out_ids(assign_splits(qs, 0.5, seed=0))
    assert [kinds[q] for q in held].count("single") == 3
    assert [kinds[q] for q in held].count("unanswerable") == 2
    # 7 single + 3 multi at 0.3: 3 held out, quotas 2.1 and 0.9, the larger remainder wins
    qs = questions(7, "single", "s") + questions(3, "multi", "m")
    held = held_out_ids(assign_splits(qs, 0.3, seed=0))
    assert sum(q.startswith("s") for q in held) == 2 and sum(q.startswith("m") for q in held) == 1
    # a question without a kind forms its own stratum
    qs = questions(4, None, "n") + questions(4, "single", "s")
    held = held_out_ids(assign_splits(qs, 0.5, seed=3))
    assert sum(q.startswith("n") for q in held) == 2


def test_split_config(fake_config_data: dict[str, Any]) -> None:
    data = copy.deepcopy(fake_config_data)
    assert parse_config(data).split is None
    config = parse_config({**data, "seed": 5, "split": {"test": 0.3}})
    assert config.split is not None and config.split.test == 0.3 and config.split.seed is None
    qs = questions(10)
    assert splits_for(config, qs) == assign_splits(qs, 0.3, seed=5)  # the experiment's seed
    own = parse_config({**data, "seed": 5, "split": {"test": 0.3, "seed": 9}})
    assert splits_for(own, qs) == assign_splits(qs, 0.3, seed=9)
    assert splits_for(parse_config(data), qs) == {}
    for bad, message in [
        ({"test": 0}, "greater than 0"),
        ({"test": 1}, "less than 1"),
        ({"test": "0.3"}, "valid number"),
        ({"test": 0.3, "seeds": 1}, "seeds"),
        ({"seed": 1}, "test"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config({**data, "split": bad})


def test_dev_scores_keeps_dev_rows_or_everything_without_a_split() -> None:
    scores = pd.DataFrame({"question_id": ["a", "b", "c"], "value": [1.0, 0.0, 1.0]})
    assert list(dev_scores(scores, {"a": "dev", "b": "test", "c": "dev"}).question_id) == ["a", "c"]
    assert dev_scores(scores, {}) is scores


# --- the best trial is chosen on the dev questions -------------------------------------------------

DEV = [f"q{i:02d}" for i in range(7)]
TEST = ["q07", "q08", "q09"]
# Trial a: best on dev (6/7), 0 on test; trial b: 4/7 on dev, 3/3 on test, so best over all (7/10).
HITS = {
    "a": dict.fromkeys(DEV[:6], 1.0) | {"q06": 0.0} | dict.fromkeys(TEST, 0.0),
    "b": dict.fromkeys(DEV[:4], 1.0) | dict.fromkeys(DEV[4:], 0.0) | dict.fromkeys(TEST, 1.0),
}


def write_split_run(store: Store, run_id: str, with_split: bool = True) -> None:
    class Pipeline:
        def model_dump(self) -> dict[str, Any]:
            return {}

    class Trial:
        def __init__(self, trial_id: str, k: int) -> None:
            self.trial_id, self.label = trial_id, f"top_k={k}"
            self.overrides, self.pipeline = {"retrieval.top_k": k}, Pipeline()

    config = {"name": "held", "metrics": ["hit_rate"]}
    if with_split:
        config["split"] = {"test": 0.3, "seed": 0}
    store.start_run(run_id, "held", config, {}, None, True, "test")
    store.add_trials(run_id, [Trial("a", 2), Trial("b", 3)])
    records, rows = [], []
    for trial, values in HITS.items():
        for q, value in values.items():
            split = ("test" if q in TEST else "dev") if with_split else None
            records.append(Record(run_id, trial, q, f"{q}?", ["text"], ["d"], split=split))
            rows.append(ScoreRow(run_id, trial, q, "hit_rate", value))
    store.write(records, rows)
    store.finish_run(run_id, "finished")


@pytest.fixture(scope="module")
def split_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("split") / "held.duckdb"
    store = Store(db)
    write_split_run(store, "r-none", with_split=False)
    write_split_run(store, "r-split")
    return db


def test_report_chooses_on_dev_and_checks_on_test(split_db: Path) -> None:
    rep = load(split_db, run_id="r-split")
    assert rep.splits == dict.fromkeys(DEV, "dev") | dict.fromkeys(TEST, "test")
    assert rep.best == {"hit_rate": "a"}
    assert set(rep.summary.n) == {7}  # the table holds the dev questions only
    assert len(rep.scores) == 20  # every score is kept
    row = rep.held_out.iloc[0]
    assert (row.metric, row.trial_id, row.label) == ("hit_rate", "a", "top_k=2")
    assert row.dev_mean == pytest.approx(6 / 7) and row.dev_n == 7
    assert row.test_mean == 0.0 and row.test_n == 3
    assert row.dev_ci_low < row.dev_mean < row.dev_ci_high  # a Wilson interval, not a point
    text = rep.table
    assert "Held-out check:" in text
    assert "7 dev / 3 test questions (split test 0.3, seeded, stratified by kind)" in text
    assert "hit_rate: top_k=2: test 0.000 [" in text and "n=3 (dev 0.857 [" in text
    assert "## Held-out check" in rep.markdown()


def test_without_a_split_nothing_changes(split_db: Path) -> None:
    rep = load(split_db, run_id="r-none")
    assert rep.splits == {} and rep.held_out.empty
    assert rep.best == {"hit_rate": "b"}  # 7/10 beats 6/10 over every question
    assert "Held-out check" not in rep.table and "Held-out check" not in rep.markdown()


def test_gate_and_diff_pick_the_best_trial_on_dev(split_db: Path) -> None:
    store = Store(split_db, read_only=True)
    assert check_gate(store, "held", {"hit_rate": 0.5}).trial_id == "a"  # latest: r-split
    assert diff_runs(store, "r-none", "r-split").trial_b == "a"
    assert diff_runs(store, "r-split", "r-none").trial_b == "b"
    assert stats.best_trial(store.scores("r-split"), "hit_rate") == "b"  # over every question


def test_staged_search_ranks_on_dev_questions(
    make_qa_folder: Any, fake_config_data: dict[str, Any], tmp_path: Path
) -> None:
    from ragbench.config.experiment import expand
    from ragbench.experiment.context import RunContext
    from ragbench.experiment.staged import select_trials

    data = copy.deepcopy(fake_config_data)
    data |= {
        "dataset": {"loader": "qa-folder", "path": str(make_qa_folder())},
        "sweep": {"retrieval.top_k": [1, 2]},
        "staged": {"rank_by": "hit_rate", "top_n": 1},
        "split": {"test": 0.5},
    }
    config = parse_config(data)
    trials = expand(config)
    store = Store(tmp_path / "r.duckdb")
    store.start_run("r", config.name, {}, {}, None, True, "tiny")
    store.add_trials("r", trials)
    dataset = load_dataset(config.dataset)
    runner = RunContext.open(config, dataset, store, "r", False, False, None)
    assert sorted(runner.splits.values()) == ["dev", "test"]
    dev = next(q for q, s in runner.splits.items() if s == "dev")
    test = next(q for q, s in runner.splits.items() if s == "test")
    first, second = (t.trial_id for t in trials)
    # the second trial is better over both questions, the first on the dev question
    runner.rank_scores = [
        {"trial_id": first, "question_id": dev, "value": 1.0},
        {"trial_id": first, "question_id": test, "value": 0.0},
        {"trial_id": second, "question_id": dev, "value": 0.5},
        {"trial_id": second, "question_id": test, "value": 1.0},
    ]
    assert [t.trial_id for t in select_trials(runner, trials)] == [first]


# --- end to end ------------------------------------------------------------------------------------


def test_run_stores_each_questions_split_and_reports_it(
    fake_config_data: dict[str, Any], tmp_db: Path
) -> None:
    data = copy.deepcopy(fake_config_data) | {"limit": 10, "split": {"test": 0.4}}
    config = parse_config(data)
    result = run(config, db=tmp_db, progress=False)
    store = Store(tmp_db, read_only=True)
    expected = splits_for(config, load_dataset(config.dataset, limit=10).questions)
    assert store.question_splits(result.run_id) == expected
    assert sorted(expected.values()).count("test") == 4
    records = store.records_frame(result.run_id)
    assert len(records) == 40 and set(records.split) == {"dev", "test"}
    assert store.run_info(result.run_id).config["split"] == {
        "test": 0.4,
        "seed": None,
    }
    rep = load(tmp_db, run_id=result.run_id)
    assert set(rep.rankings["hit_rate"].n) == {6}  # ranked on the 6 dev questions
    assert list(rep.held_out.metric) == rep.metrics
    assert set(rep.held_out[rep.held_out.metric == "hit_rate"].test_n) == {4}
    assert "6 dev / 4 test questions (split test 0.4, seeded" in rep.table


def test_run_without_split_stores_none_and_keeps_its_config_hash(
    fake_config: Any, tmp_db: Path
) -> None:
    from ragbench.experiment.provenance import config_hash

    result = run(fake_config, db=tmp_db, progress=False, limit=3)
    store = Store(tmp_db, read_only=True)
    assert store.question_splits(result.run_id) == {}
    assert store.records_frame(result.run_id).split.isna().all()
    info = store.run_info(result.run_id)
    stored = info.config
    assert "split" not in stored  # the config as it was before `split:` existed
    assert info.config_hash == config_hash(stored)


def test_held_out_frame_without_split_is_empty() -> None:
    scores = pd.DataFrame(
        {"trial_id": ["a"], "label": ["a"], "question_id": ["q"], "metric": ["m"], "value": [1.0]}
    )
    assert held_out_frame(scores, {}, {"m": "a"}).empty
    frame = held_out_frame(scores, {"q": "dev"}, {"m": "a"})
    assert frame.iloc[0].dev_n == 1 and frame.iloc[0].test_n == 0
