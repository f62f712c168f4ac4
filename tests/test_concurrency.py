"""Concurrent endpoints: stage 3 on worker threads against a real loopback OpenAI-compatible server
(tests/endpoint_server.py) with slow replies, 429s, 500s and a dropped connection; retries and
Retry-After; exact, correctly attributed rows; resume after kill -9 mid-flight.

Nothing here asserts a duration: Retry-After is checked as "came back no earlier than allowed".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import openai
import pandas as pd
import pytest
import yaml
from endpoint_server import ITEMS as SERVER_ITEMS
from endpoint_server import JUDGED, EndpointServer
from endpoint_server import loopback_experiment as experiment
from endpoint_server import write_dataset as write_items

from ragbench.config.experiment import ConfigError, LLMConfig, parse_config
from ragbench.experiment.orchestrator import run
from ragbench.experiment.workers import KeyedLocks, completed
from ragbench.models import make_llm
from ragbench.models.endpoint import EndpointError, call, describe, retry_after, retryable
from ragbench.store import Store

# 12 answerable questions, each about one item, plus one the server refuses with a 400.
ITEMS = SERVER_ITEMS[:12]
POISONED = SERVER_ITEMS[12]
FAULTS = {3: "429", 9: "500", 14: "drop", 20: "429-date", 27: "500"}


def write_dataset(root: Path) -> Path:
    return write_items(root, [*ITEMS, POISONED], poisoned=POISONED)


def rows(db: Path, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and records of a run keyed by trial label (trial ids hash the concurrency)."""
    store = Store(db)
    scores = store.scores(run_id)[["label", "question_id", "metric", "value", "error", "details"]]
    records = store.records_frame(run_id)[["label", "question_id", "response", "cited_doc_ids"]]
    sort = ["label", "question_id"]
    return (
        scores.sort_values([*sort, "metric"]).reset_index(drop=True),
        records.sort_values(sort).reset_index(drop=True),
    )


def check_complete(scores: pd.DataFrame, records: pd.DataFrame) -> None:
    """Exactly one row per (trial, question, metric), each attributed to its own question."""
    questions = [*ITEMS, POISONED]
    assert len(records) == 2 * len(questions)
    assert Counter(zip(records.label, records.question_id, strict=True)) == {
        (label, q): 1 for label in ("top_k=1", "top_k=2") for q in questions
    }
    assert Counter(zip(scores.label, scores.question_id, scores.metric, strict=True)) == {
        (label, q, m): 1
        for label in ("top_k=1", "top_k=2")
        for q in questions
        for m in ["hit_rate", *JUDGED]
    }
    for rec in records.itertuples():
        if rec.question_id == POISONED:
            assert rec.response is None
        else:  # the server repeats the question: the answer is this question's
            assert rec.response.startswith(f"Where is item {rec.question_id} stored?")
    judged = scores[scores.metric.isin(JUDGED)]
    for row in judged.itertuples():
        if row.question_id == POISONED:
            assert row.value is None or row.value != row.value
            assert "HTTP 400" in row.error and "not retryable" in row.error
            assert "\n" not in row.error
            continue
        assert row.error is None, row.error
        # Every verdict's trace names this question's item, and no other item.
        named = {item for item in ITEMS if f"item {item} stored" in row.details}
        assert named == {row.question_id}, (row.question_id, row.metric, named)


# --- end to end -----------------------------------------------------------------------------------


