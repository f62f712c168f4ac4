"""Reviewing a synthesized question file, the model: load it, decide row by row, save it atomically.

Contract:
- ``QuestionReview.load(path)`` reads a question JSONL file for review (``data.review_rows``: the
  rows it accepts, what a missing ``status`` or ``kind`` means; a bad file raises
  :class:`ReviewError` with one line naming the file and the line number of each of the first few
  problems).
- Decisions, by ``question_id``: :meth:`QuestionReview.accept` (optional note, kept in ``reason``),
  :meth:`QuestionReview.reject` (a non-empty reason is required) and :meth:`QuestionReview.edit`
  (question, reference answer, evidence spans). Every decision sets ``provenance.reviewed_by =
  "person"``; an edit sets ``provenance.edited = true`` and keeps the first original text of each
  edited field under ``provenance.original``; accepting a rejected row keeps its old reason under
  ``provenance.previous_reason``. An edited evidence span must occur verbatim in one of the row's
  source passages (``provenance.sources[*].passage``); ``provenance.spans`` is recomputed from it.
  A row whose evidence is not in its source passages cannot be accepted until its spans are fixed.
  A refused decision raises :class:`ReviewError` and changes nothing.
- :meth:`QuestionReview.save` rewrites the file atomically (a temp file in the same folder, then
  ``os.replace``): same rows in the same order, rejected rows kept with their reason, and every
  row that was not changed written back byte for byte as it was read. A file changed on disk since
  it was loaded is not overwritten, and a file without a change is not written at all (reading and
  running a notebook never touch it).
- ``QuestionReview.load("demo")`` reads the sample shipped with ragbench (:data:`DEMO_SAMPLE`, six
  rows over the demo corpus): it can be reviewed but never overwritten (``read_only``);
  ``save(PATH)`` writes the decisions to a file of one's own.
- ``counts()`` is accepted/rejected/pending per kind, ``rejections()`` the rejected rows per
  reason. This module holds no HTML and no widgets: ``ragbench.ReviewSet`` is this model shown in
  a notebook (``render.review``: the counts as HTML), ``ReviewPanel`` its widgets
  (``notebook.review``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ragbench.config.validation import suggest
from ragbench.data.review_rows import (
    DEMO,
    DEMO_SAMPLE,
    KINDS,
    STATUSES,
    ReviewError,
    Row,
    atomic_write,
    display_path,
    kind_of,
    read_rows,
    same_file,
    shipped,
    sources_of,
    stamp,
    status_of,
)

__all__ = ["DEMO_SAMPLE", "KINDS", "STATUSES", "QuestionReview", "ReviewError"]

# The synthesizer's filter names: a rejection reason "<filter>: <detail>" is counted under its filter.
FILTERS = (
    "span not found",
    "not self-contained",
    "cites a source",
    "points at layout",
    "leaks the answer",
    "not specific to its document",
    "duplicate",
    "not answerable from the span",
    "does not need both passages",
    "answerable from the corpus",
    "invalid output",
)
PERSON = "person"


class QuestionReview:
    """The rows of one question file and the decisions taken on them (see the module docstring)."""

    def __init__(self, rows: list[Row], path: Path | None = None) -> None:
        self._rows = rows
        self._index = {str(r.data["question_id"]): k for k, r in enumerate(rows)}
        self.path = path
        self._stamp = stamp(path)

    @property
    def read_only(self) -> bool:
        """True for a file shipped with ragbench (the demo sample): reviewed, never overwritten."""
        return self.path is not None and shipped(self.path)

    # --- reading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> QuestionReview:
        """Read a question JSONL file for review (``"demo"``: the sample shipped with ragbench).

        Raises:
            ReviewError: the file is missing, unreadable, empty, or has bad rows (one line naming
                the line numbers of the first few problems).
        """
        path = DEMO_SAMPLE if str(path) == DEMO else Path(path)
        return cls(read_rows(path), path)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def question_ids(self) -> list[str]:
        """Every question id, in file order."""
        return list(self._index)

    @property
    def unsaved(self) -> int:
        """How many rows changed since the file was loaded or last saved."""
        return sum(r.raw is None for r in self._rows)

    def row(self, qid: str) -> dict[str, Any]:
        """A copy of one row (change rows through the decisions, never by hand)."""
        return copy.deepcopy(self._get(qid).data)

    def ids(self, status: str | None = None, kind: str | None = None) -> list[str]:
        """Question ids in file order, only those of ``status`` and ``kind`` when given."""
        _check("status", status, STATUSES)
        _check("kind", kind, KINDS)
        return [
            qid
            for qid, k in self._index.items()
            if (status is None or status_of(self._rows[k].data) == status)
            and (kind is None or kind_of(self._rows[k].data) == kind)
        ]

    def counts(self) -> pd.DataFrame:
        """Rows per kind (index: kinds, then "all") and status (columns, plus "total")."""
        kinds = list(dict.fromkeys([*KINDS, *(kind_of(r.data) for r in self._rows)]))
        table = pd.DataFrame(0, index=[*kinds, "all"], columns=[*STATUSES, "total"])
        for r in self._rows:
            for index in (kind_of(r.data), "all"):
                table.loc[index, status_of(r.data)] += 1
                table.loc[index, "total"] += 1
        table.index.name = "kind"
        return table

    def rejections(self) -> pd.Series:
        """Rejected rows per reason: the filter name for "<filter>: <detail>", else "reviewer"."""
        names = []
        for r in self._rows:
            if status_of(r.data) == "rejected":
                head = str(r.data.get("reason") or "").split(":", 1)[0].strip()
                names.append(head if head in FILTERS else "reviewer")
        return pd.Series(names, dtype=object).value_counts()

    # --- decisions ----------------------------------------------------------------------------

    def accept(self, qid: str, note: str | None = None) -> None:
        """Accept a question; ``note`` (optional) is kept as its ``reason``.

        Raises:
            ReviewError: an evidence span of the row does not occur in its source passages (a row
                the "span not found" filter rejected): fix the span with :meth:`edit` first.
        """
        data = self._get(qid).data
        sources = sources_of(data)
        spans = data.get("gold_spans") or [] if sources else []  # no passage: nothing to check
        for span in spans:
            if isinstance(span, str) and not any(span in s["passage"] for s in sources):
                raise ReviewError(
                    f"accept {qid}: the evidence span {_quote(span)} does not occur in the source "
                    "passage(s); correct the span first (copy it from the passage)"
                )
        prov = self._decided(qid)
        if status_of(data) == "rejected" and data.get("reason"):
            prov["previous_reason"] = data["reason"]
        data["status"] = "accepted"
        data["reason"] = note.strip() if isinstance(note, str) and note.strip() else None

    def reject(self, qid: str, reason: str) -> None:
        """Reject a question; the reason (required) is kept in the file with the row.

        Raises:
            ReviewError: no or an empty reason.
        """
        self._get(qid)
        if not isinstance(reason, str) or not reason.strip():
            raise ReviewError(f"reject {qid}: a reason is required (why is the question unusable?)")
        data = self._get(qid).data
        self._decided(qid)
        data["status"], data["reason"] = "rejected", " ".join(reason.split())

    def edit(
        self,
        qid: str,
        user_input: str | None = None,
        reference: str | None = None,
        gold_spans: list[str] | None = None,
    ) -> bool:
        """Change a question's text, reference answer or evidence spans (None: unchanged).

        Returns:
            True when something changed (then ``provenance.edited`` is true).

        Raises:
            ReviewError: an empty question; a reference answer for an unanswerable question or
                none for an answerable one; evidence spans that are not a list of non-empty
                strings, or that do not occur verbatim in the row's source passages.
        """
        data = self._get(qid).data
        unanswerable = kind_of(data) == "unanswerable" or data.get("answerable") is False
        new: dict[str, Any] = {}
        if user_input is not None:
            if not isinstance(user_input, str) or not user_input.strip():
                raise ReviewError(f"edit {qid}: the question cannot be empty")
            new["user_input"] = user_input.strip()
        if reference is not None:
            if not isinstance(reference, str):
                raise ReviewError(f"edit {qid}: the reference answer must be text")
            if unanswerable and reference.strip():
                raise ReviewError(f"edit {qid}: an unanswerable question has no reference answer")
            if not unanswerable and not reference.strip():
                raise ReviewError(f"edit {qid}: the reference answer cannot be empty")
            new["reference"] = reference.strip()
        spans = None
        if gold_spans is not None:
            new["gold_spans"], spans = self._checked_spans(qid, data, gold_spans, unanswerable)
        changed = {k: v for k, v in new.items() if _comparable(data.get(k)) != v}
        if not changed:
            return False
        prov = self._decided(qid)
        original = prov.setdefault("original", {})
        for key, value in changed.items():
            original.setdefault(key, data.get(key))
            data[key] = value
        if "gold_spans" in changed:
            prov["spans"] = spans
        prov["edited"] = True
        return True

    def _checked_spans(
        self, qid: str, data: dict[str, Any], spans: Any, unanswerable: bool
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The spans, and where each occurs in a document (``provenance.spans`` entries)."""
        if not isinstance(spans, list) or not all(isinstance(s, str) and s for s in spans):
            raise ReviewError(f"edit {qid}: gold_spans must be a list of non-empty strings")
        if unanswerable and spans:
            raise ReviewError(f"edit {qid}: an unanswerable question has no evidence spans")
        if not unanswerable and not spans:
            raise ReviewError(
                f"edit {qid}: an answerable question needs at least one evidence span"
            )
        sources = sources_of(data)
        located = []
        for span in spans:
            source = next((s for s in sources if span in s["passage"]), None)
            if source is None:
                where = ", ".join(str(s.get("doc_id")) for s in sources) or "none recorded"
                raise ReviewError(
                    f"edit {qid}: the evidence span {_quote(span)} "
                    f"does not occur verbatim in the source passage(s) ({where}); copy it from "
                    "the passage"
                )
            start = int(source.get("start") or 0) + source["passage"].index(span)
            located.append(
                {"doc_id": source.get("doc_id"), "start": start, "end": start + len(span)}
            )
        return spans, located

    def _get(self, qid: str) -> Row:
        k = self._index.get(str(qid))
        if k is None:
            raise ReviewError(f"unknown question_id '{qid}'{suggest(str(qid), list(self._index))}")
        return self._rows[k]

    def _decided(self, qid: str) -> dict[str, Any]:
        """Mark a row as decided by a person (and changed); return its provenance."""
        row = self._get(qid)
        row.raw = None
        prov = row.data.get("provenance")
        if not isinstance(prov, dict):
            prov = row.data["provenance"] = {}
        prov["reviewed_by"] = PERSON
        return prov

    # --- writing ------------------------------------------------------------------------------

    def save(self, path: str | Path | None = None) -> str:
        """Write every row back, atomically; returns "saved N rows to FILE (a accepted, ...)", or
        "nothing to save: FILE is unchanged (...)" without writing when no row changed.

        Args:
            path: where to write (default: the file it was loaded from). Writing elsewhere makes
                that file the one later saves go to.

        Raises:
            ReviewError: no path; the file changed on disk since it was loaded; it is the sample
                shipped with ragbench; it cannot be written (the original is then untouched).
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ReviewError("save: no file to save to (pass a path)")
        if not self.unsaved and self.path is not None and same_file(target, self.path):
            return f"nothing to save: {display_path(target)} is unchanged ({self.summary()})"
        if shipped(target):
            raise ReviewError(
                f"{target.name} is the sample shipped with ragbench and is not overwritten; save "
                'your decisions to a file of your own: review.save("reviewed.jsonl")'
            )
        if self.path is not None and same_file(target, self.path) and stamp(target) != self._stamp:
            raise ReviewError(
                f"{target.name} changed on disk since it was loaded (by another program?); "
                "not overwritten: save to another path, or load it again"
            )
        texts = [
            r.raw if r.raw is not None else json.dumps(r.data, ensure_ascii=False)
            for r in self._rows
        ]
        atomic_write(target, "".join(t + "\n" for t in texts))
        for r, text in zip(self._rows, texts, strict=True):
            r.raw = text
        self.path, self._stamp = target, stamp(target)
        return f"saved {len(self._rows)} rows to {display_path(target)} ({self.summary()})"

    def summary(self) -> str:
        """ "3 accepted, 2 rejected, 1 pending" (pending only when there are some)."""
        total = self.counts().loc["all"]
        parts = [f"{int(total[s])} {s}" for s in STATUSES if s != "pending" or total[s]]
        return ", ".join(parts)

    def __repr__(self) -> str:
        name = display_path(self.path) if self.path else "(not saved)"
        return f"{name}: {len(self)} question(s): {self.summary()}\n{self.counts().to_string()}"


def _quote(text: str, chars: int = 80) -> str:
    """A span in an error line: JSON-quoted (newlines shown as \\n), cut at ``chars``."""
    return json.dumps(text if len(text) <= chars else text[:chars] + "\u2026", ensure_ascii=False)


def _comparable(value: Any) -> Any:
    """A stored value as an edit would write it (text stripped, a missing reference as "")."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else value


def _check(name: str, value: str | None, valid: tuple[str, ...]) -> None:
    if value is not None and value not in valid:
        raise ReviewError(
            f"unknown {name} '{value}'{suggest(value, valid)}; valid: {', '.join(valid)}"
        )
