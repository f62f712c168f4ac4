"""Content identity of model files: what cache keys and provenance name a model by.

Contract: ``file_sha256(path)`` and ``folder_sha256(path)`` return the sha256 of a file's bytes and
of a model folder's weight and configuration files (names + bytes, in sorted order). A model is
named by what it computes with, never by its file name or folder path: new weights saved under the
same name get a new identity, so caches keyed by it cannot serve stale results.

Hashing a 1 GB GGUF takes seconds, so results are memoised in ``<cache>/hashes.json`` keyed by
(absolute path, size, modification time in ns): a file changed in place is hashed again; within a process the answers are also kept in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

# Files that determine what a sentence-transformers / Hugging Face folder computes. Caches, READMEs
# and other documentation do not.
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model", ".onnx", ".gguf")
SKIPPED_NAMES = ("README.md",)
_lock = threading.Lock()
_seen: dict[str, str] = {}  # this process's hashes, same keys as the file memo


def cache_dir() -> Path:
    """Where ragbench keeps models and hashes: $RAGBENCH_CACHE_DIR or the user cache dir."""
    env = os.environ.get("RAGBENCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ragbench"))


def _memo_path() -> Path:
    return cache_dir() / "hashes.json"


def _load_memo() -> dict[str, str]:
    try:
        return dict(json.loads(_memo_path().read_text()))
    except (OSError, ValueError):
        return {}


def _save_memo(memo: dict[str, str]) -> None:
    path = _memo_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo, indent=0, sort_keys=True))
        tmp.replace(path)  # atomic: concurrent runs never read half a file
    except OSError:
        pass  # a read-only home only costs re-hashing next time


def file_sha256(path: str | Path, block: int = 1 << 22) -> str:
    """sha256 of a file's bytes, memoised by (path, size, mtime_ns)."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    with _lock:
        if memo_key in _seen:  # identities are asked for per question: no file read each time
            return _seen[memo_key]
        memo = _load_memo()
        if memo_key in memo:
            _seen[memo_key] = memo[memo_key]
            return memo[memo_key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    value = digest.hexdigest()
    with _lock:
        memo = _load_memo()
        memo[memo_key] = value
        _save_memo(memo)
        _seen[memo_key] = value
    return value


def folder_sha256(path: str | Path) -> str:
    """sha256 over the model files of a folder (relative names and their sha256s)."""
    root = Path(path).resolve()
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix in MODEL_FILE_SUFFIXES and p.name not in SKIPPED_NAMES
    )
    if not files:
        raise FileNotFoundError(f"no model files in {root}")
    for file in files:
        digest.update(f"{file.relative_to(root).as_posix()}\0{file_sha256(file)}\0".encode())
    return digest.hexdigest()
