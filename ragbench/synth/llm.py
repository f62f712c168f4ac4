"""LLM calls of synthesis: JSON replies validated, retried, and cached in the results store.

Contract: ``JsonCaller(client, cfg, cache).ask(prompt, reply_model, max_tokens)`` returns the
validated reply, or an :class:`InvalidOutput` saying why the JSON was unusable after
``cfg.max_retries`` retries (each retry doubles the token budget: at temperature 0 the same request
gives the same reply, and truncation is the usual cause of invalid JSON under a grammar). Valid
replies are cached under ``cache_put("synth", key)`` with ``key`` a hash of the model's content
identity, its sampling settings, the prompt, the schema and the budget, so a rerun (resume) asks
the model nothing it already answered. Invalid replies are not cached. A call that raises on every
attempt (endpoint down, model missing) raises :class:`SynthLLMError`: it would fail every
candidate, so synthesis stops and keeps what it wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from ragbench import models
from ragbench.config.experiment import LLMConfig, params_hash

Reply = TypeVar("Reply", bound=BaseModel)


class Cache(Protocol):
    def cache_get(self, kind: str, key: str) -> Any | None: ...
    def cache_put(self, kind: str, key: str, value: Any) -> None: ...


class SynthLLMError(RuntimeError):
    """The LLM could not be called at all (every attempt raised)."""


@dataclass(frozen=True)
class InvalidOutput:
    detail: str


@dataclass
class CallStats:
    calls: int = 0  # requests sent to the model (retries included)
    cache_hits: int = 0
    seconds: float = 0.0  # spent waiting for the model
    prompt_tokens: int = 0
    completion_tokens: int = 0
    invalid: int = 0  # replies that were not valid JSON for their schema

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class JsonCaller:
    client: Any  # a LlamaIndex LLM (models.make_llm), or any object with the same ``complete``
    cfg: LLMConfig
    cache: Cache | None
    stats: CallStats = field(default_factory=CallStats)

    def __post_init__(self) -> None:
        self.model_id = models.llm_id(self.cfg)

    def key(self, prompt: str, schema: dict[str, Any], max_tokens: int) -> str:
        settings = self.cfg.model_dump(include={"temperature", "seed", "context_window"})
        return params_hash(
            {
                "llm": self.model_id,
                "settings": settings,
                "prompt": prompt,
                "schema": schema,
                "max_tokens": max_tokens,
            },
            length=32,
        )

    def ask(self, prompt: str, reply: type[Reply], max_tokens: int) -> Reply | InvalidOutput:
        """The model's validated reply (see the module docstring)."""
        schema = reply.model_json_schema()
        key = self.key(prompt, schema, max_tokens)
        hit = self.cache.cache_get("synth", key) if self.cache is not None else None
        if hit is not None:
            try:
                parsed = reply.model_validate(hit)
            except ValidationError:
                pass  # a cache entry of another shape: ask again
            else:
                self.stats.cache_hits += 1
                return parsed
        budget = max_tokens
        problem = ""
        raised = 0
        for _attempt in range(self.cfg.max_retries + 1):
            self.stats.calls += 1
            try:
                text, usage, seconds = models.complete(
                    self.client, prompt, schema=schema, max_tokens=budget
                )
            except Exception as exc:  # noqa: BLE001 - transport errors of any client
                problem = f"{type(exc).__name__}: {exc}"
                raised += 1
                continue
            self.stats.seconds += seconds
            self.stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.stats.completion_tokens += int(usage.get("completion_tokens") or 0)
            try:
                parsed = reply.model_validate_json(text)
            except ValidationError as exc:
                self.stats.invalid += 1
                problem = _first_error(exc, text)
                budget *= 2
                continue
            if self.cache is not None:
                self.cache.cache_put("synth", key, parsed.model_dump())
            return parsed
        if raised == self.cfg.max_retries + 1:
            raise SynthLLMError(f"the LLM failed {raised} time(s) in a row ({problem})"[:500])
        return InvalidOutput(problem[:300])


def _first_error(exc: ValidationError, text: str) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "reply"
    try:
        json.loads(text)
    except ValueError:
        return f"not JSON ({len(text)} characters: {text[:60]!r})"
    return f"{where}: {error['msg']}"
