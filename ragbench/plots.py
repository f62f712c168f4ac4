"""Comparison charts (matplotlib, headless): one PNG per question you would ask of a run.

Contract: each function takes a ``report.summarize`` frame, writes one PNG and returns its path.
Trials are labelled by their swept values ("chunk_size=128, top_k=2"), never by hashes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and papermill have no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def metric_chart(summary: pd.DataFrame, path: Path, title: str) -> Path:
    """One panel per metric: each trial's mean with its 95% bootstrap interval."""
    metrics = list(dict.fromkeys(summary.metric))
    labels = list(dict.fromkeys(summary.label))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 2.5, 0.5 * len(labels) + 2),
                             sharey=True, squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        part = summary[summary.metric == metric].set_index("label").reindex(labels)
        y = range(len(labels))
        err = [(part["mean"] - part.ci_low).clip(lower=0), (part.ci_high - part["mean"]).clip(lower=0)]
        ax.errorbar(part["mean"], y, xerr=err, fmt="o", capsize=4, color="tab:blue")
        for yi, (_, r) in zip(y, part.iterrows(), strict=True):
            if pd.notna(r["mean"]):
                ax.annotate(f"{r['mean']:.2f} (n={int(r['n'])})", (r["mean"], yi),
                            textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
        ax.set_title(metric)
        ax.set_xlim(-0.05, 1.1)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(labels)), labels)
    axes[0][0].invert_yaxis()
    fig.suptitle(title + "\nmean with 95% bootstrap CI", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
