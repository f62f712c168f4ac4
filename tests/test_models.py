"""Model plumbing: GGUF part assembly, the JSON-schema faker, FakeLLM and HashingEmbedding."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel, Field
from ragas.metrics.collections.answer_relevancy.util import AnswerRelevanceOutput
from ragas.metrics.collections.faithfulness.util import NLIStatementOutput, StatementGeneratorOutput

from ragbench.config.experiment import EmbeddingConfig, LLMConfig
from ragbench.models import (
    FakeLLM,
    HashingEmbedding,
    ModelError,
    assemble,
    complete,
    fake_instance,
    is_fake,
    make_embedding,
    make_llm,
)

N_PARTS = 12


def make_parts(folder: Path, name: str = "part{}.bin") -> list[Path]:
    """Write 12 parts of distinct content and length; return them in numeric order."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(1, N_PARTS + 1):
        path = folder / name.format(i)
        path.write_bytes(f"<part {i}>".encode() * i + bytes([i]))
        parts.append(path)
    return parts


def joined(parts: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in parts)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- assemble ------------------------------------------------------------------------------------


def test_assemble_text_sorted_parts_in_numeric_order(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    expected = joined(parts)
    text_sorted = sorted(parts, key=lambda p: p.name)  # part1, part10, part11, part12, part2, ...
    assert joined(text_sorted) != expected  # the order really matters for this input
    dest = tmp_path / "out" / "model.gguf"
    out = assemble(text_sorted, dest, len(expected), hashlib.sha256(expected).hexdigest())
    assert out == dest
    assert dest.read_bytes() == expected
    assert (tmp_path / "out" / "model.gguf.verified").is_file()
    assert leftovers(tmp_path / "out") == ["model.gguf", "model.gguf.verified"]


def test_assemble_shuffled_zero_padded_parts(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts", name="part{:02d}.bin")
    assert parts[0].name == "part01.bin"
    expected = joined(parts)
    shuffled = parts[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != parts
    dest = tmp_path / "model.gguf"
    assemble(shuffled, dest, len(expected), hashlib.sha256(expected).hexdigest())
    assert dest.read_bytes() == expected


def test_assemble_hash_mismatch_leaves_nothing(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    expected = joined(parts)
    out_dir = tmp_path / "out"
    with pytest.raises(ModelError, match="sha256"):
        assemble(parts, out_dir / "model.gguf", len(expected), "0" * 64)
    assert leftovers(out_dir) == []  # no dest, no temp file, no stamp


def test_assemble_size_mismatch_raises(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    expected = joined(parts)
    out_dir = tmp_path / "out"
    with pytest.raises(ModelError, match=f"{len(expected)} bytes, expected {len(expected) + 1}"):
        assemble(
            parts, out_dir / "model.gguf", len(expected) + 1, hashlib.sha256(expected).hexdigest()
        )
    assert leftovers(out_dir) == []


def test_assemble_verified_stamp_skips_parts(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    expected = joined(parts)
    sha = hashlib.sha256(expected).hexdigest()
    dest = tmp_path / "out" / "model.gguf"
    assemble(parts, dest, len(expected), sha)
    for part in parts:
        part.unlink()
    assert assemble(parts, dest, len(expected), sha) == dest  # parts are not read again
    assert dest.read_bytes() == expected


def test_assemble_stamp_invalidated_when_file_changes(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    expected = joined(parts)
    sha = hashlib.sha256(expected).hexdigest()
    dest = tmp_path / "out" / "model.gguf"
    assemble(parts, dest, len(expected), sha)
    for part in parts:
        part.unlink()
    dest.write_bytes(b"x" * len(expected))  # same size, new content and mtime
    stat = dest.stat()
    os.utime(dest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(ModelError, match="missing"):  # the stamp no longer vouches for dest
        assemble(parts, dest, len(expected), sha)


def test_assemble_missing_part_named(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    expected = joined(parts)
    parts[6].unlink()  # part7.bin
    out_dir = tmp_path / "out"
    with pytest.raises(ModelError) as exc:
        assemble(parts, out_dir / "model.gguf", len(expected), hashlib.sha256(expected).hexdigest())
    assert "part7.bin" in str(exc.value)
    assert "part6.bin" not in str(exc.value)
    assert leftovers(out_dir) == []


# --- fake_instance / FakeLLM ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", [StatementGeneratorOutput, NLIStatementOutput, AnswerRelevanceOutput]
)
@pytest.mark.parametrize("prompt", ["", "The Corran lighthouse was built in 1871 by Ada Finch."])
def test_fake_instance_validates_against_ragas_models(model: type[BaseModel], prompt: str) -> None:
    value = fake_instance(model.model_json_schema(), prompt)
    parsed = model.model_validate(value)
    assert parsed.model_dump() == value


def test_fake_instance_uses_prompt_words() -> None:
    value = fake_instance(
        StatementGeneratorOutput.model_json_schema(), "Lighthouse keepers polish lenses"
    )
    assert value["statements"] and "Lighthouse" in value["statements"][0]


def test_fake_instance_handles_optional_literal_and_min_items() -> None:
    from typing import Literal

    class Inner(BaseModel):
        kind: Literal["a", "b"]
        note: str | None = None

    class Outer(BaseModel):
        items: list[Inner] = Field(min_length=3)
        count: int = Field(ge=2, le=5)
        flag: bool

    value = fake_instance(Outer.model_json_schema())
    parsed = Outer.model_validate(value)
    assert len(parsed.items) == 3
    assert 2 <= parsed.count <= 5


def test_fake_instance_respects_upper_bounds_below_one() -> None:
    class Bounded(BaseModel):
        score: float = Field(ge=0.0, le=0.5)
        penalty: int = Field(le=0)

    Bounded.model_validate(fake_instance(Bounded.model_json_schema()))


@pytest.mark.parametrize(
    "model", [StatementGeneratorOutput, NLIStatementOutput, AnswerRelevanceOutput]
)
def test_fake_llm_complete_with_schema_returns_valid_json(model: type[BaseModel]) -> None:
    llm = FakeLLM()
    schema = model.model_json_schema()
    out = llm.complete(
        "Judge these statements.", response_format={"type": "json_object", "schema": schema}
    )
    model.model_validate(json.loads(out.text))
    assert llm.calls == 1


def test_fake_llm_json_object_without_schema() -> None:
    out = FakeLLM().complete("anything", response_format={"type": "json_object"})
    assert json.loads(out.text) == {}


def test_fake_llm_answers_with_first_sentence_of_source_one() -> None:
    prompt = (
        "Sources:\n[1] (a.md)\nThe ferry leaves at 7:15. It is always late.\n\n"
        "[2] (b.md)\nOther text.\n\nQuestion: When?\nAnswer:"
    )
    text, usage, seconds = complete(FakeLLM(), prompt)
    assert text == "The ferry leaves at 7:15. [1]"
    assert usage["prompt_tokens"] == len(prompt.split())
    assert seconds >= 0


def test_fake_llm_without_sources_says_it_does_not_know() -> None:
    assert "don't know" in FakeLLM().complete("Question: what?").text


def test_factories_build_fakes_and_flag_them() -> None:
    assert isinstance(make_llm(LLMConfig(provider="fake")), FakeLLM)
    assert isinstance(make_embedding(EmbeddingConfig(provider="hashing")), HashingEmbedding)
    assert is_fake(LLMConfig(provider="local"), EmbeddingConfig(provider="hashing"))
    assert not is_fake(LLMConfig(provider="local"), EmbeddingConfig(provider="local"))


# --- HashingEmbedding ----------------------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float:
    va, vb = np.asarray(a), np.asarray(b)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def test_hashing_embedding_similar_texts_closer() -> None:
    embed = HashingEmbedding()
    query = embed.get_query_embedding("When was the lighthouse at Corran built?")
    similar = embed.get_text_embedding("The Corran lighthouse was built in 1871.")
    unrelated = embed.get_text_embedding("Membership fees are payable by direct debit each month.")
    assert cosine(query, similar) > cosine(query, unrelated) + 0.1


def test_hashing_embedding_deterministic_and_unit_norm() -> None:
    text = "Harbourlight libraries open at nine."
    a = HashingEmbedding().get_text_embedding(text)
    b = HashingEmbedding().get_text_embedding(text)
    assert a == b
    assert len(a) == 512
    assert np.linalg.norm(a) == pytest.approx(1.0)
    assert HashingEmbedding(seed=1).get_text_embedding(text) != a
    assert HashingEmbedding().get_text_embedding("something else entirely") != a


def test_the_llama_state_cache_keeps_the_kv_state_and_drops_the_logits() -> None:
    """llama-cpp-python's RAM cache counts only the KV bytes; the per-token logits it also keeps
    (~600 MB per 1,000-token Qwen prompt) grew a real run to 24 GB. The slim cache drops them."""
    import numpy as np

    llama_cpp = pytest.importorskip("llama_cpp")
    from ragbench.models.local import state_cache

    cache = state_cache(capacity=10_010)
    vocab, tokens = 1000, 50
    state = llama_cpp.llama.LlamaState(
        input_ids=np.arange(tokens, dtype=np.intc),
        scores=np.ones((tokens, vocab), dtype=np.single),
        n_tokens=tokens,
        llama_state=b"k" * 4000,
        llama_state_size=4000,
        seed=0,
    )
    cache[list(range(tokens))] = state
    kept = cache.cache_state[tuple(range(tokens))]
    assert kept.scores.nbytes == 0 and kept.llama_state == b"k" * 4000
    assert kept.scores.base is None  # not a view that keeps the logits buffer alive
    restored = cache[list(range(tokens)) + [7, 8]]  # the longest stored prefix
    assert restored.scores.shape == (tokens, vocab) and not restored.scores.any()
    # the shape load_state expects is the saved array's, which is not always n_tokens rows
    wide = llama_cpp.llama.LlamaState(
        np.arange(500, 500 + tokens, dtype=np.intc),
        np.ones((tokens // 2, vocab), dtype=np.single),
        tokens,
        b"k" * 10,
        10,
        0,
    )
    cache[list(range(500, 500 + tokens))] = wide
    assert cache[list(range(500, 500 + tokens))].scores.shape == (tokens // 2, vocab)
    assert restored.llama_state == b"k" * 4000 and restored.n_tokens == tokens
    for offset in (100, 200):
        other = llama_cpp.llama.LlamaState(
            np.arange(offset, offset + tokens, dtype=np.intc),
            np.ones((tokens, vocab), dtype=np.single),
            tokens,
            b"k" * 4000,
            4000,
            0,
        )
        cache[list(range(offset, offset + tokens))] = other
    # the size limit holds: the oldest state went first
    assert cache.cache_size <= 10_010 and tuple(range(tokens)) not in cache.cache_state
    assert len(cache.cache_state) == 3
