"""DuckDB results store: the one module that owns the schema.

Contract:
- Tables ``runs``, ``trials``, ``records``, ``scores`` (long format: one row per question per
  metric; a failed metric is a row with ``value`` NULL and ``error`` saying why) and ``cache``
  (content-hash keyed results of expensive calls, shared by every run in the file).
- Every write is an upsert on the table's natural key, so repeating a write is harmless.
- DuckDB allows one writing process per file, so the store never holds the file open: each call
  opens it, writes one transaction and closes it, retrying with back-off while another process holds
  the lock. Several runs can therefore share one file; each waits milliseconds, not a whole run.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    experiment VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,          -- running | finished | failed
    git_sha VARCHAR,
    config_json VARCHAR NOT NULL,
    versions_json VARCHAR NOT NULL,   -- package versions and model identifiers/hashes
    fake_models BOOLEAN NOT NULL,     -- true when any trial used a test double
    dataset VARCHAR,
    message VARCHAR                   -- why a run failed
);
CREATE TABLE IF NOT EXISTS trials (
    run_id VARCHAR NOT NULL,
    trial_id VARCHAR NOT NULL,
    label VARCHAR NOT NULL,           -- the swept values, e.g. "chunk_size=128, top_k=2"
    params_json VARCHAR NOT NULL,     -- full resolved pipeline config
    overrides_json VARCHAR NOT NULL,  -- only the swept keys
    stage INTEGER,                    -- staged search: 1 = pruned after retrieval, 2 = went on
    stage_note VARCHAR,               -- why it was kept or pruned
    PRIMARY KEY (run_id, trial_id)
);
CREATE TABLE IF NOT EXISTS records (
    run_id VARCHAR NOT NULL,
    trial_id VARCHAR NOT NULL,
    question_id VARCHAR NOT NULL,
    user_input VARCHAR NOT NULL,
    retrieved_contexts VARCHAR[] NOT NULL,
    retrieved_doc_ids VARCHAR[] NOT NULL,
    response VARCHAR,                 -- NULL when the question was not answered (judge_limit)
    cited_doc_ids VARCHAR[],
    reference VARCHAR,
    latency_s DOUBLE,                 -- retrieval + generation
    retrieval_s DOUBLE,
    generation_s DOUBLE,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    PRIMARY KEY (run_id, trial_id, question_id)
);
CREATE TABLE IF NOT EXISTS scores (
    run_id VARCHAR NOT NULL,
    trial_id VARCHAR NOT NULL,
    question_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,                     -- NULL exactly when error is set
    error VARCHAR,
    seconds DOUBLE,
    details VARCHAR,                  -- judge reasons etc., JSON
    PRIMARY KEY (run_id, trial_id, question_id, metric)
);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id VARCHAR NOT NULL,        -- models.embedding_id: which model made the vector
    text_hash VARCHAR NOT NULL,       -- sha256 of the exact text embedded
    vector FLOAT[] NOT NULL,
    PRIMARY KEY (model_id, text_hash)
);
CREATE TABLE IF NOT EXISTS cache (
    kind VARCHAR NOT NULL,            -- generation | judge
    key VARCHAR NOT NULL,             -- content hash of everything that determines the result
    value_json VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, key)
);
"""


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def connect(path: str | Path, lock_timeout_s: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a DuckDB file for one transaction, retrying with back-off while another process
    holds its lock; commits on success, rolls back on any error, always closes the file."""
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
    try:
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


class Store:
    """Results in one DuckDB file, opened per transaction (see module docstring)."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            con.execute(SCHEMA)

    def connect(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A short-lived connection inside a transaction; retries while another process writes."""
        return connect(self.path, self.lock_timeout_s)

    # --- writes -----------------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        experiment: str,
        config: dict[str, Any],
        versions: dict[str, Any],
        git_sha: str | None,
        fake_models: bool,
        dataset: str,
    ) -> None:
        """Record a new run, or mark a resumed one running again (keeping its start and config)."""
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, NULL, 'running', ?, ?, ?, ?, ?, NULL) "
                "ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL",
                [
                    run_id,
                    experiment,
                    now(),
                    git_sha,
                    json.dumps(config),
                    json.dumps(versions),
                    fake_models,
                    dataset,
                ],
            )

    def finish_run(self, run_id: str, status: str, message: str | None = None) -> None:
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, message = ? WHERE run_id = ?",
                [now(), status, message, run_id],
            )

    def add_trials(self, run_id: str, trials: Sequence[Any]) -> None:
        with self.connect() as con:
            con.executemany(
                "INSERT INTO trials VALUES (?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT DO NOTHING",
                [
                    [
                        run_id,
                        t.trial_id,
                        t.label,
                        json.dumps(t.pipeline.model_dump()),
                        json.dumps(t.overrides, default=str),
                    ]
                    for t in trials
                ],
            )

    def set_stage(self, run_id: str, stages: dict[str, tuple[int, str]]) -> None:
        """Record which trials staged search kept (2) or pruned (1), and why."""
        with self.connect() as con:
            con.executemany(
                "UPDATE trials SET stage = ?, stage_note = ? WHERE run_id = ? AND trial_id = ?",
                [[stage, note, run_id, tid] for tid, (stage, note) in stages.items()],
            )

    def add_result(self, record: dict[str, Any], scores: Sequence[dict[str, Any]]) -> None:
        """One question's record and its scores, in one transaction (all or nothing)."""
        with self.connect() as con:
            cols = list(record)
            con.execute(
                f"INSERT OR REPLACE INTO records ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})",
                [record[c] for c in cols],
            )
            self._insert_scores(con, scores)

    def add_scores(self, scores: Sequence[dict[str, Any]]) -> None:
        with self.connect() as con:
            self._insert_scores(con, scores)

    @staticmethod
    def _insert_scores(con: duckdb.DuckDBPyConnection, scores: Sequence[dict[str, Any]]) -> None:
        if not scores:
            return
        con.executemany(
            "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    s["run_id"],
                    s["trial_id"],
                    s["question_id"],
                    s["metric"],
                    s.get("value"),
                    s.get("error"),
                    s.get("seconds"),
                    s.get("details"),
                ]
                for s in scores
            ],
        )

    # --- cache ------------------------------------------------------------------------------------

    def cache_get(self, kind: str, key: str) -> Any | None:
        with self.connect() as con:
            row = con.execute(
                "SELECT value_json FROM cache WHERE kind = ? AND key = ?", [kind, key]
            ).fetchone()
        return json.loads(row[0]) if row else None

    def cache_put(self, kind: str, key: str, value: Any) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?)",
                [kind, key, json.dumps(value), now()],
            )

    def embeddings_get(self, model_id: str, hashes: set[str]) -> dict[str, list[float]]:
        """Cached vectors for the given text hashes (missing ones are simply absent)."""
        if not hashes:
            return {}
        wanted = pd.DataFrame({"text_hash": sorted(hashes)})
        with self.connect() as con:
            con.register("wanted", wanted)
            rows = con.execute(
                "SELECT e.text_hash, e.vector FROM embeddings e JOIN wanted USING (text_hash) "
                "WHERE e.model_id = ?",
                [model_id],
            ).fetchall()
        return {h: v for h, v in rows}

    def embeddings_put(self, model_id: str, vectors: dict[str, list[float]]) -> None:
        if not vectors:
            return
        frame = pd.DataFrame(
            {"model_id": model_id, "text_hash": list(vectors), "vector": list(vectors.values())}
        )
        with self.connect() as con:
            con.register("fresh", frame)
            con.execute(
                "INSERT OR IGNORE INTO embeddings SELECT model_id, text_hash, "
                "CAST(vector AS FLOAT[]) FROM fresh"
            )

    # --- reads ------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, list(params)).df()

    def latest_run(self, experiment: str) -> str | None:
        """The newest run of an experiment that finished (or, failing that, any run)."""
        df = self.query(
            "SELECT run_id FROM runs WHERE experiment = ? "
            "ORDER BY (status = 'finished') DESC, started_at DESC LIMIT 1",
            [experiment],
        )
        return None if df.empty else str(df.run_id.iloc[0])

    def done_questions(self, run_id: str) -> set[tuple[str, str]]:
        """(trial_id, question_id) pairs whose record is committed (used by resume)."""
        df = self.query("SELECT trial_id, question_id FROM records WHERE run_id = ?", [run_id])
        return set(zip(df.trial_id, df.question_id, strict=True))

    def scores(self, run_id: str) -> pd.DataFrame:
        """Long scores joined with trial labels: one row per (trial, question, metric)."""
        return self.query(
            "SELECT s.*, t.label, t.overrides_json FROM scores s "
            "JOIN trials t USING (run_id, trial_id) WHERE s.run_id = ? "
            "ORDER BY t.label, s.question_id, s.metric",
            [run_id],
        )

    def run_info(self, run_id: str) -> dict[str, Any]:
        df = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if df.empty:
            raise KeyError(f"no run {run_id} in {self.path}")
        return df.iloc[0].to_dict()
