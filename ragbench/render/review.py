"""A question file under review, shown: one question as a card, the counts of the whole file, and
``ReviewSet``, the review model that shows itself so in a notebook.

Contract:
- :func:`card_html` renders one row: its id, kind, status and reason, the question, the reference
  answer, the gold documents, and each source passage with the evidence spans marked
  (``<mark>``, :func:`highlight`); a span that is not in its passage is named in red. All row text
  is HTML-escaped.
- :func:`counts_html` renders the counts table (kinds x statuses) and the rejections per reason.
- :class:`ReviewSet` is ``data.review.QuestionReview`` (load, accept / reject / edit, save: every
  decision goes through the model) plus ``_repr_html_``: the counts as HTML, so that a cell ending
  in ``ReviewSet.load(path)`` shows them. It computes nothing of its own.
"""

from __future__ import annotations

from typing import Any

from ragbench.data.review import QuestionReview
from ragbench.data.review_rows import display_path, kind_of, sources_of, status_of
from ragbench.render.html import RED, esc

STATUS_TINT = {
    "accepted": "rgba(46,160,67,0.22)",
    "rejected": "rgba(209,36,47,0.20)",
    "pending": "rgba(210,153,34,0.25)",
}
MUTED = "opacity:0.75"
CHIP = (
    "display:inline-block;padding:0 8px;margin:0 6px 2px 0;border-radius:9px;"
    "border:1px solid rgba(127,127,127,0.45)"
)
PASSAGE = (
    "white-space:pre-wrap;max-height:18em;overflow:auto;padding:6px 10px;margin:2px 0 8px 0;"
    "border-left:3px solid rgba(127,127,127,0.5);background:rgba(127,127,127,0.08);"
    "line-height:1.45"
)
TABLE = 'style="border-collapse:collapse;margin:4px 0;font-variant-numeric:tabular-nums"'
CELL = 'style="padding:2px 10px;text-align:right"'
HEAD = 'style="padding:2px 10px;text-align:left"'


def highlight(passage: str, spans: list[str]) -> str:
    """``passage`` as escaped HTML with every occurrence of every span wrapped in ``<mark>``."""
    found: list[tuple[int, int]] = []
    for span in spans:
        start = passage.find(span) if span else -1
        while start >= 0:
            found.append((start, start + len(span)))
            start = passage.find(span, start + len(span))
    merged: list[list[int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, pos = [], 0
    for start, end in merged:
        parts += [esc(passage[pos:start]), f"<mark>{esc(passage[start:end])}</mark>"]
        pos = end
    parts.append(esc(passage[pos:]))
    return "".join(parts)


def _chip(text: str, tint: str = "") -> str:
    style = CHIP + (f";background:{tint}" if tint else "")
    return f'<span style="{style}">{esc(text)}</span>'


def card_html(row: dict[str, Any]) -> str:
    """One question as a person reviews it (see the module docstring)."""
    status, kind = status_of(row), kind_of(row)
    found = row.get("provenance")
    prov: dict[str, Any] = found if isinstance(found, dict) else {}
    chips = _chip(kind) + _chip(status, STATUS_TINT.get(status, ""))
    if prov.get("edited"):
        chips += _chip("edited")
    if prov.get("reviewed_by"):
        chips += f'<span style="{MUTED}">reviewed by {esc(prov["reviewed_by"])}</span>'
    parts = [
        f'<div style="{MUTED}"><code>{esc(row.get("question_id"))}</code></div>',
        f'<div style="margin:3px 0">{chips}</div>',
    ]
    if row.get("reason"):
        color = f"color:{RED}" if status == "rejected" else MUTED
        label = "reason" if status == "rejected" else "note"
        parts.append(f'<div style="{color}"><b>{label}</b>: {esc(row["reason"])}</div>')
    parts.append(
        f'<div style="font-size:115%;font-weight:600;margin:8px 0 4px 0">{esc(row.get("user_input"))}'
        "</div>"
    )
    reference = row.get("reference") or ""
    shown = esc(reference) if reference else f'<i style="{MUTED}">none</i>'
    parts.append(f'<div style="margin:2px 0"><b>reference answer</b>: {shown}</div>')
    gold = row.get("gold_doc_ids") or []
    docs = ", ".join(f"<code>{esc(d)}</code>" for d in gold) or f'<i style="{MUTED}">none</i>'
    parts.append(f'<div style="margin:2px 0"><b>gold documents</b>: {docs}</div>')
    parts.append(_evidence_html(row, kind))
    return f'<div class="ragbench-review-card" style="margin:6px 0">{"".join(parts)}</div>'


def _evidence_html(row: dict[str, Any], kind: str) -> str:
    spans = [s for s in row.get("gold_spans") or [] if isinstance(s, str) and s]
    sources = sources_of(row)
    parts = []
    if kind == "unanswerable":
        parts.append(
            f'<div style="{MUTED};margin-top:6px">unanswerable: the question was written near these '
            "passages, which must not answer it.</div>"
        )
    for k, source in enumerate(sources, start=1):
        where = ""
        if isinstance(source.get("start"), int) and isinstance(source.get("end"), int):
            where = f" \u00b7 characters {source['start']}\u2013{source['end']}"
        parts.append(
            f'<div style="margin-top:6px"><b>source passage {k} of {len(sources)}</b>: '
            f'<code>{esc(source.get("doc_id"))}</code><span style="{MUTED}">{where}</span></div>'
            f'<div style="{PASSAGE}">{highlight(source["passage"], spans)}</div>'
        )
    missing = [s for s in spans if not any(s in src["passage"] for src in sources)]
    if missing:
        title = (
            "evidence not found in the source passage(s)"
            if sources
            else "evidence spans (no source passage recorded)"
        )
        items = "".join(f"<li>{esc(s)}</li>" for s in missing)
        color = f"color:{RED}" if sources else ""
        parts.append(
            f'<div style="{color};margin-top:6px"><b>{title}</b>:<ul style="margin:2px 0">'
            f"{items}</ul></div>"
        )
    return "".join(parts)


def counts_html(review: QuestionReview) -> str:
    """The counts table (kinds x statuses) and the rejections per reason, as HTML."""
    table = review.counts()
    head = f"<th {HEAD}>kind</th>" + "".join(f"<th {CELL}>{c}</th>" for c in table.columns)
    rows = "".join(
        f"<tr><th {HEAD}>{esc(str(kind))}</th>"
        + "".join(f"<td {CELL}>{int(v) or '&middot;'}</td>" for v in values)
        + "</tr>"
        for kind, values in zip(table.index, table.to_numpy(), strict=True)
    )
    reasons = review.rejections()
    why = ", ".join(f"{esc(str(k))} {int(v)}" for k, v in reasons.items())
    name = esc(display_path(review.path)) if review.path else "questions"
    heading = (
        f'<div style="font-weight:600">{name}: {len(review)} question(s), '
        f"{esc(review.summary())}</div>"
    )
    return (
        f'<div class="ragbench-review-counts">{heading}'
        f"<table {TABLE}><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        + (f'<div style="{MUTED}">rejected by: {why}</div>' if why else "")
        + "</div>"
    )


class ReviewSet(QuestionReview):
    """A question file under review (``data.review.QuestionReview``) that a notebook shows as its
    counts table; its scripted API (``load``, ``accept``, ``reject``, ``edit``, ``save``) is the
    model's."""

    def _repr_html_(self) -> str:
        return counts_html(self)
