"""nbval does its real job: the example notebook's committed outputs are what a user sees.

``notebooks/examples/smoke-example.ipynb`` is executed with the test doubles (deterministic) and
committed WITH its outputs; ``pytest --nbval`` re-executes it in a subprocess and compares every
text and HTML output, with run ids and timings masked by ``nbval-sanitize.cfg``. The second test
shows the check can fail: a copy whose stored output differs in one number is rejected.
Refresh the committed outputs after an intended change with ``make example-notebook``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "notebooks" / "examples" / "smoke-example.ipynb"
SANITIZE = ROOT / "notebooks" / "examples" / "nbval-sanitize.cfg"
TIMEOUT_S = 600  # two kernels on 2 shared cores; a hang fails instead of blocking the suite


def _nbval(notebook: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
         f"--nbval-sanitize-with={SANITIZE}", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(cwd), "-c", os.devnull, str(notebook)],
        capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=cwd,
    )  # fmt: skip


def test_example_notebook_is_committed_with_outputs() -> None:
    nb = nbformat.read(EXAMPLE, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "execute it: make example-notebook"
    shown = [o for c in code for o in c.outputs]
    assert [o for o in shown if "text/html" in o.get("data", {})], "no rich output committed"
    assert not [o for o in shown if o.get("name") == "stderr" or o["output_type"] == "error"]


def test_example_notebook_matches_its_committed_outputs() -> None:
    done = _nbval(EXAMPLE, ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_nbval_fails_when_what_a_user_sees_changes(tmp_path: Path) -> None:
    copy = tmp_path / "notebooks" / "examples" / EXAMPLE.name
    copy.parent.mkdir(parents=True)
    nb = nbformat.read(EXAMPLE, as_version=4)
    nb.cells = [c for c in nb.cells if "rb.run(" not in c.source]  # the panel part is enough
    history_cell = [c for c in nb.cells if c.cell_type == "code"][-1]
    data = history_cell.outputs[0]["data"]
    assert "sentence 256/32" in data["text/html"]
    data["text/html"] = data["text/html"].replace("sentence 256/32", "sentence 512/32", 1)
    nbformat.write(nb, copy)
    done = _nbval(copy, tmp_path)
    assert done.returncode == 1, done.stdout[-4000:]
    assert "1 failed" in done.stdout and "sentence 512/32" in done.stdout
