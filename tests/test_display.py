"""display: escaping, rounding, the score table's marks, inline figures at their natural size and
IPython's Figure formatter."""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from IPython.core.formatters import PNGFormatter
from matplotlib.figure import Figure

from ragbench.render import html as display
from ragbench.render import question
from ragbench.render.figures import new_figure
from ragbench.results.reasons import read_trace

pytestmark = pytest.mark.filterwarnings("error")

SUMMARY = pd.DataFrame(
    [
        ("a", "k=1", "m", 0.91234, 0.8, 0.97, 20, 2, "bca"),
        ("b", "k=<2>", "m", 0.5, float("nan"), float("nan"), 1, 0, "single"),
    ],
    columns=["trial_id", "label", "metric", "mean", "ci_low", "ci_high", "n", "n_failed", "method"],
)


def test_esc_and_number() -> None:
    assert display.esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert display.esc(None) == ""
    assert display.number(0.91234) == "0.912" and display.number(0.5, 2) == "0.50"
    assert display.number(float("nan")) == display.DASH == display.number(None)


def test_intervals_round_outwards() -> None:
    assert display.ci_text(0.3087, 0.3093) == "[0.30, 0.31]"
    assert display.ci_text(0.29, 0.7) == "[0.29, 0.70]"  # exact values stay put
    assert display.ci_text(0.0, 1.0) == "[0.00, 1.00]"


def test_score_table_marks_tints_and_missing_cells() -> None:
    verdicts = {"m": {"a": "best", "b": "too_few"}}
    trials = [("a", "k=1"), ("b", "k=<2>"), ("c", "k=3")]
    html = display.score_table(SUMMARY, verdicts, trials, {"c": "k=3: pruned <early>"})
    cells = re.findall(r"<td[^>]*>.*?</td>", html)
    assert len(cells) == 3
    assert "<b>0.912</b>&nbsp;\u2605" in cells[0] and "[0.80, 0.97] n=20" in cells[0]
    assert "2 failed" in cells[0] and "rgba(46,160,67,0.30)" in cells[0]
    assert "?" in cells[1] and "[" not in re.sub(r"<[^>]+>", "", cells[1])  # n=1: no interval
    assert 'title="k=3: pruned &lt;early&gt;"' in cells[2]
    assert "k=&lt;2&gt;" in html and "k=<2>" not in html


def test_text_and_markdown_tables_list_every_trial() -> None:
    verdicts = {"m": {"a": "best", "b": "tied"}}
    labels = {"a": "k=1", "b": "k=|2", "c": "k=3"}
    text = display.text_table(SUMMARY, verdicts, labels)
    assert "0.912* [0.80, 0.97] n=20 failed=2" in text and "0.500~ n=1" in text
    assert re.search(r"k=3\s+-", text)
    md = display.markdown_table(SUMMARY, verdicts, labels)
    assert md.startswith("| trial | m |\n|---|---|\n") and "k=\\|2" in md


def test_figure_img_natural_size() -> None:
    fig = new_figure(9.0, 3.0)
    fig.subplots().plot([0, 1])
    html = display.figure_img(fig, "alt <text>")
    assert 'width="900"' in html and 'alt="alt &lt;text&gt;"' in html
    data = base64.b64decode(html.split("base64,")[1].split('"')[0])
    assert data[:4] == b"\x89PNG" and int.from_bytes(data[16:20], "big") == 1350  # drawn at 1.5x


def test_chart_sections_first_open() -> None:
    fig = new_figure(4.0, 3.0)
    html = display.chart_sections([("One", [("a", fig)]), ("Empty", []), ("Two", [("b", fig)])])
    assert html.count("<details") == 2 and html.count("<details open") == 1
    assert html.index("One") < html.index("Two") and "Empty" not in html


def test_register_figure_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    png = PNGFormatter()
    shell = SimpleNamespace(display_formatter=SimpleNamespace(formatters={"image/png": png}))
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    fig = new_figure(4.0, 3.0)
    assert png(fig) is None  # IPython cannot draw a pyplot-free Figure by itself
    display.register_figure_formatter()
    assert png(fig)[:4] == b"\x89PNG"
    own = png.for_type(Figure, lambda f: b"kept")  # the inline backend's printer wins
    display.register_figure_formatter()
    assert png.lookup_by_type(Figure)(fig) == b"kept" and own is display.figure_png
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    display.register_figure_formatter()  # outside IPython: nothing to do


