"""Index building: chunking, stable chunk ids, the embedding cache and the vector stores.

Contract: ``Indexer(dataset, cache, stats, models).index(pipeline_cfg) -> Index``, built once per
(corpus, chunking, embedding, vector store) and shared by every trial that differs only in
retrieval or generation. The embedding models come from ``models`` (the run's
:class:`~ragbench.models.cache.ModelCache`, shared with the pipelines and the judge) and are
handed explicitly to everything that embeds (the index, the semantic chunker): LlamaIndex's
global ``Settings`` are never read or changed, so nothing falls back to a default model.

An :class:`Index` owns its chunks and, for the hierarchical chunker, the docstore holding their
parents: the pair is made together from one chunking and travels together, so an auto-merging
retriever is never handed another index's docstore. Chunk ids are hashes of (corpus,
chunking, embedding, position, text), the same in every process, so a persistent DuckDB index
written by one run matches the next run's chunks. Each distinct chunk text is embedded once per
model (``cache``: the results Store's embedding table).

``chunk_documents(cfg, embed, documents)`` is the chunking step alone; documents longer than
:data:`SEGMENT_CHARS` are first cut at paragraph, line or sentence boundaries into bounded
segments, so the sentence tokenizer never sees a whole multi-megabyte text.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
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
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.storage.docstore import SimpleDocumentStore

from ragbench import models
from ragbench.config.experiment import ChunkingConfig, PipelineConfig, params_hash
from ragbench.data.datasets import Dataset
from ragbench.models.cache import ModelCache
from ragbench.records import RunStats
from ragbench.store.vectors import DuckDBVectorStore, MemoryVectorStore

# Parent chunks are this many times the leaf size: a parent holds ~4 leaves, so auto-merging swaps
# them for their parent once more than half (3 of 4) are retrieved.
HIERARCHY_FACTOR = 4
# HTMLNodeParser's default tags minus the inline b/i/u (which it would cut out of their paragraph),
# plus table rows and definition lists, whose text the defaults drop.
_MORE_HTML_TAGS = ["tr", "caption", "dt", "dd", "pre", "blockquote"]
HTML_TAGS = [t for t in DEFAULT_HTML_TAGS if t not in ("b", "i", "u")] + _MORE_HTML_TAGS
# Metadata that must never reach embeddings, BM25 or prompts: group names would leak and match.
_HIDDEN_KEYS = ("allowed_groups", "tag", "segment")
# Longest text handed to a parser in one piece. NLTK's punkt tokenizer (inside SentenceSplitter)
# runs under a 5 s regex timeout and hits it on multi-megabyte texts; 100k characters take it
# about 0.1 s here. Documents up to this size are chunked exactly as before.
SEGMENT_CHARS = 100_000
_CUTS = ("\n\n", "\n", ". ", " ")  # preferred segment boundaries, best first


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
    """The document as HTML: the corpus keeps only the text, so re-read the file it came from."""
    if re.search(r"<(p|h[1-6]|li|tr|section)\b", doc.text, flags=re.I):
        return doc
    if "segment" in doc.metadata:  # one piece of a huge file: re-reading would repeat the whole
        return None
    source = Path(str(doc.metadata.get("source", "")))
    if source.suffix.lower() not in (".html", ".htm") or not source.is_file():
        return None
    try:
        html = source.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return _like(doc, html)


def _like(doc: Document, text: str, **metadata: Any) -> Document:
    """A copy of ``doc`` (same id, metadata and exclusions) with other text."""
    return Document(
        id_=doc.id_,
        text=text,
        metadata={**doc.metadata, **metadata},
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


def segment_text(text: str, limit: int = SEGMENT_CHARS) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters that join back into ``text``.

    Each cut falls after the last paragraph break in the window, else the last line break,
    sentence end or space, as long as that keeps the piece at least a quarter of ``limit`` long;
    otherwise (one endless token) the cut is at ``limit``.
    """
    pieces, start = [], 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        cut = limit
        for sep in _CUTS:
            at = window.rfind(sep)
            if at >= limit // 4:
                cut = at + len(sep)
                break
        pieces.append(text[start : start + cut])
        start += cut
    pieces.append(text[start:])
    return pieces


