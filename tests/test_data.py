"""Dataset loaders: the demo set's integrity, skip-and-report for bad files, pg-essays."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ragbench.config.experiment import DatasetConfig
from ragbench.data.datasets import DataError, Dataset, load_dataset

QaFolderFactory = Callable[..., Path]
PG_ESSAYS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pg-essays"
# For corpora that are not about the default questions' gold documents.
NO_GOLD = [{"question_id": "t1", "user_input": "Anything?"}]


def collapse(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return load_dataset(DatasetConfig(loader="demo"))


def test_demo_counts(demo: Dataset) -> None:
    assert len(demo.corpus) == 15
    kinds = Counter(d.metadata["file_type"] for d in demo.corpus)
    assert kinds == {"md": 6, "html": 4, "txt": 4, "pdf": 1}
    assert len(demo.questions) == 25
    assert demo.skipped == []


def test_demo_ids_unique_and_stable(demo: Dataset) -> None:
    doc_ids = [d.id_ for d in demo.corpus]
    assert len(set(doc_ids)) == len(doc_ids)
    assert "about/history.md" in doc_ids
    assert all(d.metadata["doc_id"] == d.id_ for d in demo.corpus)
    question_ids = [q.question_id for q in demo.questions]
    assert len(set(question_ids)) == len(question_ids)


def test_demo_gold_docs_exist_and_spans_occur(demo: Dataset) -> None:
    texts = {d.id_: collapse(d.text) for d in demo.corpus}
    answerable = [q for q in demo.questions if q.gold_doc_ids]
    assert len(answerable) == 22
    for q in demo.questions:
        for doc_id in q.gold_doc_ids:
            assert doc_id in texts, f"{q.question_id}: gold doc {doc_id} not in corpus"
        for span in q.gold_spans:
            assert any(collapse(span) in texts[d] for d in q.gold_doc_ids), (
                f"{q.question_id}: span not found in its gold doc: {span!r}"
            )
    assert all(q.gold_spans for q in answerable)


def test_demo_unanswerable_questions_are_marked_and_have_no_gold(demo: Dataset) -> None:
    unanswerable = [q.question_id for q in demo.questions if not q.answerable]
    assert unanswerable == ["q23", "q24", "q25"]
    assert [q.question_id for q in demo.questions if not q.gold_doc_ids] == unanswerable
    assert all(not q.gold_spans for q in demo.questions if not q.answerable)


def test_demo_metadata_kept_out_of_embedded_text(demo: Dataset) -> None:
    from llama_index.core.schema import MetadataMode

    doc = next(d for d in demo.corpus if d.id_ == "about/history.md")
    assert "about/history.md" not in doc.get_content(metadata_mode=MetadataMode.EMBED)


def test_limit_keeps_first_questions() -> None:
    ds = load_dataset(DatasetConfig(loader="demo"), limit=4)
    assert [q.question_id for q in ds.questions] == ["q01", "q02", "q03", "q04"]


def test_corpus_hash_changes_with_text(make_qa_folder: QaFolderFactory) -> None:
    a = load_dataset(DatasetConfig(loader="qa-folder", path=str(make_qa_folder(name="a"))))
    b = load_dataset(DatasetConfig(loader="qa-folder", path=str(make_qa_folder(name="b"))))
    assert a.corpus_hash == b.corpus_hash
    c_root = make_qa_folder(docs={"lighthouse.md": "changed", "ferry.txt": "ferry"}, name="c")
    c = load_dataset(DatasetConfig(loader="qa-folder", path=str(c_root)))
    assert c.corpus_hash != a.corpus_hash


def test_skip_and_report_bad_files(make_qa_folder: QaFolderFactory) -> None:
    root = make_qa_folder(
        docs={
            "good.md": "# Good\nThe Corran lighthouse was built in 1871 by Ada Finch.\n",
            "broken.pdf": random.Random(0).randbytes(4096),
            "notes.xyz": "an unknown format",
            "latin1.txt": b"caf\xe9 cr\xe8me \xff\xfe",
        },
        questions=NO_GOLD,
    )
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))
    assert [d.id_ for d in ds.corpus] == ["good.md"]
    assert ds.corpus[0].metadata["file_type"] == "md"
    skipped = dict(ds.skipped)
    assert set(skipped) == {"broken.pdf", "notes.xyz", "latin1.txt"}
    assert skipped["broken.pdf"].startswith("corrupt pdf: ")
    assert "unsupported extension '.xyz'" in skipped["notes.xyz"]
    assert "UTF-8" in skipped["latin1.txt"]
    assert "skipped 3" in ds.summary()
    assert ds.name == "tiny"


def test_empty_and_whitespace_documents_skipped(make_qa_folder: QaFolderFactory) -> None:
    root = make_qa_folder(docs={"good.md": "text", "blank.txt": "  \n\n "}, questions=NO_GOLD)
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))
    assert dict(ds.skipped) == {"blank.txt": "no extractable text"}


def test_nested_html_doc_id_and_text(make_qa_folder: QaFolderFactory) -> None:
    html = "<html><head><style>p{}</style><script>var x=1;</script></head>"
    html += "<body><h1>Opening</h1><p>Doors open at <b>nine</b>.</p></body></html>"
    root = make_qa_folder(docs={"sub/dir/page.html": html}, questions=NO_GOLD)
    doc = load_dataset(DatasetConfig(loader="qa-folder", path=str(root))).corpus[0]
    assert doc.id_ == "sub/dir/page.html"
    assert "Doors open at" in doc.text and "nine" in doc.text
    assert "var x" not in doc.text and "p{}" not in doc.text


def test_empty_corpus_raises(make_qa_folder: QaFolderFactory) -> None:
    root = make_qa_folder(docs={})
    with pytest.raises(DataError, match="no readable documents"):
        load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))


def test_corpus_of_only_bad_files_raises_with_reasons(make_qa_folder: QaFolderFactory) -> None:
    root = make_qa_folder(docs={"a.xyz": "x"})
    with pytest.raises(DataError, match=r"a\.xyz: unsupported extension"):
        load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))


def test_missing_corpus_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="corpus folder not found"):
        load_dataset(DatasetConfig(loader="qa-folder", path=str(tmp_path)))


def test_qa_folder_without_path_raises() -> None:
    with pytest.raises(DataError, match="needs 'path'"):
        load_dataset(DatasetConfig(loader="qa-folder"))


def test_duplicate_question_ids_raise(make_qa_folder: QaFolderFactory) -> None:
    q = {
        "question_id": "dup",
        "user_input": "?",
        "reference": "",
        "gold_doc_ids": [],
        "gold_spans": [],
    }
    root = make_qa_folder(questions=[q, q])
    with pytest.raises(DataError, match="duplicate question ids"):
        load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))


def test_questions_missing_field_in_every_row_raise(make_qa_folder: QaFolderFactory) -> None:
    root = make_qa_folder(questions=[{"question_id": "a", "reference": "r"}])
    with pytest.raises(DataError, match="user_input"):
        load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))


def test_questions_missing_field_in_one_row_raise(make_qa_folder: QaFolderFactory) -> None:
    rows = [
        {"question_id": "a", "user_input": "first?", "reference": "r"},
        {"question_id": "b", "reference": "no question text"},
    ]
    root = make_qa_folder(questions=rows)
    with pytest.raises(DataError, match="user_input"):
        load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))


def test_hidden_folders_are_not_loaded(make_qa_folder: QaFolderFactory) -> None:
    root = make_qa_folder(
        docs={
            "good.md": "The good doc.",
            ".hidden.md": "a dot-file",
            ".ipynb_checkpoints/good-checkpoint.md": "The good doc.",
        },
        questions=NO_GOLD,
    )
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))
    assert [d.id_ for d in ds.corpus] == ["good.md"]


def test_write_questions_round_trip(make_qa_folder: QaFolderFactory) -> None:
    from ragbench.data.questions import write_questions

    root = make_qa_folder()
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))
    write_questions(root / "questions.jsonl", ds.questions[::-1])
    rows = [json.loads(line) for line in (root / "questions.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in rows] == ["t2", "t1"]
    again = load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))
    assert again.questions == ds.questions[::-1]


@pytest.mark.shared
def test_pg_essays_loader() -> None:
    if not PG_ESSAYS.is_dir():
        pytest.skip(f"{PG_ESSAYS} not present")
    ds = load_dataset(DatasetConfig(loader="pg-essays", path=str(PG_ESSAYS)))
    assert len(ds.corpus) == 212
    assert len(ds.questions) == 55
    assert ds.skipped == []
    doc_ids = {d.id_ for d in ds.corpus}
    for q in ds.questions:
        assert q.gold_doc_ids and set(q.gold_doc_ids) <= doc_ids, q.question_id
    assert len({q.question_id for q in ds.questions}) == 55


# --- gold ids checked against the corpus ------------------------------------------------------------

TYPO_QUESTIONS = [
    {"question_id": "t1", "user_input": "Who built it?", "gold_doc_ids": ["lighthous.md"]},
    {"question_id": "t2", "user_input": "When?", "gold_doc_ids": ["ferry.txt", "gone.pdf"]},
    {"question_id": "t3", "user_input": "Graded?", "gold_relevance": {"ferry.txt": 1, "x.md": 0}},
]


def test_unknown_gold_ids_are_an_error_by_default(make_qa_folder: QaFolderFactory) -> None:
    docs = {"lighthouse.md": "Built by Ada.", "ferry.txt": "Leaves at 7.", "gone.pdf": b"%PDF-x"}
    root = make_qa_folder(docs=docs, questions=TYPO_QUESTIONS)
    with pytest.raises(DataError) as info:
        load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))
    message = str(info.value)
    assert "3 gold doc id(s) name no document in the corpus" in message
    assert "t1 -> 'lighthous.md' (did you mean 'lighthouse.md'?)" in message
    assert "t2 -> 'gone.pdf' (skipped: corrupt pdf" in message
    assert "t3 -> 'x.md'" in message  # graded ids count too, even with gain 0
    assert "dataset.unknown_gold_ids: warn" in message


def test_unknown_gold_ids_warn_mode_keeps_going(make_qa_folder: QaFolderFactory) -> None:
    good = {"question_id": "ok", "user_input": "Ferry?", "gold_doc_ids": ["ferry.txt"]}
    root = make_qa_folder(questions=[TYPO_QUESTIONS[0], good])
    cfg = DatasetConfig(loader="qa-folder", path=str(root), unknown_gold_ids="warn")
    ds = load_dataset(cfg)
    assert [q.question_id for q in ds.questions] == ["t1", "ok"]
    assert len(ds.warnings) == 1 and "1 gold doc id(s)" in ds.warnings[0]
    assert "t1 -> 'lighthous.md' (did you mean 'lighthouse.md'?)" in ds.warnings[0]
    assert "score as not retrieved" in ds.warnings[0]


def test_unknown_gold_ids_mode_is_validated() -> None:
    from ragbench.config.experiment import ConfigError, parse_config

    with pytest.raises(ConfigError, match="unknown unknown_gold_ids mode 'warning'"):
        parse_config({"name": "x", "dataset": {"unknown_gold_ids": "warning"}})


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_limit_must_be_a_positive_whole_number(limit: object) -> None:
    with pytest.raises(DataError, match="limit must be a whole number of questions >= 1"):
        load_dataset(DatasetConfig(loader="demo"), limit=limit)  # type: ignore[arg-type]
