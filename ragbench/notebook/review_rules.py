"""Scripted review rules (notebook 05's "Scripted review"): see what a rule would reject, then decide.

Contract:
- A rule is a function from a row (a mapping, as ``ReviewSet.row`` returns it) to the reason it
  rejects the row, or None. :func:`refers_to_the_passage` is the rule notebook 05 shows: a
  question that points at "the passage" or "the text" is not self-contained.
- ``check_rule(review, rule, status="pending", apply=False)`` runs a rule over the rows of
  ``status`` (None: every row) and returns a :class:`RuleResult` listing what it rejects. By default
  it is a preview and changes nothing; ``apply=True`` rejects those rows through
  ``ReviewSet.reject`` (so they count as unsaved changes, in the panel too). Neither writes the
  file: saving is ``ReviewSet.save`` (the notebook's save cell, or the panel's Save file).
- A :class:`RuleResult` shows itself as HTML (one line saying what happened and how to apply it,
  then question id, question and reason per row) and as text. All row text is escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ragbench.data.review import QuestionReview
from ragbench.render.html import MUTED, esc

#: A review rule: row -> why it is rejected, or None to leave it alone.
Rule = Callable[[dict[str, Any]], str | None]
CELL = 'style="padding:2px 10px;text-align:left;vertical-align:top"'


def refers_to_the_passage(row: dict[str, Any]) -> str | None:
    """Reject a question that points at "the passage" or "the text": someone reading only the
    question never saw it (the synthesizer's "not self-contained" filter, applied again)."""
    question = str(row.get("user_input") or "").lower()
    if "the passage" in question or "the text" in question:
        return "not self-contained: refers to the passage"
    return None


@dataclass
class RuleResult:
    """What a rule rejects: ``(question id, question, reason)`` per row, and whether it was applied."""

    rule: str
    status: str | None  # the rows it looked at ("pending"; None: every row)
    checked: int
    rejects: list[tuple[str, str, str]] = field(default_factory=list)
    applied: bool = False

    @property
    def summary(self) -> str:
        """One line: what the rule found, and whether anything changed."""
        looked = f"{self.checked} {self.status + ' ' if self.status else ''}question(s)"
        n = len(self.rejects)
        if not n:
            return f"{self.rule} rejects none of {looked}: nothing changed"
        if self.applied:
            return (
                f"{self.rule} rejected {n} of {looked}, not saved yet: run the save cell or press "
                "Save file"
            )
        return (
            f"{self.rule} would reject {n} of {looked}; a preview, nothing changed "
            "(apply=True rejects them)"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td {CELL}><code>{esc(qid)}</code></td><td {CELL}>{esc(question)}</td>"
            f"<td {CELL}>{esc(reason)}</td></tr>"
            for qid, question, reason in self.rejects
        )
        head = "".join(f"<th {CELL}>{h}</th>" for h in ("question id", "question", "reason"))
        table = (
            f'<table style="border-collapse:collapse;margin:4px 0"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>"
            if rows
            else ""
        )
        return (
            f'<div class="ragbench-review-rule"><div style="{MUTED}">{esc(self.summary)}</div>'
            f"{table}</div>"
        )

    def __repr__(self) -> str:
        lines = [self.summary]
        lines += [f"  {qid}: {question} ({reason})" for qid, question, reason in self.rejects]
        return "\n".join(lines)


def check_rule(
    review: QuestionReview, rule: Rule, status: str | None = "pending", apply: bool = False
) -> RuleResult:
    """What ``rule`` rejects among the rows of ``status``; with ``apply`` it rejects them.

    Args:
        review: the question file being reviewed (shared with the panel).
        rule: row -> reason or None (e.g. :func:`refers_to_the_passage`).
        status: the rows to look at ("pending" by default; None: every row).
        apply: False (default) previews and changes nothing; True rejects each row the rule finds
            (unsaved changes until the file is saved).

    Raises:
        ReviewError: an unknown status; an empty reason from the rule when applying.
    """
    ids = review.ids(status=status)
    result = RuleResult(getattr(rule, "__name__", "rule"), status, len(ids), applied=apply)
    for qid in ids:
        row = review.row(qid)
        reason = rule(row)
        if reason:
            result.rejects.append((qid, str(row.get("user_input") or ""), reason))
    if apply:
        for qid, _, reason in result.rejects:
            review.reject(qid, reason)
    return result
