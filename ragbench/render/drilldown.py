"""Drill-downs, shown: one question across the trials of a run, as HTML in a notebook and as text.

Contract:
- ``inspect_question(db, run_id=None, question_id=None, experiment=None)`` returns a
  :class:`Drilldown` (``results.inspect.QuestionDrilldown`` plus its views): ``_repr_html_``
  (answer, cited sources, retrieved passages and score chips per trial: ``render.question``) and
  ``__repr__`` (:func:`format_drilldown`). ``inspect_questions(db, run_id, question_ids=None)``
  does the same for several questions at once (default: every answered question), e.g. the few
  questions of one interactive trial, as :class:`Drilldowns`.
The frames come from ``results.inspect``; nothing here reads the store itself.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ragbench.render.html import banner
from ragbench.render.question import question_html
from ragbench.render.views import as_view
from ragbench.results.inspect import QuestionDrilldown, read_drilldowns
from ragbench.results.reasons import read_trace, step_lines
from ragbench.store import Store


@dataclass(eq=False)
class Drilldown(QuestionDrilldown):
    """One question across the trials of a run; displays itself in a notebook."""

    def _repr_html_(self) -> str:
        fake = banner("FAKE MODELS: answers and scores come from test doubles.", "fake")
        return (fake if self.fake_models else "") + question_html(self.frame, self.metrics)

    def __repr__(self) -> str:
        return format_drilldown(self.frame)


class Drilldowns(list[Drilldown]):
    """Several questions of one run, shown one after the other."""

    def _repr_html_(self) -> str:
        if not self:
            return "<p>(no questions)</p>"
        parts = [d._repr_html_() for d in self]
        return '<hr style="margin:10px 0">'.join(parts)

    def __repr__(self) -> str:
        return "\n\n".join(repr(d) for d in self) or "(no questions)"


def inspect_question(
    db: str | Path | Store,
    run_id: str | None = None,
    question_id: str | None = None,
    experiment: str | None = None,
) -> Drilldown:
    """One question (default: the first answered one) across the trials of a run.

    ``run_id=None`` takes the latest run of ``experiment`` (or of the file).

    Raises:
        StoreError: the results file cannot be read (one line naming it).
        LookupError: no such run or question.
    """
    ids = [question_id] if question_id else None
    return as_view(Drilldown, read_drilldowns(db, run_id, ids, experiment, limit=1)[0])


def inspect_questions(
    db: str | Path | Store,
    run_id: str | None = None,
    question_ids: Sequence[str] | None = None,
    experiment: str | None = None,
) -> Drilldowns:
    """Like ``inspect_question`` for several questions (default: every answered question, by id)."""
    found = read_drilldowns(db, run_id, question_ids, experiment)
    return Drilldowns(as_view(Drilldown, d) for d in found)


def format_drilldown(frame: pd.DataFrame, width: int = 100, context_chars: int = 300) -> str:
    """The drill-down as readable text: the question once, then each trial's evidence and scores."""
    if frame.empty:
        return "(no records)"
    first = frame.iloc[0]
    lines = [f"DRILL-DOWN question {first.question_id}: {first.user_input}"]
    if isinstance(first.reference, str):
        lines.append(f"reference: {first.reference}")
    metrics = [c for c in frame.columns if f"{c}_reasons" in frame.columns]
    wrap = textwrap.TextWrapper(width=width, initial_indent="      ", subsequent_indent="      ")
    for r in frame.to_dict("records"):
        lines += ["", "=" * width, f"trial {r['label']}  ({r['trial_id']})", "-" * width]
        lines.append("retrieved:")
        for k, item in enumerate(r["retrieved"], 1):
            text = " ".join(str(item["context"]).split())
            if len(text) > context_chars:
                text = text[:context_chars] + " ..."
            lines.append(f"  [{k}] {item['doc_id']}")
            lines.append(wrap.fill(text))
        answer = r["response"] if isinstance(r["response"], str) else "(not answered)"
        lines += ["response:", wrap.fill(answer)]
        lines.append(f"cited: {', '.join(r['cited_doc_ids']) or '-'}")
        lines.append("scores:")
        for m in metrics:
            value = r[m]
            shown = "-" if pd.isna(value) else f"{value:.3f}"
            error = r[f"{m}_error"]
            lines.append(f"  {m}: {shown}" + (f"  error: {error}" if error else ""))
            for line in step_lines(read_trace(r[f"{m}_reasons"])):
                lines.append(textwrap.fill(line, width=width, subsequent_indent="          "))
    return "\n".join(lines)
