"""Degenerate NLI replies: faithfulness verdicts whose own reasons show they were not reached.

Contract: ``find(statements, judged, echoed)`` checks one NLI reply (one :class:`Judged` per item,
in reply order) against the statements it was asked about and returns the :class:`Problem` s it
found, each naming the statements (0-based indices) it affects; ``[]`` for a clean reply. Pure:
no model, no I/O. ``reask(problems, n)`` is which statements to ask again one at a time.

The problems, and why each makes a verdict untrustworthy:

- ``statement_count``: the reply judged more or fewer statements than it was given (ragas' echoing
  prompt; the compact grammar fixes the length, so there it cannot happen). Which verdict
  belongs to which statement is unknown, so every statement is affected.
- ``statement_altered``: an echoed statement (ragas' prompt) is not the one given at that place
  (compared after :func:`normalise`). The verdict may be about something else.
- ``copied_reason``: two or more statements got the same reason (after :func:`normalise`). A reason
  is the judge's evidence for one statement; one that fits several says nothing about any of
  them. Short generic reasons ("Stated in the context.") count too: they are exactly the reasons
  that carry no per-statement evidence, and re-asking is cheap (the statements of one answer are
  decoded together, ``judge.faithfulness``). Seen on the local 1.5B judge: demo q15 got the
  same "does not provide information about its location or the number of items" five times,
  all verdicts 0, for five statements its context states word for word.
- ``contradiction``: a verdict its own reason argues against (:func:`contradiction`).

:func:`contradiction` is deliberately conservative: it flags only plain cases and lets anything
hedged pass, because a false flag costs a call and puts a sound verdict up for a second opinion,
while a missed one leaves the verdict as it was before. Verdict 1 is flagged when the reason says
the context does not mention / provide / state it, has no information on it, it is not in the
context, cannot be inferred, is not supported or is contradicted; not when the reason also says
something in its favour ("but", "however", ...), denies a contradiction ("it does not contradict
the context"), or the negative phrase is the statement's own ("does not provide parking").
Verdict 0 is flagged when the reason affirms the statement itself ("the statement is supported by
the context"; "this can be directly inferred" and "the context states this" where the pronoun
ends the sentence) or says the context states / mentions / confirms a clause holding every content
word of the statement, and has no negation or contrast of its own (negations the statement itself
carries are discounted). "The context states that John's major is Computer Science" under verdict
0 for "John is majoring in Biology" is not flagged: "Biology" is not in the reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Problem names, in the order :func:`find` reports them.
STATEMENT_COUNT = "statement_count"
STATEMENT_ALTERED = "statement_altered"
COPIED_REASON = "copied_reason"
CONTRADICTION = "contradiction"
#: Problems after which no verdict of the reply can be matched to its statement.
MISALIGNED = (STATEMENT_COUNT,)


@dataclass(frozen=True)
class Judged:
    """One item of an NLI reply: its reason and verdict, and the statement it echoed (if any)."""

    reason: str
    verdict: int
    statement: str | None = None  # ragas' prompt echoes it; the compact one does not


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a reply: its name, the statements it affects, and a short detail."""

    name: str
    statements: tuple[int, ...]
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in a score's trace."""
        out: dict[str, Any] = {"problem": self.name, "statements": list(self.statements)}
        if self.detail:
            out["detail"] = self.detail
        return out


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: what "the same text" compares."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


# --- contradiction patterns ------------------------------------------------------------------------

_ADV = r"(?:\w+ly\s+)?"  # "does not explicitly mention", "is directly supported"
_NOT = r"(?:\s+not|n['’]t)"  # does not / doesn't
_SAY = (
    r"(?:mention|provide|state|say|specify|include|contain|support|indicate|confirm|give|list"
    r"|describe|discuss|address|refer|show|imply|suggest|establish|verify)"
)
_SAID = (
    r"(?:mentioned|provided|stated|specified|supported|included|found|present|given|indicated"
    r"|confirmed|addressed|discussed|inferred|implied|established|verified)"
)

#: Verdict 1 with a reason saying the context does not back the statement (label -> pattern).
NEGATIVE = {
    "does not mention": re.compile(rf"\b(?:does|do|did){_NOT}\s+{_ADV}{_SAY}\b"),
    "no information": re.compile(
        r"\bno\s+(?:\w+\s+)?(?:information|mention|evidence|indication|details?|data|reference)\b"
    ),
    "not mentioned": re.compile(rf"(?:\bnot|n['’]t)\s+{_ADV}{_SAID}\b"),
    "not in the context": re.compile(
        r"\bnot\s+(?:\w+ly\s+)?(?:in|from)\s+the\s+(?:context|passage|text)\b"
    ),
    "cannot be inferred": re.compile(
        rf"\b(?:cannot|can\s+not|can['’]t|could\s+not|couldn['’]t)\s+be\s+{_ADV}"
        r"(?:inferred|deduced|determined|confirmed|verified|derived|concluded|supported|found)\b"
    ),
    "contradicts": re.compile(
        r"\b(?:contradicts?|contradicted|contradictory|contradiction|conflicts\s+with"
        r"|inconsistent\s+with)\b"
    ),
}
# A contradiction the reason denies: "does not contradict", "no contradiction", "nothing that
# contradicts". Such a reason argues for verdict 1, whatever else it says.
_DENIED_CONFLICT = re.compile(
    r"(?:\b(?:not|no|nothing|never|without|neither|nor)\b|n['’]t)(?:\s+\w+){0,3}?\s+"
    r"(?:contradict\w*|conflict\w*|inconsisten\w*)"
)
_CONTRAST = re.compile(
    r"\b(?:but|however|although|though|yet|while|whereas|nevertheless|nonetheless|except)\b"
)

