"""DuckDB store: round trips, idempotent upserts, failed-metric rows, list columns, the cache."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ragbench.config.experiment import expand, parse_config
from ragbench.records import Record, RunStats, ScoreRow
from ragbench.store import Store, StoreError

RUN = "run-1"


def trials() -> list[Any]:
    return expand(parse_config({"name": "x", "sweep": {"retrieval.top_k": [2, 3]}}))


def record(trial_id: str, question_id: str, **extra: Any) -> Record:
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
    return Record(**(row | extra))


def score(
    trial_id: str, question_id: str, metric: str, value: float | None, **extra: Any
) -> ScoreRow:
    return ScoreRow(RUN, trial_id, question_id, metric, value, **extra)


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
    store.write(
        [record(t1.trial_id, "q1")],
        [score(t1.trial_id, "q1", "hit_rate", 1.0), score(t1.trial_id, "q1", "mrr", 0.5)],
    )
    store.write([record(t2.trial_id, "q1")], [score(t2.trial_id, "q1", "hit_rate", 0.0)])
    store.write(
        (),
        [
            score(
                t1.trial_id,
                "q1",
                "faithfulness",
                0.75,
                seconds=1.5,
                details=json.dumps({"trace": []}),
            )
        ],
    )
    store.finish_run(RUN, "finished", stats=RunStats(judged=1))

    info = store.run_info(RUN)
    assert store.run_info(RUN).stats == RunStats(judged=1)
    assert info.status == "finished"
    assert bool(info.fake_models) is True
    assert info.finished_at is not None
    assert info.config == {"name": "exp"}
    assert store.latest_run("exp") == RUN
    assert store.latest_run("other") is None
    has_record, scored = store.resume_state(RUN)
    assert has_record == {(t1.trial_id, "q1"), (t2.trial_id, "q1")}
    assert (t1.trial_id, "q1", "faithfulness") in scored and len(scored) == 4
    assert [r.key for r in store.records(RUN)] == [(t1.trial_id, "q1"), (t2.trial_id, "q1")]
    assert store.records(RUN)[0] == record(t1.trial_id, "q1")  # a Record round-trips exactly
    assert list(store.runs("exp").run_id) == [RUN]

    trial_rows = store.trials(RUN)
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
        store.write(
            [record(t1.trial_id, "q1", response=f"answer {value}")],
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
    store.write(
        (), [score(t1.trial_id, "q1", "faithfulness", None, error="judge failed after 3 attempts")]
    )
    row = store.query("SELECT value, error, value IS NULL AS is_null FROM scores").iloc[0]
    assert bool(row.is_null)
    assert row.value is None or math.isnan(row.value)
    assert row.error == "judge failed after 3 attempts"


def test_list_columns_survive_round_trip(store: Store) -> None:
    t1 = trials()[0]
    contexts = ["first chunk, with a comma", "second 'quoted' chunk", "ünïcode [1]"]
    store.write(
        [
            record(
                t1.trial_id,
                "q9",
                retrieved_contexts=contexts,
                retrieved_doc_ids=["a.md", "a.md", "z.txt"],
                cited_doc_ids=[],
            )
        ],
    )
    row = store.query("SELECT * FROM records WHERE question_id = 'q9'").iloc[0]
    assert list(row.retrieved_contexts) == contexts
    assert list(row.retrieved_doc_ids) == ["a.md", "a.md", "z.txt"]
    assert list(row.cited_doc_ids) == []
    assert row.response is None


def test_failed_run_status_and_message(store: Store) -> None:
    store.finish_run(RUN, "failed", "RuntimeError: boom")
    info = store.run_info(RUN)
    assert info.status == "failed" and info.message == "RuntimeError: boom"
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
    bad_score = ScoreRow(RUN, t1.trial_id, "q1", None, 1.0)  # type: ignore[arg-type]
    with pytest.raises(duckdb.ConstraintException):  # metric NOT NULL
        store.write([record(t1.trial_id, "q1")], [bad_score])
    assert store.resume_state(RUN) == (set(), set())  # the record was not committed either


def test_score_row_contract() -> None:
    with pytest.raises(ValueError, match="exactly one of value and error"):
        ScoreRow(RUN, "t", "q", "mrr", None)
    with pytest.raises(ValueError, match="exactly one of value and error"):
        ScoreRow(RUN, "t", "q", "mrr", 0.5, error="both")
    with pytest.raises(ValueError, match="not finite"):
        ScoreRow(RUN, "t", "q", "mrr", float("nan"))


def test_batch_writer_commits_per_batch_and_on_exit(store: Store) -> None:
    t1 = trials()[0]
    with store.batch(max_items=3, max_seconds=3600) as batch:
        for i in range(7):
            batch.add([record(t1.trial_id, f"q{i}")], [score(t1.trial_id, f"q{i}", "mrr", 1.0)])
            committed = len(store.resume_state(RUN)[0])
            assert committed == (i + 1) // 3 * 3  # nothing is written before a batch is full
    assert batch.transactions == 3  # 3 + 3 + the remaining 1 on exit
    assert len(store.resume_state(RUN)[0]) == 7


def test_batch_writer_keeps_completed_work_when_the_caller_fails(store: Store) -> None:
    t1 = trials()[0]
    with pytest.raises(RuntimeError), store.batch(max_items=100, max_seconds=3600) as batch:
        batch.add([record(t1.trial_id, "q1")], [score(t1.trial_id, "q1", "mrr", 1.0)])
        raise RuntimeError("crash after one question")
    assert store.resume_state(RUN)[0] == {(t1.trial_id, "q1")}


def test_redact_applies_to_every_written_string(tmp_db: Path) -> None:
    secret = "sk-test-SECRET"
    store = Store(tmp_db, redact=lambda text: text.replace(secret, "***"))
    store.start_run(RUN, "exp", {"key": secret}, {"url": secret}, None, False, "demo")
    store.add_trials(RUN, trials())
    t1 = trials()[0]
    store.write(
        [record(t1.trial_id, "q1", response=f"echo {secret}")],
        [score(t1.trial_id, "q1", "faithfulness", None, error=f"401: bad key {secret}")],
    )
    store.cache_put("generation", "k", {"response": secret})
    store.finish_run(RUN, "failed", f"boom {secret}", stats=RunStats(warnings=[f"x {secret}"]))
    assert secret.encode() not in _all_text(tmp_db)
    assert "***" in store.run_info(RUN).message


def _all_text(path: Path) -> bytes:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = []
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            out.append(con.execute(f"SELECT * FROM {table}").df().to_csv())
        return "".join(out).encode()
    finally:
        con.close()


# --- unusable files: one clear line each, never a DuckDB traceback ------------------------------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)"),
        (lambda p: p.write_text("name,value\n1,2\n"), "not a DuckDB database"),
        (lambda p: p.write_bytes(b"%PDF-1.7\n" + b"x" * 4000), "not a DuckDB database"),
    ],
    ids=["folder", "zero-bytes", "csv", "pdf"],
)
def test_unusable_results_file_is_one_clear_error(tmp_path: Path, make: Any, expected: str) -> None:
    path = tmp_path / "results.duckdb"
    make(path)
    for read_only in (False, True):
        with pytest.raises(StoreError, match=expected) as info:
            Store(path, read_only=read_only)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_results_file_is_one_clear_error(tmp_path: Path, store: Store) -> None:
    store.finish_run(RUN, "finished")
    data = store.path.read_bytes()
    broken = tmp_path / "truncated.duckdb"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreError, match="corrupt or truncated|not a DuckDB"):
        Store(broken, read_only=True).runs()


def test_read_only_file_can_be_read_not_written(store: Store) -> None:
    store.finish_run(RUN, "finished")
    store.path.chmod(0o444)
    try:
        reader = Store(store.path, read_only=True)
        assert reader.latest_run("exp") == RUN
        assert reader.scores(RUN).empty
    finally:
        store.path.chmod(0o644)


def test_missing_file_read_only_says_not_found(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not found"):
        Store(tmp_path / "nope.duckdb", read_only=True)


V1_SCHEMA = """
CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, experiment VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL, git_sha VARCHAR,
  config_json VARCHAR NOT NULL, versions_json VARCHAR NOT NULL, fake_models BOOLEAN NOT NULL,
  dataset VARCHAR, message VARCHAR);
