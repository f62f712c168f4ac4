"""report.load / report.report on a hand-made store: verdict marks, sentences, banners, failures,
staged notes, skipped files, HTML safety, read-only input and unwritable output folders."""

from __future__ import annotations

import builtins
import io
import os
import re
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.figure
import pandas as pd
import pytest
from typer.testing import CliRunner

from ragbench import stats
from ragbench.cli import app
from ragbench.records import Record, RunStats, ScoreRow
from ragbench.render.report import Report, load, report
from ragbench.store import Store, StoreError

pytestmark = pytest.mark.filterwarnings("error")

QUESTIONS = [f"q{i:02d}" for i in range(20)]
LABELS = {"trial-1": "top_k=1", "trial-2": "top_k=2", "trial-3": "top_k=3", "trial-4": "top_k=9"}
FAILED = ("q18", "q19")  # trial-1's faithfulness judge failed on these
SKIPPED = [["corpus/broken.pdf", "PDF has no text layer"], ["corpus/<b>x</b>.txt", "empty file"]]


def values(trial: str, metric: str, i: int) -> float | None:
    """Designed scores: hit_rate identical everywhere, trial-2 best on faithfulness with trial-1
    indistinguishable and trial-3 far behind, trial-3 clearly best on answer_relevancy; trial-4
    was pruned by staged search after 3 questions (too few to compare on hit_rate)."""
    if trial == "trial-4":
        return float(i == 2) if metric == "hit_rate" and i < 3 else None
    if metric == "hit_rate":
        return 1.0 if i % 2 == 0 else 0.0
    if metric == "faithfulness":
        if trial == "trial-1":
            return {0: 0.8, 1: 0.95, 18: None, 19: None}.get(i, 0.9)
        return 0.9 if trial == "trial-2" else 0.3 + 0.01 * (i % 3)
    return {
        "trial-1": 0.5 + 0.01 * (i % 4),
        "trial-2": 0.4 + 0.02 * (i % 3),
        "trial-3": 0.8 + 0.01 * (i % 5),
    }[trial]


def build_db(db: Path, experiment: str, fake: bool, with_scores: bool = True) -> str:
    """A finished run written through the store's own writes (no SQL here)."""
    store = Store(db)
    run_id = f"run-{experiment}"
    config = {"name": experiment, "metrics": ["hit_rate", "faithfulness", "answer_relevancy"]}
    store.start_run(run_id, experiment, config, {"llms": ["x"]}, "abc123", fake, "demo")
    no_params = SimpleNamespace(model_dump=dict)
    store.add_trials(
        run_id,
        [
            SimpleNamespace(
                trial_id=t,
                label=label,
                pipeline=no_params,
                overrides={"retrieval.top_k": int(label[-1])},
            )
            for t, label in LABELS.items()
        ],
    )
    store.set_stage(
        run_id,
        {
            "trial-1": ("answer+judge", "kept: hit_rate 0.500 in the top 3"),
            "trial-4": ("retrieval", "pruned after retrieval: hit_rate 0.333 below"),
        },
    )
    if with_scores:
        rows = []
        for trial_id in LABELS:
            for metric in ("hit_rate", "faithfulness", "answer_relevancy"):
                for i, q in enumerate(QUESTIONS):
                    v = values(trial_id, metric, i)
                    if v is None and (trial_id == "trial-4" or metric != "faithfulness"):
                        continue  # pruned: never scored
                    rows.append(
                        ScoreRow(
                            run_id,
                            trial_id,
                            q,
                            metric,
                            v,
                            None if v is not None else "judge timeout",
                        )
                    )
        records = [
            Record(
                run_id,
                t,
                q,
                f"question {q}?",
                ["passage"],
                ["doc-a"],
                None,
                "answer",
                ["doc-a"],
                0.01,
                0.2,
                0.21,
            )
            for t in LABELS
            for q in QUESTIONS
        ]
        store.write(records, rows)
    store.finish_run(run_id, "finished", stats=RunStats(skipped_files=SKIPPED))
    return run_id


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    """One fake-model run, reported with files (drawing is the slow part: done once)."""
    tmp = tmp_path_factory.mktemp("report")
    build_db(tmp / "r.duckdb", "exp", fake=True)
    return report("exp", tmp / "r.duckdb", out_dir=tmp / "out"), tmp / "out"


