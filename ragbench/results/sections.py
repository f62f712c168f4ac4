"""The named sections of a report under its score table: what each says, computed, never drawn.

Contract: a :class:`Section` is one part of a report with a stable ``key``, a ``title``, the
``lines`` it says (one per item) and optionally a table (``columns`` + ``rows``) with a ``note``
under its title; ``level="error"`` marks one that must not be missed (HTML puts it above the
table, in red). ``render.sections`` draws any section as HTML, text or markdown, so a new kind of
section is one function here (or beside it) and one entry in ``RunReport.sections``: nothing in
``render`` changes. The builders below take plain values, never a report, and this module draws
and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragbench.experiment import allocation

STAGED_TITLE = (
    "Staged search (stage 1: retrieval metrics for every trial; stage 2: answers and judged "
    "metrics for the trials kept)"
)
BUDGET_TITLE = "Judging budget"
BUDGET_COLUMNS = ("trial", "verdicts", "why it stopped")
MORE_VERDICTS_TITLE = "How many more verdicts"
PROBLEMS_TITLE = "Problems"


@dataclass(frozen=True)
class Section:
    """One named part of a report (see the module docstring).

    Attributes:
        key: Stable name (``budget``, ``staged``, ``more_verdicts``, ``held_out``, ``problems``,
            ``skipped``): what code and tests look a section up by; titles may change.
        title: Its heading.
        lines: What it says, one line per item. With a table, the text view shows these lines
            (the table's rows in words) and HTML and markdown the table.
        level: ``""`` or ``"error"`` (shown first, in red).
        note: One line under the title (e.g. how the budget was spent).
        columns: The table's header; empty: no table.
        rows: The table's rows, one value per column.
    """

    key: str
    title: str
    lines: tuple[str, ...] = ()
    level: str = ""
    note: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()

    @property
    def shown(self) -> bool:
        """Whether there is anything to show (an empty section is left out)."""
        return bool(self.lines or self.rows or self.note)


def lines_section(key: str, title: str, lines: Sequence[str], level: str = "") -> Section:
    """A section that is a list of lines."""
    return Section(key, title, tuple(lines), level)


def budget_section(
    summary: Mapping[str, Any], labels: Mapping[str, str], judged: Sequence[str]
) -> Section:
    """What budgeted judging did (``Allocator.summary`` as stored): a note on how the budget was
    spent and (trial label, verdicts, why it stopped) per trial, most verdicts first; empty when
    the run did not use a budget. ``judged``: the run's judged metrics."""
    rows = allocation.budget_rows(summary, labels)
    return Section(
        "budget",
        BUDGET_TITLE,
        tuple(f"{label}: {n} verdicts; {why}" for label, n, why in rows),
        note=allocation.budget_note(summary, judged),
        columns=BUDGET_COLUMNS,
        rows=tuple(rows),
    )


def skipped_section(skipped: Sequence[tuple[str, str]]) -> Section:
    """The input files (or records) the run could not read, with the reason."""
    lines = [f"{path}: {reason}" for path, reason in skipped]
    return lines_section("skipped", f"Input files skipped ({len(skipped)})", lines)
