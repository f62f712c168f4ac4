"""ragbench.notebook.tuning and ragbench.notebook.trial_view (notebook 03's logic), notebook 03 through papermill,
and ``ragbench notebook run`` (ragbench.notebook.papermill) through the CLI. Fake models throughout."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import papermill as pm
import pytest
from typer.testing import CliRunner

import ragbench.notebook.tuning as interactive
from ragbench.cli import app
from ragbench.config.experiment import (
    CHUNKERS,
    EMBEDDING_PROVIDERS,
    RETRIEVERS,
    ConfigError,
    expand,
)
from ragbench.notebook.trial_view import QuestionResult, TrialResult
from ragbench.notebook.tuning import (
    DEFAULT_METRICS,
    Session,
    build_controls,
    dataset_config,
    history,
    progress_text,
    run_trial,
    trial_config,
)
from ragbench.pipeline.prompts import PROMPTS
from ragbench.records import Progress, Record
from ragbench.store import Store

ROOT = Path(__file__).parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"
NB03 = ROOT / "notebooks" / "03-tune-interactively.ipynb"
STDERR = "stderr"


def test_controls_offer_every_registered_component() -> None:
    controls = build_controls()
    assert tuple(controls.chunker.options) == CHUNKERS
    assert tuple(controls.embedding.options) == EMBEDDING_PROVIDERS
    assert tuple(controls.retriever.options) == RETRIEVERS
    assert tuple(controls.prompt.options) == tuple(PROMPTS)
    values = controls.values()
    assert set(values) == {
        "chunker",
        "chunk_size",
        "chunk_overlap",
        "embedding",
        "retriever",
        "top_k",
        "prompt",
    }
    assert values["chunker"] in CHUNKERS and values["retriever"] in RETRIEVERS
    assert controls.box() is not None and not controls.button.disabled


def test_trial_config_is_one_validated_trial_named_by_the_choice() -> None:
    values = {"chunker": "token", "chunk_size": 128, "top_k": 2, "embedding": "local"}
    config = trial_config(values, "demo", n_questions=2, experiment_name="x", fake=True)
    assert config.sweep == {} and config.limit == 2 and config.judge_limit == 2
    assert config.base.chunking.method == "token" and config.base.chunking.chunk_size == 128
    assert config.base.embedding.provider == "hashing"  # fake replaces the embedder too
    assert config.base.generation.llm.provider == "fake" and config.base.judge.provider == "fake"
    assert config.metrics == list(DEFAULT_METRICS)
    (trial,) = expand(config)
    assert trial.label == "token 128/32, hashing, dense k=2, default"
    with pytest.raises(ConfigError, match="chunker"):
        trial_config({"chunker": "sentense"}, "demo", 2, "x", fake=True)
    with pytest.raises(ConfigError, match="did you mean 'top_k'"):
        trial_config({"top_kk": 2}, "demo", 2, "x", fake=True)


def test_dataset_choices(tmp_path: Path) -> None:
    assert dataset_config("demo").loader == "demo"
    (tmp_path / "corpus").mkdir()
    assert dataset_config(str(tmp_path)).loader == "qa-folder"
    assert dataset_config({"loader": "demo"}).loader == "demo"
    with pytest.raises(ConfigError, match="not a loader name"):
        dataset_config("no-such-set")


def test_run_trial_shows_answers_citations_and_passages(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    result = run_trial(
        build_controls().values(), "demo", db, n_questions=2, experiment_name="tune", fake=True
    )
    assert isinstance(result, TrialResult) and result.fake_models
    assert result.label == "sentence 256/32, hashing, dense k=3, default"
    assert [q.record.question_id for q in result.questions] == ["q01", "q02"]
    assert list(result.summary.metric) == list(DEFAULT_METRICS)
    assert (result.summary.n + result.summary.n_failed == 2).all()
    first = result.questions[0]
    assert first.record.response and len(first.record.retrieved_doc_ids) == 3
    assert set(first.scores) == set(DEFAULT_METRICS)
    page = result._repr_html_()
    assert "FAKE MODELS" in page and result.label in page
    assert first.record.user_input in page and "cited sources" in page
    assert first.record.retrieved_doc_ids[0] in page and "retrieved passage" in page
    assert result.run_id not in page  # labels, not ids
    text = repr(result)
    assert result.label in text and first.record.question_id in text


def test_clicks_add_rows_to_one_wide_history(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    controls = build_controls()
    shown: list[Any] = []
    session = Session(controls, "demo", db, 2, "tune", fake=True, show=shown.append)
    statuses: list[str] = []
    controls.status.observe(lambda change: statuses.append(change["new"]), names="value")
    controls.button.click()
    assert any(s.startswith("retrieval: question 1 of 2 \u00b7 ") for s in statuses), statuses
    assert any(s.startswith("answer+judge: question 2 of 2 \u00b7 ") for s in statuses)
    controls.button.click()  # the second click of a double click: dropped
    assert len(session.runs) == 1
    controls.top_k.value = 4
    session._finished -= 1.0  # as if a person looked at the result for a second
    controls.button.click()
    assert session.error is None and len(session.runs) == 2
    assert not controls.button.disabled and controls.button.description == "Run trial"
    assert controls.status.value.startswith("done: 2 question(s) in ")
    assert [type(x).__name__ for x in shown] == ["TrialResult", "History"] * 2
    hist = history(db, "tune")
    frame = hist.frame
    assert list(frame.columns) == ["#", "trial", "questions", *DEFAULT_METRICS]
    assert list(frame.trial) == [
        "sentence 256/32, hashing, dense k=3, default",
        "sentence 256/32, hashing, dense k=4, default",
    ]
    assert list(frame["#"]) == [1, 2] and list(frame.questions) == [2, 2]
    assert all(round(v, 3) == v for v in frame.hit_rate)
    page = hist._repr_html_()
    assert "k=4" in page and "FAKE MODELS" in page
    assert not any(run_id in page or run_id in repr(hist) for run_id in session.runs)
    runs = Store(db).runs("tune")
    assert list(runs.status) == ["finished", "finished"]


def test_empty_history_explains_itself(tmp_path: Path) -> None:
    for hist in (history(tmp_path / "missing.duckdb", "tune"), _empty_file_history(tmp_path)):
        assert hist.frame.empty
        assert repr(hist).startswith("No trials yet in experiment 'tune' of this results file")
        assert "No trials yet in experiment &#x27;tune&#x27;" in hist._repr_html_()
        assert "press Run trial" in repr(hist) and "<table" not in hist._repr_html_()


def _empty_file_history(tmp_path: Path) -> Any:
    db = tmp_path / "other.duckdb"
    run_trial({}, "demo", db, n_questions=1, experiment_name="elsewhere", fake=True)
    return history(db, "tune")


def test_button_disabled_while_running_and_reenabled_after_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls = build_controls()
    seen: list[tuple[bool, str]] = []

    def failing_run(*args: Any, on_progress: Any = None, **kwargs: Any) -> TrialResult:
        seen.append((controls.button.disabled, controls.button.description))
        on_progress(Progress("retrieval", 1, 3, "a trial", 0.5))
        seen.append((controls.bar.value, controls.status.value))
        controls.button.click()  # a second click while running is ignored
        raise ConfigError("chunk_overlap 300 must be smaller than chunk_size 256")

    monkeypatch.setattr(interactive, "run_trial", failing_run)
    session = Session(controls, "demo", tmp_path / "r.duckdb", 3, "tune", fake=True)
    assert session.on_click() is None
    assert seen[0] == (True, "Running\u2026")
    assert seen[1][0] == 1 and "retrieval: question 1 of 3" in seen[1][1]
    assert len(seen) == 2  # the click during the run did not start a second run
    assert session.error == "chunk_overlap 300 must be smaller than chunk_size 256"
    assert not controls.button.disabled and controls.button.description == "Run trial"
    assert "error: chunk_overlap 300" in controls.status.value
    assert controls.bar.layout.visibility == "hidden"


def test_panel_names_the_answer_stage_before_the_first_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the model answers and judges, the progress line says so (not "retrieval: 2 of 2")."""
    from ragbench.models import FakeLLM

    controls = build_controls()
    shown: list[str] = []  # the progress line each time the fake model is asked something
    complete = FakeLLM.complete

    def noted(self: FakeLLM, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        shown.append(controls.status.value)
        return complete(self, prompt, formatted, **kwargs)

    monkeypatch.setattr(FakeLLM, "complete", noted)
    session = Session(controls, "demo", tmp_path / "r.duckdb", 2, "tune", fake=True)
    assert session.on_click() is not None and session.error is None
    assert re.fullmatch(r"answer\+judge: question 0 of 2 \u00b7 \d+\.\d s", shown[0]), shown[0]
    assert all(s.startswith("answer+judge: question ") for s in shown)


def test_click_with_bad_dataset_reports_one_line(tmp_path: Path) -> None:
    controls = build_controls()
    session = Session(controls, "no-such-set", tmp_path / "r.duckdb", 2, "tune", fake=True)
    assert session.on_click() is None
    assert session.error and "no-such-set" in session.error and not session.runs
    assert "\n" not in session.error and not controls.button.disabled


def test_progress_text() -> None:
    assert progress_text("answer+judge", 2, 3, 4.05) == "answer+judge: question 2 of 3 \u00b7 4.0 s"
    assert progress_text("starting", 0, 0, 0.0) == "starting \u00b7 0.0 s"


def test_trial_result_escapes_user_text() -> None:
    record = Record(
        "run",
        "t1",
        "q<1>",
        "Is <b>this</b> bold?",
        ["<script>x</script>"],
        ["doc&1"],
        response="<img src=x>",
        cited_doc_ids=["doc&1"],
    )
    result = TrialResult(
        "run",
        "a <label>",
        False,
        ["hit_rate"],
        pd.DataFrame([{"metric": "hit_rate", "mean": 1.0, "n": 1, "n_failed": 0}]),
        [QuestionResult(record, {"hit_rate": 1.0}, {})],
    )
    page = result._repr_html_()
    for raw in ("<b>this</b>", "<script>", "<img", "<label>", "doc&1"):
        assert raw not in page
    assert "&lt;img src=x&gt;" in page and "doc&amp;1" in page


def _two_passages_of_one_document(long: str) -> TrialResult:
    record = Record(
        "run",
        "t1",
        "q1",
        "When does the pier reopen?",
        ["The pier closed in May.", long],
        ["pier.md", "pier.md"],
        response="It reopens in March [2].",
        cited_doc_ids=["pier.md"],
    )
    summary = pd.DataFrame([{"metric": "hit_rate", "mean": 1.0, "n": 1, "n_failed": 0}])
    return TrialResult(
        "run", "a", False, ["hit_rate"], summary, [QuestionResult(record, {"hit_rate": 1.0}, {})]
    )


def test_trial_result_ticks_the_cited_passage_and_shows_every_passage_whole() -> None:
    long = " ".join(f"Sentence {k} of the pier notice says it reopens in March." for k in range(25))
    assert len(long) > 1200
    page = _two_passages_of_one_document(long)._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("retrieved passage(s)")[1], re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows if "<td" in row]
    assert [c[0] for c in cells] == ["1", "2"] and [c[1] for c in cells] == ["pier.md"] * 2
    assert [c[2] for c in cells] == ["", "\u2713"]  # the answer cites [2]: passage 2 only
    body = re.sub(r"<summary>.*?</summary>", "", cells[1][3], flags=re.S)
    assert long in html_lib.unescape(re.sub(r"<[^>]+>", "", body))  # whole, not on hover
    assert "title=" not in cells[1][3]


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_notebook_03_runs_headless_without_stderr(tmp_path: Path) -> None:
    db = tmp_path / "nb.duckdb"
    out = tmp_path / "03.ipynb"
    pm.execute_notebook(
        str(NB03),
        str(out),
        parameters={"db": str(db), "n_questions": 2, "fake": True, "autorun": True},
        cwd=str(NB03.parent),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=300,  # a hung cell fails the test instead of blocking the suite
    )
    store = Store(db)
    runs = store.runs("interactive")
    assert list(runs.status) == ["finished"] and runs.fake_models.all()
    assert len(store.records(runs.run_id.iloc[0])) == 2
    nb = nbformat.read(out, as_version=4)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.get("name") == STDERR], "stderr in notebook 03"
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "ragbench-trial" in html and "ragbench-history" in html and "FAKE MODELS" in html
    assert "Warning" not in json.dumps(outputs) and str(tmp_path) not in html


