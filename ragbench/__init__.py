"""ragbench: build, tune and evaluate RAG pipelines offline, every score logged in DuckDB.

The package is grouped by stage: ``config`` (YAML -> validated models -> trials), ``data``
(documents and questions), ``models``, ``pipeline`` (index, retrieval, prompts), ``metrics``,
``judge``, ``experiment`` (``run``, the only orchestrator), ``store`` (DuckDB), ``stats``,
``synth``, ``results`` (reading a run), ``render`` (HTML, text, charts) and ``notebook``. What
notebooks use is exported lazily from here (``ragbench.run``, ``ragbench.load``, ...): importing
``ragbench`` loads none of it until it is used.

Importing the package applies the offline defaults below before any Hugging Face, tiktoken or
ragas module loads, so a user never sets environment variables by hand. Each is a ``setdefault``:
a user who is online can still export ``HF_HUB_OFFLINE=0`` to load question sets from the hub.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

#: name -> "module:attribute", imported on first use (lm-evaluation-harness' lazy exports).
_EXPORTS = {
    "run": "ragbench.experiment.orchestrator:run",
    "RunResult": "ragbench.experiment.orchestrator:RunResult",
    "load_config": "ragbench.config.experiment:load_config",
    "load_dataset": "ragbench.data.datasets:load_dataset",
    "init_experiment": "ragbench.data.scaffold:init_experiment",
    "synthesize": "ragbench.synth:synthesize",
    "load": "ragbench.render.report:load",
    "report": "ragbench.render.report:report",
    "inspect_question": "ragbench.render.drilldown:inspect_question",
    "inspect_questions": "ragbench.render.drilldown:inspect_questions",
    "diff_runs": "ragbench.render.diff:diff_runs",
    "check_gate": "ragbench.results.gate:check_gate",
    "run_judge_check": "ragbench.render.judge_check:run_judge_check",
    "Session": "ragbench.notebook.tuning:Session",
    "build_controls": "ragbench.notebook.tuning:build_controls",
    "history": "ragbench.notebook.tuning:history",
    "ReviewSet": "ragbench.render.review:ReviewSet",
    "ReviewPanel": "ragbench.notebook.review:ReviewPanel",
}
__all__ = sorted(_EXPORTS)


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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ragbench' has no attribute '{name}'")
    module, _, attribute = _EXPORTS[name].partition(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
