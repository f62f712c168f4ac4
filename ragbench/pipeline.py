"""Build a RAG pipeline from a trial's config, out of LlamaIndex components.

Contract: ``Builder(dataset).build(pipeline_cfg) -> Pipeline``;
``Pipeline.retrieve(question, user_groups=None)`` returns at most top_k scored chunks (each with a
``doc_id`` in its metadata), never one from a document whose ``allowed_groups`` the user lacks;
``Pipeline.answer(question, chunks)`` returns an :class:`Answer` with the response, the cited
sources and the cost. Components come from plain name -> factory tables.

Only unique work is done: the builder keeps one embedding model per embedding config and one index
per (corpus, chunking, embedding), so trials that differ only in retrieval or generation share them.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.indices.query.query_transform import HyDEQueryTransform
from llama_index.core.ingestion import run_transformations
from llama_index.core.node_parser import (
    HierarchicalNodeParser,
    HTMLNodeParser,
    MarkdownNodeParser,
    NodeParser,
    SemanticSplitterNodeParser,
    SentenceSplitter,
    SentenceWindowNodeParser,
    TokenTextSplitter,
    get_leaf_nodes,
)
from llama_index.core.node_parser.file.html import DEFAULT_TAGS as DEFAULT_HTML_TAGS
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
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle
from llama_index.core.storage.docstore import SimpleDocumentStore

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

# --- chunkers: name -> factory(chunking config, embedding model) -> node parser -------------------

# Parent chunks are this many times the leaf size: a parent holds ~4 leaves, so auto-merging swaps
# them for their parent once more than half (3 of 4) are retrieved.
HIERARCHY_FACTOR = 4
# HTMLNodeParser's default tags minus the inline b/i/u (which it would cut out of their paragraph),
# plus table rows and definition lists, whose text the defaults drop.
_MORE_HTML_TAGS = ["tr", "caption", "dt", "dd", "pre", "blockquote"]
HTML_TAGS = [t for t in DEFAULT_HTML_TAGS if t not in ("b", "i", "u")] + _MORE_HTML_TAGS
# Metadata that must never reach embeddings, BM25 or prompts: group names would leak and match.
_HIDDEN_KEYS = ("allowed_groups", "tag")


def _sentences(c: ChunkingConfig) -> SentenceSplitter:
    return SentenceSplitter(chunk_size=c.chunk_size, chunk_overlap=c.chunk_overlap)


@dataclass
class ByFileType:
    """Structure-aware parsing for some file types, sentence splitting for every other document.

    ``structure`` runs in order (e.g. MarkdownNodeParser, then SentenceSplitter to bound the size
    of long sections); documents whose ``file_type`` metadata is not in ``file_types`` go to
    ``fallback``. ``prepare`` may swap a document for another form of itself (raw HTML) or return
    None when the structure is not available, which also means the fallback.
    """

    file_types: tuple[str, ...]
    structure: list[NodeParser]
    fallback: NodeParser
    prepare: Callable[[Document], Document | None] = lambda doc: doc

    def get_nodes_from_documents(self, documents: Sequence[Document]) -> list[BaseNode]:
        nodes: list[BaseNode] = []
        for doc in documents:
            source = self.prepare(doc) if doc.metadata.get("file_type") in self.file_types else None
            parsed = run_transformations([source], self.structure) if source is not None else []
            if not parsed:  # no structure found (or not this file type): plain sentence chunks
                parsed = self.fallback.get_nodes_from_documents([doc])
            nodes.extend(parsed)
        return nodes


def _raw_html(doc: Document) -> Document | None:
    """The document as HTML: data.py keeps only the text, so re-read the file it came from."""
    if re.search(r"<(p|h[1-6]|li|tr|section)\b", doc.text, flags=re.I):
        return doc
    source = Path(str(doc.metadata.get("source", "")))
    if source.suffix.lower() not in (".html", ".htm") or not source.is_file():
        return None
    try:
        html = source.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return Document(
        id_=doc.id_,
        text=html,
        metadata=dict(doc.metadata),
        excluded_embed_metadata_keys=list(doc.excluded_embed_metadata_keys),
        excluded_llm_metadata_keys=list(doc.excluded_llm_metadata_keys),
    )


def _semantic(c: ChunkingConfig, embed: BaseEmbedding) -> NodeParser:
    return SemanticSplitterNodeParser.from_defaults(
        embed_model=embed,
        breakpoint_percentile_threshold=c.breakpoint_percentile_threshold,
        buffer_size=c.buffer_size,
    )


def _hierarchical(c: ChunkingConfig, embed: BaseEmbedding) -> NodeParser:
    return HierarchicalNodeParser.from_defaults(
        chunk_sizes=[c.chunk_size * HIERARCHY_FACTOR, c.chunk_size], chunk_overlap=c.chunk_overlap
    )


CHUNKERS: dict[str, Callable[[ChunkingConfig, BaseEmbedding], Any]] = {
    "token": lambda c, e: TokenTextSplitter(chunk_size=c.chunk_size, chunk_overlap=c.chunk_overlap),
    "sentence": lambda c, e: _sentences(c),
    "semantic": _semantic,
    "sentence_window": lambda c, e: SentenceWindowNodeParser.from_defaults(
        window_size=c.window_size
    ),
    "hierarchical": _hierarchical,
    "markdown": lambda c, e: ByFileType(
        ("md", "markdown"), [MarkdownNodeParser(), _sentences(c)], _sentences(c)
    ),
    "html": lambda c, e: ByFileType(
        ("html", "htm"), [HTMLNodeParser(tags=HTML_TAGS), _sentences(c)], _sentences(c), _raw_html
    ),
}


@dataclass
class Chunks:
    """A corpus chunked one way: ``nodes`` are what gets embedded and searched; ``docstore`` holds
    every level of a hierarchy (parents included) for auto-merging, and is None otherwise."""

    nodes: list[BaseNode]
    docstore: SimpleDocumentStore | None = None


def chunk_documents(
    cfg: ChunkingConfig, embed: BaseEmbedding, documents: Sequence[Document]
) -> Chunks:
    """Split documents with the configured chunker; every chunk keeps its document's metadata."""
    nodes = CHUNKERS[cfg.method](cfg, embed).get_nodes_from_documents(documents)
    for node in nodes:
        # New lists, never in-place: parsers may share these lists with the source document.
        for attr in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
            keys = getattr(node, attr)
            setattr(node, attr, keys + [k for k in _HIDDEN_KEYS if k not in keys])
    if cfg.method != "hierarchical":
        return Chunks(nodes)
    docstore = SimpleDocumentStore()
    docstore.add_documents(nodes)
    return Chunks(get_leaf_nodes(nodes), docstore)