def row(table: str, label: str) -> str:
    (line,) = [line for line in table.splitlines() if re.match(rf"\s*{re.escape(label)}\s", line)]
    return line


def visible(html: str) -> str:
    """The text a person sees: tags and attribute values removed, entities decoded."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", " ", html))


# --- verdicts and sentences -------------------------------------------------------------------------


def test_verdicts_and_sentences(made: tuple[Report, Path]) -> None:
    rep, _ = made
    faith = rep.rankings["faithfulness"]
    assert faith.trial_id.tolist()[:3] == ["trial-2", "trial-1", "trial-3"]
    assert faith.verdict.tolist()[:3] == ["best", "tied", "worse"]
    assert rep.verdicts["hit_rate"]["trial-4"] == "too_few"
    lines = rep.sentences()
    assert (
        "faithfulness: best = top_k=2 (0.900); not significantly different: top_k=1; "
        "significantly worse: top_k=3"
    ) in lines
    assert "answer_relevancy: best = top_k=3 (0.820); all others significantly worse" in lines
    hit = next(line for line in lines if line.startswith("hit_rate"))
    assert "not significantly different: top_k=2, top_k=3" in hit
    assert f"too few shared questions to compare (< {stats.MIN_N}): top_k=9" in hit
    assert rep.best == {
        "hit_rate": "trial-1",
        "faithfulness": "trial-2",
        "answer_relevancy": "trial-3",
    }


def test_metrics_in_the_experiments_order(made: tuple[Report, Path]) -> None:
    rep, _ = made
    assert rep.metrics == ["hit_rate", "faithfulness", "answer_relevancy"]
    assert list(dict.fromkeys(rep.summary.metric)) == rep.metrics


def test_text_table_marks(made: tuple[Report, Path]) -> None:
    rep, _ = made
    assert "0.900* [" in row(rep.table, "top_k=2")
    assert row(rep.table, "top_k=1").count("*") == 1  # best on hit_rate only
    assert "0.897~ [" in row(rep.table, "top_k=1")  # tied with the best on faithfulness
    assert re.search(r"0\.333\? \[[\d.]+, [\d.]+\] n=3", row(rep.table, "top_k=9"))
    assert "failed=2" in row(rep.table, "top_k=1")
    assert repr(rep) == rep.table


def test_failures_counted_and_excluded_from_means(made: tuple[Report, Path]) -> None:
    rep, _ = made
    assert list(rep.summary.columns) == stats.SUMMARY_COLUMNS
    s = rep.summary.set_index(["trial_id", "metric"])
    assert s.loc[("trial-1", "faithfulness"), "n_failed"] == 2
    assert s.loc[("trial-1", "faithfulness"), "n"] == 18
    assert s.loc[("trial-1", "faithfulness"), "mean"] == pytest.approx((16 * 0.9 + 0.8 + 0.95) / 18)
    assert (s.drop(("trial-1", "faithfulness")).n_failed == 0).all()
    html = rep._repr_html_()
    assert "2 failed" in visible(html) and "2 failed scores (not averaged)" in visible(html)


# --- HTML --------------------------------------------------------------------------------------------


def test_html_table_marks_best_tied_and_too_few(made: tuple[Report, Path]) -> None:
    rep, _ = made
    html = rep._repr_html_()
    cells = re.findall(r"<td[^>]*>.*?</td>", html)
    best = [c for c in cells if "\u2605" in c]
    assert len(best) == 3 and all("<b>" in c for c in best)
    assert any("\u2248" in c and "0.897" in c for c in cells)  # top_k=1, faithfulness
    assert any("?" in visible(c) and "0.333" in c for c in cells)  # top_k=9, hit_rate
    assert "Significance" in html and "Holm-adjusted" in html


def test_html_shows_labels_and_rounded_numbers(made: tuple[Report, Path]) -> None:
    rep, _ = made
    text = visible(rep._repr_html_())
    for label in LABELS.values():
        assert label in text
    for trial_id in LABELS:
        assert trial_id not in text  # ids only in tooltips
    assert not re.search(r"\d\.\d{4,}", text), "unrounded number shown"


def test_fake_banner_only_when_fake(made: tuple[Report, Path], tmp_path: Path) -> None:
    fake, out = made
    build_db(tmp_path / "r.duckdb", "exp", fake=False)
    real = load(tmp_path / "r.duckdb")
    assert fake.fake_models and not real.fake_models
    assert "FAKE MODELS" in fake._repr_html_() and "FAKE" not in real._repr_html_()
    assert "WARNING: FAKE MODELS" in fake.table and "FAKE" not in real.table
    assert "fake models: YES" in (out / "report.md").read_text()
    assert "fake models: no" in real.markdown() and "FAKE" not in real.markdown()
    assert "[FAKE MODELS]" in fake.figures["metrics"].get_suptitle()
    assert "FAKE" not in real.title


def test_staged_notes_and_skipped_files_listed(made: tuple[Report, Path]) -> None:
    rep, out = made
    assert rep.stage_notes == [
        "top_k=1: kept: hit_rate 0.500 in the top 3",
        "top_k=9: pruned after retrieval: hit_rate 0.333 below",
    ]
    html, md = rep._repr_html_(), (out / "report.md").read_text()
    for text in (rep.table, visible(html), md):
        assert "pruned after retrieval" in text
        assert "corpus/broken.pdf: PDF has no text layer" in text
    assert "corpus/&lt;b&gt;x&lt;/b&gt;.txt" in html and "<b>x</b>" not in html  # escaped
    assert "Input files skipped (2)" in visible(html)


def test_user_text_is_escaped(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    store = Store(db)
    store.start_run("r1", "esc", {"metrics": ["hit_rate"]}, {}, None, False, "demo")
    store.add_trials(
        "r1",
        [
            SimpleNamespace(
                trial_id="t",
                label="<script>alert(1)</script>",
                pipeline=SimpleNamespace(model_dump=dict),
                overrides={},
            )
        ],
    )
    store.write((), [ScoreRow("r1", "t", "q1", "hit_rate", 1.0)])
    store.finish_run("r1", "failed", message="boom <img src=x onerror=alert(2)>")
    html = load(db)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "run status: failed" in html


def test_run_problems_shown_above_the_table(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    store = Store(db)
    store.start_run("r1", "p", {"metrics": ["faithfulness"]}, {}, None, False, "demo")
    trial = SimpleNamespace(
        trial_id="t", label="base", pipeline=SimpleNamespace(model_dump=dict), overrides={}
    )
    store.add_trials("r1", [trial])
    store.write((), [ScoreRow("r1", "t", "q1", "faithfulness", None, "judge returned no JSON")])
    problem = "every judged score failed (1 of 1): judge returned no JSON"
    store.finish_run("r1", "finished", problem, stats=RunStats(problems=[problem]))
    rep = load(db)
    html = rep._repr_html_()
    assert rep.problems == [problem] and f"Problems:\n  {problem}" in rep.table
    assert html.index(problem) < html.index("<table")
    assert "1 failed" in visible(html)


# --- files, read-only input, unwritable output -------------------------------------------------------


def test_report_writes_files(made: tuple[Report, Path]) -> None:
    rep, out = made
    assert rep.problems == []
    csv = pd.read_csv(out / "rankings.csv")
    assert list(csv.columns) == ["metric", *stats.RANKING_COLUMNS] and len(csv) == 4 + 3 + 3
    assert list(pd.read_csv(out / "summary.csv").columns) == stats.SUMMARY_COLUMNS
    assert {c.name for c in rep.charts} == {f"{n}.png" for n in rep.figures}
    assert all(c.read_bytes()[:4] == b"\x89PNG" for c in rep.charts)
    md = (out / "report.md").read_text()
    assert "| trial | hit_rate | faithfulness | answer_relevancy |" in md
    assert "![metrics](metrics.png)" in md and "## Rankings" in md


def test_load_reads_a_read_only_file_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    build_db(folder / "r.duckdb", "exp", fake=False)
    before = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    (folder / "r.duckdb").chmod(stat.S_IRUSR)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        rep = load(folder / "r.duckdb", experiment="exp")
        assert rep.best["faithfulness"] == "trial-2" and rep.charts == []
        assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    finally:
        folder.chmod(stat.S_IRWXU)


def deny_writes_under(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Every open-for-writing under ``folder`` fails as on a read-only mount (even as root)."""
    real_open = builtins.open

    def guarded(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike) and Path(file).resolve().is_relative_to(folder):
            if any(c in mode for c in "wax+"):
                raise PermissionError(13, "Read-only file system", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)


