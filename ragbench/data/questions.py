"""Question sets: the native question schema, validated row by row on load.

Contract: ``read_questions(source, base=None, *, all_rows=False) -> (questions, warnings)``
(accepted rows only unless ``all_rows``; ``write_questions`` / ``question_row`` write the same
schema back, e.g. for a review that accepts or rejects rows) where ``source`` is a local
``.jsonl`` file (one object per line), a ``.json`` file (a list of objects), or
``hf:OWNER/NAME[:split]``, a Hugging Face hub dataset read with ``datasets.load_dataset`` (online,
or offline from the local datasets cache; reading those raw rows is ``data.question_files``'). Every
row is checked against the schema below before any of it is used; a bad file raises :class:`DataError` with one line naming the file and the row (line
number for JSONL, 1-based item for JSON and hub rows) of each of the first few problems.

Schema (ragas field names plus gold evidence):
- ``question_id``: a non-empty string (or an integer, kept as its text); required;
- ``user_input``: the question, a non-empty string; required;
- ``reference``: the reference answer, a string; missing or null means "";
- ``gold_doc_ids``: a list of doc id strings (never a bare string); missing, null or [] means no
  document labels (the question may still be answerable: see ``answerable``);
- ``gold_spans``: a list of non-empty strings copied verbatim from the gold documents;
- ``user_groups``: the asker's groups for access control, a list of strings; missing or null means
  no access-control information (public documents only);
- ``gold_relevance``: optional graded relevance, ``{doc_id: gain}`` with whole-number gains >= 0
  (TREC-style grades). Documents with a gain > 0 are the gold documents: ``gold_doc_ids`` may be
  left out, and when both are given they must name the same documents.
- ``answerable``: true or false; missing or null means true. False (the corpus does not hold the
  answer) with gold doc ids or gold spans is an error;
- ``kind``: ``single`` | ``multi`` | ``unanswerable`` (how a synthesized question was built);
  ``unanswerable`` requires ``answerable: false`` and ``answerable: false`` requires it (when a
  kind is given);
- ``status``: ``accepted`` | ``rejected`` | ``pending`` (review state); missing or null means
  accepted. ``read_questions`` keeps accepted rows only (unless ``all_rows``): the others are
  counted in one warning, and a set with rows but no accepted one is a DataError;
- ``reason``: why a row was rejected (``"<filter>: <detail>"``) or a reviewer's note: a string;
- ``provenance``: a free-form JSON object (generator, seed, sources, spans, reviewed_by, edited).

Any other key is an error in a local file (a misspelt ``gold_doc_id`` would silently drop the gold
evidence) and a warning for a hub dataset (whose extra columns the user does not control). Every
string must be valid Unicode (a JSON ``"\\ud800"`` escape is reported, not loaded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragbench.config.experiment import suggest
from ragbench.data.question_files import HF_PREFIX, describe, file_rows, hub_rows
from ragbench.data.readers import DataError, unicode_problem

MAX_REPORTED = 5  # problems listed in one error line; the count says how many there are in all
KINDS = ("single", "multi", "unanswerable")
STATUSES = ("accepted", "rejected", "pending")
REVIEW_NOTEBOOK = "notebooks/05-review-questions.ipynb"
# What a row means when it leaves these keys out: they are left out of written files and of the
# data hash at these values, so files and hashes from before the keys existed stay the same.
IMPLIED = {"answerable": True, "status": "accepted"}


@dataclass
class Question:
    """One question of a set, in the native schema (see the module docstring)."""

    question_id: str
    user_input: str
    reference: str
    gold_doc_ids: list[str] = field(default_factory=list)  # empty: no document labels
    gold_spans: list[str] = field(default_factory=list)
    user_groups: list[str] | None = None  # the asker's groups; None = no access-control info
    gold_relevance: dict[str, int] | None = None  # graded gains; None = binary (gold_doc_ids)
    answerable: bool = True  # False: the corpus does not hold the answer (no gold evidence)
    kind: str | None = None  # single | multi | unanswerable (synthesized sets)
    status: str = "accepted"  # accepted | rejected | pending: experiments use accepted rows
    reason: str | None = None  # why rejected, or a reviewer's note
    provenance: dict[str, Any] | None = None  # free-form: generator, seed, sources, review
    # A ready-made record (judge checks, answers logged elsewhere): judged as given, not retrieved
    # or generated. human_label: a person's verdict (True = attributable), for judge agreement.
    # Built by ragbench.data.labelled, not read from question files (not in FIELDS).
    retrieved_contexts: list[str] | None = None
    retrieved_doc_ids: list[str] | None = None
    response: str | None = None
    human_label: bool | None = None


# The keys a question file may hold (the native schema in the module docstring).
FIELDS = (
    "question_id",
    "user_input",
    "reference",
    "gold_doc_ids",
    "gold_spans",
    "user_groups",
    "gold_relevance",
    "answerable",
    "kind",
    "status",
    "reason",
    "provenance",
)


class _Bad(ValueError):
    """One field's problem in one row (collected, then reported together)."""