CREATE TABLE trials (run_id VARCHAR NOT NULL, trial_id VARCHAR NOT NULL, label VARCHAR NOT NULL,
  params_json VARCHAR NOT NULL, overrides_json VARCHAR NOT NULL, stage INTEGER, stage_note VARCHAR,
  PRIMARY KEY (run_id, trial_id));
CREATE TABLE records (run_id VARCHAR NOT NULL, trial_id VARCHAR NOT NULL,
  question_id VARCHAR NOT NULL, user_input VARCHAR NOT NULL, retrieved_contexts VARCHAR[] NOT NULL,
  retrieved_doc_ids VARCHAR[] NOT NULL, response VARCHAR, cited_doc_ids VARCHAR[],
  reference VARCHAR, latency_s DOUBLE, retrieval_s DOUBLE, generation_s DOUBLE,
  prompt_tokens INTEGER, completion_tokens INTEGER, PRIMARY KEY (run_id, trial_id, question_id));
CREATE TABLE scores (run_id VARCHAR NOT NULL, trial_id VARCHAR NOT NULL,
  question_id VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE, error VARCHAR,
  seconds DOUBLE, details VARCHAR, PRIMARY KEY (run_id, trial_id, question_id, metric));
CREATE TABLE embeddings (model_id VARCHAR NOT NULL, text_hash VARCHAR NOT NULL,
  vector FLOAT[] NOT NULL, PRIMARY KEY (model_id, text_hash));
