"""Compact judge prompts: ragas' arithmetic and reasons, no statement echo, cache-friendly layout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import DictCache
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import ValidationError

from ragbench.config.components import JudgeConfig
from ragbench.judge import prompts as judge_prompts
from ragbench.judge.scoring import Judge
from ragbench.models import HashingEmbedding

QUESTION = "When was the Corran lighthouse built?"
REFERENCE = "It was built in 1871 by Ada Finch."
ANSWER = "The Corran lighthouse was built in 1871 [1]. It is painted red [2]."
CONTEXTS = ["The Corran lighthouse was built in 1871.", "Ada Finch designed it.", "Tides."]


class ScriptedLLM(CustomLLM):
    """Replies from a queue of JSON texts; records every prompt and schema it was sent."""

    replies: list[str] = []
    prompts: list[str] = []
    schemas: list[dict[str, Any]] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        self.schemas.append(kwargs["response_format"]["schema"])
        return CompletionResponse(text=self.replies.pop(0))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


def judge(llm: Any, prompts: str = "compact", cache: Any = None) -> Judge:
    cfg = JudgeConfig(provider="fake", prompts=prompts, max_retries=0)
    return Judge(cfg, llm, HashingEmbedding(), cache=cache)


def judgements(*verdicts: int) -> str:
    """A clean NLI reply: a reason of its own per statement (a copied one is re-asked)."""
    return json.dumps(
        {"verdicts": [{"reason": f"r{i}", "verdict": v} for i, v in enumerate(verdicts)]}
    )


def test_faithfulness_is_supported_statements_over_all_with_one_verdict_each() -> None:
    llm = ScriptedLLM(
        replies=[
            json.dumps({"statements": ["Built in 1871.", "Painted red.", "Has a lamp."]}),
            judgements(1, 0, 1),
        ]
    )
    score = judge(llm).score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert score.error is None and score.value == pytest.approx(2 / 3)
    # the grammar fixes the number of judgements to the number of statements
    nli = llm.schemas[1]["properties"]["verdicts"]
    assert nli["minItems"] == nli["maxItems"] == 3
    # each: a reason, then a 0/1 verdict; the statement is not echoed
    item = llm.schemas[1]["$defs"]["Judgement"]
    assert list(item["properties"]) == ["reason", "verdict"]
    assert item["properties"]["verdict"]["enum"] == [0, 1]
    # the statements are in the prompt, numbered by their order
    assert "Painted red." in llm.prompts[1]


def test_a_wrong_number_of_verdicts_is_invalid_not_misaligned() -> None:
    with pytest.raises(ValidationError):
        judge_prompts.verdicts_model(3).model_validate_json(judgements(1, 1))
    llm = ScriptedLLM(replies=[json.dumps({"statements": ["A.", "B."]}), judgements(1)])
    score = judge(llm).score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert score.value is None and "invalid JSON" in (score.error or "")


def test_context_precision_is_ragas_average_precision_over_chunk_verdicts() -> None:
    llm = ScriptedLLM(replies=[json.dumps({"reason": "r", "verdict": v}) for v in (0, 1, 1)])
    score = judge(llm).score("context_precision", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE)
    # ragas: sum_k precision@k * rel_k / (relevant + 1e-10) = (1/2 + 2/3) / 2
    assert score.value == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert all(list(s["properties"]) == ["reason", "verdict"] for s in llm.schemas)


def test_context_precision_prompts_share_everything_but_the_chunk() -> None:
    llm = ScriptedLLM(replies=[json.dumps({"reason": "r", "verdict": 1})] * 3)
    judge(llm).score("context_precision", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE)
    first, second = llm.prompts[0], llm.prompts[1]
    shared = len(_common_prefix(first, second))
    # the question and the reference answer come before the chunk
    assert REFERENCE in first[:shared] and QUESTION in first[:shared]
    assert CONTEXTS[0] not in first[:shared]


def test_instructions_do_not_change_with_the_input() -> None:
    """The text before the input is the same for any input: it stays in the KV cache."""
    prompt = judge_prompts._nli_prompt()
    from ragas.metrics.collections.faithfulness.util import NLIStatementInput

    a = prompt.to_string(NLIStatementInput(context="x", statements=["a"]))
    b = prompt.to_string(NLIStatementInput(context="y y", statements=["a", "b", "c"]))
    head = a[: a.index("Now perform the same")]
    assert b.startswith(head) and len(head) > 500


def test_context_recall_is_ragas_own_with_either_prompt_style() -> None:
    """Its reply must list the reference's statements anyway: nothing to compact."""
    reply = {
        "classifications": [
            {"statement": s, "reason": "r", "attributed": a} for s, a in [("A", 1), ("B", 0)]
        ]
    }
    sent = []
    for style in ("compact", "ragas"):
        llm = ScriptedLLM(replies=[json.dumps(reply)])
        score = judge(llm, prompts=style).score(
            "context_recall", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE
        )
        assert score.value == pytest.approx(0.5)
        sent.append(llm.prompts[0])
    assert sent[0] == sent[1]