FAITHFULNESS = [  # the compact prompts: statements first, then one verdict per statement
    {"StatementGeneratorOutput": {"statements": ["It opened in March.", "It has a <cafe>."]}},
    {
        "Verdicts": {
            "verdicts": [
                {"reason": "The passage gives March.", "verdict": 1},
                {"reason": "No cafe is mentioned.", "verdict": 0},
            ]
        },
        "cached": True,
    },
]
PRECISION = [
    {"Verdict": {"reason": "States the date.", "verdict": 1}},
    {"Verdict": {"reason": "About ferries.", "verdict": 0}},
]


def _findings(trace: list[Any]) -> list[list[tuple[Any, ...]]]:
    return [[(f.subject, f.verdict, f.reason) for f in s.findings] for s in read_trace(trace)]


def test_judge_reasons_read_as_statements_and_passages() -> None:
    assert _findings(FAITHFULNESS) == [
        [
            ("It opened in March.", "supported", "The passage gives March."),
            ("It has a <cafe>.", "not supported", "No cafe is mentioned."),
        ]
    ]
    assert read_trace(FAITHFULNESS)[0].cached
    ragas_nli = {
        "NLIStatementOutput": {"statements": [{"statement": "S.", "reason": "R.", "verdict": 0}]}
    }
    assert _findings([ragas_nli]) == [[("S.", "not supported", "R.")]]
    assert _findings(PRECISION) == [
        [("passage 1", "useful", "States the date."), ("passage 2", "not useful", "About ferries.")]
    ]
    recall = {
        "ContextRecallOutput": {
            "classifications": [
                {"statement": "Opened 1987.", "reason": "In passage 1.", "attributed": 1}
            ]
        }
    }
    assert _findings([recall]) == [[("Opened 1987.", "attributed", "In passage 1.")]]
    relevancy = [
        {"AnswerRelevanceOutput": {"question": f"Q{k}?", "noncommittal": 0}} for k in (1, 2)
    ]
    assert _findings(relevancy) == [[("Q1?", None, None), ("Q2?", None, None)]]
    correctness = [
        {"StatementGeneratorOutput": {"statements": ["A."]}},
        {"StatementGeneratorOutput": {"statements": ["B."]}},
        {
            "ClassificationWithReason": {
                "TP": [{"statement": "A.", "reason": "Both."}],
                "FP": [],
                "FN": [{"statement": "B.", "reason": "Missing."}],
            }
        },
    ]
    steps = read_trace(correctness)
    assert [s.title for s in steps] == [
        "statements drawn from the answer",
        "statements drawn from the reference answer",
        "statements of the answer and of the reference answer",
    ]
    assert _findings(correctness)[2] == [
        ("A.", "in the answer and the reference", "Both."),
        ("B.", "in the reference only", "Missing."),
    ]


def test_unknown_judge_replies_are_readable_text_not_json() -> None:
    trace = [{"Odd": {"score": 3, "notes": ["a", "b"]}}, {"batch_failed": "RuntimeError: x"}, [1]]
    assert _findings(trace) == [
        [("score: 3", None, None), ("notes: a | b", None, None)],
        [("RuntimeError: x", None, None)],
        [("1", None, None)],
    ]
    html = question.reasons_html("m", trace)
    assert "{" not in html and "[" not in html and "score: 3" in html


def test_reasons_html_marks_verdicts_and_escapes() -> None:
    html = question.reasons_html("faithfulness", FAITHFULNESS)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "It opened in March. supported \u2014 The passage gives March." in text
    assert "It has a &lt;cafe&gt;. not supported" in text and "(cached)" in text
    assert f"color:{question.GREEN}" in html and f"color:{question.RED}" in html
    assert "{" not in html and "Verdicts" not in html
    assert question.reasons_html("hit_rate", []) == ""
