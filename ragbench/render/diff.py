"""Run diffs, shown: text for a terminal and HTML for a notebook (``results.diff`` computes them).

Contract: ``diff_runs(db, run_a, run_b, ...)`` is ``results.diff.compare_runs`` returning a
:class:`RunDiffView`: the same ``RunDiff`` plus ``text()`` / ``__repr__`` (``as_text``: what
``ragbench diff`` prints) and ``_repr_html_`` (``as_html``): a FAKE MODELS banner when it applies,
the warnings (runs over different data or of different experiments),
the per-metric tests (regressions in red, improvements in green), then per metric and direction
the changed questions with both answers side by side, cut to ``ANSWER_CHARS`` characters and
``d.max_rows`` rows (the full data stays in ``d.questions``). Nothing here reads the store or
tests anything.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ragbench import stats
from ragbench.render.views import as_view
from ragbench.results.diff import RunDiff, compare_runs
from ragbench.store import Store

#: Characters of an answer shown in a table cell (the full text stays in ``RunDiff.questions``).
ANSWER_CHARS = 240


@dataclass
class RunDiffView(RunDiff):
    """Run B against run A (``results.diff.RunDiff``), shown as text and as HTML."""

    def text(self) -> str:
        """Terminal view: the per-metric tests, then each metric's changed questions."""
        return as_text(self)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return as_html(self)


def diff_runs(
    db: str | Path | Store,
    run_a: str,
    run_b: str,
    metric: str | None = None,
    trial: str = "best",
    alpha: float = 0.05,
    max_rows: int = 10,
    allow_different_data: bool = False,
) -> RunDiffView:
    """Compare run B with run A question by question and show it: ``results.diff.compare_runs``
    with the same arguments, its result as a view (text, HTML, frames).

    Raises:
        DiffError: as ``compare_runs``.
    """
    computed = compare_runs(db, run_a, run_b, metric, trial, alpha, max_rows, allow_different_data)
    return as_view(RunDiffView, computed)


def as_text(d: RunDiff) -> str:
    """Terminal view: the per-metric tests, then each metric's changed questions."""
    lines = [*d.header(), "", _tests_text(d.tests, d.alpha)]
    for metric in d.tests["metric"]:
        for title, rows in _directions(d.questions, metric):
            lines += ["", f"{metric}: {len(rows)} question(s) {title}"]
            for row in rows.head(d.max_rows).itertuples():
                lines.append(
                    f"  {row.delta:+.3f}  {row.question_id}  {_cut(row.user_input, 70)}"
                    f"  [{row.a:.3f} -> {row.b:.3f}]"
                )
                lines.append(f"      A: {_cut(row.response_a, 110)}")
                lines.append(f"      B: {_cut(row.response_b, 110)}")
            if len(rows) > d.max_rows:
                lines.append(f"  ... {len(rows) - d.max_rows} more (RunDiff.questions)")
    return "\n".join(lines)


def as_html(d: RunDiff) -> str:
    """Notebook view (see the module docstring)."""
    parts = ['<div class="ragbench-diff">']
    if d.fake_models:
        parts.append(
            '<div style="background:#fde2e1;color:#8a1c12;padding:6px 10px;'
            'font-weight:bold;border-radius:4px">FAKE MODELS: test doubles in at least one '
            "run; these scores mean nothing.</div>"
        )
    parts.append(
        "<p><b>A</b>: run <code>{}</code>, {}<br><b>B</b>: run <code>{}</code>, {}</p>".format(
            *map(html.escape, (d.run_a, d.label_a, d.run_b, d.label_b))
        )
    )
    parts += [f'<p style="color:#8a1c12"><b>{html.escape(w)}</b></p>' for w in d.warnings]
    parts += [f"<p>{html.escape(n)}</p>" for n in d.notes]
    parts.append(_tests_html(d.tests, d.alpha))
    for metric in d.tests["metric"]:
        for title, rows in _directions(d.questions, metric):
            parts.append(f"<h4>{html.escape(metric)}: {len(rows)} question(s) {title}</h4>")
            parts.append(_questions_html(rows, d.max_rows))
    parts.append("</div>")
    return "\n".join(parts)


