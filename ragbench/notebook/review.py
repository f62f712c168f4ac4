"""Review before trust (notebooks/05-review-questions.ipynb): page through synthesized questions
with their evidence, accept, reject or edit them, and save the file.

Contract:
- The model is ``data.review.QuestionReview``; ``ReviewSet`` (re-exported here with
  :class:`ReviewError`, ``card_html``, ``counts_html`` and ``highlight`` from ``render.review``) is
  that model shown in a notebook: ``ReviewSet.load(path)``, ``accept`` / ``reject`` / ``edit``,
  ``ids``, ``counts``, ``save``. Every decision made here goes through it, so a scripted review
  and a clicked one write the same rows.
- ``ReviewPanel(path or ReviewSet)`` is the ipywidgets view: a header with the counts, status and
  kind filters, Previous / Next and a position slider, the card (``render.review.card_html``),
  text areas for the question, the reference answer and the evidence spans (one per paragraph,
  :func:`join_spans` / :func:`split_spans`; Save edits), a reason box with Accept / Reject, Save
  file, and a message line. Reject without a reason only says so; Accept and Reject move on to
  the next question of the current filter. Errors are one red line in the message; nothing goes
  to stderr.
- Displayed in a notebook, the panel also carries an HTML snapshot (header and current card), so
  an executed copy read without a kernel (papermill output, nbviewer) still shows the question.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ragbench.data.review import KINDS, STATUSES, QuestionReview, ReviewError
from ragbench.data.review_rows import display_path, kind_of
from ragbench.render.html import RED, esc
from ragbench.render.review import MUTED, ReviewSet, card_html, counts_html, highlight

__all__ = [
    "KINDS",
    "STATUSES",
    "ReviewError",
    "ReviewPanel",
    "ReviewSet",
    "card_html",
    "counts_html",
    "highlight",
    "join_spans",
    "split_spans",
]

ALL = "all"
GREEN = "#1a7f37"


def join_spans(spans: list[str]) -> str:
    """Evidence spans as the text of the evidence box: separated by a blank line."""
    return "\n\n".join(s for s in spans if isinstance(s, str))


def split_spans(text: str) -> list[str]:
    """The evidence box's text as spans: split at blank lines, each stripped, empty ones dropped.

    A span that itself held a blank line comes back as two spans, both still verbatim."""
    return [part.strip() for part in re.split(r"\n[ \t]*\n", text) if part.strip()]


class ReviewPanel:
    """The review widgets wired to one :class:`ReviewSet` (see the module docstring).

    Args:
        source: a question file (loaded with ``ReviewSet.load``) or a loaded ``ReviewSet`` (the
            notebook shares one between the panel and scripted decisions; call :meth:`refresh`
            after deciding in code).
    """

    def __init__(self, source: QuestionReview | str | Path) -> None:
        import ipywidgets as w

        self.review = source if isinstance(source, QuestionReview) else ReviewSet.load(source)
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
