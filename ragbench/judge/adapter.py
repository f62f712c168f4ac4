"""The judge's models as ragas 0.4 sees them: a structured-output LLM and an embedding adapter.

Contract:
- :class:`JudgeLLM` adapts a LlamaIndex LLM to ragas' ``InstructorBaseRagasLLM`` interface
  (``generate`` / ``agenerate(prompt, response_model)``, plus ``generate_many`` for independent
  calls with one schema). Each call asks for JSON valid for ``response_model``'s schema, validates
  it, and retries up to ``max_retries`` times on invalid output or transport errors before raising
  :class:`JudgeError`. At temperature 0 the same request gives the same output, so a retry after
  invalid JSON doubles the token budget: truncation is the usual cause of invalid JSON under a
  grammar. A reply whose tail repeats itself (:func:`looped`: greedy decoding stuck in a loop,
  which a larger budget only lengthens) is not asked again. With a ``cache`` (the store), each valid reply is kept under a hash of ``identity`` (the
  judge's content id and settings), the prompt and the schema (:meth:`JudgeLLM.call_key`), so a
  call made before (the same chunk judged for the same question in another trial, the same
  answer's statements) is not made again, even when the metric as a whole is new work.
  ``calls``, ``cached_calls``, ``batched_calls``, ``trace`` and ``usage`` count what it did.
- :class:`JudgeEmbedding` adapts a LlamaIndex embedding to ragas' ``BaseRagasEmbedding``.
- Both are plain classes registered as virtual subclasses of ragas' abstract bases
  (``ABCMeta.register``) when the first one is made: ragas' metrics check ``isinstance``, and
  ragas stays unimported until a judge is built (it takes seconds to import).
- ``run_sync(coro)`` runs a coroutine to completion from sync code, also inside Jupyter's loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import zlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ragbench import models
from ragbench.config.experiment import params_hash
from ragbench.experiment.workers import KeyedLocks
from ragbench.models.endpoint import EndpointError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Token and time counts a judge call reports (the local model adds where its time went).
USAGE_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "evaluated_prompt_tokens",
    "prompt_s",
    "generation_s",
)


# A reply loops when its last LOOP_TAIL characters compress below LOOP_RATIO of their size: a
# sentence repeated until the budget ran out compresses to ~0.05, varied JSON statements to ~0.4.
LOOP_TAIL = 2000
LOOP_RATIO = 0.15


class JudgeError(RuntimeError):
    """A judge call that failed after every retry."""


def looped(text: str) -> bool:
    """The reply's tail repeats itself (at least LOOP_TAIL / 2 characters of it)."""
    tail = text[-LOOP_TAIL:].encode()
    return len(tail) >= LOOP_TAIL // 2 and len(zlib.compress(tail)) < LOOP_RATIO * len(tail)


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


@functools.cache
def _register_with_ragas() -> None:
    """Make ragas' ``isinstance`` checks accept the adapters (once: each registration clears
    every ABC's isinstance cache)."""
    from ragas.embeddings.base import BaseRagasEmbedding
    from ragas.llms.base import InstructorBaseRagasLLM

    InstructorBaseRagasLLM.register(JudgeLLM)
    BaseRagasEmbedding.register(JudgeEmbedding)


