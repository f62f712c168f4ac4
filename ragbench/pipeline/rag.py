"""The query pipeline: access-controlled retrieval, rerank, query transforms, prompt and answer.

Contract: ``Builder(dataset, cache, stats, models).build(pipeline_cfg) -> Pipeline``: indexes come
from its :class:`ragbench.pipeline.index.Indexer`, models from ``models`` (the run's
:class:`~ragbench.models.cache.ModelCache`), and every component that takes an LLM or an
embedding gets it explicitly (never LlamaIndex's global ``Settings``); ``Pipeline.retrieve(question,
user_groups=None)`` returns at most top_k scored chunks (each with a ``doc_id`` in its metadata),
never one from a document whose ``allowed_groups`` the user lacks; ``Pipeline.answer(prompt,
doc_ids)`` returns an :class:`Answer` with the response, the cited sources and the cost.
Components come from plain name -> factory tables (retrievers, fusion modes, query transforms,
rerankers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.indices.query.query_transform import HyDEQueryTransform
from llama_index.core.postprocessor import LLMRerank, MetadataReplacementPostProcessor
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import (
    AutoMergingRetriever,
    BaseRetriever,
    QueryFusionRetriever,
    TransformRetriever,
    VectorIndexRetriever,
)
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES as LIFusion
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.storage.docstore import SimpleDocumentStore

from ragbench import models
from ragbench.config.experiment import PipelineConfig, RetrievalConfig, params_hash
from ragbench.models.cache import ModelCache
from ragbench.pipeline.access import AccessControl, doc_id_of  # noqa: F401 - doc_id_of is imported from here
from ragbench.pipeline.index import Indexer
from ragbench.pipeline.prompts import cited_passages, format_context, render_prompt
from ragbench.records import RunStats

# --- retrievers: name -> factory(view, retrieval config, k, llm) -> retriever --------------------------


@dataclass
class View:
    """What one retriever may search: the shared index and the nodes one scope may see."""

    index: VectorStoreIndex
    nodes: list[BaseNode]
    restricted: bool  # False: every indexed node is visible, so dense search needs no id list


def _vector(view: View, k: int, **kwargs: Any) -> BaseRetriever:
    if not view.restricted:
        return view.index.as_retriever(similarity_top_k=k, **kwargs)
    # Search only the visible nodes' vectors, so top_k is filled from what the user may see.
    ids = [n.node_id for n in view.nodes]
    return VectorIndexRetriever(view.index, similarity_top_k=k, node_ids=ids, **kwargs)


def _dense(view: View, cfg: RetrievalConfig, k: int, llm: Any) -> BaseRetriever:
    return _vector(view, k)


def _mmr(view: View, cfg: RetrievalConfig, k: int, llm: Any) -> BaseRetriever:
    return _vector(
        view,
        k,
        vector_store_query_mode="mmr",
        vector_store_kwargs={"mmr_threshold": cfg.mmr_threshold},
    )


def _bm25(view: View, cfg: RetrievalConfig, k: int, llm: Any) -> BaseRetriever:
    from llama_index.retrievers.bm25 import BM25Retriever

    # Built over the visible nodes only: hidden documents neither take top_k slots nor shift IDF.
    return BM25Retriever.from_defaults(nodes=view.nodes, similarity_top_k=min(k, len(view.nodes)))


FUSION = {
    "relative_score": LIFusion.RELATIVE_SCORE,
    "reciprocal_rank": LIFusion.RECIPROCAL_RANK,
}


def _fuse(
    retrievers: list[BaseRetriever],
    cfg: RetrievalConfig,
    k: int,
    llm: Any,
    num_queries: int = 1,
    weights: list[float] | None = None,
) -> BaseRetriever:
    return QueryFusionRetriever(
        retrievers,
        llm=llm,  # explicit: an unset Settings.llm would resolve to OpenAI
        mode=FUSION[cfg.fusion],
        retriever_weights=weights,
        similarity_top_k=k,
        num_queries=num_queries,
        use_async=False,  # one CPU-bound process; async adds threads, not speed
    )


def _hybrid(view: View, cfg: RetrievalConfig, k: int, llm: Any) -> BaseRetriever:
    # Each side fetches k; fusion re-scores (weighted by hybrid_weights for relative_score).
    return _fuse(
        [_dense(view, cfg, k, llm), _bm25(view, cfg, k, llm)],
        cfg,
        k,
        llm,
        weights=list(cfg.hybrid_weights),
    )


# name -> factory(view, retrieval config, k, llm); the LLM is unused by these but keeps one shape.
RETRIEVERS: dict[str, Callable[[View, RetrievalConfig, int, Any], BaseRetriever]] = {
    "dense": _dense,
    "bm25": _bm25,
    "hybrid": _hybrid,
    "mmr": _mmr,
}

# Query transforms wrap a retriever and need the trial's LLM: name -> (retriever, cfg, k, llm).
QUERY_TRANSFORMS: dict[str, Callable[[BaseRetriever, RetrievalConfig, int, Any], BaseRetriever]] = {
    "none": lambda r, cfg, k, llm: r,
    "hyde": lambda r, cfg, k, llm: TransformRetriever(
        r, HyDEQueryTransform(llm=llm, include_original=True)
    ),
    "multi_query": lambda r, cfg, k, llm: _fuse([r], cfg, k, llm, num_queries=cfg.num_queries),
}


def _cross_encoder(cfg: RetrievalConfig, llm: Any) -> BaseNodePostprocessor:
    from llama_index.core.postprocessor import SentenceTransformerRerank

    # The config requires rerank_model (an existing folder) for this reranker.
    model = str(cfg.rerank_model)
    return SentenceTransformerRerank(model=model, top_n=cfg.top_k, device="cpu")


RERANKERS: dict[str, Callable[[RetrievalConfig, Any], BaseNodePostprocessor | None]] = {
    "none": lambda cfg, llm: None,
    "llm": lambda cfg, llm: LLMRerank(
        llm=llm, choice_batch_size=cfg.rerank_batch_size, top_n=cfg.top_k
    ),
    "cross-encoder": _cross_encoder,
}


class _Nothing(BaseRetriever):
    """The retriever for a user who may see no chunk at all."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return []


