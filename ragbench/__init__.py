"""ragbench: build, tune and evaluate RAG pipelines offline, every score logged in DuckDB.

Importing the package applies the offline defaults below before any Hugging Face, tiktoken or
ragas module loads, so a user never sets environment variables by hand. Each is a ``setdefault``:
a user who is online can still export ``HF_HUB_OFFLINE=0`` to load question sets from the hub.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__version__ = "0.1.0"


def _offline_defaults() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub is reachable; fail fast, not hang
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", os.environ["HF_HUB_OFFLINE"])
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # ragas telemetry would call home
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # fork-safety warnings in notebooks
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "false")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        # llama-index-core bundles the cl100k encoding; without this tiktoken downloads it.
        spec = importlib.util.find_spec("llama_index.core")
        if spec and spec.origin:
            cache = Path(spec.origin).parent / "_static" / "tiktoken_cache"
            if cache.is_dir():
                os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


_offline_defaults()
