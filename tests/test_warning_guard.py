"""The two layers that make a warning caused by ragbench a test failure (see warning_guard.py).

The probes are functions compiled into a module named ``ragbench._probe``, so Python and the guard
see them as ragbench code without adding anything to the package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest
from warning_guard import ragbench_warnings

PROBE_SOURCE = """
import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def own_warning():
    warnings.warn("ragbench says so", UserWarning, stacklevel=1)


def pandas_directly():
    return float(pd.Series([0.5]))  # pandas attributes this to its caller: ragbench


def inside_matplotlib():
    # The notebook-03 bug: matplotlib calls float() on one-element Series, and pandas
    # attributes the FutureWarning to matplotlib.cbook, not to ragbench.
    ax = Figure().subplots()
    ax.errorbar(pd.Series([0.5]), [0], xerr=[pd.Series([0.1]), pd.Series([0.1])])


def library_deprecation():
    import inner_lib

    inner_lib.deprecated_inside()


def suppressed_on_purpose():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
        return np.mean(np.array([]))
"""

INNER_LIB = """
import warnings


def deprecated_inside():
    warnings.warn("old API", DeprecationWarning, stacklevel=1)
"""


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    monkeypatch.setitem(sys.modules, "inner_lib", _module("inner_lib", INNER_LIB))
    return _module("ragbench._probe", PROBE_SOURCE)


def test_filterwarnings_turns_ragbench_warnings_into_errors(probe: types.ModuleType) -> None:
    with pytest.raises(UserWarning, match="ragbench says so"):
        probe.own_warning()
    with pytest.raises(FutureWarning, match="single element Series"):
        probe.pandas_directly()


def test_filterwarnings_alone_misses_a_warning_raised_inside_a_library(
    probe: types.ModuleType,
) -> None:
    with warnings.catch_warnings(record=True) as log:
        warnings.filterwarnings("error", module=r"ragbench(\.|$)")
        warnings.simplefilter("always", FutureWarning)
        probe.inside_matplotlib()  # no exception: attributed to matplotlib
    assert [w.filename for w in log if "single element" in str(w.message)]
    assert all("matplotlib" in w.filename for w in log)


def test_guard_catches_a_warning_raised_inside_a_library(probe: types.ModuleType) -> None:
    with warnings.catch_warnings(record=True), ragbench_warnings() as caught:
        warnings.simplefilter("always")
        probe.inside_matplotlib()
    assert caught and "ragbench._probe.inside_matplotlib" in caught[0]
    assert "FutureWarning" in caught[0] and "matplotlib" in caught[0]


def test_guard_lets_library_deprecations_and_deliberate_suppression_pass(
    probe: types.ModuleType,
) -> None:
    with warnings.catch_warnings(record=True) as log, ragbench_warnings() as caught:
        warnings.simplefilter("always")
        probe.library_deprecation()  # hidden from notebook users by Python's default filters
        assert probe.suppressed_on_purpose() != probe.suppressed_on_purpose()  # NaN, silently
        warnings.warn("the test's own warning", UserWarning, stacklevel=1)
    assert caught == []
    assert {str(w.message) for w in log} == {"old API", "the test's own warning"}


def test_guard_fails_the_test_as_a_plugin(tmp_path: Path) -> None:
    test_file = tmp_path / "test_probe.py"
    test_file.write_text(
        "import types\n"
        f"SOURCE = {PROBE_SOURCE!r}\n"
        "def test_panel_chart():\n"
        "    module = types.ModuleType('ragbench._probe')\n"
        "    exec(compile(SOURCE, '<probe>', 'exec'), module.__dict__)\n"
        "    module.inside_matplotlib()\n"
    )
    tests_dir = str(Path(__file__).parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "warning_guard",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(test_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ragbench caused warning(s) during the test" in done.stdout
    assert "ragbench._probe.inside_matplotlib" in done.stdout
