"""A question file under review, line by line: reading and checking its rows, what a row's status,
kind and sources are, and writing the file back atomically.

Contract:
- ``read_rows(path)`` reads a question JSONL file (one object per line, blank lines ignored) in
  the native schema plus the synthesis keys ``answerable``, ``kind``, ``status``, ``reason`` and
  ``provenance``. Each row needs a ``question_id`` (unique) and a ``user_input``; ``status`` and
  ``kind``, when present, must be known names; ``provenance``, when present, an object. Every other
  key is kept untouched, and each :class:`Row` keeps its line as read, so that an unchanged row is
  written back byte for byte. A bad file raises :class:`ReviewError` with one line naming the file
  and the line number of each of the first few problems.
- Semantics: a missing/null ``status`` means ``accepted`` (:func:`status_of`); a missing ``kind``
  is ``unanswerable`` when ``answerable`` is false, ``multi`` with more than one gold document,
  else ``single`` (:func:`kind_of`).
- ``atomic_write(target, text)`` replaces a file through a temp file in the same folder and
  ``os.replace``; ``stamp`` tells whether a file changed since it was read; ``shipped`` whether a
  path is one of the files ragbench ships (:data:`DEMO_SAMPLE`), which are never overwritten.

The decisions taken on the rows are ``data.review``'s; showing them is ``render.review``'s.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragbench.config.validation import suggest
from ragbench.data.readers import DataError, unicode_problem

STATUSES = ("accepted", "rejected", "pending")
KINDS = ("single", "multi", "unanswerable")
DEMO = "demo"  # the name ``QuestionReview.load`` takes for the shipped sample
DEMO_SAMPLE = Path(__file__).resolve().parents[1] / "demo" / "synth_sample.jsonl"
MAX_REPORTED = 5  # problems named in one error line; the count says how many there are in all


class ReviewError(DataError):
    """A question file that cannot be reviewed, or a refused decision; one line for the user."""


@dataclass
class Row:
    """One row of the file: its data, where it was read and the line as read."""

    data: dict[str, Any]
    line: int  # 1-based line of the file it was read from (0: not read from a file)
    raw: str | None  # the line as read; None once the row changed (then it is re-serialised)


def status_of(row: dict[str, Any]) -> str:
    """A row's review status; a missing or null ``status`` means accepted."""
    return str(row.get("status") or "accepted")


def kind_of(row: dict[str, Any]) -> str:
    """A row's kind; without ``kind`` it follows from ``answerable`` and the gold documents."""
    if row.get("kind"):
        return str(row["kind"])
    if row.get("answerable") is False:
        return "unanswerable"
    return "multi" if len(set(row.get("gold_doc_ids") or [])) > 1 else "single"


def sources_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's source passages (``provenance.sources``) that carry a passage text."""
    prov = row.get("provenance") or {}
    sources = prov.get("sources") if isinstance(prov, dict) else None
    return [s for s in sources or [] if isinstance(s, dict) and isinstance(s.get("passage"), str)]


def row_problem(obj: Any) -> str | None:
    """Why one parsed line cannot be reviewed, else None."""
    if not isinstance(obj, dict):
        return f"not a JSON object but {type(obj).__name__}"
    qid = obj.get("question_id")
    if isinstance(qid, bool) or not isinstance(qid, str | int) or str(qid).strip() == "":
        return "no question_id (a non-empty string)"
    text = obj.get("user_input")
    if not isinstance(text, str) or not text.strip():
        return "no user_input (the question, a non-empty string)"
    for key, valid in (("status", STATUSES), ("kind", KINDS)):
        value = obj.get(key)
        if value is not None and value not in valid:
            return (
                f"unknown {key} {json.dumps(value)}{suggest(str(value), valid)}; "
                f"valid: {', '.join(valid)}"
            )
    if obj.get("provenance") is not None and not isinstance(obj["provenance"], dict):
        return "provenance must be an object"
    return unicode_problem(obj)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it, else its file name (messages
    and notebook outputs should not spell out this machine's folders)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def read_rows(path: Path) -> list[Row]:
    """The rows of a question JSONL file, checked (see the module docstring).

    Raises:
        ReviewError: the file is missing, unreadable, empty, or has bad rows (one line naming
            the line numbers of the first few problems).
    """
    if not path.is_file():
        raise ReviewError(
            f"question file not found: {path} (write one with: ragbench synth CORPUS --out FILE)"
        )
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{path.name}: cannot be read as UTF-8 text ({exc})") from None
    rows: list[Row] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        why = row_problem(obj)
        qid = str(obj["question_id"]) if why is None else ""
        if why is None and qid in seen:
            why = f"duplicate question_id '{qid}' (also on line {seen[qid]})"
        if why:
            problems.append(f"line {number}: {why}")
            continue
        seen[qid] = number
        rows.append(Row(obj, number, line))
    if problems:
        listed = "; ".join(problems[:MAX_REPORTED])
        more = f" (and {len(problems) - MAX_REPORTED} more)" if len(problems) > MAX_REPORTED else ""
        raise ReviewError(f"{path.name}: {len(problems)} bad row(s): {listed}{more}")
    if not rows:
        raise ReviewError(f"{path.name}: no questions in the file")
    return rows


def stamp(path: Path | None) -> tuple[int, int] | None:
    """(mtime ns, size) of a file, None when it does not exist: "changed since loaded"."""
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if st else None


def same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def shipped(path: Path) -> bool:
    """Whether ``path`` is one of the files ragbench ships (its ``demo`` folder)."""
    return path.resolve().is_relative_to(DEMO_SAMPLE.parent)


def atomic_write(target: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``target``, then rename it over ``target``: a reader
    (or a crash) sees the old file or the new one, never half of one. Keeps the file's mode."""
    try:
        mode = target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except (OSError, UnicodeError) as exc:  # the original file is untouched
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ReviewError(f"could not save {target.name}: {reason}") from None
