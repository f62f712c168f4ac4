"""Judge meta-evaluation: how well does the configured faithfulness judge agree with humans?

Contract:
- ``judge_check(items, judge_cfg, db)`` is a run like any other: the labelled items become a
  dataset of ready-made records (``labelled.ready_made``: context, answer and the human
  label) and ``experiment.run`` judges them with the same :class:`~ragbench.judge.scoring.Judge`
  ("faithfulness") experiments use, storing an experiment ``judge-check-<dataset>`` with one
  record per item and two score rows per item: ``faithfulness`` (NULL + error on failure) and
  ``human_label`` (1.0/0.0), so agreement can be recomputed in SQL.
- ``agreement(scores, threshold)`` reads those rows back: verdict = ``score >= threshold``
  (``judge.verdict_threshold`` unless the check is given another); a
  judge failure is counted (``n_failed``) and excluded, never turned into a verdict. It returns
  balanced accuracy and Cohen's kappa with seeded 95% bootstrap intervals and the 2x2 confusion
  matrix.
- Both figures compare the judge on each human class: labels of one class are refused before any
  judging (``ValueError`` saying how many of each there are), and a figure left undefined by judge
  failures (a class none of whose items got a verdict) is printed as ``undefined`` with the
  reason, never as ``nan``.
- ``check_dataset(dataset, ...)`` loads a labelled set and checks in one call (the CLI and notebook
  call it through ``ragbench.run_judge_check``, which shows the result: ``render.judge_check``).
  ``JudgeCheckResult.summary()`` is the figures as text; this module draws nothing and writes no
  file but the run it stores.

Positive class everywhere = "attributable" (human) / "faithful" (judge).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ragbench import models
from ragbench.config.experiment import DatasetConfig, ExperimentConfig, JudgeConfig, PipelineConfig
from ragbench.data.datasets import Dataset
from ragbench.data.labelled import BEGIN_WOW, LabelledItem, dataset_name, load_labelled, ready_made
from ragbench.experiment.orchestrator import run
from ragbench.experiment.retrieval import HUMAN_LABEL
from ragbench.store import DEFAULT_DB, Store

METRIC = "faithfulness"


# --- agreement metrics -----------------------------------------------------------------------------


def confusion(human: Sequence[bool], judge: Sequence[bool]) -> dict[str, int]:
    """Counts of (human, judge) pairs: tp = both positive, fn = human yes / judge no, etc."""
    if len(human) != len(judge):
        raise ValueError(f"{len(human)} human labels but {len(judge)} verdicts")
    h = np.asarray(human, dtype=bool)
    j = np.asarray(judge, dtype=bool)
    return {
        "tp": int(np.sum(h & j)),
        "fn": int(np.sum(h & ~j)),
        "fp": int(np.sum(~h & j)),
        "tn": int(np.sum(~h & ~j)),
    }


def _from_counts(
    tp: np.ndarray | int, fn: np.ndarray | int, fp: np.ndarray | int, tn: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced accuracy and Cohen's kappa from (arrays of) confusion counts.

    Balanced accuracy averages the recall on both human classes (NaN when one is absent).
    Kappa = (p_o - p_e) / (1 - p_e), computed in integers; NaN when p_e = 1 (both sides constant
    and equal: chance explains everything, so agreement beyond chance is undefined).
    """
    tp, fn, fp, tn = (np.asarray(x, dtype=np.int64) for x in (tp, fn, fp, tn))
    pos, neg = tp + fn, fp + tn
    n = pos + neg
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = np.where(pos > 0, tp / np.maximum(pos, 1), np.nan)
        tnr = np.where(neg > 0, tn / np.maximum(neg, 1), np.nan)
        ba = (tpr + tnr) / 2  # NaN when a human class is absent: nothing to balance
        chance = (tp + fp) * pos + (fn + tn) * neg  # n^2 * p_e
        num = n * (tp + tn) - chance
        den = n * n - chance
        kappa = np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)
    return ba, kappa


def balanced_accuracy(human: Sequence[bool], judge: Sequence[bool]) -> float:
    """Mean of the judge's recall on attributable and on not-attributable items (NaN if a class
    is absent)."""
    c = confusion(human, judge)
    return float(_from_counts(c["tp"], c["fn"], c["fp"], c["tn"])[0])


def cohen_kappa(human: Sequence[bool], judge: Sequence[bool]) -> float:
    """Cohen's kappa: agreement beyond what the two sides' label rates give by chance."""
    c = confusion(human, judge)
    return float(_from_counts(c["tp"], c["fn"], c["fp"], c["tn"])[1])


