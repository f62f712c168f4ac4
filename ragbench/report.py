"""Reports: per-trial means with confidence intervals, failure counts, significance, charts.

Contract: ``summarize(store, run_id)`` -> one row per (trial, metric) with ``mean``, ``ci_low``,
``ci_high``, ``n`` (scored questions) and ``n_failed`` (recorded judge/generation failures, never
averaged in). ``report(experiment, db)`` prints the comparison table (the best trial of each metric
marked ``*``) followed by one significance line per metric, and writes the charts, ``summary.csv``,
``rankings.csv`` and ``report.md`` under ``results/<experiment>/``; a run made with fake models
says so in the title and the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ragbench.stats import RANKING_COLUMNS, bootstrap_ci, rank_trials
from ragbench.store import Store


@dataclass
class Report:
    run_id: str
    experiment: str
    fake_models: bool
    summary: pd.DataFrame
    table: str
    charts: list[Path]
    rankings: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per metric, ``stats.rank_trials`` of the run: best first, with ``tied_with_best``."""


def summarize(store: Store, run_id: str) -> pd.DataFrame:
    """One row per (trial, metric) of a run: mean, bootstrap interval, n scored and n failed."""
    return summarize_scores(store.scores(run_id))


def summarize_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """``summarize`` on long scores as returned by ``Store.scores``."""
    rows = []
    for (trial_id, label, metric), group in scores.groupby(["trial_id", "label", "metric"], sort=False):
        ok = group.value.dropna()
        mean, low, high = bootstrap_ci(ok.to_numpy())
        rows.append({"trial_id": trial_id, "label": label, "metric": metric, "mean": mean,
                     "ci_low": low, "ci_high": high, "n": int(ok.size),
                     "n_failed": int(group.error.notna().sum())})
    return pd.DataFrame(rows, columns=["trial_id", "label", "metric", "mean", "ci_low", "ci_high",
                                       "n", "n_failed"])


def best_trials(rankings: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The best trial_id of each metric that has at least one score."""
    return {metric: str(r.trial_id.iloc[0]) for metric, r in rankings.items()
            if not r.empty and r.n.iloc[0] > 0}


def format_table(summary: pd.DataFrame, rankings: dict[str, pd.DataFrame] | None = None) -> str:
    """Trials as rows, metrics as columns: ``mean [low, high] n=N`` plus failures when any.

    With ``rankings`` (``report`` passes them) the best trial of each metric has ``*`` after its
    mean.
    """
    if summary.empty:
        return "(no scores)"
    best = best_trials(rankings or {})

    def cell(r: pd.Series) -> str:
        star = "*" if best.get(r["metric"]) == str(r["trial_id"]) else ""
        text = f"{r['mean']:.3f}{star} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] n={r['n']}"
        return text + (f" failed={r['n_failed']}" if r["n_failed"] else "")

    cells = summary.assign(cell=summary.apply(cell, axis=1))
    wide = cells.pivot(index=["label", "trial_id"], columns="metric", values="cell").fillna("-")
    wide = wide.reset_index().rename(columns={"label": "trial"})
    return wide.to_string(index=False)


def significance_lines(rankings: dict[str, pd.DataFrame]) -> list[str]:
    """One line per metric: the best trial and which others it does (not) beat significantly."""
    lines = []
    for metric, ranking in rankings.items():
        if ranking.empty or ranking.n.iloc[0] == 0:
            lines.append(f"{metric}: no scores")
            continue
        best, others = ranking.iloc[0], ranking.iloc[1:]
        line = f"{metric}: best = {best.label} ({best['mean']:.3f})"
        compared = others.diff_ci_low.notna()
        tied = others[compared & others.tied_with_best]
        worse = others[compared & ~others.tied_with_best]
        if others.empty:
            line += "; no other trial"
        elif len(worse) == len(others):
            line += "; all others significantly worse"
        else:
            if len(tied):
                line += f"; not significantly different: {', '.join(tied.label)}"
            if len(worse):
                line += f"; significantly worse: {', '.join(worse.label)}"
        if (~compared).any():
            line += f"; not compared (no shared scores): {', '.join(others[~compared].label)}"
        lines.append(line)
    return lines


SIGNIFICANCE_NOTE = (
    "* = best mean. Others vs best, paired over the questions both scored: "
    "95% bootstrap CI of the difference and sign-flip permutation test (alpha 0.05)."
)


def rankings_frame(rankings: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All rankings in one long frame with a leading ``metric`` column (for rankings.csv)."""
    frames = [r.assign(metric=m) for m, r in rankings.items() if not r.empty]
    if not frames:
        return pd.DataFrame(columns=["metric", *RANKING_COLUMNS])
    return pd.concat(frames, ignore_index=True)[["metric", *RANKING_COLUMNS]]


def report(experiment: str, db: str | Path, run_id: str | None = None,
           out_dir: str | Path | None = None) -> Report:
    """Summarize a run (default: the latest of the experiment) and write its charts."""
    from ragbench.plots import all_charts

    store = Store(db)
    run_id = run_id or store.latest_run(experiment)
    if run_id is None:
        raise LookupError(f"no run of experiment '{experiment}' in {db}")
    info = store.run_info(run_id)
    scores = store.scores(run_id)
    summary = summarize_scores(scores)
    rankings = {m: rank_trials(scores, m) for m in dict.fromkeys(summary.metric)}
    fake = bool(info["fake_models"])
    header = f"experiment {experiment}  run {run_id}  status {info['status']}"
    if fake:
        header += "\nWARNING: this run used FAKE models (test doubles); its scores mean nothing."
    body = format_table(summary, rankings)
    if rankings:
        body += "\n\n" + "\n".join([*significance_lines(rankings), SIGNIFICANCE_NOTE])
    stages = store.query(
        "SELECT label, stage, stage_note FROM trials WHERE run_id = ? AND stage IS NOT NULL "
        "ORDER BY stage DESC, label",
        [run_id],
    )
    if not stages.empty:
        body += "\n\nstaged search (stage 1: retrieval metrics for every trial; stage 2: answers " \
            "and LLM-judged metrics for the trials kept):\n" + "\n".join(
                f"  {r.label}: {r.stage_note}" for r in stages.itertuples()
            )
    table = header + "\n" + body
    out = Path(out_dir) if out_dir else Path(db).parent / experiment
    out.mkdir(parents=True, exist_ok=True)
    charts: list[Path] = []
    if not summary.empty:
        title = f"{experiment} ({run_id})" + ("  [FAKE MODELS]" if fake else "")
        charts = all_charts(store, run_id, out, title)
    summary.to_csv(out / "summary.csv", index=False)
    ranked = rankings_frame(rankings)
    ranked.to_csv(out / "rankings.csv", index=False)
    (out / "report.md").write_text(
        f"# {experiment}\n\nrun `{run_id}`, status {info['status']}, "
        f"fake models: {'YES' if fake else 'no'}\n\n```\n{body}\n```\n\n"
        + "".join(f"![{c.stem}]({c.name})\n" for c in charts)
        + ("\n## Rankings\n\n```\n" + _rankings_text(ranked) + "\n```\n" if rankings else "")
        + f"\nprovenance: git {info['git_sha']}, versions {json.loads(info['versions_json'])}\n"
    )
    return Report(run_id, experiment, fake, summary, table, charts, rankings)


def _rankings_text(ranked: pd.DataFrame) -> str:
    shown = ranked.drop(columns="trial_id")
    return shown.to_string(index=False, float_format=lambda x: f"{x:.3f}")
