"""Vector stores: a persistent one in a DuckDB file, and LlamaIndex's in-memory one, ranking alike.

Both stores score a node by cosine similarity to the query, defined as 0 when either vector is all
zeros (an all-punctuation chunk or question with the hashing embedder; scikit-learn's
``cosine_similarity`` makes the same choice), and break ties by insertion order. So a zero vector
never gets a NaN score, never ranks first, and both stores return the same ranking.

``MemoryVectorStore`` is LlamaIndex's ``SimpleVectorStore`` with that ranking (the parent's NaN
scores sort unpredictably in its heap) that also keeps the nodes, as the DuckDB store does.

``DuckDBVectorStore(path, table)`` is a ``BasePydanticVectorStore`` (``stores_text``:
nodes come back whole from the table, no docstore needed). One row per node: ``node_id``,
``ref_doc_id``, ``text``, ``metadata`` (the node's metadata as JSON, for SQL), ``node`` (the rest of
the node as LlamaIndex serialises it, so metadata exclusions and relationships survive), ``embedding``
(``FLOAT[]``) and ``seq`` (insertion order, the tie-break). ``query`` ranks by
``list_cosine_similarity`` in SQL (0 for a zero vector), optionally within non-empty ``node_ids`` / ``doc_ids`` (how access
control pre-filters), and supports MMR (cosine in SQL is the relevance; the diversity step is
LlamaIndex's own ``get_top_k_mmr_embeddings``, as in its SimpleVectorStore).

Only built-in DuckDB functions are used: the ``vss``/``fts`` extensions download on first use and
fail offline. Like ``store.Store``, the file is opened per operation (``store.connect``: one
transaction, retried while another process holds the lock), so several processes can share it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores import SimpleVectorStore
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from ragbench.store.connection import connect

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")  # spliced into SQL: identifiers only
# Zero-safe cosine in SQL: list_cosine_similarity divides by the norms and gives NaN for a zero one.
_COSINE = (
    "CASE WHEN list_dot_product(embedding, embedding) = 0 OR ? = 0 THEN 0.0 "
    "ELSE list_cosine_similarity(embedding, ?::FLOAT[]) END"
)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors, 0.0 when either is all zeros (never NaN)."""
    u, v = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v) / norms if norms > 0 else 0.0


