"""The one model cache of a run: each distinct LLM or embedding config is built once, then shared.

Contract: ``ModelCache().llm(cfg)`` and ``.embedding(cfg)`` return the LlamaIndex model a config
names (``models.make_llm`` / ``models.make_embedding``), one instance per distinct config, from
any thread: two threads asking for a new config at once get the same instance. The index builder,
the pipelines (generator, query writers, LLM rerankers) and the judge all take their models from
the run's cache, so a local model another stage uses is loaded once. ``llms()`` lists the LLMs
built so far (a run sums their endpoint retries).

An LLM is keyed by the fields of :class:`~ragbench.config.components.LLMConfig` only: a judge
config that adds judge-only settings (``prompts``) shares the generator's instance when every
model setting is the same. A cache belongs to one process: a worker of another process (a later
Ray executor) makes its own.
"""

from __future__ import annotations

import threading
from typing import Any

from ragbench import models
from ragbench.config.experiment import EmbeddingConfig, LLMConfig, params_hash


class ModelCache:
    """LLMs and embeddings by config, built on first use; see the module docstring."""

    def __init__(self) -> None:
        # One lock for both tables: building a model under it keeps "one instance per config"
        # true under races, and models are built a handful of times per run.
        self._lock = threading.Lock()
        self._llms: dict[str, Any] = {}
        self._embeddings: dict[str, Any] = {}

    def llm(self, cfg: LLMConfig) -> Any:
        """The LLM a config names (one instance per distinct model config)."""
        key = params_hash(cfg.model_dump(include=set(LLMConfig.model_fields)))
        with self._lock:
            if key not in self._llms:
                self._llms[key] = models.make_llm(cfg)
            return self._llms[key]

    def embedding(self, cfg: EmbeddingConfig) -> Any:
        """The embedding model a config names (one instance per distinct config)."""
        key = params_hash(cfg.model_dump())
        with self._lock:
            if key not in self._embeddings:
                self._embeddings[key] = models.make_embedding(cfg)
            return self._embeddings[key]

    def llms(self) -> list[Any]:
        """Every LLM built so far."""
        with self._lock:
            return list(self._llms.values())
