"""Raw rows of a question set: a local JSONL or JSON file, or a Hugging Face hub dataset.

Contract: ``file_rows(path)`` and ``hub_rows("hf:OWNER/NAME[:split]")`` return ``(where, row)``
pairs, ``where`` naming the row for error messages (``line N`` for JSONL, ``item N`` for a JSON
list, ``row N`` for hub rows); they check only that the source can be read and parsed (a missing
file, bad UTF-8, bad JSON, an unreachable hub: one :class:`DataError` line each). What a row must
hold is ``data.questions``' schema, never checked here; this module does not import it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ragbench.data.readers import DataError

HF_PREFIX = "hf:"


def describe(value: Any) -> str:
    """How a wrong value is shown in an error: its JSON type and a short preview."""
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "list"}
    kind = names.get(type(value), "object" if isinstance(value, dict) else "null")
    return kind if value is None else f"{kind} {json.dumps(value, default=str)[:40]}"


def file_rows(path: Path) -> list[tuple[str, Any]]:
    """``(where, parsed row)`` pairs of a local JSONL or JSON file; unparseable lines raise."""
    if not path.is_file():
        raise DataError(f"question file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte {exc.start}): save it as UTF-8") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON: {exc}") from None
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of questions, got {describe(data)}")
        return [(f"item {n}", row) for n, row in enumerate(data, start=1)]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {n}: invalid JSON: {exc.msg}") from None
    return rows


def hub_rows(spec: str) -> list[tuple[str, Any]]:
    """Rows of ``hf:OWNER/NAME[:split]`` through ``datasets.load_dataset``."""
    name, _, split = spec.removeprefix(HF_PREFIX).partition(":")
    if name.count("/") != 1 or not all(name.split("/")):
        raise DataError(f"questions '{spec}': expected hf:OWNER/NAME or hf:OWNER/NAME:split")
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(name, split=split or None)
    except Exception as exc:  # noqa: BLE001 - network, auth, missing-dataset and cache errors
        if _offline():
            raise DataError(
                f"questions '{spec}': the Hugging Face hub is not reachable offline "
                "(HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set) and the set is not in the local "
                "datasets cache; load it once online, or save it as a local questions.jsonl"
            ) from None
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise DataError(f"questions '{spec}': {type(exc).__name__}: {first}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if len(loaded) != 1:
            raise DataError(
                f"questions '{spec}' has splits {', '.join(loaded)}: name one, "
                f"e.g. hf:{name}:{next(iter(loaded))}"
            )
        loaded = next(iter(loaded.values()))
    return [(f"row {n}", row) for n, row in enumerate(loaded.to_list(), start=1)]


def _offline() -> bool:
    flags = (os.environ.get(k, "").upper() for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))
    return any(f in ("1", "ON", "YES", "TRUE") for f in flags)
