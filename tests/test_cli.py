"""The CLI's bad-input contract: one ``error: ...`` line and a non-zero exit, never a traceback;
exit 1 for a run that finished badly or whose report failed (with the run id printed); no secret
in anything printed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_MODELS, write_fake_experiment
from typer.testing import CliRunner, Result

from ragbench.cli import app
from ragbench.experiment import orchestrator as experiment

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_error_line(result: Result, code: int = 2, *expected: str) -> str:
    """Exit ``code``, no traceback, stderr ends in exactly one ``error:`` line holding
    ``expected``; returns that line."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture
def smoke(tmp_path: Path) -> Path:
    exp = tmp_path / "smoke.yaml"
    shutil.copy(SMOKE, exp)
    return exp


# --- option values are validated like config values ---------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_run_limit_must_be_a_positive_integer(smoke: Path, tmp_path: Path, value: str) -> None:
    db = tmp_path / "r.duckdb"
    result = invoke("run", smoke, "--db", db, "--limit", value)
    assert_one_error_line(result, 2, "--limit")
    assert not db.exists()  # nothing was run, nothing recorded as "finished"


@pytest.mark.parametrize(
    "args",
    [
        ["judge-check", "x.csv", "--limit", "0"],
        ["judge-check", "x.csv", "--threshold", "1.5"],
        ["judge-check", "x.csv", "--judge", "gpt"],
        ["judge-check", "x.csv", "--prompts", "short"],
        ["judge-check", "begin-wow", "--split", "train"],
        ["notebook", "run", "x.yaml", "--limit", "-1"],
    ],
)
def test_other_commands_validate_their_options(args: list[str]) -> None:
    assert_one_error_line(invoke(*args), 2)


def test_unknown_option_is_one_line(smoke: Path) -> None:
    assert_one_error_line(invoke("run", smoke, "--limt", "2"), 2, "--limt")


def test_missing_argument_is_one_line() -> None:
    assert_one_error_line(invoke("run"), 2)


def test_bare_command_prints_help() -> None:
    result = invoke()
    assert "run" in result.output and "validate" in result.output
    assert "error:" not in result.output and "Traceback" not in result.output


def test_help_exits_zero() -> None:
    result = invoke("run", "--help")
    assert result.exit_code == 0 and "--limit" in result.stdout


# --- bad files -----------------------------------------------------------------------------------


def test_run_with_a_folder_as_experiment(tmp_path: Path) -> None:
    assert_one_error_line(invoke("run", tmp_path), 2, "is a folder")


def test_run_with_a_duplicate_key_names_the_line(tmp_path: Path) -> None:
    exp = tmp_path / "dup.yaml"
    exp.write_text("name: dup\nbase:\n  retrieval:\n    top_k: 2\n    top_k: 5\n")
    assert_one_error_line(invoke("run", exp, "--db", tmp_path / "r.duckdb"), 2, "line 5", "top_k")


def test_run_with_a_dataset_that_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    exp = tmp_path / "e.yaml"
    exp.write_text("name: e\ndataset: {loader: qa-folder, path: empty}\n")
    assert_one_error_line(invoke("run", exp, "--db", tmp_path / "r.duckdb"), 2)


def test_report_with_a_folder_as_results_file(tmp_path: Path) -> None:
    assert_one_error_line(invoke("report", "smoke", "--db", tmp_path), 2, "is a folder")


@pytest.mark.parametrize("content", [b"", b"this is not a database\n" * 100])
def test_report_on_a_broken_results_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "broken.duckdb"
    db.write_bytes(content)
    assert_one_error_line(invoke("report", "smoke", "--db", db), 2, str(db))


# --- runs that finish badly ----------------------------------------------------------------------