def _segments(documents: Sequence[Document]) -> list[Document]:
    out: list[Document] = []
    for doc in documents:
        if len(doc.text) <= SEGMENT_CHARS:
            out.append(doc)
            continue
        for n, piece in enumerate(segment_text(doc.text), start=1):
            out.append(_like(doc, piece, segment=n))
    return out


@dataclass
class Chunks:
    """A corpus chunked one way: ``nodes`` are what gets embedded and searched; ``docstore`` holds
    every level of a hierarchy (parents included) for auto-merging, and is None otherwise."""

    nodes: list[BaseNode]
    docstore: SimpleDocumentStore | None = None


def _stable_ids(nodes: list[BaseNode], namespace: str) -> None:
    """Replace the parsers' random node ids with hashes of (namespace, position, text), in the
    nodes and in every relationship that points at one of them."""
    new = {
        n.node_id: hashlib.sha256(
            f"{namespace}\0{i}\0{n.get_content(metadata_mode=MetadataMode.NONE)}".encode()
        ).hexdigest()[:32]
        for i, n in enumerate(nodes)
    }
    for node in nodes:
        node.id_ = new[node.node_id]
        for rel, info in list(node.relationships.items()):
            infos = info if isinstance(info, list) else [info]
            moved = [i.model_copy(update={"node_id": new.get(i.node_id, i.node_id)}) for i in infos]
            node.relationships[rel] = moved if isinstance(info, list) else moved[0]


def chunk_documents(
    cfg: ChunkingConfig, embed: BaseEmbedding, documents: Sequence[Document], namespace: str = ""
) -> Chunks:
    """Split documents with the configured chunker.

    Every chunk keeps its document's metadata (hidden from embedding and prompts where it must be)
    and gets a stable id derived from ``namespace``, its position and its text.
    """
    nodes = CHUNKERS[cfg.method](cfg, embed).get_nodes_from_documents(_segments(documents))
    for node in nodes:
        # New lists, never in-place: parsers may share these lists with the source document.
        for attr in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
            keys = getattr(node, attr)
            setattr(node, attr, keys + [k for k in _HIDDEN_KEYS if k not in keys])
    _stable_ids(nodes, namespace)
    if cfg.method != "hierarchical":
        return Chunks(nodes)
    docstore = SimpleDocumentStore()
    docstore.add_documents(nodes)
    return Chunks(get_leaf_nodes(nodes), docstore)


@dataclass
class Index:
    """A searchable index and what belongs to it: the vector index, the nodes it holds and (for
    hierarchical chunks) the docstore with their parents, made together from one chunking."""

    vectors: VectorStoreIndex
    nodes: list[BaseNode]
    docstore: SimpleDocumentStore | None = None