# --- access control ------------------------------------------------------------------------------

ACL_KEY = "allowed_groups"  # document metadata: the groups that may see it; absent/None = public


def _acl(value: Any) -> frozenset[str] | None:
    """Normalise an ``allowed_groups`` value; None means public.

    A bare string is one group (never its characters); a value of any other type admits no one,
    so a malformed label fails closed.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(g) for g in value)
    return frozenset()


def _admits(acl: frozenset[str] | None, scope: frozenset[str]) -> bool:
    return acl is None or bool(acl & scope)


class AccessControl:
    """Who may see which chunk, from the corpus documents' ``allowed_groups`` metadata.

    A chunk is visible only when both its own metadata and its source document (looked up by
    doc_id in the corpus, the source of truth) admit one of the user's groups. When the corpus has
    any restricted document, a chunk that cannot be traced to a corpus document is hidden. A user
    without groups (``None``) sees public documents only.
    """

    def __init__(self, corpus: Sequence[Document]) -> None:
        self.documents: dict[str, frozenset[str] | None] = {}
        for doc in corpus:
            acl = _acl(doc.metadata.get(ACL_KEY))
            self.documents[doc.id_] = acl
            self.documents[doc.metadata.get("doc_id") or doc.id_] = acl
        restricted = [acl for acl in self.documents.values() if acl is not None]
        self.restricted = bool(restricted)
        self.groups: frozenset[str] = frozenset().union(*restricted)

    def scope(self, user_groups: Iterable[str] | str | None) -> frozenset[str]:
        """The user's groups that matter here: users with the same scope see the same chunks."""
        if isinstance(user_groups, str):
            user_groups = [user_groups]
        return frozenset(user_groups or ()) & self.groups

    def permits(self, node: BaseNode, scope: frozenset[str]) -> bool:
        if not _admits(_acl(node.metadata.get(ACL_KEY)), scope):
            return False
        doc_id = doc_id_of(node)
        if doc_id not in self.documents:
            return not self.restricted
        return _admits(self.documents[doc_id], scope)

    def visible(self, nodes: list[BaseNode], scope: frozenset[str]) -> list[BaseNode]:
        return [n for n in nodes if self.permits(n, scope)]


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

    return SentenceTransformerRerank(model=cfg.rerank_model, top_n=cfg.top_k, device="cpu")


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
        base = AutoMergingRetriever(base, StorageContext.from_defaults(docstore=docstore))
    window = "window" if cfg.chunking.method == "sentence_window" else None
    return RagRetriever(base, r.top_k, window_key=window, reranker=reranker)


