"""Labelled answer sets for judge meta-evaluation: BEGIN and any CSV of (context, answer, label).

Contract:
- ``load_labelled(name_or_path, split, limit, seed)`` -> list of :class:`LabelledItem` (item_id,
  context, answer, label). ``"begin-wow"`` reads BEGIN's Wizard-of-Wikipedia part from
  ``../shared/datasets/begin-wow`` (knowledge = context, response = answer, "Fully attributable"
  = True, "Not fully attributable" = False, "Generic" dropped); any other argument is the path of
  a CSV (or TSV) with columns ``context, answer, label`` (true/false/1/0/yes/no). ``limit`` draws
  a seeded, label-stratified sample, so a small check still holds both classes.
- ``ready_made(items)`` turns the items into a corpus and questions (``data.Dataset`` holds them,
  loader ``labelled``): each item is a ready-made question (``retrieved_contexts`` = [context], ``response`` = answer,
  ``human_label`` = label) that ``run`` judges as given, with nothing retrieved or generated.

Positive class everywhere = "attributable" (human) / "faithful" (judge).
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import Document

from ragbench.config.experiment import suggest
from ragbench.data.questions import Question
from ragbench.data.readers import DataError

BEGIN_WOW = "begin-wow"
BEGIN_SPLITS = ("dev", "test")
BEGIN_LABELS = {"Fully attributable": True, "Not fully attributable": False}
BEGIN_DROPPED = ("Generic",)  # neither attributable nor not: BEGIN's paper excludes it too
LABEL_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
CSV_COLUMNS = ("context", "answer", "label")
# ragas' faithfulness passes user_input only to the statement-splitting prompt, as the question
# the answer responds to; a dialogue response has none, so a neutral marker stands in for it.
USER_INPUT = "(dialogue response)"


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


def ready_made(items: Sequence[LabelledItem]) -> tuple[list[Document], list[Question]]:
    """Labelled items as a corpus and ready-made questions (``data.Dataset``'s two halves)."""
    corpus = [
        Document(text=it.context, id_=it.item_id, metadata={"doc_id": it.item_id}) for it in items
    ]
    questions = [
        Question(
            question_id=it.item_id,
            user_input=USER_INPUT,
            reference="",
            retrieved_contexts=[it.context],
            retrieved_doc_ids=[it.item_id],
            response=it.answer,
            human_label=it.label,
        )
        for it in items
    ]
    return corpus, questions
