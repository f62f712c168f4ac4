"""Review before trust (notebooks/05-review-questions.ipynb): page through synthesized questions
with their evidence, accept, reject or edit them, and save the file.

Contract:
- The model is :class:`~ragbench.notebook.review_set.ReviewSet` (re-exported here with
  :class:`ReviewError`): ``ReviewSet.load(path)``, ``accept`` / ``reject`` / ``edit``, ``ids``,
  ``counts``, ``save``. Every decision made here goes through it, so a scripted review and a
  clicked one write the same rows.
- :func:`counts_html` renders the counts table (kinds x statuses) and the rejections per reason.
- :func:`card_html` renders one row: its id, kind, status and reason, the question, the reference
  answer, the gold documents, and each source passage with the evidence spans marked (``<mark>``);
  a span that is not in its passage is named in red. All row text is HTML-escaped.
- ``ReviewPanel(path or ReviewSet)`` is the ipywidgets view: a header with the counts, status and
  kind filters, Previous / Next and a position slider, the card, text areas for the question, the
  reference answer and the evidence spans (one per paragraph; Save edits), a reason box with
  Accept / Reject, Save file, and a message line. Reject without a reason only says so; Accept and Reject move on to the next question of
  the current filter. Errors are one red line in the message; nothing goes to stderr.
- Displayed in a notebook, the panel also carries an HTML snapshot (header and current card), so
  an executed copy read without a kernel (papermill output, nbviewer) still shows the question.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ragbench.notebook.review_set import (
    KINDS,
    STATUSES,
    ReviewError,
    ReviewSet,
    display_path,
    kind_of,
    sources_of,
    status_of,
)
from ragbench.render.html import RED, esc

__all__ = [
    "KINDS",
    "STATUSES",
    "ReviewError",
    "ReviewPanel",
    "ReviewSet",
    "card_html",
    "counts_html",
    "highlight",
]

ALL = "all"
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
GREEN = "#1a7f37"
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


def join_spans(spans: list[str]) -> str:
    """Evidence spans as the text of the evidence box: separated by a blank line."""
    return "\n\n".join(s for s in spans if isinstance(s, str))


def split_spans(text: str) -> list[str]:
    """The evidence box's text as spans: split at blank lines, each stripped, empty ones dropped.

    A span that itself held a blank line comes back as two spans, both still verbatim."""
    return [part.strip() for part in re.split(r"\n[ \t]*\n", text) if part.strip()]


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


def counts_html(review: ReviewSet) -> str:
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


class ReviewPanel:
    """The review widgets wired to one :class:`ReviewSet` (see the module docstring).

    Args:
        source: a question file (loaded with ``ReviewSet.load``) or a loaded ``ReviewSet`` (the
            notebook shares one between the panel and scripted decisions; call :meth:`refresh`
            after deciding in code).
    """

    def __init__(self, source: ReviewSet | str | Path) -> None:
        import ipywidgets as w

        self.review = source if isinstance(source, ReviewSet) else ReviewSet.load(source)
        wide = w.Layout(width="98%")
        self.header = w.HTML()
        self.status_filter = w.Dropdown(options=(ALL, *STATUSES), value=ALL, description="status")
        self.kind_filter = w.Dropdown(options=(ALL, *KINDS), value=ALL, description="kind")
        self.prev_button = w.Button(description="Previous", icon="arrow-left")
        self.next_button = w.Button(description="Next", icon="arrow-right")
        self.position = w.IntSlider(
            value=1, min=1, max=1, description="question", continuous_update=False
        )
        self.where = w.HTML()  # "of 6"
        self.card = w.HTML()
        self.question = w.Textarea(description="question", rows=2, layout=wide)
        self.reference = w.Textarea(description="reference", rows=3, layout=wide)
        self.evidence = w.Textarea(
            description="evidence",
            rows=3,
            placeholder="evidence spans copied from the passage, separated by a blank line",
            layout=wide,
        )
        self.save_edits_button = w.Button(description="Save edits", icon="pencil")
        self.reason = w.Text(
            description="reason",
            placeholder="why reject (required), or a note when accepting",
            layout=w.Layout(width="60%"),
        )
        self.accept_button = w.Button(description="Accept", button_style="success", icon="check")
        self.reject_button = w.Button(description="Reject", button_style="danger", icon="times")
        self.save_button = w.Button(description="Save file", button_style="primary", icon="save")
        self.message = w.HTML()
        self.widget = w.VBox(
            [
                self.header,
                w.HBox([self.status_filter, self.kind_filter]),
                w.HBox([self.prev_button, self.position, self.where, self.next_button]),
                self.card,
                self.question,
                self.reference,
                self.evidence,
                self.save_edits_button,
                w.HBox([self.reason, self.accept_button, self.reject_button]),
                w.HBox([self.save_button, self.message]),
            ]
        )
        self._ids: list[str] = []
        self._quiet = False  # True while the panel itself moves the slider
        for control in (self.status_filter, self.kind_filter):
            control.observe(lambda _change: self.refresh(), names="value")
        self.position.observe(self._on_position, names="value")
        self.prev_button.on_click(lambda _b: self.go(self.position.value - 2))
        self.next_button.on_click(lambda _b: self.go(self.position.value))
        self.accept_button.on_click(lambda _b: self.accept())
        self.reject_button.on_click(lambda _b: self.reject())
        self.save_edits_button.on_click(lambda _b: self.save_edits())
        self.save_button.on_click(lambda _b: self.save())
        self.refresh()

    @property
    def current(self) -> str | None:
        """The question id on screen (None when no question matches the filters)."""
        k = self.position.value - 1
        return self._ids[k] if 0 <= k < len(self._ids) else None

    @property
    def shown(self) -> list[str]:
        """The question ids the filters select, in file order."""
        return list(self._ids)

    def refresh(self, keep: str | None = None) -> None:
        """Re-read the filters; stay on ``keep`` (default: the current question) if it still matches."""
        keep = keep if keep is not None else self.current
        status, kind = self.status_filter.value, self.kind_filter.value
        self._ids = self.review.ids(
            None if status == ALL else status, None if kind == ALL else kind
        )
        self.go(self._ids.index(keep) if keep in self._ids else 0)

    def go(self, index: int) -> None:
        """Show the question at 0-based ``index`` of the filtered list (clamped to it)."""
        n = len(self._ids)
        self._quiet = True
        try:
            self.position.max = max(n, 1)
            self.position.value = min(max(index, 0), n - 1) + 1 if n else 1
        finally:
            self._quiet = False
        self._show()

    def accept(self) -> None:
        """Accept the current question (the reason box, if filled, is kept as a note)."""
        qid = self.current
        if qid is None:
            return
        try:
            self.review.accept(qid, self.reason.value)
        except ReviewError as exc:
            self._say(str(exc), True)
            return
        self._decided(qid, f"accepted {qid}")

    def reject(self) -> None:
        """Reject the current question with the reason typed in the reason box."""
        qid = self.current
        if qid is None:
            return
        if not self.reason.value.strip():
            self._say(f"type why {qid} is rejected in the reason box first; it is unchanged", True)
            return
        self.review.reject(qid, self.reason.value)
        self._decided(qid, f"rejected {qid}: {self.review.row(qid)['reason']}")

    def save_edits(self) -> None:
        """Apply the question, reference and evidence text areas to the current question."""
        qid = self.current
        if qid is None:
            return
        row = self.review.row(qid)
        changes: dict[str, Any] = {
            key: box.value
            for key, box in (("user_input", self.question), ("reference", self.reference))
            if box.value.strip() != str(row.get(key) or "").strip()
        }
        spans = split_spans(self.evidence.value)
        if spans != split_spans(join_spans(row.get("gold_spans") or [])):
            changes["gold_spans"] = spans
        try:
            changed = bool(changes) and self.review.edit(qid, **changes)
        except ReviewError as exc:
            self._say(str(exc), True)
            return
        self._show()
        if changed:
            self._say(f"edited {qid} (press Save file to write it)")
        else:
            self._say(f"nothing to save: the texts of {qid} are unchanged")

    def save(self) -> str | None:
        """Write the file (atomically); the message says what was saved."""
        try:
            text = self.review.save()
        except ReviewError as exc:
            self._say(str(exc), True)
            return None
        self._show()
        self._say(text)
        return text

    # --- rendering ---------------------------------------------------------------------------------

    def _decided(self, qid: str, text: str) -> None:
        self.reason.value = ""
        before = self._ids.index(qid)
        status, kind = self.status_filter.value, self.kind_filter.value
        self._ids = self.review.ids(
            None if status == ALL else status, None if kind == ALL else kind
        )
        # The next question of the filter: the one after this, or the one that took its place.
        self.go(self._ids.index(qid) + 1 if qid in self._ids else before)
        self._say(text)

    def _on_position(self, _change: Any) -> None:
        if not self._quiet:
            self._show()

    def _say(self, text: str, error: bool = False) -> None:
        color = RED if error else GREEN
        self.message.value = f'<span style="color:{color}">{esc(text)}</span>'

    def _header_html(self) -> str:
        unsaved = self.review.unsaved
        note = (
            f'<span style="color:#bf8700;font-weight:600">{unsaved} unsaved change(s): press Save '
            "file</span>"
            if unsaved
            else f'<span style="{MUTED}">no unsaved changes</span>'
        )
        if self.review.read_only:
            note += (
                f'<span style="{MUTED}"> \u00b7 the sample shipped with ragbench: it is never '
                'overwritten; review.save("reviewed.jsonl") keeps your decisions</span>'
            )
        return counts_html(self.review) + f"<div>{note}</div>"

    def _show(self) -> None:
        qid, n = self.current, len(self._ids)
        self.header.value = self._header_html()
        self.where.value = f"of {n}"
        self.position.disabled = n <= 1
        self.prev_button.disabled = qid is None or self.position.value <= 1
        self.next_button.disabled = qid is None or self.position.value >= n
        for control in (
            self.accept_button,
            self.reject_button,
            self.save_edits_button,
            self.question,
            self.reference,
            self.evidence,
            self.reason,
        ):
            control.disabled = qid is None
        if qid is None:
            self.card.value = (
                f'<p style="{MUTED}">No question is {esc(self.status_filter.value)} of kind '
                f"{esc(self.kind_filter.value)}: change the filters above.</p>"
            )
            self.question.value = self.reference.value = self.evidence.value = ""
            return
        row = self.review.row(qid)
        self.card.value = card_html(row)
        self.question.value = str(row.get("user_input") or "")
        self.reference.value = str(row.get("reference") or "")
        self.evidence.value = join_spans(row.get("gold_spans") or [])
        # an unanswerable question has neither a reference answer nor evidence to edit
        self.reference.disabled = self.evidence.disabled = kind_of(row) == "unanswerable"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/html"] = (
            f'<div class="ragbench-review">{self.header.value}{self.card.value}</div>'
        )
        name = display_path(self.review.path) if self.review.path else "questions"
        bundle["text/plain"] = (
            f"ReviewPanel: {name}, question {self.position.value} of {len(self._ids)} "
            f"({self.review.summary()})"
        )
        return bundle