def _text(value: Any, name: str, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{name} must be a string, got {describe(value)}")
    if required and not value.strip():
        raise _Bad(f"{name} must be a non-empty string")
    return value


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        # The silent failure this guards: list("a.md") is ["a", ".", "m", "d"].
        raise _Bad(
            f'{name} must be a list of strings, got the string {value!r} (write ["{value}"])'
        )
    if not isinstance(value, list):
        raise _Bad(f"{name} must be a list of strings, got {describe(value)}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise _Bad(f"{name} must hold non-empty strings, got {describe(item)}")
    return list(value)


def _gains(value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise _Bad(
            f"gold_relevance must be a non-empty {{doc_id: gain}} object, got {describe(value)}"
        )
    for doc_id, gain in value.items():
        # bool is an int subclass: true/false as a gain is a type mix-up, not a grade.
        if isinstance(gain, bool) or not isinstance(gain, int) or gain < 0:
            raise _Bad(
                f"gold_relevance[{doc_id!r}] must be a whole number >= 0, got {describe(gain)}"
            )
    return dict(value)


def _flag(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _Bad(f"{name} must be true or false, got {describe(value)}")
    return value


def _choice(value: Any, name: str, valid: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{name} must be a string, got {describe(value)}")
    if value not in valid:
        raise _Bad(f"unknown {name} '{value}'{suggest(value, valid)}; valid: {', '.join(valid)}")
    return value


def _object(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad(f"{name} must be an object, got {describe(value)}")
    return dict(value)


def _check_answerable(question: Question) -> None:
    """The rules between ``answerable``, ``kind`` and the gold evidence (module docstring)."""
    if not question.answerable and (question.gold_doc_ids or question.gold_spans):
        given = "gold_doc_ids" if question.gold_doc_ids else "gold_spans"
        raise _Bad(f"answerable is false but {given} are given: drop them or the flag")
    if question.kind == "unanswerable" and question.answerable:
        raise _Bad('kind "unanswerable" needs answerable: false')
    if question.kind not in (None, "unanswerable") and not question.answerable:
        raise _Bad(f'answerable is false, so kind must be "unanswerable", not "{question.kind}"')


def parse_question(row: Any, extra_keys: str = "error") -> tuple[Question, list[str]]:
    """Validate one raw row of a question set.

    Args:
        row: the parsed JSON object (or hub row).
        extra_keys: ``"error"`` (local files) or ``"ignore"`` (hub datasets) for unknown keys.

    Returns:
        The question and the unknown keys that were ignored.

    Raises:
        ValueError: the row breaks the schema; the message names the field.
    """
    if not isinstance(row, dict):
        raise _Bad(f"expected a JSON object, got {describe(row)}")
    unknown = [k for k in row if k not in FIELDS]
    if unknown and extra_keys == "error":
        raise _Bad(f"unknown key '{unknown[0]}'{suggest(str(unknown[0]), FIELDS)}")
    for key, value in row.items():
        problem = unicode_problem([key, value])
        if problem:
            raise _Bad(f"{key}: {problem}")
    qid = row.get("question_id")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    gains = _gains(row.get("gold_relevance"))
    gold = _strings(row.get("gold_doc_ids"), "gold_doc_ids")
    if gains is not None:
        graded = [d for d, g in gains.items() if g > 0]
        if "gold_doc_ids" not in row or row["gold_doc_ids"] is None:
            gold = graded
        elif set(gold) != set(graded):
            raise _Bad(
                "gold_doc_ids and the gain > 0 documents of gold_relevance differ: "
                f"{sorted(set(gold) ^ set(graded))[:3]}"
            )
    groups = row.get("user_groups")
    question = Question(
        question_id=_text(qid, "question_id", required=True),
        user_input=_text(row.get("user_input"), "user_input", required=True),
        reference=_text(row.get("reference"), "reference"),
        gold_doc_ids=gold,
        gold_spans=_strings(row.get("gold_spans"), "gold_spans"),
        user_groups=None if groups is None else _strings(groups, "user_groups"),
        gold_relevance=gains,
        answerable=_flag(row.get("answerable"), "answerable", default=True),
        kind=_choice(row.get("kind"), "kind", KINDS),
        status=_choice(row.get("status"), "status", STATUSES) or "accepted",
        reason=_text(row.get("reason"), "reason") or None,
        provenance=_object(row.get("provenance"), "provenance"),
    )
    _check_answerable(question)
    return question, unknown


def parse_rows(
    rows: list[tuple[str, Any]], source: str, extra_keys: str = "error"
) -> tuple[list[Question], list[str]]:
    """Validate ``(where, row)`` pairs; raise one DataError listing the first problems.

    Returns:
        The questions and warnings (ignored unknown keys).
    """
    questions: list[Question] = []
    problems: list[str] = []
    ignored: set[str] = set()
    for where, row in rows:
        try:
            question, unknown = parse_question(row, extra_keys)
        except _Bad as exc:
            problems.append(f"{where}: {exc}")
            continue
        questions.append(question)
        ignored.update(unknown)
    if problems:
        more = f" (and {len(problems) - MAX_REPORTED} more)" if len(problems) > MAX_REPORTED else ""
        raise DataError(f"{source}: bad questions: " + "; ".join(problems[:MAX_REPORTED]) + more)
    warnings = [f"{source}: ignored columns {sorted(ignored)}"] if ignored else []
    return questions, warnings


def read_questions(
    source: str | Path, base: Path | None = None, *, all_rows: bool = False
) -> tuple[list[Question], list[str]]:
    """Load and validate a question set.

    Args:
        source: a ``.jsonl``/``.json`` file path or ``hf:OWNER/NAME[:split]``.
        base: the folder relative file paths are resolved against (the dataset folder).
        all_rows: keep rejected and pending rows too (a review); by default only accepted rows
            are kept, and one warning counts the others.

    Returns:
        The questions, in file order, and warnings to show the user.

    Raises:
        DataError: the file or hub set cannot be read, a row breaks the schema, or (unless
            ``all_rows``) it has rows but none is accepted.
    """
    spec = str(source)
    if spec.startswith(HF_PREFIX):
        questions, warnings = parse_rows(hub_rows(spec), spec, extra_keys="ignore")
    else:
        path = Path(spec).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        spec = str(path)
        questions, warnings = parse_rows(file_rows(path), spec)
    if all_rows:
        return questions, warnings
    kept, note = accepted_only(questions, spec)
    return kept, warnings + ([note] if note else [])


def accepted_only(questions: list[Question], source: str) -> tuple[list[Question], str | None]:
    """The accepted questions and one warning counting the rejected and pending ones (or None).

    Raises:
        DataError: there are questions, but none is accepted.
    """
    kept = [q for q in questions if q.status == "accepted"]
    if len(kept) == len(questions):
        return kept, None
    counts = {s: sum(q.status == s for q in questions) for s in ("rejected", "pending")}
    counted = f"{counts['rejected']} rejected and {counts['pending']} pending questions"
    if not kept:
        raise DataError(
            f"{source}: no accepted question ({counted}): review them in {REVIEW_NOTEBOOK} "
            'or set "status": "accepted" on the rows to use'
        )
    return kept, (
        f"{source}: {counted} skipped: experiments use accepted questions "
        f"(review them in {REVIEW_NOTEBOOK})"
    )


def write_questions(path: Path, questions: list[Question]) -> None:
    """Write questions in the native JSONL schema (used by tests and by users building sets).

    Optional fields that are unset (``user_groups``, ``gold_relevance``, ``kind``, ``reason``,
    ``provenance``) or at the value their absence means (``answerable`` true, ``status``
    accepted) are left out, so plain files keep the five-key schema.
    """
    with path.open("w", encoding="utf-8") as out:
        for q in questions:
            out.write(json.dumps(question_row(q), ensure_ascii=False) + "\n")


def question_row(question: Question) -> dict[str, Any]:
    """A question as the JSON object ``write_questions`` writes (see there for what is left out)."""
    row = {k: getattr(question, k) for k in FIELDS}
    return {k: v for k, v in row.items() if v is not None and (k not in IMPLIED or v != IMPLIED[k])}
