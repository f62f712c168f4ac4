"""The greedy grammar fast path picks exactly llama-cpp-python's tokens (real local model).

The judge's verdicts must not change with it: the same prompts and JSON schemas through
``llama_cpp.Llama`` and through ``sampling.llama_class()`` give identical replies, and the
whole-vocabulary fallback (the best token breaking the grammar) is taken and still agrees.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragbench.models.sampling import GreedyGrammarSampler, _plain_greedy, llama_class

GREEDY = {
    "temp": 0.0,
    "logits_processor": None,
    "repeat_penalty": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "mirostat_mode": 0,
}


def test_only_plain_greedy_with_a_grammar_takes_the_fast_path() -> None:
    grammar = object()
    assert _plain_greedy({**GREEDY, "grammar": grammar})
    assert not _plain_greedy({**GREEDY, "grammar": None})
    for key, value in [
        ("temp", 0.7),
        ("repeat_penalty", 1.1),
        ("frequency_penalty", 0.5),
        ("presence_penalty", 0.5),
        ("mirostat_mode", 2),
        ("logits_processor", [lambda ids, logits: logits]),
    ]:
        assert not _plain_greedy({**GREEDY, "grammar": grammar, key: value}), key


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdicts": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string"},
                    "verdict": {"type": "integer", "enum": [0, 1]},
                },
                "required": ["reason", "verdict"],
            },
        }
    },
    "required": ["verdicts"],
}

PROMPTS = [
    "Context: The Eiffel Tower is in Paris and was finished in 1889.\n"
    "Statements: 1. The Eiffel Tower is in Paris. 2. It was finished in 1925.\n"
    "Give a reason and a verdict (1 supported, 0 not) for each statement as JSON.",
    # a reply that wants to start with prose, not "{": the grammar must overrule the best token
    "Explain in a friendly sentence whether 2 + 2 = 4 and whether the moon is made of cheese, "
    "then give a reason and a verdict for each as JSON.",
]


@pytest.mark.slow
def test_fast_path_replies_are_identical_to_llama_cpp() -> None:
    from llama_cpp import Llama

    from ragbench.models import local_llm_path

    path = str(local_llm_path())
    replies: dict[str, list[str]] = {}
    samplers: list[GreedyGrammarSampler] = []
    for name, cls in (("llama.cpp", Llama), ("fast", llama_class())):
        llm = cls(model_path=path, n_ctx=1024, n_threads=2, verbose=False, seed=0)
        if name == "fast":
            original = llm._init_sampler

            def keep(original: Any = original, **kwargs: Any) -> Any:
                sampler = original(**kwargs)
                samplers.append(sampler)
                return sampler

            llm._init_sampler = keep
        replies[name] = [
            llm.create_chat_completion(
                messages=[{"role": "user", "content": prompt}],
                temperature=0,
                max_tokens=48,
                seed=0,
                response_format={"type": "json_object", "schema": SCHEMA},
            )["choices"][0]["message"]["content"]
            for prompt in PROMPTS
        ]
        llm.close()
    assert replies["fast"] == replies["llama.cpp"]
    assert all(r.lstrip().startswith("{") for r in replies["fast"])
    assert len(samplers) == len(PROMPTS)
    assert all(isinstance(s, GreedyGrammarSampler) for s in samplers)
    assert sum(s.tokens for s in samplers) >= 48  # every token went through the fast path
    assert sum(s.full_checks for s in samplers) >= 1  # and the fallback was exercised
