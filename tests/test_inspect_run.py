"""inspect_run: one question across trials (answer, cited sources, passages, scores, reasons),
as a frame, as text and as escaped HTML, read from a read-only store."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from ragbench.records import Record, ScoreRow
from ragbench.render.drilldown import (
    Drilldown,
    format_drilldown,
    inspect_question,
    inspect_questions,
)
from ragbench.results.inspect import drilldown
from ragbench.store import Store

pytestmark = pytest.mark.filterwarnings("error")

TRACE = json.dumps({"trace": [{"StatementGeneratorOutput": {"statements": ["It opened."]}}]})
LONG = "The east pier reopened in March after repairs. " * 12


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two trials; q1 answered by both (one judge failure), q2 only retrieved."""
    path = tmp_path / "r.duckdb"
    store = Store(path)
    store.start_run("r1", "exp", {"metrics": ["hit_rate", "faithfulness"]}, {}, None, True, "d")
    no_params = SimpleNamespace(model_dump=dict)
    store.add_trials(
        "r1",
        [
            SimpleNamespace(trial_id=t, label=f"top_k={k}", pipeline=no_params, overrides={})
            for k, t in ((1, "ta"), (2, "tb"))
        ],
    )
    records = [
        Record(
            "r1",
            "ta",
            "q1",
            "When did the <pier> reopen?",
            [LONG],
            ["pier.md"],
            "In March",
            "It reopened in March [pier.md].",
            ["pier.md"],
            0.01,
            0.5,
            0.51,
        ),
        Record(
            "r1",
            "tb",
            "q1",
            "When did the <pier> reopen?",
            ["Ferries run daily.", LONG],
            ["ferry.md", "pier.md"],
            "In March",
            "<b>March</b>",
            ["ferry.md"],
            0.01,
            0.4,
            0.41,
        ),
        Record("r1", "ta", "q2", "Who built it?", ["Ada Finch built it."], ["house.md"], None),
        Record("r1", "tb", "q2", "Who built it?", ["Ada Finch built it."], ["house.md"], None),
    ]
    scores = [
        ScoreRow("r1", "ta", "q1", "hit_rate", 1.0),
        ScoreRow("r1", "tb", "q1", "hit_rate", 1.0),
        ScoreRow("r1", "ta", "q1", "faithfulness", 0.875, details=TRACE),
        ScoreRow("r1", "tb", "q1", "faithfulness", None, error="judge timeout <after 30s>"),
        ScoreRow("r1", "ta", "q2", "hit_rate", 1.0),
        ScoreRow("r1", "tb", "q2", "hit_rate", 0.0),
    ]
    store.write(records, scores)
    store.finish_run("r1", "finished")
    return path


def test_drilldown_frame(db: Path) -> None:
    frame = drilldown(Store(db, read_only=True), "r1")
    assert frame.question_id.tolist() == ["q1", "q1"]  # default: the first answered question
    assert frame.label.tolist() == ["top_k=1", "top_k=2"]
    a, b = frame.to_dict("records")
    assert a["retrieved"] == [{"doc_id": "pier.md", "context": LONG}]
    assert a["cited_doc_ids"] == ["pier.md"] and a["faithfulness"] == 0.875
    assert a["faithfulness_reasons"] == [
        {"StatementGeneratorOutput": {"statements": ["It opened."]}}
    ]
    assert b["faithfulness_error"] == "judge timeout <after 30s>" and b["faithfulness"] != 0.875
    assert drilldown(db, "r1", "q2").response.isna().all()
    with pytest.raises(LookupError, match="q1, q2"):
        drilldown(db, "r1", "no-such-question")


def test_inspect_html_shows_answer_sources_passages_and_scores(db: Path) -> None:
    view = inspect_question(db, experiment="exp")
    assert isinstance(view, Drilldown) and view.question_id == "q1"
    html = view._repr_html_()
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", html))
    assert "FAKE MODELS" in html
    assert "When did the <pier> reopen?" in text and "&lt;pier&gt;" in html  # escaped
    assert "<b>March</b>" not in html and "&lt;b&gt;March&lt;/b&gt;" in html
    assert "It reopened in March [pier.md]." in text
    assert "faithfulness: 0.875" in re.sub(r"\s+", " ", text)
    assert "faithfulness: failed" in text and "judge timeout &lt;after 30s&gt;" in html
    assert "cited" in text and "ferry.md" in text and "pier.md" in text
    assert html.count("<details") >= 3  # passages of 2 trials + a long passage folded
    # the judge's reasons, read for people: the statements it drew, not its reply's JSON
    assert "statements drawn from the answer" in text and "It opened." in text
    assert "StatementGeneratorOutput" not in html and "{" not in html.split("judge's reasons")[1]
    assert "\u2026" in html  # the long passage is shortened in the summary line


def test_inspect_text_repr(db: Path) -> None:
    text = repr(inspect_question(db, "r1", "q1"))
    assert text.startswith("DRILL-DOWN question q1: When did the <pier> reopen?")
    assert "trial top_k=2  (tb)" in text and "error: judge timeout" in text
    assert text == format_drilldown(drilldown(db, "r1", "q1"))
    assert "statements drawn from the answer:\n        - It opened." in text
    assert "StatementGeneratorOutput" not in text


def test_inspect_all_questions(db: Path) -> None:
    views = inspect_questions(db, "r1", ["q1", "q2"])
    assert [v.question_id for v in views] == ["q1", "q2"]
    html = views._repr_html_()
    assert "Who built it?" in html and "not answered (retrieval only)" in html
    assert [v.question_id for v in inspect_questions(db, "r1")] == ["q1"]  # default: answered ones
    assert "DRILL-DOWN question q2" in repr(views)


def test_inspect_errors(db: Path, tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no run of experiment 'nope'"):
        inspect_question(db, experiment="nope")
    with pytest.raises(LookupError, match="no run missing"):
        inspect_question(db, run_id="missing")
    with pytest.raises(ValueError, match="results file not found"):
        inspect_question(tmp_path / "absent.duckdb")


def test_drilldown_ticks_the_cited_passage_and_shows_every_passage_whole() -> None:
    from ragbench.render.question import question_html

    long = " ".join(f"Sentence {k} of the pier notice says it reopens in March." for k in range(25))
    assert len(long) > 1200
    row = {
        "trial_id": "t1",
        "label": "top_k=2",
        "question_id": "q1",
        "user_input": "When does the pier reopen?",
        "reference": None,
        "retrieved": [
            {"doc_id": "pier.md", "context": "The pier closed in May."},
            {"doc_id": "pier.md", "context": long},
        ],
        "response": "It reopens in March [2].",
        "cited_doc_ids": ["pier.md"],
    }
    html = question_html(pd.DataFrame([row]), [])
    items = re.findall(r"<li value=\"(\d)\">(.*?)</li>", html, re.S)
    assert [n for n, _ in items] == ["1", "2"]
    assert ["cited</b>" in body for _, body in items] == [False, True]  # passage 2 only
    body = re.sub(r"<summary>.*?</summary>", "", items[1][1], flags=re.S)
    assert long in html_lib.unescape(re.sub(r"<[^>]+>", "", body))  # whole, not on hover