def test_concurrent_run_with_faults_gives_exact_rows_like_a_sequential_one(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    with EndpointServer(latency_s=0.05, faults=FAULTS) as server:
        result = run(
            parse_config(experiment(data, server.url, 8)), db=tmp_path / "c8.duckdb", progress=False
        )
        outcomes, waited = Counter(server.outcomes), list(server.waited)
        # The same server (so the same URL in error messages), its fault schedule spent.
        server.latency_s = 0.0
        sequential = run(
            parse_config(experiment(data, server.url, 1)), db=tmp_path / "c1.duckdb", progress=False
        )
    scores, records = rows(tmp_path / "c8.duckdb", result.run_id)
    check_complete(scores, records)
    # Every scheduled fault happened, each cost exactly one retry, and the 400s none.
    assert outcomes["429"] == outcomes["429-date"] == outcomes["drop"] == 1
    assert outcomes["500"] == 2
    assert outcomes["400"] == 2  # one per trial: a 400 is not retried
    assert result.stats.endpoint_retries == len(FAULTS)
    # Retry-After (seconds and HTTP date) was honoured: each 429'd request came back no earlier.
    assert len(waited) == 2
    assert all(back >= allowed for allowed, back in waited), waited
    # 2 trials x 12 answered questions: one answer and three judge calls each (faithfulness: 2),
    # less the 12 statement extractions the second trial's identical answers find in the per-call
    # cache (made once even when both trials ask at the same moment)
    assert outcomes["answer"] == 24 and outcomes["judge"] == 60
    assert result.stats.judged == 48 and result.stats.judge_failures == 4
    assert result.stats.generated == 24 and result.stats.judge_calls == 60

    want_scores, want_records = rows(tmp_path / "c1.duckdb", sequential.run_id)
    pd.testing.assert_frame_equal(
        scores.drop(columns="details"), want_scores.drop(columns="details")
    )
    pd.testing.assert_frame_equal(records, want_records)
    for key in ("generated", "generation_cache_hits", "judged", "judge_failures", "judge_calls"):
        assert getattr(result.stats, key) == getattr(sequential.stats, key), key
    assert sequential.stats.endpoint_retries == 0  # no fault left: no retry


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ragbench.cli", *args]


def _judged_rows(db: Path) -> int:
    try:
        frame = Store(db, lock_timeout_s=1).query(
            "SELECT count(*) AS n FROM scores WHERE metric IN ('faithfulness', 'context_recall') "
            "AND value IS NOT NULL"
        )
    except Exception:  # noqa: BLE001 - not created yet, or the run holds the lock: poll again
        return 0
    return int(frame.n.iloc[0])


def test_kill_9_during_concurrent_judging_then_resume_gives_exact_rows(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    db = tmp_path / "k.duckdb"
    with EndpointServer(latency_s=0.3, faults=FAULTS) as server:
        exp = tmp_path / "conc.yaml"
        exp.write_text(yaml.safe_dump(experiment(data, server.url, 8)))
        proc = subprocess.Popen(
            _cli("run", str(exp), "--db", str(db), "--no-progress"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        killed_with = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            killed_with = _judged_rows(db) if db.exists() else 0
            if killed_with > 0:  # some verdicts committed, workers busy with the next ones
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        proc.wait(timeout=30)
        assert killed_with > 0, "the run finished or failed before it could be killed"
        server.latency_s = 0.02  # the kill landed: the rest need not be slow
        runs = Store(db).query("SELECT run_id, status FROM runs")
        assert list(runs.status) == ["running"]
        run_id = str(runs.run_id.iloc[0])
        partial, _ = rows(db, run_id)
        resumed = run(exp, db=db, resume=run_id, progress=False)  # in-process: saves an import
        clean = run(exp, db=tmp_path / "clean.duckdb", progress=False)
    scores, records = rows(db, run_id)
    assert len(partial[partial.metric.isin(JUDGED)].dropna(subset=["value"])) < 48
    check_complete(scores, records)
    assert resumed.stats.generated < clean.stats.generated  # the kill's answers were kept
    want_scores, want_records = rows(tmp_path / "clean.duckdb", clean.run_id)
    pd.testing.assert_frame_equal(
        scores.drop(columns="details"), want_scores.drop(columns="details")
    )
    pd.testing.assert_frame_equal(records, want_records)
    assert Store(db).run_info(run_id).status == "finished"


# --- the retry policy -----------------------------------------------------------------------------


def _status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    body = {"message": "line one\nline two", "type": "x"}
    cls = {429: openai.RateLimitError, 400: openai.BadRequestError}.get(
        status, openai.InternalServerError
    )
    return cls(f"Error code: {status}", response=response, body=body)


def test_retryable_statuses_and_failures() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1")
    assert retryable(_status_error(429)) and retryable(_status_error(500))
    assert retryable(_status_error(503))
    assert not retryable(_status_error(400)) and not retryable(_status_error(404))
    assert retryable(openai.APIConnectionError(request=request))
    assert retryable(openai.APITimeoutError(request=request))
    assert not retryable(ValueError("a bug"))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after(_status_error(429, {"Retry-After": "3"}), now) == 3.0
    date = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after(_status_error(429, {"Retry-After": date}), now) == 7.0
    past = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert retry_after(_status_error(503, {"Retry-After": past}), now) == 0.0
    assert retry_after(_status_error(429, {"Retry-After": "soon"}), now) is None
    assert retry_after(_status_error(429), now) is None
    assert retry_after(ValueError("no response"), now) is None


def test_call_waits_what_retry_after_asks_and_stops_after_max_retries() -> None:
    slept: list[float] = []
    errors = [_status_error(429, {"Retry-After": "4"}), _status_error(500), _status_error(500)]

    def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    assert call(flaky, max_retries=3, cap_s=60, sleep=slept.append) == "ok"
    assert slept[0] == 4.0 and len(slept) == 3
    assert 1.0 <= slept[1] <= 2.0 and 2.0 <= slept[2] <= 4.0  # doubles per attempt, plus jitter
    capped: list[float] = []
    errors[:] = [_status_error(429, {"Retry-After": "900"})]
    assert call(flaky, max_retries=1, cap_s=10, sleep=capped.append) == "ok"
    assert capped == [10]

    always = [0]

    def down() -> str:
        always[0] += 1
        raise _status_error(502)

    with pytest.raises(openai.InternalServerError):
        call(down, max_retries=2, cap_s=60, sleep=lambda s: None)
    assert always[0] == 3
    bad = [0]

    def rejected() -> str:
        bad[0] += 1
        raise _status_error(400)

    with pytest.raises(openai.BadRequestError):
        call(rejected, max_retries=5, cap_s=60, sleep=lambda s: None)
    assert bad[0] == 1  # a 400 is not retried


def test_endpoint_error_is_one_line_without_the_key() -> None:
    key = "sk-test-0123456789abcdef"
    exc = _status_error(500)
    exc.body = {"message": f"bad key {key}\nsecond line"}
    line = describe(exc, "http://host/v1", 3, secret=key)
    assert line == "http://host/v1 failed after 3 attempts: HTTP 500: bad key *** second line"
    assert "not retryable" in describe(_status_error(400), "http://host/v1", 1)


def test_endpoint_llm_gives_up_with_one_line_after_its_retries() -> None:
    with EndpointServer(faults={1: "500", 2: "500", 3: "500"}) as server:
        cfg = LLMConfig(provider="openai", model="m", base_url=server.url, max_retries=2)
        llm = make_llm(cfg)
        with pytest.raises(EndpointError) as exc:
            llm.complete("Where is item alpha stored?")
        assert str(exc.value) == f"{server.url} failed after 3 attempts: HTTP 500: model crashed"
        assert llm.retries == 2
        # The fourth request is fine: the next call succeeds without a retry.
        assert "alpha" in llm.complete("Question: Where is item alpha stored?\n").text
        assert llm.retries == 2 and server.requests == 4


# --- configuration and building blocks ------------------------------------------------------------


def test_local_model_refuses_concurrency_with_one_line() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(
            {"name": "x", "base": {"judge": {"provider": "local", "concurrency": 2}}}, source="x"
        )
    message = str(exc.value)
    assert "\n" not in message and "one call at a time" in message
    assert "OpenAI-compatible endpoint" in message
    assert LLMConfig(provider="fake", concurrency=8).concurrency == 8
    with pytest.raises(ValueError):
        LLMConfig(provider="fake", concurrency=65)


def test_completed_bounds_the_threads_and_returns_every_item() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return n * n

    got = list(completed(range(40), work, workers=4))
    assert sorted(got) == [(n, n * n) for n in range(40)]
    assert 1 < peak[0] <= 4
    assert list(completed(range(5), work, workers=1)) == [(n, n * n) for n in range(5)]


def test_keyed_locks_let_one_holder_per_key_and_forget_free_keys() -> None:
    locks = KeyedLocks()
    inside: Counter[str] = Counter()
    clashes = []

    def hold(key: str) -> None:
        with locks.hold(key):
            inside[key] += 1
            if inside[key] > 1:
                clashes.append(key)
            time.sleep(0.005)
            inside[key] -= 1

    threads = [threading.Thread(target=hold, args=(k,)) for k in "abab" * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clashes == [] and locks._locks == {}
