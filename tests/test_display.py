"""display: escaping, rounding, the score table's marks, inline figures at their natural size and
IPython's Figure formatter."""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace

import pandas as pd
import pytest
from IPython.core.formatters import PNGFormatter
from matplotlib.figure import Figure

from ragbench.render import html as display
from ragbench.render.figures import new_figure

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


def test_judge_step() -> None:
    assert display.judge_step({"Out": {"x": 1}}) == 'Out: {"x": 1}'
    assert display.judge_step(["a"]) == '["a"]'
