"""Peak memory of ``ragbench report`` on a large run: 1 trial x 10,000 and x 100,000 questions.

Builds a fake-model results file per size, written straight through the Store (no model runs):
one trial, a record per question and four scores each (hit_rate 0/1; mrr, faithfulness and
answer_relevancy on [0, 1], so their intervals are bootstraps), then runs ``ragbench report`` on
it in a child process and prints that process's peak RSS (``os.wait4``) and seconds, with the date
and the machine. The target: under 1 GB at 100,000 questions.

    .venv/bin/python benchmarks/report_memory.py [--sizes 10000 100000]

Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from ragbench.config.experiment import expand, parse_config
from ragbench.records import Record, RunStats, ScoreRow
from ragbench.store import Store

EXPERIMENT = "report-memory"
METRICS = ["hit_rate", "mrr", "faithfulness", "answer_relevancy"]
BATCH = 10_000  # questions written per transaction


def build(db: Path, questions: int, seed: int = 0) -> None:
    """A finished fake-model run of one trial over ``questions`` questions."""
    config = parse_config(
        {
            "name": EXPERIMENT,
            "base": {
                "embedding": {"provider": "hashing"},
                "generation": {"llm": {"provider": "fake"}},
                "judge": {"provider": "fake"},
            },
            "metrics": METRICS,
        }
    )
    (trial,) = expand(config)
    store = Store(db)
    run_id = "run-0"
    conf = config.model_dump(mode="json")
    store.start_run(run_id, EXPERIMENT, conf, {"llms": ["fake"]}, None, True, "synthetic")
    store.add_trials(run_id, [trial])
    rng = random.Random(seed)
    for start in range(0, questions, BATCH):
        records, scores = [], []
        for n in range(start, min(start + BATCH, questions)):
            qid = f"q{n:06d}"
            rank = rng.choice([1, 1, 2, 3, None])
            records.append(
                Record(
                    run_id,
                    trial.trial_id,
                    qid,
                    f"Where is item {n} stored?",
                    [f"Item {n} is kept in room {n % 500}."],
                    [f"doc{n % 5000}.md"],
                    reference=f"Room {n % 500}.",
                    response=f"Room {n % 500} [1].",
                    retrieval_s=0.01,
                    generation_s=0.2,
                    latency_s=0.21,
                )
            )
            values = {
                "hit_rate": float(rank is not None),
                "mrr": 1 / rank if rank else 0.0,
                "faithfulness": rng.choice([0.0, 0.5, 0.75, 1.0, 1.0]),
                "answer_relevancy": rng.betavariate(5, 2),
            }
            scores += [ScoreRow(run_id, trial.trial_id, qid, m, v) for m, v in values.items()]
        store.write(records, scores)
    store.finish_run(run_id, "finished", stats=RunStats())


def report_peak(db: Path) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of ``ragbench report`` on ``db``."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "ragbench.cli", "report", EXPERIMENT, "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        print(child.stderr.read().decode() if child.stderr else "", file=sys.stderr)
    return usage.ru_maxrss / 1024, seconds, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(
        f"{date.today()} on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()})"
    )
    print(f"{'questions':>10} {'report s':>9} {'peak RSS MB':>12}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "r.duckdb"
            build(db, size)
            peak, seconds, code = report_peak(db)
        failed = "" if code == 0 else f"  (exit {code})"
        print(f"{size:>10,} {seconds:>9.1f} {peak:>12.0f}{failed}")


if __name__ == "__main__":
    main()