def test_unwritable_chart_folder_is_a_problem_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_db(tmp_path / "r.duckdb", "exp", fake=False)
    out = (tmp_path / "charts").resolve()
    out.mkdir()
    deny_writes_under(monkeypatch, out)
    rep = report("exp", tmp_path / "r.duckdb", out_dir=out)
    (problem,) = rep.problems
    assert str(out) in problem and "Read-only file system" in problem
    assert "charts" in problem and "summary.csv" in problem and "report.md" in problem
    assert rep.charts == [] and list(out.iterdir()) == []
    assert "0.900* [" in rep.table and problem in rep.table
    assert problem in visible(rep._repr_html_())


def test_output_folder_that_cannot_exist(tmp_path: Path) -> None:
    build_db(tmp_path / "r.duckdb", "exp", fake=False)
    (tmp_path / "file").write_text("x")
    rep = report("exp", tmp_path / "r.duckdb", out_dir=tmp_path / "file" / "out")
    (problem,) = rep.problems
    assert problem.startswith(f"report files not written: cannot create folder {tmp_path}")
    assert "faithfulness: best = top_k=2" in rep.table


def test_run_without_scores(tmp_path: Path) -> None:
    build_db(tmp_path / "r.duckdb", "empty", fake=False, with_scores=False)
    rep = report("empty", tmp_path / "r.duckdb", out_dir=tmp_path / "out")
    assert rep.rankings == {} and rep.charts == [] and rep.figures == {}
    assert "(no scores)" in rep.table and "(no scores)" in rep._repr_html_()
    assert pd.read_csv(tmp_path / "out" / "rankings.csv").empty


