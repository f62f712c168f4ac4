"""Renderings for people: the score table (HTML, text, markdown), banners, notes and chart sections
(one question across trials: ``render.question``).

Contract: pure functions from DataFrames / figures / strings to HTML or text; no store, no
statistics (callers pass verdicts already computed by ``stats``). Every piece of user text (labels,
questions, answers, passages, file names, error messages) goes through ``esc``. Styles are inline
(``style=""``), so the HTML survives JupyterLab's sanitiser and static viewers, and colours are
translucent tints, so it reads on light and dark themes alike.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

# Cell tint and symbol per stats verdict; "worse" stays plain so the eye goes to the others.
VERDICT_MARK: dict[str, tuple[str, str, str]] = {
    "best": ("\u2605", "rgba(46,160,67,0.30)", "best mean"),
    "tied": ("\u2248", "rgba(46,160,67,0.12)", "not significantly different from the best"),
    "too_few": ("?", "rgba(210,153,34,0.18)", "too few questions to compare with the best"),
    "worse": ("", "", "significantly worse than the best"),
    "not_compared": ("", "", "not compared (no question scored by both this trial and the best)"),
}
#: Text marks of the verdicts in plain-text and markdown tables.
TEXT_MARK = {"best": "*", "tied": "~", "too_few": "?"}
#: What each ``stats.summarize`` interval method means, for cell tooltips.
METHOD_NOTE = {
    "wilson": "Wilson interval (0/1 scores)",
    "bca": "BCa bootstrap interval",
    "single": "one score: no interval",
    "ppi": "people's labels, prediction-powered (PPI) estimate: n = labels",
    "none": "no score",
}
RED = "#d1242f"
GREEN = "#1a7f37"
DASH = "\u2013"
MUTED = "opacity:0.75;font-size:88%"
FONT = "font-family:var(--jp-ui-font-family, system-ui, sans-serif)"


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML (quotes too, so it also fits in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any, digits: int = 3) -> str:
    """A rounded number, or an en dash for a missing one."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "\u2013"
    return "\u2013" if math.isnan(x) else f"{x:.{digits}f}"


def ci_text(low: float, high: float) -> str:
    """An interval at 2 decimals, rounded outwards so that it still contains the 3-decimal mean
    shown beside it (0.309 in [0.30, 0.32], not in [0.31, 0.31])."""
    # the 1e-9 keeps 0.29 * 100 = 28.999999999999996 from flooring to 0.28
    return f"[{math.floor(low * 100 + 1e-9) / 100:.2f}, {math.ceil(high * 100 - 1e-9) / 100:.2f}]"


def banner(text: str, level: str = "warning") -> str:
    """A full-width coloured box: ``fake`` and ``error`` in red, ``warning`` in amber."""
    tint = {"fake": "rgba(209,36,47,0.16)", "error": "rgba(209,36,47,0.16)"}.get(
        level, "rgba(210,153,34,0.18)"
    )
    edge = RED if level in ("fake", "error") else "#bf8700"
    return (
        f'<div style="background:{tint};border-left:6px solid {edge};padding:6px 10px;'
        f'margin:4px 0;font-weight:600">{esc(text)}</div>'
    )


def heading(title: str, facts: str) -> str:
    """A title line with a muted line of facts under it."""
    return (
        f'<div style="font-size:120%;font-weight:600">{esc(title)}</div>'
        f'<div style="{MUTED}">{esc(facts)}</div>'
    )


def items(
    title: str, lines: Sequence[str], open_max: int = 10, level: str = "", note: str = ""
) -> str:
    """A titled list: shown open up to ``open_max`` lines, else folded in a <details>; ``note``
    is a muted line under the title. Nothing at all without lines or note."""
    if not lines and not note:
        return ""
    color = f"color:{RED};" if level == "error" else ""
    body = "".join(f"<li>{esc(line)}</li>" for line in lines)
    head = f'<b style="{color}">{esc(title)}</b>'
    if note:
        head += f'<div style="{MUTED}">{esc(note)}</div>'
    if len(lines) <= open_max:
        return f'<div style="margin:6px 0">{head}<ul style="margin:2px 0">{body}</ul></div>'
    return (
        f'<details style="margin:6px 0"><summary>{head} ({len(lines)})</summary>'
        f'<ul style="margin:2px 0">{body}</ul></details>'
    )


