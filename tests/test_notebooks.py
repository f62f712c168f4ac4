"""Every notebook in notebooks/ is executed headlessly by papermill against the smoke experiment."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

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
