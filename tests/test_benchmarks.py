"""Benchmarks stay runnable: each script imports, and the sweep-cost naive baseline runs on fakes.

Benchmarks print figures and ratios; nothing here asserts a timing.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).parents[1] / "benchmarks").glob("*.py"))


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_imports_and_has_main(path: Path) -> None:
    module = _load(path)
    assert callable(module.main) and module.__doc__


def test_sweep_cost_naive_baseline_runs_on_fakes(tmp_path: Path) -> None:
    module = _load(Path(__file__).parents[1] / "benchmarks" / "sweep_cost.py")
    demo = Path(__file__).parents[1] / "ragbench" / "demo"
    data = tmp_path / "data"
    (data / "corpus").mkdir(parents=True)
    for name in ("about/history.md", "policies/borrowing.md"):
        (data / "corpus" / Path(name).name).write_text((demo / "corpus" / name).read_text())
    question = json.loads((demo / "questions.jsonl").read_text().splitlines()[0])
    question["gold_doc_ids"] = ["history.md"]
    (data / "questions.jsonl").write_text(json.dumps(question) + "\n")
    config = module.experiment(data, limit=1, top_n=2)
    config["base"] = {
        "embedding": {"provider": "hashing"},
        "generation": {"llm": {"provider": "fake"}},
        "judge": {"provider": "fake"},
    }
    assert module.naive(config, data) > 0


def test_allocation_replay_runs_on_a_small_synthetic_matrix() -> None:
    module = _load(Path(__file__).parents[1] / "benchmarks" / "allocation.py")
    scores = module.synthetic(trials=3, questions=12)
    assert len(scores) == 36 and scores.value.between(0, 1).all()
    wide = scores.pivot(index="trial_id", columns="question_id", values="value")
    for policy in ("uniform", "adaptive"):
        pick, width, verdicts = module.replay(wide.to_numpy(), list(wide.index), policy, 18)
        assert pick in set(wide.index) and width > 0 and verdicts == 6