class JudgeLLM:
    """A LlamaIndex LLM behind ragas' structured-output interface (see the module docstring)."""

    def __init__(
        self,
        llm: Any,
        max_retries: int,
        max_tokens: int,
        cache: Any | None = None,
        identity: dict[str, Any] | None = None,
        inflight: KeyedLocks | None = None,
    ) -> None:
        """
        Args:
            llm: the LlamaIndex LLM (``models.complete`` calls it).
            max_retries: attempts after the first, for invalid JSON or a transport error.
            max_tokens: the first attempt's output budget (doubled after invalid JSON).
            cache: anything with ``cache_get(kind, key)`` / ``cache_put(kind, key, value)``.
            identity: what names the judge in the per-call cache key (its id and settings).
            inflight: per-key locks shared by the judge's threads: a call made by two threads at
                once is made by one, and the other finds it in the cache.
        """
        _register_with_ragas()
        self.llm = llm
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.cache = cache
        self.identity = identity or {}
        self.inflight = inflight
        self.calls = 0
        self.cached_calls = 0
        self.batched_calls = 0  # calls decoded together with others (generate_many)
        self.trace: list[dict[str, Any]] = []
        self.usage: dict[str, float] = dict.fromkeys(USAGE_KEYS, 0)

    def call_key(self, prompt: str, schema: dict[str, Any]) -> str | None:
        """The cache key of one call (None without a cache); existing result files hold these."""
        if self.cache is None:
            return None
        return params_hash({"judge": self.identity, "prompt": prompt, "schema": schema}, length=32)

    def _cached(self, key: str | None, response_model: type[M]) -> M | None:
        hit = self.cache.cache_get("judge_call", key) if key is not None and self.cache else None
        if hit is None:
            return None
        self.cached_calls += 1
        self.trace.append({response_model.__name__: hit, "cached": True})
        return response_model.model_validate(hit)

    def _count(self, usage: dict[str, Any]) -> None:
        for name in USAGE_KEYS:
            self.usage[name] += usage.get(name) or 0

    def _keep(self, key: str | None, parsed: M) -> M:
        """A valid reply: traced, and cached for the next identical call."""
        self.trace.append({type(parsed).__name__: parsed.model_dump()})
        if key is not None and self.cache is not None:
            self.cache.cache_put("judge_call", key, parsed.model_dump())
        return parsed

    def generate(self, prompt: str, response_model: type[M]) -> M:
        """One structured call: from the cache, or asked with retries (see the module docstring).

        Raises:
            JudgeError: no valid reply after ``max_retries`` + 1 attempts.
        """
        schema = response_model.model_json_schema()
        key = self.call_key(prompt, schema)
        if key is None or self.inflight is None:
            return self._generate(prompt, response_model, schema, key)
        with self.inflight.hold(f"call:{key}"):  # the same call from two threads is made once
            return self._generate(prompt, response_model, schema, key)

    def _generate(
        self, prompt: str, response_model: type[M], schema: dict[str, Any], key: str | None
    ) -> M:
        hit = self._cached(key, response_model)
        if hit is not None:
            return hit
        last = ""
        budget = self.max_tokens
        attempts = 0
        for _attempt in range(self.max_retries + 1):
            attempts += 1
            self.calls += 1
            try:
                text, usage, _ = models.complete(self.llm, prompt, schema=schema, max_tokens=budget)
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
                if looped(text):
                    last = (
                        f"{response_model.__name__} reply repeated itself until its {budget}-token "
                        "budget ran out (a decoding loop; not asked again)"
                    )
                    break
                budget *= 2
                continue
            return self._keep(key, parsed)
        plural = "s" if attempts > 1 else ""
        raise JudgeError(f"judge failed after {attempts} attempt{plural}: {last}"[:500])

    async def agenerate(self, prompt: str, response_model: type[M]) -> M:
        """ragas' async call: the same as :meth:`generate` (the judge runs one call at a time)."""
        return self.generate(prompt, response_model)

    def generate_many(self, prompts: list[str], response_model: type[M]) -> list[M]:
        """Independent calls with one schema, in order; a local model decodes the uncached ones
        together (``LocalLlamaLLM.complete_many``). A batch that fails, or a reply that is not
        valid JSON, is made again one call at a time, with :meth:`generate`'s retries."""
        schema = response_model.model_json_schema()
        keys = [self.call_key(p, schema) for p in prompts]
        results: list[M | None] = [self._cached(k, response_model) for k in keys]
        misses = [i for i, r in enumerate(results) if r is None]
        together = getattr(self.llm, "complete_many", None)
        if together is not None and len(misses) > 1:
            try:
                replies = together([prompts[i] for i in misses], schema, self.max_tokens)
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


class JudgeEmbedding:
    """A LlamaIndex embedding behind ragas' ``BaseRagasEmbedding`` interface."""

    def __init__(self, embed: Any) -> None:
        _register_with_ragas()
        self.embed = embed
        self.cache = None  # ragas' base attribute: no ragas-side cache (the model caches)

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        return self.embed.get_text_embedding(text)

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        return self.embed_text(text)

    def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        """One text at a time, after ragas' checks (a list of non-empty strings), as its base."""
        from ragas.embeddings.utils import validate_texts

        return [self.embed_text(text) for text in validate_texts(texts)]

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return self.embed_texts(texts)


__all__ = ["USAGE_KEYS", "JudgeEmbedding", "JudgeError", "JudgeLLM", "run_sync"]
