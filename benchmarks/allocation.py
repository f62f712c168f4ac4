"""Does adaptive judging pay? Uniform vs adaptive allocation at equal verdict budgets, replayed.

Input: a run whose every trial has the judged metric on every question (judge the whole small
sweep once with the real model, ``judge_budget`` unset), or ``--synthetic`` for a realistic
generated matrix (6 trials x 60 questions of faithfulness-like scores: shared question difficulty,
1-5 statements per answer) so the script runs without such a file. "True best" is the best trial
(``stats.best_trial``'s rule) on the full matrix.

Each repetition bootstraps the questions (seeded, with replacement, in random order) and replays,
for every budget, ``ragbench.experiment.allocation.Allocator`` with ``uniform`` and with ``adaptive`` on the
same resample, feeding the stored scores as verdicts. Printed per budget: how often each picks the
true best (``Allocator.best()``) and the median width of the winner's 95% interval
(``stats.mean_ci`` of its scores), plus how many verdicts adaptive gave the winner.

    .venv/bin/python benchmarks/allocation.py --db results/ragbench.duckdb --run RUN_ID \\
        [--metric faithfulness] [--reps 200] [--budgets 90,150,210]
    .venv/bin/python benchmarks/allocation.py --synthetic [--reps 200]

No model runs here, only replaying: ~1.5 s per repetition for 6 trials x 60 questions and four
budgets on 2 busy cores (the sign-flip tests of adaptive's looks dominate).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ragbench.experiment.allocation import Allocator, Budget
from ragbench.metrics import names as metric_names
from ragbench.stats import best_trial, look_plan, mean_ci
from ragbench.store import Store

#: Budgets reported by default, as shares of judging every question of every trial.
DEFAULT_SHARES = (0.4, 0.5, 0.7, 0.9)


def synthetic(trials: int = 6, questions: int = 60, seed: int = 0) -> pd.DataFrame:
    """A judged sweep as long scores: trial quality on a logit scale plus question difficulty
    shared by every trial, scored as the share of 1-5 supported statements (like faithfulness).
    Two trials are close at the top, the others spread below."""
    rng = np.random.default_rng(seed)
    quality = np.array([1.1, 0.9, 0.5, 0.2, -0.1, -0.4])[:trials]
    difficulty = rng.normal(0.0, 1.0, questions)
    logit = quality[:, None] + difficulty[None, :] + rng.normal(0.0, 0.8, (trials, questions))
    statements = rng.integers(1, 6, (trials, questions))
    values = rng.binomial(statements, 1 / (1 + np.exp(-logit))) / statements
    return pd.DataFrame(
        [
            {
                "trial_id": f"T{t}",
                "question_id": f"q{q:03d}",
                "metric": "faithfulness",
                "value": float(values[t, q]),
            }  # fmt: skip
            for t in range(trials)
            for q in range(questions)
        ]
    )


def from_store(db: str, run_id: str, metric: str | None) -> tuple[pd.DataFrame, str]:
    """Long scores of ``metric`` (default: the run's first judged metric), complete questions."""
    store = Store(db, read_only=True)
    try:
        configured = store.run_info(run_id).metrics
    except KeyError:
        raise SystemExit(f"no run {run_id} in {db}") from None
    scores = store.scores(run_id)
    if metric is None:
        present = set(scores.metric)
        judged = [m for m in configured if m in metric_names("judged") and m in present]
        if not judged:
            raise SystemExit(f"run {run_id} has no judged metric")
        metric = judged[0]
    part = scores[scores.metric == metric]
    wide = part.pivot(index="question_id", columns="trial_id", values="value")
    complete = wide.dropna()
    if len(complete) < len(wide):
        print(f"dropped {len(wide) - len(complete)} question(s) a trial has no {metric} score for")
    if complete.shape[1] < 2 or len(complete) < 10:
        raise SystemExit(f"need >= 2 trials x 10 questions with {metric}; got {complete.shape}")
    labels = dict(zip(part.trial_id, part.label, strict=False))
    long = complete.reset_index().melt(id_vars="question_id", var_name="trial_id")
    return long.assign(metric=metric, label=long.trial_id.map(labels)), metric


def replay(
    matrix: np.ndarray,
    trials: list[str],
    policy: str,
    budget: int,
    labels: dict[str, str] | None = None,
) -> tuple[str, float, int]:
    """One allocation over a trials x questions matrix: (pick, winner's CI width, its verdicts).
    ``labels`` break ties of the best-trial rule as ``stats.best_trial`` does."""
    questions = [f"r{j:04d}" for j in range(matrix.shape[1])]
    column = {q: j for j, q in enumerate(questions)}
    row = {t: i for i, t in enumerate(trials)}
    alloc = Allocator(trials, questions, "metric", policy, Budget(verdicts=budget), labels=labels)
    while pairs := alloc.next_round():
        for trial, question in pairs:
            alloc.record(trial, question, float(matrix[row[trial], column[question]]), 1.0)
    winner = alloc.best()
    assert winner is not None
    values = np.array([v for v in alloc.values[winner].values() if v is not None])
    binary = bool(np.isin(matrix, (0.0, 1.0)).all())
    ci = mean_ci(values, 0.95, binary=binary)
    width = ci.high - ci.low if math.isfinite(ci.high - ci.low) else math.nan
    return winner, width, alloc.verdicts[winner]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="DuckDB results file with a fully judged run")
    parser.add_argument("--run", help="run id in --db")
    parser.add_argument("--metric", help="judged metric (default: the run's first)")
    parser.add_argument("--synthetic", action="store_true", help="generated matrix, no file")
    parser.add_argument("--reps", type=int, default=200, help="bootstrap repetitions")
    parser.add_argument("--budgets", help="comma-separated verdict budgets (default: shares)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.synthetic:
        scores, metric, source = synthetic(seed=args.seed), "faithfulness", "synthetic"
    elif args.db and args.run:
        scores, metric = from_store(args.db, args.run, args.metric)
        source = f"{args.db} run {args.run}"
    else:
        parser.error("give --db and --run, or --synthetic")
    truth = best_trial(scores, metric)
    wide = scores.pivot(index="trial_id", columns="question_id", values="value")
    trials = [str(t) for t in wide.index]
    matrix = wide.to_numpy(dtype=float)
    k, q = matrix.shape
    budgets = (
        [int(b) for b in args.budgets.split(",")]
        if args.budgets
        else [round(s * k * q) for s in DEFAULT_SHARES]
    )
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"source: {source}; metric {metric}; {k} trials x {q} questions")
    names = dict(zip(scores.trial_id, scores.get("label", scores.trial_id), strict=True))
    means = wide.mean(axis=1).sort_values(ascending=False)
    print("trial means: " + "; ".join(f"{names[t]} {m:.3f}" for t, m in means.items()))
    print(f"true best: {names[truth]}; {args.reps} bootstrap repetitions (seed {args.seed})\n")
    rng = np.random.default_rng(args.seed)
    draws = [rng.integers(0, q, q) for _ in range(args.reps)]
    header = (
        f"{'budget':>7} {'share':>6} | {'P(best) unif':>12} {'adapt':>6} | "
        f"{'CI width unif':>13} {'adapt':>6} | {'winner verdicts u/a':>19} | looks"
    )
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    for budget in budgets:
        hits = {"uniform": 0, "adaptive": 0}
        widths: dict[str, list[float]] = {"uniform": [], "adaptive": []}
        given: dict[str, list[int]] = {"uniform": [], "adaptive": []}
        for draw in draws:
            sample = matrix[:, draw]
            for policy in ("uniform", "adaptive"):
                pick, width, verdicts = replay(sample, trials, policy, budget, names)
                hits[policy] += pick == truth
                widths[policy].append(width)
                given[policy].append(verdicts)
        looks = list(look_plan(k, q, max_verdicts=budget))
        print(
            f"{budget:>7} {budget / (k * q):>6.0%} | {hits['uniform'] / args.reps:>12.3f} "
            f"{hits['adaptive'] / args.reps:>6.3f} | {np.nanmedian(widths['uniform']):>13.3f} "
            f"{np.nanmedian(widths['adaptive']):>6.3f} | "
            f"{np.median(given['uniform']):>9.0f}/{np.median(given['adaptive']):<9.0f} | "
            f"{','.join(map(str, looks)) or 'none'}"
        )
    first = min(look_plan(k, q), default=None)
    if first is not None:
        print(
            f"\nadaptive's first look: after {first} questions per trial ({k * first} verdicts); "
            "at budgets not well above that it has few verdicts left to move and ties uniform"
        )
    print(f"({time.perf_counter() - start:.0f} s of replaying)")


if __name__ == "__main__":
    main()
