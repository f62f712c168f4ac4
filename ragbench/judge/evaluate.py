"""Judging: RAGAS LLM-judged metrics for answered questions (retrieval metrics: metrics.py).

Contract:
- ``Judge.score(metric, user_input, response, contexts, reference=...)`` -> :class:`Score`. Each
  metric gets exactly the inputs it reads (``METRIC_INPUTS``); a metric that needs a reference
  answer records the failure "no reference answer" when there is none. Judging never raises:
  invalid JSON, a dead endpoint or a metric that yields NaN becomes a Score with ``value=None`` and
  an ``error`` saying why, after bounded retries. Results are cached in the store by a hash of
  (metric, ragas version, judge model, sampling params, inputs), so identical work is never judged
  twice, across trials and runs.
- ``Judge.score`` may be called from several threads at once (stage 3 with ``concurrency`` > 1):
  each thread judges through its own ragas adapter and metric objects (their trace and token
  counts are per call), and concurrent calls with one cache key take turns, so the second finds
  the first's verdict in the cache.
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
from ragbench.config.experiment import JUDGED_METRICS, LLMConfig, params_hash
from ragbench.experiment.workers import KeyedLocks
from ragbench.judge import prompts as judge_prompts
from ragbench.models.endpoint import EndpointError

T = TypeVar("T")


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


# Token and time counts a judge call reports (the local model adds where its time went).
USAGE_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "evaluated_prompt_tokens",
    "prompt_s",
    "generation_s",
)


def make_ragas_llm(
    llm: Any,
    max_retries: int,
    max_tokens: int,
    cache: Any | None = None,
    identity: dict[str, Any] | None = None,
    inflight: KeyedLocks | None = None,
) -> Any:
    """Adapt a LlamaIndex LLM to ragas 0.4's structured-output interface.

    Each call asks for JSON valid for ``response_model``'s schema, validates it, and retries up to
    ``max_retries`` times on invalid output or transport errors before raising JudgeError. At
    temperature 0 the same request gives the same output, so a retry after invalid JSON doubles the
    token budget: truncation is the usual cause of invalid JSON under a grammar.

    With a ``cache`` (the store), each valid reply is kept under a hash of ``identity`` (the
    judge's content id and settings), the prompt and the schema, so a call made before (the same
    chunk judged for the same question in another trial, the same answer's statements) is not made
    again, even when the metric as a whole is new work. Cached calls count in ``cached_calls``.
    """

    class RagasLLM(_ragas_llm_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self.calls = 0
            self.cached_calls = 0
            self.batched_calls = 0  # calls decoded together with others (generate_many)
            self.trace: list[dict[str, Any]] = []
            self.usage = dict.fromkeys(USAGE_KEYS, 0)

        def _key(self, prompt: str, schema: dict[str, Any]) -> str | None:
            if cache is None:
                return None
            return params_hash(
                {"judge": identity or {}, "prompt": prompt, "schema": schema}, length=32
            )

        def _cached(self, key: str | None, response_model: type[BaseModel]) -> BaseModel | None:
            hit = cache.cache_get("judge_call", key) if key is not None and cache else None
            if hit is None:
                return None
            self.cached_calls += 1
            self.trace.append({response_model.__name__: hit, "cached": True})
            return response_model.model_validate(hit)

        def _count(self, usage: dict[str, Any]) -> None:
            for name in USAGE_KEYS:
                self.usage[name] += usage.get(name) or 0

        def _keep(self, key: str | None, parsed: BaseModel) -> BaseModel:
            """A valid reply: traced, and cached for the next identical call."""
            self.trace.append({type(parsed).__name__: parsed.model_dump()})
            if key is not None and cache is not None:
                cache.cache_put("judge_call", key, parsed.model_dump())
            return parsed

        def generate(self, prompt: str, response_model: type[BaseModel]) -> BaseModel:
            schema = response_model.model_json_schema()
            key = self._key(prompt, schema)
            if key is None:
                return self._generate(prompt, response_model, schema, None)
            if inflight is None:
                return self._generate(prompt, response_model, schema, key)
            with inflight.hold(f"call:{key}"):  # the same call from two threads is made once
                return self._generate(prompt, response_model, schema, key)

        def _generate(
            self,
            prompt: str,
            response_model: type[BaseModel],
            schema: dict[str, Any],
            key: str | None,
        ) -> BaseModel:
            hit = self._cached(key, response_model)
            if hit is not None:
                return hit
            last = ""
            budget = max_tokens
            for _attempt in range(max_retries + 1):
                self.calls += 1
                try:
                    text, usage, _ = models.complete(llm, prompt, schema=schema, max_tokens=budget)
                except EndpointError as exc:  # the endpoint already retried with backoff
                    last = str(exc)
                    break
                except Exception as exc:  # noqa: BLE001 - transport errors of any client
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                self._count(usage)
                try:
                    parsed = response_model.model_validate_json(text)
                except ValidationError as exc:
                    last = f"invalid JSON for {response_model.__name__}: {exc.errors()[0]['msg']}"
                    budget *= 2
                    continue
                return self._keep(key, parsed)
            raise JudgeError(f"judge failed after {max_retries + 1} attempts: {last}"[:500])

        async def agenerate(self, prompt: str, response_model: type[BaseModel]) -> BaseModel:
            return self.generate(prompt, response_model)

        def generate_many(
            self, prompts: list[str], response_model: type[BaseModel]
        ) -> list[BaseModel]:
            """Independent calls with one schema, in order; a local model decodes the uncached
            ones together (``LocalLlamaLLM.complete_many``). A batch that fails, or a reply that
            is not valid JSON, is made again one call at a time, with ``generate``'s retries."""
            schema = response_model.model_json_schema()
            keys = [self._key(p, schema) for p in prompts]
            results: list[BaseModel | None] = [self._cached(k, response_model) for k in keys]
            misses = [i for i, r in enumerate(results) if r is None]
            together = getattr(llm, "complete_many", None)
            if together is not None and len(misses) > 1:
                try:
                    replies = together([prompts[i] for i in misses], schema, max_tokens)
                except Exception as exc:  # noqa: BLE001 - one at a time below still answers
                    self.trace.append({"batch_failed": f"{type(exc).__name__}: {exc}"[:300]})
                    replies = []
                for i, (text, usage) in zip(misses, replies, strict=False):
                    self.calls += 1
                    self.batched_calls += 1
                    self._count(usage)
                    try:
                        results[i] = self._keep(keys[i], response_model.model_validate_json(text))
                    except ValidationError:
                        continue
            return [
                r if r is not None else self.generate(p, response_model)
                for r, p in zip(results, prompts, strict=True)
            ]

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


# Bump when the way ragbench calls ragas changes (adapter, schema mode, metric settings): judge
# verdicts cached under an older protocol are then not reused.
JUDGE_PROTOCOL = 3  # 3: judge.prompts (compact or ragas) and the per-call cache

# The ragas sample fields each judged metric reads: exactly these are passed to ``ascore`` and
# hashed into the judge cache key.
METRIC_INPUTS: dict[str, tuple[str, ...]] = {
    "faithfulness": ("user_input", "response", "retrieved_contexts"),
    "answer_relevancy": ("user_input", "response"),
    "context_precision": ("user_input", "reference", "retrieved_contexts"),
    "context_recall": ("user_input", "retrieved_contexts", "reference"),
    "answer_correctness": ("user_input", "response", "reference"),
    "semantic_similarity": ("reference", "response"),  # embeddings only, no LLM call
}


def reads_answer(metric: str) -> bool:
    """Whether a judged or answer metric reads the generated answer (metrics without an entry in
    ``METRIC_INPUTS``, such as ``abstained``, do). Context precision and recall read the question,
    the retrieved contexts and the reference only, so judging only them needs no answer: stage 3
    generates none (an answer costs a long prompt per question and trial)."""
    return "response" in METRIC_INPUTS.get(metric, ("response",))


# Why ragas returns NaN, per metric, for the recorded error.
NAN_REASONS = {
    "faithfulness": "no statements extracted",
    "context_recall": "no reference statements classified",
}
# Metrics whose value is (partly) a cosine similarity, which ragas does not clip: below 0 for
# unrelated texts, and 1.0000000000000002 for identical ones (float rounding, seen here).
COSINE_METRICS = {"semantic_similarity", "answer_correctness", "answer_relevancy"}


@dataclass
class Score:
    value: float | None
    error: str | None = None
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    cached: bool = False


class Judge:
    """Scores answers with RAGAS metrics through one judge LLM, caching by content hash."""

    def __init__(
        self,
        cfg: LLMConfig,
        llm: Any,
        embed: Any,
        cache: Any | None = None,
        embed_id: str = "",
    ) -> None:
        """
        Args:
            cfg: the judge's config (its identity and sampling params are part of the cache key).
            llm: the LlamaIndex LLM to judge with.
            embed: the LlamaIndex embedding for answer relevancy, answer correctness and
                semantic similarity.
            cache: anything with ``cache_get(kind, key)`` / ``cache_put(kind, key, value)``.
            embed_id: the content identity of ``embed`` (``models.embedding_id``), for the cache.
        """
        import ragas

        self.cfg = cfg
        self.cache = cache
        self.embed_id = embed_id
        self.judge_id = models.llm_id(cfg)  # once: it may hash a model file
        # JudgeConfig.prompts; a plain LLMConfig (tests, judge checks) judges like the default
        self.prompts: str = getattr(cfg, "prompts", "compact")
        self.ragas_version = ragas.__version__
        self._identity = {
            "ragas": self.ragas_version,
            "protocol": JUDGE_PROTOCOL,
            "judge": self.judge_id,
            "settings": self._settings(),
        }
        self._base_llm = llm
        self.embed = make_ragas_embedding(embed)
        # Per thread: a ragas adapter (its trace and usage describe one score) and the metric
        # objects that call it. Every adapter is kept, for the call count.
        self._local = threading.local()
        self._adapters: list[Any] = []
        self._adapters_lock = threading.Lock()
        self._inflight = KeyedLocks()

    @property
    def llm(self) -> Any:
        """This thread's ragas adapter of the judge LLM."""
        if not hasattr(self._local, "llm"):
            self._local.llm = make_ragas_llm(
                self._base_llm,
                self.cfg.max_retries,
                self.cfg.max_tokens,
                self.cache,
                self._identity,
                self._inflight,
            )
            self._local.metrics = {}
            with self._adapters_lock:
                self._adapters.append(self._local.llm)
        return self._local.llm

    @property
    def _metrics(self) -> dict[str, Any]:
        """This thread's metric objects, by name (they hold this thread's adapter)."""
        self.llm  # noqa: B018 - creates the thread's adapter and metric table on first use
        metrics: dict[str, Any] = self._local.metrics
        return metrics

    @property
    def calls(self) -> int:
        """Judge LLM calls made so far, by every thread (cache hits make none)."""
        with self._adapters_lock:
            return sum(adapter.calls for adapter in self._adapters)

    def _metric(self, name: str) -> Any:
        if name not in self._metrics:
            from ragas.metrics.collections import (
                AnswerCorrectness,
                AnswerRelevancy,
                ContextPrecision,
                ContextRecall,
                Faithfulness,
                SemanticSimilarity,
            )

            compact = self.prompts == "compact"
            if name == "faithfulness":
                self._metrics[name] = (
                    judge_prompts.faithfulness(self.llm) if compact else Faithfulness(llm=self.llm)
                )
            elif name == "answer_relevancy":
                # At temperature 0 the default 3 generated questions are identical: one suffices.
                strictness = 1 if self.cfg.temperature == 0 else 3
                self._metrics[name] = AnswerRelevancy(
                    llm=self.llm, embeddings=self.embed, strictness=strictness
                )
            elif name == "context_precision":
                # ContextPrecision is ragas' "with reference" variant: each chunk judged useful or
                # not for reaching the reference answer, then average precision over the ranks.
                self._metrics[name] = (
                    judge_prompts.context_precision(self.llm)
                    if compact
                    else ContextPrecision(llm=self.llm)
                )
            elif name == "context_recall":  # the same with either prompt style
                self._metrics[name] = ContextRecall(llm=self.llm)
            elif name == "answer_correctness":
                # ragas' default weights: 0.75 statement-level F1, 0.25 embedding similarity.
                self._metrics[name] = AnswerCorrectness(llm=self.llm, embeddings=self.embed)
            elif name == "semantic_similarity":
                self._metrics[name] = SemanticSimilarity(embeddings=self.embed)
            else:
                raise ValueError(
                    f"unknown judged metric '{name}'; valid: {', '.join(JUDGED_METRICS)}"
                )
        return self._metrics[name]

    def _settings(self) -> dict[str, Any]:
        settings = self.cfg.model_dump(
            include={"temperature", "seed", "max_tokens", "context_window"}
        )
        settings["prompts"] = self.prompts
        if self.prompts == "compact":
            settings["compact_version"] = judge_prompts.COMPACT_VERSION
        return settings

    def cache_key(self, metric: str, inputs: dict[str, Any]) -> str:
        """Everything that determines a verdict: the metric and its prompts (ragas version and our
        adapter's protocol), the judge's content identity, every sampling and context setting,
        the judge embedding (answer relevancy and correctness read it) and the inputs."""
        return params_hash(
            {
                "metric": metric,
                "ragas": self.ragas_version,
                "protocol": JUDGE_PROTOCOL,
                "judge": self.judge_id,
                "embedding": self.embed_id,
                "settings": self._settings(),
                "inputs": inputs,
            },
            length=32,
        )

    def inputs(
        self,
        metric: str,
        user_input: str,
        response: str,
        contexts: list[str],
        *,
        reference: str = "",
    ) -> dict[str, Any] | None:
        """What ``metric`` reads (``METRIC_INPUTS``; with ``cache_key``, its cache key), or None
        when it needs a reference answer and there is none."""
        given = {
            "user_input": user_input,
            "response": response,
            "retrieved_contexts": contexts,
            "reference": reference or "",
        }
        names = METRIC_INPUTS.get(metric, ("user_input", "response"))
        if "reference" in names and not given["reference"]:
            return None
        return {name: given[name] for name in names}

    def score(
        self,
        metric: str,
        user_input: str,
        response: str,
        contexts: list[str],
        *,
        reference: str = "",
    ) -> Score:
        """One judged score; never raises for a judge failure (see module docstring).

        Only the inputs the metric reads (``METRIC_INPUTS``) reach ragas and the cache key, so
        e.g. answer_relevancy is not re-judged when only the retrieved contexts change.
        ``details`` holds the judge's structured outputs (``trace``) and the tokens this score
        cost (``judge_prompt_tokens``, ``judge_completion_tokens``; a cache hit repeats the
        original cost and spends none).
        """
        inputs = self.inputs(metric, user_input, response, contexts, reference=reference)
        if inputs is None:
            # Not cached and not an LLM call: adding references to the QA set fixes it.
            return Score(None, "no reference answer")
        key = self.cache_key(metric, inputs)
        with self._inflight.hold(key):  # the same verdict asked twice at once is judged once
            return self._score(metric, inputs, key)

    def _score(self, metric: str, inputs: dict[str, Any], key: str) -> Score:
        hit = self.cache.cache_get("judge", key) if self.cache is not None else None
        if hit is not None and hit.get("error") is None:  # files of older versions cached failures
            return Score(hit["value"], None, 0.0, hit["details"], cached=True)
        self.llm.trace = []
        self.llm.usage = dict.fromkeys(USAGE_KEYS, 0)
        calls_before, cached_before = self.llm.calls, self.llm.cached_calls
        batched_before = self.llm.batched_calls
        start = time.perf_counter()
        try:
            result = run_sync(self._metric(metric).ascore(**inputs))
            raw = float(result.value)
            value: float | None = raw
            error = None
            if math.isnan(raw):
                reason = NAN_REASONS.get(metric, "ragas returned NaN")
                value, error = None, f"{metric} is undefined for this answer ({reason})"
            elif metric in COSINE_METRICS:
                # Cosine similarity can dip below 0 for unrelated texts; the metric's range is
                # [0, 1], so "unrelated" is 0 rather than a negative that skews the mean.
                value = min(1.0, max(0.0, raw))
        except JudgeError as exc:
            value, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a metric bug must not kill a run
            value, error = None, f"{type(exc).__name__}: {exc}"[:500]
        details: dict[str, Any] = {
            "trace": self.llm.trace,
            "judge_prompt_tokens": self.llm.usage["prompt_tokens"],
            "judge_completion_tokens": self.llm.usage["completion_tokens"],
            "judge_calls": self.llm.calls - calls_before,
            "judge_cached_calls": self.llm.cached_calls - cached_before,
            "judge_batched_calls": self.llm.batched_calls - batched_before,
        }
        if self.llm.usage["evaluated_prompt_tokens"]:  # the local model says where time went
            details |= {
                "judge_evaluated_prompt_tokens": self.llm.usage["evaluated_prompt_tokens"],
                "judge_prompt_s": round(self.llm.usage["prompt_s"], 3),
                "judge_generation_s": round(self.llm.usage["generation_s"], 3),
            }
        score = Score(value, error, time.perf_counter() - start, details)
        # A failure is never cached: the endpoint may be back, or more retries may succeed.
        if self.cache is not None and error is None:
            self.cache.cache_put(
                "judge", key, {"value": value, "error": error, "details": score.details}
            )
        return score


def judge_details(score: Score) -> str:
    return json.dumps(score.details | {"cached": score.cached}, default=str)
