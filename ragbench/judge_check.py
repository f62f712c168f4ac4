"""Judge meta-evaluation: how well does the configured faithfulness judge agree with humans?

Contract:
- ``load_labelled(name_or_path, split, limit, seed)`` -> list of :class:`LabelledItem` (item_id,
  context, answer, label). ``"begin-wow"`` reads BEGIN's Wizard-of-Wikipedia part from
  ``../shared/datasets/begin-wow`` (knowledge = context, response = answer, "Fully attributable"
  = True, "Not fully attributable" = False, "Generic" dropped); any other argument is the path of
  a CSV (or TSV) with columns ``context, answer, label`` (true/false/1/0/yes/no). ``limit`` draws
  a seeded, label-stratified sample, so a small check still holds both classes.
- ``judge_check(items, judge_cfg, db)`` scores every item with the same :class:`~ragbench.evaluate.
  Judge` ("faithfulness") that experiments use; verdict = ``score >= threshold``. A judge failure
  is counted (``n_failed``) and excluded, never turned into a verdict. It returns balanced
  accuracy and Cohen's kappa with seeded 95% bootstrap intervals and the 2x2 confusion matrix, and
  stores the check in DuckDB like any run: experiment ``judge-check-<dataset>``, one trial (the
  judge config), one record per item and two score rows per item, ``faithfulness`` (the judge,
  NULL + error on failure) and ``human_label`` (1.0/0.0), so agreement can be recomputed in SQL.
- ``run_judge_check(dataset, ...)`` loads and checks in one call: the CLI and notebook call it.

Positive class everywhere = "attributable" (human) / "faithful" (judge).
"""

from __future__ import annotations

import csv
import math
import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from ragbench import models
from ragbench.config import JudgeConfig, params_hash, suggest
from ragbench.data import DataError

BEGIN_WOW = "begin-wow"
BEGIN_SPLITS = ("dev", "test")
BEGIN_LABELS = {"Fully attributable": True, "Not fully attributable": False}
BEGIN_DROPPED = ("Generic",)  # neither attributable nor not: BEGIN's paper excludes it too
LABEL_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
CSV_COLUMNS = ("context", "answer", "label")
# ragas' faithfulness passes user_input only to the statement-splitting prompt, as the question
# the answer responds to; a dialogue response has none, so a neutral marker stands in for it.
USER_INPUT = "(dialogue response)"
DEFAULT_DB = Path("results") / "ragbench.duckdb"


@dataclass(frozen=True)
class LabelledItem:
    """One human-labelled (context, answer) pair; ``label`` True = fully attributable."""

    item_id: str
    context: str
    answer: str
    label: bool


# --- loading ---------------------------------------------------------------------------------------


def shared_datasets_dir() -> Path:
    """``$RAGBENCH_SHARED`` (the shared folder or its ``datasets/``), else ``../shared/datasets``."""
    env = os.environ.get("RAGBENCH_SHARED")
    if env:
        root = Path(env).expanduser()
        return root / "datasets" if (root / "datasets").is_dir() else root
    import ragbench

    return Path(ragbench.__file__).resolve().parents[2] / "shared" / "datasets"


def dataset_name(name_or_path: str | Path) -> str:
    """Short name used in the experiment name: ``begin-wow`` or the CSV file's stem."""
    return BEGIN_WOW if str(name_or_path) == BEGIN_WOW else Path(name_or_path).stem


def load_labelled(
    name_or_path: str | Path, split: str = "dev", limit: int | None = None, seed: int = 0
) -> list[LabelledItem]:
    """Load a labelled faithfulness set.

    Args:
        name_or_path: ``"begin-wow"`` or the path of a CSV/TSV with columns context, answer, label.
        split: ``dev`` or ``test`` for begin-wow; ignored for a file.
        limit: number of items to keep: a seeded, label-stratified sample (None = all).
        seed: seed of that sample.

    Returns:
        The items, in file order.

    Raises:
        DataError: unknown name, missing file or folder, missing column, bad label, no rows.
    """
    if str(name_or_path) == BEGIN_WOW:
        items = _load_begin(split)
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            looks_like_path = path.suffix or os.sep in str(name_or_path)
            if looks_like_path:
                raise DataError(f"labelled data file not found: {path}")
            raise DataError(
                f"unknown labelled dataset '{name_or_path}'{suggest(str(name_or_path), [BEGIN_WOW])}"
                f"; use '{BEGIN_WOW}' or the path of a CSV with columns {', '.join(CSV_COLUMNS)}"
            )
        items = _load_csv(path)
    if not items:
        raise DataError(f"labelled dataset '{name_or_path}' has no usable rows")
    return stratified_sample(items, limit, seed)


