"""Hostile and careless inputs, second round (issue 23), end to end through ``ragbench.run`` and
the CLI with the test doubles: documents that look like templates, corpus folders holding links,
unreadable folders and the run's own files, a YAML alias bomb."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import write_qa_folder

from ragbench.experiment.orchestrator import run
from ragbench.models.fakes import FakeLLM


def qa_experiment(root: Path, tmp_path: Path, **dataset: Any) -> Path:
    """An all-fake experiment YAML over the qa-folder ``root``: 1 trial, every question."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "hostile",
                "dataset": {"loader": "qa-folder", "path": str(root), **dataset},
                "base": {
                    "embedding": {"provider": "hashing"},
                    "generation": {"llm": {"provider": "fake"}},
                    "judge": {"provider": "fake"},
                    "retrieval": {"top_k": 2},
                },
                "metrics": ["hit_rate", "faithfulness"],
            }
        )
    )
    return exp


# --- item 13: a document is never a template ------------------------------------------------------


def test_document_braces_reach_the_llm_prompt_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = "The vault code rule: {question} and {context} are literal text here, not slots."
    root = write_qa_folder(
        tmp_path / "ds",
        docs={"vault.md": doc},
        questions=[
            {
                "question_id": "q1",
                "user_input": "What is the vault code rule?",
                "reference": "Literal text.",
                "gold_doc_ids": ["vault.md"],
            },
            {
                "question_id": "q2",
                "user_input": "Does {context} in a question stay as it is?",
                "reference": "Yes.",
                "gold_doc_ids": ["vault.md"],
            },
        ],
    )
    prompts: list[str] = []
    original = FakeLLM.complete

    def spy(self: FakeLLM, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        if not kwargs.get("response_format"):
            prompts.append(prompt)
        return original(self, prompt, formatted=formatted, **kwargs)

    monkeypatch.setattr(FakeLLM, "complete", spy)
    result = run(qa_experiment(root, tmp_path), db=tmp_path / "r.duckdb", progress=False)

    assert result.ok, result.problems
    assert len(prompts) == 2
    for prompt in prompts:
        assert doc in prompt  # the document as written: no question substituted into it
        assert prompt.count("Question: ") == 1
    assert "Question: Does {context} in a question stay as it is?\n" in "\n".join(prompts)