def cosine_scores(matrix: np.ndarray, query: Sequence[float]) -> np.ndarray:
    """:func:`cosine` of every row of ``matrix`` with ``query``."""
    q = np.asarray(query, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(q)
    dots = matrix @ q
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def _query_mode(query: VectorStoreQuery, store: str) -> tuple[list[float], bool]:
    """The query embedding and whether MMR is asked for; checks what both stores support (no
    metadata filters, two modes)."""
    if query.filters is not None:
        raise NotImplementedError(f"{store} does not support metadata filters")
    if query.query_embedding is None:
        raise ValueError(f"{store} needs a query embedding")
    if query.mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
        raise NotImplementedError(f"{store}: query mode {query.mode} unsupported")
    return query.query_embedding, query.mode == VectorStoreQueryMode.MMR


def _mmr(
    query: VectorStoreQuery, vectors: list[np.ndarray], threshold: float | None
) -> tuple[list[int], list[float]]:
    """Positions and MMR scores (LlamaIndex's algorithm, with the zero-safe cosine)."""
    # Arrays, not the lists LlamaIndex's hints name: the similarity function takes either, and
    # arrays spare a conversion in each of its many calls.
    scores, chosen = get_top_k_mmr_embeddings(
        cast(Any, np.asarray(query.query_embedding, dtype=np.float64)),
        cast(Any, vectors),
        similarity_fn=cosine,
        similarity_top_k=query.similarity_top_k,
        embedding_ids=list(range(len(vectors))),
        mmr_threshold=threshold,
    )
    return list(chosen), [float(s) for s in scores]


class MemoryVectorStore(SimpleVectorStore):
    """LlamaIndex's in-memory store, ranked like :class:`DuckDBVectorStore` (module docstring).

    It keeps the nodes too (``stores_text``, like the DuckDB store): otherwise VectorStoreIndex
    files every node in its docstore one call at a time, re-serialising the source document's
    growing node list each time, which is quadratic in the chunks of one document (minutes for a
    5 MB file).
    """

    stores_text: bool = True
    _nodes: dict[str, BaseNode] = PrivateAttr(default_factory=dict)
    # (ids, matrix) of every stored vector, built on the first query after a change.
    _matrix: tuple[list[str], np.ndarray] | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "MemoryVectorStore"

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Store nodes (each must carry its embedding); the node is kept without it."""
        self._matrix = None
        for node in nodes:
            self._nodes[node.node_id] = node.model_copy(update={"embedding": None})
        return super().add(list(nodes), **kwargs)

    def get_nodes(self, node_ids: list[str] | None = None, filters: Any = None) -> list[BaseNode]:
        if filters is not None:
            raise NotImplementedError("MemoryVectorStore does not support metadata filters")
        ids = list(self._nodes) if node_ids is None else [i for i in node_ids if i in self._nodes]
        return [self._nodes[i].model_copy() for i in ids]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        super().delete(ref_doc_id, **delete_kwargs)
        self._forget_deleted()

    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: Any = None, **delete_kwargs: Any
    ) -> None:
        super().delete_nodes(node_ids, filters, **delete_kwargs)
        self._forget_deleted()

    def clear(self) -> None:
        super().clear()
        self._forget_deleted()

    def _forget_deleted(self) -> None:
        self._matrix = None
        self._nodes = {i: n for i, n in self._nodes.items() if i in self.data.embedding_dict}

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes most cosine-similar to the query embedding (or MMR)."""
        embedding, mmr = _query_mode(query, "MemoryVectorStore")
        if self._matrix is None:
            every = list(self.data.embedding_dict)
            vectors = [self.data.embedding_dict[i] for i in every]
            self._matrix = (every, np.asarray(vectors, dtype=np.float64).reshape(len(every), -1))
        every, matrix = self._matrix
        # As in DuckDBVectorStore._where: an empty id list means no filter.
        wanted = set(query.node_ids or ()) or None
        docs = set(query.doc_ids or ()) or None
        refs = self.data.text_id_to_ref_doc_id
        rows = [
            k
            for k, i in enumerate(every)
            if (wanted is None or i in wanted) and (docs is None or refs.get(i) in docs)
        ]
        if not rows:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        ids, matrix = [every[k] for k in rows], matrix[rows]
        if mmr:
            threshold = kwargs.get("mmr_threshold", query.mmr_threshold)
            chosen, scores = _mmr(query, list(matrix), threshold)
        else:
            all_scores = cosine_scores(matrix, embedding)
            # Stable sort on the negated score: ties keep insertion order, as DuckDB's seq does.
            chosen = list(np.argsort(-all_scores, kind="stable")[: query.similarity_top_k])
            scores = [float(all_scores[i]) for i in chosen]
        found = [ids[i] for i in chosen]
        # Copies: callers may edit what they get (sentence windows replace the text).
        nodes = [self._nodes[i].model_copy() for i in found]
        return VectorStoreQueryResult(nodes=nodes, similarities=scores, ids=found)


class DuckDBVectorStore(BasePydanticVectorStore):
    """Nodes and their embeddings in a DuckDB table; see the module docstring."""

    stores_text: bool = True
    flat_metadata: bool = False  # metadata may hold lists (allowed_groups); stored as JSON
    path: str = Field(description="the DuckDB file; created with its folder on first use")
    table: str = Field(description="table name (letters, digits, underscores)")
    lock_timeout_s: float = 120.0  # wait this long for another process to release the file

    def __init__(self, path: str | Path, table: str = "nodes", lock_timeout_s: float = 120.0):
        if not _TABLE_NAME.match(table):
            raise ValueError(f"table name {table!r}: use letters, digits and underscores")
        # The fields are declared above; mypy reads the parent's __init__ signature instead.
        super().__init__(path=str(path), table=table, lock_timeout_s=lock_timeout_s)  # type: ignore[call-arg]
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                "node_id VARCHAR PRIMARY KEY, ref_doc_id VARCHAR, text VARCHAR NOT NULL, "
                "metadata JSON NOT NULL, node JSON NOT NULL, embedding FLOAT[] NOT NULL, "
                "seq BIGINT NOT NULL)"
            )

    @classmethod
    def class_name(cls) -> str:
        return "DuckDBVectorStore"

    @property
    def client(self) -> Any:
        return None  # no long-lived connection: the file is opened per operation

    def _connect(self) -> Any:
        return connect(self.path, self.lock_timeout_s)

    # --- writes -----------------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Insert (or replace) nodes; each must carry its embedding."""
        if not nodes:
            return []
        rows = []
        for node in nodes:
            if node.embedding is None:
                raise ValueError(f"node {node.node_id} has no embedding")
            meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
            rows.append(
                {
                    "node_id": node.node_id,
                    "ref_doc_id": node.ref_doc_id,
                    "text": node.get_content(metadata_mode=MetadataMode.NONE),
                    "metadata": json.dumps(node.metadata, ensure_ascii=False, default=str),
                    "node": json.dumps({k: meta[k] for k in ("_node_content", "_node_type")}),
                    "embedding": np.asarray(node.embedding, dtype=np.float32),
                }
            )
        frame = pd.DataFrame(rows)
        with self._connect() as con:
            con.register("fresh", frame)
            (start,) = con.execute(
                f'SELECT coalesce(max(seq), -1) + 1 FROM "{self.table}"'
            ).fetchone()
            con.execute(
                f'INSERT OR REPLACE INTO "{self.table}" SELECT node_id, ref_doc_id, text, '
                "metadata, node, CAST(embedding AS FLOAT[]), ? + row_number() OVER () - 1 "
                "FROM fresh",
                [start],
            )
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of one source document."""
        with self._connect() as con:
            con.execute(f'DELETE FROM "{self.table}" WHERE ref_doc_id = ?', [ref_doc_id])

    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: Any = None, **delete_kwargs: Any
    ) -> None:
        if filters is not None:
            raise NotImplementedError("DuckDBVectorStore does not support metadata filters")
        if node_ids:
            with self._connect() as con:
                con.execute(
                    f'DELETE FROM "{self.table}" WHERE list_contains(?, node_id)', [node_ids]
                )

    def clear(self) -> None:
        with self._connect() as con:
            con.execute(f'DELETE FROM "{self.table}"')

    # --- reads ------------------------------------------------------------------------------------

    def node_ids(self) -> set[str]:
        """The ids of every stored node (how the builder checks that an index is complete)."""
        with self._connect() as con:
            rows = con.execute(f'SELECT node_id FROM "{self.table}"').fetchall()
        return {node_id for (node_id,) in rows}

    def get_nodes(self, node_ids: list[str] | None = None, filters: Any = None) -> list[BaseNode]:
        if filters is not None:
            raise NotImplementedError("DuckDBVectorStore does not support metadata filters")
        where, params = self._where(node_ids, None)
        with self._connect() as con:
            rows = con.execute(
                f'SELECT node, text FROM "{self.table}" {where} ORDER BY seq', params
            ).fetchall()
        return [self._node(node, text) for node, text in rows]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes most cosine-similar to the query embedding (or MMR)."""
        embedding, mmr = _query_mode(query, "DuckDBVectorStore")
        where, params = self._where(query.node_ids, query.doc_ids)
        # MMR weighs every candidate against the ones already chosen, so it needs all vectors.
        extra, limit = (", embedding", "") if mmr else ("", f"LIMIT {int(query.similarity_top_k)}")
        sql = (
            f"SELECT node_id, node, text, {_COSINE} AS score"
            f'{extra} FROM "{self.table}" {where} ORDER BY score DESC, seq {limit}'
        )
        norm = float(np.linalg.norm(np.asarray(embedding, dtype=np.float64)))
        with self._connect() as con:
            rows = con.execute(sql, [norm, embedding, *params]).fetchall()
        if mmr:
            threshold = kwargs.get("mmr_threshold", query.mmr_threshold)
            # Scores are MMR scores, as LlamaIndex's SimpleVectorStore returns them.
            vectors = [np.asarray(vector, dtype=np.float64) for *_, vector in rows]
            chosen, scores = _mmr(query, vectors, threshold)
            rows = [rows[i] for i in chosen]
        else:
            scores = [float(score) for _, _, _, score in rows]
        return VectorStoreQueryResult(
            nodes=[self._node(node, text) for _, node, text, *_ in rows],
            similarities=scores,
            ids=[node_id for node_id, *_ in rows],
        )

    @staticmethod
    def _where(node_ids: list[str] | None, doc_ids: list[str] | None) -> tuple[str, list[Any]]:
        clauses, params = [], []
        # Empty means no filter: a stores_text index's as_retriever passes its (empty) id list.
        if node_ids:
            clauses.append("list_contains(?, node_id)")
            params.append(list(node_ids))
        if doc_ids:
            clauses.append("list_contains(?, ref_doc_id)")
            params.append(list(doc_ids))
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    @staticmethod
    def _node(node_json: str, text: str) -> BaseNode:
        return metadata_dict_to_node(json.loads(node_json), text=text)
