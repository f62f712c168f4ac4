"""Ingestion and embedding throughput: ragbench's index build vs the raw embedding model.

Prints documents/s and chunks/s for loading + chunking, and embedding throughput of ragbench's path
(LlamaIndex HuggingFaceEmbedding inside VectorStoreIndex) as a ratio to sentence-transformers'
own ``encode()`` on the very same chunk texts (target >= 0.9: the wrapper should cost nothing).

    .venv/bin/python benchmarks/ingest_throughput.py [--dataset demo|pg-essays] [--max-docs N]

Run it on an idle machine: anything else on the 2 cores distorts both sides.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ragbench.config.experiment import (
    ChunkingConfig,
    DatasetConfig,
    EmbeddingConfig,
    PipelineConfig,
)
from ragbench.data.datasets import load_dataset
from ragbench.models import local_embedding_path
from ragbench.pipeline.index import chunk_documents
from ragbench.pipeline.rag import Builder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo", choices=["demo", "pg-essays"])
    parser.add_argument("--max-docs", type=int, default=40, help="documents to ingest")
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    cfg = DatasetConfig(
        loader=args.dataset, path=str(SHARED / "pg-essays") if args.dataset == "pg-essays" else None
    )
    start = time.perf_counter()
    dataset = load_dataset(cfg)
    load_s = time.perf_counter() - start
    loaded = len(dataset.corpus)  # every file is read; the cut below only limits chunking/embedding
    dataset.corpus = dataset.corpus[: args.max_docs]
    chunking = ChunkingConfig(method="sentence", chunk_size=args.chunk_size, chunk_overlap=32)
    start = time.perf_counter()
    nodes = chunk_documents(chunking, None, dataset.corpus).nodes
    chunk_s = time.perf_counter() - start
    texts = [n.get_content(metadata_mode="embed") for n in nodes]
    print(f"dataset {dataset.name}: {len(dataset.corpus)} documents -> {len(nodes)} chunks")
    print(f"load:  {loaded / load_s:8.1f} documents/s ({loaded} read, incl. the question set)")
    print(
        f"chunk: {len(dataset.corpus) / chunk_s:8.1f} documents/s, {len(nodes) / chunk_s:8.1f} chunks/s"
    )

    from sentence_transformers import SentenceTransformer

    raw = SentenceTransformer(str(local_embedding_path()), device="cpu")
    raw.encode(texts[:8], batch_size=args.batch_size)  # warm-up: first call pays allocations
    start = time.perf_counter()
    raw.encode(texts, batch_size=args.batch_size)
    raw_s = time.perf_counter() - start

    builder = Builder(dataset)
    pipeline = PipelineConfig(
        chunking=chunking, embedding=EmbeddingConfig(provider="local", batch_size=args.batch_size)
    )
    builder.models.embedding(pipeline.embedding).get_text_embedding_batch(texts[:8])  # same warm-up
    start = time.perf_counter()
    builder.indexer.index(pipeline)
    ours_s = time.perf_counter() - start

    print(f"embed (sentence-transformers encode): {len(texts) / raw_s:6.1f} chunks/s")
    print(
        f"embed (ragbench index build):         {len(texts) / ours_s:6.1f} chunks/s "
        "(includes chunking and the vector store insert)"
    )
    print(f"ratio ragbench / raw encode: {raw_s / ours_s:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
