"""The PDF and question benchmarks measure what they say (see test_benchmarks.py for the rules).

make_pdfs renders two COVID-QA papers, pdf_extraction reads them with pypdf and pypdfium2 (and
pdfplumber where it is installed) and prints figures checked here for range and order;
standalone_margin and question_style run on the shared datasets as written, and their tables are
checked against each other and against the constants ragbench uses.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from ragbench.synth.specific import SPECIFIC_MARGIN
from ragbench.synth.style import TYPES

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
needs_shared = pytest.mark.skipif(
    not (SHARED / "covid-qa").is_dir() or not (SHARED / "pg-essays").is_dir(),
    reason="the shared datasets are not beside the repository",
)


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@needs_shared
def test_pdf_extraction_on_two_rendered_papers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _load("make_pdfs").main(["--out", str(tmp_path), "--limit", "2"])
    assert "wrote 2 papers" in capsys.readouterr().out
    _load("pdf_extraction").main(["--papers", str(tmp_path), "--libraries", "pypdf", "pypdfium2"])
    out = capsys.readouterr().out
    assert re.search(r"on 2 rendered papers \(\d+ pages\), \d{4}-\d\d-\d\d", out)
    rows = {
        (m[1], m[2]): [float(v) for v in m.groups()[2:7]]
        for m in re.finditer(
            r"^(\S+)\s+(raw|clean)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
            out,
            re.M,
        )
    }
    assert set(rows) == {(lib, mode) for lib in ("pypdf", "pypdfium2") for mode in ("raw", "clean")}
    for recall, extra, _order, furniture, pages_per_s in rows.values():
        assert 0 < recall <= 1 and 0 <= extra < 1 and furniture >= 0 and pages_per_s > 0
    raw, clean = rows[("pypdfium2", "raw")], rows[("pypdfium2", "clean")]
    assert clean[0] > raw[0] and clean[1] < raw[1] and clean[3] < raw[3]  # cleaning helps


def _table(out: str) -> dict[str, list[float]]:
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(.*?\)), (kept|rejected)\s+((?:[\d.]+\s*)+)$", line)
        if m:
            rows[f"{m[1]}, {m[2]}"] = [float(v) for v in m[3].split()]
    return rows


@needs_shared
def test_standalone_margin_table_backs_the_constant(capsys: pytest.CaptureFixture[str]) -> None:
    module = _load("standalone_margin")
    module.main([])
    out = capsys.readouterr().out
    rows = _table(out)
    assert len(rows) == 6
    column = module.MARGINS.index(SPECIFIC_MARGIN)
    for label, shares in rows.items():
        assert all(0 <= s <= 1 for s in shares)
        ordered = shares if label.endswith("rejected") else shares[::-1]
        assert ordered == sorted(ordered), label  # kept falls, rejected rises with the margin
    assert rows["pg-essays people's questions (55), kept"][column] >= 0.9
    assert rows["pg-essays vague questions (70), rejected"][column] >= 0.85
    assert rows["covid-qa vague questions (70), rejected"][column] >= 0.85


@needs_shared
def test_question_style_table(capsys: pytest.CaptureFixture[str]) -> None:
    _load("question_style").main([])
    out = capsys.readouterr().out
    shares: dict[str, list[float]] = {}
    for line in out.splitlines():
        m = re.match(
            rf"^(.+?\))\s+(\d+)\s+([\d.]+)\s+([\d.]+)((?:\s+[\d.]+){{{len(TYPES)}}})$", line
        )
        if m:
            shares[m[1]] = [float(v) for v in m[5].split()]
            assert abs(sum(shares[m[1]]) - 1) < 0.03, line  # the types cover every question
    assert set(shares) == {
        "pg-essays (people)",
        "covid-qa (people, answer)",
        "covid-qa (people, sentence)",
        "synth_sample.jsonl (synth)",
    }
    assert re.search(r"^pg-essays \(people\)\s+55 ", out, re.M)
    m = re.search(r"synth_sample.jsonl \(synth\) vs pg-essays \(people\): [+-][\d.]+, [+-][\d.]+, "
                  r"([\d.]+)", out)  # fmt: skip
    assert m
    tv = 0.5 * sum(
        abs(a - b)
        for a, b in zip(
            shares["synth_sample.jsonl (synth)"], shares["pg-essays (people)"], strict=True
        )
    )
    assert abs(float(m[1]) - tv) <= 0.02  # the distance is the printed shares' (to rounding)
