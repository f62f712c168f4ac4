"""Labels in a spreadsheet: the seeded sample exported as CSV, and a filled-in CSV imported.

Contract:
- ``export_sample(db, out, run_id=None, experiment=None, metric="faithfulness", n=40, seed=0)``
  writes ``labelling.LabelSession``'s sample (the same items, in the same order, as notebook 06)
  to ``out``: one row per item with what a person needs (``EXPORT_COLUMNS``: the question, the
  reference answer, every retrieved passage whole and numbered, the cited ones marked, the answer,
  the judge's score, verdict and reasons) and the columns to fill in: ``label``, ``labeller``,
  ``reason``, prefilled where the item is labelled already. It writes to a temporary file first,
  so a failed export leaves no half file.
- ``import_labels(db, path, run_id=None)`` reads a CSV (or TSV) with the columns ``trial`` (the
  trial's label or id), ``question_id``, ``metric``, ``label``, ``labeller``, ``reason`` (others,
  e.g. the exported ones, are ignored) and checks every row before writing any: the trial, the
  question judged in that trial, a labellable metric, a label word of that metric (its spec's
  two words, or 1/0/true/false/yes/no), a labeller, no item twice, and a reason where the label
  disagrees with the judge. The first bad row is a :class:`~ragbench.results.labels.LabelError`
  naming the file and the row (1 = the first row under the header); nothing is written. Rows with
  an empty ``label`` are skipped (not labelled yet), and rows that say exactly what the file
  holds already (value, labeller, reason) are left alone. Good files are written in one
  transaction.
  The run is ``run_id``, else the file's ``run_id`` column (one value), else the latest run.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ragbench.metrics import label_spec, names
from ragbench.metrics.spec import LabelSpec
from ragbench.results.inspect import resolve_run
from ragbench.results.labelling import DEFAULT_N, ItemView, LabelSession
from ragbench.results.labels import (
    JudgedItem,
    LabelError,
    NewLabel,
    check_label,
    judged_items,
    read_labels,
    record_labels,
)
from ragbench.results.reasons import read_trace, step_lines
from ragbench.store import Store

IMPORT_COLUMNS = ("trial", "question_id", "metric", "label", "labeller", "reason")
EXPORT_COLUMNS = (
    "trial",
    "question_id",
    "metric",
    "question",
    "reference",
    "passages",
    "answer",
    "judge_score",
    "judge_verdict",
    "judge_reasons",
    "label",
    "labeller",
    "reason",
    "trial_id",
    "run_id",
)
YES_WORDS = ("1", "true", "yes")
NO_WORDS = ("0", "false", "no")


def label_words(spec: LabelSpec) -> dict[str, bool]:
    """Every word a label cell may hold for a metric, lower case -> True (yes) / False (no)."""
    words = {w: True for w in (spec.yes.lower(), *YES_WORDS)}
    return words | {w: False for w in (spec.no.lower(), *NO_WORDS)}


# --- export ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    path: Path
    run_id: str
    n: int
    labelled: int  # of them already labelled (prefilled)

    def line(self) -> str:
        return (
            f"wrote {self.n} items of run {self.run_id} to {self.path} ({self.labelled} labelled "
            "already); fill in label, labeller and reason, then `ragbench label import`"
        )


def passages_text(view: ItemView) -> str:
    """Every retrieved passage, whole and numbered as the answer cites them, cited ones marked."""
    return "\n\n".join(
        f"[{k}]{' (cited)' if k in view.cited else ''} {doc}: {text}"
        for k, (doc, text) in enumerate(view.passages, start=1)
    )


def export_sample(
    db: str | Path,
    out: str | Path,
    run_id: str | None = None,
    experiment: str | None = None,
    metric: str = "faithfulness",
    n: int | None = DEFAULT_N,
    seed: int = 0,
) -> ExportResult:
    """Write the seeded sample to ``out`` (see the module docstring).

    Raises:
        StoreError, RunNotFound, LabelError: as ``LabelSession.open``.
        OSError: ``out`` cannot be written.
    """
    session = LabelSession.open(db, run_id, experiment, metric, "-", n, seed, read_only=True)
    spec = session.spec
    rows = []
    for view in session.views(session.items):
        item, done = view.item, session.labelled.get(view.item.key) or {}
        value = done.get("value")
        rows.append(
            {
                "trial": item.trial_label,
                "question_id": item.question_id,
                "metric": item.metric,
                "question": view.user_input,
                "reference": view.reference,
                "passages": passages_text(view),
                "answer": view.response,
                "judge_score": f"{item.judge_value:.3f}",
                "judge_verdict": spec.yes if item.verdict else spec.no,
                "judge_reasons": "\n".join(step_lines(read_trace(view.trace), indent="")),
                "label": "" if value is None else (spec.yes if value == 1 else spec.no),
                "labeller": done.get("labeller", ""),
                "reason": done.get("reason", ""),
                "trial_id": item.trial_id,
                "run_id": session.run_id,
            }
        )
    path = Path(out)
    handle = tempfile.NamedTemporaryFile(
        "w", newline="", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    )
    try:
        with handle:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(handle.name, path)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
    return ExportResult(path, session.run_id, len(rows), sum(bool(r["label"]) for r in rows))


# --- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    path: Path
    run_id: str
    written: int
    replaced: int  # of them, items that had a label (its history keeps the earlier one)
    skipped: int  # rows with an empty label
    unchanged: int = 0  # rows that say what the file holds already (e.g. prefilled by export)

    def line(self) -> str:
        return (
            f"imported {self.written} label(s) into run {self.run_id} ({self.replaced} replaced an "
            f"earlier label, kept in its history; {self.unchanged} unchanged; {self.skipped} "
            "row(s) without a label skipped)"
        )


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise LabelError(f"labels file not found: {path}")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            rows = [
                {k.strip().lower(): (v or "") for k, v in raw.items() if isinstance(k, str)}
                for raw in reader
            ]
    except UnicodeDecodeError:
        raise LabelError(f"{path}: not a UTF-8 text file (save the sheet as CSV UTF-8)") from None
    except csv.Error as exc:
        raise LabelError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in IMPORT_COLUMNS if c not in columns]
    if missing:
        raise LabelError(
            f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(columns) or 'none'}"
            f"; need {', '.join(IMPORT_COLUMNS)})"
        )
    return columns, rows


def _run_of(store: Store, path: Path, rows: list[dict[str, str]], run_id: str | None) -> str:
    named = sorted({r.get("run_id", "").strip() for r in rows} - {""})
    if run_id is None and len(named) > 1:
        raise LabelError(f"{path}: rows of {len(named)} runs ({', '.join(named[:3])}); pass --run")
    if run_id is not None and named and named != [run_id]:
        raise LabelError(f"{path}: its run_id column says {named[0]}, not --run {run_id}")
    found = resolve_run(store, run_id or (named[0] if named else None), None)
    try:
        store.run_info(found)
    except KeyError:
        raise LabelError(f"{path}: no run {found} in {store.path}") from None
    return found


def import_labels(db: str | Path, path: str | Path, run_id: str | None = None) -> ImportResult:
    """Check every row of a labels CSV, then write its labels (see the module docstring).

    Raises:
        StoreError: the results file cannot be read or written.
        LabelError: a bad file or row (one line naming it); nothing is written.
    """
    path = Path(path)
    Store(db, read_only=True)  # a missing results file is an error, never created empty here
    store = Store(db)
    _, rows = _read(path)
    run_id = _run_of(store, path, rows, run_id)
    trials = store.trials(run_id)
    by_name = dict(zip(trials.label.astype(str), trials.trial_id.astype(str), strict=True))
    ids = set(trials.trial_id.astype(str))
    items: dict[str, dict[tuple[str, str], JudgedItem]] = {}
    labelled = read_labels(store, run_id)
    before = {
        (r.trial_id, r.question_id, r.metric): (r.value == 1.0, r.labeller, r.reason)
        for r in labelled.itertuples()
    }
    new: list[NewLabel] = []
    seen: dict[tuple[str, str, str], int] = {}
    skipped = unchanged = 0
    for i, row in enumerate(rows, start=1):
        where = f"{path}: row {i}"
        if not row["label"].strip():
            skipped += 1
            continue
        metric = row["metric"].strip()
        try:
            spec = label_spec(metric)
        except ValueError:
            valid = ", ".join(names("labelled"))
            raise LabelError(f"{where}: metric '{metric}' takes no labels; use {valid}") from None
        trial = row["trial"].strip()
        trial_id = trial if trial in ids else by_name.get(trial)
        if trial_id is None:
            raise LabelError(f"{where}: run {run_id} has no trial '{trial}' (give its label or id)")
        if metric not in items:
            items[metric] = {it.key: it for it in judged_items(store, run_id, metric)}
        qid = row["question_id"].strip()
        item = items[metric].get((trial_id, qid))
        if item is None:
            raise LabelError(
                f"{where}: question '{qid}' has no judged {metric} score in trial '{trial}' "
                "(not judged, failed, or held out for the test split)"
            )
        words = label_words(spec)
        word = row["label"].strip().lower()
        if word not in words:
            raise LabelError(f"{where}: label '{row['label']}' is not one of {'/'.join(words)}")
        key = (trial_id, qid, metric)
        if key in seen:
            raise LabelError(f"{where}: the same item as row {seen[key]} (one label per item)")
        seen[key] = i
        label = NewLabel(item, words[word], row["labeller"], row["reason"])
        try:
            check_label(label)
        except LabelError as exc:
            raise LabelError(f"{where}: {exc}") from None
        if before.get(key) == (label.value, label.labeller.strip(), label.reason.strip()):
            unchanged += 1  # the same label again: no new row, no history entry
            continue
        new.append(label)
    record_labels(store, run_id, new)
    replaced = sum((n.item.trial_id, n.item.question_id, n.item.metric) in before for n in new)
    return ImportResult(path, run_id, len(new), replaced, skipped, unchanged)
