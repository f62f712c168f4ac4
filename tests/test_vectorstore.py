"""The DuckDB vector store, the pipeline on it, and incremental re-ingest through ``run``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FAKE_MODELS
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from ragbench.config.experiment import ConfigError, DatasetConfig, PipelineConfig, parse_config
from ragbench.data.corpus import load_corpus
from ragbench.data.datasets import load_dataset
from ragbench.experiment.orchestrator import run
from ragbench.pipeline.rag import Builder, doc_id_of
from ragbench.store import Store
from ragbench.store.vectors import DuckDBVectorStore, MemoryVectorStore, cosine


def _nodes(n: int = 12, dim: int = 8, seed: int = 0) -> list[TextNode]:
    rng = np.random.default_rng(seed)
    nodes = []
    for i in range(n):
        node = TextNode(
            id_=f"n{i}",
            text=f"chunk {i}",
            metadata={"doc_id": f"d{i % 3}", "allowed_groups": ["staff"]},
            excluded_embed_metadata_keys=["doc_id", "allowed_groups"],
            embedding=rng.normal(size=dim).tolist(),
        )
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"d{i % 3}")
        nodes.append(node)
    return nodes


def _cosine_top(nodes: list[TextNode], query: np.ndarray, k: int) -> list[str]:
    m = np.array([n.embedding for n in nodes])
    sims = m @ query / (np.linalg.norm(m, axis=1) * np.linalg.norm(query))
    return [nodes[i].node_id for i in np.argsort(-sims)[:k]]


def test_add_query_delete_round_trip(tmp_path: Path) -> None:
    store = DuckDBVectorStore(tmp_path / "v.duckdb", "t")
    nodes = _nodes()
    assert store.add(nodes) == [n.node_id for n in nodes]
    query = np.random.default_rng(1).normal(size=8)
    found = store.query(VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=4))
    assert found.ids == _cosine_top(nodes, query, 4)  # the same ranking as numpy
    m = {n.node_id: np.array(n.embedding) for n in nodes}
    for node_id, sim in zip(found.ids, found.similarities, strict=True):
        v = m[node_id]
        assert sim == pytest.approx(v @ query / np.linalg.norm(v) / np.linalg.norm(query), abs=1e-5)
    back = found.nodes[0]  # the whole node survives: text, metadata, exclusions, source doc
    original = next(n for n in nodes if n.node_id == back.node_id)
    assert back.text == original.text and back.metadata == original.metadata
    assert back.excluded_embed_metadata_keys == ["doc_id", "allowed_groups"]
    assert back.ref_doc_id == original.ref_doc_id
    store.delete("d1")
    assert store.node_ids() == {n.node_id for n in nodes if n.ref_doc_id != "d1"}
    again = store.query(VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=20))
    assert all(n.ref_doc_id != "d1" for n in again.nodes) and len(again.ids) == 8


def test_node_ids_filter_searches_only_those_nodes(tmp_path: Path) -> None:
    store = DuckDBVectorStore(tmp_path / "v.duckdb", "t")
    nodes = _nodes()
    store.add(nodes)
    query = np.random.default_rng(2).normal(size=8)
    allowed = [n for n in nodes if n.ref_doc_id == "d2"]
    found = store.query(
        VectorStoreQuery(
            query_embedding=query.tolist(),
            similarity_top_k=3,
            node_ids=[n.node_id for n in allowed],
        )
    )
    assert found.ids == _cosine_top(allowed, query, 3)  # top_k filled from the allowed nodes
    # LlamaIndex's convention (a stores_text index's as_retriever passes []): empty = no filter.
    every = store.query(VectorStoreQuery(query_embedding=query.tolist(), node_ids=[]))
    assert every.ids == _cosine_top(nodes, query, 1)


@pytest.mark.parametrize("memory_store", ["llama-index", "ragbench"])
def test_mmr_matches_the_in_memory_store(tmp_path: Path, memory_store: str) -> None:
    from llama_index.core.vector_stores import SimpleVectorStore

    nodes = _nodes(30)
    memory = SimpleVectorStore() if memory_store == "llama-index" else MemoryVectorStore()
    duck = DuckDBVectorStore(tmp_path / "v.duckdb", "t")
    duck.add(nodes)
    memory.add(nodes)
    query = VectorStoreQuery(
        query_embedding=np.random.default_rng(3).normal(size=8).tolist(),
        similarity_top_k=5,
        mode=VectorStoreQueryMode.MMR,
    )
    a, b = duck.query(query, mmr_threshold=0.3), memory.query(query, mmr_threshold=0.3)
    assert a.ids == b.ids
    assert a.similarities == pytest.approx(b.similarities, abs=1e-5)


def _stores(tmp_path: Path, nodes: list[TextNode]) -> dict[str, Any]:
    stores = {"memory": MemoryVectorStore(), "duckdb": DuckDBVectorStore(tmp_path / "v.duckdb")}
    for store in stores.values():
        store.add(nodes)
    return stores


def test_zero_vectors_score_zero_and_never_rank_first(tmp_path: Path) -> None:
    """An all-zero vector (an all-punctuation chunk with the hashing embedder) had a NaN score
    that ranked first in the in-memory store; cosine with a zero vector is now defined as 0."""
    nodes = _nodes(8)
    nodes[0].embedding = [0.0] * 8  # inserted first: it would also win every tie
    query = np.random.default_rng(4).normal(size=8).tolist()
    results = {}
    for name, store in _stores(tmp_path, nodes).items():
        found = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=8))
        scores = dict(zip(found.ids, found.similarities, strict=True))
        assert all(np.isfinite(s) for s in found.similarities), name
        assert scores["n0"] == 0.0, name
        assert found.ids[:3] == _cosine_top(nodes[1:], np.array(query), 3), name
        results[name] = found
    assert results["memory"].ids == results["duckdb"].ids
    assert results["memory"].similarities == pytest.approx(results["duckdb"].similarities, abs=1e-5)
    assert cosine([0.0, 0.0], [1.0, 2.0]) == 0.0 == cosine([0.0], [0.0])


def test_a_zero_query_scores_every_node_zero_in_insertion_order(tmp_path: Path) -> None:
    nodes = _nodes(6)
    for name, store in _stores(tmp_path, nodes).items():
        found = store.query(VectorStoreQuery(query_embedding=[0.0] * 8, similarity_top_k=4))
        assert found.ids == ["n0", "n1", "n2", "n3"], name
        assert found.similarities == [0.0] * 4, name
        mmr = store.query(
            VectorStoreQuery(
                query_embedding=[0.0] * 8, similarity_top_k=3, mode=VectorStoreQueryMode.MMR
            )
        )
        assert len(mmr.ids) == 3 and all(np.isfinite(mmr.similarities)), name


def test_punctuation_chunk_with_the_hashing_embedder(tmp_path: Path, make_qa_folder: Any) -> None:
    docs: dict[str, str | bytes] = {
        "aaa-punct.txt": "!!! ??? ... --- *** ;;; !!! ???",  # first in path order
        "ferry.txt": "The ferry to Ostby leaves every morning at 7:15 from pier 4.",
        "lighthouse.txt": "The Corran lighthouse was built in 1871 by Ada Finch.",
    }
    question = {"question_id": "q", "user_input": "When does the ferry leave?"}
    dataset = load_dataset(
        DatasetConfig(loader="qa-folder", path=str(make_qa_folder(docs, [question])))
    )
    runs = {}
    for store in ("memory", "duckdb"):
        extra = {"vector_store_path": str(tmp_path / "v.duckdb")} if store == "duckdb" else {}
        pipeline = Builder(dataset).build(_pipeline_cfg(vector_store=store, **extra))
        for text in ("When does the ferry leave?", "?!?"):  # the second embeds to zeros too
            chunks = pipeline.retrieve(text)
            assert all(np.isfinite(c.score) for c in chunks), (store, text)
            runs[store, text] = [(doc_id_of(c), round(c.score, 5)) for c in chunks]
        assert runs[store, "When does the ferry leave?"][0][0] == "ferry.txt"
        assert ("aaa-punct.txt", 0.0) in runs[store, "When does the ferry leave?"]
    assert runs["memory", "?!?"] == runs["duckdb", "?!?"]
    assert (
        runs["memory", "When does the ferry leave?"] == runs["duckdb", "When does the ferry leave?"]
    )


def test_persists_across_store_instances(tmp_path: Path) -> None:
    nodes = _nodes()
    DuckDBVectorStore(tmp_path / "v.duckdb", "t").add(nodes)
    reopened = DuckDBVectorStore(tmp_path / "v.duckdb", "t")
    assert reopened.node_ids() == {n.node_id for n in nodes}
    assert [n.text for n in reopened.get_nodes()] == [n.text for n in nodes]
    assert DuckDBVectorStore(tmp_path / "v.duckdb", "other").node_ids() == set()  # own table


def test_rejects_unsafe_table_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="table name"):
        DuckDBVectorStore(tmp_path / "v.duckdb", 'x"; DROP TABLE t; --')


def test_config_validates_vector_store() -> None:
    base = {"name": "v", "base": FAKE_MODELS | {"retrieval": {"vector_store": "duckbd"}}}
    with pytest.raises(ConfigError, match="did you mean 'duckdb'"):
        parse_config(base)
    stray = {"name": "v", "base": FAKE_MODELS | {"retrieval": {"vector_store_path": "x.duckdb"}}}
    with pytest.raises(ConfigError, match="belongs to vector_store 'duckdb'"):
        parse_config(stray)


def _pipeline_cfg(**retrieval: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(FAKE_MODELS | {"retrieval": {"top_k": 3, **retrieval}})


@pytest.mark.parametrize("method", ["dense", "mmr"])
def test_duckdb_pipeline_retrieves_like_memory(tmp_path: Path, method: str) -> None:
    dataset = load_dataset(DatasetConfig(loader="demo"))
    memory = Builder(dataset).build(_pipeline_cfg(method=method))
    path = str(tmp_path / "vectors.duckdb")
    duck = Builder(dataset).build(
        _pipeline_cfg(method=method, vector_store="duckdb", vector_store_path=path)
    )
    for q in dataset.questions:
        want = [doc_id_of(c) for c in memory.retrieve(q.user_input, q.user_groups)]
        got = [doc_id_of(c) for c in duck.retrieve(q.user_input, q.user_groups)]
        assert got == want, q.question_id


def test_duckdb_pipeline_prefilters_by_access(tmp_path: Path, make_qa_folder: Any) -> None:
    docs: dict[str, str | bytes] = {
        f"pay{i}.txt": f"Payroll note {i}: the ferry crew salary rises by {i} percent."
        for i in range(4)
    } | {"ferry.txt": "The ferry to Ostby leaves at 7:15.", "_permissions.json": '{"pay*": ["hr"]}'}
    folder = make_qa_folder(
        docs,
        [
            {
                "question_id": "q",
                "user_input": "ferry crew salary",
                "reference": "",
                "gold_doc_ids": ["pay1.txt"],
            }
        ],
    )
    dataset = load_dataset(DatasetConfig(loader="qa-folder", path=str(folder)))
    cfg = _pipeline_cfg(vector_store="duckdb", vector_store_path=str(tmp_path / "v.duckdb"))
    pipeline = Builder(dataset).build(cfg)
    assert [doc_id_of(c) for c in pipeline.retrieve("ferry crew salary")] == ["ferry.txt"]
    hr = [doc_id_of(c) for c in pipeline.retrieve("ferry crew salary", ["hr"])]
    assert len(hr) == 3 and any(d.startswith("pay") for d in hr)


def test_duckdb_index_is_reused_by_a_later_builder(tmp_path: Path) -> None:
    dataset = load_dataset(DatasetConfig(loader="demo"))
    cfg = _pipeline_cfg(
        vector_store="duckdb", vector_store_path=str(tmp_path / "v.duckdb"), method="hybrid"
    )
    first, second = Builder(dataset), Builder(dataset)
    a = first.build(cfg)
    assert first.stats.chunks_embedded > 0 and first.stats.chunks_from_vector_store == 0
    b = second.build(cfg)  # a new process, in effect: same table, nothing embedded or inserted
    assert second.stats.chunks_embedded == 0
    assert second.stats.chunks_from_vector_store == len(b.nodes) == len(a.nodes)
    assert [n.node_id for n in a.nodes] == [n.node_id for n in b.nodes]  # stable ids
    for q in dataset.questions:
        groups = q.user_groups
        assert [c.node.node_id for c in a.retrieve(q.user_input, groups)] == [
            c.node.node_id for c in b.retrieve(q.user_input, groups)
        ]


def test_duckdb_hierarchical_index_merges_after_reuse(tmp_path: Path) -> None:
    dataset = load_dataset(DatasetConfig(loader="demo"))
    cfg = PipelineConfig.model_validate(
        FAKE_MODELS
        | {
            "chunking": {"method": "hierarchical", "chunk_size": 64, "chunk_overlap": 8},
            "retrieval": {
                "top_k": 6,
                "vector_store": "duckdb",
                "vector_store_path": str(tmp_path / "v.duckdb"),
            },
        }
    )
    memory_cfg = cfg.model_copy(
        update={
            "retrieval": cfg.retrieval.model_copy(
                update={"vector_store": "memory", "vector_store_path": None}
            )
        }
    )
    Builder(dataset).build(cfg)
    reused = Builder(dataset).build(cfg)
    memory = Builder(dataset).build(memory_cfg)
    for q in dataset.questions[:8]:
        got = [c.node.get_content() for c in reused.retrieve(q.user_input, q.user_groups)]
        want = [c.node.get_content() for c in memory.retrieve(q.user_input, q.user_groups)]
        assert got == want, q.question_id  # merged parents found by their stable ids


# --- incremental re-ingest through run() -------------------------------------------------------

DOCS = {
    f"doc{i}.txt": " ".join(
        f"Station {i} of the {name} line logs {i * 7 + j} barrels of {word} on day {j}."
        for j in range(12)
    )
    for i, (name, word) in enumerate(
        [
            ("amber", "resin"),
            ("cobalt", "salt"),
            ("ivory", "flax"),
            ("jade", "tea"),
            ("ochre", "clay"),
        ]
    )
}
QUESTIONS = [
    {
        "question_id": f"q{i}",
        "user_input": f"How many barrels of {w} on the {n} line?",
        "reference": "Some.",
        "gold_doc_ids": [f"doc{i}.txt"],
    }
    for i, (n, w) in enumerate(
        [
            ("amber", "resin"),
            ("cobalt", "salt"),
            ("ivory", "flax"),
            ("jade", "tea"),
            ("ochre", "clay"),
        ]
    )
]
CHUNKING = {"method": "sentence", "chunk_size": 64, "chunk_overlap": 8}


def _chunk_count(folder: Path, names: list[str]) -> int:
    """Distinct chunk texts of some files, split independently with the same splitter."""
    corpus = load_corpus(folder / "corpus")[0]
    docs = [d for d in corpus if d.id_ in names]
    assert len(docs) == len(names)
    nodes = SentenceSplitter(chunk_size=64, chunk_overlap=8).get_nodes_from_documents(docs)
    return len(
        {hashlib.sha256(n.get_content(MetadataMode.EMBED).encode()).hexdigest() for n in nodes}
    )


@pytest.mark.parametrize("vector_store", ["memory", "duckdb"])
def test_incremental_reingest_embeds_only_changed_and_added_files(
    tmp_path: Path, make_qa_folder: Any, vector_store: str
) -> None:
    folder = make_qa_folder(DOCS, QUESTIONS, name="corpus-set")
    db = tmp_path / "results" / "ragbench.duckdb"
    config = parse_config(
        {
            "name": "reingest",
            # doc3.txt is deleted before the second run: its question's gold id then names no
            # document, which is a warning here rather than the default error.
            "dataset": {"loader": "qa-folder", "path": str(folder), "unknown_gold_ids": "warn"},
            "base": FAKE_MODELS
            | {"chunking": CHUNKING, "retrieval": {"top_k": 5, "vector_store": vector_store}},
            "metrics": ["hit_rate", "mrr"],
        }
    )
    first = run(config, db=db, progress=False)
    assert first.stats.chunks_embedded == _chunk_count(folder, list(DOCS))

    corpus = folder / "corpus"
    (corpus / "doc1.txt").write_text(DOCS["doc1.txt"].replace("barrels", "casks"))  # changed
    (corpus / "doc5.txt").write_text("The umber line logs 99 crates of wax on day 1. " * 6)
    (corpus / "doc3.txt").unlink()  # deleted
    second = run(config, db=db, progress=False)

    assert second.stats.chunks_embedded == _chunk_count(folder, ["doc1.txt", "doc5.txt"])
    store = Store(db)
    retrieved = store.query(
        "SELECT retrieved_doc_ids FROM records WHERE run_id = ?", [second.run_id]
    )
    assert len(retrieved) == len(QUESTIONS)
    seen = {d for ids in retrieved.retrieved_doc_ids for d in ids}
    assert seen and "doc3.txt" not in seen
    if vector_store == "duckdb":  # the store sits beside the results db, one table per corpus
        assert (db.parent / "vectors.duckdb").is_file()
