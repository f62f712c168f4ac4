"""The results schema, and how files written by older versions are brought up to date.

Contract: ``SCHEMA`` creates every table of a new file; ``MIGRATIONS`` are idempotent statements
that add what later versions need to an existing file (columns are only ever added, never dropped
or renamed, so no old run is lost). ``SCHEMA_VERSION`` is stored in ``meta``.
``check_version(con, path)`` refuses (:class:`StoreError`) a file whose stored version is newer
than ``SCHEMA_VERSION`` (or not a number): a newer ragbench wrote it, and this one would misread
it or, migrating it, reset its version. The store calls it before reading or writing anything.

Version history:
1. runs, trials, records, scores, embeddings, cache (run statistics were kept in runs.message).
2. runs.stats_json (work statistics in a real column), runs.config_hash and runs.data_hash
   (what ``--resume`` checks), meta.
3. records.split: the question's held-out split (``dev``/``test``; NULL without ``split:``), so
   a report of the run chooses and checks its best trial on the same questions as the run did.
4. trials.stage_reached: the name of the stage a trial reached under staged search
   (``retrieval``: pruned after it; ``answer+judge``: went on). Older files have only the
   integer ``trials.stage`` (1, 2), which the store reads as those names; new runs write both,
   so that older versions still read a new file's staged-search decisions.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ragbench.store.connection import StoreError

SCHEMA_VERSION = 4

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
    message VARCHAR,                  -- why a run failed
    stats_json VARCHAR,               -- work statistics: cache hits, judge calls, skipped files
    config_hash VARCHAR,              -- hash of the resolved config: --resume refuses another
    data_hash VARCHAR                 -- hash of the corpus and questions: likewise
);
CREATE TABLE IF NOT EXISTS trials (
    run_id VARCHAR NOT NULL,
    trial_id VARCHAR NOT NULL,
    label VARCHAR NOT NULL,           -- the swept values, e.g. "chunk_size=128, top_k=2"
    params_json VARCHAR NOT NULL,     -- full resolved pipeline config
    overrides_json VARCHAR NOT NULL,  -- only the swept keys
    stage INTEGER,                    -- as read by version <= 3: 1 = pruned, 2 = went on
    stage_note VARCHAR,               -- why it was kept or pruned
    stage_reached VARCHAR,            -- staged search: retrieval (pruned) | answer+judge (went on)
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
    split VARCHAR,                    -- held-out split: dev | test; NULL: the run had no split
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
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
"""

# Bring a file of an older version up to date; every statement is a no-op on a current file.
MIGRATIONS = (
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS stats_json VARCHAR",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS config_hash VARCHAR",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS data_hash VARCHAR",
    "ALTER TABLE records ADD COLUMN IF NOT EXISTS split VARCHAR",
    "ALTER TABLE trials ADD COLUMN IF NOT EXISTS stage_reached VARCHAR",
    f"INSERT OR REPLACE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}')",
)


def check_version(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a results file written by a newer ragbench (see the module docstring)."""
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()
    if not has_meta or not has_meta[0]:
        return  # a new file, or one of version 1 (before meta)
    found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    stored = None if found is None else str(found[0]).strip()
    if stored is None or (stored.isdigit() and int(stored) <= SCHEMA_VERSION):
        return
    raise StoreError(
        f"results file {path} was written by a newer ragbench (schema {stored}; this one reads "
        f"up to {SCHEMA_VERSION}): upgrade ragbench or use another --db"
    )