def _cut(text: str, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _directions(questions: pd.DataFrame, metric: str) -> list[tuple[str, pd.DataFrame]]:
    """("regressed", rows) then ("improved", rows) of one metric, the non-empty ones."""
    part = questions[questions["metric"] == metric]
    out = [("regressed", part[part["delta"] < 0]), ("improved", part[part["delta"] > 0])]
    return [(title, rows) for title, rows in out if not rows.empty]


def _fmt(x: float, spec: str = ".3f") -> str:
    return "-" if pd.isna(x) else format(x, spec)


def _tests_text(tests: pd.DataFrame, alpha: float) -> str:
    view = pd.DataFrame(
        {
            "metric": tests["metric"],
            "n": tests["n"],
            "A": tests["mean_a"].map(_fmt),
            "B": tests["mean_b"].map(_fmt),
            "delta [CI]": [
                f"{_fmt(d, '+.3f')} [{_fmt(lo, '+.3f')}, {_fmt(hi, '+.3f')}]"
                for d, lo, hi in zip(
                    tests.delta, tests.delta_ci_low, tests.delta_ci_high, strict=True
                )
            ],
            "p": tests["p_value"].map(lambda p: _fmt(p, ".3g")),
            "p (Holm)": tests["p_adjusted"].map(lambda p: _fmt(p, ".3g")),
            "verdict": tests["verdict"],
            "up": tests["improved"],
            "down": tests["regressed"],
        }
    )
    note = (
        f"paired sign-flip test of B - A per metric; Holm across metrics at alpha={alpha}; "
        f"under {stats.MIN_N} shared questions: too_few"
    )
    return view.to_string(index=False) + "\n" + note


def _tests_html(tests: pd.DataFrame, alpha: float) -> str:
    colour = {"regressed": "#b42318", "improved": "#067647"}
    head = (
        "<tr><th>metric</th><th>n</th><th>A</th><th>B</th><th>delta [CI]</th><th>p</th>"
        "<th>p (Holm)</th><th>verdict</th><th>up</th><th>down</th></tr>"
    )
    body = []
    for r in tests.itertuples():
        style = (
            f' style="color:{colour[r.verdict]};font-weight:bold"' if r.verdict in colour else ""
        )
        body.append(
            f"<tr><td>{html.escape(r.metric)}</td><td>{r.n}</td><td>{_fmt(r.mean_a)}</td>"
            f"<td>{_fmt(r.mean_b)}</td><td>{_fmt(r.delta, '+.3f')} [{_fmt(r.delta_ci_low, '+.3f')},"
            f" {_fmt(r.delta_ci_high, '+.3f')}]</td><td>{_fmt(r.p_value, '.3g')}</td>"
            f"<td>{_fmt(r.p_adjusted, '.3g')}</td><td{style}>{html.escape(r.verdict)}</td>"
            f"<td>{r.improved}</td><td>{r.regressed}</td></tr>"
        )
    caption = (
        f"Paired sign-flip test of B &minus; A per metric, Holm across metrics at "
        f"&alpha; = {alpha}; fewer than {stats.MIN_N} shared questions: too_few."
    )
    return (
        f'<table><caption style="caption-side:bottom;text-align:left">{caption}</caption>'
        f"{head}{''.join(body)}</table>"
    )


def _questions_html(changed: pd.DataFrame, max_rows: int) -> str:
    cell = 'style="text-align:left;vertical-align:top;max-width:32em;white-space:normal"'
    head = (
        "<tr><th>question</th><th>A</th><th>B</th><th>delta</th><th>answer A</th>"
        "<th>answer B</th></tr>"
    )
    body = []
    for r in changed.head(max_rows).itertuples():
        colour = "#b42318" if r.delta < 0 else "#067647"
        body.append(
            f"<tr><td {cell}>{html.escape(_cut(r.user_input, 120))}<br><small>"
            f"{html.escape(r.question_id)}</small></td><td>{r.a:.3f}</td><td>{r.b:.3f}</td>"
            f'<td style="color:{colour}">{r.delta:+.3f}</td>'
            f"<td {cell}>{html.escape(_cut(r.response_a, ANSWER_CHARS))}</td>"
            f"<td {cell}>{html.escape(_cut(r.response_b, ANSWER_CHARS))}</td></tr>"
        )
    more = len(changed) - max_rows
    tail = f"<p><small>... {more} more in <code>.questions</code></small></p>" if more > 0 else ""
    return f"<table>{head}{''.join(body)}</table>{tail}"
