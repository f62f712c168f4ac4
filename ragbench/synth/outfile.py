"""The synthesized-question file: rows in the agreed format, read back for resume, checked.

Contract:
- ``make_row(candidate, ...)`` is one JSONL row in ragbench's native question schema plus
  ``answerable``, ``kind``, ``status``, ``reason`` and ``provenance`` (the row format agreed for
  synthesized questions; see ``ragbench/synth/__init__.py``). Accepted and rejected candidates both
  become rows, so reviews and acceptance rates see everything.
- ``read_rows(path, generator, seed)`` returns the rows already in an out file, or raises
  :class:`SynthError` (one line) when a line is not JSON, a row was not written by synth, or the
  file was made with another generator model or seed (``--force`` starts it afresh instead).
- ``summary_path(out)`` is ``<out>.summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ragbench.config.validation import one_line
from ragbench.synth.plan import Candidate

NO_QUESTION = "(no question: the model's reply was unusable)"


class SynthError(ValueError):
    """Bad input to synthesis (corpus, arguments, out file); the message is one line."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


def make_row(
    c: Candidate,
    texts: dict[str, str],
    generator: str,
    seed: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The row of a finished candidate (accepted when ``c.reason`` is None)."""
    unanswerable = c.kind == "unanswerable"
    spans = [texts[s["doc_id"]][s["start"] : s["end"]] for s in c.spans]
    provenance: dict[str, Any] = {
        "generator": generator,
        "seed": seed,
        "sources": [p.source() for p in c.sources],
        "spans": [{k: s[k] for k in ("doc_id", "start", "end")} for s in c.spans],
        "reviewed_by": "filters",
        "edited": False,
        "evidence": c.evidence,  # before alignment (single: ragbench's pick)
        "alignment": [{"method": s["method"], "score": s["score"]} for s in c.spans],
    }
    if c.original is not None:
        provenance["rewritten_from"] = c.original
    if unanswerable:
        provenance["checked_against"] = c.checked_against
    if c.check_answer is not None:
        provenance["check_answer"] = c.check_answer  # the round-trip check's answer
    if c.specificity is not None:
        provenance["specificity"] = c.specificity  # BM25 margin over the closest other document
    provenance.update(extra)
    return {
        "question_id": c.question_id,
        "user_input": c.question or NO_QUESTION,
        "reference": "" if unanswerable else c.answer,
        "gold_doc_ids": [] if unanswerable else list(dict.fromkeys(p.doc_id for p in c.sources)),
        "gold_spans": [] if unanswerable else spans,
        "answerable": not unanswerable,
        "kind": c.kind,
        "status": "accepted" if c.reason is None else "rejected",
        "reason": c.reason,
        "provenance": provenance,
    }


def summary_path(out: Path) -> Path:
    return out.with_name(out.name + ".summary.json")


def read_rows(path: Path, generator: str, seed: int) -> list[dict[str, Any]]:
    """Rows already in ``path`` (none when it does not exist); see the module docstring."""
    if path.is_dir():
        raise SynthError(f"out file is a folder: {path}")
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SynthError(f"cannot read out file {path}: {exc}") from None
    lines = text.splitlines()
    if text and not text.endswith("\n"):
        lines.pop()  # torn by a kill mid-write: that candidate is simply done again
    rows: list[dict[str, Any]] = []
    restart = "use --force to start it afresh, or another --out"
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SynthError(f"{path}: line {number} is not JSON ({exc.msg}): {restart}") from None
        prov = row.get("provenance") if isinstance(row, dict) else None
        if not isinstance(prov, dict) or not isinstance(prov.get("sources"), list):
            raise SynthError(f"{path}: line {number} was not written by ragbench synth: {restart}")
        if prov.get("generator") != generator:
            raise SynthError(
                f"{path} was made with generator {prov.get('generator')}, this run uses "
                f"{generator}: {restart}"
            )
        if prov.get("seed") != seed:
            raise SynthError(
                f"{path} was made with seed {prov.get('seed')}, this run uses {seed}: {restart}"
            )
        rows.append(row)
    return rows
