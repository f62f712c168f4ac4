"""Runs with known differences, written through ``Store`` (no model, no SQL): diff and gate tests.

``known_pairs(folder)`` writes, once per test session, one baseline run (trials ``good`` and
``poor``) and four later runs of other experiments, each made from the baseline by a known change
(the file is shared because DuckDB inserts cost ~10 ms a row on a busy 2-core machine):

- ``regressed`` (experiment "regressed"): trial ``good`` loses 0.25 of faithfulness on 20 of 30
  questions (and answers them differently); hit_rate and mrr are unchanged.
- ``other`` (experiment "other"): ``regressed``'s ``good`` scores under another trial id, ``fresh``.
- ``noisy`` (experiment "noisy"): every score of ``good`` moves by symmetric noise only.
- ``small`` (experiment "small"): faithfulness of ``good`` drops by 0.01 (+- 0.003) on every
  question: significant, but smaller than the gate's default minimum effect of 0.02.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragbench.records import Record, ScoreRow
from ragbench.store import Store

METRICS = ["hit_rate", "mrr", "faithfulness"]
QUESTIONS = [f"q{i:02d}" for i in range(30)]
Scores = dict[str, dict[str, dict[str, float | None]]]  # trial -> metric -> question -> value


@dataclass
class _Pipeline:
    params: dict[str, Any] = field(default_factory=dict)

    def model_dump(self) -> dict[str, Any]:
        return self.params


@dataclass
class _Trial:
    trial_id: str
    label: str
    overrides: dict[str, Any]
    pipeline: _Pipeline = field(default_factory=_Pipeline)


def write_run(
    store: Store,
    run_id: str,
    experiment: str,
    scores: Scores,
    answers: dict[str, dict[str, str]] | None = None,
    fake_models: bool = True,
) -> None:
    """One finished run: a record per (trial, question) and a score row per metric."""
    store.start_run(
        run_id, experiment, {"name": experiment, "metrics": METRICS}, {}, None, fake_models, "test"
    )
    store.add_trials(
        run_id,
        [_Trial(t, f"top_k={k + 2}", {"retrieval.top_k": k + 2}) for k, t in enumerate(scores)],
    )
    records, rows = [], []
    for trial, by_metric in scores.items():
        questions = sorted({q for values in by_metric.values() for q in values})
        for q in questions:
            answer = (answers or {}).get(trial, {}).get(q, f"{trial} answers {q}")
            records.append(
                Record(
                    run_id,
                    trial,
                    q,
                    f"What is {q}?",
                    [f"text of {q}"],
                    [f"d{q}"],
                    reference=f"gold {q}",
                    response=answer,
                )
            )
        for metric, values in by_metric.items():
            for q, v in values.items():
                error = "judge failed" if v is None else None
                rows.append(ScoreRow(run_id, trial, q, metric, v, error))
    store.write(records, rows)
    store.finish_run(run_id, "finished")


def baseline_scores() -> Scores:
    rng = np.random.default_rng(0)
    out: Scores = {}
    for trial, level in (("good", 0.75), ("poor", 0.45)):
        hits = (rng.random(30) < level + 0.15).astype(float)
        faith = rng.uniform(level - 0.2, level + 0.2, 30).round(3)
        out[trial] = {
            "hit_rate": dict(zip(QUESTIONS, hits.tolist(), strict=True)),
            "mrr": dict(zip(QUESTIONS, (hits / rng.integers(1, 4, 30)).tolist(), strict=True)),
            "faithfulness": dict(zip(QUESTIONS, faith.tolist(), strict=True)),
        }
    return out


RUNS = {
    "base": "run-base",
    "regressed": "run-regressed",
    "other": "run-other",
    "noisy": "run-noisy",
    "small": "run-small",
}
_BUILT: dict[str, Path] = {}


def known_pairs(folder: Path) -> tuple[Path, dict[str, str]]:
    """The results file holding ``RUNS``, written once per session (tests only read it).

    Returns:
        The file (created under ``folder`` by the first call) and the run ids by name.
    """
    if "db" not in _BUILT:
        _write_pairs(folder / "pairs.duckdb")
        _BUILT["db"] = folder / "pairs.duckdb"
    return _BUILT["db"], RUNS


def _write_pairs(db: Path) -> None:
    store = Store(db)
    base = baseline_scores()
    write_run(store, RUNS["base"], "pair", base)

    good = _copy(base)["good"]
    for q in QUESTIONS[:20]:
        good["faithfulness"][q] = round(max(0.0, good["faithfulness"][q] - 0.25), 3)  # type: ignore[operator]
    answers = {"good": {q: f"a worse answer to {q} <b>bold</b>" for q in QUESTIONS[:20]}}
    write_run(store, RUNS["regressed"], "regressed", {**base, "good": good}, answers)
    write_run(store, RUNS["other"], "other", {"fresh": good})  # no trial in common with base

    rng = np.random.default_rng(1)
    noisy = _copy(base)["good"]
    for q in QUESTIONS:
        value = noisy["faithfulness"][q] + rng.normal(0, 0.05)  # type: ignore[operator]
        noisy["faithfulness"][q] = float(np.clip(value, 0, 1))
    hits = noisy["hit_rate"]
    ones, zeros = [q for q in QUESTIONS if hits[q] == 1], [q for q in QUESTIONS if hits[q] == 0]
    for q in ones[:2] + zeros[:2]:  # two questions lost, two gained
        hits[q] = 1.0 - hits[q]  # type: ignore[operator]
    write_run(store, RUNS["noisy"], "noisy", {"good": noisy})

    small = _copy(base)["good"]
    for q, noise in zip(QUESTIONS, rng.normal(0, 0.003, 30), strict=True):
        small["faithfulness"][q] = small["faithfulness"][q] - 0.01 + float(noise)  # type: ignore[operator]
    write_run(store, RUNS["small"], "small", {"good": small})


def _copy(scores: Scores) -> Scores:
    return {t: {m: dict(v) for m, v in by_metric.items()} for t, by_metric in scores.items()}
