"""A labelling session: one person labelling the seeded sample of one run's judged items of one
metric, resumable. The model behind notebook 06's panel and ``ragbench label export``.

Contract:
- ``LabelSession.open(db, run_id=None, experiment=None, metric="faithfulness", labeller="", n=40,
  seed=0, read_only=False)`` resolves the run (``run_id``, else the latest of ``experiment``, else
  of the file), draws ``labels.sample_items`` and reads the labels already in the file, so a
  session opened again resumes: ``first_unlabelled()`` is where it stopped, and an item labelled
  is not asked again (``next_unlabelled``). ``labeller`` "" is the login name. ``read_only``
  opens the file for reading (``ragbench label export``); a missing file is never created.
- ``label(k, yes, reason)`` records item ``k``'s label at once (one transaction,
  ``labels.record_labels``: a disagreement with the judge needs a reason); labelling it again
  replaces the label and keeps the earlier one in its history.
- ``view(k)`` / ``views(items)`` are what a person needs to judge an item: the question, the
  reference answer, the retrieved passages whole (``cited``: the passage numbers the answer cites,
  ``pipeline.prompts.cited_passages``), the answer and the judge's score, verdict and trace
  (``results.reasons`` reads it), from ``results.inspect``'s drill-down.
Nothing here draws: ``render.labelling`` shows an item, ``notebook.labelling`` wires widgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragbench.metrics import label_spec
from ragbench.metrics.spec import LabelSpec
from ragbench.pipeline.prompts import cited_passages
from ragbench.results.inspect import read_drilldowns, resolve_run
from ragbench.results.labels import (
    JudgedItem,
    LabelError,
    NewLabel,
    default_labeller,
    judged_items,
    read_labels,
    record_labels,
    sample_items,
)
from ragbench.store import Store
from ragbench.store.connection import RunNotFound

DEFAULT_N = 40  # labels a first pass aims at: ~10 per trial of a 4-trial sweep (stats.MIN_LABELS)


@dataclass(frozen=True)
class ItemView:
    """One judged item as a person reads it (see the module docstring)."""

    item: JudgedItem
    user_input: str
    reference: str
    passages: list[tuple[str, str]]  # (doc id, text), in retrieved order
    cited: list[int]  # 1-based numbers of the passages the answer cites
    response: str
    trace: list[Any]  # the judge's trace (``results.reasons.read_trace`` reads it)
    error: str | None = None  # the judge's error, if it failed


@dataclass(eq=False)
class LabelSession:
    """One person labelling one run's sample of one metric (see the module docstring)."""

    store: Store
    run_id: str
    experiment: str
    metric: str
    labeller: str
    items: list[JudgedItem]
    fake_models: bool = False
    labelled: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        db: str | Path | Store,
        run_id: str | None = None,
        experiment: str | None = None,
        metric: str = "faithfulness",
        labeller: str = "",
        n: int | None = DEFAULT_N,
        seed: int = 0,
        read_only: bool = False,
    ) -> LabelSession:
        """Open a session on a run (see the module docstring).

        Raises:
            StoreError: the results file cannot be read.
            RunNotFound: no such run (or none of ``experiment``).
            LabelError: a metric people cannot label, a bad ``n``, or a run with no judged item
                of the metric.
        """
        if not isinstance(db, Store):
            Store(db, read_only=True)  # a missing file is an error, never created empty here
        store = db if isinstance(db, Store) else Store(db, read_only=read_only)
        run_id = resolve_run(store, run_id, experiment)
        try:
            info = store.run_info(run_id)
        except KeyError:
            raise RunNotFound(f"no run {run_id} in {store.path}") from None
        try:
            items = judged_items(store, run_id, metric)
        except ValueError as exc:
            raise LabelError(str(exc)) from None
        if not items:
            raise LabelError(
                f"run {run_id} has no judged {metric} score to label; run an experiment with "
                f"{metric} among its metrics first"
            )
        session = cls(
            store,
            run_id,
            info.experiment,
            metric,
            labeller.strip() or default_labeller(),
            sample_items(items, n, seed),
            info.fake_models,
        )
        session.refresh()
        return session

    @property
    def spec(self) -> LabelSpec:
        return label_spec(self.metric)

    def refresh(self) -> None:
        """Read the labels in the file again (another session may have added some)."""
        labels = read_labels(self.store, self.run_id)
        labels = labels[labels.metric == self.metric]
        self.labelled = {
            (str(r["trial_id"]), str(r["question_id"])): r for r in labels.to_dict("records")
        }

    def label_of(self, k: int) -> dict[str, Any] | None:
        """Item ``k``'s label (value, labeller, reason, ...), or None while it has none."""
        return self.labelled.get(self.items[k].key)

    @property
    def n_labelled(self) -> int:
        """Items of the sample that have a label."""
        return sum(item.key in self.labelled for item in self.items)

    def progress(self) -> str:
        """ "12 of 40 labelled"."""
        return f"{self.n_labelled} of {len(self.items)} labelled"

    def first_unlabelled(self) -> int | None:
        """The first item of the sample without a label (None: all are labelled)."""
        return self.next_unlabelled(-1)

    def next_unlabelled(self, after: int) -> int | None:
        """The first unlabelled item after ``after``, wrapping round (None: all are labelled)."""
        n = len(self.items)
        for step in range(1, n + 1):
            k = (after + step) % n
            if self.items[k].key not in self.labelled:
                return k
        return None

    def label(self, k: int, yes: bool, reason: str = "") -> NewLabel:
        """Record item ``k``'s label now (see the module docstring).

        Raises:
            LabelError: no labeller, or a disagreement with the judge without a reason.
        """
        new = NewLabel(self.items[k], yes, self.labeller, reason)
        record_labels(self.store, self.run_id, [new])
        self.refresh()
        return new

    def view(self, k: int) -> ItemView:
        """Item ``k`` as a person reads it."""
        return self.views([self.items[k]])[0]

    def views(self, items: Sequence[JudgedItem]) -> list[ItemView]:
        """Several items as people read them, from one read of the file."""
        frames = {
            d.question_id: d.frame
            for d in read_drilldowns(
                self.store, self.run_id, list(dict.fromkeys(i.question_id for i in items))
            )
        }
        return [_view(item, frames[item.question_id]) for item in items]


def _view(item: JudgedItem, frame: Any) -> ItemView:
    row = frame[frame.trial_id.astype(str) == item.trial_id].iloc[0].to_dict()
    retrieved = row.get("retrieved") or []
    response = row.get("response") if isinstance(row.get("response"), str) else ""
    error = row.get(f"{item.metric}_error")
    return ItemView(
        item=item,
        user_input=str(row.get("user_input") or ""),
        reference=row["reference"] if isinstance(row.get("reference"), str) else "",
        passages=[(str(p["doc_id"]), str(p["context"])) for p in retrieved],
        cited=sorted(cited_passages(response or None, len(retrieved))),
        response=response,
        trace=list(row.get(f"{item.metric}_reasons") or []),
        error=error if isinstance(error, str) else None,
    )