def _load_begin(split: str) -> list[LabelledItem]:
    if split not in BEGIN_SPLITS:
        raise DataError(
            f"unknown {BEGIN_WOW} split '{split}'{suggest(split, BEGIN_SPLITS)}; "
            f"valid: {', '.join(BEGIN_SPLITS)}"
        )
    path = shared_datasets_dir() / BEGIN_WOW / f"begin_{split}_wow.tsv"
    if not path.is_file():
        raise DataError(
            f"{BEGIN_WOW} not found: {path} (set RAGBENCH_SHARED to the folder holding datasets/)"
        )
    items = []
    with path.open(newline="", encoding="utf-8") as handle:
        # QUOTE_NONE: the TSV is raw text; a response may start with a quote character
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"knowledge", "response", "begin_label"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for i, row in enumerate(reader, start=1):
            label = (row["begin_label"] or "").strip()
            if label in BEGIN_DROPPED:
                continue
            if label not in BEGIN_LABELS:
                raise DataError(f"{path}: row {i}: unknown begin_label '{label}'")
            items.append(
                LabelledItem(
                    f"wow-{split}-{i:04d}", row["knowledge"], row["response"], BEGIN_LABELS[label]
                )
            )
    return items


def _load_csv(path: Path) -> list[LabelledItem]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    items = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in CSV_COLUMNS if c not in columns]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(columns) or 'none'}; need {', '.join(CSV_COLUMNS)})"
            )
        for i, raw in enumerate(reader, start=1):
            row = {k.strip().lower(): (v or "") for k, v in raw.items() if k is not None}
            value = row["label"].strip().lower()
            if value not in LABEL_VALUES:
                raise DataError(
                    f"{path}: row {i}: label '{row['label']}' is not one of "
                    f"{'/'.join(LABEL_VALUES)}"
                )
            if not row["context"].strip() or not row["answer"].strip():
                raise DataError(f"{path}: row {i}: empty context or answer")
            item_id = row.get("item_id", "").strip() or f"{path.stem}-{i:04d}"
            items.append(LabelledItem(item_id, row["context"], row["answer"], LABEL_VALUES[value]))
    ids = [it.item_id for it in items]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise DataError(f"{path}: duplicate item_id(s) {dupes[:5]}")
    return items


