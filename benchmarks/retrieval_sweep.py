"""A retrieval-only sweep over 1,000+ real questions: how close is its wall time to its unique work?

Sweep: dense (local MiniLM) x bm25 over the COVID-QA papers, ``--limit`` questions (default
1,000), retrieval metrics only (no LLM). Unique work is what no orchestrator can avoid: embedding
every distinct chunk once plus each retrieval call (which embeds its query). Everything else
(loading, chunking, writing ~4,000 score rows and 2,000 records to DuckDB, progress) is overhead.

Prints the run's wall time, the unique work and their ratio (target <= 1.5), plus the number of
DuckDB transactions the writes took. A fresh results file is used, so every chunk is embedded.

    .venv/bin/python benchmarks/retrieval_sweep.py [--limit 1000] [--chunk-size 512]

Run it on an idle machine: other CPU work slows embedding and retrieval unevenly.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from ragbench.config.experiment import parse_config
from ragbench.experiment.orchestrator import run
from ragbench.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def experiment(limit: int, chunk_size: int, embedding: str = "local") -> dict:
    return {
        "name": "retrieval-sweep",
        "dataset": {"loader": "covid-qa", "path": str(SHARED / "covid-qa")},
        "base": {
            "chunking": {"method": "sentence", "chunk_size": chunk_size, "chunk_overlap": 32},
            "embedding": {"provider": embedding, "batch_size": 64},
            "retrieval": {"top_k": 5},
        },
        "sweep": {"retrieval.method": ["dense", "bm25"]},
        "metrics": ["hit_rate", "mrr", "recall", "ndcg"],
        "limit": limit,
    }


def measure(config: dict, db: Path) -> dict[str, float]:
    start = time.perf_counter()
    result = run(parse_config(config), db=db, progress=False)
    wall = time.perf_counter() - start
    store = Store(db, read_only=True)
    retrieval = float(store.latencies(result.run_id).retrieval_s.sum())
    embed = float(result.stats.embed_seconds)
    n_records = len(store.latencies(result.run_id))
    return {
        "wall": wall,
        "embed": embed,
        "retrieval": retrieval,
        "unique": embed + retrieval,
        "records": n_records,
        "transactions": result.stats.transactions,
        "chunks": result.stats.chunks_embedded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000, help="questions per trial")
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--embedding", default="local", help="local | hashing (plumbing only)")
    args = parser.parse_args()
    if not (SHARED / "covid-qa").is_dir():
        raise SystemExit(f"needs {SHARED / 'covid-qa'}")
    with tempfile.TemporaryDirectory() as tmp:
        m = measure(experiment(args.limit, args.chunk_size, args.embedding), Path(tmp) / "r.duckdb")
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print(
        f"records {m['records']:.0f} (2 trials x {args.limit} questions), "
        f"chunks embedded {m['chunks']:.0f}, DuckDB write transactions {m['transactions']:.0f}"
    )
    print(
        f"wall {m['wall']:.1f}s; unique work {m['unique']:.1f}s "
        f"(embedding {m['embed']:.1f}s + retrieval {m['retrieval']:.1f}s)"
    )
    print(f"wall / unique work = {m['wall'] / m['unique']:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
