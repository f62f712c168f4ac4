"""Greedy decoding under a JSON grammar at the cost of one grammar check per token, not 151,936.

Contract: ``llama_class()`` returns a ``llama_cpp.Llama`` subclass whose greedy, grammar-constrained
generation (temperature 0, no penalties, no logits processors: how ragbench's judge and answers
decode) picks exactly the token llama-cpp-python's own sampler picks, faster. Any other sampling
setting goes to llama-cpp-python unchanged.

Why: llama-cpp-python's sampler chain applies the grammar to every token of the vocabulary before
the greedy pick. For Qwen's 151,936 tokens that took 44-46 ms per generated token here
(2026-12-02, 2 cores), a third of the ~100-120 ms a token costs to decode. llama.cpp's own
``common_sampler`` avoids it, and so does this: take the highest-logit token, ask the grammar about
that one token, and only if the grammar rejects it apply the grammar to the whole vocabulary and
take the best allowed token. The best token overall, when allowed, is also the best allowed token,
so the choice is identical; inside a JSON string nearly every best token is allowed.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np


class GreedyGrammarSampler:
    """Stands in for ``llama_cpp._internals.LlamaSampler`` (``sample(ctx, idx)``) for greedy + grammar."""

    def __init__(self, model: Any, grammar: Any) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self._grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(model.vocab)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._all = (llama_cpp.llama_token_data * self._n_vocab)()
        self._all_np = np.ctypeslib.as_array(self._all)
        self._ids = np.arange(self._n_vocab, dtype=np.int32)
        self.tokens = 0  # tokens sampled, and how many needed the whole-vocabulary check
        self.full_checks = 0

    def _apply(self, data: Any, size: int) -> None:
        lib = self._lib
        array = lib.llama_token_data_array(
            data=ctypes.cast(data, lib.llama_token_data_p), size=size, selected=-1, sorted=False
        )
        lib.llama_sampler_apply(self._grammar, ctypes.byref(array))

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """The greedy token the grammar allows at ``idx``; the grammar then accepts it."""
        logits_p = self._lib.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(logits_p, shape=(self._n_vocab,))
        token = int(np.argmax(logits))
        self._one[0] = self._lib.llama_token_data(token, float(logits[token]), 0.0)
        self._apply(self._one, 1)
        self.tokens += 1
        if math.isinf(self._one[0].logit) and self._one[0].logit < 0:
            # the best token breaks the grammar: fall back to checking the whole vocabulary
            self.full_checks += 1
            everything = self._all_np
            everything["id"] = self._ids
            everything["logit"] = logits
            everything["p"] = 0.0
            self._apply(self._all, self._n_vocab)
            best = int(np.argmax(everything["logit"]))
            if np.isneginf(everything["logit"][best]):
                raise RuntimeError("the JSON grammar allows no next token")
            token = int(everything["id"][best])
        self._lib.llama_sampler_accept(self._grammar, token)
        return token

    def close(self) -> None:
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None

    def __del__(self) -> None:
        self.close()


def _plain_greedy(kwargs: dict[str, Any]) -> bool:
    """Sampling settings under which the chain is: grammar, then the highest logit."""
    return (
        kwargs.get("grammar") is not None
        and kwargs.get("temp") == 0.0
        and kwargs.get("logits_processor") is None
        and kwargs.get("repeat_penalty", 1.0) == 1.0
        and kwargs.get("frequency_penalty", 0.0) == 0.0
        and kwargs.get("presence_penalty", 0.0) == 0.0
        and kwargs.get("mirostat_mode", 0) == 0
    )


def llama_class() -> type:
    """``llama_cpp.Llama`` with the fast greedy grammar path (imported lazily: llama.cpp is optional)."""
    from llama_cpp import Llama

    class FastGrammarLlama(Llama):
        def _init_sampler(self, **kwargs: Any) -> Any:  # type: ignore[override]  # passes all on
            if _plain_greedy(kwargs):
                return GreedyGrammarSampler(self._model, kwargs["grammar"])
            return super()._init_sampler(**kwargs)

    return FastGrammarLlama


__all__ = ["GreedyGrammarSampler", "llama_class"]