class RagRetriever(BaseRetriever):
    """Composite retrieval as one call: candidates -> sentence windows -> rerank -> top_k.

    Windows replace sentences before reranking (as in LlamaIndex's sentence-window recipe), so the
    reranker judges exactly the text the generator and the judge will see. Nodes are copied first:
    the replacement edits node text and must not touch nodes shared with other trials. A reranker
    that drops candidates (LLMRerank keeps only the ones the LLM lists) is topped up with the rest
    in retrieval order, so a terse or unparseable LLM answer degrades to the plain ranking.
    """

    def __init__(
        self,
        base: BaseRetriever,
        top_k: int,
        window_key: str | None = None,
        reranker: BaseNodePostprocessor | None = None,
    ) -> None:
        self._base = base
        self._top_k = top_k
        self._window = MetadataReplacementPostProcessor(window_key) if window_key else None
        self._reranker = reranker
        super().__init__()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = [
            NodeWithScore(node=n.node.model_copy(deep=True), score=n.score)
            for n in self._base.retrieve(query_bundle)
        ]
        if self._window is not None:
            found = self._window.postprocess_nodes(found, query_bundle=query_bundle)
        if self._reranker is not None and found:
            ranked = self._reranker.postprocess_nodes(found, query_bundle=query_bundle)
            chosen = {n.node.node_id for n in ranked}
            found = ranked + [n for n in found if n.node.node_id not in chosen]
        return found[: self._top_k]


def make_retriever(
    cfg: PipelineConfig,
    view: View,
    llm: Any,
    docstore: SimpleDocumentStore | None = None,
    reranker: BaseNodePostprocessor | None = None,
) -> BaseRetriever:
    """The trial's composite retriever over one view (the chunks one scope may see)."""
    r = cfg.retrieval
    if not view.nodes:
        return _Nothing()
    k = r.candidates
    base = RETRIEVERS[r.method](view, r, k, llm)
    base = QUERY_TRANSFORMS[r.query_transform](base, r, k, llm)
    if docstore is not None:  # hierarchical chunks: leaves were searched, merge into parents
        # Typed for a VectorIndexRetriever, but it only calls retrieve(): any retriever works.
        storage = StorageContext.from_defaults(docstore=docstore)
        base = AutoMergingRetriever(base, storage)  # type: ignore[arg-type]
    window = "window" if cfg.chunking.method == "sentence_window" else None
    return RagRetriever(base, r.top_k, window_key=window, reranker=reranker)


