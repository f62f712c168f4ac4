"""The review model (data.review), its views (render.review, notebook.review) and notebook 05.

The sample file (ragbench/demo/synth_sample.jsonl, notebook 05's default) holds six synthesized
rows over the demo corpus, with real character offsets: 3 accepted (single, multi, unanswerable),
1 pending single whose question says "according to the passage", and 2 rejected singles (leaks the
answer; span not found).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import pytest

import ragbench.data.review_rows as review_rows
from ragbench.data.readers import DataError
from ragbench.notebook.review import (
    ReviewError,
    ReviewPanel,
    ReviewSet,
    card_html,
    highlight,
    join_spans,
    split_spans,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "ragbench" / "demo" / "synth_sample.jsonl"
DEMO = ROOT / "ragbench" / "demo" / "corpus"
NB05 = ROOT / "notebooks" / "05-review-questions.ipynb"

SINGLE = "synth-5bee36ac3fb4"  # accepted
MULTI = "synth-1a96c5342846"  # accepted, two source passages
UNANSWERABLE = "synth-862bfc153598"  # accepted, answerable false
PENDING = "synth-a7812db565ad"  # "According to the passage, ..."
LEAKS = "synth-779f60588102"  # rejected: leaks the answer
NOT_FOUND = "synth-b4468ec9c70b"  # rejected: span not found
ORDER = [SINGLE, MULTI, UNANSWERABLE, PENDING, LEAKS, NOT_FOUND]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A writable copy of the sample file."""
    return Path(shutil.copy(SAMPLE, tmp_path / "questions.jsonl"))


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_rows(path: Path, *rows: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# --- loading ----------------------------------------------------------------------------------------


def test_sample_loads_with_counts_per_kind_and_status() -> None:
    review = ReviewSet.load(SAMPLE)
    assert review.question_ids == ORDER and len(review) == 6
    counts = review.counts()
    assert list(counts.columns) == ["accepted", "rejected", "pending", "total"]
    assert counts.loc["single"].tolist() == [1, 2, 1, 4]
    assert counts.loc["multi"].tolist() == [1, 0, 0, 1]
    assert counts.loc["unanswerable"].tolist() == [1, 0, 0, 1]
    assert counts.loc["all"].tolist() == [3, 2, 1, 6]
    assert review.ids(status="rejected") == [LEAKS, NOT_FOUND]
    assert review.ids(kind="single", status="pending") == [PENDING]
    assert review.ids(kind="multi") == [MULTI]
    assert review.rejections().to_dict() == {"leaks the answer": 1, "span not found": 1}
    assert review.summary() == "3 accepted, 2 rejected, 1 pending"
    assert review.unsaved == 0
    with pytest.raises(ReviewError, match="unknown status 'rejectd' \\(did you mean 'rejected'"):
        review.ids(status="rejectd")


def test_sample_offsets_point_at_the_demo_documents() -> None:
    """The sample is made of real passages: every source and span offset is exact."""
    review = ReviewSet.load(SAMPLE)
    for qid in ORDER:
        row = review.row(qid)
        for source in row["provenance"]["sources"]:
            text = (DEMO / source["doc_id"]).read_text()
            assert text[source["start"] : source["end"]] == source["passage"]
        for span, where in zip(row["gold_spans"], row["provenance"]["spans"], strict=False):
            assert (DEMO / where["doc_id"]).read_text()[where["start"] : where["end"]] == span


def test_missing_status_means_accepted_and_missing_kind_follows_the_row(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "q.jsonl",
        {"question_id": "a", "user_input": "Q1?", "gold_doc_ids": ["x"]},
        {"question_id": 7, "user_input": "Q2?", "gold_doc_ids": ["x", "y"], "status": None},
        {"question_id": "c", "user_input": "Q3?", "answerable": False, "status": "pending"},
    )
    review = ReviewSet.load(path)
    assert review.question_ids == ["a", "7", "c"]
    assert review.ids(status="accepted") == ["a", "7"]
    assert review.ids(kind="single") == ["a"] and review.ids(kind="multi") == ["7"]
    assert review.ids(kind="unanswerable") == ["c"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"question_id": "a", "user_input": "Q?"}\n{"question_id": "b", \n',
            "q.jsonl: 1 bad row(s): line 2: not valid JSON (Expecting property name enclosed in "
            "double quotes at column 22)",
        ),
        ('["a", "b"]\n', "line 1: not a JSON object but list"),
        ('{"user_input": "Q?"}\n', "line 1: no question_id"),
        ('{"question_id": "a", "user_input": "  "}\n', "line 1: no user_input"),
        (
            '{"question_id": "a", "user_input": "Q?"}\n\n{"question_id": "a", "user_input": "R?"}\n',
            "line 3: duplicate question_id 'a' (also on line 1)",
        ),
        (
            '{"question_id": "a", "user_input": "Q?", "status": "acepted"}\n',
            "line 1: unknown status \"acepted\" (did you mean 'accepted'?)",
        ),
        ('{"question_id": "a", "user_input": "Q?", "kind": "double"}\n', "line 1: unknown kind"),
        ('{"question_id": "a", "user_input": "Q?", "provenance": []}\n', "must be an object"),
        ("\n  \n", "q.jsonl: no questions in the file"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(ReviewError) as exc:
        ReviewSet.load(path)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert isinstance(exc.value, DataError)  # callers that catch data errors catch these too


def test_many_bad_rows_are_counted_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text("{}\n" * 8)
    with pytest.raises(ReviewError) as exc:
        ReviewSet.load(path)
    text = str(exc.value)
    assert text.startswith("q.jsonl: 8 bad row(s): line 1: no question_id")
    assert "line 5:" in text and "line 6:" not in text and text.endswith("(and 3 more)")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="^question file not found: .*ragbench synth"):
        ReviewSet.load(tmp_path / "nope.jsonl")


# --- decisions ------------------------------------------------------------------------------------


def test_reject_needs_a_reason_and_changes_nothing_without_one(sample: Path) -> None:
    review = ReviewSet.load(sample)
    for reason in ("", "   ", None):
        with pytest.raises(ReviewError, match=f"reject {PENDING}: a reason is required"):
            review.reject(PENDING, reason)  # type: ignore[arg-type]
    assert review.row(PENDING)["status"] == "pending"
    assert review.row(PENDING)["provenance"]["reviewed_by"] == "filters"
    assert review.unsaved == 0
    with pytest.raises(ReviewError, match="unknown question_id 'synth-5bee36ac3fb5' \\(did you"):
        review.accept("synth-5bee36ac3fb5")


def test_decisions_round_trip_through_save(sample: Path) -> None:
    before = lines(sample)
    review = ReviewSet.load(sample)
    review.reject(PENDING, "  too vague:\n which rays? ")
    review.accept(LEAKS, note="the number is needed to make the question unambiguous")
    review.accept(SINGLE)
    assert review.unsaved == 3
    message = review.save()
    assert message == "saved 6 rows to questions.jsonl (4 accepted, 2 rejected)"  # none pending
    assert review.unsaved == 0

    after = lines(sample)
    assert len(after) == 6
    assert [json.loads(t)["question_id"] for t in after] == ORDER
    for k in (1, 2, 5):  # untouched rows: byte for byte as they were
        assert after[k] == before[k]
    again = ReviewSet.load(sample)
    pending = again.row(PENDING)
    assert pending["status"] == "rejected"
    assert pending["reason"] == "too vague: which rays?"
    assert pending["provenance"]["reviewed_by"] == "person"
    assert pending["provenance"]["edited"] is False  # a decision is not an edit
    leaks = again.row(LEAKS)
    assert leaks["status"] == "accepted"
    assert leaks["reason"] == "the number is needed to make the question unambiguous"
    assert leaks["provenance"]["previous_reason"].startswith("leaks the answer: ")
    single = again.row(SINGLE)
    assert single["status"] == "accepted" and single["reason"] is None
    assert single["provenance"]["reviewed_by"] == "person"
    assert again.rejections().to_dict() == {"reviewer": 1, "span not found": 1}


def test_save_keeps_unknown_keys_order_and_untouched_lines(tmp_path: Path) -> None:
    odd = '{"user_input":"Odd spacing?",   "question_id":"b", "x_score": 0.5}'
    path = write_rows(
        tmp_path / "q.jsonl",
        {"question_id": "a", "user_input": "Q1?", "extra": {"k": [1, 2]}, "provenance": {"p": 1}},
        "",
        odd,
        {"question_id": "c", "user_input": "Q3 caf\u00e9?", "status": "pending", "z": None},
    )
    review = ReviewSet.load(path)
    review.reject("a", "duplicate: same as b")
    review.accept("c")
    review.save()
    texts = lines(path)
    assert len(texts) == 3  # the blank line is not kept
    assert texts[1] == odd
    first, third = json.loads(texts[0]), json.loads(texts[2])
    assert list(first) == ["question_id", "user_input", "extra", "provenance", "status", "reason"]
    assert first["extra"] == {"k": [1, 2]}
    assert first["provenance"] == {"p": 1, "reviewed_by": "person"}
    assert third["z"] is None and third["user_input"] == "Q3 caf\u00e9?" and "caf\u00e9" in texts[2]


def test_edit_marks_the_row_and_keeps_the_original(sample: Path) -> None:
    review = ReviewSet.load(sample)
    question = "Who led the Harbourlight library network first, and until when?"
    assert review.edit(SINGLE, user_input=f"  {question}\n", reference=None) is True
    row = review.row(SINGLE)
    assert row["user_input"] == question
    prov = row["provenance"]
    assert prov["edited"] is True and prov["reviewed_by"] == "person"
    assert prov["original"] == {
        "user_input": "Who was the first director of the Harbourlight library network, and how "
        "long did she lead it?"
    }
    assert review.edit(SINGLE, user_input="A third wording?") is True
    assert review.row(SINGLE)["provenance"]["original"]["user_input"].startswith("Who was")
    assert row["status"] == "accepted"  # an edit is not a decision on the status
    # the same text again (whitespace aside) is no edit
    other = ReviewSet.load(sample)
    reference = other.row(MULTI)["reference"]
    assert other.edit(MULTI, reference=f"{reference}  ") is False and other.unsaved == 0


def test_edited_span_must_occur_verbatim_in_a_source_passage(sample: Path) -> None:
    review = ReviewSet.load(sample)
    with pytest.raises(ReviewError) as exc:
        review.edit(MULTI, gold_spans=["Beacon replaced CardexPro in 2019"])
    assert str(exc.value) == (
        f'edit {MULTI}: the evidence span "Beacon replaced CardexPro in 2019" does not occur '
        "verbatim in the source passage(s) (about/history.md, services/digital-services.md); "
        "copy it from the passage"
    )
    assert review.unsaved == 0 and review.row(MULTI)["provenance"]["edited"] is False
    spans = ["shared computer catalogue", "All libraries closed on Saturday 9 November"]
    assert review.edit(MULTI, gold_spans=spans) is True
    row = review.row(MULTI)
    assert row["gold_spans"] == spans
    located = row["provenance"]["spans"]
    assert [s["doc_id"] for s in located] == ["about/history.md", "services/digital-services.md"]
    for span, where in zip(spans, located, strict=True):  # offsets into the document itself
        assert (DEMO / where["doc_id"]).read_text()[where["start"] : where["end"]] == span


def test_a_row_whose_span_is_not_in_its_passage_is_accepted_only_once_fixed(sample: Path) -> None:
    review = ReviewSet.load(sample)
    with pytest.raises(ReviewError) as exc:
        review.accept(NOT_FOUND)
    assert str(exc.value) == (
        f'accept {NOT_FOUND}: the evidence span "The logo was made by Hester Quayle in 1987" '
        "does not occur in the source passage(s); correct the span first (copy it from the passage)"
    )
    assert review.row(NOT_FOUND)["status"] == "rejected" and review.unsaved == 0
    review.edit(NOT_FOUND, gold_spans=["was drawn in 1987 by local printmaker Hester Quayle"])
    review.accept(NOT_FOUND)
    row = review.row(NOT_FOUND)
    assert row["status"] == "accepted" and row["provenance"]["edited"] is True
    assert row["provenance"]["previous_reason"].startswith("span not found: ")
    assert row["provenance"]["original"]["gold_spans"] == [
        "The logo was made by Hester Quayle in 1987"
    ]


@pytest.mark.parametrize(
    ("qid", "change", "message"),
    [
        (SINGLE, {"user_input": " \n"}, "the question cannot be empty"),
        (SINGLE, {"reference": ""}, "the reference answer cannot be empty"),
        (UNANSWERABLE, {"reference": "About 3,000."}, "an unanswerable question has no reference"),
        (UNANSWERABLE, {"gold_spans": ["Beacon"]}, "an unanswerable question has no evidence"),
        (SINGLE, {"gold_spans": []}, "needs at least one evidence span"),
        (SINGLE, {"gold_spans": "The first director"}, "must be a list of non-empty strings"),
        (SINGLE, {"gold_spans": [""]}, "must be a list of non-empty strings"),
    ],
)
def test_edits_that_are_refused(
    sample: Path, qid: str, change: dict[str, Any], message: str
) -> None:
    review = ReviewSet.load(sample)
    before = review.row(qid)
    with pytest.raises(ReviewError, match=message):
        review.edit(qid, **change)
    assert review.row(qid) == before and review.unsaved == 0


def test_span_edit_without_source_passages_is_refused(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "q.jsonl",
        {"question_id": "a", "user_input": "Q?", "reference": "R", "gold_doc_ids": ["d"]},
    )
    with pytest.raises(ReviewError, match="\\(none recorded\\)"):
        ReviewSet.load(path).edit("a", gold_spans=["R"])


# --- saving ---------------------------------------------------------------------------------------


def test_a_failed_save_leaves_the_file_and_no_temp_file(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = sample.read_bytes()
    review = ReviewSet.load(sample)
    review.reject(PENDING, "not self-contained: mentions the passage")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(review_rows.os, "replace", broken_replace)
    with pytest.raises(ReviewError, match="^could not save questions.jsonl: No space left"):
        review.save()
    assert sample.read_bytes() == original
    assert sorted(p.name for p in sample.parent.iterdir()) == ["questions.jsonl"]
    assert review.unsaved == 1  # the decision is still there to save again
    monkeypatch.undo()
    assert review.save().startswith("saved 6 rows")
    assert ReviewSet.load(sample).row(PENDING)["status"] == "rejected"


def test_save_keeps_the_file_mode(sample: Path) -> None:
    os.chmod(sample, 0o640)
    review = ReviewSet.load(sample)
    review.accept(PENDING)
    review.save()
    assert sample.stat().st_mode & 0o777 == 0o640


def test_a_file_changed_on_disk_is_not_overwritten(sample: Path, tmp_path: Path) -> None:
    review = ReviewSet.load(sample)
    review.accept(PENDING)
    with sample.open("a") as f:
        f.write('{"question_id": "late", "user_input": "Appended by synth?"}\n')
    with pytest.raises(ReviewError, match="questions.jsonl changed on disk since it was loaded"):
        review.save()
    assert lines(sample)[-1].startswith('{"question_id": "late"')
    elsewhere = tmp_path / "reviewed.jsonl"
    assert review.save(elsewhere) == "saved 6 rows to reviewed.jsonl (4 accepted, 2 rejected)"
    assert review.path == elsewhere  # later saves go to the new file
    review.reject(SINGLE, "duplicate: same as another")
    review.save()
    assert ReviewSet.load(elsewhere).row(SINGLE)["status"] == "rejected"
    assert len(lines(sample)) == 7  # the original, with the appended row, untouched


def test_save_without_a_change_writes_nothing(sample: Path) -> None:
    review = ReviewSet.load(sample)
    stamp = sample.stat().st_mtime_ns
    assert review.save() == (
        "nothing to save: questions.jsonl is unchanged (3 accepted, 2 rejected, 1 pending)"
    )
    assert sample.stat().st_mtime_ns == stamp
    review.accept(PENDING)
    assert review.save().startswith("saved 6 rows")
    assert review.save().startswith("nothing to save")


def test_the_shipped_sample_is_reviewed_but_never_overwritten(tmp_path: Path) -> None:
    before = SAMPLE.read_bytes()
    review = ReviewSet.load("demo")
    assert review.path == SAMPLE and review.read_only and len(review) == 6
    said = review.save()
    assert said.startswith("nothing to save: ") and "synth_sample.jsonl is unchanged" in said
    review.reject(PENDING, "not self-contained")
    with pytest.raises(
        ReviewError, match="^synth_sample.jsonl is the sample shipped with ragbench"
    ):
        review.save()
    assert SAMPLE.read_bytes() == before
    mine = tmp_path / "reviewed.jsonl"
    assert review.save(mine).startswith("saved 6 rows to reviewed.jsonl")
    assert not review.read_only and ReviewSet.load(mine).row(PENDING)["status"] == "rejected"
    assert SAMPLE.read_bytes() == before
    assert not ReviewSet.load(mine).read_only


def test_a_rule_previews_by_default_and_applies_when_asked(sample: Path) -> None:
    from ragbench.notebook.review_rules import check_rule, refers_to_the_passage

    review = ReviewSet.load(sample)
    preview = check_rule(review, refers_to_the_passage)
    assert [qid for qid, _, _ in preview.rejects] == [PENDING] and not preview.applied
    assert review.unsaved == 0 and review.row(PENDING)["status"] == "pending"
    assert "a preview, nothing changed" in preview._repr_html_()
    assert check_rule(review, refers_to_the_passage, status=None).checked == 6
    applied = check_rule(review, refers_to_the_passage, apply=True)
    assert applied.rejects == preview.rejects and review.unsaved == 1
    assert review.row(PENDING)["reason"] == "not self-contained: refers to the passage"
    assert "rejected 1 of 1 pending question(s), not saved yet" in repr(applied)
    assert "rejects none of 0 pending question(s)" in repr(
        check_rule(review, refers_to_the_passage)
    )


def test_panel_header_agrees_with_the_file(sample: Path) -> None:
    from ragbench.notebook.review_rules import check_rule, refers_to_the_passage

    review = ReviewSet.load(sample)
    panel = ReviewPanel(review)
    check_rule(review, refers_to_the_passage)
    panel.refresh()
    assert "no unsaved changes" in panel.header.value
    check_rule(review, refers_to_the_passage, apply=True)
    panel.refresh()
    assert "1 unsaved change(s)" in panel.header.value
    review.save()
    panel.refresh()
    assert "no unsaved changes" in panel.header.value
    assert "shipped with ragbench" not in panel.header.value
    assert "the sample shipped with ragbench" in ReviewPanel("demo").header.value


# --- the card ---------------------------------------------------------------------------------------


def test_highlight_marks_every_occurrence_and_merges_overlaps() -> None:
    text = "a <b> c a <b> c"
    assert highlight(text, ["<b>"]) == "a <mark>&lt;b&gt;</mark> c a <mark>&lt;b&gt;</mark> c"
    assert highlight("abcdef", ["bcd", "cde", ""]) == "a<mark>bcde</mark>f"
    assert highlight("abc", ["zz"]) == "abc"


def test_card_shows_the_evidence_in_its_passage() -> None:
    review = ReviewSet.load(SAMPLE)
    page = card_html(review.row(MULTI))
    assert "source passage 1 of 2" in page and "source passage 2 of 2" in page
    assert "<code>services/digital-services.md</code>" in page
    assert page.count("<mark>") == 2
    assert "<mark>It replaced the older CardexPro system" in page
    missing = card_html(review.row(NOT_FOUND))
    assert "evidence not found in the source passage(s)" in missing
    assert "<mark>" not in missing and "The logo was made by Hester Quayle in 1987" in missing
    assert "reason</b>: span not found: " in missing
    empty = card_html(review.row(UNANSWERABLE))
    assert "unanswerable: the question was written near these passages" in empty
    assert "<b>reference answer</b>: <i" in empty


def test_card_escapes_row_text() -> None:
    row = {
        "question_id": "q<1>",
        "user_input": "Is <b>this</b> bold?",
        "reference": "<img src=x>",
        "gold_doc_ids": ["doc&1"],
        "gold_spans": ["<script>"],
        "status": "rejected",
        "reason": "<i>why</i>",
        "provenance": {"sources": [{"doc_id": "d<2>", "passage": "x <script> y"}]},
    }
    page = card_html(row)
    for raw in ("<b>this", "<img", "<script>", "d<2>", "<i>why", "q<1>", "doc&1"):
        assert raw not in page
    assert "<mark>&lt;script&gt;</mark>" in page and "doc&amp;1" in page


def test_counts_html_is_a_table() -> None:
    page = ReviewSet.load(SAMPLE)._repr_html_()
    assert "6 question(s), 3 accepted, 2 rejected, 1 pending" in page
    assert page.count("<tr>") == 5  # header + 3 kinds + all
    assert "rejected by: leaks the answer 1, span not found 1" in page


# --- the panel --------------------------------------------------------------------------------------


def test_panel_navigates_with_buttons_and_slider(sample: Path) -> None:
    panel = ReviewPanel(sample)
    assert panel.current == SINGLE and panel.where.value == "of 6"
    assert panel.prev_button.disabled and not panel.next_button.disabled
    assert panel.question.value.startswith("Who was the first director")
    panel.next_button.click()
    panel.next_button.click()
    assert panel.current == UNANSWERABLE and panel.position.value == 3
    assert "How many e-books" in panel.card.value and panel.reference.value == ""
    panel.prev_button.click()
    assert panel.current == MULTI
    panel.position.value = 6
    assert panel.current == NOT_FOUND and panel.next_button.disabled
    assert "evidence not found" in panel.card.value
    assert "6 question(s), 3 accepted, 2 rejected, 1 pending" in panel.header.value


def test_panel_filters(sample: Path) -> None:
    panel = ReviewPanel(sample)
    panel.status_filter.value = "rejected"
    assert panel.shown == [LEAKS, NOT_FOUND] and panel.current == LEAKS
    assert panel.where.value == "of 2" and panel.position.max == 2
    panel.next_button.click()
    panel.kind_filter.value = "single"  # the current question still matches: it stays
    assert panel.current == NOT_FOUND
    panel.kind_filter.value = "multi"
    assert panel.shown == [] and panel.current is None
    assert "No question is rejected of kind multi" in panel.card.value
    assert panel.accept_button.disabled and panel.reject_button.disabled
    panel.accept_button.click()  # nothing to accept: nothing happens
    assert panel.review.unsaved == 0
    panel.status_filter.value = "all"
    assert panel.shown == [MULTI] and not panel.accept_button.disabled


def test_panel_reject_needs_a_reason(sample: Path) -> None:
    panel = ReviewPanel(sample)
    panel.status_filter.value = "pending"
    panel.reject_button.click()
    assert f"type why {PENDING} is rejected in the reason box first" in panel.message.value
    assert panel.review.row(PENDING)["status"] == "pending" and panel.review.unsaved == 0
    assert panel.current == PENDING
    panel.reason.value = "not self-contained: says 'the passage'"
    panel.reject_button.click()
    row = panel.review.row(PENDING)
    assert row["status"] == "rejected" and row["reason"] == "not self-contained: says 'the passage'"
    assert row["provenance"]["reviewed_by"] == "person"
    assert f"rejected {PENDING}: not self-contained" in panel.message.value
    assert panel.reason.value == ""
    assert panel.shown == [] and panel.current is None  # no pending question left
    assert "1 unsaved change(s)" in panel.header.value
    assert "3 accepted, 3 rejected" in panel.header.value


def test_panel_accept_moves_on_and_save_writes(sample: Path) -> None:
    panel = ReviewPanel(sample)
    panel.position.value = 5  # LEAKS, rejected by the filters
    panel.reason.value = "fine after all"
    panel.accept_button.click()
    assert panel.current == NOT_FOUND  # moved on
    assert panel.review.row(LEAKS)["reason"] == "fine after all"
    panel.save_button.click()
    assert (
        "saved 6 rows to questions.jsonl (4 accepted, 1 rejected, 1 pending)" in panel.message.value
    )
    assert "no unsaved changes" in panel.header.value
    assert ReviewSet.load(sample).row(LEAKS)["status"] == "accepted"


def test_panel_save_edits(sample: Path) -> None:
    panel = ReviewPanel(sample)
    panel.save_edits_button.click()
    assert f"nothing to save: the texts of {SINGLE} are unchanged" in panel.message.value
    assert panel.review.unsaved == 0
    panel.question.value = "Who was the Harbourlight network's first director?"
    panel.save_edits_button.click()
    assert f"edited {SINGLE}" in panel.message.value
    row = panel.review.row(SINGLE)
    assert row["user_input"] == "Who was the Harbourlight network's first director?"
    assert row["provenance"]["edited"] is True and ">edited<" in panel.card.value
    panel.reference.value = "  "
    panel.save_edits_button.click()
    assert "the reference answer cannot be empty" in panel.message.value
    assert "#d1242f" in panel.message.value  # shown as an error
    panel.save_button.click()
    assert ReviewSet.load(sample).row(SINGLE)["user_input"].startswith("Who was the Harbourlight")


def test_panel_evidence_box_fixes_a_span(sample: Path) -> None:
    panel = ReviewPanel(sample)
    panel.position.value = 6  # NOT_FOUND: its span is not in the passage
    assert panel.evidence.value == "The logo was made by Hester Quayle in 1987"
    panel.accept_button.click()
    assert "does not occur in the source passage(s)" in panel.message.value
    assert panel.review.row(NOT_FOUND)["status"] == "rejected" and panel.current == NOT_FOUND
    panel.evidence.value = "The logo was made in 1987\n\n"
    panel.save_edits_button.click()
    assert f"edit {NOT_FOUND}: the evidence span" in panel.message.value
    panel.evidence.value = "drawn in 1987 by local printmaker Hester Quayle\n\n"
    panel.save_edits_button.click()
    assert f"edited {NOT_FOUND}" in panel.message.value
    assert "<mark>drawn in 1987 by local printmaker Hester Quayle</mark>" in panel.card.value
    panel.accept_button.click()
    assert panel.review.row(NOT_FOUND)["status"] == "accepted"
    panel.position.value = 3  # unanswerable: no reference answer and no evidence to edit
    assert panel.reference.disabled and panel.evidence.disabled and panel.evidence.value == ""


def test_evidence_box_text() -> None:
    spans = ["one line", "two\nlines"]
    assert join_spans(spans) == "one line\n\ntwo\nlines"
    assert split_spans(join_spans(spans)) == spans
    assert split_spans("  a \n \n\n b\n  ") == ["a", "b"]
    assert split_spans("\n \n") == []


def test_panel_save_error_is_a_message(sample: Path) -> None:
    panel = ReviewPanel(sample)
    panel.reason.value = "duplicate: of another"
    panel.reject_button.click()
    sample.write_text(sample.read_text() + "\n")  # another program touched the file
    panel.save_button.click()
    assert "changed on disk since it was loaded" in panel.message.value
    assert "1 unsaved change(s)" in panel.header.value


def test_panel_shows_a_static_snapshot_too(sample: Path) -> None:
    panel = ReviewPanel(ReviewSet.load(sample))
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "<mark>The first director was" in bundle["text/html"]
    assert bundle["text/plain"] == (
        "ReviewPanel: questions.jsonl, question 1 of 6 (3 accepted, 2 rejected, 1 pending)"
    )


def test_panel_with_a_bad_path_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="^question file not found"):
        ReviewPanel(tmp_path / "missing.jsonl")


# --- notebook 05 ------------------------------------------------------------------------------------


def _run_05(out: Path, **parameters: Any) -> list[Any]:
    """Notebook 05 through papermill (cwd notebooks/); its outputs, checked for stderr, errors,
    warnings and absolute paths."""
    pm.execute_notebook(
        str(NB05),
        str(out),
        parameters=parameters,
        cwd=str(NB05.parent),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=300,  # a hung cell fails the test instead of blocking the suite
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr" or o["output_type"] == "error"]
    shown = json.dumps(outputs)
    assert "Warning" not in shown and str(out.parent) not in shown and str(ROOT) not in shown
    return outputs


def _html(outputs: list[Any]) -> list[str]:
    return [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]


def _stdout(outputs: list[Any]) -> list[str]:
    return [o["text"] for o in outputs if o.get("name") == "stdout"]


def test_notebook_05_run_all_changes_nothing(sample: Path, tmp_path: Path) -> None:
    """Run All previews the scripted rule and saves nothing: the file keeps every byte."""
    before, stamp = sample.read_bytes(), sample.stat().st_mtime_ns
    outputs = _run_05(tmp_path / "05.ipynb", questions_path=str(sample))
    assert sample.read_bytes() == before and sample.stat().st_mtime_ns == stamp
    html = _html(outputs)
    assert len(html) == 3  # counts, the panel's snapshot, what the rule would reject
    assert "3 accepted, 2 rejected, 1 pending" in html[0] and "<table" in html[0]
    assert "<mark>" in html[1] and "Who was the first director" in html[1]
    assert "no unsaved changes" in html[1]
    assert "would reject 1 of 1 pending question(s); a preview, nothing changed" in html[2]
    assert PENDING in html[2] and "not self-contained: refers to the passage" in html[2]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert _stdout(outputs) == [
        "nothing to save: questions.jsonl is unchanged (3 accepted, 2 rejected, 1 pending)\n"
    ]


def test_notebook_05_applies_the_rule_when_asked(sample: Path, tmp_path: Path) -> None:
    before = lines(sample)
    outputs = _run_05(tmp_path / "05.ipynb", questions_path=str(sample), apply_rule=True)
    html = _html(outputs)
    assert "rejected 1 of 1 pending question(s), not saved yet" in html[2]
    assert _stdout(outputs) == ["saved 6 rows to questions.jsonl (3 accepted, 3 rejected)\n"]
    after = lines(sample)
    assert [a == b for a, b in zip(before, after, strict=True)] == [1, 1, 1, 0, 1, 1]
    row = ReviewSet.load(sample).row(PENDING)
    assert row["status"] == "rejected"
    assert row["reason"] == "not self-contained: refers to the passage"
    assert row["provenance"]["reviewed_by"] == "person"


def test_notebook_05_runs_on_a_clean_clone(tmp_path: Path) -> None:
    """The default questions_path is the shipped sample: 05 runs top to bottom and leaves it be."""
    before, stamp = SAMPLE.read_bytes(), SAMPLE.stat().st_mtime_ns
    outputs = _run_05(tmp_path / "05.ipynb")
    assert SAMPLE.read_bytes() == before and SAMPLE.stat().st_mtime_ns == stamp
    assert "the sample shipped with ragbench" in _html(outputs)[1]
    assert _stdout(outputs) == [
        "nothing to save: synth_sample.jsonl is unchanged (3 accepted, 2 rejected, 1 pending)\n"
    ]
