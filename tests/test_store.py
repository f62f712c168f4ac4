"""DuckDB store: round trips, idempotent upserts, failed-metric rows, list columns, the cache."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from ragbench.config import expand, parse_config
from ragbench.store import Store

RUN = "run-1"


def trials() -> list[Any]:
    return expand(parse_config({"name": "x", "sweep": {"retrieval.top_k": [2, 3]}}))


def record(trial_id: str, question_id: str, **extra: Any) -> dict[str, Any]:
    row = {
        "run_id": RUN,
        "trial_id": trial_id,
        "question_id": question_id,
        "user_input": f"question {question_id}?",
        "retrieved_contexts": ["first chunk, with a comma", "second 'quoted' chunk"],
        "retrieved_doc_ids": ["a.md", "b/c.html"],
        "reference": "ref",
        "retrieval_s": 0.01,
        "latency_s": 0.01,
    }
    return row | extra


def score(
    trial_id: str, question_id: str, metric: str, value: float | None, **extra: Any
) -> dict[str, Any]:
    return {
        "run_id": RUN,
        "trial_id": trial_id,
        "question_id": question_id,
        "metric": metric,
        "value": value,
    } | extra


@pytest.fixture
def store(tmp_db: Path) -> Store:
    s = Store(tmp_db)
    s.start_run(RUN, "exp", {"name": "exp"}, {"ragbench": "0.1.0"}, None, True, "demo")
    s.add_trials(RUN, trials())
    return s


def test_store_creates_file_and_tables(tmp_db: Path) -> None:
    Store(tmp_db)
    assert tmp_db.is_file()
    tables = set(Store(tmp_db).query("SELECT table_name FROM information_schema.tables").table_name)
    assert {"runs", "trials", "records", "scores", "cache"} <= tables


def test_round_trip(store: Store) -> None:
    t1, t2 = trials()
    store.add_result(
        record(t1.trial_id, "q1"),
        [score(t1.trial_id, "q1", "hit_rate", 1.0), score(t1.trial_id, "q1", "mrr", 0.5)],
    )
    store.add_result(record(t2.trial_id, "q1"), [score(t2.trial_id, "q1", "hit_rate", 0.0)])
    store.add_scores(
        [
            score(
                t1.trial_id,
                "q1",
                "faithfulness",
                0.75,
                seconds=1.5,
                details=json.dumps({"trace": []}),
            )
        ]
    )
    store.finish_run(RUN, "finished")

    info = store.run_info(RUN)
    assert info["status"] == "finished"
    assert bool(info["fake_models"]) is True
    assert info["finished_at"] is not None
    assert json.loads(info["config_json"]) == {"name": "exp"}
    assert store.latest_run("exp") == RUN
    assert store.latest_run("other") is None
    assert store.done_questions(RUN) == {(t1.trial_id, "q1"), (t2.trial_id, "q1")}

    trial_rows = store.query("SELECT * FROM trials WHERE run_id = ? ORDER BY label", [RUN])
    assert list(trial_rows.label) == ["top_k=2", "top_k=3"]
    assert json.loads(trial_rows.params_json[0])["retrieval"]["top_k"] == 2
    assert json.loads(trial_rows.overrides_json[1]) == {"retrieval.top_k": 3}

    scores = store.scores(RUN)
    assert len(scores) == 4
    row = scores[(scores.metric == "faithfulness")].iloc[0]
    assert row.value == 0.75 and row.seconds == 1.5 and row.label == "top_k=2"
    assert json.loads(row.details) == {"trace": []}
    assert set(scores[scores.trial_id == t1.trial_id].metric) == {"hit_rate", "mrr", "faithfulness"}


def test_upserts_are_idempotent(store: Store) -> None:
    t1 = trials()[0]
    for value in (0.0, 1.0):
        store.add_result(
            record(t1.trial_id, "q1", response=f"answer {value}"),
            [score(t1.trial_id, "q1", "hit_rate", value)],
        )
    store.add_trials(RUN, trials())
    store.start_run(RUN, "exp", {"name": "exp"}, {}, None, True, "demo")
    assert store.query("SELECT count(*) AS n FROM records").n[0] == 1
    assert store.query("SELECT count(*) AS n FROM scores").n[0] == 1
    assert store.query("SELECT count(*) AS n FROM trials").n[0] == 2
    assert store.query("SELECT count(*) AS n FROM runs").n[0] == 1
    assert store.query("SELECT value FROM scores").value[0] == 1.0  # the last write wins
    assert store.query("SELECT response FROM records").response[0] == "answer 1.0"


def test_failed_metric_row_has_null_value_and_error(store: Store) -> None:
    t1 = trials()[0]
    store.add_scores(
        [score(t1.trial_id, "q1", "faithfulness", None, error="judge failed after 3 attempts")]
    )
    row = store.query("SELECT value, error, value IS NULL AS is_null FROM scores").iloc[0]
    assert bool(row.is_null)
    assert row.value is None or math.isnan(row.value)
    assert row.error == "judge failed after 3 attempts"


def test_list_columns_survive_round_trip(store: Store) -> None:
    t1 = trials()[0]
    contexts = ["first chunk, with a comma", "second 'quoted' chunk", "ünïcode [1]"]
    store.add_result(
        record(
            t1.trial_id,
            "q9",
            retrieved_contexts=contexts,
            retrieved_doc_ids=["a.md", "a.md", "z.txt"],
            cited_doc_ids=[],
        ),
        [],
    )
    row = store.query("SELECT * FROM records WHERE question_id = 'q9'").iloc[0]
    assert list(row.retrieved_contexts) == contexts
    assert list(row.retrieved_doc_ids) == ["a.md", "a.md", "z.txt"]
    assert list(row.cited_doc_ids) == []
    assert row.response is None


def test_failed_run_status_and_message(store: Store) -> None:
    store.finish_run(RUN, "failed", "RuntimeError: boom")
    info = store.run_info(RUN)
    assert info["status"] == "failed" and info["message"] == "RuntimeError: boom"
    with pytest.raises(KeyError):
        store.run_info("no-such-run")


def test_latest_run_prefers_finished(store: Store) -> None:
    store.finish_run(RUN, "finished")
    store.start_run("run-2", "exp", {}, {}, None, False, "demo")  # newer, still running
    assert store.latest_run("exp") == RUN
    store.finish_run("run-2", "finished")
    assert store.latest_run("exp") == "run-2"


def test_cache_get_put(tmp_db: Path) -> None:
    store = Store(tmp_db)
    assert store.cache_get("judge", "k1") is None
    value = {"value": 0.5, "error": None, "details": {"trace": [{"x": [1, 2]}]}}
    store.cache_put("judge", "k1", value)
    assert store.cache_get("judge", "k1") == value
    assert store.cache_get("generation", "k1") is None  # kinds are separate namespaces
    store.cache_put("judge", "k1", {"value": 1.0})
    assert store.cache_get("judge", "k1") == {"value": 1.0}
    assert Store(tmp_db).cache_get("judge", "k1") == {"value": 1.0}  # persisted in the file


def test_failed_transaction_rolls_back(store: Store) -> None:
    t1 = trials()[0]
    bad_score = {"run_id": RUN, "trial_id": t1.trial_id, "question_id": "q1", "metric": None}
    with pytest.raises(duckdb.ConstraintException):  # metric NOT NULL
        store.add_result(record(t1.trial_id, "q1"), [bad_score])
    assert store.done_questions(RUN) == set()  # the record was not committed either


def test_resumed_run_keeps_its_start_time_and_config(tmp_path) -> None:
    store = Store(tmp_path / "r.duckdb")
    store.start_run("r1", "exp", {"v": 1}, {}, None, True, "demo")
    first = store.run_info("r1")
    store.finish_run("r1", "failed", "killed")
    store.start_run("r1", "exp", {"v": 2}, {}, None, True, "demo")
    again = store.run_info("r1")
    assert again["started_at"] == first["started_at"]
    assert again["config_json"] == first["config_json"]
    assert again["status"] == "running"
    assert pd.isna(again["finished_at"])
