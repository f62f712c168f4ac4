"""Hostile and careless inputs, second round (issue 23), end to end through ``ragbench.run`` and
the CLI with the test doubles: documents that look like templates, corpus folders holding links,
unreadable folders and the run's own files, a YAML alias bomb."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FAKE_MODELS, write_qa_folder

from ragbench.experiment.orchestrator import run
from ragbench.models.fakes import FakeLLM


def qa_experiment(root: Path, tmp_path: Path, **dataset: Any) -> Path:
    """An all-fake experiment YAML over the qa-folder ``root``: 1 trial, every question."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "hostile",
                "dataset": {"loader": "qa-folder", "path": str(root), **dataset},
                "base": FAKE_MODELS | {"retrieval": {"top_k": 2}},
                "metrics": ["hit_rate", "faithfulness"],
            }
        )
    )
    return exp


# --- item 13: a document is never a template ------------------------------------------------------


def test_document_braces_reach_the_llm_prompt_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = "The vault code rule: {question} and {context} are literal text here, not slots."
    root = write_qa_folder(
        tmp_path / "ds",
        docs={"vault.md": doc},
        questions=[
            {
                "question_id": "q1",
                "user_input": "What is the vault code rule?",
                "reference": "Literal text.",
                "gold_doc_ids": ["vault.md"],
            },
            {
                "question_id": "q2",
                "user_input": "Does {context} in a question stay as it is?",
                "reference": "Yes.",
                "gold_doc_ids": ["vault.md"],
            },
        ],
    )
    prompts: list[str] = []
    original = FakeLLM.complete

    def spy(self: FakeLLM, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        if not kwargs.get("response_format"):
            prompts.append(prompt)
        return original(self, prompt, formatted=formatted, **kwargs)

    monkeypatch.setattr(FakeLLM, "complete", spy)
    result = run(qa_experiment(root, tmp_path), db=tmp_path / "r.duckdb", progress=False)

    assert result.ok, result.problems
    assert len(prompts) == 2
    for prompt in prompts:
        assert doc in prompt  # the document as written: no question substituted into it
        assert prompt.count("Question: ") == 1
    assert "Question: Does {context} in a question stay as it is?\n" in "\n".join(prompts)


# --- items 1, 9, 10: what a corpus folder holds besides documents ---------------------------------

PASSWD = Path("/etc/passwd")


def stored_text(db: Path) -> str:
    """Every value of every table of a results file, as text, and the file's raw bytes."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        rows = [repr(r) for t in tables for r in con.execute(f'SELECT * FROM "{t}"').fetchall()]
    finally:
        con.close()
    return "\n".join(rows) + db.read_bytes().decode("latin-1")


def skipped_of(db: Path, run_id: str) -> dict[str, str]:
    from ragbench.store import Store

    return dict(Store(db, read_only=True).run_info(run_id).stats.skipped_files)


@pytest.mark.skipif(not PASSWD.is_file(), reason="needs /etc/passwd")
def test_a_link_to_etc_passwd_is_skipped_and_stored_nowhere(tmp_path: Path) -> None:
    root = write_qa_folder(tmp_path / "ds")
    corpus = root / "corpus"
    (corpus / "passwd.txt").symlink_to(PASSWD)
    (corpus / "etc").symlink_to("/etc", target_is_directory=True)
    (corpus / "again.md").symlink_to(corpus / "lighthouse.md")  # inside: read once, as itself
    (corpus / "loop").symlink_to(".", target_is_directory=True)
    db = tmp_path / "r.duckdb"

    result = run(qa_experiment(root, tmp_path), db=db, progress=False)

    assert result.ok, result.problems
    text = stored_text(db)
    lines = [line for line in PASSWD.read_text().splitlines() if len(line) >= 8]
    assert lines and not [line for line in lines if line in text]
    skipped = skipped_of(db, result.run_id)
    assert skipped["passwd.txt"].startswith(
        "symlink to a file outside the corpus folder: /etc/passwd"
    )
    assert skipped["etc/"].startswith("symlink to a folder outside the corpus folder: /etc")
    assert skipped["again.md"].startswith("symlink to lighthouse.md in the corpus folder")
    assert skipped["loop/"].startswith("symlink to ./ in the corpus folder")
    assert result.stats.dataset.startswith("ds: 2 documents (1 md, 1 txt)")


def test_follow_symlinks_reads_outside_files_once_without_looping(tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "harbour.txt").write_text("The harbour master is Ines Sorel since 2019.\n")
    (outside / "back").symlink_to(outside, target_is_directory=True)  # a loop outside
    root = write_qa_folder(tmp_path / "ds")
    corpus = root / "corpus"
    (corpus / "ext1").symlink_to(outside, target_is_directory=True)
    (corpus / "ext2").symlink_to(outside, target_is_directory=True)
    (corpus / "file.txt").symlink_to(outside / "harbour.txt")
    (corpus / "loop").symlink_to(".", target_is_directory=True)
    db = tmp_path / "r.duckdb"

    followed = run(qa_experiment(root, tmp_path, follow_symlinks=True), db=db, progress=False)
    skipped = skipped_of(db, followed.run_id)
    assert followed.stats.dataset.startswith("ds: 3 documents (1 md, 2 txt)")  # ext1/harbour
    assert "Ines Sorel" in stored_text(db)
    assert skipped["ext2/"] == "the same folder as ext1/, read there"
    assert skipped["file.txt"] == "the same file as ext1/harbour.txt, read there"
    assert skipped["ext1/back/"].startswith("symlink loop: back to")
    assert skipped["loop/"].startswith("symlink to ./ in the corpus folder")

    plain = run(qa_experiment(root, tmp_path), db=tmp_path / "p.duckdb", progress=False)
    assert plain.stats.dataset.startswith("ds: 2 documents")
    assert plain.trials[0].trial_id == followed.trials[0].trial_id  # links change no trial


def test_follow_symlinks_is_validated_like_every_key(tmp_path: Path) -> None:
    from ragbench.config.experiment import ConfigError, load_config

    root = write_qa_folder(tmp_path / "ds")
    with pytest.raises(ConfigError) as exc:
        load_config(qa_experiment(root, tmp_path, follow_symlinks="yes"))
    assert "dataset.follow_symlinks: Input should be a valid boolean" in str(exc.value)
    assert "\n" not in str(exc.value)


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Listing ``folder`` fails as it does for a folder without read permission."""
    import os

    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def _unreadable_folder_is_listed(tmp_path: Path, deny: Any) -> None:
    from ragbench.data.scaffold import inventory

    root = write_qa_folder(tmp_path / "ds", docs={"a.md": "The ferry leaves at 7.", "hr/b.md": "x"})
    deny(root / "corpus" / "hr")
    db = tmp_path / "r.duckdb"
    result = run(qa_experiment(root, tmp_path, unknown_gold_ids="warn"), db=db, progress=False)
    assert skipped_of(db, result.run_id)["hr/"] == "cannot read folder: permission denied"
    found, _ = inventory(root / "corpus")
    assert "  skipped hr/: cannot read folder: permission denied" in found.lines()
    assert found.lines()[0].endswith("1 documents read, 1 skipped")


def test_an_unreadable_folder_is_listed_as_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unreadable_folder_is_listed(tmp_path, lambda folder: _deny(monkeypatch, folder))


@pytest.mark.skipif(
    __import__("os").geteuid() == 0, reason="root reads a chmod 000 folder: simulated above"
)
def test_an_unreadable_folder_is_listed_as_skipped_for_real(tmp_path: Path) -> None:
    denied: list[Path] = []
    try:
        _unreadable_folder_is_listed(tmp_path, lambda f: (f.chmod(0), denied.append(f)))
    finally:
        for folder in denied:
            folder.chmod(0o755)


def test_a_run_never_reads_its_own_files_as_documents(tmp_path: Path) -> None:
    """Question file, experiment YAML, results file and report folder all inside the corpus."""
    from typer.testing import CliRunner

    from ragbench.cli import app

    corpus = write_qa_folder(tmp_path / "ds") / "corpus"
    (tmp_path / "ds" / "questions.jsonl").rename(corpus / "questions.jsonl")
    exp = corpus / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "hostile",
                "dataset": {"loader": "documents", "path": ".", "questions": "questions.jsonl"},
                "base": FAKE_MODELS,
                "metrics": ["hit_rate", "faithfulness"],
            }
        )
    )
    (corpus / "old.duckdb").write_bytes(b"not a document")
    db = corpus / "results" / "r.duckdb"
    for _ in range(2):  # the second run finds the first one's results and reports in the folder
        done = CliRunner().invoke(app, ["run", str(exp), "--db", str(db), "--no-progress"])
        assert done.exit_code == 0, done.output
    assert (corpus / "results" / "hostile" / "report.md").is_file()
    from ragbench.store import Store

    store = Store(db, read_only=True)
    last = store.latest_run("hostile")
    assert last is not None and len(store.runs("hostile")) == 2
    info = store.run_info(last)
    assert info.stats.dataset.startswith("corpus: 2 documents (1 md, 1 txt)")
    skipped = dict(info.stats.skipped_files)
    assert skipped == {
        "exp.yaml": "the experiment file, not a document",
        "old.duckdb": "a DuckDB file (results or vectors), not a document",
        "questions.jsonl": "the experiment's question file, not a document",
        "results/hostile/": "the report folder of this experiment, not documents",
        "results/r.duckdb": "the results file of this run, not a document",
    }
    retrieved = store.records_frame(last)["retrieved_doc_ids"]
    assert {d for ids in retrieved for d in ids} <= {"lighthouse.md", "ferry.txt"}