def test_run_that_is_not_ok_exits_1_and_prints_its_problems(
    smoke: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = experiment.run

    def not_ok(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        result.problems = ["every judged score failed (2 of 2)", "no gold documents"]
        return result

    monkeypatch.setattr(experiment, "run", not_ok)
    result = invoke("run", smoke, "--db", tmp_path / "r.duckdb", "--limit", "2", "--no-progress")
    line = assert_one_error_line(result, 1, "2 problem(s)")
    assert "every judged score failed" not in result.stdout  # problems go to stderr
    assert "problem: every judged score failed (2 of 2)" in result.stderr
    assert "problem: no gold documents" in result.stderr
    run_id = line.split("run ")[1].split()[0]
    assert run_id in result.stdout  # the table and the stats line were printed first


def test_run_that_is_ok_exits_0(smoke: Path, tmp_path: Path) -> None:
    result = invoke("run", smoke, "--db", tmp_path / "r.duckdb", "--limit", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "run " in result.stdout and "4 trials" in result.stdout
    assert result.stderr.strip() == ""


def test_report_failing_after_the_run_still_prints_the_run_id(
    smoke: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ragbench.render.report

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(tmp_path / "smoke" / "metrics.png"))

    monkeypatch.setattr(ragbench.render.report, "report", read_only)
    db = tmp_path / "r.duckdb"
    result = invoke("run", smoke, "--db", db, "--limit", "2", "--no-progress")
    line = assert_one_error_line(result, 1, "Permission denied", "ragbench report smoke")
    run_id = line.split("run ")[1].split()[0]
    assert f"run {run_id}: 4 trials" in result.stdout
    # the run is committed and complete: a report of it works once the folder is writable
    monkeypatch.undo()
    again = invoke("report", "smoke", "--db", db, "--run", run_id)
    assert again.exit_code == 0, again.output


# --- unexpected errors and interrupts ------------------------------------------------------------


def test_unexpected_exception_is_one_line_exit_3(
    smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("unsupported operand type(s)\nsecond line")

    monkeypatch.setattr(experiment, "run", bug)
    monkeypatch.delenv("RAGBENCH_DEBUG", raising=False)
    assert_one_error_line(invoke("run", smoke), 3, "unexpected TypeError", "RAGBENCH_DEBUG")


def test_debug_shows_the_real_exception(smoke: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("boom")

    monkeypatch.setattr(experiment, "run", bug)
    monkeypatch.setenv("RAGBENCH_DEBUG", "1")
    result = invoke("run", smoke)
    assert isinstance(result.exception, TypeError)


def test_interrupt_is_one_line(smoke: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "run", interrupted)
    assert_one_error_line(invoke("run", smoke), 130, "interrupted")


# --- secrets never printed -----------------------------------------------------------------------


def test_errors_never_print_configured_or_url_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-cli-test-5f3a9c1e7b"
    monkeypatch.setenv("RAGBENCH_CLI_TEST_KEY", key)
    llm = {"provider": "fake", "api_key_env": "RAGBENCH_CLI_TEST_KEY"}
    exp = write_fake_experiment(
        tmp_path / "s.yaml", name="s", base=FAKE_MODELS | {"generation": {"llm": llm}}
    )

    def echoes(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"endpoint http://u:pa55word-x@h:1/v1 refused key {key}")

    monkeypatch.setattr(experiment, "run", echoes)
    line = assert_one_error_line(invoke("run", exp), 2, "refused key ***")
    assert key not in line and "pa55word-x" not in line
    assert "http://u:***@h:1/v1" in line


def test_validate_redacts_swept_url_passwords_in_labels(tmp_path: Path) -> None:
    llm = {"provider": "openai", "model": "m", "base_url": "http://h:1/v1"}
    exp = write_fake_experiment(
        tmp_path / "v.yaml",
        name="v",
        base=FAKE_MODELS | {"generation": {"llm": llm}},
        sweep={"generation.llm.base_url": ["http://h:1/v1", "http://u:s3cret-pw@h:1/v1"]},
    )
    result = invoke("validate", exp)
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.stdout
    assert "base_url=http://u:***@h:1/v1" in result.stdout
