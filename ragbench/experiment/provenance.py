"""Provenance: what a reader needs to trust, repeat or resume a run.

Contract:
- ``git_sha()``, ``package_versions()`` and ``versions(llms, embeddings)``: the code and the models
  a run used, stored on its ``runs`` row.
- ``config_hash(config)`` and ``data_hash(dataset)``: content hashes of the resolved experiment
  config and of the corpus + questions. ``--resume`` refuses a run whose hashes differ, and
  ``changed_keys(old, new)`` names the dotted config keys that differ, for that error.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import Any

from ragbench.config.experiment import params_hash
from ragbench.data.questions import IMPLIED

PACKAGES = (
    "ragbench",
    "llama-index-core",
    "ragas",
    "duckdb",
    "torch",
    "llama-cpp-python",
    "sentence-transformers",
    "datasets",
)


def git_sha() -> str | None:
    """The commit of the ragbench checkout, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages whose behaviour shapes a score."""
    info: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    return info


# Bump when a stored metric's definition changes, so runs scored under different definitions are
# never compared unknowingly. 2: retrieval metrics rank distinct documents, cut at top_k.
METRICS_VERSION = 2


def versions(llms: set[str], embeddings: set[str]) -> dict[str, Any]:
    """Package versions, the metric definitions' version and the models' content identities."""
    return package_versions() | {
        "metrics_version": METRICS_VERSION,
        "llms": sorted(llms),
        "embeddings": sorted(embeddings),
    }


def config_hash(config: dict[str, Any]) -> str:
    return params_hash(config, length=16)


def data_hash(corpus_hash: str, questions: list[Any]) -> str:
    """``corpus:<hash> questions:<hash>``; each half changes with any document or question field.

    Unset optional fields (and ``answerable``/``status`` at the value their absence means) are
    left out, so adding a field to the schema changes no old hash.
    """
    digest = hashlib.sha256()
    for q in questions:
        given = {
            k: v
            for k, v in vars(q).items()
            if v is not None and (k not in IMPLIED or v != IMPLIED[k])
        }
        digest.update(json.dumps(given, sort_keys=True, default=str).encode() + b"\0")
    return f"corpus:{corpus_hash} questions:{digest.hexdigest()[:16]}"


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like trees."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            path = f"{prefix}.{key}" if prefix else str(key)
            keys += changed_keys(old.get(key), new.get(key), path)
        return keys
    return [] if old == new else [prefix or "(config)"]
