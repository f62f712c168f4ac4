"""Reports: the one place that reads a run from the store, computes its statistics and draws it.

Contract:
- ``load(db, run_id=None, experiment=None)`` opens the results file read-only (it works on a
  read-only file), reads the run with the store's typed reads, computes the summary and the
  rankings once (``stats.summarize`` and ``stats.rank_all``: Holm across every comparison of the
  report) and returns a :class:`Report`. It writes nothing.
- ``report(experiment, db, run_id=None, out_dir=None)`` is ``load`` plus ``Report.write``: the charts
  (PNG), ``summary.csv``, ``rankings.csv`` and ``report.md`` under ``<db folder>/<experiment>/``. A
  file that cannot be written never raises: one line naming the folder goes to ``problems`` and
  the table is still returned.
- A :class:`Report` shows itself: ``_repr_html_`` (notebooks) is one trial x metric table of
  "mean [CI] n" with the best trial and those not significantly different from it marked, failures
  counted, a FAKE MODELS banner, the significance sentences, staged-search notes, the held-out
  check (a run with ``split:``: table and verdicts on the dev questions, each metric's best trial
  scored on the test questions), problems and the input files the run skipped; ``__repr__`` and
  ``table`` say the same in text (CLI). ``figures`` are the charts as matplotlib Figures (drawn on
  first use) and ``show()`` displays table and charts grouped under headings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ragbench import stats
from ragbench.data.splits import dev_scores
from ragbench.experiment import allocation
from ragbench.metrics import names as metric_names
from ragbench.records import STAGES, RunInfo
from ragbench.render import charts as plots
from ragbench.render import html as display
from ragbench.results import heldout
from ragbench.store import Store
from ragbench.store.connection import WRITE_IT_FIRST, RunNotFound

DOT = " \u00b7 "
FAKE_WARNING = (
    "FAKE MODELS: this run used test doubles (fake LLM, fake judge or hashing embedder); "
    "its scores mean nothing."
)
STAGED_TITLE = (
    "Staged search (stage 1: retrieval metrics for every trial; stage 2: answers and judged "
    "metrics for the trials kept)"
)
BUDGET_TITLE = "Judging budget"
BUDGET_COLUMNS = ("trial", "verdicts", "why it stopped")
TEXT_MARKS = "* best, ~ not significantly different from best, ? too few to compare"


# How each ``stats.summarize`` interval method is named under the table.
INTERVAL_METHODS = {
    "wilson": "Wilson for 0/1 metrics (and a Wilson bound where every value is equal)",
    "constant": "none for equal values outside the metric's range",
    "t": "Student t below 20 values",
    "bca": "BCa bootstrap from 20 values",
    "percentile": "percentile bootstrap where BCa failed",
    "single": "none for a single value",
}


@dataclass(eq=False)
class Report:
    """A run read and computed once; see the module docstring for what it shows."""

    run_id: str
    experiment: str
    info: RunInfo
    summary: pd.DataFrame
    rankings: dict[str, pd.DataFrame]
    trials: pd.DataFrame
    scores: pd.DataFrame
    latencies: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    """The run's own problems, then any file this report could not write."""
    charts: list[Path] = field(default_factory=list)
    """PNG files written by ``write`` (empty after ``load``)."""
    splits: dict[str, str] = field(default_factory=dict)
    """question_id -> "dev" | "test" for a run with a held-out split; {} without one. Then
    ``summary``, ``rankings`` and the charts use the dev questions only (``scores`` keeps all)."""

    # --- facts ------------------------------------------------------------------------------------

    @property
    def fake_models(self) -> bool:
        return self.info.fake_models

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def metrics(self) -> list[str]:
        return list(self.rankings)

    @property
    def labels(self) -> dict[str, str]:
        """trial_id -> label, in display order (by label)."""
        return dict(zip(self.trials.trial_id.astype(str), self.trials.label, strict=True))

    @property
    def verdicts(self) -> dict[str, dict[str, str]]:
        """metric -> trial_id -> verdict (best, tied, worse, too_few, not_compared)."""
        return {
            m: dict(zip(r.trial_id.astype(str), r.verdict, strict=True))
            for m, r in self.rankings.items()
        }

    @property
    def best(self) -> dict[str, str]:
        """metric -> trial_id of the best trial (``stats.best_trial``'s rule), scored metrics only."""
        return {
            m: t for m, v in self.verdicts.items() for t, verdict in v.items() if verdict == "best"
        }

    @property
    def skipped_files(self) -> list[tuple[str, str]]:
        """Input files (or records) the run could not read, with the reason."""
        return list(self.info.stats.skipped_files)

    @property
    def stage_notes(self) -> list[str]:
        """Staged search: which trials went on to the judged stage and which were pruned, why."""
        staged = self.trials[self.trials.stage.notna()]
        reached = staged.stage.map({name: n for n, name in enumerate(STAGES)})  # went on first
        staged = staged.assign(reached=reached).sort_values(
            ["reached", "label"], ascending=[False, True]
        )
        return [f"{r.label}: {r.stage_note}" for r in staged.itertuples()]

    @property
    def allocation(self) -> dict[str, Any]:
        """What budgeted judging did (``Allocator.summary``), or {} when it was not used."""
        return self.info.stats.allocation or {}

    def budget_rows(self) -> list[tuple[str, int, str]]:
        """Judging budget: (trial label, verdicts, why it stopped), most verdicts first."""
        return allocation.budget_rows(self.allocation, self.labels)

    def budget_note(self) -> str:
        judged = [m for m in self.info.metrics if m in metric_names("judged")]
        return allocation.budget_note(self.allocation, judged)

    @property
    def title(self) -> str:
        return f"{self.experiment} ({self.run_id})" + (
            "  [FAKE MODELS]" if self.fake_models else ""
        )

    def sentences(self) -> list[str]:
        """One line per metric: the best trial and how every other trial compares with it."""
        return [_sentence(metric, ranking) for metric, ranking in self.rankings.items()]

    def method_note(self) -> str:
        tested = sum(int(r.verdict.isin(["tied", "worse"]).sum()) for r in self.rankings.values())
        return (
            f"Each trial vs the best, paired over the questions both scored: sign-flip permutation "
            f"test, p-values Holm-adjusted across all {tested} comparisons in this report "
            f"(alpha 0.05); fewer than {stats.MIN_N} shared questions: too few to compare. "
            f"Intervals: {self._interval_methods()}."
        )

    def _interval_methods(self) -> str:
        """The interval methods this table actually used, in words."""
        used = set(self.summary["method"]) if "method" in self.summary else set()
        words = [text for method, text in INTERVAL_METHODS.items() if method in used]
        return "; ".join(words) or "none (no scores)"

    def banners(self) -> list[tuple[str, str]]:
        """(text, level) of the warnings above the table: fake models, a run not finished."""
        out = []
        if self.fake_models:
            out.append((FAKE_WARNING, "fake"))
        if self.status != "finished":
            why = self.info.message if self.status == "failed" else None
            text = f"run status: {self.status}" + (f": {why}" if why else "")
            out.append((text, "error" if self.status == "failed" else "warning"))
        return out

    @cached_property
    def held_out(self) -> pd.DataFrame:
        """Per metric, the trial chosen on the dev questions and its dev and test scores
        (``heldout.HELD_OUT_COLUMNS``); empty for a run without a split."""
        return heldout.held_out_frame(self.scores, self.splits, self.best)

    def more_verdicts(self) -> list[str]:
        """For each judged metric where no trial is significantly worse than the best: one line
        saying how many judged questions per trial the best vs the runner-up would need."""
        judged = [m for m in self.info.metrics if m in metric_names("judged")]
        lines = []
        for metric in judged:
            ranking = self.rankings.get(metric)
            if ranking is None or len(ranking) < 2 or (ranking.verdict == "worse").any():
                continue
            best, runner = ranking.trial_id.iloc[0], ranking.trial_id.iloc[1]
            scores = dev_scores(self.scores, self.splits)  # what the verdicts used
            wide = scores[scores.metric == metric].pivot_table(
                index="question_id", columns="trial_id", values="value"
            )
            if best not in wide or runner not in wide:
                continue
            diffs = (wide[best] - wide[runner]).dropna()
            tested = int(ranking.verdict.isin(["tied", "too_few"]).sum())
            needed = stats.questions_needed(diffs.to_numpy(), comparisons=max(1, tested))
            label = self.labels.get(best, best)
            if needed is None:
                lines.append(
                    f"{metric}: no significant difference after {len(diffs)} judged questions "
                    f"per trial, and no difference between '{label}' and the runner-up to "
                    "extrapolate from: judge more questions or accept a tie"
                )
                continue
            more = max(0, needed - len(diffs))
            lines.append(
                f"{metric}: no significant difference after {len(diffs)} judged questions per "
                f"trial; if the gap between '{label}' and the runner-up "
                f"({diffs.mean():+.3f}, sd {diffs.std(ddof=1):.2f}) is real, about {needed} per "
                f"trial would show it (80% power, alpha 0.05/{max(1, tested)}): {more} more "
                f"questions, {more * len(ranking)} more verdicts over {len(ranking)} trials "
                "(a planning figure: the gap of a small sample is itself uncertain)"
            )
        return lines

    def notes(self) -> list[tuple[str, list[str], str]]:
        """(title, lines, level) of the notes under the table; empty ones are not shown."""
        return [
            (STAGED_TITLE, self.stage_notes, ""),
            ("How many more verdicts", self.more_verdicts(), ""),
            held_out_note(self),
            ("Problems", self.problems, "error"),
            (
                f"Input files skipped ({len(self.skipped_files)})",
                [f"{path}: {reason}" for path, reason in self.skipped_files],
                "",
            ),
        ]

    # --- text ---------------------------------------------------------------------------------------

    @property
    def table(self) -> str:
        """Header, trial x metric table, significance lines and notes as plain text (the CLI)."""
        lines = [f"experiment {self.experiment}  run {self.run_id}  status {self.status}"]
        lines += [f"WARNING: {text}" for text, _ in self.banners()]
        lines += ["", display.text_table(self.summary, self.verdicts, self.labels)]
        if self.rankings:
            lines += ["", *self.sentences(), f"{TEXT_MARKS}. {self.method_note()}"]
        if self.allocation:
            lines += ["", f"{BUDGET_TITLE}: {self.budget_note()}"]
            lines += [f"  {label}: {n} verdicts; {why}" for label, n, why in self.budget_rows()]
        for title, notes, _ in self.notes():
            if notes:
                lines += ["", f"{title}:", *[f"  {note}" for note in notes]]
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
        n_failed = int(self.summary.n_failed.sum()) if not self.summary.empty else 0
        if n_failed:
            facts.append(f"{n_failed} failed scores (not averaged)")
        parts = [display.banner(text, level) for text, level in self.banners()]
        parts.append(display.heading(self.experiment, DOT.join(facts)))
        notes = self.notes()  # problems first, where nobody can miss them
        notes.sort(key=lambda note: note[2] != "error")
        parts += [display.items(t, lines, level=level) for t, lines, level in notes[:1]]
        if self.summary.empty:
            parts.append("<p>(no scores)</p>")
        else:
            pruned = {
                str(r.trial_id): f"{r.label}: {r.stage_note}"
                for r in self.trials.itertuples()
                if isinstance(r.stage_note, str)
            }
            trials = list(self.labels.items())
            parts.append(display.score_table(self.summary, self.verdicts, trials, pruned))
            parts.append(display.items("Significance", self.sentences()))
            parts.append(f'<div style="{display.MUTED}">{display.esc(self.method_note())}</div>')
        parts.append(
            display.small_table(
                BUDGET_TITLE, self.budget_note(), BUDGET_COLUMNS, self.budget_rows()
            )
        )
        parts += [display.items(t, lines, level=level) for t, lines, level in notes[1:]]
        if charts:
            parts.append(display.chart_sections(self.figure_groups()))
        return f'<div style="{display.FONT}">{"".join(parts)}</div>'

    @cached_property
    def figures(self) -> dict[str, Figure]:
        """The run's charts by name (``plots.chart_set``), drawn on first use; in a notebook
        ``display(rep.figures["metrics"])`` shows one."""
        display.register_figure_formatter()
        overrides = {
            str(r.trial_id): json.loads(r.overrides_json or "{}") for r in self.trials.itertuples()
        }
        scores = dev_scores(self.scores, self.splits)  # what the table shows
        return plots.chart_set(
            self.summary, scores, overrides, self.latencies, self.title, self.verdicts
        )

    def figure_groups(self) -> list[tuple[str, list[tuple[str, Figure]]]]:
        """``figures`` under the headings of ``plots.GROUPS``, in that order."""
        groups: dict[str, list[tuple[str, Figure]]] = {g: [] for g in plots.GROUPS}
        for name, fig in self.figures.items():
            groups.setdefault(plots.group_of(name), []).append((name, fig))
        return [(plots.GROUPS.get(g, g), figs) for g, figs in groups.items() if figs]

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
        for name, fig in self.figures.items():
            try:
                self.charts.append(plots.save(fig, out / f"{name}.png"))
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
        """report.md: banner, table, significance, notes, charts, rankings and provenance."""
        fake = "YES" if self.fake_models else "no"
        parts = [f"# {self.experiment}\n", *[f"> **{text}**\n" for text, _ in self.banners()]]
        parts.append(f"run `{self.run_id}`, status {self.status}, fake models: {fake}\n")
        parts.append(display.markdown_table(self.summary, self.verdicts, self.labels))
        if self.rankings:
            parts.append("\n".join(f"- {s}" for s in self.sentences()) + "\n")
            parts.append(f"_{self.method_note()}_\n")
        if self.allocation:
            rows = [[str(v).replace("|", "\\|") for v in row] for row in self.budget_rows()]
            parts.append(
                f"## {BUDGET_TITLE}\n\n{self.budget_note()}\n\n| {' | '.join(BUDGET_COLUMNS)} |\n"
                + "|---|---|---|\n"
                + "".join(f"| {' | '.join(r)} |\n" for r in rows)
            )
        for title, lines, _ in self.notes():
            if lines:
                parts.append(f"## {title}\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
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


# --- reading and computing ---------------------------------------------------------------------------


def load(db: str | Path, run_id: str | None = None, experiment: str | None = None) -> Report:
    """Read one run (default: the latest of ``experiment``, else of the file) and compute it.

    Raises:
        StoreError: the file is missing, a folder, corrupt or not a DuckDB database (one line).
        RunNotFound: (a LookupError) no such run, or no run of ``experiment`` (or none at all) in
            the file.
    """
    store = Store(db, read_only=True)
    if run_id is None:
        run_id = store.latest_run(experiment) if experiment else _last(store.runs())
        if run_id is None:
            what = f"no run of experiment '{experiment}'" if experiment else "no run"
            raise RunNotFound(f"{what} in {db}; {WRITE_IT_FIRST}")
    try:
        info = store.run_info(run_id)
    except KeyError:
        raise RunNotFound(f"no run {run_id} in {db}") from None
    if experiment and info.experiment != experiment:
        raise LookupError(
            f"run {run_id} belongs to experiment '{info.experiment}', not '{experiment}'"
        )
    scores = store.scores(run_id)
    splits = store.question_splits(run_id)
    summary, rankings = compute(dev_scores(scores, splits), info.metrics)
    return Report(
        run_id=run_id,
        experiment=info.experiment,
        info=info,
        summary=summary,
        rankings=rankings,
        trials=store.trials(run_id),
        scores=scores,
        latencies=store.latencies(run_id),
        problems=list(info.stats.problems),
        splits=splits,
    )


def report(
    experiment: str, db: str | Path, run_id: str | None = None, out_dir: str | Path | None = None
) -> Report:
    """``load`` the run (default: the experiment's latest) and write its files.

    Files go to ``out_dir`` (default ``<db folder>/<experiment>``); see ``Report.write``.
    """
    rep = load(db, run_id=run_id, experiment=experiment)
    return rep.write(out_dir if out_dir is not None else Path(db).parent / rep.experiment)


def compute(
    scores: pd.DataFrame, metrics: list[str] | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Summary and rankings of long scores, metrics in the experiment's order then as they come."""
    order = [
        m for m in dict.fromkeys([*(metrics or []), *scores.metric]) if m in set(scores.metric)
    ]
    summary = stats.summarize(scores)
    if not summary.empty:
        summary = summary.assign(_m=summary.metric.map({m: i for i, m in enumerate(order)}))
        summary = summary.sort_values(["_m", "label", "trial_id"], kind="stable").drop(columns="_m")
        summary = summary.reset_index(drop=True)
    return summary, stats.rank_all(scores, order) if order else {}


def rankings_frame(rankings: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All rankings in one long frame with a leading ``metric`` column (for rankings.csv)."""
    frames = [r.assign(metric=m) for m, r in rankings.items() if not r.empty]
    if not frames:
        return pd.DataFrame(columns=["metric", *stats.RANKING_COLUMNS])
    return pd.concat(frames, ignore_index=True)[["metric", *stats.RANKING_COLUMNS]]


def held_out_note(rep: Report) -> tuple[str, list[str], str]:
    """The "Held-out check" section (title, lines, level): no lines for a run without a split."""
    return heldout.HELD_OUT_TITLE, heldout.held_out_lines(rep.held_out, rep.splits, rep.info), ""


def _last(runs: pd.DataFrame) -> str | None:
    return None if runs.empty else str(runs.run_id.iloc[-1])


# --- text renderings ----------------------------------------------------------------------------------


def _sentence(metric: str, ranking: pd.DataFrame) -> str:
    if ranking.empty or ranking.n.iloc[0] == 0:
        return f"{metric}: no scores"
    best, others = ranking.iloc[0], ranking.iloc[1:]
    line = f"{metric}: best = {_name(best.label)} ({best['mean']:.3f})"
    by = {v: [_name(x) for x in others[others.verdict == v].label] for v in stats.VERDICTS}
    if others.empty:
        return line + "; no other trial"
    if len(by["worse"]) == len(others):
        return line + "; all others significantly worse"
    for verdict, words in (
        ("tied", "not significantly different"),
        ("worse", "significantly worse"),
        ("too_few", f"too few shared questions to compare (< {stats.MIN_N})"),
        ("not_compared", "not compared (no scores shared with the best)"),
    ):
        if by[verdict]:
            line += f"; {words}: {', '.join(by[verdict])}"
    return line


def _name(label: str) -> str:
    """A label inside a sentence: quoted when its own commas would blur a list of labels."""
    return f"'{label}'" if "," in label or ";" in label else label
