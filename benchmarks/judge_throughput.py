"""Judge throughput with the local model, per metric, and the judge cache hit rate on a re-run.

Runs one trial of the demo set with real local models and the judged metrics on --questions
questions, then prints judged questions per minute for each metric (from the time each score took,
cache misses only) and the cache hit rate of an identical re-run (target: 100%, zero judge calls).

    .venv/bin/python benchmarks/judge_throughput.py [--questions 6] [--metrics faithfulness ...]
        [--prompts ragas|compact]

Before -> after in the README: ``RAGBENCH_LLAMA_STATE_CACHE=0 RAGBENCH_FAST_GRAMMAR=0 ... --prompts
ragas`` on the AVX2 build of llama.cpp (no state cache, llama-cpp-python's grammar sampling, ragas'
prompts) against the defaults (``--prompts compact``, the build ``make install`` picks).

Run it on an idle machine: another llama.cpp process on the same cores slows both several-fold.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from ragbench.config.experiment import parse_config
from ragbench.experiment.orchestrator import run
from ragbench.models import check_models
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
    parser.add_argument("--metrics", nargs="+", default=METRICS, choices=METRICS)
    parser.add_argument(
        "--prompts",
        default="compact",
        choices=["ragas", "compact"],
        help="judge prompts (judge.prompts); RAGBENCH_LLAMA_STATE_CACHE=0 turns the state cache off",
    )
    args = parser.parse_args()
    metrics = args.metrics
    config = parse_config(
        {
            "name": "judge-throughput",
            "base": {
                "generation": {"llm": {"provider": "local", "max_tokens": 160}},
                "judge": {"provider": "local", "prompts": args.prompts},
            },
            "metrics": ["hit_rate", *metrics],
            "judge_limit": args.questions,
            "limit": args.questions,
        }
    )
    db = Path(tempfile.mkdtemp(prefix="ragbench-judge-")) / "j.duckdb"
    start = time.perf_counter()
    first = run(config, db=db, progress=False)
    wall = time.perf_counter() - start
    scores = Store(db).scores(first.run_id)
    scores = scores[scores.metric.isin(metrics)]
    cache = os.environ.get("RAGBENCH_LLAMA_STATE_CACHE", "1") != "0"
    fast = os.environ.get("RAGBENCH_FAST_GRAMMAR", "1") != "0"
    print(
        f"judge prompts: {args.prompts}; llama.cpp state cache: {'on' if cache else 'off'}; "
        f"grammar checked on the best token first: {'yes' if fast else 'no'}; "
        f"llama.cpp build: {dict((n, d) for n, _, d in check_models())['llama-cpp-python']}"
    )
    print(
        f"{args.questions} questions, one trial, local judge; first run {wall:.0f} s "
        f"({first.stats['judge_calls']} judge LLM calls)"
    )
    print(
        "  metric               q/min   s/question  calls (batched)  prompt tok (evaluated)"
        "  generated tok  prompt s  generation s  failed"
    )
    for metric, group in scores.groupby("metric"):
        ok = group[group.error.isna()]
        details = [json.loads(d) for d in ok.details.dropna()]

        def mean(key: str, details: list[dict] = details) -> float:
            values = [d.get(key) or 0 for d in details]
            return sum(values) / len(values) if values else float("nan")

        seconds = ok.seconds.mean()
        print(
            f"  {metric:<20} {60 / seconds:5.2f}   {seconds:8.1f}   {mean('judge_calls'):5.1f}"
            f" ({mean('judge_batched_calls'):4.1f})"
            f"   {mean('judge_prompt_tokens'):8.0f} ({mean('judge_evaluated_prompt_tokens'):6.0f})"
            f"     {mean('judge_completion_tokens'):8.0f}     {mean('judge_prompt_s'):7.1f}"
            f"   {mean('judge_generation_s'):9.1f}      {len(group) - len(ok)}"
        )
    print(
        "  median seconds per judged question (the first question also fills the KV cache "
        "with each prompt's instructions): "
        + ", ".join(f"{m} {g.seconds.median():.1f} s" for m, g in scores.groupby("metric"))
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
