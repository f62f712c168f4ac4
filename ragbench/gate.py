"""Quality gate: block a merge when a trial of the latest run scores below given minimums.

Contract: ``check_gate(store, experiment, {"faithfulness": 0.6}, trial="best")`` takes the latest
run of the experiment (``Store.latest_run``), picks a trial (``"best"``: the highest mean of the
first metric; otherwise a trial id) and compares each metric's mean (failed scores excluded) with its
minimum. A metric passes when its mean is >= the minimum; a metric with no successful score fails.
Bad input (unknown experiment, metric or trial, malformed minimum) raises ``GateError``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from ragbench.store import Store


class GateError(ValueError):
    """The gate cannot be evaluated as asked (a usage error, not a failed gate)."""


@dataclass
class GateRow:
    metric: str
    threshold: float
    value: float | None  # None when the trial has no successful score of the metric
    n: int  # successful scores
    failed: int  # recorded failures (never averaged in)

    @property
    def passed(self) -> bool:
        return self.n > 0 and self.value is not None and self.value >= self.threshold


@dataclass
class GateResult:
    experiment: str
    run_id: str
    trial_id: str
    label: str
    fake_models: bool
    rows: list[GateRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def failures(self) -> list[GateRow]:
        return [r for r in self.rows if not r.passed]

    def table(self) -> str:
        """Header, one line per metric (metric, threshold, value, n, failed, PASS/FAIL), verdict."""
        header = ["metric", "threshold", "value", "n", "failed", "result"]
        body = [
            [
                r.metric,
                f"{r.threshold:.3f}",
                "-" if r.value is None else f"{r.value:.3f}",
                str(r.n),
                str(r.failed),
                "PASS" if r.passed else "FAIL",
            ]
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

        def fmt(line: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )

        lines = [
            f"gate: experiment {self.experiment}  run {self.run_id}",
            f"trial {self.trial_id}  ({self.label})",
        ]
        if self.fake_models:
            lines.append(
                "WARNING: this run used FAKE models (test doubles); its scores mean nothing."
            )
        lines += ["", fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body), ""]
        if self.passed:
            lines.append(f"PASS: all {len(self.rows)} minimum(s) met")
        else:
            why = ", ".join(
                f"{r.metric} "
                + (
                    "has no successful score"
                    if r.n == 0 or r.value is None
                    else f"{r.value:.3f} < {r.threshold:.3f}"
                )
                for r in self.failures
            )
            lines.append(f"FAIL: {len(self.failures)} of {len(self.rows)} below minimum ({why})")
        return "\n".join(lines)


def parse_minimums(items: list[str]) -> dict[str, float]:
    """``["faithfulness=0.6", "hit_rate=0.8"]`` -> ``{"faithfulness": 0.6, "hit_rate": 0.8}``."""
    minimums: dict[str, float] = {}
    for item in items:
        metric, sep, text = item.partition("=")
        metric, text = metric.strip(), text.strip()
        if not sep or not metric or not text:
            raise GateError(f"--min '{item}' is not METRIC=VALUE (e.g. faithfulness=0.6)")
        try:
            value = float(text)
        except ValueError:
            raise GateError(f"--min '{item}': '{text}' is not a number") from None
        if not math.isfinite(value) or not 0 <= value <= 1:
            raise GateError(f"--min '{item}': the minimum must be between 0 and 1 (scores are)")
        if metric in minimums:
            raise GateError(f"--min {metric} is given twice")
        minimums[metric] = value
    return minimums


def check_gate(
    store: Store, experiment: str, minimums: dict[str, float], trial: str = "best"
) -> GateResult:
    """Compare one trial of the experiment's latest run with the minimums (see module docstring).

    Raises:
        GateError: no minimums, no run of the experiment, a metric the run did not measure, or an
            unknown trial id (the message lists the valid ones).
    """
    from ragbench.report import summarize  # report may import plotting: import at call time

    if not minimums:
        raise GateError("give at least one minimum, e.g. --min faithfulness=0.6")
    run_id = store.latest_run(experiment)
    if run_id is None:
        raise GateError(f"no run of experiment '{experiment}' in {store.path}")
    info = store.run_info(run_id)
    summary = summarize(store, run_id)
    configured = json.loads(info["config_json"]).get("metrics", [])
    measured = list(dict.fromkeys([*configured, *summary.metric]))
    unknown = [m for m in minimums if m not in measured]
    if unknown:
        raise GateError(
            f"run {run_id} has no metric {', '.join(unknown)}; "
            f"its metrics: {', '.join(measured) or 'none'}"
        )
    trials = store.query(
        "SELECT trial_id, label FROM trials WHERE run_id = ? ORDER BY label", [run_id]
    )
    if trials.empty:
        raise GateError(f"run {run_id} has no trials")
    labels = dict(zip(trials.trial_id, trials.label, strict=True))
    if trial == "best":
        trial_id = _best_trial(summary, list(labels), next(iter(minimums)))
    elif trial in labels:
        trial_id = trial
    else:
        valid = ", ".join(f"{t} ({lab})" for t, lab in labels.items())
        raise GateError(f"run {run_id} has no trial '{trial}'; valid: best, {valid}")
    mine = summary[summary.trial_id == trial_id].set_index("metric")
    rows = []
    for metric, threshold in minimums.items():
        if metric in mine.index:
            n = int(mine.at[metric, "n"])
            mean = mine.at[metric, "mean"]
            value = None if n == 0 or pd.isna(mean) else float(mean)
            rows.append(GateRow(metric, threshold, value, n, int(mine.at[metric, "n_failed"])))
        else:
            rows.append(GateRow(metric, threshold, None, 0, 0))
    return GateResult(
        experiment, run_id, trial_id, labels[trial_id], bool(info["fake_models"]), rows
    )


def _best_trial(summary: pd.DataFrame, trial_ids: list[str], metric: str) -> str:
    """The trial with the highest mean ``metric``; ties and unscored trials go by label order."""
    means = summary[summary.metric == metric].set_index("trial_id")["mean"]
    scored = [
        (float(means[t]), -k, t)
        for k, t in enumerate(trial_ids)
        if t in means.index and pd.notna(means[t])
    ]
    return max(scored)[2] if scored else trial_ids[0]
