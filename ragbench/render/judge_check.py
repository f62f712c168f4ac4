"""A judge check, shown: its agreement figures and confusion matrix as HTML, and as a PNG chart.

Contract:
- ``run_judge_check(dataset, ...)`` is ``judge.check.check_dataset`` (load a labelled set, judge
  it as a run, compute agreement) returning a :class:`JudgeCheck`: the same
  ``JudgeCheckResult`` plus ``_repr_html_`` (notebook 04: the judge, the threshold, balanced
  accuracy and Cohen's kappa with their 95% intervals and the 2x2 confusion matrix; no file
  paths). ``summary()`` (the CLI's text) is the result's own.
- ``confusion_chart(result, path)`` writes the confusion matrix (counts and row shares) as a PNG,
  drawn without pyplot, and returns its path.
Nothing here judges or computes a figure: the numbers come from ``judge.check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ragbench.config.components import JudgeConfig
from ragbench.judge.check import DEFAULT_DB, JudgeCheckResult, check_dataset, fmt
from ragbench.render.html import banner, esc
from ragbench.render.views import as_view

CELL = 'style="padding:2px 10px;text-align:left"'


@dataclass
class JudgeCheck(JudgeCheckResult):
    """A judge check's agreement with human labels that shows itself in a notebook."""

    def _repr_html_(self) -> str:
        """The agreement figures and the confusion matrix as HTML (notebook 04); no file paths."""
        c = self.counts
        rows = [
            ("balanced accuracy", self.balanced_accuracy, self.balanced_accuracy_ci),
            ("Cohen's kappa", self.kappa, self.kappa_ci),
        ]
        figures = "".join(
            f"<tr><td {CELL}>{esc(name)}</td><td {CELL}>{fmt(v)} [{fmt(lo)}, {fmt(hi)}] "
            "(95% CI)</td></tr>"
            for name, v, (lo, hi) in rows
        )
        matrix = "".join(
            "<tr>" + "".join(f"<td {CELL}>{esc(x)}</td>" for x in row) + "</tr>"
            for row in (
                ("human \u2193 judge \u2192", "faithful", "unfaithful"),
                ("attributable", c["tp"], c["fn"]),
                ("not attributable", c["fp"], c["tn"]),
            )
        )
        fake = banner("FAKE MODELS: these figures say nothing about a real judge.", "fake")
        return (
            f"<div>{fake if self.fake_models else ''}<b>judge-check {esc(self.dataset)}</b>: "
            f"judge {esc(self.judge)}, verdict = faithfulness &gt;= {self.threshold:g}; "
            f"{self.n} judged, {self.n_failed} failed (excluded)<table>{figures}</table>"
            f"<div>confusion matrix</div><table>{matrix}</table></div>"
        )


def run_judge_check(
    dataset: str | Path,
    *,
    split: str = "dev",
    limit: int | None = None,
    judge: str | JudgeConfig = "local",
    db: str | Path = DEFAULT_DB,
    threshold: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> JudgeCheck:
    """Load a labelled set and check a judge on it: what the CLI and notebook 04 call.

    ``judge`` is a provider name (``local``, ``fake``) or a full :class:`JudgeConfig`. ``limit``
    draws a seeded, label-stratified sample; ``threshold`` None is the judge's
    ``verdict_threshold``. See ``judge.check.check_dataset``.
    """
    result = check_dataset(
        dataset,
        split=split,
        limit=limit,
        judge=judge,
        db=db,
        threshold=threshold,
        seed=seed,
        progress=progress,
    )
    return as_view(JudgeCheck, result)


def confusion_chart(result: JudgeCheckResult, path: str | Path) -> Path:
    """Write the 2x2 confusion matrix (counts and row shares) as a PNG; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matrix = result.matrix
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig = Figure(figsize=(5.2, 4.2))
    FigureCanvasAgg(fig)  # headless and without pyplot: nothing global, nothing shown twice
    ax = fig.subplots()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (r, c), count in np.ndenumerate(matrix):
        ax.text(
            c,
            r,
            f"{count}\n({share[r, c]:.0%} of row)",
            ha="center",
            va="center",
            color="white" if share[r, c] > 0.6 else "black",
        )
    ax.set_xticks([0, 1], ["faithful", "unfaithful"])
    ax.set_yticks([0, 1], ["attributable", "not attributable"])
    ax.set_xlabel(f"judge (faithfulness >= {result.threshold:g})")
    ax.set_ylabel("human label")
    lo, hi = result.balanced_accuracy_ci
    title = (
        f"{result.dataset}: {result.judge}\nn={result.n}, failed={result.n_failed}, "
        f"bal. acc {fmt(result.balanced_accuracy)} [{fmt(lo)}, {fmt(hi)}], "
        f"kappa {fmt(result.kappa)}"
    )
    if result.fake_models:
        title = "FAKE MODELS - " + title
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
