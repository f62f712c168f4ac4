"""Chunkers and retrievers built from config, with the test doubles only: on the demo corpus, and
on a tiny corpus where every retrieval rule and query transform ranks differently, each checked
against its formula (so no method can silently stand in for another)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from conftest import FAKE_MODELS
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.schema import MetadataMode, NodeRelationship

from ragbench.config.experiment import (
    CHUNKERS,
    FUSION_MODES,
    QUERY_TRANSFORMS,
    RETRIEVERS,
    ConfigError,
    DatasetConfig,
    PipelineConfig,
    parse_config,
)
from ragbench.data.datasets import Dataset, Question, load_dataset, make_document
from ragbench.models import HashingEmbedding
from ragbench.pipeline.rag import Builder, Pipeline, doc_id_of

QUESTION = "When was the Harbourlight network founded and who was the first director?"


def config(**sections: dict[str, Any]) -> PipelineConfig:
    """A pipeline config with the hashing embedder and the fake LLM, plus the given sections."""
    return PipelineConfig.model_validate(FAKE_MODELS | sections)


class RerankLLM(CustomLLM):
    """Answers every prompt in LLMRerank's "Doc: n, Relevance: m" format, with a fixed choice."""

    answer: str = "Doc: 3, Relevance: 9\nDoc: 1, Relevance: 4"
    prompts: list[str] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="rerank-llm", is_chat_model=False)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.answer)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return load_dataset(DatasetConfig())


@pytest.fixture(scope="module")
def builder(demo: Dataset) -> Builder:
    """One builder for the module, so trials that share chunking share the index."""
    return Builder(demo)


def check_chunks(pipeline: Pipeline, demo: Dataset, top_k: int) -> list[Any]:
    chunks = pipeline.retrieve(QUESTION)
    ids = {d.id_ for d in demo.corpus}
    assert 0 < len(chunks) <= top_k
    for chunk in chunks:
        assert chunk.node.metadata["doc_id"] in ids
        assert doc_id_of(chunk) == chunk.node.metadata["doc_id"]
        assert chunk.node.get_content().strip()
    return chunks


@pytest.mark.parametrize("method", CHUNKERS)
def test_every_chunker_builds_and_retrieves(builder: Builder, demo: Dataset, method: str) -> None:
    cfg = config(chunking={"method": method, "chunk_size": 128}, retrieval={"top_k": 4})
    chunks = check_chunks(builder.build(cfg), demo, 4)
    assert "about/history.md" in [doc_id_of(c) for c in chunks]


@pytest.mark.parametrize("method", RETRIEVERS)
@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_every_retriever_builds_and_retrieves(
    builder: Builder, demo: Dataset, method: str, fusion: str
) -> None:
    cfg = config(retrieval={"method": method, "top_k": 5, "fusion": fusion})
    chunks = check_chunks(builder.build(cfg), demo, 5)
    assert len(chunks) == 5  # 15 documents: plenty to fill top_k


# --- each retriever ranks by its own rule ---------------------------------------------------------
# A tiny corpus on which the rules disagree, so a method wired to another one fails: dense (cosine
# of hashing vectors) favours the two near-identical ferry documents, which repeat the query's
# common word; BM25 favours the one document with the query's rare exact term; MMR demotes the
# near-duplicate that dense keeps second; hybrid fuses dense and BM25 by its fusion's formula.

RANKING_DOCS = {
    "ferry.txt": "The ferry leaves the ferry pier; ferry tickets are sold on the ferry.",
    "ferry-copy.txt": "The ferry leaves the ferry pier; ferry tickets are sold on the ferry deck.",
    "zephyr.txt": "Zephyrine is the name of the old keeper's boat, moored in the bay by the light.",
    "market.txt": "The market sells fish from the ferry.",
    "library.txt": "The library lends books, maps and records to members of the cooperative.",
    "school.txt": "The sailing school teaches children to steer a dinghy near the ferry.",
}
RANKING_QUERY = "Zephyrine ferry"
RANKING_K = 3
# BM25's top 3 by design: the only document with the rare term first, then the two sharing the
# common one (the copy is one word longer, so a little lower).
BM25_ORDER = ["zephyr.txt", "ferry.txt", "ferry-copy.txt"]
Ranking = list[tuple[str, float]]


