"""Several prompts that share a prefix, decoded together by one llama.cpp model (greedy, JSON grammar).

Contract: ``BatchDecoder(llama).complete(prompts, grammar, max_tokens)`` returns one
``(text, completion tokens)`` per prompt, each a token list from ``chat_tokens(text)`` (the prompt
as one user message, formatted as ``create_chat_completion`` formats it). The
decoder owns a second llama.cpp context on the same weights with one KV sequence per prompt: the
prompts' common prefix is evaluated once (and kept for the next call, so the instructions and
examples of a judge prompt are read once per process), each prompt's own suffix is evaluated into a
copy of it, and then every unfinished prompt gets one token per llama.cpp decode call.

Why: on 2 cores one token of one sequence costs ~80-100 ms, but a decode call that advances four
sequences by one token each costs about as much as 1.6 single ones (measured 2026-12-02: 12.4
steps/s for one sequence, 7.9 steps/s for four, i.e. 31.5 tokens/s against 12.4). Decoding is bound
by reading and unpacking the weights, which four tokens share. Context precision asks one
independent question per retrieved chunk, so its calls for one question decode together.

llama.cpp's repacked Q4_K kernels work on rows in groups of four: three sequences ran at 6.4
steps/s, slower than four at 7.9. So a step with 3 (7, ...) unfinished sequences carries one
scratch token in a spare sequence that nothing reads.

The tokens picked are greedy under the grammar (``sampling.GreedyGrammarSampler``), as in the
sequential path; llama.cpp does not promise bit-identical logits across batch shapes, so a reply can
differ from the sequential one where two tokens are nearly tied.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

from ragbench.models.sampling import GreedyGrammarSampler

MAX_SEQUENCES = 4  # prompts decoded together; more go in further groups
# KV cells held back per prompt for its reply. A reply that outgrows them may still fit; if the
# context runs out, llama_decode fails, the batch raises BatchError and the caller asks one by one.
REPLY_CELLS = 256


class BatchError(RuntimeError):
    """llama.cpp could not place or decode the batch (the caller falls back to one at a time)."""


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class BatchDecoder:
    """A second llama.cpp context on ``llama``'s weights, with one KV sequence per prompt."""

    def __init__(self, llama: Any, max_sequences: int = MAX_SEQUENCES) -> None:
        import llama_cpp
        from llama_cpp import _internals, llama_chat_format

        self._lib = llama_cpp
        self._llama = llama
        self.max_sequences = max_sequences
        params = llama_cpp.llama_context_params()  # a byte copy: ctypes cannot copy.copy pointers
        ctypes.memmove(
            ctypes.byref(params), ctypes.byref(llama.context_params), ctypes.sizeof(params)
        )
        # sequence 0 holds the shared prefix, 1..n the prompts, n + 1 the scratch row
        params.n_seq_max = max_sequences + 2
        params.kv_unified = True  # sequences share the prefix's KV cells instead of copying them
        # room for the prefix and several prompts and replies (~28 KB of KV cache per cell)
        params.n_ctx = 2 * llama.context_params.n_ctx
        self._ctx = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self.n_ctx = params.n_ctx
        self.n_batch = params.n_batch
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._mem = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._prefix: list[int] = []  # what sequence 0 holds
        # the last complete(): prompt tokens evaluated, seconds on prompts and on decoding
        # (llama.cpp's own counters book a multi-sequence decode step as prompt evaluation)
        self.spent: dict[str, float] = {}
        self._scratch = max_sequences + 1
        self._vocab = llama._model.vocab
        # the chat template llama-cpp-python formats ``create_chat_completion`` messages with
        # (its "chat_template.default" handler), compiled once
        self._chat = llama_chat_format.Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=llama._model.token_get_text(llama.token_eos()),
            bos_token=llama._model.token_get_text(llama.token_bos()),
        )

    def chat_tokens(self, prompt: str) -> list[int]:
        """``prompt`` as one user message, formatted and tokenized as ``create_chat_completion``."""
        chat = self._chat(messages=[{"role": "user", "content": prompt}])
        tokens: list[int] = self._llama.tokenize(
            chat.prompt.encode("utf-8"), add_bos=not chat.added_special, special=True
        )
        return tokens

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        self._ctx.close()

    # --- KV bookkeeping -----------------------------------------------------------------------

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants logits) entries."""
        batch = self._batch
        batch.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        status = self._lib.llama_decode(self._ctx.ctx, batch)
        if status != 0:
            raise BatchError(f"llama_decode returned {status} for {len(entries)} tokens")

    def _evaluate(self, tokens: list[int], start: int, seq: int) -> int:
        """Evaluate ``tokens`` at positions ``start``... of ``seq``; batch index of the last one."""
        began = time.perf_counter()
        for offset in range(0, len(tokens), self.n_batch):
            chunk = tokens[offset : offset + self.n_batch]
            last = offset + len(chunk) == len(tokens)
            self._decode(
                [
                    (t, start + offset + i, seq, last and i == len(chunk) - 1)
                    for i, t in enumerate(chunk)
                ]
            )
        self.spent["evaluated_prompt_tokens"] += len(tokens)
        self.spent["prompt_s"] += time.perf_counter() - began
        return (len(tokens) - 1) % self.n_batch

    def _drop(self, seq: int, from_pos: int = 0) -> None:
        self._lib.llama_memory_seq_rm(self._mem, seq, from_pos, -1)

    def _set_prefix(self, prefix: list[int]) -> None:
        """Make sequence 0 hold exactly ``prefix``, evaluating only what the last one lacked."""
        keep = _common_prefix(self._prefix, prefix)
        self._drop(0, keep)
        self._prefix = self._prefix[:keep]
        if keep < len(prefix):
            self._evaluate(prefix[keep:], keep, 0)
        self._prefix = list(prefix)

    # --- decoding ----------------------------------------------------------------------------

    def complete(
        self, prompts: list[list[int]], grammar: Any, max_tokens: int
    ) -> list[tuple[str, int]]:
        """Greedy grammar-constrained replies: (text, completion tokens) per prompt, in order."""
        self.spent = {"evaluated_prompt_tokens": 0, "prompt_s": 0.0, "generation_s": 0.0}
        if not prompts:
            return []
        replies: list[tuple[str, int]] = []
        for start in range(0, len(prompts), self.max_sequences):
            replies += self._group(prompts[start : start + self.max_sequences], grammar, max_tokens)
        return replies

    def _group(
        self, prompts: list[list[int]], grammar: Any, max_tokens: int
    ) -> list[tuple[str, int]]:
        shared = min(len(p) for p in prompts) - 1  # every prompt keeps at least one own token
        shared = min([shared] + [_common_prefix(prompts[0], p) for p in prompts[1:]])
        reply = min(max_tokens, REPLY_CELLS)
        needed = shared + sum(len(p) - shared + reply for p in prompts) + 8
        if needed > self.n_ctx:
            raise BatchError(
                f"{len(prompts)} prompts need {needed} KV cells, the context has {self.n_ctx}"
            )
        lib = self._lib
        try:
            self._set_prefix(prompts[0][:shared])
            samplers, tokens, positions = [], [], []
            for i, prompt in enumerate(prompts, start=1):
                lib.llama_memory_seq_cp(self._mem, 0, i, -1, -1)
                index = self._evaluate(prompt[shared:], shared, i)
                sampler = GreedyGrammarSampler(self._llama._model, grammar)
                samplers.append(sampler)
                tokens.append([sampler.sample(self._ctx, index)])
                positions.append(len(prompt))
            active = [i for i in range(len(prompts)) if not self._done(tokens[i], max_tokens)]
            began = time.perf_counter()
            while active:
                entries = [(tokens[i][-1], positions[i], i + 1, True) for i in active]
                if len(entries) % 4 == 3:  # see the module docstring: rows in groups of four
                    entries.append((tokens[active[-1]][-1], 0, self._scratch, False))
                self._decode(entries)
                if len(entries) > len(active):
                    self._drop(self._scratch)
                for index, i in enumerate(active):
                    positions[i] += 1
                    tokens[i].append(samplers[i].sample(self._ctx, index))
                active = [i for i in active if not self._done(tokens[i], max_tokens)]
            self.spent["generation_s"] += time.perf_counter() - began
        except Exception:
            # a failed batch leaves the KV cache in an unknown state: start clean next time
            lib.llama_memory_clear(self._mem, True)
            self._prefix = []
            raise
        finally:
            for i in range(1, len(prompts) + 1):
                self._drop(i)
        return [(self._text(t), len(t)) for t in tokens]

    def _done(self, tokens: list[int], max_tokens: int) -> bool:
        return len(tokens) >= max_tokens or bool(
            self._lib.llama_vocab_is_eog(self._vocab, tokens[-1])
        )

    def _text(self, tokens: list[int]) -> str:
        if tokens and self._lib.llama_vocab_is_eog(self._vocab, tokens[-1]):
            tokens = tokens[:-1]
        return self._llama.detokenize(tokens).decode("utf-8", errors="ignore")


__all__ = ["MAX_SEQUENCES", "BatchDecoder", "BatchError"]
