"""Retrieval latency per query and index build time, per retriever, on a synthetic 10k-chunk corpus.

The corpus is made of pg-essays chunks (``../shared/datasets/pg-essays``; the demo corpus when that
is absent), copied with one word dropped per copy until there are ``--chunks`` documents of one
chunk each. Embeddings come from the hashing embedder (a test double: no model to load, so the
figures are the retrieval machinery's cost, not a neural encoder's). Queries are the dataset's
questions, cycled to ``--queries``.

    nice -n 19 .venv/bin/python benchmarks/retrieval_latency.py [--chunks 10000] [--queries 50]

Run it on an idle machine: anything else on the 2 cores distorts the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llama_index.core.node_parser import SentenceSplitter

from ragbench.config.experiment import DatasetConfig, PipelineConfig
from ragbench.data.datasets import Dataset, load_dataset, make_document
from ragbench.pipeline.rag import Builder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pg-essays"
FAKES: dict[str, Any] = {
    "embedding": {"provider": "hashing"},
    "generation": {"llm": {"provider": "fake"}},
    "judge": {"provider": "fake"},
}


def synthetic(n_chunks: int, seed: int) -> tuple[Dataset, list[str]]:
    """``n_chunks`` one-chunk documents perturbed from a real corpus, and its questions."""
    source = load_dataset(
        DatasetConfig(loader="pg-essays", path=str(SHARED))
        if SHARED.is_dir()
        else DatasetConfig(loader="demo")
    )
    base = [
        n.get_content()
        for n in SentenceSplitter(chunk_size=200, chunk_overlap=0).get_nodes_from_documents(
            source.corpus
        )
    ]
    rng = random.Random(seed)
    docs = []
    for i in range(n_chunks):
        words = base[i % len(base)].split()
        if i >= len(base):  # a copy: drop one word so no two texts (or vectors) are identical
            del words[rng.randrange(len(words))]
        docs.append(make_document(f"syn/{i:05d}", " ".join(words), file_type="txt"))
    questions = [q.user_input for q in source.questions]
    print(f"source corpus: {source.name}, {len(source.corpus)} docs -> {len(base)} base chunks")
    return Dataset(f"synthetic-{source.name}", docs, []), questions


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("embedder: hashing (ragbench.models.HashingEmbedding, 512-d; a test double, no model)")
    dataset, questions = synthetic(args.chunks, args.seed)
    queries = [questions[i % len(questions)] for i in range(args.queries)]
    folder = Path(tempfile.mkdtemp(prefix="ragbench-latency-"))
    chunking = {"method": "sentence", "chunk_size": 512, "chunk_overlap": 32}  # 1 doc = 1 chunk
    duck = {"vector_store": "duckdb", "vector_store_path": str(folder / "vectors.duckdb")}
    setups = {
        "dense (memory)": {"method": "dense"},
        "dense (duckdb)": {"method": "dense", **duck},
        "bm25": {"method": "bm25"},
        "hybrid": {"method": "hybrid"},
        "mmr (memory)": {"method": "mmr"},
    }

    builder = Builder(dataset)
    print("\nindex builds (chunk + embed + store):")
    for name, store in (("memory", {}), ("duckdb", duck), ("duckdb, reopened", duck)):
        b = builder if name != "duckdb, reopened" else Builder(dataset)  # a later run, in effect
        cfg = PipelineConfig.model_validate(FAKES | {"chunking": chunking, "retrieval": store})
        before = dataclasses.replace(b.stats)
        start = time.perf_counter()
        nodes = b.indexer.index(cfg).nodes
        seconds = time.perf_counter() - start
        embedded = b.stats.chunks_embedded - before.chunks_embedded
        embed_s = b.stats.embed_seconds - before.embed_seconds
        print(
            f"  {name:18s} {seconds:7.2f} s  ({len(nodes)} chunks, {embedded} embedded in "
            f"{embed_s:.2f} s)"
        )

    print(f"\nretrieval over {len(nodes)} chunks, {len(queries)} queries, top_k={args.top_k}:")
    print(f"  {'retriever':16s} {'build s':>8s} {'mean ms':>8s} {'p95 ms':>8s}")
    for name, retrieval in setups.items():
        cfg = PipelineConfig.model_validate(
            FAKES | {"chunking": chunking, "retrieval": {"top_k": args.top_k, **retrieval}}
        )
        pipeline = builder.build(cfg)  # the index is shared; this times the retriever itself
        start = time.perf_counter()
        pipeline.retriever(None)  # bm25/hybrid build their term index here
        build_s = time.perf_counter() - start
        pipeline.retrieve(queries[0])  # warm-up, not timed
        times = []
        for q in queries:
            start = time.perf_counter()
            found = pipeline.retrieve(q)
            times.append((time.perf_counter() - start) * 1000)
            assert found, f"{name}: nothing retrieved for {q!r}"
        print(
            f"  {name:16s} {build_s:8.2f} {statistics.fmean(times):8.1f} "
            f"{percentile(times, 0.95):8.1f}"
        )
    print("\n(build s: retriever construction on top of the shared index above)")


if __name__ == "__main__":
    main()
