"""Hostile endpoints (issue 23, second round) against the loopback server of
tests/endpoint_server.py: a reply that trickles in 1 byte at a time must not outlive ``timeout_s``,
and a 200 reply that is not JSON is one clear recorded failure, neither retried nor cached."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FAKE_MODELS
from endpoint_server import EndpointServer
from endpoint_server import write_dataset as write_items

from ragbench.config.experiment import LLMConfig
from ragbench.experiment.orchestrator import run
from ragbench.models import make_llm
from ragbench.models.endpoint import EndpointError
from ragbench.store import Store

QUESTION = "Question: Where is item alpha stored?\n"


def endpoint_experiment(tmp_path: Path, url: str, **llm: Any) -> Path:
    """One question about item alpha, answered by the endpoint, judged by the fake judge."""
    data = write_items(tmp_path / "data", ["alpha"])
    exp = tmp_path / "exp.yaml"
    endpoint = {"provider": "openai", "model": "loopback", "base_url": url, **llm}
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "endpoint",
                "dataset": {"loader": "qa-folder", "path": str(data)},
                "base": FAKE_MODELS | {"generation": {"llm": endpoint}},
                "metrics": ["faithfulness"],
            }
        )
    )
    return exp


def errors(db: Path, run_id: str) -> list[str]:
    scores = Store(db, read_only=True).scores(run_id)
    return [str(e) for e in scores["error"] if e is not None and e == e]


# --- item 6: timeout_s bounds the whole call ------------------------------------------------------


def test_a_dripping_reply_fails_at_timeout_s_retries_included() -> None:
    # Every attempt drips (1 byte every 0.5 s): each read is quick, the reply never ends in time.
    with EndpointServer(faults=dict.fromkeys(range(1, 10), "drip"), drip_s=0.5) as server:
        llm = make_llm(
            LLMConfig(provider="openai", model="m", base_url=server.url, timeout_s=2, max_retries=2)
        )
        start = time.monotonic()
        with pytest.raises(EndpointError) as exc:
            llm.complete(QUESTION)
        elapsed = time.monotonic() - start
    assert elapsed < 4, f"a 2 s call took {elapsed:.1f} s"
    message = str(exc.value)
    assert "timed out" in message and "timeout_s 2" in message, message
    assert "\n" not in message


def test_a_dripping_endpoint_is_a_recorded_failure_of_the_run(tmp_path: Path) -> None:
    with EndpointServer(faults=dict.fromkeys(range(1, 10), "drip"), drip_s=0.5) as server:
        exp = endpoint_experiment(tmp_path, server.url, timeout_s=2, max_retries=1)
        start = time.monotonic()
        result = run(exp, db=tmp_path / "r.duckdb", progress=False)
        elapsed = time.monotonic() - start
    assert elapsed < 15, f"the run took {elapsed:.1f} s"
    (error,) = errors(tmp_path / "r.duckdb", result.run_id)
    assert error.startswith("generation failed: EndpointError: ")
    assert "timed out" in error and "timeout_s 2" in error


def test_a_slow_but_steady_reply_within_timeout_s_still_succeeds() -> None:
    with EndpointServer(latency_s=0.3) as server:
        llm = make_llm(
            LLMConfig(provider="openai", model="m", base_url=server.url, timeout_s=2, max_retries=0)
        )
        assert "alpha" in llm.complete(QUESTION).text


# --- item 16c: a 200 reply that is not JSON -------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        ("html", "<html><head><title>Sign in</title></head><body>Proxy login</body></html>"),
        ("notjson", "upstream model loading, try later"),
    ],
)
def test_a_non_json_200_reply_is_one_clear_error_not_retried(fault: str, shown: str) -> None:
    with EndpointServer(faults={1: fault}) as server:
        llm = make_llm(LLMConfig(provider="openai", model="m", base_url=server.url, max_retries=2))
        with pytest.raises(EndpointError) as exc:
            llm.complete(QUESTION)
        assert str(exc.value) == (
            f"{server.url} failed, not retryable: endpoint returned a non-JSON 200 reply: {shown}"
        )
        assert server.requests == 1 and llm.retries == 0
        assert "alpha" in llm.complete(QUESTION).text  # the next reply is fine, and it is used


def test_a_non_json_reply_is_shown_short_and_redacted() -> None:
    body = b"Bearer sk-live-0123456789abcdef leaked " + b"x" * 500
    with EndpointServer(faults={1: "notjson"}, notjson=body) as server:
        llm = make_llm(LLMConfig(provider="openai", model="m", base_url=server.url))
        with pytest.raises(EndpointError) as exc:
            llm.complete(QUESTION)
    message = str(exc.value)
    assert "sk-live" not in message and "Bearer ***" in message
    assert message.endswith("x" * 10) and len(message) < len(server.url) + 300


def test_a_non_json_reply_is_recorded_and_not_cached(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with EndpointServer(faults={1: "html"}) as server:
        exp = endpoint_experiment(tmp_path, server.url)
        first = run(exp, db=db, progress=False)
        (error,) = errors(db, first.run_id)
        assert error.startswith("generation failed: EndpointError: ")
        assert "non-JSON 200 reply: <html>" in error
        assert server.requests == 1  # not retried
        # Resuming asks again (the failure was not cached) and gets a real answer this time.
        again = run(exp, db=db, resume=first.run_id, progress=False)
    assert errors(db, again.run_id) == []
    assert server.requests == 2


# --- item 12: an empty or filtered answer is a failure, never cached -----------------------------


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("filtered", "the endpoint returned no answer (finish_reason content_filter)"),
        ("empty", "the endpoint returned an empty answer (finish_reason stop)"),
    ],
)
def test_an_empty_or_filtered_reply_is_one_clear_error_not_retried(fault: str, why: str) -> None:
    with EndpointServer(faults={1: fault}) as server:
        llm = make_llm(LLMConfig(provider="openai", model="m", base_url=server.url, max_retries=2))
        with pytest.raises(EndpointError) as exc:
            llm.complete(QUESTION)
        assert str(exc.value) == f"{server.url} failed, not retryable: {why}"
        assert server.requests == 1 and llm.retries == 0  # the same prompt is filtered again
        assert "alpha" in llm.complete(QUESTION).text


def test_a_filtered_answer_is_recorded_not_cached_and_resume_asks_again(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with EndpointServer(faults={1: "filtered"}) as server:
        exp = endpoint_experiment(tmp_path, server.url)
        first = run(exp, db=db, progress=False)
        (error,) = errors(db, first.run_id)
        assert error == (
            f"generation failed: EndpointError: {server.url} failed, not retryable: "
            "the endpoint returned no answer (finish_reason content_filter)"
        )
        assert first.stats.generated == 0  # a failure is not an answer
        store = Store(db, read_only=True)
        assert store.query("SELECT * FROM cache WHERE kind = 'generation'").empty
        assert store.records(first.run_id)[0].response is None
        # The endpoint is fixed: resuming asks it again (nothing was cached) and gets an answer.
        again = run(exp, db=db, resume=first.run_id, progress=False)
    assert errors(db, again.run_id) == []
    assert server.requests == 2 and again.stats.generated == 1
    (record,) = Store(db, read_only=True).records(again.run_id)
    assert record.response is not None and "alpha" in record.response
