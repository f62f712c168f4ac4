"""Index building: huge documents pre-split for the sentence tokenizer, stable chunk ids, and each
index owning its hierarchy's docstore across a vector-store sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_MODELS
from llama_index.core.schema import NodeRelationship

from ragbench.config.experiment import ChunkingConfig, DatasetConfig, expand, parse_config
from ragbench.data.datasets import Dataset, Question, load_dataset, make_document
from ragbench.models import HashingEmbedding
from ragbench.pipeline.index import SEGMENT_CHARS, chunk_documents, segment_text
from ragbench.pipeline.rag import Builder

# --- huge documents ------------------------------------------------------------------------------


def test_segments_are_bounded_join_back_and_prefer_paragraphs() -> None:
    para = "A sentence about the harbour. " * 40  # 1,200 characters
    text = "\n\n".join([para] * 30) + "x" * 2_500  # ends in one endless token
    pieces = segment_text(text, limit=5_000)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= 5_000 for p in pieces)
    assert all(p.endswith("\n\n") for p in pieces[:-2])  # cut after a paragraph break
    lines = segment_text("word " * 10_000, limit=1_000)  # no breaks at all: cut at spaces
    assert all(p.endswith(" ") for p in lines[:-1]) and "".join(lines) == "word " * 10_000
    assert segment_text("x" * 2_500, limit=1_000) == ["x" * 1_000, "x" * 1_000, "x" * 500]
    assert segment_text("short", limit=1_000) == ["short"]


def test_sentence_tokenizer_never_sees_a_whole_huge_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NLTK's punkt hit its 5 s regex timeout on a 20-50 MB file; pieces are now bounded."""
    import llama_index.core.node_parser.text.utils as text_utils

    seen: list[int] = []
    real = text_utils.split_by_sentence_tokenizer_internal

    def spy(text: str, tokenizer: Any) -> list[str]:
        seen.append(len(text))
        return real(text, tokenizer)

    monkeypatch.setattr(text_utils, "split_by_sentence_tokenizer_internal", spy)
    # One line, no paragraph breaks: the splitter's own paragraph step cannot cut it.
    text = " ".join(f"Ship {i} left pier {i % 7} at dawn." for i in range(12_000))
    assert len(text) > 3 * SEGMENT_CHARS
    doc = make_document("log.txt", text, source="log.txt", file_type="txt")
    chunks = chunk_documents(ChunkingConfig(), HashingEmbedding(), [doc])
    assert seen and max(seen) <= SEGMENT_CHARS
    assert {n.metadata["doc_id"] for n in chunks.nodes} == {"log.txt"}
    assert {n.ref_doc_id for n in chunks.nodes} == {"log.txt"}
    assert "segment" not in chunks.nodes[0].get_content(metadata_mode="embed")  # type: ignore[arg-type]
    assert len({n.node_id for n in chunks.nodes}) == len(chunks.nodes)


def test_small_documents_are_chunked_as_before() -> None:
    doc = make_document("a.txt", "One. Two. Three. " * 100, source="a.txt", file_type="txt")
    nodes = chunk_documents(
        ChunkingConfig(chunk_size=32, chunk_overlap=0), HashingEmbedding(), [doc]
    )
    assert all("segment" not in n.metadata for n in nodes.nodes)


# --- stable ids and docstore ownership ----------------------------------------------------------


def test_chunk_ids_are_stable_and_namespaced() -> None:
    docs = load_dataset(DatasetConfig(loader="demo")).corpus[:3]
    cfg = ChunkingConfig(method="hierarchical", chunk_size=64, chunk_overlap=0)
    a = chunk_documents(cfg, HashingEmbedding(), docs, namespace="k")
    b = chunk_documents(cfg, HashingEmbedding(), docs, namespace="k")
    c = chunk_documents(cfg, HashingEmbedding(), docs, namespace="other")
    assert [n.node_id for n in a.nodes] == [n.node_id for n in b.nodes]
    assert not {n.node_id for n in a.nodes} & {n.node_id for n in c.nodes}
    assert a.docstore is not None
    for leaf in a.nodes:  # every parent a leaf names is in the docstore under its new id
        parent = leaf.relationships[NodeRelationship.PARENT]
        assert a.docstore.get_node(parent.node_id).node_id == parent.node_id  # type: ignore[union-attr]


def test_hierarchical_sweep_over_vector_stores_keeps_each_docstore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One builder across a hierarchical x [memory, duckdb] x top_k sweep used to hand a memory
    trial the docstore of the duckdb index (other node ids): every trial must retrieve exactly
    what a fresh builder gives it."""
    monkeypatch.chdir(tmp_path)  # vectors.duckdb goes to ./results
    config = parse_config(
        {
            "name": "h",
            "base": FAKE_MODELS
            | {"chunking": {"method": "hierarchical", "chunk_size": 32, "chunk_overlap": 0}},
            "sweep": {"retrieval.top_k": [6, 12], "retrieval.vector_store": ["memory", "duckdb"]},
            "metrics": ["hit_rate"],
        }
    )
    dataset = load_dataset(DatasetConfig(loader="demo"))
    history = next(d for d in dataset.corpus if d.id_ == "about/history.md").text
    questions = [history[:1500], *(q.user_input for q in dataset.questions[:4])]
    shared = Builder(dataset)
    merged = 0
    for trial in expand(config):
        got = [
            [c.node.get_content() for c in shared.build(trial.pipeline).retrieve(q)]
            for q in questions
        ]
        fresh = Builder(dataset).build(trial.pipeline)
        want = [[c.node.get_content() for c in fresh.retrieve(q)] for q in questions]
        assert got == want, trial.label
        merged += sum(
            NodeRelationship.CHILD in c.node.relationships
            for c in shared.build(trial.pipeline).retrieve(questions[0])
        )
    assert merged, "no trial merged leaves into parents: the docstore was never exercised"
    assert shared.stats.indexes_built == 2  # one per vector store, shared across top_k


def test_memory_and_duckdb_indexes_share_one_chunking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = make_document("a.txt", "The ferry leaves at nine. " * 50, source="a.txt", file_type="txt")
    builder = Builder(Dataset("d", [doc], [Question("q", "When?", "")]))
    memory = builder.build(_cfg("memory"))
    duck = builder.build(_cfg("duckdb"))
    assert [n.node_id for n in memory.nodes] == [n.node_id for n in duck.nodes]
    assert builder.stats.chunks_embedded == len({n.get_content() for n in memory.nodes})


def _cfg(store: str) -> Any:
    from ragbench.config.experiment import PipelineConfig

    return PipelineConfig.model_validate(
        FAKE_MODELS
        | {"chunking": {"chunk_size": 16, "chunk_overlap": 0}, "retrieval": {"vector_store": store}}
    )
