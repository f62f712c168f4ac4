"""Local decoding paths against llama-cpp-python's own (real local model, slow).

- The greedy grammar fast path picks exactly llama-cpp-python's tokens: the same prompts and JSON
  schemas through ``llama_cpp.Llama`` and through ``sampling.llama_class()`` give identical
  replies, and the whole-vocabulary fallback (the best token breaking the grammar) is taken.
- Batched decoding (``models.batched``) answers several prompts that share a prefix with valid
  JSON, in order, reads the shared prefix once, and gives the verdicts one-at-a-time decoding
  gives on clear-cut cases. (Not always the same reasons: llama.cpp's logits depend slightly on
  how a prompt is split into batches, as they do with the state cache; a near-tie can flip.)
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


CHUNK_PROMPT = (
    "Decide whether the context is useful for answering the question. Reply with a short reason "
    "and a verdict, 1 if useful and 0 if not.\n"
    "Question: What is the capital of France?\nReference answer: Paris.\nContext: {}"
)
CHUNKS = [
    "Paris is the capital and largest city of France.",
    "Bananas are rich in potassium and grow in tropical climates.",
    "The capital city of France is Paris.",
    "Mount Everest is the highest mountain above sea level.",
    "France's seat of government and capital city is Paris.",
]
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "verdict": {"type": "integer", "enum": [0, 1]},
    },
    "required": ["reason", "verdict"],
}


@pytest.mark.slow
def test_batched_replies_are_valid_in_order_and_read_the_prefix_once() -> None:
    import json

    from ragbench.models import local_llm_path
    from ragbench.models.local import LocalLlamaLLM

    llm = LocalLlamaLLM(model_path=str(local_llm_path()), max_tokens=48, context_window=2048)
    prompts = [CHUNK_PROMPT.format(c) for c in CHUNKS]
    # five prompts: a group of four and a group of one, each chunk's reply in its place; the
    # judge's default reply budget (1,024 tokens) does not keep them from sharing the context
    batched = llm.complete_many(prompts, VERDICT_SCHEMA, max_tokens=1024)
    verdicts = [json.loads(text)["verdict"] for text, _ in batched]
    assert verdicts == [1, 0, 1, 0, 1]
    alone = [
        json.loads(
            llm.complete(
                p, response_format={"type": "json_object", "schema": VERDICT_SCHEMA}, max_tokens=48
            ).text
        )["verdict"]
        for p in prompts[:2]
    ]
    assert alone == verdicts[:2]
    first = batched[0][1]
    assert first["prompt_tokens"] > 60 and sum(u["completion_tokens"] for _, u in batched) > 10
    # the same prompts again: the shared prefix is still in the batch context's KV cache, so
    # only each prompt's own tokens are evaluated
    again = llm.complete_many(prompts[:3], VERDICT_SCHEMA, max_tokens=48)
    own = sum(len(llm._llama.tokenize(c.encode())) + 8 for c in CHUNKS[:3])
    assert again[0][1]["evaluated_prompt_tokens"] <= own
    assert [json.loads(t)["verdict"] for t, _ in again] == verdicts[:3]


@pytest.mark.slow
def test_a_batch_too_big_for_the_context_is_refused_before_decoding() -> None:
    from ragbench.models import local_llm_path
    from ragbench.models.batched import BatchError
    from ragbench.models.local import LocalLlamaLLM

    llm = LocalLlamaLLM(model_path=str(local_llm_path()), context_window=512)
    long = [CHUNK_PROMPT.format(c * 40) for c in CHUNKS[:4]]
    with pytest.raises(BatchError, match="KV cells"):
        llm.complete_many(long, VERDICT_SCHEMA, max_tokens=48)
