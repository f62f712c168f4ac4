"""Reports: per-trial means with confidence intervals, failure counts, charts on disk.

Contract: ``summarize(store, run_id)`` -> one row per (trial, metric) with ``mean``, ``ci_low``,
``ci_high``, ``n`` (scored questions) and ``n_failed`` (recorded judge/generation failures, never
averaged in). ``report(experiment, db)`` prints the comparison table and writes the charts under
``results/<experiment>/``; a run made with fake models says so in the title and the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ragbench.stats import bootstrap_ci
from ragbench.store import Store


@dataclass
class Report:
    run_id: str
    experiment: str
    fake_models: bool
    summary: pd.DataFrame
    table: str
    charts: list[Path]


def summarize(store: Store, run_id: str) -> pd.DataFrame:
    scores = store.scores(run_id)
    rows = []
    for (trial_id, label, metric), group in scores.groupby(["trial_id", "label", "metric"], sort=False):
        ok = group.value.dropna()
        mean, low, high = bootstrap_ci(ok.to_numpy())
        rows.append({"trial_id": trial_id, "label": label, "metric": metric, "mean": mean,
                     "ci_low": low, "ci_high": high, "n": int(ok.size),
                     "n_failed": int(group.error.notna().sum())})
    return pd.DataFrame(rows, columns=["trial_id", "label", "metric", "mean", "ci_low", "ci_high",
                                       "n", "n_failed"])


def format_table(summary: pd.DataFrame) -> str:
    """Trials as rows, metrics as columns: ``mean [low, high] n=N`` plus failures when any."""
    if summary.empty:
        return "(no scores)"

    def cell(r: pd.Series) -> str:
        text = f"{r['mean']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] n={r['n']}"
        return text + (f" failed={r['n_failed']}" if r["n_failed"] else "")

    cells = summary.assign(cell=summary.apply(cell, axis=1))
    wide = cells.pivot(index=["label", "trial_id"], columns="metric", values="cell").fillna("-")
    wide = wide.reset_index().rename(columns={"label": "trial"})
    return wide.to_string(index=False)


def report(experiment: str, db: str | Path, run_id: str | None = None,
           out_dir: str | Path | None = None) -> Report:
    """Summarize a run (default: the latest of the experiment) and write its charts."""
    from ragbench.plots import metric_chart

    store = Store(db)
    run_id = run_id or store.latest_run(experiment)
    if run_id is None:
        raise LookupError(f"no run of experiment '{experiment}' in {db}")
    info = store.run_info(run_id)
    summary = summarize(store, run_id)
    fake = bool(info["fake_models"])
    header = f"experiment {experiment}  run {run_id}  status {info['status']}"
    if fake:
        header += "\nWARNING: this run used FAKE models (test doubles); its scores mean nothing."
    table = header + "\n" + format_table(summary)
    out = Path(out_dir) if out_dir else Path(db).parent / experiment
    out.mkdir(parents=True, exist_ok=True)
    charts = []
    if not summary.empty:
        title = f"{experiment} ({run_id})" + ("  [FAKE MODELS]" if fake else "")
        charts.append(metric_chart(summary, out / "metrics.png", title))
    summary.to_csv(out / "summary.csv", index=False)
    (out / "report.md").write_text(
        f"# {experiment}\n\nrun `{run_id}`, status {info['status']}, "
        f"fake models: {'YES' if fake else 'no'}\n\n```\n{format_table(summary)}\n```\n\n"
        + "".join(f"![{c.stem}]({c.name})\n" for c in charts)
        + f"\nprovenance: git {info['git_sha']}, versions {json.loads(info['versions_json'])}\n"
    )
    return Report(run_id, experiment, fake, summary, table, charts)
