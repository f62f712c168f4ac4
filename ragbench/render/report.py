"""Reports, shown: a computed run (``results.report.RunReport``) as HTML, text, markdown and charts,
and written to a folder.

Contract:
- ``load(db, run_id=None, experiment=None)`` is ``results.report.read_run`` returning a
  :class:`Report`: the same run, computed once, plus its views. It writes nothing.
- ``report(experiment, db, run_id=None, out_dir=None)`` is ``load`` plus ``Report.write``: the
  charts (PNG), ``summary.csv``, ``rankings.csv`` and ``report.md`` under
  ``<db folder>/<experiment>/``. A file that cannot be written never raises: one line naming the
  folder goes to ``problems`` and the table is still returned.
- Paths built from stored text stay inside their folder: an experiment name read from the file
  that is not a folder name (``config.experiment.NAME_PATTERN``; a file made by hand, ``../x`` or
  ``/etc``) raises :class:`StoreError` before anything is written, and a file whose name (a
  stored metric's chart) would resolve outside the report folder is not written (a problem line).
- A :class:`Report` shows itself: ``_repr_html_`` (notebooks) is one trial x metric table of
  "mean [CI] n" with the best trial and those not significantly different from it marked (a judged
  metric ranked by human labels has its PPI column beside it, ``table_summary``), failures
  counted, a FAKE MODELS banner, the significance sentences, then the run's named sections
  (``RunReport.sections()``, drawn by ``render.sections``: problems above the table, the judging
  budget, staged-search notes, how many more verdicts, the held-out check and skipped input files
  under it); ``__repr__`` and ``table`` say the same in text (CLI) and ``markdown()`` in report.md.
  ``figures`` are the charts as matplotlib Figures (``render.chart_set``, drawn on first use) and
  ``show()`` displays table and charts grouped under headings.
Nothing here reads the store or computes a statistic: every number comes from ``RunReport``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from matplotlib.figure import Figure

from ragbench.config.experiment import NAME_PATTERN
from ragbench.data.splits import dev_scores
from ragbench.render import html as display
from ragbench.render.chart_set import GROUPS, chart_set, group_of
from ragbench.render.figures import save
from ragbench.render.sections import section_html, section_markdown, section_text
from ragbench.render.views import as_view
from ragbench.results.report import RunReport, rankings_frame, read_run
from ragbench.store.connection import StoreError

DOT = " \u00b7 "
TEXT_MARKS = "* best, ~ not significantly different from best, ? too few to compare"


@dataclass(eq=False, repr=False)
class Report(RunReport):
    """A run read and computed once, shown; see the module docstring."""

    charts: list[Path] = field(default_factory=list)
    """PNG files written by ``write`` (empty after ``load``)."""

    # --- text ---------------------------------------------------------------------------------------

    @property
    def table(self) -> str:
        """Header, trial x metric table, significance lines and sections as plain text (the CLI)."""
        lines = [f"experiment {self.experiment}  run {self.run_id}  status {self.status}"]
        lines += [f"WARNING: {text}" for text, _ in self.banners()]
        lines += ["", display.text_table(self.table_summary, self.table_verdicts, self.labels)]
        if self.rankings:
            lines += ["", *self.sentences(), f"{TEXT_MARKS}. {self.method_note()}"]
        for section in self.sections():
            lines += section_text(section)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.table

    # --- HTML and charts ------------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        return self.html(charts=False)

    def html(self, charts: bool = False) -> str:
        """The report as HTML; with ``charts`` the figures follow, grouped under headings."""
        facts = [
            f"run {self.run_id}",
            f"status {self.status}",
            f"dataset {self.info.dataset}",
            f"{len(self.trials)} trials",
            f"{len(self.metrics)} metrics",
        ]
        if self.n_failed:
            facts.append(f"{self.n_failed} failed scores (not averaged)")
        parts = [display.banner(text, level) for text, level in self.banners()]
        parts.append(display.heading(self.experiment, DOT.join(facts)))
        sections = self.sections()
        # problems first, where nobody can miss them
        parts += [section_html(s) for s in sections if s.level == "error"]
        if self.summary.empty:
            parts.append("<p>(no scores)</p>")
        else:
            trials = list(self.labels.items())
            parts.append(
                display.score_table(
                    self.table_summary, self.table_verdicts, trials, self.missing_notes
                )
            )
            parts.append(display.items("Significance", self.sentences()))
            parts.append(f'<div style="{display.MUTED}">{display.esc(self.method_note())}</div>')
        parts += [section_html(s) for s in sections if s.level != "error"]
        if charts:
            parts.append(display.chart_sections(self.figure_groups()))
        return f'<div style="{display.FONT}">{"".join(parts)}</div>'

    @cached_property
    def figures(self) -> dict[str, Figure]:
        """The run's charts by name (``chart_set``), drawn on first use; in a notebook
        ``display(rep.figures["metrics"])`` shows one."""
        display.register_figure_formatter()
        overrides = {
            str(r.trial_id): json.loads(r.overrides_json or "{}") for r in self.trials.itertuples()
        }
        scores = dev_scores(self.scores, self.splits)  # what the table shows
        # the charts draw the judge's means: its own verdicts mark them (table_verdicts)
        return chart_set(
            self.summary, scores, overrides, self.latencies, self.title, self.table_verdicts
        )

    def figure_groups(self) -> list[tuple[str, list[tuple[str, Figure]]]]:
        """``figures`` under the headings of ``chart_set.GROUPS``, in that order."""
        groups: dict[str, list[tuple[str, Figure]]] = {g: [] for g in GROUPS}
        for name, fig in self.figures.items():
            groups.setdefault(group_of(name), []).append((name, fig))
        return [(GROUPS.get(g, g), figs) for g, figs in groups.items() if figs]

    def show(self, charts: bool = True) -> None:
        """Display the report in a notebook: the table, then the charts in foldable sections."""
        from IPython.display import HTML
        from IPython.display import display as ipy_display

        ipy_display(HTML(self.html(charts=charts)))

    # --- files ------------------------------------------------------------------------------------

    def write(self, out_dir: str | Path) -> Report:
        """Write charts, summary.csv, rankings.csv and report.md into ``out_dir``.

        Never raises for an unwritable folder or file: one line naming the folder and the files
        that failed is appended to ``problems``. Returns ``self``.
        """
        out = Path(out_dir)
        failed: list[str] = []
        reason = ""
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.problems.append(
                f"report files not written: cannot create folder {out} ({exc.strerror or exc})"
            )
            return self
        self.charts = []
        inside = out.resolve()
        for name, fig in self.figures.items():
            if not (out / f"{name}.png").resolve().is_relative_to(inside):  # a stored metric name
                self.problems.append(
                    f"report file {name}.png not written: its name leads out of the report "
                    f"folder {out}"
                )
                continue
            try:
                self.charts.append(save(fig, out / f"{name}.png"))
            except OSError as exc:
                failed.append(f"{len(self.figures) - len(self.charts)} charts")
                reason = exc.strerror or str(exc)
                break
        files = {
            "summary.csv": lambda p: self.summary.to_csv(p, index=False),
            "rankings.csv": lambda p: rankings_frame(self.rankings).to_csv(p, index=False),
            "report.md": lambda p: p.write_text(self.markdown(), encoding="utf-8"),
        }
        for name, write in files.items():
            try:
                write(out / name)
            except OSError as exc:
                failed.append(name)
                reason = reason or exc.strerror or str(exc)
        if failed:
            self.problems.append(
                f"could not write to folder {out} ({reason}): {', '.join(failed)} not written"
            )
        return self

    def markdown(self) -> str:
        """report.md: banner, table, significance, sections, charts, rankings and provenance."""
        fake = "YES" if self.fake_models else "no"
        parts = [f"# {self.experiment}\n", *[f"> **{text}**\n" for text, _ in self.banners()]]
        parts.append(f"run `{self.run_id}`, status {self.status}, fake models: {fake}\n")
        parts.append(display.markdown_table(self.table_summary, self.table_verdicts, self.labels))
        if self.rankings:
            parts.append("\n".join(f"- {s}" for s in self.sentences()) + "\n")
            parts.append(f"_{self.method_note()}_\n")
        parts += [text for text in map(section_markdown, self.sections()) if text]
        if self.charts:
            parts.append("## Charts\n\n" + "".join(f"![{c.stem}]({c.name})\n" for c in self.charts))
        ranked = rankings_frame(self.rankings)
        if not ranked.empty:
            text = ranked.drop(columns="trial_id").to_string(
                index=False, float_format=lambda x: f"{x:.3f}"
            )
            parts.append(f"## Rankings\n\n```\n{text}\n```\n")
        versions = json.dumps(self.info.versions, default=str)
        parts.append(f"provenance: git {self.info.git_sha}, versions {versions}\n")
        return "\n".join(parts)


def load(db: str | Path, run_id: str | None = None, experiment: str | None = None) -> Report:
    """Read one run (default: the latest of ``experiment``, else of the file), computed and shown.

    Raises:
        StoreError: the file is missing, a folder, corrupt or not a DuckDB database (one line).
        RunNotFound: (a LookupError) no such run, or no run of ``experiment`` (or none at all) in
            the file.
    """
    return as_view(Report, read_run(db, run_id=run_id, experiment=experiment))


def report(
    experiment: str, db: str | Path, run_id: str | None = None, out_dir: str | Path | None = None
) -> Report:
    """``load`` the run (default: the experiment's latest) and write its files.

    Files go to ``out_dir`` (default ``<db folder>/<experiment>``); see ``Report.write``.
    """
    rep = load(db, run_id=run_id, experiment=experiment)
    if out_dir is None and not (
        re.fullmatch(NAME_PATTERN, rep.experiment) and len(rep.experiment) <= 100
    ):
        raise StoreError(
            f"results file {db} names its experiment {rep.experiment!r}, which is not a folder "
            "name (letters, digits, '_', '.' and '-', starting with a letter or digit): the "
            "report's files are not written; the file was made by hand or damaged"
        )
    return rep.write(out_dir if out_dir is not None else Path(db).parent / rep.experiment)
