"""Held-out split: the dev questions choose the best trial, the test questions check it.

Contract:
- ``assign_splits(questions, test, seed)`` -> ``{question_id: "dev" | "test"}``: a seeded shuffle
  of the question ids, stratified by ``kind`` (questions without one form their own stratum), so
  each kind is held out in proportion. Deterministic: the same ids, kinds, fraction and seed give
  the same split whatever the file order. ``round(n * test)`` questions (at least 1, at most
  n - 1) go to test, spread over the strata by largest remainder.
- ``splits_for(config, questions)``: the split an experiment asks for (``split: {test, seed}``,
  the seed defaulting to the experiment's), or ``{}`` without ``split:``. ``run`` stores each
  question's split on its records, so a report of the run reads the same split back
  (``Store.question_splits``).
- ``dev_scores(scores, splits)``: the score rows of dev questions (every row when ``splits`` is
  empty). Every best-trial choice of a split run goes through it: the report's table and
  verdicts, ``ragbench gate``'s and ``diff``'s "best", and staged search's ranking.
The report's "Held-out check" (the chosen trial scored on the test questions) is
``results.heldout``'s.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pandas as pd

from ragbench.config.experiment import ExperimentConfig
from ragbench.data.questions import Question

SPLITS = ("dev", "test")


def assign_splits(questions: Sequence[Question], test: float, seed: int) -> dict[str, str]:
    """Each question's split; see the module docstring.

    Raises:
        ValueError: ``test`` is not in (0, 1), or there are fewer than 2 questions.
    """
    if not 0 < test < 1:
        raise ValueError(f"split.test must be a fraction between 0 and 1, got {test!r}")
    if len(questions) < 2:
        raise ValueError(
            f"split: {len(questions)} question(s) cannot be split into dev and test; "
            "drop 'split' or add questions"
        )
    strata: dict[str, list[str]] = {}
    for q in questions:
        strata.setdefault(q.kind or "", []).append(q.question_id)
    n = len(questions)
    n_test = min(max(math.floor(n * test + 0.5), 1), n - 1)  # round half up, then 1..n-1
    quota = {kind: len(ids) * n_test / n for kind, ids in strata.items()}
    take = {kind: math.floor(share) for kind, share in quota.items()}
    by_remainder = sorted(strata, key=lambda kind: (take[kind] - quota[kind], kind))
    for kind in by_remainder[: n_test - sum(take.values())]:
        take[kind] += 1
    held_out: set[str] = set()
    for kind in sorted(strata):
        ids = sorted(strata[kind])  # file order must not matter
        random.Random(f"{seed}:{kind}").shuffle(ids)  # str seeds hash the same in every process
        held_out.update(ids[: take[kind]])
    return {q.question_id: "test" if q.question_id in held_out else "dev" for q in questions}


def splits_for(config: ExperimentConfig, questions: Sequence[Question]) -> dict[str, str]:
    """The experiment's split of these questions, or ``{}`` when it has no ``split:``."""
    if config.split is None:
        return {}
    seed = config.seed if config.split.seed is None else config.split.seed
    return assign_splits(questions, config.split.test, seed)


def dev_scores(scores: pd.DataFrame, splits: dict[str, str]) -> pd.DataFrame:
    """The rows of dev questions; all rows when there is no split."""
    if not splits:
        return scores
    dev = {qid for qid, split in splits.items() if split == "dev"}
    return scores[scores["question_id"].astype(str).isin(dev)].reset_index(drop=True)
