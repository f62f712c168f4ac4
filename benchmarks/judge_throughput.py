"""Judge throughput with the local model, per metric, and the judge cache hit rate on a re-run.

Runs one trial of the demo set with real local models and the judged metrics on --questions
questions, then prints judged questions per minute for each metric (from the time each score took,
cache misses only) and the cache hit rate of an identical re-run (target: 100%, zero judge calls).

    .venv/bin/python benchmarks/judge_throughput.py [--questions 3]

Run it on an idle machine: another llama.cpp process on the same cores slows both several-fold.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ragbench.config import parse_config
from ragbench.experiment import run
from ragbench.store import Store

METRICS = [
    "faithfulness",
    "answer_relevancy",
    "context_precision",
    "context_recall",
    "answer_correctness",
    "semantic_similarity",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=3)
    args = parser.parse_args()
    config = parse_config(
        {
            "name": "judge-throughput",
            "base": {"generation": {"llm": {"provider": "local", "max_tokens": 160}}},
            "metrics": ["hit_rate", *METRICS],
            "judge_limit": args.questions,
            "limit": args.questions,
        }
    )
    db = Path(tempfile.mkdtemp(prefix="ragbench-judge-")) / "j.duckdb"
    start = time.perf_counter()
    first = run(config, db=db, progress=False)
    wall = time.perf_counter() - start
    rows = Store(db).query(
        "SELECT metric, count(*) AS n, avg(seconds) AS s, count(error) AS failed FROM scores "
        "WHERE run_id = ? AND metric IN (SELECT unnest(?)) GROUP BY metric ORDER BY metric",
        [first.run_id, METRICS],
    )
    print(
        f"{args.questions} questions, one trial, local judge; first run {wall:.0f} s "
        f"({first.stats['judge_calls']} judge LLM calls)"
    )
    for r in rows.itertuples():
        print(
            f"  {r.metric:<20} {60 / r.s:6.2f} judged questions/min  ({r.s:5.1f} s each, "
            f"n={r.n}, failed={r.failed})"
        )
    start = time.perf_counter()
    again = run(config, db=db, progress=False)
    rerun = time.perf_counter() - start
    hits, judged = again.stats["judge_cache_hits"], again.stats["judged"]
    print(
        f"re-run: {rerun:.1f} s, judge cache hit rate {hits}/{judged} = {hits / judged:.0%}, "
        f"judge LLM calls {again.stats.get('judge_calls', 0)}"
    )


if __name__ == "__main__":
    main()
