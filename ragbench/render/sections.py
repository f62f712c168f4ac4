"""A report's named sections (``results.sections.Section``) drawn as HTML, text and markdown.

Contract: one function per format, each taking any section: a section with a table (``columns``)
is a table in HTML and markdown (its note under the title) and its ``lines`` in text; any other
section is its titled list of lines (folded in HTML past ten lines, red when its level is
"error"). A section that is not ``shown`` draws as "" (HTML, markdown) or [] (text). What a
section says is computed in ``results``; nothing here reads or computes it.
"""

from __future__ import annotations

from ragbench.render.html import items, small_table
from ragbench.results.sections import Section


def section_html(section: Section) -> str:
    """The section as HTML: a titled table or a titled list."""
    if section.columns:
        return small_table(section.title, section.note, section.columns, section.rows)
    return items(section.title, section.lines, level=section.level, note=section.note)


def section_text(section: Section) -> list[str]:
    """The section as text lines for a terminal: a blank line, "title: note", lines indented."""
    if not section.shown:
        return []
    head = f"{section.title}: {section.note}" if section.note else f"{section.title}:"
    body = list(section.lines) or _aligned(section.columns, section.rows)
    return ["", head, *[f"  {line}" for line in body]]


def section_markdown(section: Section) -> str:
    """The section as markdown (report.md): a level-2 heading, its note, then a pipe table or a
    bullet list; "" when it is not shown."""
    if not section.shown:
        return ""
    parts = [f"## {section.title}\n"]
    if section.note:
        parts.append(f"{section.note}\n")
    if section.columns:
        rows = [[_cell(v) for v in row] for row in section.rows]
        parts.append(
            f"| {' | '.join(section.columns)} |\n"
            + "|"
            + "---|" * len(section.columns)
            + "\n"
            + "".join(f"| {' | '.join(r)} |\n" for r in rows)
        )
    else:
        parts.append("\n".join(f"- {line}" for line in section.lines) + "\n")
    return "\n".join(parts)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def _aligned(columns: tuple[str, ...], rows: tuple[tuple[object, ...], ...]) -> list[str]:
    """A table without lines of its own as fixed-width text: header, then one line per row."""
    if not columns:
        return []
    table = [list(columns), *[[str(v) for v in row] for row in rows]]
    widths = [max(len(r[k]) for r in table) for k in range(len(columns))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]