_CITATION = re.compile(r"\[(\d{1,3})\]")


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
        self._docstores: dict[str, SimpleDocumentStore | None] = {}  # hierarchies, for merging
        self.stats = {"chunks_embedded": 0, "chunks_from_cache": 0, "indexes_built": 0,
                      "embed_seconds": 0.0, "chunks_from_vector_store": 0}

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
        """The index for (corpus, chunking, embedding, vector store), built on first use.

        A ``duckdb`` index is a table named by that key in ``vector_store_path(cfg)``, so later
        runs and notebooks reuse it: when it already holds exactly these chunks, nothing is
        embedded or inserted.
        """
        key = params_hash(
            {
                "corpus": self.dataset.corpus_hash,
                "chunking": cfg.chunking.model_dump(),
                "embedding": models.embedding_id(cfg.embedding),
                "vector_store": cfg.retrieval.vector_store,
            }
        )
        persistent = cfg.retrieval.vector_store == "duckdb"
        slot = f"{key}@{self.vector_store_path(cfg)}" if persistent else key
        if slot not in self._indexes:
            embed = self.embedding(cfg.embedding)
            # LlamaIndex falls back to OpenAI for anything left unset; pin both explicitly.
            Settings.embed_model = embed
            Settings.llm = self.llm(cfg.generation.llm)
            nodes = self.chunks(cfg, embed)
            if persistent:
                index = self._duckdb_index(cfg, key, nodes, embed)
            else:
                self._embed_nodes(nodes, embed, models.embedding_id(cfg.embedding))
                # Nodes arrive with embeddings, so the index only stores them.
                index = VectorStoreIndex(nodes, embed_model=embed, show_progress=False)
            self.stats["indexes_built"] += 1
            self._indexes[slot] = (index, nodes)
        return self._indexes[slot]

    def vector_store_path(self, cfg: PipelineConfig) -> Path:
        """Where a duckdb index lives: the configured file, else vectors.duckdb beside the
        results db (the cache Store), else ./results/vectors.duckdb."""
        if cfg.retrieval.vector_store_path:
            return Path(cfg.retrieval.vector_store_path).expanduser().resolve()
        db = getattr(self.cache, "path", None)
        return (Path(db).parent if db else Path.cwd() / "results").resolve() / "vectors.duckdb"

    def _duckdb_index(
        self, cfg: PipelineConfig, key: str, nodes: list[BaseNode], embed: Any
    ) -> VectorStoreIndex:
        from ragbench.store.vectors import DuckDBVectorStore

        # Chunk ids must be the same in every process for a stored table to match this run's
        # chunks (access control searches by id, auto-merging finds parents by id).
        self._stable_ids(cfg, key, nodes)
        store = DuckDBVectorStore(self.vector_store_path(cfg), table=f"nodes_{key}")
        if store.node_ids() == {n.node_id for n in nodes}:
            self.stats["chunks_from_vector_store"] += len(nodes)
            return VectorStoreIndex.from_vector_store(store, embed_model=embed)
        store.clear()  # new, or partly written by an interrupted build: write it whole
        self._embed_nodes(nodes, embed, models.embedding_id(cfg.embedding))
        return VectorStoreIndex(
            nodes,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
            show_progress=False,
        )

    def _stable_ids(self, cfg: PipelineConfig, key: str, nodes: list[BaseNode]) -> None:
        """Replace the parsers' random node ids with hashes of (index key, position, text),
        in the nodes, their relationships and the hierarchy's docstore."""
        docstore = self._docstores.get(self._chunks_key(cfg))
        every = list(docstore.docs.values()) if docstore is not None else nodes
        new = {
            n.node_id: hashlib.sha256(
                f"{key}\0{i}\0{n.get_content(metadata_mode=MetadataMode.NONE)}".encode()
            ).hexdigest()[:32]
            for i, n in enumerate(every)
        }
        for node in every + (nodes if docstore is not None else []):
            node.id_ = new.get(node.node_id, node.node_id)
            for rel, info in list(node.relationships.items()):
                infos = info if isinstance(info, list) else [info]
                moved = [
                    i.model_copy(update={"node_id": new.get(i.node_id, i.node_id)}) for i in infos
                ]
                node.relationships[rel] = moved if isinstance(info, list) else moved[0]
        if docstore is not None:
            renamed = SimpleDocumentStore()
            renamed.add_documents(every)
            self._docstores[self._chunks_key(cfg)] = renamed

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
            docstore = self._docstores.get(self._chunks_key(cfg))
            if cfg.chunking.method == "hierarchical" and docstore is None:
                raise RuntimeError("hierarchical chunks were indexed without their parent nodes")
            llm = self.llm(cfg.generation.llm)
            reranker = RERANKERS[cfg.retrieval.rerank](cfg.retrieval, llm)  # once: models are big
            self._pipelines[key] = Pipeline(
                make_retriever=functools.partial(
                    make_retriever, cfg, llm=llm, docstore=docstore, reranker=reranker
                ),
                index=index,
                nodes=nodes,
                access=AccessControl(self.dataset.corpus),
                llm=llm,
                prompt=cfg.generation.prompt,
                top_k=cfg.retrieval.top_k,
            )
        return self._pipelines[key]

    def _chunks_key(self, cfg: PipelineConfig) -> str:
        return params_hash(
            {
                "corpus": self.dataset.corpus_hash,
                "chunking": cfg.chunking.model_dump(),
                "embedding": models.embedding_id(cfg.embedding),  # the semantic chunker uses it
            }
        )

    def chunks(self, cfg: PipelineConfig, embed: Any) -> list[BaseNode]:
        """The corpus chunked for a trial: the nodes to embed and search (a hierarchy's leaves,
        whose parents are kept in a docstore for auto-merging)."""
        out = chunk_documents(cfg.chunking, embed, self.dataset.corpus)
        self._docstores[self._chunks_key(cfg)] = out.docstore
        return out.nodes