def small_table(
    title: str, note: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> str:
    """A titled plain table with a muted note under the title (e.g. the judging budget)."""
    if not rows:
        return ""
    cell = "padding:2px 8px;text-align:left;vertical-align:top"
    head = "".join(f'<th style="{cell}">{esc(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{esc(v)}</td>' for v in row) + "</tr>" for row in rows
    )
    return (
        f'<div style="margin:6px 0"><b>{esc(title)}</b><div style="{MUTED}">{esc(note)}</div>'
        f'<table style="border-collapse:collapse;font-variant-numeric:tabular-nums;margin:2px 0">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


# --- the trial x metric table ------------------------------------------------------------------------


def _cell(row: pd.Series | None, verdict: str | None, why_missing: str) -> str:
    if row is None or (int(row["n"]) == 0 and int(row.get("n_failed", 0)) == 0):
        return f'<td title="{esc(why_missing)}" style="text-align:center;{MUTED}">\u2013</td>'
    mark, tint, meaning = VERDICT_MARK.get(verdict or "", ("", "", ""))
    mean = number(row["mean"])
    head = f"<b>{mean}</b>" if verdict == "best" else mean
    if mark:
        head += f"&nbsp;{mark}"
    interval = f"n={int(row['n'])}"
    if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]):
        interval = f"{ci_text(row['ci_low'], row['ci_high'])} {interval}"
    lines = [head, f'<span style="{MUTED}">{interval}</span>']
    failed = int(row.get("n_failed", 0) or 0)
    if failed:
        lines.append(f'<span style="color:{RED};font-size:88%">{failed} failed</span>')
    style = "white-space:nowrap;text-align:right;padding:3px 8px"
    if tint:
        style += f";background:{tint}"
    tip = "; ".join(filter(None, [meaning, METHOD_NOTE.get(str(row.get("method")), "")]))
    return f'<td title="{esc(tip)}" style="{style}">{"<br>".join(lines)}</td>'


def score_table(
    summary: pd.DataFrame,
    verdicts: dict[str, dict[str, str]],
    trials: Sequence[tuple[str, str]],
    missing_note: dict[str, str] | None = None,
) -> str:
    """One row per trial, one column per metric: "mean [CI] n", failures, verdict mark and tint.

    Args:
        summary: a ``stats.summarize`` frame.
        verdicts: metric -> trial_id -> verdict (``stats.rank_all``'s ``verdict`` column).
        trials: (trial_id, label) in display order.
        missing_note: trial_id -> why a cell is empty (e.g. the staged-search note).
    """
    metrics = list(dict.fromkeys(summary.metric))
    index = {(str(r.trial_id), r.metric): r for _, r in summary.iterrows()}
    th = 'style="text-align:center;padding:3px 8px;white-space:nowrap"'
    head = '<th style="text-align:left;padding:3px 8px">trial</th>' + "".join(
        f"<th {th}>{esc(m)}</th>" for m in metrics
    )
    rows = []
    for trial_id, label in trials:
        why = (missing_note or {}).get(trial_id) or "no score for this metric"
        cells = "".join(
            _cell(index.get((trial_id, m)), verdicts.get(m, {}).get(trial_id), why) for m in metrics
        )
        rows.append(
            f'<tr><th title="{esc(trial_id)}" style="text-align:left;white-space:normal;'
            f'min-width:9em;max-width:24em;padding:3px 8px;font-weight:normal">{esc(label)}</th>'
            f"{cells}</tr>"
        )
    legend = " &nbsp;\u00b7&nbsp; ".join(
        f"{mark} {esc(meaning)}" for mark, _, meaning in VERDICT_MARK.values() if mark
    )
    return (
        f'<div style="overflow-x:auto;max-width:100%"><table style="border-collapse:collapse;'
        f'font-variant-numeric:tabular-nums;margin:4px 0"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f'<div style="{MUTED}">cells: mean [95% interval] n = questions scored; failed scores are '
        f"counted, never averaged. {legend}</div>"
    )


