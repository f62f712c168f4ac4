"""Build a RAG pipeline from a trial's config, out of LlamaIndex components.

Contract: ``Builder(dataset).build(pipeline_cfg) -> Pipeline``; ``Pipeline.retrieve(question)``
returns scored chunks, ``Pipeline.answer(question, chunks)`` returns an :class:`Answer` with the
response, the cited sources and the cost. Components come from plain name -> factory tables.

Only unique work is done: the builder keeps one embedding model per embedding config and one index
per (corpus, chunking, embedding), so trials that differ only in retrieval or generation share them.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter, TokenTextSplitter
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore

from ragbench import models
from ragbench.config import (
    ChunkingConfig,
    EmbeddingConfig,
    PipelineConfig,
    RetrievalConfig,
    params_hash,
)
from ragbench.data import Dataset
from ragbench.prompts import format_context, render_prompt

CHUNKERS: dict[str, Callable[[ChunkingConfig], Any]] = {
    "token": lambda c: TokenTextSplitter(chunk_size=c.chunk_size, chunk_overlap=c.chunk_overlap),
    "sentence": lambda c: SentenceSplitter(chunk_size=c.chunk_size, chunk_overlap=c.chunk_overlap),
}


def _dense(index: VectorStoreIndex, nodes: list[BaseNode], cfg: RetrievalConfig) -> BaseRetriever:
    return index.as_retriever(similarity_top_k=cfg.top_k)


def _bm25(index: VectorStoreIndex, nodes: list[BaseNode], cfg: RetrievalConfig) -> BaseRetriever:
    from llama_index.retrievers.bm25 import BM25Retriever

    return BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(cfg.top_k, len(nodes)))


def _hybrid(index: VectorStoreIndex, nodes: list[BaseNode], cfg: RetrievalConfig) -> BaseRetriever:
    # Each side fetches top_k; fusion re-scores by normalised score, weighted, and keeps top_k.
    return QueryFusionRetriever(
        [_dense(index, nodes, cfg), _bm25(index, nodes, cfg)],
        retriever_weights=list(cfg.hybrid_weights),
        mode="relative_score",
        similarity_top_k=cfg.top_k,
        num_queries=1,  # no LLM query rewriting: that is a separate, explicit transform
        use_async=False,
    )


RETRIEVERS: dict[
    str, Callable[[VectorStoreIndex, list[BaseNode], RetrievalConfig], BaseRetriever]
] = {
    "dense": _dense,
    "bm25": _bm25,
    "hybrid": _hybrid,
}

_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Answer:
    response: str
    cited_doc_ids: list[str]
    seconds: float
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class Pipeline:
    """One trial's RAG set-up: a retriever over a shared index plus a generator LLM and prompt."""

    retriever: BaseRetriever
    llm: Any
    prompt: str

    def retrieve(self, question: str) -> list[NodeWithScore]:
        return self.retriever.retrieve(question)

    def prompt_for(self, question: str, contexts: list[str], doc_ids: list[str]) -> str:
        return render_prompt(
            self.prompt, context=format_context(contexts, doc_ids), question=question
        )

    def answer(self, prompt: str, doc_ids: list[str]) -> Answer:
        """Generate a cited answer; ``[n]`` in the text maps to the n-th retrieved chunk's doc_id."""
        text, usage, seconds = models.complete(self.llm, prompt)
        return Answer(text.strip(), cited_doc_ids(text, doc_ids), seconds, usage)


def cited_doc_ids(text: str, doc_ids: list[str]) -> list[str]:
    """doc_ids of the sources an answer cites, in first-cited order; out-of-range numbers ignored."""
    cited: list[str] = []
    for match in _CITATION.finditer(text):
        n = int(match.group(1))
        if 1 <= n <= len(doc_ids) and doc_ids[n - 1] not in cited:
            cited.append(doc_ids[n - 1])
    return cited


def doc_id_of(chunk: NodeWithScore | BaseNode) -> str:
    node = chunk.node if isinstance(chunk, NodeWithScore) else chunk
    return node.metadata.get("doc_id") or node.ref_doc_id or node.node_id


