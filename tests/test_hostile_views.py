"""Hostile inputs met by the views (issue 23, second round): a judge check whose labels are all one
class, ``ragbench notebook run`` of a notebook other than 01, and trial labels made of prompt
templates drawn in charts."""

from __future__ import annotations

import csv
import logging
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import FAKE_MODELS, REPO_ROOT, write_qa_folder
from typer.testing import CliRunner

from ragbench.cli import app


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


# --- item 15: a judge check on labels of one class -----------------------------------------------


def labels_csv(path: Path, labels: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["context", "answer", "label"])
        for k, label in enumerate(labels):
            writer.writerow([f"Fact {k} is true.", f"Fact {k} is true.", label])
    return path


@pytest.mark.parametrize(
    ("labels", "limit", "counts"),
    [
        (["1", "1", "yes", "true"], [], "4 item(s) of ones are 4 attributable and 0 not"),
        (["0", "no"], [], "2 item(s) of ones are 0 attributable and 2 not"),
        (["1", "0", "1"], ["--limit", "1"], "1 item(s) of ones are 1 attributable and 0 not"),
    ],
)
def test_a_judge_check_on_one_class_is_one_clear_error(
    tmp_path: Path, labels: list[str], limit: list[str], counts: str
) -> None:
    path = labels_csv(tmp_path / "ones.csv", labels)
    db = tmp_path / "jc.duckdb"
    res = cli("judge-check", path, "--judge", "fake", "--db", db, "--no-progress", *limit)
    assert res.exit_code == 2, res.output
    assert res.output.strip() == (
        "error: a judge check needs both classes among its labels (balanced accuracy and Cohen's "
        f"kappa compare the judge on each): the {counts} attributable; add items of the other "
        "class (or a larger --limit)"
    )
    assert "nan" not in res.output
    assert not db.exists()  # refused before any judging


def test_a_class_lost_to_judge_failures_is_said_not_printed_as_nan() -> None:
    from ragbench.judge.check import JudgeCheckResult, agreement

    rows = []
    for k, label in enumerate([1.0, 1.0, 1.0, 0.0, 0.0]):
        rows.append(
            {"question_id": f"i{k}", "metric": "human_label", "value": label, "error": None}
        )
        failed = label == 0.0  # every not-attributable item's verdict failed
        rows.append(
            {
                "question_id": f"i{k}",
                "metric": "faithfulness",
                "value": None if failed else 0.9,
                "error": "judge failed" if failed else None,
            }
        )
    figures = agreement(pd.DataFrame(rows), threshold=0.5)
    result = JudgeCheckResult("x", "run", Path("r.duckdb"), "fake", 0.5, True, seconds=1, **figures)
    text = result.summary()
    assert "nan" not in text.lower()
    assert (
        "balanced accuracy undefined: the 3 judged items are 3 attributable and 0 not "
        "attributable (2 failed, excluded); it needs both classes"
    ) in text
    assert "Cohen's kappa     undefined" in text


# --- item 16a: `notebook run` passes each notebook the parameters it declares --------------------


def test_notebook_parameters_follow_each_notebooks_parameters_cell(tmp_path: Path) -> None:
    from ragbench.config.experiment import load_config
    from ragbench.notebook.papermill import notebook_parameters

    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "nbexp", "base": FAKE_MODELS, "metrics": ["hit_rate"]}))
    config = load_config(exp)
    db = tmp_path / "r.duckdb"
    books = REPO_ROOT / "notebooks"

    def params(name: str, limit: int | None = None) -> dict[str, Any]:
        return notebook_parameters(books / name, exp, config, limit, db)

    assert params("01-run-experiment.ipynb", 3) == {
        "experiment": str(exp),
        "limit": 3,
        "db": str(db),
    }
    assert params("02-compare-runs.ipynb", 3) == {"experiment": "nbexp", "db": str(db)}
    assert params("03-tune-interactively.ipynb") == {"db": str(db)}
    assert params("04-judge-check.ipynb") == {"db": str(db)}  # its own limit stays
    assert params("05-review-questions.ipynb") == {}


def test_notebook_run_of_02_gets_the_experiment_name(tmp_path: Path) -> None:
    data = write_qa_folder(tmp_path / "ds")
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "nbexp",
                "dataset": {"loader": "qa-folder", "path": str(data)},
                "base": FAKE_MODELS,
                "metrics": ["hit_rate", "faithfulness"],
            }
        )
    )
    db = tmp_path / "r.duckdb"
    assert cli("run", exp, "--db", db, "--no-progress").exit_code == 0
    notebook = REPO_ROOT / "notebooks" / "02-compare-runs.ipynb"

    res = cli("notebook", "run", exp, "--db", db, "--notebook", notebook)

    assert res.exit_code == 0, res.output
    executed = tmp_path / "nbexp" / "02-compare-runs.ipynb"
    assert res.output.strip() == f"executed notebook: {executed}"
    text = executed.read_text()
    assert 'experiment = \\"nbexp\\"' in text and str(exp) not in text


# --- item 16b: trial labels drawn in charts are plain text ---------------------------------------

PROMPTS = [
    "Context:\n{context}\n\nQuestion: {question}\nCost: $5 per $query_id\tAnswer_here:",
    "Answer $only$ from {context} for {question}; say $\\foo_1$ 提示 if unsure. " + "x" * 300,
    "Answer $only$ from {context} for {question}; say $\\foo_1$ 提示 if unsure. " + "x" * 300 + "!",
]


def test_prompt_template_labels_draw_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ragbench.experiment.orchestrator import run
    from ragbench.render.report import load

    data = write_qa_folder(tmp_path / "ds")
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "prompts",
                "dataset": {"loader": "qa-folder", "path": str(data)},
                "base": FAKE_MODELS,
                "sweep": {"generation.prompt": PROMPTS, "retrieval.top_k": [1, 2]},
                "metrics": ["hit_rate", "faithfulness"],
            }
        )
    )
    db = tmp_path / "r.duckdb"
    run(exp, db=db, progress=False)
    rep = load(db)
    caplog.set_level(logging.WARNING, logger="matplotlib")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep.write(tmp_path / "out")  # draws every chart and saves it
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in caplog.records] == []  # mathtext warns through logging
    assert not rep.problems and len(rep.charts) >= 3
    ticks = [t.get_text() for t in rep.figures["metrics"].axes[0].get_yticklabels()]
    assert len(ticks) == 6 and len(set(ticks)) == 6  # the two long prompts stay apart
    for tick in ticks:
        line = tick.replace("\n", " ")
        assert "\t" not in line and len(line) <= 140
        assert line.count("$") == line.count("\\$")  # every dollar escaped: no mathtext