# --- item 12: an empty answer from any model is a failure, never cached --------------------------


def test_a_blank_answer_is_a_recorded_failure_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_index.core.base.llms.types import CompletionResponse

    from ragbench.store import Store

    root = write_qa_folder(tmp_path / "ds")
    db = tmp_path / "r.duckdb"
    original = FakeLLM.complete

    def blank(self: FakeLLM, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        if kwargs.get("response_format"):  # the judge's calls stay as they are
            return original(self, prompt, formatted=formatted, **kwargs)
        return CompletionResponse(text=" \n ")

    with monkeypatch.context() as patched:
        patched.setattr(FakeLLM, "complete", blank)
        first = run(qa_experiment(root, tmp_path), db=db, progress=False)
    scores = Store(db, read_only=True).scores(first.run_id)
    judged = scores[scores.metric == "faithfulness"]
    assert judged.value.isna().all() and len(judged) == 2
    assert set(judged.error) == {
        "generation failed: EmptyAnswer: the model returned an empty answer"
    }
    assert first.stats.generated == 0
    again = run(qa_experiment(root, tmp_path), db=db, resume=first.run_id, progress=False)
    assert again.stats.generated == 2 and again.stats.generation_cache_hits == 0
    scores = Store(db, read_only=True).scores(again.run_id)
    assert scores.error.isna().all()


def test_an_empty_answer_cached_by_an_older_version_is_asked_again(tmp_path: Path) -> None:
    import duckdb

    from ragbench.store import Store

    root = write_qa_folder(tmp_path / "ds")
    db = tmp_path / "r.duckdb"
    run(qa_experiment(root, tmp_path), db=db, progress=False)
    con = duckdb.connect(str(db))  # what versions before issue 23 cached for a filtered reply
    con.execute(
        """UPDATE cache SET value_json = '{"response": "", "cited": [], "seconds": 0.1, '
        || '"usage": {}}' WHERE kind = 'generation'"""
    )
    con.close()
    second = run(qa_experiment(root, tmp_path), db=db, progress=False)
    assert second.stats.generated == 2 and second.stats.generation_cache_hits == 0
    records = Store(db, read_only=True).records(second.run_id)
    assert all(r.response for r in records)
