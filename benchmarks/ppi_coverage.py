"""How far to trust a judged number: coverage of judge-only vs prediction-powered intervals.

A simulation with known truth. Each item has a person's verdict ``Y`` (1 = supported) drawn with
a true share ``p``; a biased judge scores it like faithfulness does: the share of ``k`` statements
it calls supported, each called supported with a probability that depends on ``Y`` (a lenient
judge passes unsupported answers, a harsh one fails supported ones, a noisy one does both). Per
repetition, ``N`` items are judged and a random ``n`` of them labelled. Printed per judge, true
share and label count:

- the coverage of the judge-only interval (``stats.mean_ci`` of the judge's scores, what a report
  shows without labels) of the true share ``p``: a biased judge's interval is narrow around the
  wrong value;
- the coverage and mean width of the PPI interval (``stats.ppi.ppi_mean``, small-sample mode, as
  reports use it), of the plain PPI++ interval (``ppi_py``'s, ``small_sample=False``) and of the
  labels alone (Wilson interval of the ``n`` labels).

Nothing here calls a model; it runs in about a minute with the defaults.

    python benchmarks/ppi_coverage.py [--reps 2000] [--items 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime

import numpy as np

from ragbench.stats import mean_ci
from ragbench.stats.intervals import wilson_interval
from ragbench.stats.ppi import ppi_mean

#: P(a statement is called supported | the answer is supported, is not), per judge.
JUDGES = {
    "lenient": (0.9, 0.45),
    "harsh": (0.55, 0.1),
    "noisy": (0.7, 0.3),
}
STATEMENTS = 4  # statements per answer: a judged score is a multiple of 1/4
TRUE_SHARES = (0.6, 0.85)
LABELS = (20, 40, 80)
METHODS = ("judge only", "PPI", "PPI (plain)", "labels only")


def simulate(
    judge: tuple[float, float], share: float, labels: int, items: int, reps: int, seed: int
) -> dict[str, tuple[float, float]]:
    """method -> (coverage of ``share``, mean interval width) over ``reps`` repetitions."""
    rng = np.random.default_rng(seed)
    covered = dict.fromkeys(METHODS, 0)
    width = dict.fromkeys(METHODS, 0.0)
    for _ in range(reps):
        truth = rng.binomial(1, share, items).astype(float)
        calls = np.where(truth == 1, judge[0], judge[1])
        scores = rng.binomial(STATEMENTS, calls) / STATEMENTS
        order = rng.permutation(items)
        lab, unl = order[:labels], order[labels:]
        judge_only = mean_ci(np.sort(scores), seed=0)
        intervals = {
            "judge only": (judge_only.low, judge_only.high),
            "labels only": wilson_interval(float(truth[lab].mean()), labels),
        }
        for name, small in (("PPI", True), ("PPI (plain)", False)):
            est = ppi_mean(truth[lab], scores[lab], scores[unl], small_sample=small)
            intervals[name] = (est.ci_low, est.ci_high)
        for name, (low, high) in intervals.items():
            covered[name] += low <= share <= high
            width[name] += high - low
    return {m: (covered[m] / reps, width[m] / reps) for m in METHODS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--items", type=int, default=200, help="judged items per repetition")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(
        f"{args.reps} repetitions of {args.items} judged items each; judge scores are shares of "
        f"{STATEMENTS} statements; coverage of the true share (nominal 0.95) and mean width"
    )
    header = f"{'judge':8} {'share':>5} {'labels':>6}  " + "  ".join(f"{m:>19}" for m in METHODS)
    print(header)
    worst = dict.fromkeys(METHODS, 1.0)
    for j, (name, judge) in enumerate(JUDGES.items()):
        for s, share in enumerate(TRUE_SHARES):
            for n in LABELS:
                seed = args.seed + 1000 * j + 100 * s + n
                result = simulate(judge, share, n, args.items, args.reps, seed)
                cells = "  ".join(f"{c:>10.3f} w {w:>6.3f}" for c, w in result.values())
                print(f"{name:8} {share:>5.2f} {n:>6}  {cells}")
                for m, (c, _) in result.items():
                    worst[m] = min(worst[m], c)
    print("lowest coverage: " + ", ".join(f"{m} {c:.3f}" for m, c in worst.items()))
    print(f"seconds: {time.perf_counter() - start:.0f}")


if __name__ == "__main__":
    main()