CREATE TABLE cache (kind VARCHAR NOT NULL, key VARCHAR NOT NULL, value_json VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL, PRIMARY KEY (kind, key));
INSERT INTO runs VALUES ('old', 'exp', now(), now(), 'finished', NULL, '{}', '{}', false, 'demo',
  '{"judged": 3}');
INSERT INTO trials VALUES ('old', 't1', 'top_k=2', '{}', '{}', NULL, NULL);
INSERT INTO records VALUES ('old', 't1', 'q1', 'question?', ['chunk'], ['a.md'], 'answer', [],
  'ref', 1.5, 0.5, 1.0, 10, 5);
INSERT INTO scores VALUES ('old', 't1', 'q1', 'mrr', 0.5, NULL, NULL, NULL);
"""


def test_version_1_files_are_migrated_and_keep_their_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(V1_SCHEMA)
    con.close()
    reader = Store(path, read_only=True)  # reading an old file needs no migration
    assert reader.latest_run("exp") == "old" and reader.run_info("old").stats == RunStats(judged=3)
    assert reader.question_splits("old") == {}  # no split column yet: a run without a split
    store = Store(path)
    assert store.question_splits("old") == {}  # the column is added, NULL for the old records
    assert store.run_info("old").stats == RunStats(judged=3)  # kept in message by version 1
    assert list(store.scores("old").value) == [0.5]
    assert store.query("SELECT value FROM meta WHERE key = 'schema_version'").value[0] == "4"


def test_resumed_run_keeps_its_start_time_and_config(tmp_path) -> None:
    store = Store(tmp_path / "r.duckdb")
    store.start_run("r1", "exp", {"v": 1}, {}, None, True, "demo")
    first = store.run_info("r1")
    store.finish_run("r1", "failed", "killed")
    store.start_run("r1", "exp", {"v": 2}, {}, None, True, "demo")
    again = store.run_info("r1")
    assert again.started_at == first.started_at
    assert again.config == first.config
    assert again.status == "running"
    assert again.finished_at is None


def test_version_1_files_still_open_in_ragbench_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ragbench.cli import app
    from ragbench.render.report import load

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(V1_SCHEMA)
    con.close()
    rep = load(path, experiment="exp")  # read-only: the old file is not migrated by reading
    assert rep.run_id == "old" and "top_k=2" in rep.table
    result = CliRunner().invoke(app, ["report", "exp", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert "0.500" in result.output and "top_k=2" in result.output


# A version-3 file: every table as version 3 wrote it (stage an integer, no stage_reached), one
# run of three trials that staged search split: two went on (stage 2), one was pruned (stage 1).
V3_SCHEMA = """
CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, experiment VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL, git_sha VARCHAR,
  config_json VARCHAR NOT NULL, versions_json VARCHAR NOT NULL, fake_models BOOLEAN NOT NULL,
  dataset VARCHAR, message VARCHAR, stats_json VARCHAR, config_hash VARCHAR, data_hash VARCHAR);