def test_notebook_run_command(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    result = CliRunner().invoke(
        app, ["notebook", "run", str(SMOKE), "--limit", "3", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    executed = tmp_path / "smoke" / "01-run-experiment.ipynb"
    assert str(executed) in result.output
    nb = nbformat.read(executed, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert str(SMOKE) in injected[0].source and str(db) in injected[0].source
    assert Store(db).query("SELECT count(*) AS n FROM records").n[0] == 4 * 3  # 4 trials x 3


def test_notebook_run_bad_experiment(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["notebook", "run", str(tmp_path / "missing.yaml"), "--db", str(tmp_path / "r.duckdb")]
    )
    assert result.exit_code != 0
    assert result.stderr.startswith("error: experiment file not found")


def test_notebook_run_failing_cell_is_named(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "experiment = limit = db = None", metadata={"tags": ["parameters"]}
            ),
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("raise ValueError('broken on purpose\\nsecond line')"),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    db = tmp_path / "r.duckdb"
    result = CliRunner().invoke(
        app, ["notebook", "run", str(SMOKE), "--db", str(db), "--notebook", str(path)]
    )
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: broken.ipynb failed in cell")
    assert "raise ValueError" in lines[0] and "broken on purpose second line" in lines[0]
    assert (tmp_path / "smoke" / "broken.ipynb").is_file()  # the executed copy, with traceback
