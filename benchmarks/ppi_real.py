"""How far to trust a judged number, on real data: the local judge's BEGIN verdicts and people's labels.

Reads one or more judge-check results files (``benchmarks/judge_agreement.py --keep DIR`` or
``ragbench judge-check``): each judged item has the judge's faithfulness score and a person's
label (BEGIN's ``human_label``, 1 = the answer is attributable to its passage). The items of all
files are pooled; the **truth** is the share people call supported over all of them. Then, as a
user who labels only ``k`` of them would:

- the judge-only estimate (``stats.mean_ci`` of the judge's scores, what a report shows without
  labels) and whether its interval covers the truth;
- for each ``k``: ``--reps`` random draws of ``k`` labelled items (the rest judged only); the
  coverage of the truth and the mean width of the PPI interval (``stats.ppi.ppi_mean``, as
  reports use it) and of the labels alone (Wilson), and the mean absolute error of each estimate;
- one draw in full (seed 0, the first ``k``), as the report would show it.

The truth is the finite set's share, which a PPI interval for the population share targets only
approximately (the labelled items are drawn without replacement from the same items), so the
coverage here is slightly conservative. Nothing calls a model.

    python benchmarks/ppi_real.py RESULTS.duckdb [MORE.duckdb ...] [--labels 10,20,40] [--reps 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ragbench.judge.check import HUMAN_LABEL, METRIC
from ragbench.stats import mean_ci
from ragbench.stats.intervals import wilson_interval
from ragbench.stats.ppi import ppi_mean
from ragbench.store import Store


def judged_items(paths: list[Path]) -> pd.DataFrame:
    """One row per judged, labelled item of the files' runs: ``source``, ``score``, ``label``."""
    frames = []
    for path in paths:
        store = Store(path, read_only=True)
        for run_id in store.runs().run_id:
            scores = store.scores(run_id)
            wide = scores.pivot_table(
                index="question_id", columns="metric", values="value", aggfunc="first"
            )
            if METRIC not in wide or HUMAN_LABEL not in wide:
                continue
            both = wide[[METRIC, HUMAN_LABEL]].dropna()
            frames.append(
                pd.DataFrame(
                    {
                        "source": f"{path.name}:{run_id}",
                        "score": both[METRIC].to_numpy(float),
                        "label": both[HUMAN_LABEL].to_numpy(float),
                    }
                )
            )
    if not frames:
        raise SystemExit("no judge-check run with faithfulness scores and human labels found")
    return pd.concat(frames, ignore_index=True)


def labelled_mask(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """A random ``k`` of ``n`` items marked as labelled."""
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.choice(n, size=k, replace=False)] = True
    return chosen


def draws(
    score: np.ndarray, label: np.ndarray, k: int, reps: int, seed: int = 0
) -> dict[str, tuple[float, float, float]]:
    """(coverage of the truth, mean width, mean absolute error) of PPI and labels-only over draws."""
    rng = np.random.default_rng(seed)
    truth = float(label.mean())
    out: dict[str, list[tuple[bool, float, float]]] = {"PPI": [], "labels only": []}
    for _ in range(reps):
        chosen = labelled_mask(rng, len(label), k)
        est = ppi_mean(label[chosen], score[chosen], score[~chosen])
        out["PPI"].append(
            (est.ci_low <= truth <= est.ci_high, est.ci_high - est.ci_low, abs(est.mean - truth))
        )
        p = float(label[chosen].mean())
        lo, hi = wilson_interval(p, k)
        out["labels only"].append((lo <= truth <= hi, hi - lo, abs(p - truth)))
    return {
        name: (
            float(np.mean([c for c, _, _ in rows])),
            float(np.mean([w for _, w, _ in rows])),
            float(np.mean([e for _, _, e in rows])),
        )
        for name, rows in out.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path, nargs="+", help="judge-check results files")
    parser.add_argument("--labels", default="10,20,40")
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    items = judged_items(args.db)
    score, label = items.score.to_numpy(float), items.label.to_numpy(float)
    truth = float(label.mean())
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"{len(items)} judged items with a person's label from {items.source.nunique()} run(s)")
    print(f"truth: people call {truth:.3f} of them supported ({int(label.sum())} of {len(items)})")
    judge = mean_ci(score)
    covered = "covers" if judge.low <= truth <= judge.high else "misses"
    print(
        f"judge only: mean faithfulness {judge.mean:.3f} [{judge.low:.3f}, {judge.high:.3f}] "
        f"({covered} the truth; error {judge.mean - truth:+.3f})"
    )
    print(f"{args.reps} random draws of k labelled items each (the rest judged only):")
    print(
        f"{'labels':>6}  {'PPI: coverage  width  |error|':>30}  {'labels only: coverage  width  |error|':>38}"
    )
    for k in (int(x) for x in args.labels.split(",")):
        if not 2 <= k < len(items):
            print(f"{k:>6}  skipped: needs 2 <= k < {len(items)}")
            continue
        found = draws(score, label, k, args.reps, args.seed)
        (pc, pw, pe), (lc, lw, le) = found["PPI"], found["labels only"]
        print(f"{k:>6}  {pc:>19.3f} {pw:6.3f} {pe:8.3f}  {lc:>27.3f} {lw:6.3f} {le:8.3f}")
    k = min(20, len(items) - 1)
    chosen = labelled_mask(np.random.default_rng(args.seed), len(items), k)
    est = ppi_mean(label[chosen], score[chosen], score[~chosen])
    print(
        f"one draw of {k} labels (seed {args.seed}): PPI {est.mean:.3f} [{est.ci_low:.3f}, "
        f"{est.ci_high:.3f}] (lambda {est.lam:.2f}), labels' own mean {est.label_mean:.3f}, "
        f"judge {est.judge_mean:.3f}, truth {truth:.3f}"
    )


if __name__ == "__main__":
    main()