def test_ragas_prompts_remain_available_word_for_word() -> None:
    llm = ScriptedLLM(
        replies=[
            json.dumps({"statements": ["Built in 1871."]}),
            json.dumps(
                {"statements": [{"statement": "Built in 1871.", "reason": "stated", "verdict": 1}]}
            ),
        ]
    )
    score = judge(llm, prompts="ragas").score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert score.value == 1.0
    assert "reason" in json.dumps(llm.schemas[1])


def test_the_same_call_in_another_trial_is_served_from_the_call_cache() -> None:
    """Two trials retrieve an overlapping chunk: its verdict is asked for once."""
    cache = DictCache()
    llm = ScriptedLLM(replies=[json.dumps({"reason": "r", "verdict": 1})] * 3)
    first = judge(llm, cache=cache).score(
        "context_precision", QUESTION, ANSWER, CONTEXTS[:2], reference=REFERENCE
    )
    assert len(llm.prompts) == 2
    other = [CONTEXTS[1], "A new chunk."]
    second = judge(llm, cache=cache).score(
        "context_precision", QUESTION, ANSWER, other, reference=REFERENCE
    )
    assert len(llm.prompts) == 3  # only the new chunk was asked about
    assert not second.cached and second.details["judge_cached_calls"] == 1
    assert first.value == pytest.approx(1.0) and second.value == pytest.approx(1.0)


def test_prompt_style_is_part_of_the_verdict_cache_key() -> None:
    inputs = {"user_input": QUESTION, "response": ANSWER, "retrieved_contexts": CONTEXTS}
    compact = judge(ScriptedLLM()).cache_key("faithfulness", inputs)
    ragas = judge(ScriptedLLM(), prompts="ragas").cache_key("faithfulness", inputs)
    assert compact != ragas


def test_unknown_prompt_style_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="judge prompts"):
        JudgeConfig(prompts="terse")


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


class BatchingLLM(ScriptedLLM):
    """A ScriptedLLM that also answers several prompts in one call, like the local model."""

    batches: list[list[str]] = []
    fail_batch: bool = False

    def complete_many(
        self, prompts: list[str], schema: dict[str, Any], max_tokens: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        if self.fail_batch:
            raise RuntimeError("no KV room")
        self.batches.append(list(prompts))
        return [
            (self.replies.pop(0), {"prompt_tokens": 10, "completion_tokens": 5}) for _ in prompts
        ]


def verdict(v: int) -> str:
    return json.dumps({"reason": "r", "verdict": v})


def test_context_precision_asks_for_its_chunks_in_one_batch() -> None:
    llm = BatchingLLM(replies=[verdict(v) for v in (0, 1, 1)])
    score = judge(llm).score("context_precision", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE)
    assert score.value == pytest.approx((1 / 2 + 2 / 3) / 2)  # as when asked one at a time
    assert len(llm.batches) == 1 and len(llm.batches[0]) == 3 and llm.prompts == []
    assert [CONTEXTS[i] in llm.batches[0][i] for i in range(3)] == [True] * 3  # in chunk order
    assert score.details["judge_calls"] == 3 and score.details["judge_completion_tokens"] == 15
    assert score.details["judge_batched_calls"] == 3


def test_a_batch_sends_only_uncached_calls_and_retries_invalid_replies_alone() -> None:
    cache = DictCache()
    judge(ScriptedLLM(replies=[verdict(1)]), cache=cache).score(
        "context_precision", QUESTION, ANSWER, CONTEXTS[:1], reference=REFERENCE
    )
    # chunk 0 is cached; chunk 1's batched reply is cut off, so it is asked again on its own
    llm = BatchingLLM(replies=['{"reason": "r", "verd', verdict(0), verdict(1)])
    score = judge(llm, cache=cache).score(
        "context_precision", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE
    )
    assert [len(b) for b in llm.batches] == [2]
    assert CONTEXTS[0] not in "".join(llm.batches[0])
    assert len(llm.prompts) == 1 and CONTEXTS[1] in llm.prompts[0]  # the retry, alone
    # verdicts 1 (cached), 1 (retried), 0 (batched): (1/1 + 2/2) / 2
    assert score.error is None and score.value == pytest.approx(1.0)


def test_a_failed_batch_falls_back_to_one_call_at_a_time() -> None:
    llm = BatchingLLM(replies=[verdict(v) for v in (0, 1, 1)], fail_batch=True)
    score = judge(llm).score("context_precision", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE)
    assert score.value == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert len(llm.prompts) == 3 and llm.batches == []
    assert score.details["judge_batched_calls"] == 0
    assert any("batch_failed" in step for step in score.details["trace"])  # and says so
