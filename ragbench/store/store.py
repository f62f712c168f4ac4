"""The results file: :class:`Store` reads and writes one DuckDB file (the SQL of the results).

Contract:
- Tables ``runs``, ``trials`` (with the stage each reached under staged search), ``records``
  (one :class:`~ragbench.records.Record` per row), ``scores`` (long format, one
  :class:`~ragbench.records.ScoreRow` per row; a failure has ``value`` NULL and ``error`` saying
  why), ``embeddings`` and ``cache`` (content-hash keyed results of expensive calls, shared by
  every run in the file). The schema and its migrations live in
  ``schema.py``; files written by older versions are migrated on open, never rewritten; a file
  of a newer version is refused (``schema.check_version``), for reading and writing.
- Writes are upserts on each table's natural key, so repeating one is harmless. A run's records
  and scores are written in batches (:meth:`Store.batch`): one transaction per batch of questions
  or per second of work, whichever comes first, so a crash loses at most one batch. A batch may
  carry cache entries too (``cache_put`` deferred: see ``store/buffered.py``).
- DuckDB allows one writing process per file, so the store never holds the file open: each call
  opens it for one transaction and retries while another process holds the lock. Several runs can
  share one file. ``read_only=True`` opens for reading only (reports, gates, notebooks work on a
  read-only file); every unusable file becomes a one-line :class:`StoreError`.
- People's labels of judged items are ``scores`` rows of metric ``human:<metric>``; their SQL is
  ``store/labels.py``'s, and ``scores`` leaves them out.
- Typed reads (``scores``, ``trials``, ``records``, ``question_splits``, ``latencies``,
  ``run_info`` (a typed :class:`~ragbench.records.RunInfo`), ``runs``, ``latest_run``) are the
  only way other modules see the database. Rows are read by column name, never by position.
- A trial's stage is a name (``records.STAGES``), stored in ``trials.stage_reached``;
  ``trials()`` returns it as a name for files of every version (version 3 and older stored only
  the integer ``trials.stage``: 1 for "pruned after retrieval", 2 for "went on", which new runs
  still write beside the name, for readers of those versions).
- An optional ``redact`` function is applied to every string written (config, errors, answers,
  statistics), so no configured secret reaches the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ragbench.records import (
    ANSWER_JUDGE,
    RECORD_COLUMNS,
    RETRIEVAL,
    STAGES,
    Record,
    RunInfo,
    RunStats,
    ScoreRow,
)
from ragbench.store import rows
from ragbench.store.buffered import BatchWriter
from ragbench.store.connection import StoreError, connect
from ragbench.store.rows import CacheEntry, Redact
from ragbench.store.schema import MIGRATIONS, SCHEMA, check_version

HUMAN = "human:"  # the metric prefix of people's labels (``store.labels``, ``metrics.HUMAN``)


class Store:
    """Results in one DuckDB file, opened per transaction (see module docstring)."""

    def __init__(
        self,
        path: str | Path,
        lock_timeout_s: float = 120.0,
        read_only: bool = False,
        redact: Redact | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.read_only = read_only
        self.redact: Redact = redact or (lambda text: text)
        if read_only:
            with self.connect() as con:  # fail now, with the file named, if it cannot be read
                check_version(con, self.path)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of results file {self.path}: {exc.strerror}"
            ) from None
        with self.connect() as con:
            check_version(con, self.path)  # a newer file is neither migrated nor written
            con.execute(SCHEMA)
            for statement in MIGRATIONS:
                con.execute(statement)

    def connect(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A short-lived connection inside a transaction; retries while another process writes."""
        return connect(self.path, self.lock_timeout_s, read_only=self.read_only)

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self.redact(value)

    # --- runs and trials ----------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        experiment: str,
        config: dict[str, Any],
        versions: dict[str, Any],
        git_sha: str | None,
        fake_models: bool,
        dataset: str,
        config_hash: str | None = None,
        data_hash: str | None = None,
    ) -> None:
        """Record a new run, or mark a resumed one running again (keeping its start and config)."""
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs (run_id, experiment, started_at, status, git_sha, config_json, "
                "versions_json, fake_models, dataset, config_hash, data_hash) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL, "
                "message = NULL",
                [
                    run_id,
                    experiment,
                    rows.now(),
                    git_sha,
                    self.redact(rows.dumps(config)),
                    self.redact(rows.dumps(versions)),
                    fake_models,
                    dataset,
                    config_hash,
                    data_hash,
                ],
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        message: str | None = None,
        stats: RunStats | None = None,
    ) -> None:
        """Close a run: its status, why it failed (``message``) and its work statistics."""
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, message = ?, "
                "stats_json = coalesce(?, stats_json) WHERE run_id = ?",
                [
                    rows.now(),
                    status,
                    self._text(message),
                    None if stats is None else self.redact(rows.dumps(stats.as_dict())),
                    run_id,
                ],
            )

    def add_trials(self, run_id: str, trials: Sequence[Any]) -> None:
        with self.connect() as con:
            con.executemany(
                "INSERT INTO trials (run_id, trial_id, label, params_json, overrides_json) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    [
                        run_id,
                        t.trial_id,
                        self.redact(t.label),
                        self.redact(rows.dumps(t.pipeline.model_dump())),
                        self.redact(rows.dumps(t.overrides)),
                    ]
                    for t in trials
                ],
            )

    def set_stage(self, run_id: str, stages: dict[str, tuple[str, str]]) -> None:
        """Record the stage each trial reached under staged search (a name of ``STAGES``: pruned
        trials reached ``retrieval``, kept ones ``answer+judge``) and why."""
        unknown = sorted({stage for stage, _ in stages.values()} - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
        legacy = {RETRIEVAL: 1, ANSWER_JUDGE: 2}  # the integer stage versions <= 3 read
        with self.connect() as con:
            con.executemany(
                "UPDATE trials SET stage_reached = ?, stage = ?, stage_note = ? "
                "WHERE run_id = ? AND trial_id = ?",
                [
                    [stage, legacy.get(stage), note, run_id, tid]
                    for tid, (stage, note) in stages.items()
                ],
            )

    # --- records and scores -------------------------------------------------------------------------

    def write(
        self,
        records: Sequence[Record] = (),
        scores: Sequence[ScoreRow] = (),
        cache: Sequence[CacheEntry] = (),
    ) -> None:
        """Records, score rows and cache entries ``(kind, key, value)`` in one transaction (all or
        nothing), so a cached result is never committed without the rows it produced.

        Rows go in as one DataFrame per table (see ``store/rows.py``).
        """
        if not records and not scores and not cache:
            return
        with self.connect() as con:
            rows.upsert(con, records, scores, cache, self.redact)

    def batch(self, max_items: int = 200, max_seconds: float = 1.0) -> BatchWriter:
        """A buffered writer: see :class:`BatchWriter`."""
        return BatchWriter(self, max_items, max_seconds)

    # --- cache --------------------------------------------------------------------------------------

    def cache_get(self, kind: str, key: str) -> Any | None:
        with self.connect() as con:
            found = con.execute(
                "SELECT value_json FROM cache WHERE kind = ? AND key = ?", [kind, key]
            ).fetchone()
        if found is None:
            return None
        (value_json,) = found
        return json.loads(value_json)

    def cache_put(self, kind: str, key: str, value: Any) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?)",
                [kind, key, self.redact(rows.dumps(value)), rows.now()],
            )

    def cache_get_many(self, kind: str, keys: Sequence[str]) -> dict[str, Any]:
        """The cached values of those keys that have one, in one transaction."""
        if not keys:
            return {}
        wanted = pd.DataFrame({"key": sorted(set(keys))})
        with self.connect() as con:
            con.register("wanted_keys", wanted)
            found = con.execute(
                "SELECT c.key, c.value_json FROM cache c JOIN wanted_keys USING (key) "
                "WHERE c.kind = ?",
                [kind],
            ).fetchall()
        return {key: json.loads(value_json) for key, value_json in found}

    def embeddings_get(self, model_id: str, hashes: set[str]) -> dict[str, list[float]]:
        """Cached vectors for the given text hashes (missing ones are simply absent)."""
        if not hashes:
            return {}
        wanted = pd.DataFrame({"text_hash": sorted(hashes)})
        with self.connect() as con:
            con.register("wanted", wanted)
            found = con.execute(
                "SELECT e.text_hash, e.vector FROM embeddings e JOIN wanted USING (text_hash) "
                "WHERE e.model_id = ?",
                [model_id],
            ).fetchall()
        return {text_hash: vector for text_hash, vector in found}

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

    # --- typed reads --------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run one read statement (store-internal; other modules use the typed reads below)."""
        with self.connect() as con:
            return con.execute(sql, list(params)).df()

    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """Runs, oldest first: run_id, experiment, started_at, finished_at, status, fake_models."""
        where, params = ("WHERE experiment = ?", [experiment]) if experiment else ("", [])
        return self.query(
            "SELECT run_id, experiment, started_at, finished_at, status, fake_models FROM runs "
            f"{where} ORDER BY started_at, run_id",
            params,
        )

    def latest_run(self, experiment: str) -> str | None:
        """The newest run of an experiment that finished (or, failing that, any run)."""
        df = self.query(
            "SELECT run_id FROM runs WHERE experiment = ? "
            "ORDER BY (status = 'finished') DESC, started_at DESC LIMIT 1",
            [experiment],
        )
        return None if df.empty else str(df.run_id.iloc[0])

    def run_info(self, run_id: str) -> RunInfo:
        """One run, its JSON columns parsed (KeyError when the file has no such run)."""
        df = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if df.empty:
            raise KeyError(f"no run {run_id} in {self.path}")
        return RunInfo.from_row(df.iloc[0].to_dict())

    def trials(self, run_id: str) -> pd.DataFrame:
        """trial_id, label, params_json, overrides_json, stage, stage_note; by label.

        ``stage`` is the name of the stage a trial reached under staged search (None: no staged
        search), also for files that stored it as 1 (pruned after retrieval) or 2 (went on)."""
        old = f"CASE stage WHEN 1 THEN '{RETRIEVAL}' WHEN 2 THEN '{ANSWER_JUDGE}' END"  # v <= 3
        # A version-3 file opened read-only was not migrated: it has the integer column only.
        stage = f"coalesce(stage_reached, {old})" if self._has("trials", "stage_reached") else old
        return self.query(
            f"SELECT trial_id, label, params_json, overrides_json, {stage} AS stage, stage_note "
            "FROM trials WHERE run_id = ? ORDER BY label, trial_id",
            [run_id],
        )

    def scores(self, run_id: str) -> pd.DataFrame:
        """Long scores joined with trial labels: one row per (trial, question, metric). People's
        labels (``human:`` rows) are not scores of a trial: ``store.labels`` reads them."""
        return self.query(
            "SELECT s.*, t.label, t.overrides_json FROM scores s "
            "JOIN trials t USING (run_id, trial_id) WHERE s.run_id = ? "
            f"AND NOT starts_with(s.metric, '{HUMAN}') ORDER BY t.label, s.question_id, s.metric",
            [run_id],
        )

    def records_frame(self, run_id: str, question_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Records (Record columns plus the trial's ``label``), by label and question."""
        where, params = "WHERE r.run_id = ?", [run_id]
        if question_ids is not None:
            if not question_ids:
                return pd.DataFrame(columns=[*RECORD_COLUMNS, "label"])
            where += f" AND r.question_id IN ({', '.join('?' for _ in question_ids)})"
            params += list(question_ids)
        return self.query(
            f"SELECT r.*, t.label FROM records r JOIN trials t USING (run_id, trial_id) {where} "
            "ORDER BY t.label, r.question_id",
            params,
        )

    def records(self, run_id: str, question_ids: Sequence[str] | None = None) -> list[Record]:
        """The run's records as :class:`Record` objects (what ``--resume`` continues from)."""
        frame = self.records_frame(run_id, question_ids)
        return [Record.from_dict(rows.nulls(row)) for row in frame.to_dict("records")]

    def question_splits(self, run_id: str) -> dict[str, str]:
        """question_id -> held-out split ("dev" or "test") of a run; {} for a run without one
        (also in a file from before splits were stored, opened read-only)."""
        if not self._has("records", "split"):
            return {}
        found = self.query(
            "SELECT DISTINCT question_id, split FROM records "
            "WHERE run_id = ? AND split IS NOT NULL ORDER BY question_id",
            [run_id],
        )
        return dict(zip(found.question_id.astype(str), found.split.astype(str), strict=True))

    def latencies(self, run_id: str) -> pd.DataFrame:
        """Per record: trial_id, label, answered, latency_s, retrieval_s, generation_s."""
        return self.query(
            "SELECT r.trial_id, t.label, r.response IS NOT NULL AS answered, r.latency_s, "
            "r.retrieval_s, r.generation_s FROM records r JOIN trials t USING (run_id, trial_id) "
            "WHERE r.run_id = ? ORDER BY t.label, r.question_id",
            [run_id],
        )

    def _has(self, table: str, column: str) -> bool:
        """Whether the file has this column (one written by an older version may not, when it
        is opened read-only and so not migrated)."""
        found = self.query(
            "SELECT count(*) AS n FROM information_schema.columns "
            "WHERE table_name = ? AND column_name = ?",
            [table, column],
        )
        return bool(int(found.n.iloc[0]))

    def score_counts(self, run_id: str) -> tuple[int, int]:
        """(scores with a value, scores that failed) of a run."""
        df = self.query(
            "SELECT count(value) AS ok, count(error) AS failed FROM scores WHERE run_id = ? "
            f"AND NOT starts_with(metric, '{HUMAN}')",
            [run_id],
        )
        return int(df.ok.iloc[0]), int(df.failed.iloc[0])

    def resume_state(self, run_id: str) -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
        """What a resumed run may skip: (trial, question) pairs with a record, and the
        (trial, question, metric) scores that succeeded. Error rows are not done: they are retried."""
        records = self.query("SELECT trial_id, question_id FROM records WHERE run_id = ?", [run_id])
        scored = self.query(
            "SELECT trial_id, question_id, metric FROM scores WHERE run_id = ? AND error IS NULL",
            [run_id],
        )
        return (
            set(zip(records.trial_id, records.question_id, strict=True)),
            set(zip(scored.trial_id, scored.question_id, scored.metric, strict=True)),
        )
