"""Speed-up of concurrent answering and judging against an OpenAI-compatible endpoint.

Starts the loopback chat-completions server of the tests (``tests/endpoint_server.py``, in its own
process so its work does not compete with the client for the GIL) with a fixed latency per reply,
then runs one experiment (2 trials x ``--questions`` questions; faithfulness and context_recall:
one answer and three judge calls per question) at ``concurrency: 1`` and at ``--concurrency``,
each on a fresh results file, and prints the wall times of the runs and of their answer+judge
stages (the one concurrency changes; retrieval is the same in both) and the ratios (target: >= 6x
at 8).
A small warm-up run first loads what both runs share (imports, ragas metric classes).

    nice -n 19 .venv/bin/python benchmarks/concurrency.py [--latency 0.2] [--questions 24]

The endpoint only waits, so the ratio measures ragbench's overhead per call (ragas, the OpenAI
client, the DuckDB cache and commits) against the endpoint's latency: a busy CPU lowers it.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragbench.config.experiment import parse_config
from ragbench.experiment.orchestrator import run
from ragbench.records import Progress

TESTS = Path(__file__).resolve().parents[1] / "tests"


def timed_run(experiment: dict[str, Any], db: Path) -> tuple[float, float]:
    """(wall seconds of the run, seconds of its answer+judge stage, from the progress events)."""
    last: dict[str, float] = {}

    def note(progress: Progress) -> None:
        last[progress.stage] = progress.elapsed_s

    start = time.perf_counter()
    config = parse_config(experiment)
    result = run(config, db=db, progress=False, on_progress=note)
    seconds = time.perf_counter() - start
    failures = result.stats.judge_failures
    if failures:
        concurrency = config.base.generation.llm.concurrency
        raise SystemExit(f"concurrency {concurrency}: {failures} judged scores failed")
    return seconds, last["answer+judge"] - last["retrieval"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per endpoint reply")
    parser.add_argument("--questions", type=int, default=24, help="at most 24")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    n = args.concurrency
    sys.path.insert(0, str(TESTS))
    from endpoint_server import ITEMS, loopback_experiment, write_dataset

    work = Path(tempfile.mkdtemp(prefix="ragbench-concurrency-"))
    data = write_dataset(work / "data", ITEMS[: args.questions])
    server = subprocess.Popen(
        [sys.executable, str(TESTS / "endpoint_server.py"), "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = (server.stdout.readline() if server.stdout else "").strip()
        if not url:
            raise SystemExit("the loopback server did not start")
        timed_run(loopback_experiment(data, url, n, limit=2), work / "warm.duckdb")
        sequential = timed_run(loopback_experiment(data, url, 1), work / "c1.duckdb")
        concurrent = timed_run(loopback_experiment(data, url, n), work / "cn.duckdb")
    finally:
        server.terminate()
        server.wait(timeout=10)
    calls = 2 * args.questions * (1 + 3)  # per question: an answer, faithfulness 2, recall 1
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load}"
    )
    print(
        f"endpoint: loopback server, {args.latency:.2f} s per reply; "
        f"{calls} calls per run (2 trials x {args.questions} questions x 4)"
    )
    print(f"{'':16s} {'run s':>7s} {'answer+judge s':>15s}")
    for name, (wall, stage) in (("concurrency 1", sequential), (f"concurrency {n}", concurrent)):
        print(f"{name:16s} {wall:7.1f} {stage:15.1f}")
    print(
        f"speed-up: {sequential[0] / concurrent[0]:.1f}x per run, "
        f"{sequential[1] / concurrent[1]:.1f}x for the answer+judge stage "
        "(target >= 6x at concurrency 8)"
    )


if __name__ == "__main__":
    main()