def ranking_builder() -> Builder:
    docs = [make_document(doc_id, text) for doc_id, text in RANKING_DOCS.items()]
    return Builder(Dataset("ranking", docs, [Question("q", RANKING_QUERY, "")]))


@pytest.fixture(scope="module")
def ranking() -> Builder:
    return ranking_builder()


def ranked(builder: Builder, **retrieval: Any) -> Ranking:
    """(doc_id, score) of the top RANKING_K for RANKING_QUERY, one chunk per document."""
    cfg = config(chunking={"chunk_size": 512}, retrieval={"top_k": RANKING_K, **retrieval})
    pipeline = builder.build(cfg)
    assert len(pipeline.nodes) == len(RANKING_DOCS)
    return [(doc_id_of(c), c.score or 0.0) for c in pipeline.retrieve(RANKING_QUERY)]


def embedded(text: str) -> np.ndarray:
    return np.array(HashingEmbedding().get_text_embedding(text))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def by_cosine(query: np.ndarray) -> Ranking:
    scores = {doc_id: cosine(query, embedded(text)) for doc_id, text in RANKING_DOCS.items()}
    return sorted(scores.items(), key=lambda item: -item[1])[:RANKING_K]


def mmr(query: np.ndarray, threshold: float) -> Ranking:
    """LlamaIndex's MMR (``get_top_k_mmr_embeddings``): the first pick scores threshold x its
    relevance; each next one threshold x relevance - (1 - threshold) x its cosine to the latest
    pick (LlamaIndex penalises the similarity to the latest pick, not to every pick)."""
    vectors = {doc_id: embedded(text) for doc_id, text in RANKING_DOCS.items()}
    relevance = {doc_id: cosine(query, v) for doc_id, v in vectors.items()}
    first = max(relevance, key=lambda d: relevance[d])
    picks = [(first, threshold * relevance[first])]
    while len(picks) < RANKING_K:
        latest = vectors[picks[-1][0]]
        left = {
            d: threshold * relevance[d] - (1 - threshold) * cosine(v, latest)
            for d, v in vectors.items()
            if d not in {p for p, _ in picks}
        }
        best = max(left, key=lambda d: left[d])
        picks.append((best, left[best]))
    return picks


def fuse(rankings: list[Ranking], scales: list[float], fusion: str) -> Ranking:
    """QueryFusionRetriever's rules over several rankings. relative_score: each ranking's scores
    min-max scaled, times its scale (the normalised retriever weight / the number of queries),
    summed per document; reciprocal_rank: 1 / (60 + rank) summed per document (no weights)."""
    fused: dict[str, float] = {}
    for ranking, scale in zip(rankings, scales, strict=True):
        low, high = min(s for _, s in ranking), max(s for _, s in ranking)
        assert high > low  # the corpus avoids the all-equal special case
        for rank, (doc_id, score) in enumerate(ranking):
            if fusion == "reciprocal_rank":
                part = 1 / (60 + rank)
            else:
                part = scale * (score - low) / (high - low)
            fused[doc_id] = fused.get(doc_id, 0.0) + part
    return sorted(fused.items(), key=lambda item: -item[1])[:RANKING_K]


def expected_ranking(
    builder: Builder, method: str, fusion: str, weights: tuple[float, float]
) -> Ranking:
    query = embedded(RANKING_QUERY)
    if method == "hybrid":  # each side fetches top_k; fusion re-scores the union
        bm25 = ranked(builder, method="bm25")
        scales = [w / sum(weights) for w in weights]
        return fuse([by_cosine(query), bm25], scales, fusion)
    return {"dense": lambda: by_cosine(query), "mmr": lambda: mmr(query, 0.5)}[method]()


def test_bm25_ranks_the_rare_exact_term_first(ranking: Builder) -> None:
    got = ranked(ranking, method="bm25")
    assert [d for d, _ in got] == BM25_ORDER
    assert got[0][1] > got[1][1] > got[2][1] > 0
    assert "zephyr.txt" not in [d for d, _ in by_cosine(embedded(RANKING_QUERY))]  # dense differs


RANKING_CASES = [(m, f, (0.5, 0.5)) for m in RETRIEVERS if m != "bm25" for f in FUSION_MODES]
RANKING_CASES += [("hybrid", "relative_score", (0.2, 0.8))]  # the weights reach the fusion


