"""Judging: the RAGAS judge's failure handling and cache (retrieval metrics: test_metrics.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import DictCache
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback

from ragbench.config.experiment import LLMConfig
from ragbench.judge.scoring import Judge, Score
from ragbench.models import FakeLLM, HashingEmbedding

QUESTION = "When was the Corran lighthouse built?"
ANSWER = "The Corran lighthouse was built in 1871 [1]."
CONTEXTS = ["The Corran lighthouse was built in 1871 by Ada Finch."]


# --- judge test doubles --------------------------------------------------------------------------


class GarbageLLM(CustomLLM):
    """Always answers with text that is not JSON; counts its calls."""

    calls: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="garbage")

    def reply(self, prompt: str) -> str:
        return "Sure! Here are the statements: {statements: oops"

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.calls += 1
        return CompletionResponse(text=self.reply(prompt))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


class TimeoutLLM(GarbageLLM):
    """A dead endpoint: every call raises TimeoutError."""

    def reply(self, prompt: str) -> str:
        raise TimeoutError("endpoint did not answer in 300 s")


def make_judge(llm: Any, max_retries: int = 2, cache: Any | None = None, **cfg: Any) -> Judge:
    return Judge(
        LLMConfig(provider="fake", max_retries=max_retries, **cfg),
        llm,
        HashingEmbedding(),
        cache=cache,
    )


# --- judge failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("max_retries", [0, 2])
@pytest.mark.parametrize("metric", ["faithfulness", "answer_relevancy"])
def test_garbage_json_gives_recorded_failure(metric: str, max_retries: int) -> None:
    llm = GarbageLLM()
    judge = make_judge(llm, max_retries=max_retries)
    score = judge.score(metric, QUESTION, ANSWER, CONTEXTS)
    assert isinstance(score, Score)
    assert score.value is None
    assert "invalid JSON" in score.error
    attempts = max_retries + 1
    assert f"after {attempts} attempt{'s' if attempts > 1 else ''}:" in score.error
    # the metric's first structured call fails, so it is the only one: exactly 1 + retries calls
    assert llm.calls == max_retries + 1
    assert judge.calls == llm.calls


def test_timeout_is_recorded_not_raised() -> None:
    llm = TimeoutLLM()
    cache = DictCache()
    judge = make_judge(llm, max_retries=1, cache=cache)
    score = judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert score.value is None
    assert "TimeoutError" in score.error
    assert llm.calls == 2
    assert cache.puts == 0  # transport failures are not cached: the endpoint may come back


def test_invalid_json_failure_is_not_cached() -> None:
    """Raising max_retries (or a fixed judge) must get a new attempt, not the old failure."""
    llm = GarbageLLM()
    cache = DictCache()
    judge = make_judge(llm, max_retries=1, cache=cache)
    first = judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    calls = llm.calls
    second = judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert not second.cached and second.value is None and second.error == first.error
    assert llm.calls == 2 * calls and cache.puts == 0


# --- judge cache and fake judging ----------------------------------------------------------------


def test_judge_cache_second_identical_score_makes_no_calls() -> None:
    llm = FakeLLM()
    cache = DictCache()
    judge = make_judge(llm, cache=cache)
    first = judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert not first.cached
    calls = llm.calls
    assert calls >= 2  # statements, then verdicts
    second = judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert llm.calls == calls
    assert second.cached and second.value == first.value

    # a fresh judge sharing the cache also makes no calls
    other_llm = FakeLLM()
    again = make_judge(other_llm, cache=cache).score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert again.cached and other_llm.calls == 0


def test_judge_cache_key_depends_on_inputs_and_sampling() -> None:
    judge = make_judge(FakeLLM())
    base = judge.cache_key("faithfulness", {"user_input": QUESTION, "response": ANSWER})
    assert base == make_judge(FakeLLM()).cache_key(
        "faithfulness", {"response": ANSWER, "user_input": QUESTION}
    )
    assert base != judge.cache_key("answer_relevancy", {"user_input": QUESTION, "response": ANSWER})
    assert base != judge.cache_key(
        "faithfulness", {"user_input": QUESTION, "response": ANSWER + "!"}
    )
    warm = make_judge(FakeLLM(), temperature=0.7)
    assert base != warm.cache_key("faithfulness", {"user_input": QUESTION, "response": ANSWER})


def test_changed_contexts_miss_the_cache() -> None:
    llm = FakeLLM()
    judge = make_judge(llm, cache=DictCache())
    judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    calls = llm.calls
    score = judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS + ["another chunk"])
    assert not score.cached and llm.calls > calls


def test_fake_faithfulness_in_unit_interval() -> None:
    score = make_judge(FakeLLM()).score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert score.error is None
    assert score.value is not None and 0.0 <= score.value <= 1.0
    names = [next(iter(step)) for step in score.details["trace"]]
    # the default prompts (compact): statements, then one reason and verdict per statement
    assert names == ["StatementGeneratorOutput", "Verdicts"]


def test_fake_answer_relevancy_in_unit_interval() -> None:
    score = make_judge(FakeLLM()).score("answer_relevancy", QUESTION, ANSWER, CONTEXTS)
    assert score.error is None
    assert score.value is not None and 0.0 <= score.value <= 1.0


def test_unknown_judged_metric_is_recorded_failure() -> None:
    score = make_judge(FakeLLM()).score("bleu", QUESTION, ANSWER, CONTEXTS)
    assert score.value is None and "unknown judged metric 'bleu'" in score.error


def test_judge_works_inside_running_event_loop() -> None:
    """Jupyter runs cells inside an event loop; run_sync must still complete the metric."""

    async def main() -> Score:
        return make_judge(FakeLLM()).score("faithfulness", QUESTION, ANSWER, CONTEXTS)

    score = asyncio.run(main())
    assert score.error is None and score.value is not None


# --- cache keys are a file format ---------------------------------------------------------------


class OneVerdictLLM(GarbageLLM):
    """Answers every call with one valid verdict."""

    def reply(self, prompt: str) -> str:
        return '{"verdict": 1}'


def test_cache_keys_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verdicts cached in existing result files must still hit: the verdict key and the per-call
    key are computed byte for byte as before (ragas' version is part of both, pinned here)."""
    import ragas
    from pydantic import BaseModel

    from ragbench.config.components import JudgeConfig

    class Verdict(BaseModel):
        verdict: int

    monkeypatch.setattr(ragas, "__version__", "0.4.pinned")
    inputs = {"user_input": QUESTION, "response": ANSWER, "retrieved_contexts": CONTEXTS}
    # judge.repair: false reaches the verdicts of before judge.repair existed, under their keys
    as_before = JudgeConfig(provider="fake", max_tokens=256, repair=False)
    plain = Judge(as_before, None, None, embed_id="hashing:pinned")
    assert plain.cache_key("faithfulness", inputs) == "38a5452f4024fd5b91d6fbc6f64b224c"
    as_before = JudgeConfig(provider="fake", prompts="ragas", repair=False)
    ragas_prompts = Judge(as_before, None, None)
    assert ragas_prompts.cache_key("faithfulness", inputs) == "cf96c2d6392eb52c382e324cdac059b9"
    # repair: true (the default) changes verdicts, so it has keys of its own (faithfulness.VERSION
    # 2 since the re-ask shows a focused context)
    plain = Judge(LLMConfig(provider="fake"), None, None, embed_id="hashing:pinned")
    assert plain.cache_key("faithfulness", inputs) == "aea94c2ab7c724ee036bc09a9d686cc9"
    ragas_prompts = Judge(JudgeConfig(provider="fake", prompts="ragas"), None, None)
    assert ragas_prompts.cache_key("faithfulness", inputs) == "d39530292fd5be221cad7a7d517ac065"
    cache = DictCache()
    judge = make_judge(OneVerdictLLM(), cache=cache)
    assert judge.llm.generate("Is the sky blue?", Verdict) == Verdict(verdict=1)
    assert list(cache.data) == [("judge_call", "b4b69ec17c2b84a5c3426fc12c4439bd")]