def stratified_sample(
    items: Sequence[LabelledItem], limit: int | None, seed: int = 0
) -> list[LabelledItem]:
    """A seeded sample of ``limit`` items, as balanced between the labels as the data allows.

    Each class gets ``limit // 2`` (the larger class the odd one), the smaller class all it has
    when that is fewer; each class's pick is a prefix of one seeded shuffle, so larger limits nest
    smaller ones. Returned in the input order.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    pos = [i for i, it in enumerate(items) if it.label]
    neg = [i for i, it in enumerate(items) if not it.label]
    rng = random.Random(seed)
    rng.shuffle(pos)
    rng.shuffle(neg)
    small, large = sorted((pos, neg), key=len)
    n_small = min(len(small), limit // 2)
    chosen = set(small[:n_small]) | set(large[: limit - n_small])
    return [it for i, it in enumerate(items) if i in chosen]


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
    tp: np.ndarray, fn: np.ndarray, fp: np.ndarray, tn: np.ndarray
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
    out = {}
    for name, values in (("balanced_accuracy", ba), ("kappa", kappa)):
        ok = values[np.isfinite(values)]
        out[name] = tuple(float(x) for x in np.quantile(ok, [tail, 1 - tail])) if ok.size else nan
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
            f"judge-check {self.dataset}: judge {self.judge}, verdict = faithfulness >= "
            f"{self.threshold:g}",
            f"n = {self.n} judged, n_failed = {self.n_failed} (excluded)",
            f"balanced accuracy {_fmt(self.balanced_accuracy)} "
            f"[{_fmt(self.balanced_accuracy_ci[0])}, {_fmt(self.balanced_accuracy_ci[1])}] (95% CI)",
            f"Cohen's kappa     {_fmt(self.kappa)} "
            f"[{_fmt(self.kappa_ci[0])}, {_fmt(self.kappa_ci[1])}] (95% CI)",
            "confusion matrix (rows: human, columns: judge):",
            f"  {'':<18}{'faithful':>10}{'unfaithful':>12}",
            f"  {'attributable':<18}{c['tp']:>10}{c['fn']:>12}",
            f"  {'not attributable':<18}{c['fp']:>10}{c['tn']:>12}",
            f"run {self.run_id} in {self.db} ({self.seconds:.0f} s, {self.n_cached} cached)",
        ]
        if self.fake_models:
            lines.append("WARNING: FAKE MODELS - these figures say nothing about a real judge")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3f}"


class _TrialParams(BaseModel):
    judge: JudgeConfig
    threshold: float
    user_input: str


@dataclass
class _JudgeTrial:
    """Duck-types config.Trial for ``Store.add_trials``: the check has one trial, the judge."""

    trial_id: str
    label: str
    pipeline: _TrialParams
    overrides: dict[str, Any] = field(default_factory=dict)


def _versions(judge_cfg: JudgeConfig) -> dict[str, Any]:
    from ragbench.provenance import package_versions

    info: dict[str, Any] = dict(package_versions())
    info["llms"] = [models.llm_id(judge_cfg)]
    info["judge"] = models.llm_id(judge_cfg)
    if judge_cfg.provider == "local" and not judge_cfg.model:
        info["local_llm_sha256"] = models.QWEN_SHA256
    return info


def judge_check(
    items: Sequence[LabelledItem],
    judge_cfg: JudgeConfig,
    db: str | Path = DEFAULT_DB,
    threshold: float = 0.5,
    progress: bool = True,
    *,
    dataset: str = "labelled",
    run_config: dict[str, Any] | None = None,
    seed: int = 0,
) -> JudgeCheckResult:
    """Score labelled items with the faithfulness judge and measure agreement with the labels.

    Args:
        items: labelled items (see :func:`load_labelled`).
        judge_cfg: the judge to check, as in an experiment's ``judge:`` block.
        db: DuckDB results file; the check is stored as a run of ``judge-check-<dataset>``.
        threshold: verdict "faithful" when the faithfulness score is at least this.
        progress: show a progress bar.
        dataset: name used in the experiment name and the run's ``dataset`` column.
        run_config: extra fields for the run's config (split, limit...), for provenance.
        seed: seed of the bootstrap.

    Returns:
        The agreement figures, the run id and one row per item.
    """
    from tqdm.auto import tqdm

    from ragbench.evaluate import Judge, judge_details
    from ragbench.provenance import git_sha
    from ragbench.records import Record, ScoreRow
    from ragbench.store import Store

    if not items:
        raise ValueError("judge_check needs at least one labelled item")
    experiment = f"judge-check-{dataset}"
    params = _TrialParams(judge=judge_cfg, threshold=threshold, user_input=USER_INPUT)
    judge_id = models.llm_id(judge_cfg)
    trial = _JudgeTrial(
        trial_id=params_hash(params.model_dump()),
        label=f"judge={judge_id}, threshold={threshold:g}",
        pipeline=params,
    )
    fake = models.is_fake(judge_cfg)
    store = Store(db)
    run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    config = {
        "kind": "judge-check",
        "dataset": dataset,
        "n_items": len(items),
        "threshold": threshold,
        "seed": seed,
        "user_input": USER_INPUT,
        "judge": judge_cfg.model_dump(),
    } | (run_config or {})
    store.start_run(run_id, experiment, config, _versions(judge_cfg), git_sha(), fake, dataset)
    store.add_trials(run_id, [trial])
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    try:
        judge = Judge(judge_cfg, models.make_llm(judge_cfg), models.HashingEmbedding(), cache=store)
        for item in tqdm(items, desc="judge-check", disable=not progress, unit="item"):
            score = judge.score("faithfulness", USER_INPUT, item.answer, [item.context])
            record = Record(
                run_id=run_id,
                trial_id=trial.trial_id,
                question_id=item.item_id,
                user_input=USER_INPUT,
                retrieved_contexts=[item.context],
                retrieved_doc_ids=[],
                response=item.answer,
                reference="attributable" if item.label else "not attributable",
            )
            store.write(
                [record],
                [
                    ScoreRow(
                        run_id,
                        trial.trial_id,
                        item.item_id,
                        "faithfulness",
                        score.value,
                        score.error,
                        score.seconds,
                        judge_details(score),
                    ),
                    ScoreRow(
                        run_id, trial.trial_id, item.item_id, "human_label", float(item.label)
                    ),
                ],
            )
            rows.append(
                {
                    "item_id": item.item_id,
                    "label": item.label,
                    "score": score.value,
                    "verdict": None if score.value is None else score.value >= threshold,
                    "error": score.error,
                    "cached": score.cached,
                    "seconds": score.seconds,
                }
            )
    except BaseException as exc:
        store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
        raise
    seconds = time.perf_counter() - start
    table = pd.DataFrame(rows)
    ok = table[table["verdict"].notna()]
    human = ok["label"].astype(bool).to_numpy()
    verdicts = ok["verdict"].astype(bool).to_numpy()
    counts = confusion(human, verdicts)
    ba, kappa = (float(x) for x in _from_counts(*(counts[k] for k in ("tp", "fn", "fp", "tn"))))
    ci = agreement_ci(human, verdicts, seed=seed)
    result = JudgeCheckResult(
        dataset=dataset,
        run_id=run_id,
        db=Path(db),
        judge=judge_id,
        threshold=threshold,
        fake_models=fake,
        n=len(ok),
        n_failed=len(table) - len(ok),
        counts=counts,
        balanced_accuracy=ba,
        balanced_accuracy_ci=ci["balanced_accuracy"],
        kappa=kappa,
        kappa_ci=ci["kappa"],
        seconds=seconds,
        n_cached=int(table["cached"].sum()),
        items=table,
    )
    summary = {
        k: getattr(result, k)
        for k in (
            "n",
            "n_failed",
            "counts",
            "balanced_accuracy",
            "balanced_accuracy_ci",
            "kappa",
            "kappa_ci",
            "seconds",
            "n_cached",
        )
    }
    store.finish_run(run_id, "finished", stats=summary)
    return result


def run_judge_check(
    dataset: str | Path,
    *,
    split: str = "dev",
    limit: int | None = None,
    judge: str | JudgeConfig = "local",
    db: str | Path = DEFAULT_DB,
    threshold: float = 0.5,
    seed: int = 0,
    progress: bool = True,
) -> JudgeCheckResult:
    """Load a labelled set and check a judge on it: what the CLI and notebook call.

    ``judge`` is a provider name (``local``, ``fake``) or a full :class:`JudgeConfig`.
    """
    judge_cfg = judge if isinstance(judge, JudgeConfig) else JudgeConfig(provider=judge)
    items = load_labelled(dataset, split=split, limit=limit, seed=seed)
    name = dataset_name(dataset)
    source = {"split": split} if name == BEGIN_WOW else {"path": str(Path(dataset).resolve())}
    return judge_check(
        items,
        judge_cfg,
        db,
        threshold=threshold,
        progress=progress,
        dataset=name,
        run_config=source | {"limit": limit},
        seed=seed,
    )


# --- chart -----------------------------------------------------------------------------------------


def confusion_chart(result: JudgeCheckResult, path: str | Path) -> Path:
    """Write the 2x2 confusion matrix (counts and row shares) as a PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and papermill have no display
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matrix = result.matrix
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
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
        f"bal. acc {_fmt(result.balanced_accuracy)} [{_fmt(lo)}, {_fmt(hi)}], "
        f"kappa {_fmt(result.kappa)}"
    )
    if result.fake_models:
        title = "FAKE MODELS - " + title
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
