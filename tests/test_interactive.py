"""ragbench.interactive (notebook 03's logic), notebook 03 through papermill, and
``ragbench notebook run`` (ragbench.notebooks) through the CLI. Fake models throughout."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.config import CHUNKERS, EMBEDDING_PROVIDERS, RETRIEVERS, ConfigError
from ragbench.interactive import (
    DEFAULT_METRICS,
    Session,
    build_controls,
    dataset_config,
    history,
    run_trial,
    trial_config,
)
from ragbench.prompts import PROMPTS
from ragbench.store import Store

ROOT = Path(__file__).parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"
NB03 = ROOT / "notebooks" / "03-tune-interactively.ipynb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    assert controls.box() is not None


def test_trial_config_is_one_validated_trial() -> None:
    values = {"chunker": "token", "chunk_size": 128, "top_k": 2, "embedding": "local"}
    config = trial_config(values, "demo", n_questions=2, experiment_name="x", fake=True)
    assert config.sweep == {} and config.limit == 2 and config.judge_limit == 2
    assert config.base.chunking.method == "token" and config.base.chunking.chunk_size == 128
    assert config.base.embedding.provider == "hashing"  # fake replaces the embedder too
    assert config.base.generation.llm.provider == "fake" and config.base.judge.provider == "fake"
    assert config.metrics == list(DEFAULT_METRICS)
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


def test_run_trial_adds_runs_to_one_history(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    run_id, rep = run_trial(
        build_controls().values(), "demo", db, n_questions=2, experiment_name="tune", fake=True
    )
    store = Store(db)
    assert store.query("SELECT count(*) AS n FROM records WHERE run_id = ?", [run_id]).n[0] == 2
    assert rep.fake_models and (tmp_path / "tune" / "metrics.png").is_file()

    controls = build_controls()
    shown: list[object] = []
    session = Session(controls, "demo", db, 2, "tune", fake=True, show=shown.append)
    controls.button.click()
    controls.top_k.value = 4
    controls.button.click()
    assert session.error is None and len(session.runs) == 2
    runs = store.query("SELECT run_id, status FROM runs WHERE experiment = 'tune'")
    assert len(runs) == 3 and set(runs.status) == {"finished"}
    trials = store.query("SELECT DISTINCT trial_id FROM trials")
    assert len(trials) == 2  # the first click repeated run_trial's pipeline: same trial id
    hist = history(db, "tune")
    assert hist.label.nunique() == 3 and set(hist.metric) == set(DEFAULT_METRICS)
    assert any("k=4" in label for label in hist.label)
    assert (tmp_path / "tune" / "history.png").read_bytes().startswith(PNG_MAGIC)
    assert len(shown) == 4  # per click: the run's metrics chart and the history chart


def test_click_with_bad_values_reports_error(tmp_path: Path) -> None:
    controls = build_controls()
    session = Session(controls, "no-such-set", tmp_path / "r.duckdb", 2, "tune", fake=True)
    assert session.on_click() is None
    assert session.error and "no-such-set" in session.error and not session.runs


def test_notebook_03_runs_headless(tmp_path: Path) -> None:
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
    runs = store.query("SELECT status, fake_models FROM runs WHERE experiment = 'interactive'")
    assert list(runs.status) == ["finished"] and runs.fake_models.all()
    assert store.query("SELECT count(*) AS n FROM records").n[0] == 2
    assert (tmp_path / "interactive" / "history.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "interactive" / "metrics.png").read_bytes().startswith(PNG_MAGIC)
    assert "FAKE" in out.read_text()


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
