"""Hostile results files and runs (issue 23, second round): a crafted experiment name, a full disk,
a file of a newer schema, comparisons across different data and the count of write transactions.

Each test reproduces what a careless or hostile user met, through the CLI where the user meets it:
one ``error:`` line (exit 2) or a recorded result, never a traceback, nothing written outside the
results folder, no row lost or duplicated."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import FAKE_MODELS, TINY_QUESTIONS, write_qa_folder
from run_pairs import baseline_scores, write_run
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.experiment.orchestrator import run
from ragbench.store import Store, StoreError
from ragbench.store.schema import SCHEMA_VERSION


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def experiment(tmp_path: Path, data: Path, name: str = "hostile", **fields: Any) -> Path:
    """An all-fake experiment YAML over the qa-folder ``data``."""
    exp = tmp_path / f"{name}.yaml"
    body = {
        "name": name,
        "dataset": {"loader": "qa-folder", "path": str(data)},
        "base": FAKE_MODELS,
        "metrics": ["hit_rate", "faithfulness"],
    }
    exp.write_text(yaml.safe_dump(body | fields))
    return exp


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# --- item 4: a report is never written outside the results folder ---------------------------------


@pytest.mark.parametrize("name", ["../../../../escaped", "ABSOLUTE", "a/../../b", ".hidden"])
def test_a_crafted_experiment_name_writes_no_report_outside(tmp_path: Path, name: str) -> None:
    name = str(tmp_path / "escaped-abs") if name == "ABSOLUTE" else name
    db = tmp_path / "a" / "b" / "c" / "d" / "r.duckdb"
    write_run(Store(db), "run-1", name, baseline_scores())
    before = files_under(tmp_path)

    res = cli("report", name, "--db", db)

    assert res.exit_code == 2, res.output
    assert res.output.strip() == (
        f"error: results file {db} names its experiment {name!r}, which is not a folder name "
        "(letters, digits, '_', '.' and '-', starting with a letter or digit): the report's "
        "files are not written; the file was made by hand or damaged"
    )
    assert files_under(tmp_path) == before  # nothing written anywhere
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "escaped-abs").exists()


def test_a_report_from_python_refuses_the_same_and_load_still_reads_it(tmp_path: Path) -> None:
    from ragbench.render.report import load, report

    db = tmp_path / "r.duckdb"
    write_run(Store(db), "run-1", "../out", baseline_scores())
    with pytest.raises(StoreError, match="names its experiment '../out', which is not a folder"):
        report("../out", db)
    assert not (tmp_path.parent / "out").exists()
    assert load(db).experiment == "../out"  # reading writes nothing: the table is still shown


def test_every_report_file_stays_inside_its_folder(tmp_path: Path) -> None:
    """A stored metric name becomes a chart file name: it must not lead out of the folder."""
    from ragbench.records import Record, ScoreRow
    from ragbench.render.report import report

    db = tmp_path / "r.duckdb"
    store = Store(db)
    write_run(store, "run-1", "safe", baseline_scores())
    evil = "/../../evil"  # distribution_/../../evil.png: outside once "distribution_" exists
    rows = [ScoreRow("run-1", "good", f"q{i:02d}", evil, 0.5 + i / 100) for i in range(5)]
    store.write([Record("run-1", "good", "q00", "What is q00?", [], [])], rows)
    (tmp_path / "safe" / "distribution_").mkdir(parents=True)

    rep = report("safe", db)

    assert not (tmp_path / "evil.png").exists() and not list(tmp_path.parent.glob("evil*"))
    assert (tmp_path / "safe" / "report.md").is_file()
    (problem,) = rep.problems
    assert problem.startswith(f"report file distribution_{evil}.png not written: its name")
    assert "leads out of the report folder" in problem


# --- item 5: a full disk is named, earlier runs stay intact, --resume finishes -------------------

ENOSPC = 'Failed to commit: Could not write file "{wal}": No space left on device'


class FullDisk:
    """A DuckDB connection whose COMMIT fails as on a full disk (the transaction is then gone,
    so DuckDB's own ROLLBACK raises "no transaction is active", as it does for real)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, wal: str) -> None:
        self.con, self.wal = con, wal

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            self.con.execute("ROLLBACK")
            raise duckdb.TransactionException(
                f"TransactionContext Error: {ENOSPC.format(wal=self.wal)}"
            )
        return self.con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, commits: int) -> None:
    """Every transaction after the first ``commits`` ones fails as on a full disk."""
    from ragbench.store import connection

    real = connection._open
    seen = [0]

    def opened(path: Path, read_only: bool, lock_timeout_s: float) -> Any:
        con = real(path, read_only, lock_timeout_s)
        seen[0] += 1
        return con if read_only or seen[0] <= commits else FullDisk(con, f"{path}.wal")

    monkeypatch.setattr(connection, "_open", opened)


