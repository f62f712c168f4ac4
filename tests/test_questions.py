"""The question schema: every field's type checked on load, with the file and row in the error;
graded relevance; question sets from the Hugging Face hub (offline error, mocked online load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ragbench.config.experiment import DatasetConfig
from ragbench.data.datasets import DataError, load_dataset
from ragbench.data.questions import Question, read_questions, write_questions

GOOD = {
    "question_id": "q1",
    "user_input": "Who built the lighthouse?",
    "reference": "Ada Finch.",
    "gold_doc_ids": ["lighthouse.md"],
    "gold_spans": ["built in 1871 by Ada Finch"],
}


def write_rows(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def error_for(tmp_path: Path, **fields: Any) -> str:
    """The DataError message for a file whose second line is GOOD with ``fields`` changed."""
    path = write_rows(tmp_path / "q.jsonl", [GOOD, {**GOOD, "question_id": "q2", **fields}])
    with pytest.raises(DataError) as info:
        read_questions(path)
    message = str(info.value)
    assert str(path) in message and "line 2" in message and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"user_input": 42}, "user_input must be a string, got number 42"),
        ({"user_input": ["a", "list"]}, "user_input must be a string, got list"),
        ({"user_input": "   "}, "user_input must be a non-empty string"),
        ({"user_input": None}, "user_input must be a string, got null"),
        ({"question_id": ""}, "question_id must be a non-empty string"),
        ({"question_id": True}, "question_id must be a string, got boolean"),
        ({"reference": 3.5}, "reference must be a string, got number"),
        ({"gold_doc_ids": "lighthouse.md"}, 'write ["lighthouse.md"]'),
        ({"gold_doc_ids": [1, 2]}, "gold_doc_ids must hold non-empty strings, got number 1"),
        ({"gold_spans": [""]}, "gold_spans must hold non-empty strings"),
        ({"gold_spans": "a span"}, "gold_spans must be a list of strings, got the string"),
        ({"user_groups": "staff"}, "user_groups must be a list of strings, got the string"),
        ({"user_groups": {"a": 1}}, "user_groups must be a list of strings, got object"),
        ({"gold_doc_id": ["x"]}, "unknown key 'gold_doc_id' (did you mean 'gold_doc_ids'?)"),
        ({"user_input": "bad \ud800 text"}, "user_input: invalid Unicode: lone surrogate U+D800"),
        ({"gold_relevance": {"lighthouse.md": 1.5}}, "must be a whole number >= 0, got number"),
        ({"gold_relevance": {"lighthouse.md": True}}, "got boolean"),
        ({"gold_relevance": []}, "gold_relevance must be a non-empty {doc_id: gain} object"),
        ({"gold_relevance": {"other.md": 2}}, "gold_doc_ids and the gain > 0 documents"),
    ],
)
def test_every_field_is_type_checked(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    assert expected in error_for(tmp_path, **fields)


def test_problems_of_several_rows_in_one_line(tmp_path: Path) -> None:
    rows = [GOOD] + [{**GOOD, "question_id": f"b{i}", "user_input": i} for i in range(7)]
    path = write_rows(tmp_path / "q.jsonl", rows)
    with pytest.raises(DataError, match=r"line 2: .*; line 3: .*\(and 2 more\)$"):
        read_questions(path)


def test_row_that_is_not_an_object_and_invalid_json(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "q.jsonl", [GOOD, ["a", "list"]])
    with pytest.raises(DataError, match="line 2: expected a JSON object, got list"):
        read_questions(path)
    path.write_text(json.dumps(GOOD) + "\n{broken\n")
    with pytest.raises(DataError, match="line 2: invalid JSON"):
        read_questions(path)


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"question_id": "q\xe9"}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        read_questions(path)
    with pytest.raises(DataError, match="question file not found"):
        read_questions(tmp_path / "nope.jsonl")


def test_defaults_and_integer_ids(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "q.jsonl", [{"question_id": 7, "user_input": "Why?"}])
    (question,), warnings = read_questions(path)
    assert question == Question("7", "Why?", "", [], [], None, None)
    assert warnings == []


def test_json_list_file_reports_items(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps([GOOD, {**GOOD, "question_id": "q2", "gold_doc_ids": "x.md"}]))
    with pytest.raises(DataError, match="item 2: gold_doc_ids must be a list"):
        read_questions(path)


def test_graded_relevance_gives_gold_doc_ids_and_round_trips(tmp_path: Path) -> None:
    row = {**GOOD, "gold_relevance": {"lighthouse.md": 2, "ferry.txt": 1, "noise.md": 0}}
    del row["gold_doc_ids"]
    (question,), _ = read_questions(write_rows(tmp_path / "q.jsonl", [row]))
    assert question.gold_relevance == {"lighthouse.md": 2, "ferry.txt": 1, "noise.md": 0}
    assert question.gold_doc_ids == ["lighthouse.md", "ferry.txt"]  # gain > 0, in file order
    write_questions(tmp_path / "again.jsonl", [question])
    assert read_questions(tmp_path / "again.jsonl")[0] == [question]
    plain, _ = read_questions(write_rows(tmp_path / "plain.jsonl", [GOOD]))
    write_questions(tmp_path / "plain2.jsonl", plain)
    assert set(json.loads((tmp_path / "plain2.jsonl").read_text())) == set(GOOD)


def test_qa_folder_reads_a_named_question_file(make_qa_folder: Any) -> None:
    root = make_qa_folder()
    write_rows(root / "other.jsonl", [{**GOOD, "question_id": "only"}])
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(root), questions="other.jsonl"))
    assert [q.question_id for q in ds.questions] == ["only"]


# --- Hugging Face hub ---------------------------------------------------------------------------


def test_hub_set_offline_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        read_questions("hf:ragbench-tests/no-such-set:test")
    message = str(info.value)
    assert message.startswith("questions 'hf:ragbench-tests/no-such-set:test': ")
    assert "offline" in message and "local questions.jsonl" in message and "\n" not in message


def test_hub_set_loads_through_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls: list[tuple[str, str | None]] = []
    rows = [{**GOOD, "category": "lookup"}, {**GOOD, "question_id": "q2", "category": "x"}]

    def fake_load(name: str, split: str | None = None) -> Any:
        calls.append((name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    questions, warnings = read_questions("hf:owner/qa-set:validation")
    assert calls == [("owner/qa-set", "validation")]
    assert [q.question_id for q in questions] == ["q1", "q2"]
    assert questions[0].gold_doc_ids == ["lighthouse.md"]
    assert warnings == ["hf:owner/qa-set:validation: ignored columns ['category']"]


def test_hub_set_rows_are_validated_and_splits_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    bad = datasets.Dataset.from_list([{**GOOD, "gold_doc_ids": "lighthouse.md"}])
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split=None: bad)
    with pytest.raises(DataError, match=r"hf:o/n: bad questions: row 1: gold_doc_ids must be"):
        read_questions("hf:o/n")
    two = datasets.DatasetDict({"train": bad, "test": bad})
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split=None: two)
    with pytest.raises(DataError, match="has splits train, test: name one, e.g. hf:o/n:train"):
        read_questions("hf:o/n")
    with pytest.raises(DataError, match="expected hf:OWNER/NAME"):
        read_questions("hf:just-a-name")


# --- answerable, kind, status, reason, provenance (the synthesized-question row) ----------------

SYNTH_ROW = {
    "question_id": "synth-3f9a2c1b7d04",
    "user_input": "Why did the keeper light the lamp by hand?",
    "reference": "Because the clockwork had failed.",
    "gold_doc_ids": ["lighthouse.md"],
    "gold_spans": ["built in 1871 by Ada Finch"],
    "answerable": True,
    "kind": "single",
    "status": "accepted",
    "reason": None,
    "provenance": {
        "generator": "fake-llm",
        "seed": 0,
        "sources": [{"doc_id": "lighthouse.md", "start": 0, "end": 40, "passage": "..."}],
        "spans": [{"doc_id": "lighthouse.md", "start": 12, "end": 38}],
        "reviewed_by": "filters",
        "edited": False,
    },
}
UNANSWERABLE = {
    "question_id": "u1",
    "user_input": "How many parking spaces are there?",
    "answerable": False,
    "kind": "unanswerable",
}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"answerable": "yes"}, "answerable must be true or false, got string"),
        ({"answerable": 1}, "answerable must be true or false, got number 1"),
        ({"answerable": False}, "answerable is false but gold_doc_ids are given"),
        (
            {"answerable": False, "gold_doc_ids": None, "gold_relevance": {"lighthouse.md": 2}},
            "answerable is false but gold_doc_ids are given",
        ),
        (
            {"answerable": False, "gold_doc_ids": [], "kind": "unanswerable"},
            "answerable is false but gold_spans are given",
        ),
        ({"kind": "unanswerable", "gold_doc_ids": [], "gold_spans": []}, 'kind "unanswerable"'),
        (
            {"kind": "unanswerable", "answerable": True, "gold_doc_ids": [], "gold_spans": []},
            'kind "unanswerable" needs answerable: false',
        ),
        (
            {"kind": "single", "answerable": False, "gold_doc_ids": [], "gold_spans": []},
            'answerable is false, so kind must be "unanswerable", not "single"',
        ),
        ({"kind": "singel"}, "unknown kind 'singel' (did you mean 'single'?)"),
        ({"kind": 2}, "kind must be a string, got number"),
        ({"status": "acepted"}, "unknown status 'acepted' (did you mean 'accepted'?)"),
        ({"reason": 3}, "reason must be a string, got number"),
        ({"provenance": ["a"]}, "provenance must be an object, got list"),
        ({"provenance": "filters"}, "provenance must be an object, got string"),
    ],
)
def test_new_fields_are_type_checked(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    assert expected in error_for(tmp_path, **fields)


def test_missing_gold_means_answerable(tmp_path: Path) -> None:
    rows = [
        {"question_id": "a", "user_input": "Who?", "reference": "Ada."},
        {"question_id": "b", "user_input": "When?", "gold_doc_ids": [], "answerable": None},
        UNANSWERABLE,
    ]
    questions, warnings = read_questions(write_rows(tmp_path / "q.jsonl", rows))
    assert [(q.question_id, q.answerable) for q in questions] == [
        ("a", True),
        ("b", True),
        ("u1", False),
    ]
    assert [q.status for q in questions] == ["accepted"] * 3 and warnings == []
    assert questions[2].kind == "unanswerable" and questions[0].kind is None


def test_synthesized_row_round_trips(tmp_path: Path) -> None:
    rejected = {
        **SYNTH_ROW,
        "question_id": "synth-000000000001",
        "status": "rejected",
        "reason": "leaks the answer: the reference is in the question",
    }
    path = write_rows(tmp_path / "q.jsonl", [SYNTH_ROW, rejected, UNANSWERABLE])
    questions, _ = read_questions(path, all_rows=True)
    first = questions[0]
    assert (first.answerable, first.kind, first.status, first.reason) == (
        True,
        "single",
        "accepted",
        None,
    )
    assert first.provenance == SYNTH_ROW["provenance"]
    assert questions[1].reason == "leaks the answer: the reference is in the question"
    write_questions(tmp_path / "again.jsonl", questions)
    assert read_questions(tmp_path / "again.jsonl", all_rows=True)[0] == questions
    written = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()]
    # implied values are left out: answerable true, status accepted, reason null
    assert set(written[0]) == set(SYNTH_ROW) - {"answerable", "status", "reason"}
    assert written[1]["status"] == "rejected" and written[2]["answerable"] is False


SKIP_WARNING = (
    "2 rejected and 1 pending questions skipped: experiments use accepted questions "
    "(review them in notebooks/05-review-questions.ipynb)"
)


def test_rejected_and_pending_rows_are_skipped_with_one_warning(tmp_path: Path) -> None:
    rows = [
        {**GOOD, "question_id": "ok1"},
        {**GOOD, "question_id": "no1", "status": "rejected", "reason": "duplicate: of ok1"},
        {**GOOD, "question_id": "ok2", "status": "accepted"},
        {**GOOD, "question_id": "wait", "status": "pending"},
        {**GOOD, "question_id": "no2", "status": "rejected"},
    ]
    path = write_rows(tmp_path / "q.jsonl", rows)
    questions, warnings = read_questions(path)
    assert [q.question_id for q in questions] == ["ok1", "ok2"]
    assert warnings == [f"{path}: {SKIP_WARNING}"]
    everything, none = read_questions(path, all_rows=True)
    assert len(everything) == 5 and none == []


def test_dataset_warns_once_about_skipped_rows(make_qa_folder: Any) -> None:
    rows = [
        {"question_id": "t1", "user_input": "Who built it?", "gold_doc_ids": ["lighthouse.md"]},
        {"question_id": "t2", "user_input": "A?", "status": "rejected"},
        {"question_id": "t3", "user_input": "B?", "status": "pending"},
        {"question_id": "t4", "user_input": "C?", "status": "rejected"},
    ]
    root = make_qa_folder(questions=rows)
    ds = load_dataset(DatasetConfig(loader="qa-folder", path=str(root)))
    assert [q.question_id for q in ds.questions] == ["t1"]
    assert ds.warnings == [f"{root / 'questions.jsonl'}: {SKIP_WARNING}"]


def test_no_accepted_question_is_a_data_error(tmp_path: Path) -> None:
    rows = [{**GOOD, "status": "rejected"}, {**GOOD, "question_id": "q2", "status": "pending"}]
    path = write_rows(tmp_path / "q.jsonl", rows)
    with pytest.raises(DataError) as info:
        read_questions(path)
    message = str(info.value)
    assert message.startswith(f"{path}: no accepted question (1 rejected and 1 pending questions)")
    assert "notebooks/05-review-questions.ipynb" in message and "\n" not in message


def test_implied_values_do_not_change_the_data_hash(tmp_path: Path) -> None:
    from ragbench.experiment.provenance import data_hash

    plain, _ = read_questions(write_rows(tmp_path / "a.jsonl", [GOOD]))
    spelled, _ = read_questions(
        write_rows(tmp_path / "b.jsonl", [{**GOOD, "answerable": True, "status": "accepted"}])
    )
    assert plain == spelled
    assert data_hash("c", plain) == data_hash("c", spelled)
    flagged, _ = read_questions(write_rows(tmp_path / "c.jsonl", [{**GOOD, "kind": "single"}]))
    assert data_hash("c", flagged) != data_hash("c", plain)
