"""Quality gate for CI: minimum scores, and no significant regression against a baseline run.

Contract:
- ``check_gate(store, experiment, {"faithfulness": 0.6}, trial="best")`` takes the latest run of
  the experiment (``Store.latest_run``), picks a trial (``"best"``: ``stats.best_trial`` on the
  first metric given, over the dev questions of a run with a held-out split, ranked by the
  prediction-powered means when people labelled enough of its items, as the report; otherwise a
  trial id) and compares each metric's mean (``stats.summarize`` over every question, failed scores
  excluded) with its minimum. A metric passes when its mean is >= the minimum; a metric with no
  successful score fails.
- ``check_regression(store, experiment, baseline_run, min_effect=0.02)`` compares the latest run's
  trial (``"best"`` on the run's first metric, or a trial id) with the baseline run's same trial_id
  (its best when absent) per metric over the questions both scored, via ``diff.compare_runs``: a
  paired sign-flip test per metric, Holm across metrics. A metric FAILS only when it regressed
  significantly (``p_adjusted < alpha``) AND the mean drop is at least ``min_effect``; noise and
  small significant drops pass. Too few shared questions pass with a note: the gate cannot see.
  A baseline that scored different data is refused (``diff.data_warnings``) unless
  ``allow_different_data``; one of another experiment is compared, with a note.
- Bad input (unknown experiment, run, metric or trial, malformed minimum) raises ``GateError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from ragbench import stats
from ragbench.config.validation import one_line
from ragbench.data.splits import dev_scores
from ragbench.results.diff import DiffError, RunDiff, compare_runs
from ragbench.results.labels import label_rows, read_labels
from ragbench.store import Store

#: Default smallest drop of a mean that fails the gate: 0.02 on [0, 1] scores, i.e. two points
#: of hit rate; smaller significant drops on large question sets are not worth blocking a merge.
MIN_EFFECT = 0.02


class GateError(ValueError):
    """The gate cannot be evaluated as asked (a usage error, not a failed gate)."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


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
        lines = [
            f"gate: experiment {self.experiment}  run {self.run_id}",
            f"trial {self.trial_id}  ({self.label})",
        ]
        if self.fake_models:
            lines.append(
                "WARNING: this run used FAKE models (test doubles); its scores mean nothing."
            )
        lines += ["", *_align(header, body), ""]
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


@dataclass
class RegressionResult:
    """The latest run against a baseline: ``diff`` holds the tests, the rest is the decision."""

    experiment: str
    diff: RunDiff
    min_effect: float

    @property
    def regressions(self) -> pd.DataFrame:
        """Metrics that regressed significantly by at least ``min_effect`` (these fail)."""
        t = self.diff.tests
        return t[(t["verdict"] == "regressed") & (-t["delta"] >= self.min_effect)]

    @property
    def passed(self) -> bool:
        return self.regressions.empty

    def table(self) -> str:
        """Runs and trials, one line per metric with its decision, then PASS/FAIL."""
        d = self.diff
        lines = [
            f"gate: experiment {self.experiment}  latest run {d.run_b} vs baseline {d.run_a}",
            *d.header(("baseline", "latest")),
            "",
        ]
        failing = set(self.regressions["metric"])
        header = ["metric", "n", "baseline", "latest", "delta [CI]", "p (Holm)", "result"]
        body = []
        for r in d.tests.itertuples():
            result = (
                "FAIL" if r.metric in failing else _pass_reason(r.verdict, r.delta, self.min_effect)
            )
            body.append(
                [
                    r.metric,
                    str(r.n),
                    _f(r.mean_a),
                    _f(r.mean_b),
                    f"{_f(r.delta, '+.3f')} [{_f(r.delta_ci_low, '+.3f')}, "
                    f"{_f(r.delta_ci_high, '+.3f')}]",
                    _f(r.p_adjusted, ".3g"),
                    result,
                ]
            )
        lines += [*_align(header, body), ""]
        too_few = d.tests[d.tests["verdict"].isin(("too_few", "not_compared"))]
        if not too_few.empty:
            lines.append(
                f"note: {', '.join(too_few.metric)}: fewer than {stats.MIN_N} shared questions, "
                "so no regression can be shown there"
            )
        if self.passed:
            lines.append(
                f"PASS: no metric regressed significantly (Holm, alpha={d.alpha}) "
                f"by {self.min_effect} or more"
            )
        else:
            why = ", ".join(f"{r.metric} {r.delta:+.3f}" for r in self.regressions.itertuples())
            lines.append(
                f"FAIL: {len(self.regressions)} metric(s) regressed significantly (Holm, "
                f"alpha={d.alpha}) by at least {self.min_effect}: {why}"
            )
        return "\n".join(lines)


