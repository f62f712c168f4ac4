"""Scores: cheap retrieval metrics for every question, RAGAS LLM-judged metrics for answered ones.

Contract:
- ``retrieval_scores(retrieved_doc_ids, gold_doc_ids)`` -> {metric: value}; no LLM, always computed.
  A question with no gold document (the corpus cannot answer it) gets no retrieval score: the
  metric does not apply, which is different from failing.
- ``Judge.score(metric, user_input, response, contexts)`` -> :class:`Score`. Judging never raises:
  invalid JSON, a dead endpoint or a metric that yields NaN becomes a Score with ``value=None`` and
  an ``error`` saying why, after bounded retries. Results are cached in the store by a hash of
  (metric, ragas version, judge model, sampling params, inputs), so identical work is never judged
  twice, across trials and runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ragbench import models
from ragbench.config import JUDGED_METRICS, LLMConfig, params_hash

T = TypeVar("T")


# --- retrieval metrics (no LLM) ---------------------------------------------------------------------


def hit_rate(retrieved: list[str], gold: list[str]) -> float:
    """1.0 if any gold document is among the retrieved ones, else 0.0."""
    return 1.0 if set(retrieved) & set(gold) else 0.0


def mrr(retrieved: list[str], gold: list[str]) -> float:
    """Reciprocal rank of the first retrieved chunk that comes from a gold document (0 if none)."""
    for rank, doc_id in enumerate(retrieved, start=1):
        if doc_id in gold:
            return 1.0 / rank
    return 0.0


RETRIEVAL: dict[str, Any] = {"hit_rate": hit_rate, "mrr": mrr}


def retrieval_scores(retrieved: list[str], gold: list[str], metrics: list[str]) -> dict[str, float]:
    """Retrieval metrics that apply to this question (none when it has no gold document)."""
    if not gold:
        return {}
    return {name: fn(retrieved, gold) for name, fn in RETRIEVAL.items() if name in metrics}


# --- LLM judging through ragas ----------------------------------------------------------------------


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also inside Jupyter's running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


class JudgeError(RuntimeError):
    """A judge call that failed after every retry."""


def _ragas_llm_base() -> type:
    from ragas.llms.base import InstructorBaseRagasLLM

    return InstructorBaseRagasLLM


def _ragas_embedding_base() -> type:
    from ragas.embeddings.base import BaseRagasEmbedding

    return BaseRagasEmbedding


def make_ragas_llm(llm: Any, max_retries: int, max_tokens: int) -> Any:
    """Adapt a LlamaIndex LLM to ragas 0.4's structured-output interface.

    Each call asks for JSON valid for ``response_model``'s schema, validates it, and retries up to
    ``max_retries`` times on invalid output or transport errors before raising JudgeError. At
    temperature 0 the same request gives the same output, so a retry after invalid JSON doubles the
    token budget: truncation is the usual cause of invalid JSON under a grammar.
    """

    class RagasLLM(_ragas_llm_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self.calls = 0
            self.trace: list[dict[str, Any]] = []
            self.usage = {"prompt_tokens": 0, "completion_tokens": 0}

        def generate(self, prompt: str, response_model: type[BaseModel]) -> BaseModel:
            schema = response_model.model_json_schema()
            last = ""
            budget = max_tokens
            for _attempt in range(max_retries + 1):
                self.calls += 1
                try:
                    text, usage, _ = models.complete(llm, prompt, schema=schema, max_tokens=budget)
                except Exception as exc:  # noqa: BLE001 - transport errors of any client
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                for key in self.usage:
                    self.usage[key] += int(usage.get(key) or 0)
                try:
                    parsed = response_model.model_validate_json(text)
                except ValidationError as exc:
                    last = f"invalid JSON for {response_model.__name__}: {exc.errors()[0]['msg']}"
                    budget *= 2
                    continue
                self.trace.append({response_model.__name__: parsed.model_dump()})
                return parsed
            raise JudgeError(f"judge failed after {max_retries + 1} attempts: {last}"[:500])

        async def agenerate(self, prompt: str, response_model: type[BaseModel]) -> BaseModel:
            return self.generate(prompt, response_model)

    return RagasLLM()


def make_ragas_embedding(embed: Any) -> Any:
    """Adapt a LlamaIndex embedding to ragas 0.4's modern embedding interface."""

    class RagasEmbedding(_ragas_embedding_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()

        def embed_text(self, text: str, **kwargs: Any) -> list[float]:
            return embed.get_text_embedding(text)

        async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
            return embed.get_text_embedding(text)

    return RagasEmbedding()


@dataclass
class Score:
    value: float | None
    error: str | None = None
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    cached: bool = False


class Judge:
    """Scores answers with RAGAS metrics through one judge LLM, caching by content hash."""

    def __init__(self, cfg: LLMConfig, llm: Any, embed: Any, cache: Any | None = None) -> None:
        """
        Args:
            cfg: the judge's config (its identity and sampling params are part of the cache key).
            llm: the LlamaIndex LLM to judge with.
            embed: the LlamaIndex embedding answer relevancy compares questions with.
            cache: anything with ``cache_get(kind, key)`` / ``cache_put(kind, key, value)``.
        """
        import ragas

        self.cfg = cfg
        self.cache = cache
        self.ragas_version = ragas.__version__
        self.llm = make_ragas_llm(llm, cfg.max_retries, cfg.max_tokens)
        self.embed = make_ragas_embedding(embed)
        self._metrics: dict[str, Any] = {}

    @property
    def calls(self) -> int:
        """Judge LLM calls made so far (cache hits make none)."""
        return self.llm.calls

    def _metric(self, name: str) -> Any:
        if name not in self._metrics:
            from ragas.metrics.collections import AnswerRelevancy, Faithfulness

            if name == "faithfulness":
                self._metrics[name] = Faithfulness(llm=self.llm)
            elif name == "answer_relevancy":
                # At temperature 0 the default 3 generated questions are identical: one suffices.
                strictness = 1 if self.cfg.temperature == 0 else 3
                self._metrics[name] = AnswerRelevancy(
                    llm=self.llm, embeddings=self.embed, strictness=strictness
                )
            else:
                raise ValueError(
                    f"unknown judged metric '{name}'; valid: {', '.join(JUDGED_METRICS)}"
                )
        return self._metrics[name]

    def cache_key(self, metric: str, inputs: dict[str, Any]) -> str:
        return params_hash(
            {
                "metric": metric,
                "ragas": self.ragas_version,
                "judge": models.llm_id(self.cfg),
                "sampling": {
                    "temperature": self.cfg.temperature,
                    "seed": self.cfg.seed,
                    "max_tokens": self.cfg.max_tokens,
                },
                "inputs": inputs,
            },
            length=32,
        )

    def score(self, metric: str, user_input: str, response: str, contexts: list[str]) -> Score:
        """One judged score; never raises for a judge failure (see module docstring)."""
        inputs: dict[str, Any] = {"user_input": user_input, "response": response}
        if metric == "faithfulness":
            inputs["retrieved_contexts"] = contexts
        key = self.cache_key(metric, inputs)
        if self.cache is not None and (hit := self.cache.cache_get("judge", key)) is not None:
            return Score(hit["value"], hit["error"], 0.0, hit["details"], cached=True)
        self.llm.trace = []
        start = time.perf_counter()
        try:
            result = run_sync(self._metric(metric).ascore(**inputs))
            value: float | None = float(result.value)
            error = None
            if math.isnan(value):
                value, error = (
                    None,
                    f"{metric} is undefined for this answer (no statements extracted)",
                )
        except JudgeError as exc:
            value, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a metric bug must not kill a run
            value, error = None, f"{type(exc).__name__}: {exc}"[:500]
        score = Score(value, error, time.perf_counter() - start, {"trace": self.llm.trace})
        # Transport failures are not cached: the endpoint may be back next time.
        transient = error is not None and "Error" in error and "invalid JSON" not in error
        if self.cache is not None and not transient:
            self.cache.cache_put(
                "judge", key, {"value": value, "error": error, "details": score.details}
            )
        return score


def judge_details(score: Score) -> str:
    return json.dumps(score.details | {"cached": score.cached}, default=str)
