"""One judged item as a person labels it, and the progress of a labelling session, as HTML.

Contract: pure functions from ``results.labelling`` objects to HTML; no store, no widgets.
:func:`item_html` shows the question asked of the person (the metric's ``LabelSpec.question``),
the trial, the question, the reference answer (when the metric reads one, or the question has
one), the retrieved passages whole, numbered as the answer cites them, the cited ones marked, the
answer, the judge's score and verdict with its reasons (``render.question.reasons_html``, read by
``results.reasons``), and the item's current label, if any. :func:`header_html` says which run and
metric are labelled, by whom, and how far ("12 of 40 labelled"). All text goes through ``esc``.
"""

from __future__ import annotations

from typing import Any

from ragbench.metrics.spec import LabelSpec
from ragbench.render.html import FONT, GREEN, MUTED, RED, esc
from ragbench.render.question import CITED, passage_html, reasons_html
from ragbench.results.labelling import ItemView, LabelSession

BOX = "border:1px solid rgba(127,127,127,0.4);border-radius:4px;padding:6px 10px;margin:6px 0"


def _verdict(yes: bool, spec: LabelSpec) -> str:
    return f'<b style="color:{GREEN if yes else RED}">{esc(spec.yes if yes else spec.no)}</b>'


def header_html(session: LabelSession, position: int) -> str:
    """Run, metric, labeller, the item shown and the progress."""
    fake = (
        f' <b style="color:{RED}">FAKE MODELS: a test run, its judge means nothing</b>'
        if session.fake_models
        else ""
    )
    return (
        f'<div style="{FONT}"><div style="font-size:110%"><b>{esc(session.metric)}</b> of run '
        f"<code>{esc(session.run_id)}</code> ({esc(session.experiment)}){fake}</div>"
        f'<div><b class="ragbench-label-progress">{esc(session.progress())}</b>'
        f'<span style="{MUTED}"> \u00b7 item {position + 1} of {len(session.items)} \u00b7 '
        f"labeller {esc(session.labeller or '(nobody)')}</span></div></div>"
    )


def item_html(view: ItemView, spec: LabelSpec, label: dict[str, Any] | None = None) -> str:
    """One item as a person labels it (see the module docstring)."""
    item = view.item
    parts = [
        f'<div class="ragbench-label-card" style="{FONT}">',
        f'<div style="font-size:110%;margin:2px 0 6px 0"><b>{esc(spec.question)}</b></div>',
        f'<div style="{MUTED}">trial {esc(item.trial_label)} \u00b7 question '
        f"{esc(item.question_id)}</div>",
        f'<div style="{BOX}"><b>question</b>: {esc(view.user_input)}',
    ]
    if view.reference:  # always shown when there is one: correctness is judged against it
        parts.append(f"<div><b>reference answer</b>: {esc(view.reference)}</div>")
    parts.append("</div>")
    passages = "".join(
        f'<li value="{k}"><code>{esc(doc)}</code>{" " + CITED if k in view.cited else ""}'
        f"{passage_html(text, preview=len(text) + 1)}</li>"
        for k, (doc, text) in enumerate(view.passages, start=1)
    )
    parts.append(
        f'<div style="{BOX}"><b>retrieved passages</b> ({len(view.passages)}; the answer cites '
        f"them as [k])<ol>{passages}</ol></div>"
    )
    answer = esc(view.response) if view.response else f'<i style="{MUTED}">(no answer)</i>'
    parts.append(f'<div style="{BOX}"><b>answer</b>: {answer}</div>')
    judge = (
        f"<b>judge</b>: score {item.judge_value:.3f} (verdict at {item.threshold:g}: "
        f"{_verdict(item.verdict, spec)})"
    )
    reasons = reasons_html(item.metric, view.trace)
    if reasons:
        judge += f"<details><summary>the judge's reasons</summary>{reasons}</details>"
    parts.append(f'<div style="{BOX}">{judge}</div>')
    if label is not None:
        why = f" \u2014 {esc(label['reason'])}" if label.get("reason") else ""
        parts.append(
            f'<div class="ragbench-label-current" style="{BOX}"><b>labelled</b>: '
            f"{_verdict(label['value'] == 1.0, spec)} by {esc(label.get('labeller'))}"
            f'<span style="{MUTED}">{why}</span></div>'
        )
    parts.append("</div>")
    return "".join(parts)
