"""The 30-minute plan ``ragbench init`` proposes (ragbench.data.budget), and what it reports of a
folder of PDFs, on inputs whose arithmetic is done by hand here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ragbench.data.budget import MIN_QUESTIONS, MIN_VERDICTS, plan_budget
from ragbench.data.scaffold import init_experiment

SIZES = (256, 512, 1024)
ROOT = Path(__file__).resolve().parents[1]


def test_fifteen_papers_fit_in_thirty_minutes() -> None:
    # 900,000 characters: 879 + 440 + 220 chunks at 4 characters a token, embedded at 25/s =
    # 61.6 s; of the 1,738.4 s left, half makes int(869.2 / (40 s + 9 x 0.011 s)) = 21
    # questions; the rest, 1,738.4 - 21 x 40.1 = 896.4 s, judges 19 verdicts -> 18 (2 trials x 9)
    plan = plan_budget(900_000, SIZES, trials=9, top_n=2)
    assert (plan.chunks, plan.questions, plan.verdicts, plan.judge_limit) == (1539, 21, 18, 9)
    assert plan.fits and not plan.given
    assert round(plan.sweep_s + plan.synth_s + plan.judge_s) <= 30 * 60
    text = "\n".join(plan.comment())
    assert "synth 21 questions at 1.5/min = 14 min" in text
    assert "judging 18 verdicts (2 trials x 9 questions) at ~45 s = 14 min" in text


def test_given_questions_leave_the_time_to_judging() -> None:
    # 55 questions x 9 trials x 0.011 s of retrieval; 1,794.6 s judge 39 verdicts -> 38
    plan = plan_budget(1000, SIZES, trials=9, top_n=2, given=55)
    assert (plan.questions, plan.verdicts, plan.judge_limit, plan.synth_s) == (55, 38, 19, 0.0)
    assert "your 55 questions" in "\n".join(plan.comment())


def test_a_corpus_too_big_for_thirty_minutes_gets_the_minimums() -> None:
    plan = plan_budget(50_000_000, SIZES, trials=9, top_n=2)  # embedding alone takes ~57 min
    assert (plan.questions, plan.verdicts) == (MIN_QUESTIONS, MIN_VERDICTS) and not plan.fits
    assert plan.comment()[-1].startswith("# It does not fit")


def test_init_reports_what_the_pdf_reader_left_out(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_pdfs", ROOT / "benchmarks" / "make_pdfs.py")
    assert spec is not None and spec.loader is not None
    make_pdfs = importlib.util.module_from_spec(spec)
    sys.modules["make_pdfs"] = make_pdfs
    spec.loader.exec_module(make_pdfs)
    from test_pdf import tiny_paper

    folder = tmp_path / "papers"
    truth = make_pdfs.render(tiny_paper(), folder / "paper.pdf")
    result = init_experiment(folder, out=tmp_path / "exp.yaml")
    dropped = truth["dropped"]
    assert result.inventory.dropped == dropped
    assert (
        f"  PDF lines left out (not text people read): running headers/footers "
        f"{dropped['headers_footers']}, page numbers {dropped['page_numbers']}, table rows 6, "
        f"author block {dropped['authors']}, acknowledgements {dropped['acknowledgements']}, "
        f"references {dropped['references']}"
    ) in result.lines()
