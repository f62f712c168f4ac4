"""Shared fixtures: a temp DuckDB path, an all-fake experiment config and tiny qa-folder corpora.

The one definition of the test doubles' config: ``FAKE_MODELS`` (the pipeline block: hashing
embedder, fake LLM, fake judge), ``fake_experiment(**fields)`` (a fresh experiment mapping built on
it) and ``write_fake_experiment(path, **fields)`` (the same as a YAML file). Test files import them
from here (``from conftest import ...``) rather than spelling the block again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragbench.config.experiment import ExperimentConfig, parse_config

# Fails a test on a warning that ragbench causes, also one raised inside a library it called.
pytest_plugins = ["warning_guard"]

REPO_ROOT = Path(__file__).resolve().parents[1]

# Test doubles for every model role (read-only: copy before changing it). The hashing embedder's
# similarities are meaningful, so retrieval on it ranks for real; the fake LLM answers from its
# first source and returns schema-valid JSON to the judge.
FAKE_MODELS: dict[str, Any] = {
    "embedding": {"provider": "hashing"},
    "generation": {"llm": {"provider": "fake"}},
    "judge": {"provider": "fake"},
}

FAKE_CONFIG: dict[str, Any] = {
    "name": "fake-demo",
    "description": "demo corpus with test doubles only",
    "dataset": {"loader": "demo"},
    "base": copy.deepcopy(FAKE_MODELS),
    "sweep": {"chunking.chunk_size": [128, 256], "retrieval.top_k": [2, 3]},
    "metrics": ["hit_rate", "mrr", "faithfulness", "answer_relevancy"],
    "judge_limit": 2,
    "limit": 6,
}

TINY_DOCS: dict[str, str | bytes] = {
    "lighthouse.md": "# Lighthouse\nThe Corran lighthouse was built in 1871 by Ada Finch.\n",
    "ferry.txt": "The ferry to Ostby leaves every morning at 7:15 from pier 4.\n",
}

TINY_QUESTIONS: list[dict[str, Any]] = [
    {
        "question_id": "t1",
        "user_input": "Who built the Corran lighthouse?",
        "reference": "Ada Finch built it in 1871.",
        "gold_doc_ids": ["lighthouse.md"],
        "gold_spans": ["built in 1871 by Ada Finch"],
    },
    {
        "question_id": "t2",
        "user_input": "When does the ferry to Ostby leave?",
        "reference": "Every morning at 7:15.",
        "gold_doc_ids": ["ferry.txt"],
        "gold_spans": ["every morning at 7:15"],
    },
]

QaFolderFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def fake_config_data() -> dict[str, Any]:
    """The raw mapping behind ``fake_config`` (deep-copy before changing it)."""
    return copy.deepcopy(FAKE_CONFIG)


@pytest.fixture
def fake_config(fake_config_data: dict[str, Any]) -> ExperimentConfig:
    """Demo dataset, hashing embedder, fake LLM and judge; 2x2 sweep, 6 questions, 2 judged."""
    return parse_config(copy.deepcopy(fake_config_data), source="fake_config")


@pytest.fixture
def tmp_db(tmp_path: Path) -> Path:
    """A DuckDB results file path (not yet created) inside tmp_path."""
    return tmp_path / "results" / "ragbench.duckdb"


def write_qa_folder(
    root: Path,
    docs: dict[str, str | bytes] | None = None,
    questions: list[dict[str, Any]] | None = None,
) -> Path:
    """Write a qa-folder dataset: ``root/corpus/<docs>`` and ``root/questions.jsonl``."""
    docs = TINY_DOCS if docs is None else docs
    questions = TINY_QUESTIONS if questions is None else questions
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for rel, content in docs.items():
        path = corpus / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (root / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return root


@pytest.fixture
def make_qa_folder(tmp_path: Path) -> QaFolderFactory:
    """Factory: ``make_qa_folder(docs=None, questions=None, name="tiny")`` -> dataset folder."""

    def make(
        docs: dict[str, str | bytes] | None = None,
        questions: list[dict[str, Any]] | None = None,
        name: str = "tiny",
    ) -> Path:
        return write_qa_folder(tmp_path / name, docs, questions)

    return make


class DictCache:
    """Minimal cache with the store's cache_get/cache_put interface."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {}
        self.puts = 0

    def cache_get(self, kind: str, key: str) -> Any | None:
        return self.data.get((kind, key))

    def cache_put(self, kind: str, key: str, value: Any) -> None:
        self.puts += 1
        self.data[(kind, key)] = value


def fake_experiment(**fields: Any) -> dict[str, Any]:
    """A fresh experiment mapping whose models are the test doubles, for ``parse_config``.

    ``{"name": "fake", "base": FAKE_MODELS}`` updated with the top-level ``fields`` (deep-copied,
    so the caller may change the result). A ``base`` given replaces the fake one whole: write
    ``base=FAKE_MODELS | {...}`` to keep the doubles and add or replace sections.
    """
    return copy.deepcopy({"name": "fake", "base": FAKE_MODELS} | fields)


def write_fake_experiment(path: Path, **fields: Any) -> Path:
    """``fake_experiment(**fields)`` written as an experiment YAML file at ``path``."""
    path.write_text(yaml.safe_dump(fake_experiment(**fields), sort_keys=False), encoding="utf-8")
    return path