CREATE TABLE trials (run_id VARCHAR NOT NULL, trial_id VARCHAR NOT NULL, label VARCHAR NOT NULL,
  params_json VARCHAR NOT NULL, overrides_json VARCHAR NOT NULL, stage INTEGER, stage_note VARCHAR,
  PRIMARY KEY (run_id, trial_id));
CREATE TABLE records (run_id VARCHAR NOT NULL, trial_id VARCHAR NOT NULL,
  question_id VARCHAR NOT NULL, user_input VARCHAR NOT NULL, retrieved_contexts VARCHAR[] NOT NULL,
  retrieved_doc_ids VARCHAR[] NOT NULL, response VARCHAR, cited_doc_ids VARCHAR[],
  reference VARCHAR, latency_s DOUBLE, retrieval_s DOUBLE, generation_s DOUBLE,
  prompt_tokens INTEGER, completion_tokens INTEGER, split VARCHAR,
  PRIMARY KEY (run_id, trial_id, question_id));
CREATE TABLE scores (run_id VARCHAR NOT NULL, trial_id VARCHAR NOT NULL,
  question_id VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE, error VARCHAR,
  seconds DOUBLE, details VARCHAR, PRIMARY KEY (run_id, trial_id, question_id, metric));
CREATE TABLE embeddings (model_id VARCHAR NOT NULL, text_hash VARCHAR NOT NULL,
  vector FLOAT[] NOT NULL, PRIMARY KEY (model_id, text_hash));
CREATE TABLE cache (kind VARCHAR NOT NULL, key VARCHAR NOT NULL, value_json VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL, PRIMARY KEY (kind, key));
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
INSERT INTO meta VALUES ('schema_version', '3');
INSERT INTO runs VALUES ('v3', 'exp', now(), now(), 'finished', NULL,
  '{"metrics": ["mrr"]}', '{}', false, 'demo', NULL, '{"judged": 0}', 'c', 'd');
INSERT INTO trials VALUES
  ('v3', 't1', 'top_k=1', '{}', '{}', 1, 'pruned: mrr 0.250, rank 3 of 3; top 2 go on'),
  ('v3', 't2', 'top_k=2', '{}', '{}', 2, 'kept: mrr 0.500, rank 2 of 3 (top 2)'),
  ('v3', 't3', 'top_k=3', '{}', '{}', 2, 'kept: mrr 0.750, rank 1 of 3 (top 2)');
INSERT INTO scores VALUES ('v3', 't1', 'q1', 'mrr', 0.25, NULL, NULL, NULL),
  ('v3', 't2', 'q1', 'mrr', 0.5, NULL, NULL, NULL), ('v3', 't3', 'q1', 'mrr', 0.75, NULL, NULL, NULL);
"""
V3_NOTES = [
    "top_k=2: kept: mrr 0.500, rank 2 of 3 (top 2)",
    "top_k=3: kept: mrr 0.750, rank 1 of 3 (top 2)",
    "top_k=1: pruned: mrr 0.250, rank 3 of 3; top 2 go on",
]


def test_version_3_integer_stages_read_as_names_and_report_the_same(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ragbench.cli import app
    from ragbench.render.report import load

    path = tmp_path / "v3.duckdb"
    con = duckdb.connect(str(path))
    con.execute(V3_SCHEMA)
    con.close()
    reader = Store(path, read_only=True)  # not migrated: the file has the integer column only
    stages = dict(zip(reader.trials("v3").label, reader.trials("v3").stage, strict=True))
    assert stages == {"top_k=1": "retrieval", "top_k=2": "answer+judge", "top_k=3": "answer+judge"}
    rep = load(path, experiment="exp")
    assert rep.stage_notes == V3_NOTES  # the trials that went on first, as version 3 showed them
    result = CliRunner().invoke(app, ["report", "exp", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert all(note in result.output for note in V3_NOTES)
    store = Store(path)  # migrated: the name column is added, NULL for the old rows
    assert store.query("SELECT value FROM meta WHERE key = 'schema_version'").value[0] == "4"
    assert store.query("SELECT stage_reached FROM trials").stage_reached.isna().all()
    assert dict(zip(store.trials("v3").label, store.trials("v3").stage, strict=True)) == stages
    assert load(path, experiment="exp").stage_notes == V3_NOTES
