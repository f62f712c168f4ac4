"""One question across trials, for people: passages (whole), citations, scores and the judge's reasons.

Contract: pure functions from ``results.inspect`` rows and strings to HTML; no store. A passage is
shown whole (:func:`passage_html`: a long one folds into a <details>, never only on hover); the
passages an answer cites are marked by number (``[k]`` cites the k-th retrieved passage,
``pipeline.prompts.cited_passages``), not by document; the judge's trace is read by
``results.reasons`` into statements or passages with verdicts and reasons (:func:`reasons_html`).
All user text goes through ``esc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ragbench.pipeline.prompts import cited_passages
from ragbench.render.html import DASH, FONT, GREEN, MUTED, RED, esc, number
from ragbench.results.reasons import read_trace


def reasons_html(metric: str, trace: list[Any]) -> str:
    """One metric's judge trace for people (``results.reasons.read_trace``): per step a muted
    title, then one line per statement or passage with its verdict (green / red) and reason."""
    parts = []
    for step in read_trace(trace):
        lines = []
        for f in step.findings:
            color = "" if f.ok is None else f"color:{GREEN if f.ok else RED}"
            verdict = f' <b style="{color}">{esc(f.verdict)}</b>' if f.verdict else ""
            reason = f' <span style="{MUTED}">\u2014 {esc(f.reason)}</span>' if f.reason else ""
            lines.append(f"<li>{esc(f.subject)}{verdict}{reason}</li>")
        cached = " (cached)" if step.cached else ""
        parts.append(
            f'<div style="{MUTED}">{esc(step.title)}{cached}</div>'
            f'<ul style="margin:2px 0 6px 0">{"".join(lines)}</ul>'
        )
    return f"<div><b>{esc(metric)}</b>{''.join(parts)}</div>" if parts else ""


def _score_chip(metric: str, value: Any, error: Any) -> str:
    if isinstance(error, str) and error:
        return (
            f'<span title="{esc(error)}" style="display:inline-block;margin:1px 6px 1px 0;'
            f'padding:0 6px;border:1px solid {RED};color:{RED}">{esc(metric)}: failed</span>'
        )
    return (
        f'<span style="display:inline-block;margin:1px 6px 1px 0;padding:0 6px;'
        f'border:1px solid rgba(127,127,127,0.5)">{esc(metric)}: <b>{number(value)}</b></span>'
    )


PASSAGE_PREVIEW = 280  # characters of a long passage shown before it is unfolded
PASSAGE_BODY = "white-space:pre-wrap;margin:2px 0 4px 0;line-height:1.4"
CITED = f'<b style="color:{GREEN}" title="the answer cites this passage">cited</b>'


def passage_html(text: str, preview: int = PASSAGE_PREVIEW) -> str:
    """A retrieved passage, whole: a short one as it is; a longer one in a <details> whose summary
    previews its start and whose body holds all of it (nothing only on hover, nothing cut)."""
    text = str(text).strip()
    flat = " ".join(text.split())
    if len(flat) <= preview:
        return f'<div style="{PASSAGE_BODY}">{esc(text)}</div>'
    cut = flat[:preview].rsplit(" ", 1)[0] or flat[:preview]
    return (
        f'<details><summary>{esc(cut)} \u2026 <span style="{MUTED}">({len(text):,} characters)'
        f'</span></summary><div style="{PASSAGE_BODY}">{esc(text)}</div></details>'
    )


def _passage(number: int, doc_id: str, text: str, cited: bool, chars: int) -> str:
    tag = f" {CITED}" if cited else ""
    return (
        f'<li value="{number}"><code>{esc(doc_id)}</code>{tag}'
        f'<div style="{MUTED}">{passage_html(text, chars)}</div></li>'
    )


def question_html(
    frame: pd.DataFrame,
    metrics: Sequence[str],
    context_chars: int = 280,
    open_passages: bool | None = None,
) -> str:
    """One question across trials: the answer, cited sources, retrieved passages and scores.

    Args:
        frame: ``results.inspect.drilldown`` rows (one per trial).
        metrics: metric columns of ``frame`` to show as score chips.
        context_chars: passages longer than this show this much and unfold to their full text.
        open_passages: show the passages unfolded (default: when there are at most 2 trials).
    """
    if frame.empty:
        return "<p>(no records)</p>"
    first = frame.iloc[0]
    unfold = " open" if (len(frame) <= 2 if open_passages is None else open_passages) else ""
    parts = [
        f'<div style="{FONT}"><div style="font-size:110%"><b>Question {esc(first.question_id)}'
        f"</b>: {esc(first.user_input)}</div>"
    ]
    if isinstance(first.reference, str) and first.reference:
        parts.append(f'<div style="{MUTED}">reference answer: {esc(first.reference)}</div>')
    for row in frame.to_dict("records"):
        retrieved = row.get("retrieved") or []
        answer = row.get("response")
        cited = set(cited_passages(answer if isinstance(answer, str) else None, len(retrieved)))
        chips = "".join(
            _score_chip(m, row.get(m), row.get(f"{m}_error")) for m in metrics if m in row
        )
        answer_html = (
            esc(answer)
            if isinstance(answer, str)
            else f'<i style="{MUTED}">not answered (retrieval only)</i>'
        )
        sources = ", ".join(f"<code>{esc(d)}</code>" for d in row.get("cited_doc_ids") or [])
        passages = "".join(
            _passage(k, p["doc_id"], p["context"], k in cited, context_chars)
            for k, p in enumerate(retrieved, start=1)
        )
        reasons = "".join(reasons_html(m, row.get(f"{m}_reasons") or []) for m in metrics)
        parts.append(
            '<div style="border:1px solid rgba(127,127,127,0.4);border-radius:4px;'
            'padding:6px 10px;margin:8px 0">'
            f'<div style="font-weight:600">{esc(row["label"])}</div>'
            f'<div style="margin:3px 0">{chips}</div>'
            f'<div style="margin:4px 0"><b>answer</b>: {answer_html}</div>'
            f'<div style="margin:2px 0"><b>cited</b>: {sources or DASH}</div>'
            f"<details{unfold}><summary><b>retrieved passages</b> ({len(retrieved)})"
            f'</summary><ol style="margin:2px 0">{passages}</ol></details>'
            + (f"<details><summary>judge's reasons</summary>{reasons}</details>" if reasons else "")
            + "</div>"
        )
    return "".join(parts) + "</div>"