class Indexer:
    """Builds indexes for one dataset, sharing chunkings and indexes between trials."""

    def __init__(
        self,
        dataset: Dataset,
        cache: Any | None = None,
        stats: RunStats | None = None,
        models: ModelCache | None = None,
    ) -> None:
        """
        Args:
            dataset: the corpus every index holds.
            cache: an embedding cache with ``embeddings_get(model_id, hashes)`` and
                ``embeddings_put(model_id, {hash: vector})`` (the DuckDB Store), so each distinct
                chunk text is embedded once per model, across trials, runs and chunk sizes.
            stats: where indexes built and chunks embedded are counted (a run's statistics).
            models: where embedding models come from (default: a cache of its own).
        """
        self.dataset = dataset
        self.cache = cache
        self.models = models if models is not None else ModelCache()
        self._chunks: dict[str, Chunks] = {}
        self._indexes: dict[str, Index] = {}
        self.stats = stats if stats is not None else RunStats()

    def _shared_by(self, cfg: PipelineConfig) -> dict[str, Any]:
        return {
            "corpus": self.dataset.corpus_hash,
            "chunking": cfg.chunking.model_dump(),
            "embedding": models.embedding_id(cfg.embedding),  # the semantic chunker uses it
        }

    def chunks_key(self, cfg: PipelineConfig) -> str:
        """What a chunking is shared by, (corpus, chunking, embedding): its chunks' namespace."""
        return params_hash(self._shared_by(cfg))

    def index_key(self, cfg: PipelineConfig) -> str:
        """What an index is shared by: (corpus, chunking, embedding, vector store)."""
        return params_hash(self._shared_by(cfg) | {"vector_store": cfg.retrieval.vector_store})

    def provide(self, cfg: PipelineConfig, chunks: Chunks) -> None:
        """Use ``chunks`` (made elsewhere, e.g. by a Ray worker, embeddings set) for ``cfg``."""
        self._chunks[self.chunks_key(cfg)] = chunks

    def chunks(self, cfg: PipelineConfig) -> Chunks:
        """The corpus chunked for a trial, once per (corpus, chunking, embedding)."""
        key = self.chunks_key(cfg)
        if key not in self._chunks:
            embed = self.models.embedding(cfg.embedding)
            self._chunks[key] = chunk_documents(cfg.chunking, embed, self.dataset.corpus, key)
        return self._chunks[key]

    def index(self, cfg: PipelineConfig) -> Index:
        """The index for (corpus, chunking, embedding, vector store), built on first use.

        A ``duckdb`` index is a table named by that key in ``vector_store_path(cfg)``, so later
        runs and notebooks reuse it: when it already holds exactly these chunks, nothing is
        embedded or inserted.
        """
        key = self.index_key(cfg)
        persistent = cfg.retrieval.vector_store == "duckdb"
        slot = f"{key}@{self.vector_store_path(cfg)}" if persistent else key
        if slot not in self._indexes:
            embed = self.models.embedding(cfg.embedding)
            chunks = self.chunks(cfg)
            if persistent:
                vectors = self._duckdb_index(cfg, key, chunks.nodes, embed)
            else:
                self._embed_nodes(chunks.nodes, embed, models.embedding_id(cfg.embedding))
                store = MemoryVectorStore()
                # Nodes arrive with embeddings, so the index only stores them.
                vectors = VectorStoreIndex(
                    chunks.nodes,
                    storage_context=StorageContext.from_defaults(vector_store=store),
                    embed_model=embed,
                    show_progress=False,
                )
            self.stats.indexes_built += 1
            self._indexes[slot] = Index(vectors, chunks.nodes, chunks.docstore)
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
        store = DuckDBVectorStore(self.vector_store_path(cfg), table=f"nodes_{key}")
        if store.node_ids() == {n.node_id for n in nodes}:
            self.stats.chunks_from_vector_store += len(nodes)
            return VectorStoreIndex.from_vector_store(store, embed_model=embed)
        store.clear()  # new, or partly written by an interrupted build: write it whole
        self._embed_nodes(nodes, embed, models.embedding_id(cfg.embedding))
        return VectorStoreIndex(
            nodes,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
            show_progress=False,
        )

    def _embed_nodes(self, nodes: list[BaseNode], embed: Any, model_id: str) -> None:
        """``embed_nodes`` with this indexer's cache and statistics."""
        embed_nodes(nodes, embed.get_text_embedding_batch, model_id, self.cache, self.stats)


def embed_nodes(
    nodes: list[BaseNode],
    embed_batch: Callable[[list[str]], list[list[float]]],
    model_id: str,
    cache: Any | None,
    stats: RunStats,
) -> None:
    """Set ``node.embedding`` on every node, embedding only texts the cache has not seen.

    ``embed_batch`` embeds a list of texts (a model's ``get_text_embedding_batch``, or batches
    sent to Ray workers); the new vectors are written to ``cache`` (the Store). Nodes that
    already carry one (the same chunks, indexed again into another vector store) count as
    cached: the chunks key includes the embedding model.
    """
    done = [n for n in nodes if n.embedding is not None]
    stats.chunks_from_cache += len(done)
    nodes = [n for n in nodes if n.embedding is None]
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    known = cache.embeddings_get(model_id, set(hashes)) if cache else {}
    todo = {h: t for h, t in zip(hashes, texts, strict=True) if h not in known}
    if todo:
        start = time.perf_counter()
        vectors = embed_batch(list(todo.values()))
        stats.embed_seconds += time.perf_counter() - start
        fresh = dict(zip(todo, vectors, strict=True))
        if cache:
            cache.embeddings_put(model_id, fresh)
        known = {**known, **fresh}
    stats.chunks_embedded += len(todo)
    stats.chunks_from_cache += len(nodes) - len(todo)
    for node, h in zip(nodes, hashes, strict=True):
        node.embedding = list(known[h])