# --- the same table as text ------------------------------------------------------------------------


def _text_cell(r: pd.Series, verdict: str | None) -> str:
    text = f"{r['mean']:.3f}{TEXT_MARK.get(verdict or '', '')}" if r["n"] else "-"
    if r["n"] and pd.notna(r["ci_low"]) and pd.notna(r["ci_high"]):
        text += f" {ci_text(r['ci_low'], r['ci_high'])}"
    text += f" n={int(r['n'])}"
    return text + (f" failed={int(r['n_failed'])}" if r["n_failed"] else "")


def _text_wide(
    summary: pd.DataFrame, verdicts: dict[str, dict[str, str]], labels: dict[str, str]
) -> pd.DataFrame:
    """Every trial (in ``labels`` order) x metrics, one text cell each ("-": no score)."""
    texts = [
        _text_cell(r, verdicts.get(r.metric, {}).get(str(r.trial_id)))
        for _, r in summary.iterrows()
    ]
    wide = summary.assign(cell=texts).pivot(index="trial_id", columns="metric", values="cell")
    wide = wide.reindex(list(labels))[list(dict.fromkeys(summary.metric))].fillna("-")
    wide.insert(0, "trial", list(labels.values()))
    return wide.reset_index(drop=True)


def text_table(
    summary: pd.DataFrame, verdicts: dict[str, dict[str, str]], labels: dict[str, str]
) -> str:
    """Trials x metrics as fixed-width text: "mean[mark] [low, high] n=N failed=F"."""
    if summary.empty:
        return "(no scores)"
    return _text_wide(summary, verdicts, labels).to_string(index=False)


def markdown_table(
    summary: pd.DataFrame, verdicts: dict[str, dict[str, str]], labels: dict[str, str]
) -> str:
    """The same table as a markdown pipe table (report.md)."""
    if summary.empty:
        return "(no scores)\n"
    wide = _text_wide(summary, verdicts, labels)
    rows = [[str(v).replace("|", "\\|") for v in row] for row in wide.itertuples(index=False)]
    head = "| " + " | ".join(wide.columns) + " |\n|" + "---|" * len(wide.columns) + "\n"
    return head + "".join("| " + " | ".join(r) + " |\n" for r in rows)


# --- figures ----------------------------------------------------------------------------------------


def figure_png(fig: Figure, scale: float = 1.0) -> bytes:
    """``fig`` as PNG bytes at ``scale`` times its own dpi."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi * scale)
    return buffer.getvalue()


def register_figure_formatter() -> None:
    """Let IPython show a pyplot-free Figure (``display(fig)``, or a cell ending in ``fig``).

    IPython knows how to draw a Figure only once pyplot has resolved the inline backend; when
    it has, its own printer is kept. Outside IPython this does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebook extras
        return
    shell = get_ipython()
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
    except KeyError:
        png.for_type(Figure, figure_png)


def figure_img(fig: Figure, alt: str = "") -> str:
    """``fig`` as an inline PNG <img>, drawn at 1.5x (sharp on high-density screens) and shown at
    its natural size, so that a 10 pt label is 10 pt on screen."""
    scale = 1.5
    data = figure_png(fig, scale)
    width = round(int.from_bytes(data[16:20], "big") / scale)  # PNG IHDR width
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<img alt="{esc(alt)}" width="{width}" style="max-width:100%;height:auto" '
        f'src="data:image/png;base64,{encoded}">'
    )


def chart_sections(groups: Iterable[tuple[str, Sequence[tuple[str, Figure]]]]) -> str:
    """Charts under headings, one foldable <details> per group; the first group starts open."""
    parts = []
    for k, (heading, figures) in enumerate(groups):
        if not figures:
            continue
        images = "".join(f'<div style="margin:6px 0">{figure_img(f, n)}</div>' for n, f in figures)
        count = f" ({len(figures)})" if len(figures) > 1 else ""
        parts.append(
            f'<details{" open" if k == 0 else ""} style="margin:8px 0">'
            f'<summary style="font-size:115%;font-weight:600;cursor:pointer">{esc(heading)}{count}'
            f"</summary>{images}</details>"
        )
    return "".join(parts)
