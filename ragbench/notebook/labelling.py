"""Label judged items (notebooks/06-label-judged.ipynb): page through a run's seeded sample, say
"Supported" / "Not supported" (or the metric's own words), and the labels go to DuckDB at once.

Contract:
- The model is ``results.labelling.LabelSession`` (the sample, the labels, the rules); every
  click goes through it, so a scripted label and a clicked one write the same row.
- ``LabelPanel(db, run_id=None, experiment=None, metric="faithfulness", labeller="", n=40,
  seed=0)`` (or ``LabelPanel.of(session)``) is the ipywidgets view: a header (run, metric,
  labeller, "12 of 40 labelled"), the item (``render.labelling.item_html``: the question, the
  passages whole with the cited ones marked, the answer, the judge's score and reasons), a reason
  box, the metric's two answer buttons, Skip and Previous, and a message line. It opens at the
  first unlabelled item, so a panel opened again resumes where the last one stopped; a label moves
  on to the next unlabelled item; Skip moves on without labelling; Previous goes back one item
  (labelling it again replaces its label, keeping the earlier one in its history). A label that
  disagrees with the judge needs a reason: without one the message says so and nothing is written.
  Errors are one red line in the message; nothing goes to stderr.
- Displayed in a notebook, the panel also carries an HTML snapshot (header and item), so an
  executed copy read without a kernel still shows the item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragbench.render.html import GREEN, RED, esc
from ragbench.render.labelling import header_html, item_html
from ragbench.results.labelling import DEFAULT_N, LabelSession
from ragbench.results.labels import LabelError
from ragbench.store import Store

__all__ = ["LabelError", "LabelPanel", "LabelSession"]


class LabelPanel:
    """The labelling widgets wired to one :class:`LabelSession` (see the module docstring)."""

    def __init__(
        self,
        db: str | Path | Store,
        run_id: str | None = None,
        experiment: str | None = None,
        metric: str = "faithfulness",
        labeller: str = "",
        n: int | None = DEFAULT_N,
        seed: int = 0,
        session: LabelSession | None = None,
    ) -> None:
        import ipywidgets as w

        self.session = session or LabelSession.open(
            db, run_id, experiment, metric, labeller, n, seed
        )
        spec = self.session.spec
        self.header = w.HTML()
        self.card = w.HTML()
        self.reason = w.Text(
            description="reason",
            placeholder="why (required when you disagree with the judge)",
            layout=w.Layout(width="60%"),
        )
        self.yes_button = w.Button(description=spec.yes, button_style="success", icon="check")
        self.no_button = w.Button(description=spec.no, button_style="danger", icon="times")
        self.skip_button = w.Button(description="Skip", icon="arrow-right")
        self.prev_button = w.Button(description="Previous", icon="arrow-left")
        self.message = w.HTML()
        self.position: int = 0  # the item shown: 0-based index into the sample
        self.widget = w.VBox(
            [
                self.header,
                self.card,
                w.HBox([self.reason, self.yes_button, self.no_button]),
                w.HBox([self.prev_button, self.skip_button, self.message]),
            ]
        )
        self.yes_button.on_click(lambda _b: self.label(True))
        self.no_button.on_click(lambda _b: self.label(False))
        self.skip_button.on_click(lambda _b: self.skip())
        self.prev_button.on_click(lambda _b: self.go(self.position - 1))
        first = self.session.first_unlabelled()
        self.position = first or 0
        self._show()
        if first is None:
            self._say(f"all {len(self.session.items)} items are labelled")

    @classmethod
    def of(cls, session: LabelSession) -> LabelPanel:
        """A panel on a session opened in code (shared with scripted labels)."""
        return cls(session.store, session=session)

    def go(self, index: int) -> None:
        """Show item ``index`` of the sample (clamped to it)."""
        self.position = min(max(index, 0), len(self.session.items) - 1)
        self.message.value = ""
        self._show()

    def label(self, yes: bool) -> bool:
        """Label the item shown (yes: the metric's first answer) with the reason box's text;
        True when it was written."""
        k = self.position
        try:
            self.session.label(k, yes, self.reason.value)
        except LabelError as exc:
            self._say(str(exc), error=True)
            return False
        spec, item = self.session.spec, self.session.items[k]
        self.reason.value = ""
        after = self.session.next_unlabelled(k)
        self.position = k if after is None else after
        self._show()
        done = (
            f"labelled {item.question_id} of '{item.trial_label}': {spec.yes if yes else spec.no}"
        )
        if after is None:
            done += f"; all {len(self.session.items)} items are labelled"
        self._say(done)
        return True

    def skip(self) -> None:
        """Move on to the next unlabelled item (the next item when every one is labelled)."""
        k = self.position
        after = self.session.next_unlabelled(k)
        self.go((k + 1) if after is None or after == k else after)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.value = f'<span style="color:{RED if error else GREEN}">{esc(text)}</span>'

    def _show(self) -> None:
        k = self.position
        view = self.session.view(k)
        self.card.value = item_html(view, self.session.spec, self.session.label_of(k))
        self.prev_button.disabled = k == 0
        self.header.value = header_html(self.session, k)  # last: it says the item is shown

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/html"] = (
            f'<div class="ragbench-label">{self.header.value}{self.card.value}</div>'
        )
        bundle["text/plain"] = (
            f"LabelPanel: {self.session.metric} of run {self.session.run_id}, item "
            f"{self.position + 1} ({self.session.progress()})"
        )
        return bundle