#: Verdict 0 with a reason that affirms the statement itself (label -> pattern). A pronoun ("this",
#: "it") must end its sentence: "it is stated in the context that <another fact>" is a fine 0.
_END = r"\s*(?:[.!;]|$)"
AFFIRMATIVE = {
    "the statement is supported": re.compile(
        rf"\b(?:the|this|that)\s+statement\s+(?:is|can\s+be)\s+{_ADV}"
        r"(?:supported|confirmed|stated|mentioned|inferred|deduced|correct|accurate|true"
        r"|consistent)\b"
    ),
    "this can be inferred": re.compile(
        rf"\b(?:this|it)\s+(?:can\s+be|is)\s+{_ADV}"
        r"(?:inferred|deduced|supported|confirmed|stated|mentioned)"
        rf"(?:\s+(?:from|in|by)\s+the\s+context)?{_END}"
    ),
    "the context states this": re.compile(
        rf"\bthe\s+context\s+{_ADV}(?:supports|confirms|states|mentions|says|verifies)\s+"
        rf"(?:this|it|the\s+statement|that\s+statement){_END}"
    ),
}
# "The context states that <the statement, every content word of it>".
_RESTATES = re.compile(
    rf"\bthe\s+context\s+{_ADV}(?:states|mentions|says|confirms|notes|indicates|shows)\b"
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|neither|nor|cannot|without|lacks?|absent|missing|only"
    r"|instead|rather|different|differs?|incorrect|false|wrong|unclear|contradict\w*)\b|n['’]t\b"
)
_STOPWORDS = frozenset(
    "a an the of in on at to and or is are was were be been by for with as it its that this "
    "from has have had".split()
)


def _negations(text: str) -> Counter[str]:
    return Counter(m.group(0).replace("’", "'") for m in _NEGATION.finditer(text.lower()))


def _own_negation(reason: str, statement: str) -> bool:
    """The reason negates or hedges something beyond what the statement itself negates."""
    return bool(_negations(reason) - _negations(statement)) or bool(
        _CONTRAST.search(reason.lower())
    )


def _restates(reason: str, statement: str) -> bool:
    """The reason holds every content word of the statement (and it has at least two)."""
    words = set(re.findall(r"\w+", reason.lower()))
    content = {w for w in re.findall(r"\w+", statement.lower()) if w not in _STOPWORDS}
    return len(content) >= 2 and content <= words


def contradiction(reason: str, verdict: int, statement: str = "") -> str | None:
    """The label of the pattern by which ``verdict`` contradicts its own ``reason``, or None.

    Args:
        reason: the judge's reason for this statement.
        verdict: its verdict (1 = can be inferred from the context).
        statement: the statement judged; its own wording is not held against the reason.
    """
    text = " ".join(reason.lower().split())
    if verdict == 1:
        if _DENIED_CONFLICT.search(text) or _CONTRAST.search(text):
            return None
        said = normalise(statement)
        for label, pattern in NEGATIVE.items():
            if any(normalise(m.group(0)) not in said for m in pattern.finditer(text)):
                return label
        return None
    if _own_negation(text, statement):
        return None
    for label, pattern in AFFIRMATIVE.items():
        if pattern.search(text):
            return label
    if statement and _RESTATES.search(text) and _restates(text, statement):
        return "the context states the statement"
    return None


# --- one reply -------------------------------------------------------------------------------------


def copied_reasons(reasons: Sequence[str]) -> list[tuple[int, ...]]:
    """Groups of two or more items whose reasons are the same after :func:`normalise`."""
    groups: dict[str, list[int]] = {}
    for i, reason in enumerate(reasons):
        groups.setdefault(normalise(reason), []).append(i)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def find(statements: Sequence[str], judged: Sequence[Judged], echoed: bool) -> list[Problem]:
    """The problems of one NLI reply (see the module docstring); ``[]`` when it is clean.

    Args:
        statements: the statements the judge was asked about, in order.
        judged: the reply's items, in reply order.
        echoed: the prompt asked the judge to echo each statement (ragas' prompt).
    """
    n, problems = len(statements), []
    if len(judged) != n:
        problems.append(
            Problem(STATEMENT_COUNT, tuple(range(n)), f"{len(judged)} judged, {n} asked")
        )
    if echoed:
        altered = tuple(
            i
            for i, (s, j) in enumerate(zip(statements, judged, strict=False))
            if normalise(j.statement or "") != normalise(s)
        )
        if altered:
            problems.append(Problem(STATEMENT_ALTERED, altered))
    for group in copied_reasons([j.reason for j in judged]):
        problems.append(Problem(COPIED_REASON, tuple(i for i in group if i < n)))
    for i, j in enumerate(judged[:n]):
        label = contradiction(j.reason, j.verdict, statements[i])
        if label is not None:
            problems.append(Problem(CONTRADICTION, (i,), label))
    return [p for p in problems if p.statements]


def reask(problems: Sequence[Problem], n: int) -> list[int]:
    """The statements to ask again one at a time: every one when the reply cannot be aligned
    with the statements (a count mismatch), else only those a problem names (the others have
    a reason of their own that agrees with their verdict, so asking again would only cost)."""
    if any(p.name in MISALIGNED for p in problems):
        return list(range(n))
    return sorted({i for p in problems for i in p.statements if i < n})


__all__ = [
    "AFFIRMATIVE",
    "CONTRADICTION",
    "COPIED_REASON",
    "NEGATIVE",
    "STATEMENT_ALTERED",
    "STATEMENT_COUNT",
    "Judged",
    "Problem",
    "contradiction",
    "copied_reasons",
    "find",
    "normalise",
    "reask",
]