@pytest.mark.parametrize(
    ("method", "fusion", "weights"),
    RANKING_CASES,
    ids=[f"{m}-{f}-{w}" for m, f, w in RANKING_CASES],
)
def test_each_retriever_ranks_by_its_own_rule(
    ranking: Builder, method: str, fusion: str, weights: tuple[float, float]
) -> None:
    want = expected_ranking(ranking, method, fusion, weights)
    got = ranked(ranking, method=method, fusion=fusion, hybrid_weights=list(weights))
    assert [d for d, _ in got] == [d for d, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)


def test_the_ranking_corpus_tells_every_rule_apart(ranking: Builder) -> None:
    """Every rule expects a different ranking here, so no rule can stand in for another."""
    outcomes = {
        (m, f if m == "hybrid" else "", w): expected_ranking(ranking, m, f, w)
        for m, f, w in RANKING_CASES  # fusion only changes hybrid
    }
    outcomes["bm25", "", (0.5, 0.5)] = ranked(ranking, method="bm25")
    assert len(outcomes) == 6
    rounded = {tuple((d, round(s, 6)) for d, s in r) for r in outcomes.values()}
    assert len(rounded) == len(outcomes)
    dense = [d for d, _ in by_cosine(embedded(RANKING_QUERY))]
    picked = [d for d, _ in mmr(embedded(RANKING_QUERY), 0.5)]
    assert dense.index("ferry-copy.txt") < picked.index("ferry-copy.txt")  # MMR demotes the copy


REWRITE = "the keeper's boat Zephyrine and a ferry"  # the scripted LLM's answer to any prompt


