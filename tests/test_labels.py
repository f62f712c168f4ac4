"""People's labels of judged items: the store rows, the seeded sample, the rules, resume, CSV
import / export (and their CLI), the labelling panel and notebook 06.

One fake-model run (the smoke dataset's 25 demo questions, two trials, faithfulness and answer
correctness judged by the fake judge, which scores every answer 1.0) is shared read-only; each
test that writes labels works on its own copy of the file.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import fake_experiment
from typer.testing import CliRunner

import ragbench
from ragbench import metrics
from ragbench.cli import app
from ragbench.config.experiment import parse_config
from ragbench.records import ScoreRow
from ragbench.results import labels as lb
from ragbench.results.label_csv import EXPORT_COLUMNS, export_sample, import_labels
from ragbench.results.labelling import LabelSession
from ragbench.store import Store
from ragbench.store import labels as store_labels
from ragbench.store import store as store_module

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished fake-model run: 2 trials x 25 questions, faithfulness + answer_correctness."""
    db = tmp_path_factory.mktemp("labels") / "run.duckdb"
    config = parse_config(
        fake_experiment(
            name="lbl",
            dataset={"loader": "demo"},
            sweep={"retrieval.top_k": [2, 3]},
            metrics=["hit_rate", "faithfulness", "answer_correctness"],
        ),
        source="test",
    )
    result = ragbench.run(config, db=db, progress=False)
    return db, result.run_id