def test_lookup_errors(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with pytest.raises(StoreError, match="results file not found"):
        load(db)
    build_db(db, "exp", fake=False)
    with pytest.raises(LookupError, match="no run of experiment 'other'"):
        load(db, experiment="other")
    with pytest.raises(LookupError, match="no run nope in"):
        load(db, run_id="nope")
    with pytest.raises(LookupError, match="belongs to experiment 'exp'"):
        load(db, run_id="run-exp", experiment="other")
    assert load(db).run_id == "run-exp"  # no experiment: the file's latest run


# --- figures and show ----------------------------------------------------------------------------------


def test_figures_grouped_for_display(made: tuple[Report, Path]) -> None:
    rep, _ = made
    assert all(isinstance(f, matplotlib.figure.Figure) for f in rep.figures.values())
    # hit_rate is 0/1: no distribution chart; one swept key: no heatmap
    assert set(rep.figures) == {
        "metrics",
        "quality_vs_latency_hit_rate",
        "quality_vs_latency_faithfulness",
        "quality_vs_latency_answer_relevancy",
        "distribution_faithfulness",
        "distribution_answer_relevancy",
    }
    headings = [h for h, _ in rep.figure_groups()]
    assert headings == [
        "Overview: every metric",
        "Quality vs latency",
        "Per-question distributions",
    ]
    html = rep.html(charts=True)
    assert html.count("<details") >= 3 and html.count('src="data:image/png;base64,') == 6
    assert html.index("Overview: every metric") < html.index("Quality vs latency")


def test_cli_report_prints_table_and_problems(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    build_db(db, "exp", fake=False)
    result = CliRunner().invoke(app, ["report", "exp", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "answer_relevancy: best = top_k=3 (0.820)" in result.stdout
    assert "FAKE" not in result.stdout


def test_cli_report_on_a_corrupt_file_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    db.write_bytes(b"\0" * 8 + b"DUCK" + b"\xff" * 4000)  # right magic, garbage after it
    result = CliRunner().invoke(app, ["report", "exp", "--db", str(db)])
    assert result.exit_code != 0
    assert str(db) in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_smoke_run_end_to_end(tmp_path: Path) -> None:
    """A real (fake-model) run: report, HTML and figures come out of what run() stored."""
    from ragbench.experiment.orchestrator import run

    smoke = Path(__file__).parent / "data" / "smoke.yaml"
    result = run(smoke, db=tmp_path / "r.duckdb", limit=3, progress=False)
    rep = report(result.experiment, tmp_path / "r.duckdb", run_id=result.run_id)
    assert rep.metrics == ["hit_rate", "mrr", "faithfulness", "answer_relevancy"]
    assert "FAKE MODELS" in rep._repr_html_() and not rep.problems
    assert "heatmap_mrr" in rep.figures and len(rep.charts) == len(rep.figures)
    # labels hold commas ("chunk_size=128, top_k=2"): quoted, so lists of them stay readable
    assert re.match(r"hit_rate: best = 'chunk_size=\d+, top_k=\d'", rep.sentences()[0])


def test_a_tie_on_a_judged_metric_says_how_many_more_verdicts(tmp_path: Path) -> None:
    """Too few judged questions to separate the trials: the report says what would."""
    from ragbench.config.experiment import load_config
    from ragbench.experiment.orchestrator import run

    config = load_config(Path(__file__).parent / "data" / "smoke.yaml")
    result = run(config, db=tmp_path / "r.duckdb", progress=False)
    rep = load(tmp_path / "r.duckdb", run_id=result.run_id)
    lines = rep.more_verdicts()
    judged = [m for m in ("faithfulness", "answer_relevancy") if m in rep.rankings]
    assert judged and len(lines) == len(judged)
    assert all("no significant difference after 2 judged questions per trial" in x for x in lines)
    assert "How many more verdicts" in rep.table


# --- the computed run apart from its views -------------------------------------------------------------


def test_the_computed_run_reads_without_any_view(tmp_path: Path) -> None:
    """results.report computes everything a report says without matplotlib or a render module."""
    import json
    import subprocess
    import sys

    db = tmp_path / "r.duckdb"
    build_db(db, "exp", fake=True)
    code = (
        "import json, sys\n"
        "from ragbench.results.report import read_run\n"
        f"r = read_run({str(db)!r}, experiment='exp')\n"
        "facts = {'best': r.best, 'rows': len(r.summary), 'sentences': r.sentences(),\n"
        "    'sections': {s.key: list(s.lines) for s in r.sections()},\n"
        "    'plans': len(r.verdict_plans), 'held_out': len(r.held_out), 'note': r.method_note()}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'IPython')\n"
        "    or m.startswith(('ragbench.render', 'ragbench.notebook')))\n"
        "print(json.dumps({'facts': facts, 'loaded': loaded}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert found["loaded"] == []
    facts = found["facts"]
    assert facts["best"] == {
        "hit_rate": "trial-1",
        "faithfulness": "trial-2",
        "answer_relevancy": "trial-3",
    }
    assert facts["rows"] == 10 and facts["plans"] == 0 and facts["held_out"] == 0
    assert list(facts["sections"]) == [
        "budget",
        "staged",
        "more_verdicts",
        "labels",
        "ppi",
        "more_labels",
        "held_out",
        "problems",
        "skipped",
    ]
    assert facts["sections"]["skipped"] == [f"{path}: {why}" for path, why in SKIPPED]
    view = load(db, experiment="exp")
    assert facts["sentences"] == view.sentences() and facts["note"] == view.method_note()


def test_a_new_kind_of_section_is_drawn_by_every_view(made: tuple[Report, Path]) -> None:
    """A section computed in results (here a table with no lines) shows in HTML, text and
    markdown without any change to render: what issue 20's sections rely on."""
    from ragbench.render.sections import section_html, section_markdown, section_text
    from ragbench.results.sections import Section

    section = Section(
        "labels", "How many labels", note="a <note>", columns=("metric", "labels"), rows=(("f", 3),)
    )
    html = section_html(section)
    assert "How many labels" in html and "a &lt;note&gt;" in html and "<td" in html
    assert section_text(section) == [
        "",
        "How many labels: a <note>",
        "  metric  labels",
        "  f       3",
    ]
    assert "| metric | labels |\n|---|---|\n| f | 3 |\n" in section_markdown(section)
    empty = Section("none", "Nothing")
    assert not section_html(empty) and not section_text(empty) and not section_markdown(empty)
    rep, _ = made
    assert rep.section("skipped").title == f"Input files skipped ({len(SKIPPED)})"
    with pytest.raises(KeyError, match="no report section 'nope'"):
        rep.section("nope")
