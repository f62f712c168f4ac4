"""``ragbench init``: the folder's inventory, a commented YAML that loads and runs, metrics from
what the questions carry, and one error line for a folder with nothing to read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_MODELS
from typer.testing import CliRunner, Result

from ragbench.cli import app
from ragbench.config.experiment import load_config, parse_config
from ragbench.data.scaffold import InitError, init_experiment, inventory

DOCS = {
    "lighthouse.md": "# Lighthouse\nThe Corran lighthouse was built in 1871 by Ada Finch.\n",
    "ferry.txt": "The ferry to Ostby leaves every morning at 7:15 from pier 4.\n",
    "notes/market.txt": "The harbour market opens on Saturdays at 8:00 beside pier 2.\n",
}


def make_folder(root: Path, extra: dict[str, str | bytes] | None = None) -> Path:
    for rel, text in {**DOCS, **(extra or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return root


def write_questions(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GOLD = [
    {
        "question_id": "g1",
        "user_input": "Who built the Corran lighthouse?",
        "reference": "Ada Finch built it in 1871.",
        "gold_doc_ids": ["lighthouse.md"],
        "gold_spans": ["built in 1871 by Ada Finch"],
    },
    {
        "question_id": "g2",
        "user_input": "When does the ferry to Ostby leave?",
        "reference": "Every morning at 7:15.",
        "gold_doc_ids": ["ferry.txt"],
        "gold_spans": ["every morning at 7:15"],
    },
    {
        "question_id": "g3",
        "user_input": "When does the harbour market open?",
        "reference": "On Saturdays at 8:00.",
        "gold_doc_ids": ["notes/market.txt"],
        "gold_spans": ["opens on Saturdays at 8:00"],
    },
]
REFERENCE_ONLY = [
    {"question_id": "r1", "user_input": "Who built it?", "reference": "Ada Finch, in 1871."},
    {"question_id": "r2", "user_input": "Ferry times?", "reference": "Every morning at 7:15."},
    {"question_id": "u1", "user_input": "Where do I park?", "answerable": False},
    {"question_id": "x1", "user_input": "Old?", "reference": "Yes.", "status": "rejected"},
]


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


# --- inventory -------------------------------------------------------------------------------------


def test_inventory_counts_formats_sizes_and_says_why_files_were_skipped(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path / "docs",
        {"empty.txt": "", "data.xyz": "x", ".git/config": "hidden", "broken.pdf": b"%PDF-1.4 no"},
    )
    found, docs = inventory(folder)
    assert sorted(found.files) == [
        "broken.pdf",
        "data.xyz",
        "empty.txt",
        "ferry.txt",
        "lighthouse.md",
        "notes/market.txt",
    ]  # hidden files are not part of the corpus
    assert found.documents == 3 and len(docs) == 3
    reasons = dict(found.skipped)
    assert reasons["empty.txt"] == "empty file"
    assert reasons["data.xyz"] == "unsupported extension '.xyz'"
    assert reasons["broken.pdf"].startswith("corrupt pdf")
    sizes = {rel: len(text.encode()) for rel, text in DOCS.items()}
    txt = sizes["ferry.txt"] + sizes["notes/market.txt"]
    assert found.formats() == {
        "txt": (3, txt, 1),
        "md": (1, sizes["lighthouse.md"], 0),
        "pdf": (1, 11, 1),
        "xyz": (1, 1, 1),
    }
    lines = found.lines()
    assert (
        lines[0]
        == f"{folder}: 6 files, {txt + sizes['lighthouse.md'] + 12} B; 3 documents read, 3 skipped"
    )
    assert lines[1] == (
        f"  formats: txt 3 files {txt} B (1 skipped); md 1 file {sizes['lighthouse.md']} B; "
        "pdf 1 file 11 B (1 skipped); xyz 1 file 1 B (1 skipped)"
    )
    assert lines[2].startswith("  largest: lighthouse.md ")
    assert "  skipped empty.txt: empty file" in lines


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "no readable documents (the folder is empty)"),
        (
            {"a.txt": "", "b.xyz": "x"},
            "no readable documents (a.txt: empty file; b.xyz: unsupported",
        ),
    ],
)
def test_nothing_readable_is_one_error(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    for rel, text in extra.items():
        (folder / rel).write_text(text)
    with pytest.raises(InitError, match=re.escape(message)):
        init_experiment(folder, out=tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()
    result = invoke("init", folder, "--out", tmp_path / "x.yaml")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {folder}: {message}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_folder_is_one_error(tmp_path: Path) -> None:
    result = invoke("init", tmp_path / "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: folder not found: {tmp_path / 'nope'}"


# --- the YAML ----------------------------------------------------------------------------------------


def test_without_questions_the_yaml_points_at_synth_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path / "My Docs!")
    monkeypatch.chdir(tmp_path)
    result = init_experiment(folder)
    assert result.name == "My-Docs" and result.path == Path("experiments/My-Docs.yaml")
    text = (tmp_path / result.path).read_text()
    assert 'questions: "questions.jsonl"   # written by `ragbench synth`' in text
    assert "# Staged search:" in text and "#   mrr: 1 / rank of the first gold document" in text
    config = load_config(result.path)
    assert config.name == "My-Docs"
    assert config.dataset.loader == "documents"
    assert config.dataset.path == str(folder.resolve())
    assert config.dataset.questions == str(tmp_path / "experiments" / "questions.jsonl")
    assert config.sweep == {
        "chunking.chunk_size": [256, 512, 1024],
        "retrieval.method": ["dense", "bm25", "hybrid"],
    }
    assert config.base.retrieval.top_k == 4
    assert config.base.embedding.provider == "local" and config.base.judge.provider == "local"
    assert config.base.generation.llm.provider == "local"
    assert config.staged is not None and (config.staged.rank_by, config.staged.top_n) == ("mrr", 2)
    assert config.metrics == [
        "hit_rate",
        "mrr",
        "ndcg",
        "span_coverage",
        "abstained",
        "faithfulness",
        "answer_relevancy",
    ]
    # 30 minutes (data/budget.py): half of it makes 22 questions at 1.5/min, the other half
    # judges 20 verdicts at ~45 s: 2 staged trials x 10 questions
    assert config.judge_limit == 10
    assert config.judge_budget is not None and config.judge_budget.verdicts == 20
    assert "# judging 20 verdicts (2 trials x 10 questions) at ~45 s = 15 min." in text
    assert "synth 22 questions at 1.5/min = 15 min;" in text
    assert config.split is None  # 22 questions: a 30% test split would say nothing
    assert "# split: {test: 0.3}  # from 40 questions on" in text
    assert result.next_commands == [
        f"ragbench synth {folder} --n 22 --out experiments/questions.jsonl",
        "ragbench run experiments/My-Docs.yaml",
    ]
    assert result.lines()[-3:] == ["next:", *[f"  {c}" for c in result.next_commands]]


def test_reference_only_questions_get_reference_recall(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    questions = write_questions(tmp_path / "qs" / "set.jsonl", REFERENCE_ONLY)
    out = tmp_path / "exp" / "docs.yaml"
    result = init_experiment(folder, questions=questions, out=out)
    assert result.questions is not None
    assert result.questions.line() == (
        "3 questions: 2 answerable (0 labelled with gold documents, 2 reference-only), "
        "1 unanswerable"
    )
    assert result.questions.warnings == [
        f"{questions}: 1 rejected and 0 pending questions skipped: experiments use accepted "
        "questions (review them in notebooks/05-review-questions.ipynb)"
    ]
    assert result.next_commands == [f"ragbench run {out}"]
    text = out.read_text()
    assert 'path: "../docs"' in text and 'questions: "../qs/set.jsonl"' in text
    assert "# split: {test: 0.3}  # from 40 questions on" in text
    config = load_config(out)
    assert config.metrics == ["reference_recall", "abstained", "faithfulness", "answer_relevancy"]
    assert config.staged is not None and config.staged.rank_by == "reference_recall"
    assert config.split is None
    assert config.dataset.questions == str(questions)


def test_forty_labelled_questions_get_gold_metrics_and_a_split(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    rows = [{**GOLD[i % 3], "question_id": f"g{i}"} for i in range(40)]
    questions = write_questions(tmp_path / "q.jsonl", rows)
    result = init_experiment(folder, questions=questions, out=tmp_path / "e.yaml")
    config = load_config(result.path)
    assert config.metrics == [
        "hit_rate",
        "mrr",
        "ndcg",
        "span_coverage",
        "faithfulness",
        "answer_relevancy",
    ]
    assert config.split is not None and config.split.test == 0.3
    assert result.questions is not None and result.questions.line().startswith(
        "40 questions: 40 answerable (40 labelled with gold documents, 0 reference-only)"
    )


def test_the_written_yaml_runs_with_test_doubles(tmp_path: Path) -> None:
    from ragbench.experiment.orchestrator import run
    from ragbench.render.report import load

    folder = make_folder(tmp_path / "docs")
    questions = write_questions(tmp_path / "q.jsonl", GOLD + REFERENCE_ONLY[2:3])
    result = init_experiment(folder, questions=questions, out=tmp_path / "e.yaml")
    data = load_config(result.path).model_dump(mode="json")
    data["base"] |= FAKE_MODELS
    config = parse_config(data)
    db = tmp_path / "r.duckdb"
    ran = run(config, limit=4, db=db, progress=False)
    assert ran.ok and len(ran.trials) == 9
    rep = load(db, run_id=ran.run_id)
    assert sum(rep.trials.stage == "answer+judge") == 2  # staged search kept two trials
    assert set(rep.scores.metric) == {
        "hit_rate",
        "mrr",
        "ndcg",
        "span_coverage",
        "abstained",
        "faithfulness",
        "answer_relevancy",
    }
    assert set(rep.scores[rep.scores.metric == "abstained"].question_id) == {"u1"}


# --- refusals ------------------------------------------------------------------------------------


def test_existing_yaml_is_kept_unless_forced(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    out = tmp_path / "e.yaml"
    out.write_text("mine")
    with pytest.raises(InitError, match="e.yaml exists: use --force to overwrite it"):
        init_experiment(folder, out=out)
    assert out.read_text() == "mine"
    result = invoke("init", folder, "--out", out)
    assert result.exit_code == 2 and "use --force" in result.stderr
    result = invoke("init", folder, "--out", out, "--force", "--name", "renamed")
    assert result.exit_code == 0, result.output
    assert load_config(out).name == "renamed"
    assert f"wrote {out} (experiment renamed, 9 trials)" in result.stdout


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"question_id": "a", "user_input": 3}], "line 1: user_input must be a string"),
        (
            [{"question_id": "a", "user_input": "?", "gold_doc_ids": ["ferry.md"]}],
            "a -> 'ferry.md' (did you mean 'ferry.txt'?); fix the question file",
        ),
        ([{"question_id": "a", "user_input": "?", "status": "pending"}], "no accepted question"),
    ],
)
def test_a_bad_question_file_is_refused(
    tmp_path: Path, rows: list[dict[str, Any]], message: str
) -> None:
    folder = make_folder(tmp_path / "docs")
    questions = write_questions(tmp_path / "q.jsonl", rows)
    result = invoke("init", folder, "--questions", questions, "--out", tmp_path / "e.yaml")
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e.yaml").exists()


def test_bad_name_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    with pytest.raises(InitError, match="--name 'a b': use letters, digits"):
        init_experiment(folder, name="a b", out=tmp_path / "e.yaml")


def test_cli_prints_inventory_summary_and_next_command(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    questions = write_questions(tmp_path / "q.jsonl", GOLD)
    out = tmp_path / "e.yaml"
    result = invoke("init", folder, "--questions", questions, "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{folder}: 3 files, ") and lines[0].endswith(
        "3 documents read, 0 skipped"
    )
    assert (
        "questions: 3 questions: 3 answerable (3 labelled with gold documents, 0 reference-only), "
        "0 unanswerable"
    ) in lines
    assert lines[-2:] == ["next:", f"  ragbench run {out}"]


def test_documents_loader_says_how_to_write_a_missing_question_file(tmp_path: Path) -> None:
    from ragbench.data.datasets import DataError, load_dataset

    folder = make_folder(tmp_path / "docs")
    result = init_experiment(folder, out=tmp_path / "exp" / "docs.yaml")
    config = load_config(result.path)
    with pytest.raises(DataError) as info:
        load_dataset(config.dataset)
    target = tmp_path / "exp" / "questions.jsonl"
    assert str(info.value) == (
        f"question file not found: {target}; write it with `ragbench synth {folder.resolve()} "
        f"--n 100 --out {target}`, or point dataset.questions at your own"
    )
    write_questions(target, GOLD)
    dataset = load_dataset(config.dataset)
    assert dataset.name == "docs" and len(dataset.corpus) == 3 and len(dataset.questions) == 3


# --- hostile folders (issue 23, second round) ----------------------------------------------------


def test_the_experiments_own_files_inside_the_folder_are_not_documents(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    questions = write_questions(folder / "q.jsonl", GOLD)
    result = invoke("init", folder, "--questions", questions, "--out", folder / "exp.yaml")
    assert result.exit_code == 0, result.output
    assert "3 documents read, 1 skipped" in result.stdout.splitlines()[0]
    assert "  skipped q.jsonl: the experiment's question file, not a document" in result.stdout
    again = invoke(
        "init", folder, "--questions", questions, "--out", folder / "exp.yaml", "--force"
    )
    assert again.exit_code == 0, again.output
    assert "  skipped exp.yaml: the experiment file init writes, not a document" in again.stdout


def test_a_yaml_inside_the_folder_names_a_question_file_synth_accepts(tmp_path: Path) -> None:
    from ragbench.data.walk import inside

    folder = make_folder(tmp_path / "docs")
    result = init_experiment(folder, out=folder / "exp.yaml")
    synth = result.next_commands[0]
    target = Path(synth.split(" --out ")[1])
    assert target == tmp_path / "docs-questions.jsonl"
    assert not inside(target, folder)  # the rule synth refuses --out by
    assert load_config(result.path).dataset.questions == str(target)
    assert any("goes beside" in note for note in result.notes)


def test_follow_symlinks_flag_counts_the_links_and_writes_the_key(tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "harbour.txt").write_text("The harbour master is Ines Sorel since 2019.\n")
    folder = make_folder(tmp_path / "docs")
    (folder / "harbour.txt").symlink_to(outside / "harbour.txt")
    plain = invoke("init", folder, "--out", tmp_path / "a.yaml")
    assert "3 documents read, 1 skipped" in plain.stdout
    assert "skipped harbour.txt: symlink to a file outside the corpus folder" in plain.stdout
    followed = invoke("init", folder, "--out", tmp_path / "b.yaml", "--follow-symlinks")
    assert followed.exit_code == 0, followed.output
    assert "4 documents read, 0 skipped" in followed.stdout
    assert load_config(tmp_path / "b.yaml").dataset.follow_symlinks is True
    assert "--follow-symlinks" in followed.stdout.splitlines()[-2]  # the synth command
