"""What notebooks 01, 02 and 04 show when executed with the test doubles (03: test_interactive,
05: test_review).

Each cell's outputs must read as a person would want them: rich HTML for ragbench objects, no
stderr stream, no error, no warning text and no absolute path of this machine. 02 reads the run
01 wrote, as a user would after running 01.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"


def execute(name: str, out_dir: Path, **parameters: Any) -> Any:
    """Run notebooks/NAME with papermill (cwd: notebooks/) and return the executed notebook."""
    out = out_dir / name
    pm.execute_notebook(
        str(NOTEBOOKS / name),
        str(out),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=300,  # a hung cell fails the test instead of blocking the suite
    )
    return nbformat.read(out, as_version=4)


def shown(nb: Any) -> list[tuple[str, str]]:
    """(kind, text) of every output as a person sees it: the HTML when there is one."""
    items = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                items.append((o["name"], o["text"]))
            elif o["output_type"] == "error":
                items.append(("error", f"{o['ename']}: {o['evalue']}"))
            else:
                data = o.get("data", {})
                kind = "text/html" if "text/html" in data else "text/plain"
                items.append((kind, str(data.get(kind, ""))))
    return items


def assert_clean(nb: Any, *paths: Path) -> list[tuple[str, str]]:
    items = shown(nb)
    bad = [(k, t[:300]) for k, t in items if k in ("stderr", "error")]
    assert not bad, f"stderr or error shown: {bad}"
    assert not [t for _, t in items if "Warning" in t], "warning text shown"
    for path in (*paths, ROOT):
        assert not [t for _, t in items if str(path) in t], f"absolute path {path} shown"
    return items


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nb")


@pytest.fixture(scope="module")
def nb01(run_dir: Path) -> Any:
    return execute(
        "01-run-experiment.ipynb",
        run_dir,
        experiment=str(SMOKE),
        db=str(run_dir / "r.duckdb"),
    )


def test_01_shows_the_comparison_as_html(nb01: Any, run_dir: Path) -> None:
    items = assert_clean(nb01, run_dir)
    html = [t for k, t in items if k == "text/html"]
    assert any("FAKE MODELS" in t and "<table" in t for t in html)
    assert any("<img" in t for t in html), "charts are shown inline"
    assert (run_dir / "smoke" / "report.md").is_file()  # files still written for CI


def test_02_compares_the_run_01_wrote(nb01: Any, run_dir: Path) -> None:
    nb = execute("02-compare-runs.ipynb", run_dir, experiment="smoke", db=str(run_dir / "r.duckdb"))
    items = assert_clean(nb, run_dir)
    html = [t for k, t in items if k == "text/html"]
    assert any("FAKE MODELS" in t and "<table" in t for t in html)
    assert any("q0" in t and "retrieved" in t.lower() for t in html), "drill-down shown"


def test_04_judge_check_with_the_fake_judge(tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.csv"
    with labelled.open("w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow(["context", "answer", "label"])
        rows.writerow(["The ferry leaves at 7:15.", "It leaves at 7:15.", "true"])
        rows.writerow(["The ferry leaves at 7:15.", "It leaves at noon.", "false"])
    nb = execute(
        "04-judge-check.ipynb",
        tmp_path,
        dataset=str(labelled),
        limit=None,
        judge="fake",
        db=str(tmp_path / "r.duckdb"),
    )
    items = assert_clean(nb, tmp_path)
    assert any(k == "text/html" and "<table" in t for k, t in items)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the confusion matrix


def test_02_without_a_results_file_is_one_line(tmp_path: Path) -> None:
    """A fresh clone has no results file: 02 says in one line how to write one, no traceback."""
    out = tmp_path / "02.ipynb"
    with pytest.raises(pm.PapermillExecutionError):
        pm.execute_notebook(
            str(NOTEBOOKS / "02-compare-runs.ipynb"),
            str(out),
            parameters={"db": "../results/no-such-file.duckdb"},
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=300,
        )
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert len(errors) == 1
    (line,) = errors[0]["traceback"]  # the whole traceback is one line
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    assert line == (
        "error: results file not found: ../results/no-such-file.duckdb; run an experiment "
        "first: notebook 01, `make demo` or `ragbench run EXPERIMENT`"
    )
    assert not (NOTEBOOKS.parent / "results" / "no-such-file.duckdb").exists()