class Builder:
    """Builds pipelines for one dataset, sharing models and indexes between trials."""

    def __init__(self, dataset: Dataset, cache: Any | None = None) -> None:
        """
        Args:
            dataset: the corpus every pipeline indexes.
            cache: an embedding cache with ``embeddings_get(model_id, hashes)`` and
                ``embeddings_put(model_id, {hash: vector})`` (the DuckDB Store), so each distinct
                chunk text is embedded once per model, across trials, runs and chunk sizes.
        """
        self.dataset = dataset
        self.cache = cache
        self._embeddings: dict[str, Any] = {}
        self._indexes: dict[str, tuple[VectorStoreIndex, list[BaseNode]]] = {}
        self._llms: dict[str, Any] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self.stats = {"chunks_embedded": 0, "chunks_from_cache": 0, "indexes_built": 0,
                      "embed_seconds": 0.0}

    def embedding(self, cfg: EmbeddingConfig) -> Any:
        key = params_hash(cfg.model_dump())
        if key not in self._embeddings:
            self._embeddings[key] = models.make_embedding(cfg)
        return self._embeddings[key]

    def llm(self, cfg: models.LLMConfig) -> Any:
        key = params_hash(cfg.model_dump())
        if key not in self._llms:
            self._llms[key] = models.make_llm(cfg)
        return self._llms[key]

    def index(self, cfg: PipelineConfig) -> tuple[VectorStoreIndex, list[BaseNode]]:
        """The index for (corpus, chunking, embedding), built on first use."""
        key = params_hash(
            {
                "corpus": self.dataset.corpus_hash,
                "chunking": cfg.chunking.model_dump(),
                "embedding": models.embedding_id(cfg.embedding),
            }
        )
        if key not in self._indexes:
            embed = self.embedding(cfg.embedding)
            # LlamaIndex falls back to OpenAI for anything left unset; pin both explicitly.
            Settings.embed_model = embed
            Settings.llm = self.llm(cfg.generation.llm)
            nodes = CHUNKERS[cfg.chunking.method](cfg.chunking).get_nodes_from_documents(
                self.dataset.corpus
            )
            self._embed_nodes(nodes, embed, models.embedding_id(cfg.embedding))
            # Nodes arrive with embeddings, so the index only stores them.
            index = VectorStoreIndex(nodes, embed_model=embed, show_progress=False)
            self.stats["indexes_built"] += 1
            self._indexes[key] = (index, nodes)
        return self._indexes[key]

    def _embed_nodes(self, nodes: list[BaseNode], embed: Any, model_id: str) -> None:
        """Set ``node.embedding`` on every node, embedding only texts the cache has not seen."""
        texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        known = self.cache.embeddings_get(model_id, set(hashes)) if self.cache else {}
        todo = {h: t for h, t in zip(hashes, texts, strict=True) if h not in known}
        if todo:
            start = time.perf_counter()
            vectors = embed.get_text_embedding_batch(list(todo.values()))
            self.stats["embed_seconds"] += time.perf_counter() - start
            fresh = dict(zip(todo, vectors, strict=True))
            if self.cache:
                self.cache.embeddings_put(model_id, fresh)
            known = {**known, **fresh}
        self.stats["chunks_embedded"] += len(todo)
        self.stats["chunks_from_cache"] += len(nodes) - len(todo)
        for node, h in zip(nodes, hashes, strict=True):
            node.embedding = list(known[h])

    def build(self, cfg: PipelineConfig) -> Pipeline:
        """The pipeline for a trial's config (built once, then reused)."""
        key = params_hash(cfg.model_dump())
        if key not in self._pipelines:
            index, nodes = self.index(cfg)
            retriever = RETRIEVERS[cfg.retrieval.method](index, nodes, cfg.retrieval)
            self._pipelines[key] = Pipeline(
                retriever=retriever, llm=self.llm(cfg.generation.llm), prompt=cfg.generation.prompt
            )
        return self._pipelines[key]
