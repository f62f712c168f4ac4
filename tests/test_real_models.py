"""End to end with the real local models (slow: minutes on 2 cores; still runs in CI).

- One trial of the quickstart on 2 questions: real MiniLM embeddings, real Qwen 1.5B answers and
  real RAGAS verdicts land in DuckDB as non-null scores, and the run is not flagged as fake.
- The OpenAI-compatible path against a real server on loopback (`python -m llama_cpp.server`
  serving the same GGUF): generation and judging go through the HTTP client, not a mock.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ragbench.config.experiment import parse_config
from ragbench.experiment.orchestrator import run
from ragbench.models import local_llm_path
from ragbench.store import Store

pytestmark = pytest.mark.slow

BASE = {
    "chunking": {"method": "sentence", "chunk_size": 256, "chunk_overlap": 32},
    "retrieval": {"method": "dense", "top_k": 3},
}


def _scores(db: Path, run_id: str) -> dict[tuple[str, str], tuple[float | None, str | None]]:
    df = Store(db).query(
        "SELECT question_id, metric, value, error FROM scores WHERE run_id = ?", [run_id]
    )
    return {
        (r.question_id, r.metric): (None if pd.isna(r.value) else r.value, r.error)
        for r in df.itertuples()
    }


def test_local_models_end_to_end(tmp_path: Path) -> None:
    config = parse_config(
        {
            "name": "real-e2e",
            "base": BASE,
            "limit": 2,
            "judge_limit": 2,
            "metrics": ["hit_rate", "mrr", "faithfulness", "answer_relevancy"],
        }
    )
    result = run(config, db=tmp_path / "r.duckdb", progress=False)
    store = Store(tmp_path / "r.duckdb")
    info = store.run_info(result.run_id)
    assert info.status == "finished" and not info.fake_models
    records = store.query("SELECT * FROM records WHERE run_id = ?", [result.run_id])
    assert len(records) == 2 and records.response.notna().all()
    assert all(len(r) > 0 for r in records.response)
    scores = _scores(tmp_path / "r.duckdb", result.run_id)
    for qid in records.question_id:
        for metric in ("faithfulness", "answer_relevancy"):
            value, error = scores[(qid, metric)]
            assert error is None, error
            assert 0.0 <= value <= 1.0

    # Determinism: temperature 0 and a fixed seed, in a fresh file (no cache shared with the
    # first run), give the same answers and the same scores.
    again = run(config, db=tmp_path / "r2.duckdb", progress=False)
    assert again.stats.generated == result.stats.generated == 2  # really generated again
    assert again.stats.judge_cache_hits == result.stats.judge_cache_hits
    assert _scores(tmp_path / "r2.duckdb", again.run_id) == scores
    answers = Store(tmp_path / "r2.duckdb").query(
        "SELECT question_id, response FROM records WHERE run_id = ? ORDER BY 1", [again.run_id]
    )
    assert list(answers.response) == list(records.sort_values("question_id").response)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env() -> dict[str, str]:
    """The environment without variables the server would read as its settings.

    llama_cpp.server takes every setting from an environment variable of the same name too:
    ``CACHE=/some/dir`` (the Makefile's wheel cache) made it exit with "cache: Input should be a
    valid boolean".
    """
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    names = {n.lower() for n in (*ModelSettings.model_fields, *ServerSettings.model_fields)}
    return {k: v for k, v in os.environ.items() if k.lower() not in names}


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(local_llm_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--model_alias",
            "qwen-local",
        ],
        # A file, not a pipe: the server logs a lot, and a full pipe would block it.
        stdout=log,
        env=_server_env(),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    err = log_path.read_text(errors="replace")[-2000:]
                    pytest.fail(f"llama_cpp.server did not start: {err}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_openai_compatible_endpoint(tmp_path: Path, llama_server: str) -> None:
    llm = {"provider": "openai", "base_url": llama_server, "model": "qwen-local", "max_tokens": 160}
    judge = llm | {"max_tokens": 1024}
    config = parse_config(
        {
            "name": "server-e2e",
            "base": BASE | {"generation": {"llm": llm}, "judge": judge},
            "limit": 1,
            "judge_limit": 1,
            "metrics": ["hit_rate", "faithfulness"],
        }
    )
    result = run(config, db=tmp_path / "s.duckdb", progress=False)
    assert result.stats.generated == 1
    scores = _scores(tmp_path / "s.duckdb", result.run_id)
    value, error = scores[("q01", "faithfulness")]
    assert error is None, error
    assert 0.0 <= value <= 1.0
    info = Store(tmp_path / "s.duckdb").run_info(result.run_id)
    assert f"openai:{llama_server}:qwen-local" in json.dumps(info.versions)


def test_endpoint_down_is_a_recorded_failure(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens here
    llm = {"provider": "openai", "base_url": dead, "model": "x", "timeout_s": 5, "max_retries": 0}
    config = parse_config(
        {
            "name": "dead-endpoint",
            "base": BASE
            | {"embedding": {"provider": "hashing"}, "generation": {"llm": llm}, "judge": llm},
            "limit": 2,
            "judge_limit": 1,
            "metrics": ["hit_rate", "faithfulness"],
        }
    )
    result = run(config, db=tmp_path / "d.duckdb", progress=False)
    scores = _scores(tmp_path / "d.duckdb", result.run_id)
    value, error = scores[("q01", "faithfulness")]
    assert value is None and "generation failed" in error and "Connection" in error
    assert scores[("q02", "hit_rate")][0] is not None  # the rest of the run was not lost