def _pass_reason(verdict: str, delta: float, min_effect: float) -> str:
    if verdict == "regressed":
        return f"PASS (drop < {min_effect})"
    return {"too_few": "PASS (too few)", "not_compared": "PASS (none shared)"}.get(verdict, "PASS")


def _f(x: float, spec: str = ".3f") -> str:
    return "-" if pd.isna(x) else format(x, spec)


def _align(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )

    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)]


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


def _latest(store: Store, experiment: str) -> str:
    run_id = store.latest_run(experiment)
    if run_id is None:
        raise GateError(f"no run of experiment '{experiment}' in {store.path}")
    return run_id


def check_gate(
    store: Store, experiment: str, minimums: dict[str, float], trial: str = "best"
) -> GateResult:
    """Compare one trial of the experiment's latest run with the minimums (see module docstring).

    Raises:
        GateError: no minimums, no run of the experiment, a metric the run did not measure, or an
            unknown trial id (the message lists the valid ones).
    """
    if not minimums:
        raise GateError("give at least one minimum, e.g. --min faithfulness=0.6")
    run_id = _latest(store, experiment)
    info = store.run_info(run_id)
    scores = store.scores(run_id)
    summary = stats.summarize(scores)
    configured = info.metrics
    measured = list(dict.fromkeys([*configured, *summary.metric]))
    unknown = [m for m in minimums if m not in measured]
    if unknown:
        raise GateError(
            f"run {run_id} has no metric {', '.join(unknown)}; "
            f"its metrics: {', '.join(measured) or 'none'}"
        )
    trials = store.trials(run_id)
    if trials.empty:
        raise GateError(f"run {run_id} has no trials")
    labels = dict(zip(trials.trial_id, trials.label, strict=True))
    if trial == "best":
        # a run whose first metric has no valid score at all: fall back on the first label
        # chosen on the dev questions when the run held some out (its `split:`)
        dev = dev_scores(scores, store.question_splits(run_id))
        people = label_rows(read_labels(store, run_id))  # enough labels: the report's PPI best
        trial_id = stats.best_trial(dev, next(iter(minimums)), people) or next(iter(labels))
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
    return GateResult(experiment, run_id, trial_id, labels[trial_id], info.fake_models, rows)


def check_regression(
    store: Store,
    experiment: str,
    baseline: str,
    trial: str = "best",
    min_effect: float = MIN_EFFECT,
    alpha: float = 0.05,
    allow_different_data: bool = False,
) -> RegressionResult:
    """Compare the experiment's latest run with a baseline run (see module docstring).

    Args:
        store: The results store holding both runs.
        experiment: Its latest run is the candidate.
        baseline: The baseline run id.
        trial: The latest run's trial id, or ``"best"`` (on the run's first metric).
        min_effect: Smallest significant drop of a mean that fails the gate.
        alpha: Family-wise error rate across the metrics (Holm).
        allow_different_data: Compare with a baseline that scored different data (warned).

    Raises:
        GateError: no run of the experiment, unknown baseline or trial, the baseline is the
            latest run itself, a bad ``min_effect``, no metric in common, or a baseline that
            scored different data (unless ``allow_different_data``).
    """
    if not math.isfinite(min_effect) or min_effect < 0:
        raise GateError(f"--min-effect {min_effect}: must be a number >= 0")
    latest = _latest(store, experiment)
    if baseline == latest:
        raise GateError(f"--baseline {baseline} is the latest run of '{experiment}' itself")
    try:
        diff = compare_runs(
            store,
            baseline,
            latest,
            trial=trial,
            alpha=alpha,
            allow_different_data=allow_different_data,
        )
    except DiffError as exc:
        raise GateError(str(exc)) from None
    return RegressionResult(experiment, diff, min_effect)