def agreement_ci(
    human: Sequence[bool],
    judge: Sequence[bool],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of balanced accuracy and kappa, resampling items.

    Resamples where a metric is undefined (e.g. one class only) are left out of its interval.
    """
    h = np.asarray(human, dtype=bool)
    j = np.asarray(judge, dtype=bool)
    nan = (float("nan"), float("nan"))
    if h.size < 2:
        return {"balanced_accuracy": nan, "kappa": nan}
    idx = np.random.default_rng(seed).integers(0, h.size, size=(n_resamples, h.size))
    hs, js = h[idx], j[idx]
    ba, kappa = _from_counts(
        (hs & js).sum(1), (hs & ~js).sum(1), (~hs & js).sum(1), (~hs & ~js).sum(1)
    )
    tail = (1 - confidence) / 2
    out: dict[str, tuple[float, float]] = {}
    for name, values in (("balanced_accuracy", ba), ("kappa", kappa)):
        ok = values[np.isfinite(values)]
        low, high = np.quantile(ok, [tail, 1 - tail]) if ok.size else nan
        out[name] = (float(low), float(high))
    return out


# --- the check -------------------------------------------------------------------------------------


@dataclass
class JudgeCheckResult:
    """Agreement of one judge with human labels; ``items`` has one row per item."""

    dataset: str
    run_id: str
    db: Path
    judge: str  # llm id
    threshold: float
    fake_models: bool
    n: int  # items with a verdict
    n_failed: int  # judge failures: counted, excluded
    counts: dict[str, int]  # tp, fn, fp, tn (positive = attributable / faithful)
    balanced_accuracy: float
    balanced_accuracy_ci: tuple[float, float]
    kappa: float
    kappa_ci: tuple[float, float]
    seconds: float
    n_cached: int = 0
    prompts: str = "compact"  # judge.prompts
    nli: str = "batch"  # judge.nli
    repair: bool = True  # judge.repair
    items: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def matrix(self) -> np.ndarray:
        """2x2 counts: rows = human (attributable, not), columns = judge (faithful, not)."""
        c = self.counts
        return np.array([[c["tp"], c["fn"]], [c["fp"], c["tn"]]])

    def summary(self) -> str:
        """The figures as printed by ``ragbench judge-check``."""
        c = self.counts
        lines = [
            f"judge-check {self.dataset}: judge {self.judge} ({self.prompts} prompts), "
            f"nli {self.nli}, repair {'on' if self.repair else 'off'}, "
            f"verdict = faithfulness >= {self.threshold:g}",
            f"n = {self.n} judged, n_failed = {self.n_failed} (excluded)",
            self._figure("balanced accuracy", self.balanced_accuracy, self.balanced_accuracy_ci),
            self._figure("Cohen's kappa    ", self.kappa, self.kappa_ci),
            "confusion matrix (rows: human, columns: judge):",
            f"  {'':<18}{'faithful':>10}{'unfaithful':>12}",
            f"  {'attributable':<18}{c['tp']:>10}{c['fn']:>12}",
            f"  {'not attributable':<18}{c['fp']:>10}{c['tn']:>12}",
            f"run {self.run_id} in {self.db} ({self.seconds:.0f} s, {self.n_cached} cached)",
        ]
        if self.fake_models:
            lines.append("WARNING: FAKE MODELS - these figures say nothing about a real judge")
        return "\n".join(lines)

    def _figure(self, name: str, value: float, ci: tuple[float, float]) -> str:
        """One figure's line: value and interval, or why it is undefined."""
        if not math.isnan(value):
            return f"{name} {fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}] (95% CI)"
        c = self.counts
        pos, neg = c["tp"] + c["fn"], c["fp"] + c["tn"]
        return (
            f"{name} undefined: the {self.n} judged items are {pos} attributable and {neg} not "
            f"attributable ({self.n_failed} failed, excluded); it needs both classes"
        )


def fmt(x: float) -> str:
    """A figure at 3 decimals, "undefined" for an undefined one (never "nan")."""
    return "undefined" if math.isnan(x) else f"{x:.3f}"


def check_classes(items: Sequence[LabelledItem], name: str) -> None:
    """Refuse labels of one class: balanced accuracy and kappa compare the judge on both.

    Raises:
        ValueError: every label is the same (one line: how many of each there are).
    """
    pos = sum(item.label for item in items)
    if 0 < pos < len(items):
        return
    raise ValueError(
        "a judge check needs both classes among its labels (balanced accuracy and Cohen's kappa "
        f"compare the judge on each): the {len(items)} item(s) of {name} are {pos} attributable "
        f"and {len(items) - pos} not attributable; add items of the other class (or a larger "
        "--limit)"
    )


def judge_check(
    items: Sequence[LabelledItem] | None,
    judge_cfg: JudgeConfig,
    db: str | Path = DEFAULT_DB,
    threshold: float | None = None,
    progress: bool = True,
    *,
    dataset: str | Path = "labelled",
    split: str = "dev",
    seed: int = 0,
) -> JudgeCheckResult:
    """Judge labelled items through ``experiment.run`` and measure agreement with the labels.

    Args:
        items: labelled items (see ``labelled.load_labelled``); None loads ``dataset``/``split``.
        judge_cfg: the judge to check, as in an experiment's ``judge:`` block.
        db: DuckDB results file; the check is stored as a run of ``judge-check-<dataset name>``.
        threshold: verdict "faithful" when the faithfulness score is at least this; None:
            the judge's ``verdict_threshold``.
        progress: show a progress bar.
        dataset: ``begin-wow`` or the labelled file, for the run's name and provenance.
        split: BEGIN's split, for provenance.
        seed: seed of the bootstrap intervals.

    Returns:
        The agreement figures, the run id and one row per item.
    """
    if threshold is None:
        threshold = judge_cfg.verdict_threshold
    name = dataset_name(dataset)
    if items is None:
        items = load_labelled(dataset, split=split)
    data = Dataset(name, *ready_made(items))
    if not data.questions:
        raise ValueError("judge_check needs at least one labelled item")
    check_classes(items, name)
    source = BEGIN_WOW if name == BEGIN_WOW else str(Path(dataset).resolve())
    config = ExperimentConfig(
        name=f"judge-check-{name}",
        description=f"faithfulness judge vs human labels ({len(data.questions)} items)",
        dataset=DatasetConfig(loader="labelled", path=source, split=split),
        base=PipelineConfig(judge=judge_cfg),
        metrics=[METRIC],
        seed=seed,
    )
    result = run(config, db=db, progress=progress, dataset=data)
    scores = Store(db, read_only=True).scores(result.run_id)
    check = agreement(scores, threshold, seed=seed)
    return JudgeCheckResult(
        dataset=name,
        run_id=result.run_id,
        db=Path(db),
        judge=models.llm_id(judge_cfg),
        threshold=threshold,
        fake_models=models.is_fake(judge_cfg),
        seconds=result.stats.seconds,
        n_cached=result.stats.judge_cache_hits,
        prompts=judge_cfg.prompts,
        nli=judge_cfg.nli,
        repair=judge_cfg.repair,
        **check,
    )


def agreement(scores: pd.DataFrame, threshold: float, seed: int = 0) -> dict[str, Any]:
    """Agreement figures from a judge check's long scores (``faithfulness`` + ``human_label``)."""
    wide = scores.pivot_table(
        index="question_id", columns="metric", values="value", aggfunc="first", dropna=False
    )
    errors = scores[scores.metric == METRIC].set_index("question_id")["error"]
    table = pd.DataFrame(
        {
            "item_id": wide.index,
            "label": wide[HUMAN_LABEL].to_numpy() == 1.0,
            "score": wide.get(METRIC, pd.Series(np.nan, index=wide.index)).to_numpy(),
        }
    )
    table["error"] = table["item_id"].map(errors)
    table["verdict"] = [None if s != s else bool(s >= threshold) for s in table["score"]]
    ok = table[table["verdict"].notna()]
    human = ok["label"].astype(bool).to_numpy()
    verdicts = ok["verdict"].astype(bool).to_numpy()
    counts = confusion(human, verdicts)
    ba, kappa = (
        float(x) for x in _from_counts(counts["tp"], counts["fn"], counts["fp"], counts["tn"])
    )
    ci = agreement_ci(human, verdicts, seed=seed)
    return {
        "n": len(ok),
        "n_failed": len(table) - len(ok),
        "counts": counts,
        "balanced_accuracy": ba,
        "balanced_accuracy_ci": ci["balanced_accuracy"],
        "kappa": kappa,
        "kappa_ci": ci["kappa"],
        "items": table,
    }


def check_dataset(
    dataset: str | Path,
    *,
    split: str = "dev",
    limit: int | None = None,
    judge: str | JudgeConfig = "local",
    db: str | Path = DEFAULT_DB,
    threshold: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> JudgeCheckResult:
    """Load a labelled set and check a judge on it (``ragbench.run_judge_check`` shows it).

    ``judge`` is a provider name (``local``, ``fake``) or a full :class:`JudgeConfig`. ``limit``
    draws a seeded, label-stratified sample. ``threshold`` overrides the judge's
    ``verdict_threshold`` (None: use it).
    """
    judge_cfg = judge if isinstance(judge, JudgeConfig) else JudgeConfig(provider=judge)
    items = load_labelled(dataset, split=split, limit=limit, seed=seed)
    return judge_check(
        items,
        judge_cfg,
        db,
        threshold=threshold,
        progress=progress,
        dataset=dataset,
        split=split,
        seed=seed,
    )