@pytest.mark.parametrize("transform", QUERY_TRANSFORMS)
def test_query_transforms_rank_by_their_rewritten_queries(
    transform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = ranking_builder()  # its own: a cached pipeline would hold another LLM
    llm = RerankLLM(prompts=[], answer=REWRITE)
    monkeypatch.setattr(builder.models, "llm", lambda cfg: llm)
    got = ranked(builder, method="dense", query_transform=transform)
    query, rewrite = embedded(RANKING_QUERY), embedded(REWRITE)
    queries = PipelineConfig().retrieval.num_queries  # relative_score divides by it
    want = {
        "none": lambda: by_cosine(query),
        # HyDE: the written passage's vector averaged with the question's
        "hyde": lambda: by_cosine(np.mean([rewrite, query], axis=0)),
        # multi_query: the question and the one rewrite the LLM wrote, fused
        "multi_query": lambda: fuse(
            [by_cosine(query), by_cosine(rewrite)], [1 / queries] * 2, "relative_score"
        ),
    }[transform]()
    assert [d for d, _ in got] == [d for d, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)
    assert len(llm.prompts) == (transform != "none")


@pytest.mark.parametrize("transform", QUERY_TRANSFORMS)
def test_query_transforms_use_the_pipeline_llm(
    builder: Builder, demo: Dataset, transform: str
) -> None:
    cfg = config(retrieval={"method": "hybrid", "top_k": 3, "query_transform": transform})
    pipeline = builder.build(cfg)
    calls = pipeline.llm.calls
    check_chunks(pipeline, demo, 3)
    assert (pipeline.llm.calls > calls) == (transform != "none")


def test_sentence_window_contexts_are_the_windows(builder: Builder, demo: Dataset) -> None:
    cfg = config(chunking={"method": "sentence_window", "window_size": 2}, retrieval={"top_k": 4})
    pipeline = builder.build(cfg)
    chunks = check_chunks(pipeline, demo, 4)
    for chunk in chunks:
        sentence = chunk.node.metadata["original_text"]
        assert chunk.node.get_content() == chunk.node.metadata["window"]
        assert sentence.strip() in chunk.node.get_content()
    assert any(len(c.node.get_content()) > len(c.node.metadata["original_text"]) for c in chunks)
    # The replacement works on copies: the shared, indexed nodes are still single sentences.
    assert all(n.get_content() == n.metadata["original_text"] for n in pipeline.nodes)
    # The window is not embedded: the index holds sentences.
    assert all("window" not in n.get_content(MetadataMode.EMBED) for n in pipeline.nodes[:20])


def test_hierarchical_indexes_leaves_and_merges_parents(builder: Builder, demo: Dataset) -> None:
    cfg = config(
        chunking={"method": "hierarchical", "chunk_size": 32, "chunk_overlap": 0},
        retrieval={"method": "bm25", "top_k": 40},
    )
    pipeline = builder.build(cfg)
    assert all(NodeRelationship.CHILD not in n.relationships for n in pipeline.nodes)
    assert all(NodeRelationship.PARENT in n.relationships for n in pipeline.nodes)
    history = next(d for d in demo.corpus if d.id_ == "about/history.md").text
    chunks = pipeline.retrieve(history[:1500])  # most leaves of the first parents match
    merged = [c for c in chunks if NodeRelationship.CHILD in c.node.relationships]
    assert merged, "no parent replaced its retrieved children"
    assert all(doc_id_of(c) == c.node.metadata["doc_id"] for c in merged)
    assert len(chunks) <= 40
    leaf_size = max(len(n.get_content()) for n in pipeline.nodes)
    assert max(len(c.node.get_content()) for c in merged) > leaf_size


def test_markdown_chunker_keeps_headers_for_md_only(builder: Builder) -> None:
    cfg = config(chunking={"method": "markdown", "chunk_size": 128})
    pipeline = builder.build(cfg)
    md = [n for n in pipeline.nodes if n.metadata["file_type"] == "md"]
    other = [n for n in pipeline.nodes if n.metadata["file_type"] != "md"]
    assert md and other
    assert all("header_path" in n.metadata for n in md)
    assert not any("header_path" in n.metadata for n in other)  # sentence fallback
    paths = {n.metadata["header_path"] for n in md if n.metadata["doc_id"] == "about/history.md"}
    assert "/A Short History of the Harbourlight Cooperative Library Network/" in paths
    sections = [n.get_content() for n in md if n.metadata["doc_id"] == "about/history.md"]
    assert any(s.startswith("## Founding in 1987") for s in sections)


def test_html_chunker_splits_on_tags(builder: Builder, demo: Dataset) -> None:
    cfg = config(chunking={"method": "html", "chunk_size": 128})
    pipeline = builder.build(cfg)
    html = [n for n in pipeline.nodes if n.metadata["file_type"] == "html"]
    assert html and all("tag" in n.metadata for n in html)
    assert {"h2", "p", "tr"} <= {n.metadata["tag"] for n in html}  # tables are kept
    assert all("tag:" not in n.get_content(MetadataMode.EMBED) for n in html)
    assert not any("tag" in n.metadata for n in pipeline.nodes if n.metadata["file_type"] != "html")
    # Every HTML document is chunked (none dropped), and tags never reach the chunk text.
    html_docs = {d.id_ for d in demo.corpus if d.metadata["file_type"] == "html"}
    assert {n.metadata["doc_id"] for n in html} == html_docs
    assert not any("<td" in n.get_content() for n in html)


def test_semantic_chunker_uses_the_threshold(builder: Builder, demo: Dataset) -> None:
    coarse = builder.build(config(chunking={"method": "semantic"}))
    fine = builder.build(
        config(chunking={"method": "semantic", "breakpoint_percentile_threshold": 50})
    )
    assert len(fine.nodes) > len(coarse.nodes)
    check_chunks(fine, demo, 3)


def test_llm_rerank_reorders_candidates(
    builder: Builder, demo: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = builder.build(config(retrieval={"method": "dense", "top_k": 6}))
    order = [c.node.node_id for c in plain.retrieve(QUESTION)]
    llm = RerankLLM(prompts=[])
    monkeypatch.setattr(builder.models, "llm", lambda cfg: llm)
    cfg = config(retrieval={"method": "dense", "top_k": 2, "rerank": "llm", "rerank_candidates": 6})
    reranked = builder.build(cfg).retrieve(QUESTION)
    assert [c.node.node_id for c in reranked] == [order[2], order[0]]
    assert [c.score for c in reranked] == [9.0, 4.0]
    assert len(llm.prompts) == 1  # 6 candidates, one batch of up to 10


def test_llm_rerank_batches_and_fills_top_k(
    builder: Builder, demo: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = RerankLLM(prompts=[], answer="no usable ranking")
    monkeypatch.setattr(builder.models, "llm", lambda cfg: llm)
    cfg = config(retrieval={"top_k": 3, "rerank": "llm", "rerank_batch_size": 4})
    chunks = check_chunks(builder.build(cfg), demo, 3)
    assert len(chunks) == 3  # an unparseable ranking falls back to the retrieval order
    assert len(llm.prompts) == 3  # 9 candidates (3 * top_k) in batches of 4


def test_rerank_with_the_fake_llm_still_answers(builder: Builder, demo: Dataset) -> None:
    cfg = config(retrieval={"method": "hybrid", "top_k": 3, "rerank": "llm"})
    assert len(check_chunks(builder.build(cfg), demo, 3)) == 3


def experiment(**base: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "base": base, "metrics": ["hit_rate"]}


@pytest.mark.parametrize(
    ("section", "key", "value", "suggestion"),
    [
        ("chunking", "method", "hierarchial", "hierarchical"),
        ("chunking", "method", "sentence-window", "sentence_window"),
        ("retrieval", "method", "mmrr", "mmr"),
        ("retrieval", "fusion", "reciprocal_rerank", "reciprocal_rank"),
        ("retrieval", "rerank", "cross_encoder", "cross-encoder"),
        ("retrieval", "query_transform", "multiquery", "multi_query"),
        ("retrieval", "query_transform", "hide", "hyde"),
    ],
)
def test_unknown_component_names_suggest(
    section: str, key: str, value: str, suggestion: str
) -> None:
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'"):
        parse_config(experiment(**{section: {key: value}}))


def test_component_parameters_are_validated(tmp_path: Any) -> None:
    bad = [
        ({"retrieval": {"rerank": "cross-encoder"}}, "needs 'rerank_model'"),
        (
            {"retrieval": {"rerank": "cross-encoder", "rerank_model": str(tmp_path / "nope")}},
            "rerank_model folder not found",
        ),
        ({"retrieval": {"top_k": 5, "rerank_candidates": 4}}, "at least top_k"),
        ({"retrieval": {"mmr_threshold": 1.5}}, "mmr_threshold"),
        ({"retrieval": {"num_queries": 1}}, "num_queries"),
        ({"retrieval": {"hybrid_weights": [0, 0]}}, "not all 0"),
        ({"chunking": {"window_size": 0}}, "window_size"),
        ({"chunking": {"breakpoint_percentile_threshold": 101}}, "breakpoint_percentile"),
        ({"retrieval": {"rerank_modle": "x"}}, "did you mean 'rerank_model'"),
    ]
    for base, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_config(experiment(**copy.deepcopy(base)))
    ok = parse_config(
        experiment(retrieval={"rerank": "cross-encoder", "rerank_model": str(tmp_path)})
    )
    assert ok.base.retrieval.candidates == 3 * ok.base.retrieval.top_k


def test_cross_encoder_rerank_gets_the_local_folder(
    builder: Builder, demo: Dataset, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cross-encoder is SentenceTransformerRerank on the user's folder (faked: no weights)."""
    import llama_index.core.postprocessor as postprocessor
    from llama_index.core.postprocessor.types import BaseNodePostprocessor

    made: dict[str, Any] = {}

    class Reverse(BaseNodePostprocessor):
        top_n: int = 2

        def __init__(self, model: str, top_n: int, device: str) -> None:
            super().__init__(top_n=top_n)
            made.update(model=model, top_n=top_n, device=device)

        def _postprocess_nodes(self, nodes: list[Any], query_bundle: Any = None) -> list[Any]:
            return list(reversed(nodes))[: self.top_n]

    monkeypatch.setattr(postprocessor, "SentenceTransformerRerank", Reverse)
    plain = [
        c.node.node_id for c in builder.build(config(retrieval={"top_k": 6})).retrieve(QUESTION)
    ]
    cfg = config(retrieval={"top_k": 2, "rerank": "cross-encoder", "rerank_model": str(tmp_path)})
    chunks = check_chunks(builder.build(cfg), demo, 2)
    assert made == {"model": str(tmp_path), "top_n": 2, "device": "cpu"}
    assert [c.node.node_id for c in chunks] == [plain[5], plain[4]]


def test_citations_name_passages_and_their_documents() -> None:
    from ragbench.pipeline.prompts import cited_passages
    from ragbench.pipeline.rag import cited_doc_ids

    answer = "Opens at 9 [2]. Closes at 5 [3][2]. Not [0], not [9], not [x]."
    assert cited_passages(answer, 3) == [2, 3]
    assert cited_passages(answer, 2) == [2]  # [3] is out of range with two passages
    assert cited_passages(None, 3) == [] and cited_passages("no citation", 3) == []
    # passages 2 and 3 come from one document: it is cited once
    assert cited_doc_ids(answer, ["a.md", "b.md", "b.md"]) == ["b.md"]
