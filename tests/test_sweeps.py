"""Only unique work, staged search, exactly-once resume after kill -9, concurrent runs on one file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAKE_MODELS, fake_experiment

from ragbench.config.experiment import parse_config
from ragbench.experiment.orchestrator import run
from ragbench.store import Store

ROOT = Path(__file__).parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"


def _config(**extra: object) -> object:
    return parse_config(
        fake_experiment(name="unique", dataset={"loader": "demo"}, limit=6, judge_limit=2, **extra)
    )


def test_embedding_cache_embeds_each_distinct_chunk_once(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    first = run(_config(sweep={"retrieval.top_k": [2, 3, 4]}), db=db, progress=False)
    assert first.stats.indexes_built == 1  # a top-k sweep shares one index
    assert first.stats.chunks_embedded > 0
    again = run(_config(sweep={"retrieval.top_k": [2, 5]}), db=db, progress=False)
    assert again.stats.chunks_embedded == 0  # unchanged chunking: every vector from cache
    assert (
        again.stats.chunks_from_cache == first.stats.chunks_embedded + first.stats.chunks_from_cache
    )
    bigger = run(
        _config(base=FAKE_MODELS | {"chunking": {"chunk_size": 300}}), db=db, progress=False
    )
    assert bigger.stats.chunks_embedded > 0  # a changed chunk size misses for new chunk texts


def test_generation_and_judge_caches_hit_only_when_inputs_match(tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"
    first = run(_config(), db=db, progress=False)
    assert first.stats.generated == 2 and first.stats.generation_cache_hits == 0
    same = run(_config(), db=db, progress=False)
    assert same.stats.generated == 0 and same.stats.generation_cache_hits == 2
    assert same.stats.judge_calls == 0
    prompt = "Context:\n{context}\nQ: {question}\nA:"
    changed = run(
        _config(base=FAKE_MODELS | {"generation": FAKE_MODELS["generation"] | {"prompt": prompt}}),
        db=db,
        progress=False,
    )
    assert changed.stats.generated == 2 and changed.stats.generation_cache_hits == 0


def test_staged_search_judges_only_kept_trials(tmp_path: Path) -> None:
    config = _config(
        sweep={"chunking.chunk_size": [128, 256], "retrieval.method": ["dense", "bm25"]},
        staged={"rank_by": "mrr", "top_n": 1, "pin": ["chunk_size=128, method=dense"]},
    )
    result = run(config, db=tmp_path / "s.duckdb", progress=False)
    store = Store(tmp_path / "s.duckdb")
    trials = store.query(
        "SELECT trial_id, label, stage, stage_note FROM trials WHERE run_id = ?", [result.run_id]
    )
    kept = set(trials[trials.stage == 2].label)
    assert "chunk_size=128, method=dense" in kept and len(kept) == 2
    assert all("pruned" in n for n in trials[trials.stage == 1].stage_note)
    judged = store.query(
        "SELECT DISTINCT trial_id FROM scores WHERE run_id = ? AND metric = 'faithfulness'",
        [result.run_id],
    )
    assert set(judged.trial_id) == set(trials[trials.stage == 2].trial_id)
    retrieval = store.query(
        "SELECT DISTINCT trial_id FROM scores WHERE run_id = ? AND metric = 'mrr'", [result.run_id]
    )
    assert len(retrieval) == 4  # stage 1 covers every trial


def test_staged_pin_must_name_a_trial() -> None:
    from ragbench.config.experiment import ConfigError

    with pytest.raises(ConfigError, match="did you mean"):
        _config(sweep={"retrieval.top_k": [2, 3]}, staged={"top_n": 1, "pin": ["top_k=22"]})


def _rows(db: Path, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = Store(db)
    scores = store.query(
        "SELECT trial_id, question_id, metric, value, error FROM scores WHERE run_id = ? "
        "ORDER BY ALL",
        [run_id],
    )
    records = store.query(
        "SELECT trial_id, question_id, retrieved_doc_ids, response, cited_doc_ids FROM records "
        "WHERE run_id = ? ORDER BY trial_id, question_id",
        [run_id],
    )
    return scores, records


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ragbench.cli", *args]


def test_kill_9_then_resume_gives_exactly_the_clean_rows(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    # The whole demo set and many answers: enough work that the kill lands mid-run.
    experiment = tmp_path / "kill.yaml"
    experiment.write_text(
        SMOKE.read_text()
        .replace("limit: 8", "limit: 25")
        .replace("judge_limit: 2", "judge_limit: 12")
    )
    proc = subprocess.Popen(
        _cli("run", str(experiment), "--db", str(db), "--no-progress"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                n = Store(db, lock_timeout_s=1).query("SELECT count(*) AS n FROM records").n.iloc[0]
            except Exception:  # noqa: BLE001 - the writer holds the lock; poll again
                n = 0
            if n >= 5:  # mid-run: some (trial, question) results committed, most not
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = n
                break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert killed_at is not None, "the run finished before it could be killed"
    store = Store(db)
    runs = store.query("SELECT run_id, status FROM runs")
    assert list(runs.status) == ["running"]  # killed: never marked finished
    run_id = runs.run_id.iloc[0]
    partial_scores, partial_records = _rows(db, run_id)
    resumed = subprocess.run(
        _cli("run", str(experiment), "--db", str(db), "--resume", run_id, "--no-progress"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    clean = run(experiment, db=tmp_path / "clean.duckdb", progress=False)
    got_scores, got_records = _rows(db, run_id)
    want_scores, want_records = _rows(tmp_path / "clean.duckdb", clean.run_id)
    # The kill interrupted real work: part of the rows were missing before the resume.
    assert len(partial_scores) < len(want_scores)
    assert len(got_records) == len(want_records) == 100
    pd.testing.assert_frame_equal(got_scores, want_scores)
    pd.testing.assert_frame_equal(got_records, want_records)
    assert Store(db).run_info(run_id).status == "finished"


def test_four_concurrent_runs_share_one_file_without_loss(tmp_path: Path) -> None:
    db = tmp_path / "shared.duckdb"
    procs = [
        subprocess.Popen(
            _cli("run", str(SMOKE), "--db", str(db), "--no-progress"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    store = Store(db)
    runs = store.query("SELECT run_id, status FROM runs ORDER BY run_id")
    assert len(runs) == 4 and set(runs.status) == {"finished"}
    reference = _rows(db, runs.run_id.iloc[0])
    for run_id in runs.run_id[1:]:
        scores, records = _rows(db, run_id)
        assert len(records) == 32
        pd.testing.assert_frame_equal(scores, reference[0])
        pd.testing.assert_frame_equal(records, reference[1])