def disk_full_line(db: Path) -> str:
    return (
        f"results file {db} cannot be written: the disk is full (no space left on the disk "
        f"holding {db.resolve().parent}); free some space or pass another --db. The runs already "
        "in the file are intact"
    )


def test_a_full_disk_at_commit_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "r.duckdb"
    write_run(Store(db), "run-1", "before", baseline_scores())
    fill_disk_after(monkeypatch, 0)
    with pytest.raises(StoreError) as exc:
        write_run(Store(db), "run-2", "after", baseline_scores())
    assert str(exc.value) == disk_full_line(db)
    monkeypatch.undo()
    store = Store(db, read_only=True)
    assert store.runs().run_id.tolist() == ["run-1"]  # the earlier run, whole
    assert len(store.scores("run-1")) == 2 * 3 * 30


def test_a_disk_full_mid_run_names_the_disk_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_qa_folder(tmp_path / "ds")
    exp = experiment(tmp_path, data, sweep={"retrieval.top_k": [1, 2]})
    db = tmp_path / "r.duckdb"
    fill_disk_after(monkeypatch, 3)  # schema, start_run, add_trials: then the disk is full

    res = cli("run", exp, "--db", db, "--no-progress")

    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    (run_id,) = Store(db, read_only=True).runs().run_id
    assert line == (
        f"error: {disk_full_line(db)}; run {run_id} stopped: once fixed, "
        f"--resume {run_id} finishes it"
    )
    monkeypatch.undo()
    res = cli("run", exp, "--db", db, "--no-progress", "--resume", run_id)
    assert res.exit_code == 0, res.output
    store = Store(db, read_only=True)
    assert store.run_info(run_id).status == "finished"
    scores = store.scores(run_id)
    assert len(scores) == 2 * 2 * 2 and scores.error.isna().all()  # trials x questions x metrics
    assert not scores.duplicated(["trial_id", "question_id", "metric"]).any()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs mounted for the test; skipped where mounting is not permitted."""
    mount = shutil.which("mount")
    folder = tmp_path / "disk"
    folder.mkdir()
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8): the injected test covers it")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}): the injected test covers it"
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_real_full_disk(small_disk: Path, tmp_path: Path) -> None:
    """A run that fills the disk stops with one line; the earlier run is intact, and once there is
    space ``--resume`` finishes the stopped run with every row once."""
    import re

    small = experiment(tmp_path, write_qa_folder(tmp_path / "ds"))
    docs = {f"d{i}.md": f"Item {i} is kept in room {7 * i}. " * 40 for i in range(60)}
    questions = [
        {
            "question_id": f"q{i}",
            "user_input": f"Where is item {i} kept?",
            "gold_doc_ids": [f"d{i}.md"],
        }
        for i in range(60)
    ]
    big = experiment(tmp_path, write_qa_folder(tmp_path / "big", docs, questions), name="big")
    db = small_disk / "r.duckdb"
    assert cli("run", small, "--db", db, "--no-progress").exit_code == 0
    (first,) = Store(db, read_only=True).runs().run_id
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 64 * 1024))  # room to start, not finish

    res = cli("run", big, "--db", db, "--no-progress")

    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert line.startswith(f"error: {disk_full_line(db)}")
    (small_disk / "filler").unlink()
    store = Store(db, read_only=True)
    assert len(store.scores(first)) == 2 * 2 and store.run_info(first).status == "finished"
    stopped = re.search(r"--resume (\S+) finishes it", line)
    assert stopped, line  # 64 KB hold the run's start, not its embeddings
    res = cli("run", big, "--db", db, "--no-progress", "--resume", stopped.group(1))
    assert res.exit_code == 0, res.output
    (last,) = Store(db, read_only=True).runs("big").run_id
    scores = Store(db, read_only=True).scores(last)
    assert len(scores) == 60 * 2
    assert not scores.duplicated(["trial_id", "question_id", "metric"]).any()


# --- item 11: a results file of a newer schema is refused, never rewritten ----------------------


def newer(db: Path, version: int = 99) -> Path:
    write_run(Store(db), "run-1", "future", baseline_scores())
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    con.close()
    return db


def schema_of(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return str(con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    finally:
        con.close()


def test_a_newer_results_file_is_refused_for_reads_and_writes(tmp_path: Path) -> None:
    db = newer(tmp_path / "r.duckdb")
    line = (
        f"error: results file {db} was written by a newer ragbench (schema 99; this one reads up "
        f"to {SCHEMA_VERSION}): upgrade ragbench or use another --db"
    )
    exp = experiment(tmp_path, write_qa_folder(tmp_path / "ds"))
    for args in (
        ["run", exp, "--no-progress"],
        ["report", "future"],
        ["gate", "future", "--min", "hit_rate=0.1"],
        ["diff", "run-1", "run-1"],
    ):
        res = cli(*args, "--db", db)
        assert (res.exit_code, res.output.strip()) == (2, line), args
    assert schema_of(db) == "99"  # not reset to this version's
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (1,)  # no run added
    con.close()
    with pytest.raises(StoreError, match="written by a newer ragbench"):
        Store(db, read_only=True)


def test_the_current_and_older_versions_still_open(tmp_path: Path) -> None:
    db = newer(tmp_path / "r.duckdb", version=SCHEMA_VERSION - 1)
    assert Store(db, read_only=True).runs().run_id.tolist() == ["run-1"]
    Store(db)
    assert schema_of(db) == str(SCHEMA_VERSION)  # migrated up, as before


def test_the_docs_name_the_current_schema_version() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "results.md").read_text()
    assert f"`meta.schema_version` is {SCHEMA_VERSION}" in text


# --- item 14: runs over different data are not compared silently ---------------------------------


@pytest.fixture
def two_datasets(tmp_path: Path) -> tuple[Path, str, str]:
    """Two runs of one experiment whose gold labels differ (the questions changed between them)."""
    db = tmp_path / "r.duckdb"
    data = write_qa_folder(tmp_path / "ds")
    first = run(experiment(tmp_path, data), db=db, progress=False)
    swapped = [
        q | {"gold_doc_ids": ["ferry.txt" if q["question_id"] == "t1" else "lighthouse.md"]}
        for q in TINY_QUESTIONS
    ]
    write_qa_folder(tmp_path / "ds", questions=swapped)
    second = run(experiment(tmp_path, data), db=db, progress=False)
    return db, first.run_id, second.run_id


def test_diff_refuses_runs_over_different_data(two_datasets: tuple[Path, str, str]) -> None:
    db, a, b = two_datasets
    res = cli("diff", a, b, "--db", db)
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"error: runs {a} and {b} scored different data (the questions changed): their scores "
        "cannot be compared; pass --allow-different-data (allow_different_data=True in Python) "
        "to compare anyway"
    )
    res = cli("diff", a, b, "--db", db, "--allow-different-data")
    assert res.exit_code == 0, res.output
    assert (
        f"WARNING: runs {a} and {b} scored different data (the questions changed): a change "
        "in score may come from the data, not the pipeline"
    ) in res.output.splitlines()


def test_diff_runs_in_a_notebook_refuses_the_same(two_datasets: tuple[Path, str, str]) -> None:
    from ragbench.render.diff import diff_runs
    from ragbench.results.diff import DiffError

    db, a, b = two_datasets
    with pytest.raises(DiffError, match="scored different data"):
        diff_runs(db, a, b)
    shown = diff_runs(db, a, b, allow_different_data=True)
    assert "scored different data" in shown._repr_html_()
    assert "scored different data" in repr(shown)


def test_gate_baseline_refuses_runs_over_different_data(
    two_datasets: tuple[Path, str, str],
) -> None:
    db, a, b = two_datasets
    res = cli("gate", "hostile", "--baseline", a, "--db", db)
    assert res.exit_code == 2
    assert "scored different data (the questions changed)" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = cli("gate", "hostile", "--baseline", a, "--db", db, "--allow-different-data")
    assert res.exit_code == 0, res.output
    assert "WARNING: runs" in res.output and "scored different data" in res.output


def test_a_baseline_of_another_experiment_is_said(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    data = write_qa_folder(tmp_path / "ds")
    other = run(experiment(tmp_path, data, name="other"), db=db, progress=False)
    run(experiment(tmp_path, data), db=db, progress=False)
    res = cli("gate", "hostile", "--baseline", other.run_id, "--db", db)
    assert res.exit_code == 0, res.output  # the same data: comparable, and said
    assert (f"note: the runs are of different experiments ({other.run_id}: 'other', ") in res.output


# --- RunStats.transactions counts every batch written ---------------------------------------------


@pytest.mark.parametrize("metrics", [["hit_rate"], ["hit_rate", "faithfulness"]])
def test_transactions_count_every_batch_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metrics: list[str]
) -> None:
    from ragbench.store import buffered

    flushed: list[int] = []
    write = buffered.BatchWriter.flush

    def flush(self: buffered.BatchWriter) -> None:
        pending = bool(self.records or self.scores or self.cache)
        write(self)
        flushed.extend([1] if pending else [])

    monkeypatch.setattr(buffered.BatchWriter, "flush", flush)
    exp = experiment(tmp_path, write_qa_folder(tmp_path / "ds"), metrics=metrics)
    result = run(exp, db=tmp_path / "r.duckdb", progress=False)
    assert len(flushed) >= len(metrics)  # a retrieval-only run still writes one batch
    assert result.stats.transactions == len(flushed)
