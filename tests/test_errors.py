"""Errors meant for people show as one line in a notebook (IPython's ``_render_traceback_``), the
same line the CLI prints; other exceptions keep their traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragbench.config.validation import ConfigError
from ragbench.data.readers import DataError
from ragbench.data.review import ReviewError
from ragbench.data.scaffold import InitError
from ragbench.models.endpoint import EndpointError
from ragbench.models.local import ModelError
from ragbench.notebook.papermill import NotebookError
from ragbench.results.diff import DiffError
from ragbench.results.gate import GateError
from ragbench.store import Store, StoreError
from ragbench.store.connection import RunNotFound
from ragbench.synth.outfile import SynthError

ANSI = re.compile(r"\x1b\[[0-9;]*m")
USER_ERRORS = (
    ConfigError,
    DataError,
    ReviewError,
    StoreError,
    DiffError,
    GateError,
    InitError,
    SynthError,
    NotebookError,
    ModelError,
    EndpointError,
    RunNotFound,
)


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda c: c.__name__)
def test_user_errors_render_as_one_line(cls: type[Exception]) -> None:
    lines = cls("results file not found:\n  r.duckdb")._render_traceback_()  # type: ignore[attr-defined]
    assert [ANSI.sub("", line) for line in lines] == ["error: results file not found: r.duckdb"]


def test_other_errors_keep_their_traceback() -> None:
    assert not hasattr(ValueError("x"), "_render_traceback_")
    assert not hasattr(KeyError("x"), "_render_traceback_")


def test_an_ipython_cell_shows_the_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell(
            "from ragbench.store import StoreError\nraise StoreError('no file r.duckdb')"
        )
        shell.run_cell("raise ValueError('a bug')")
    finally:
        InteractiveShell.clear_instance()
    ours, bug = ANSI.sub("", capsys.readouterr().out).split("-" * 20, 1)  # a traceback's rule
    assert ours.strip() == "error: no file r.duckdb"
    assert "Traceback" in bug and "ValueError: a bug" in bug


def test_no_run_yet_says_how_to_make_one(tmp_path: Path) -> None:
    from ragbench.render.drilldown import inspect_question
    from ragbench.render.report import load

    db = tmp_path / "r.duckdb"
    with pytest.raises(StoreError, match=r"^results file not found: .*notebook 01, `make demo`"):
        load(db, experiment="quickstart")
    Store(db).start_run("r1", "interactive", {}, {}, None, True, "demo")
    for read in (load, inspect_question):
        with pytest.raises(RunNotFound, match="no run of experiment 'quickstart' .*notebook 01"):
            read(db, experiment="quickstart")
