"""What the tuning panel shows: one trial's answers next to their scores, and the trial history.

Contract:
- ``trial_result(db, run_id)`` reads one run back with the store's typed reads
  (``Store.records`` / ``.scores`` / ``.trials``) into a :class:`TrialResult`: per question the
  answer, its cited sources, the retrieved passages (rank, doc id, whole text; the ones the answer
  cites as ``[k]`` ticked, see ``pipeline.prompts.cited_passages``) and each metric's score or
  error; per metric the mean, the number scored and the number failed.
- ``history(db, experiment)`` is a :class:`History`: one row per trial tried (every run of the
  experiment, oldest first), metrics as columns, rounded, labelled by what was chosen
  (:func:`describe`), never by ids. An empty history explains itself in one sentence.
- Both render as HTML in a notebook (``_repr_html_``) and as readable text elsewhere
  (``__repr__``). All user text is escaped. Nothing here runs a model or writes a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ragbench.pipeline.prompts import cited_passages
from ragbench.records import Record, RunInfo
from ragbench.render.html import banner, esc, number
from ragbench.render.question import passage_html
from ragbench.store import Store

DIGITS = 3  # scores are means over a handful of questions: more digits would be noise
FAKE_NOTE = "FAKE MODELS: test doubles answered and judged; these scores mean nothing."
TABLE = 'style="border-collapse:collapse;margin:4px 0"'
CELL = 'style="padding:2px 8px;text-align:left;vertical-align:top"'


def describe(params: dict[str, Any]) -> str:
    """A short label of a pipeline: "sentence 256/32, local, dense k=3, default".

    Args:
        params: a resolved pipeline config as a mapping (``PipelineConfig.model_dump()``, a
            trial's ``params_json``, or the ``base`` mapping the panel builds).
    """
    c, r = params["chunking"], params["retrieval"]
    return (
        f"{c['method']} {c['chunk_size']}/{c['chunk_overlap']}, {params['embedding']['provider']}, "
        f"{r['method']} k={r['top_k']}, {params['generation']['prompt']}"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table of already-escaped cells."""
    head = "".join(f"<th {CELL}>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td {CELL}>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table {TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class QuestionResult:
    """One question of a trial: what was asked, retrieved, answered and cited, and its scores."""

    record: Record
    scores: dict[str, float | None]  # metric -> value (None: failed or not scored)
    errors: dict[str, str]  # metric -> why it failed


@dataclass
class TrialResult:
    """One trial of the tuning panel, read back from the results file."""

    run_id: str
    label: str
    fake_models: bool
    metrics: list[str]
    summary: pd.DataFrame  # metric, mean, n, n_failed
    questions: list[QuestionResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the run could not score what it should

    def _repr_html_(self) -> str:
        parts = [banner(FAKE_NOTE, "fake")] if self.fake_models else []
        parts += [banner(f"problem: {p}", "error") for p in self.problems]
        parts.append(
            f"<div><b>{esc(self.label)}</b> \u00b7 {len(self.questions)} question(s)</div>"
        )
        rows = [
            [esc(r.metric), number(r.mean), str(r.n), str(r.n_failed) if r.n_failed else ""]
            for r in self.summary.itertuples()
        ]
        parts.append(_table(["metric", "mean", "n", "failed"], rows))
        parts.extend(self._question_html(q) for q in self.questions)
        return f'<div class="ragbench-trial">{"".join(parts)}</div>'

    def _question_html(self, q: QuestionResult) -> str:
        r = q.record
        cited = set(cited_passages(r.response, len(r.retrieved_contexts)))  # [k]: passage k
        chips = " ".join(
            f"<span {CELL}>{esc(m)} <b>{number(q.scores.get(m))}</b>"
            + (f' <span style="color:#d1242f">({esc(q.errors[m])})</span>' if m in q.errors else "")
            + "</span>"
            for m in self.metrics
        )
        answer = (
            esc(r.response)
            if r.response is not None
            else "<i>not answered (outside the judged subset)</i>"
        )
        sources = ", ".join(esc(d) for d in (r.cited_doc_ids or [])) or "none"
        passages = _table(
            ["#", "doc", "cited", "passage"],
            [
                [
                    str(k),
                    esc(doc),
                    "\u2713" if k in cited else "",
                    passage_html(text),
                ]
                for k, (doc, text) in enumerate(
                    zip(r.retrieved_doc_ids, r.retrieved_contexts, strict=False), start=1
                )
            ],
        )
        return (
            '<div style="border-top:1px solid rgba(128,128,128,0.4);margin-top:6px;padding-top:4px">'
            f"<div><b>{esc(r.question_id)}</b>: {esc(r.user_input)}</div>"
            f"<div>{chips}</div>"
            f"<div><b>answer</b>: {answer}</div>"
            f"<div><b>cited sources</b>: {sources}</div>"
            f"<details><summary>{len(r.retrieved_doc_ids)} retrieved passage(s)</summary>"
            f"{passages}</details></div>"
        )

    def __repr__(self) -> str:
        lines = [f"trial {self.label} ({len(self.questions)} question(s))"]
        lines[:0] = [FAKE_NOTE] * self.fake_models + [f"problem: {p}" for p in self.problems]
        lines += [
            f"  {r.metric}: {number(r.mean)} (n={r.n}"
            + (f", failed={r.n_failed})" if r.n_failed else ")")
            for r in self.summary.itertuples()
        ]
        for q in self.questions:
            lines.append(f"- {q.record.question_id}: {q.record.user_input}")
            lines.append(f"  answer: {q.record.response}")
            lines.append(f"  cited: {', '.join(q.record.cited_doc_ids or []) or 'none'}")
            lines.append(f"  retrieved: {', '.join(q.record.retrieved_doc_ids)}")
        return "\n".join(lines)


def _metric_order(info: RunInfo, scores: pd.DataFrame) -> list[str]:
    """The scored metrics in the experiment's order (the store sorts them by name)."""
    configured = info.metrics
    return [m for m in dict.fromkeys([*configured, *scores.metric]) if m in set(scores.metric)]


def trial_result(db: str | Path, run_id: str) -> TrialResult:
    """Read one run of the tuning panel back: its records, scores and label.

    Raises:
        KeyError: no such run in ``db``.
    """
    store = Store(db, read_only=True)
    info = store.run_info(run_id)
    trials = store.trials(run_id)
    labels = dict(zip(trials.trial_id, trials.label, strict=True))
    scores = store.scores(run_id)
    metrics = _metric_order(info, scores)
    questions = []
    for record in store.records(run_id):
        mine = scores[
            (scores.trial_id == record.trial_id) & (scores.question_id == record.question_id)
        ]
        questions.append(
            QuestionResult(
                record,
                {
                    s.metric: (None if pd.isna(s.value) else float(s.value))
                    for s in mine.itertuples()
                },
                {s.metric: str(s.error) for s in mine.itertuples() if isinstance(s.error, str)},
            )
        )
    summary = pd.DataFrame(
        [
            {
                "metric": m,
                "mean": part.value.mean() if part.value.notna().any() else float("nan"),
                "n": int(part.value.notna().sum()),
                "n_failed": int(part.error.notna().sum()),
            }
            for m, part in ((m, scores[scores.metric == m]) for m in metrics)
        ],
        columns=["metric", "mean", "n", "n_failed"],
    )
    return TrialResult(
        run_id=run_id,
        label=", ".join(dict.fromkeys(labels.values())) or "(no trial)",
        fake_models=info.fake_models,
        metrics=metrics,
        summary=summary,
        questions=questions,
        problems=list(info.stats.problems),
    )


@dataclass
class History:
    """Every trial tried in one experiment: one row each, metrics as columns."""

    experiment: str
    frame: pd.DataFrame  # "#", trial, questions, <metric>... ; means rounded to DIGITS
    fake_models: bool = False

    @property
    def empty_text(self) -> str:
        return (
            f"No trials yet in experiment '{self.experiment}' of this results file: press "
            "Run trial above, and each click adds one row here."
        )

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return f'<p class="ragbench-history">{esc(self.empty_text)}</p>'
        rows = [
            [number(v) if isinstance(v, float) else esc(v) for v in row]
            for row in self.frame.itertuples(index=False)
        ]
        note = banner("Some of these trials used FAKE MODELS.", "fake") if self.fake_models else ""
        table = _table([esc(c) for c in self.frame.columns], rows)
        return f'<div class="ragbench-history">{note}{table}</div>'

    def __repr__(self) -> str:
        if self.frame.empty:
            return self.empty_text
        return self.frame.to_string(index=False, float_format=lambda x: f"{x:.{DIGITS}f}")


def history(db: str | Path, experiment_name: str) -> History:
    """One row per trial of every run of ``experiment_name`` in ``db``, oldest first.

    Columns: ``#`` (the trial's place in the history), ``trial`` (what was chosen, see
    :func:`describe`), ``questions`` (how many were scored) and one column per metric (the mean,
    rounded). The same pipeline tried twice appears twice. A missing file is an empty history.
    """
    if not Path(db).is_file():
        return History(experiment_name, pd.DataFrame())
    store = Store(db, read_only=True)
    runs = store.runs(experiment_name)
    rows: list[dict[str, Any]] = []
    for run in runs.itertuples():
        scores = store.scores(run.run_id)
        if scores.empty:
            continue
        trials = store.trials(run.run_id)
        names = {t.trial_id: describe(json.loads(t.params_json)) for t in trials.itertuples()}
        for trial_id, part in scores.groupby("trial_id", sort=False):
            order = _metric_order(store.run_info(run.run_id), part)
            means = part.groupby("metric").value.mean().reindex(order)
            rows.append(
                {
                    "#": len(rows) + 1,
                    "trial": names.get(str(trial_id), str(trial_id)),
                    "questions": int(part.question_id.nunique()),
                    **{m: round(float(v), DIGITS) for m, v in means.items()},
                }
            )
    frame = pd.DataFrame(rows)
    return History(experiment_name, frame, bool(runs.fake_models.any()) if len(runs) else False)