@dataclass
class Answer:
    response: str
    cited_doc_ids: list[str]
    seconds: float
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class Pipeline:
    """One trial's RAG set-up: retrieval over a shared index plus a generator LLM and prompt.

    Retrieval is access-controlled. ``retrieve(question, user_groups)`` searches only the chunks
    the user may see (one composite retriever per distinct scope, built on first use, so top_k is
    filled from permitted chunks) and then filters the result again, last: whatever the retriever,
    fusion, reranker or query transform, no chunk of a document the user may not see comes back.
    """

    make_retriever: Callable[[View], BaseRetriever]
    index: VectorStoreIndex
    nodes: list[BaseNode]
    access: AccessControl
    llm: Any
    prompt: str
    top_k: int
    _retrievers: dict[frozenset[str], BaseRetriever] = field(default_factory=dict, repr=False)

    def retriever(self, user_groups: Iterable[str] | None = None) -> BaseRetriever:
        """The composite retriever over the chunks these groups may see."""
        scope = self.access.scope(user_groups)
        if scope not in self._retrievers:
            visible = self.access.visible(self.nodes, scope)
            self._retrievers[scope] = self.make_retriever(
                View(self.index, visible, restricted=self.access.restricted)
            )
        return self._retrievers[scope]

    def retrieve(
        self, question: str, user_groups: Iterable[str] | None = None
    ) -> list[NodeWithScore]:
        """At most top_k chunks for a user; ``None`` groups see public documents only."""
        scope = self.access.scope(user_groups)
        chunks = self.retriever(user_groups).retrieve(question)
        return [c for c in chunks if self.access.permits(c.node, scope)][: self.top_k]

    def prompt_for(self, question: str, contexts: list[str], doc_ids: list[str]) -> str:
        return answer_prompt(self.prompt, question, contexts, doc_ids)

    def answer(self, prompt: str, doc_ids: list[str]) -> Answer:
        """Generate a cited answer; ``[n]`` in the text maps to the n-th retrieved chunk's doc_id."""
        return generate(self.llm, prompt, doc_ids)


def answer_prompt(template: str, question: str, contexts: list[str], doc_ids: list[str]) -> str:
    """The generator's prompt for one question and its retrieved passages (numbered sources)."""
    return render_prompt(template, context=format_context(contexts, doc_ids), question=question)


def generate(llm: Any, prompt: str, doc_ids: list[str]) -> Answer:
    """A cited answer from ``llm``; ``[n]`` in the text maps to the n-th passage's doc_id."""
    text, usage, seconds = models.complete(llm, prompt)
    return Answer(text.strip(), cited_doc_ids(text, doc_ids), seconds, usage)


def cited_doc_ids(text: str, doc_ids: list[str]) -> list[str]:
    """doc_ids of the sources an answer cites, in first-cited order; out-of-range numbers ignored."""
    cited: list[str] = []
    for k in cited_passages(text, len(doc_ids)):
        if doc_ids[k - 1] not in cited:
            cited.append(doc_ids[k - 1])
    return cited


class Builder:
    """Builds pipelines for one dataset; indexes, models and pipelines are shared between trials.

    Args:
        dataset: the corpus and questions.
        cache: the embedding cache (see :class:`~ragbench.pipeline.index.Indexer`).
        stats: where index work is counted.
        models: the model cache shared with the rest of the run (default: a cache of its own).
    """

    def __init__(
        self,
        dataset: Any,
        cache: Any | None = None,
        stats: RunStats | None = None,
        models: ModelCache | None = None,
    ) -> None:
        self.dataset = dataset
        self.models = models if models is not None else ModelCache()
        self.indexer = Indexer(dataset, cache, stats, self.models)
        self._pipelines: dict[str, Pipeline] = {}

    @property
    def stats(self) -> RunStats:
        """The index work counted so far (chunks embedded, indexes built)."""
        return self.indexer.stats

    def build(self, cfg: PipelineConfig) -> Pipeline:
        """The pipeline for a trial's config (built once, then reused)."""
        key = params_hash(cfg.model_dump())
        if key not in self._pipelines:
            index = self.indexer.index(cfg)
            if cfg.chunking.method == "hierarchical" and index.docstore is None:
                raise RuntimeError("hierarchical chunks were indexed without their parent nodes")
            llm = self.models.llm(cfg.generation.llm)
            reranker = RERANKERS[cfg.retrieval.rerank](cfg.retrieval, llm)  # once: models are big
            self._pipelines[key] = Pipeline(
                make_retriever=functools.partial(
                    make_retriever, cfg, llm=llm, docstore=index.docstore, reranker=reranker
                ),
                index=index.vectors,
                nodes=index.nodes,
                access=AccessControl(self.dataset.corpus),
                llm=llm,
                prompt=cfg.generation.prompt,
                top_k=cfg.retrieval.top_k,
            )
        return self._pipelines[key]
