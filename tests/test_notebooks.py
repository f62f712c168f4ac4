"""Every notebook in notebooks/ is executed headlessly by papermill against the smoke experiment."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest
from conftest import FAKE_MODELS, write_fake_experiment

from ragbench.store import Store

ROOT = Path(__file__).parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"


def test_run_experiment_notebook(tmp_path: Path) -> None:
    db = tmp_path / "nb.duckdb"
    out = tmp_path / "01-run-experiment.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "01-run-experiment.ipynb"),
        str(out),
        parameters={"experiment": str(SMOKE), "db": str(db)},
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
    )
    store = Store(db)
    runs = store.query("SELECT run_id, status, fake_models FROM runs")
    assert list(runs.status) == ["finished"] and runs.fake_models.all()
    n_records = store.query("SELECT count(*) AS n FROM records").n.iloc[0]
    assert n_records == 4 * 8  # 4 trials x limit 8
    assert (tmp_path / "smoke" / "metrics.png").stat().st_size > 10_000
    assert "FAKE" in out.read_text()


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name
)
def test_notebooks_committed_without_outputs(notebook: Path) -> None:
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1


# --- secrets never stay in an executed notebook --------------------------------------------------

NB_KEY = "sk-notebook-test-8d1f2a"


def _tiny_notebook(path: Path, body: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('experiment = ""\nlimit = None\ndb = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _secret_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGBENCH_NB_TEST_KEY", NB_KEY)
    llm = {"provider": "fake", "api_key_env": "RAGBENCH_NB_TEST_KEY"}
    return write_fake_experiment(
        tmp_path / "nbsecret.yaml", name="nbsecret", base=FAKE_MODELS | {"generation": {"llm": llm}}
    )


def test_executed_notebook_holds_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragbench.notebook.papermill import run_notebook

    exp = _secret_experiment(tmp_path, monkeypatch)
    body = (
        "import os\n"
        "print('key', os.environ['RAGBENCH_NB_TEST_KEY'])\n"
        "'http://reader:nb-pa55word@127.0.0.1:9/v1'"
    )
    nb = _tiny_notebook(tmp_path / "leak.ipynb", body)
    out = run_notebook(exp, db=tmp_path / "r.duckdb", notebook=nb)
    text = out.read_text()
    assert "key ***" in text  # the cell ran and printed, redacted
    assert NB_KEY not in text
    assert "nb-pa55word" not in text and "http://reader:***@127.0.0.1:9/v1" in text


def test_failing_notebook_error_and_copy_hold_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragbench.notebook.papermill import NotebookError, run_notebook

    exp = _secret_experiment(tmp_path, monkeypatch)
    body = "import os\nraise ValueError('refused ' + os.environ['RAGBENCH_NB_TEST_KEY'])"
    nb = _tiny_notebook(tmp_path / "fail.ipynb", body)
    with pytest.raises(NotebookError) as exc:
        run_notebook(exp, db=tmp_path / "r.duckdb", notebook=nb)
    message = str(exc.value)
    assert "ValueError: refused ***" in message and NB_KEY not in message
    out = tmp_path / "nbsecret" / "fail.ipynb"
    assert "refused ***" in out.read_text() and NB_KEY not in out.read_text()


def test_unexecutable_notebook_is_a_notebook_error(tmp_path: Path) -> None:
    from ragbench.notebook.papermill import NotebookError, run_notebook

    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    with pytest.raises(NotebookError, match="broken.ipynb could not be executed"):
        run_notebook(SMOKE, db=tmp_path / "r.duckdb", notebook=broken)