@pytest.fixture
def run(judged_run: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A writable copy of the judged run's file."""
    db, run_id = judged_run
    return Path(shutil.copy(db, tmp_path / "run.duckdb")), run_id


def open_session(db: Path, n: int | None = 10, **kw: Any) -> LabelSession:
    return LabelSession.open(db, experiment="lbl", labeller=kw.pop("labeller", "ana"), n=n, **kw)


# --- specs and constants --------------------------------------------------------------------------


def test_labellable_metrics_are_declared_in_their_specs() -> None:
    assert metrics.names("labelled") == ("faithfulness", "answer_correctness")
    assert metrics.label_spec("faithfulness").yes == "Supported"
    assert metrics.label_spec("answer_correctness").no == "Not correct"
    assert metrics.label_spec("answer_correctness").needs_reference
    with pytest.raises(ValueError, match="takes no human labels; labellable metrics: faith"):
        metrics.label_spec("answer_relevancy")
    assert metrics.label_metric("faithfulness") == "human:faithfulness"
    assert metrics.labelled_metric("human:faithfulness") == "faithfulness"
    assert metrics.labelled_metric("faithfulness") is None
    # the store spells the prefix itself (it imports no metric table): the same one
    assert store_module.HUMAN == metrics.HUMAN


# --- the sample -----------------------------------------------------------------------------------


def test_sample_is_seeded_paired_round_robin_and_nested(judged_run: tuple[Path, str]) -> None:
    db, run_id = judged_run
    store = Store(db, read_only=True)
    items = lb.judged_items(store, run_id, "faithfulness")
    assert len(items) == 50 and all(i.judge_value == 1.0 and i.verdict for i in items)
    sample = lb.sample_items(items, 10, seed=0)
    assert [i.trial_label for i in sample] == ["top_k=2", "top_k=3"] * 5  # round robin
    pairs = [sample[k : k + 2] for k in range(0, 10, 2)]
    assert all(a.question_id == b.question_id for a, b in pairs)  # paired: the same question
    assert len({a.question_id for a, _ in pairs}) == 5
    assert lb.sample_items(items, 10, seed=0) == sample  # seeded
    assert lb.sample_items(items, 10, seed=1) != sample
    assert lb.sample_items(items, 20, seed=0)[:10] == sample  # a larger n extends a smaller one
    assert lb.sample_items(items, None) == lb.sample_items(items, 50)
    questions = [i.question_id for i in sample[::2]]
    assert questions != sorted(questions)  # shuffled, not in id order
    with pytest.raises(lb.LabelError, match="n must be at least 1"):
        lb.sample_items(items, 0)


def test_a_trial_missing_a_question_is_skipped_in_the_round(judged_run: tuple[Path, str]) -> None:
    db, run_id = judged_run
    items = lb.judged_items(Store(db, read_only=True), run_id, "faithfulness")
    gone = lb.sample_items(items, 1)[0].question_id
    fewer = [i for i in items if not (i.trial_label == "top_k=2" and i.question_id == gone)]
    first = lb.sample_items(fewer, 3)
    assert [(i.trial_label, i.question_id == gone) for i in first][0] == ("top_k=3", True)
    assert first[1].trial_label == "top_k=2" and first[1].question_id != gone


def test_no_judged_item_or_an_unlabellable_metric_is_one_line(run: tuple[Path, str]) -> None:
    db, _ = run
    with pytest.raises(lb.LabelError, match="takes no human labels"):
        open_session(db, metric="answer_relevancy")
    with pytest.raises(lb.LabelError, match="no judged hit_rate|takes no human labels"):
        open_session(db, metric="hit_rate")
    with pytest.raises(LookupError, match="no run of experiment 'nope'"):
        LabelSession.open(db, experiment="nope")
    with pytest.raises(ValueError, match="results file not found"):
        LabelSession.open(db.parent / "missing.duckdb")
    assert not (db.parent / "missing.duckdb").exists()  # never created empty


# --- store round trip, rules, relabelling ---------------------------------------------------------


def test_labels_round_trip_as_score_rows_left_out_of_scores(run: tuple[Path, str]) -> None:
    db, run_id = run
    store = Store(db)
    ok_before = store.score_counts(run_id)
    session = open_session(db)
    item = session.items[0]
    session.label(0, True)
    session.label(1, False, reason="the date is not in any passage")
    rows = store.query(
        "SELECT trial_id, question_id, metric, value, details FROM scores "
        "WHERE run_id = ? AND metric LIKE 'human:%' ORDER BY value DESC",
        [run_id],
    )
    assert rows.metric.tolist() == ["human:faithfulness"] * 2
    assert rows.value.tolist() == [1.0, 0.0]
    assert (rows.trial_id.iloc[0], rows.question_id.iloc[0]) == item.key
    details = json.loads(rows.details.iloc[1])
    assert details["labeller"] == "ana" and details["reason"] == "the date is not in any passage"
    assert details["judge_value"] == 1.0 and details["judge_verdict"] == 1
    assert details["threshold"] == 1.0 and details["labelled_at"] and details["history"] == []
    # a label is not a score of a trial: reports, gates and diffs never average it
    assert not store.scores(run_id).metric.str.startswith("human:").any()
    assert store.score_counts(run_id) == ok_before
    read = lb.read_labels(store, run_id)
    assert list(read.columns) == list(lb.LABEL_COLUMNS)
    assert sorted(read.value) == [0.0, 1.0] and set(read.metric) == {"faithfulness"}
    assert set(read.labeller) == {"ana"}


def test_disagreeing_needs_a_reason_and_a_label_needs_a_labeller(run: tuple[Path, str]) -> None:
    db, run_id = run
    session = open_session(db)
    with pytest.raises(lb.LabelError) as exc:
        session.label(0, False, reason="   ")
    message = str(exc.value)
    assert "'Not supported' disagrees with the judge ('Supported', score 1.000" in message
    assert "type why in the reason" in message and "\n" not in message
    nobody = lb.NewLabel(session.items[0], True, labeller=" ")
    with pytest.raises(lb.LabelError, match="say who labels"):
        lb.record_labels(Store(db), run_id, [nobody])
    assert lb.read_labels(Store(db), run_id).empty  # nothing written
    session.label(0, True)  # agreeing needs no reason
    assert session.n_labelled == 1


def test_relabelling_replaces_the_row_and_keeps_the_history(run: tuple[Path, str]) -> None:
    db, run_id = run
    session = open_session(db)
    session.label(0, True)
    other = open_session(db, labeller="bo")
    other.label(0, False, reason="second look: one claim is unsupported")
    other.label(0, False, reason="third look")
    labels = lb.read_labels(Store(db), run_id)
    assert len(labels) == 1 and labels.labeller.iloc[0] == "bo" and labels.value.iloc[0] == 0.0
    details = json.loads(
        Store(db)
        .query(
            "SELECT details FROM scores WHERE run_id = ? AND metric = 'human:faithfulness'",
            [run_id],
        )
        .details.iloc[0]
    )
    assert details["reason"] == "third look"
    history = details["history"]
    assert [(h["labeller"], h["label"]) for h in history] == [("ana", 1), ("bo", 0)]
    assert history[1]["reason"] == "second look: one claim is unsupported"
    assert all("history" not in h for h in history)  # flat, oldest first


def test_a_session_resumes_where_it_stopped(run: tuple[Path, str]) -> None:
    db, _ = run
    first = open_session(db)
    assert first.progress() == "0 of 10 labelled" and first.first_unlabelled() == 0
    for k in (0, 1, 2):
        first.label(k, True)
    again = open_session(db)  # another session, e.g. the notebook re-run tomorrow
    assert again.progress() == "3 of 10 labelled"
    assert again.first_unlabelled() == 3 and again.items == first.items
    assert again.next_unlabelled(2) == 3 and again.next_unlabelled(9) == 3  # wraps round
    assert again.label_of(1) is not None and again.label_of(3) is None
    for k in range(3, 10):
        again.label(k, True)
    assert again.first_unlabelled() is None and again.progress() == "10 of 10 labelled"


def test_a_view_shows_the_whole_item(judged_run: tuple[Path, str]) -> None:
    db, run_id = judged_run
    session = open_session(db, read_only=True)
    view = session.view(0)
    record = Store(db, read_only=True).records(run_id, [view.item.question_id])
    mine = next(r for r in record if r.trial_id == view.item.trial_id)
    assert view.user_input == mine.user_input and view.response == mine.response
    assert [text for _, text in view.passages] == mine.retrieved_contexts  # whole, in order
    assert view.cited == [1]  # the fake LLM cites its first source
    assert view.trace and view.error is None


def test_judge_check_labels_read_as_faithfulness_labels(tmp_path: Path) -> None:
    """A judge check's human_label rows (BEGIN or a CSV) are faithfulness labels too."""
    store = Store(tmp_path / "old.duckdb")
    store.write(
        scores=[
            ScoreRow("r", "t", "q1", "faithfulness", 0.9),
            ScoreRow("r", "t", "q1", "human_label", 1.0),
            ScoreRow("r", "t", "q2", "human_label", 0.0),
        ]
    )
    found = lb.read_labels(store, "r")
    assert found[["question_id", "metric", "value", "labeller"]].values.tolist() == [
        ["q1", "faithfulness", 1.0, "judge check"],
        ["q2", "faithfulness", 0.0, "judge check"],
    ]
    raw = store_labels.read_labels(store, "r")
    assert set(raw.metric) == {"human:faithfulness"}
    # the rows themselves are untouched: the judge check still reads human_label
    kept = store.query("SELECT metric FROM scores WHERE run_id = 'r' ORDER BY metric")
    assert kept.metric.tolist() == ["faithfulness", "human_label", "human_label"]


# --- CSV export and import ------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(
    path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] | None = None
) -> Path:
    columns = columns or tuple(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_export_writes_the_sample_and_import_reads_it_back(
    run: tuple[Path, str], tmp_path: Path
) -> None:
    db, run_id = run
    open_session(db).label(0, True)  # one labelled in the panel already
    out = tmp_path / "sample.csv"
    result = export_sample(db, out, run_id=run_id, n=6)
    assert result.n == 6 and result.labelled == 1 and "ragbench label import" in result.line()
    rows = read_csv(out)
    assert tuple(rows[0]) == EXPORT_COLUMNS
    session = open_session(db, n=6)
    assert [(r["trial_id"], r["question_id"]) for r in rows] == [i.key for i in session.items]
    first = rows[0]
    assert first["label"] == "Supported" and first["labeller"] == "ana"
    assert first["judge_verdict"] == "Supported" and first["judge_score"] == "1.000"
    assert first["passages"].startswith("[1] (cited) ") and "\n\n[2] " in first["passages"]
    assert first["question"] and first["answer"] and first["run_id"] == run_id
    assert "supported" in first["judge_reasons"]
    # a person fills in the rest in a spreadsheet
    for k, row in enumerate(rows[1:], start=1):
        row.update(label="not supported" if k == 2 else "1", labeller="cy")
        row["reason"] = "the answer adds a year" if k == 2 else ""
    rows[5]["label"] = ""  # not labelled yet
    write_csv(out, rows)
    imported = import_labels(db, out)  # the run from the file's run_id column
    assert (imported.run_id, imported.written, imported.skipped) == (run_id, 4, 1)
    assert imported.unchanged == 1 and imported.replaced == 0  # row 1: ana's label, as exported
    labels = lb.read_labels(Store(db), run_id).set_index(["trial_id", "question_id"])
    assert len(labels) == 5
    assert labels.loc[session.items[2].key, "value"] == 0.0
    assert labels.loc[session.items[2].key, "reason"] == "the answer adds a year"
    assert labels.loc[session.items[0].key, "labeller"] == "ana"  # row 1 unchanged: ana's label
    again = import_labels(db, out, run_id=run_id)  # the same file twice changes nothing
    assert (again.written, again.unchanged) == (0, 5)
    rows[3]["label"] = "0"
    rows[3]["reason"] = "checked again"
    write_csv(out, rows)
    third = import_labels(db, out, run_id=run_id)  # a changed row replaces, keeps the history
    assert (third.written, third.replaced, third.unchanged) == (1, 1, 4)
    assert len(lb.read_labels(Store(db), run_id)) == 5


def good_row(session: LabelSession, k: int = 0, **changes: str) -> dict[str, str]:
    item = session.items[k]
    row = {
        "trial": item.trial_label,
        "question_id": item.question_id,
        "metric": "faithfulness",
        "label": "supported",
        "labeller": "dee",
        "reason": "",
    }
    return row | changes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trial": "top_k=9"}, "row 2: run .* has no trial 'top_k=9'"),
        ({"question_id": "q99"}, "row 2: question 'q99' has no judged faithfulness score"),
        ({"metric": "answer_relevancy"}, "row 2: metric 'answer_relevancy' takes no labels"),
        ({"label": "maybe"}, "row 2: label 'maybe' is not one of supported/1/true/yes/not"),
        ({"label": "correct"}, "row 2: label 'correct' is not one of"),
        ({"labeller": ""}, "row 2: label of .*: say who labels"),
        ({"label": "0"}, "row 2: label of .*'Not supported' disagrees with the judge"),
    ],
)
def test_a_bad_row_is_one_error_line_naming_it_and_nothing_is_written(
    run: tuple[Path, str], tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    db, run_id = run
    session = open_session(db)
    path = write_csv(
        tmp_path / "labels.csv", [good_row(session, 0), good_row(session, 1, **changes)]
    )
    result = runner.invoke(app, ["label", "import", str(path), "--db", str(db), "--run", run_id])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ")
    assert re.search(message, lines[0]), lines[0]
    assert lb.read_labels(Store(db), run_id).empty  # row 1 was good, but nothing is written


def test_import_file_errors_are_one_line(run: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run
    session = open_session(db)

    def fails(path: Path, *extra: str) -> str:
        result = runner.invoke(app, ["label", "import", str(path), "--db", str(db), *extra])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1
        return result.output

    assert "labels file not found" in fails(tmp_path / "none.csv")
    short = write_csv(tmp_path / "short.csv", [{"trial": "x", "label": "1"}])
    assert "missing column(s) question_id, metric, labeller, reason" in fails(short)
    twice = write_csv(tmp_path / "twice.csv", [good_row(session, 0), good_row(session, 0)])
    assert "row 2: the same item as row 1" in fails(twice)
    other = write_csv(tmp_path / "other.csv", [good_row(session, 0) | {"run_id": "run-x"}])
    assert "its run_id column says run-x, not --run" in fails(other, "--run", run_id)
    binary = tmp_path / "sheet.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "not a UTF-8 text file" in fails(binary)
    missing_db = runner.invoke(
        app, ["label", "import", str(short), "--db", str(tmp_path / "no.duckdb")]
    )
    assert missing_db.exit_code == 2 and "results file not found" in missing_db.output


def test_cli_export_and_import(run: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run
    out = tmp_path / "s.csv"
    result = runner.invoke(
        app, ["label", "export", "--run", run_id, "--n", "4", "--out", str(out), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote 4 items of run {run_id}" in result.output
    rows = read_csv(out)
    for row in rows:
        row.update(label="Supported", labeller="eve")
    write_csv(out, rows)
    result = runner.invoke(app, ["label", "import", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"imported 4 label(s) into run {run_id}" in result.output
    bad = runner.invoke(
        app, ["label", "export", "--out", str(out), "--db", str(db), "--metric", "mrr"]
    )
    assert bad.exit_code == 2 and "takes no human labels" in bad.output
    unwritable = runner.invoke(
        app, ["label", "export", "--out", str(tmp_path / "no" / "s.csv"), "--db", str(db)]
    )
    assert unwritable.exit_code == 2 and "cannot write" in unwritable.output
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".s.csv")] == []


# --- the panel and notebook 06 --------------------------------------------------------------------


def test_panel_labels_by_clicks_and_resumes(run: tuple[Path, str]) -> None:
    from ragbench.notebook.labelling import LabelPanel

    db, run_id = run
    panel = LabelPanel(db, experiment="lbl", labeller="fay", n=6)
    assert panel.position == 0 and "0 of 6 labelled" in panel.header.value
    assert panel.yes_button.description == "Supported"
    assert panel.no_button.description == "Not supported"
    assert "Is every claim of the answer supported" in panel.card.value
    assert "cited" in panel.card.value and "the judge's reasons" in panel.card.value
    assert panel.prev_button.disabled
    panel.yes_button.click()
    assert panel.position == 1 and "1 of 6 labelled" in panel.header.value
    assert "labelled" in panel.message.value
    panel.no_button.click()  # disagreeing with the judge, no reason typed
    assert "type why in the reason" in panel.message.value and panel.position == 1
    panel.reason.value = "the passage gives another date"
    panel.no_button.click()
    assert panel.position == 2 and panel.reason.value == ""
    panel.skip_button.click()
    assert panel.position == 3
    panel.prev_button.click()
    panel.prev_button.click()
    assert panel.position == 1 and "the passage gives another date" in panel.card.value
    labels = lb.read_labels(Store(db), run_id)
    assert sorted(labels.value) == [0.0, 1.0] and set(labels.labeller) == {"fay"}
    again = LabelPanel(db, experiment="lbl", labeller="fay", n=6)  # reopened: resumes
    assert again.position == 2 and "2 of 6 labelled" in again.header.value
    bundle = again._repr_mimebundle_()
    assert "ragbench-label-card" in bundle["text/html"]
    assert bundle["text/plain"].endswith("item 3 (2 of 6 labelled)")


def test_notebook_06_runs_and_shows_the_panel(judged_run: tuple[Path, str], tmp_path: Path) -> None:
    import nbformat
    import papermill as pm

    db = Path(shutil.copy(judged_run[0], tmp_path / "r.duckdb"))
    out = tmp_path / "06.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "06-label-judged.ipynb"),
        str(out),
        parameters={"db": str(db), "experiment": "lbl", "labeller": "tester", "n": 8},
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=300,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] in ("error", "stream")]
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "0 of 8 labelled" in html and "ragbench-label-card" in html
    assert "faithfulness: judge only: no labels" in html and "06-label-judged.ipynb" in html
    assert str(tmp_path) not in html and "Warning" not in html


def test_the_labels_of_a_run_are_its_own(run: tuple[Path, str]) -> None:
    db, run_id = run
    open_session(db).label(0, True)
    assert lb.read_labels(Store(db), "another-run").empty
    long = lb.label_rows(lb.read_labels(Store(db), run_id))
    assert list(long.columns) == ["trial_id", "question_id", "metric", "value"] and len(long) == 1
