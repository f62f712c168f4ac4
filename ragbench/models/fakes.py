"""Test doubles shipped in the package, so the CLI can smoke-test itself offline.

Contract: ``FakeLLM`` answers prompts deterministically and, asked for JSON, returns a value valid
for the requested schema (``fake_instance``), which makes ragas plumbing testable;
``HashingEmbedding`` is a seeded n-gram hashing embedder whose similarities are meaningful. Any run
that uses one is flagged ``fake_models``. Bump the versions below when their output changes: the
caches are keyed by them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import (
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_completion_callback

# Bump when the fake LLM's or the hashing embedder's output changes: their caches are keyed by it.
FAKE_LLM_VERSION = 1
HASHING_VERSION = 1


class FakeLLM(CustomLLM):
    """Deterministic stand-in LLM for fast tests: no model, instant, JSON valid for any schema.

    Without a schema it answers with the first sentence of the first ``[1]`` source in the prompt,
    cited, so citation parsing and faithfulness plumbing have something real to chew on.
    """

    model_name: str = "fake-llm"
    calls: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model_name, is_chat_model=False)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.calls += 1
        fmt = kwargs.get("response_format") or {}
        if fmt.get("schema"):
            text = json.dumps(fake_instance(fmt["schema"], prompt))
        elif fmt:
            text = "{}"
        else:
            text = _fake_answer(prompt)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        return CompletionResponse(text=text, additional_kwargs={"usage": usage})

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


def _fake_answer(prompt: str) -> str:
    match = re.search(r"\[1\][^\n]*\n(.+?)(?:\n\[2\]|\n\n|$)", prompt, flags=re.S)
    if not match:
        return "I don't know based on the provided documents."
    sentence = re.split(r"(?<=[.!?])\s", match.group(1).strip(), maxsplit=1)[0]
    return f"{sentence} [1]"


def fake_instance(
    schema: dict[str, Any], prompt: str = "", defs: dict[str, Any] | None = None
) -> Any:
    """Build a value valid for a JSON schema (the subset pydantic emits), seeded by the prompt."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return fake_instance(defs[schema["$ref"].rsplit("/", 1)[-1]], prompt, defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return fake_instance(options[0], prompt, defs)
    if "enum" in schema:  # 1 when allowed, as for integers: the "supported"/"useful" verdict
        return 1 if 1 in schema["enum"] else schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    words = re.findall(r"[A-Za-z]{4,}", prompt) or ["statement"]
    if kind == "object":
        props = schema.get("properties", {})
        return {name: fake_instance(sub, prompt, defs) for name, sub in props.items()}
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [fake_instance(schema.get("items", {}), prompt, defs) for _ in range(count)]
    if kind == "string":
        return " ".join(words[:8]) + "."
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -math.inf))
        high = schema.get("maximum", schema.get("exclusiveMaximum", math.inf))
        value = min(max(1, low), high)  # 1 when allowed: the "supported" verdict in ragas NLI
        if value in (schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")):
            value = (
                (low + high) / 2
                if math.isfinite(low + high)
                else value + (1 if value == low else -1)
            )
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False  # e.g. ragas' `noncommittal`: a fake answer commits to something
    return None


# --- embeddings ----------------------------------------------------------------------------------


class HashingEmbedding(BaseEmbedding):
    """Seeded n-gram hashing embedder (after dspy's DummyVectorizer) for fast, meaningful tests.

    Texts sharing words and character trigrams get similar vectors, so retrieval tests exercise
    real ranking; a constant vector would make them meaningless.
    """

    dim: int = 512
    seed: int = 0

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim, dtype=np.float64)
        tokens = re.findall(r"\w+", text.lower())
        grams = tokens + [t[i : i + 3] for t in tokens for i in range(max(1, len(t) - 2))]
        for gram in grams:
            h = hashlib.blake2b(f"{self.seed}:{gram}".encode(), digest_size=8).digest()
            idx = int.from_bytes(h[:4], "little") % self.dim
            vec[idx] += 1.0 if h[4] & 1 else -1.0
        norm = np.linalg.norm(vec)
        return (vec / norm if norm else vec).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)
