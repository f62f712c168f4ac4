"""What a 12-trial sweep costs with ragbench vs a naive script, and how close it is to its unique work.

Sweep: 3 chunk sizes x 2 top-k x 2 retrievers over a real dataset (pg-essays by default), with
``--limit`` questions per trial, real local models. Prints:
(a) ragbench wall time / time of its unique work (distinct chunks embedded + distinct LLM calls,
    each timed on its own)                                                       target <= 1.3
(b) naive script wall time / ragbench wall time. The naive script builds every trial from scratch
    with plain LlamaIndex + ragas (same models, prompt, questions), answering and judging every
    trial; ragbench uses its caches and staged search (only the best --top-n trials by MRR are
    answered and judged)                                                          target >= 5
(c) warm re-run of the same experiment / first run                               target <= 5%

    .venv/bin/python benchmarks/sweep_cost.py [--limit 2] [--max-docs 30] [--top-n 2]

The corpus is the gold essays of the chosen questions plus distractors up to --max-docs, copied to
a temp folder (never into the repository). Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from ragbench.config.experiment import DatasetConfig, parse_config
from ragbench.data.datasets import load_dataset
from ragbench.experiment.orchestrator import run
from ragbench.judge.scoring import Judge
from ragbench.models import HashingEmbedding, complete, make_embedding, make_llm
from ragbench.pipeline.index import chunk_documents
from ragbench.pipeline.prompts import format_context, render_prompt
from ragbench.pipeline.rag import cited_doc_ids, doc_id_of
from ragbench.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SWEEP = {
    "chunking.chunk_size": [256, 512, 1024],
    "retrieval.top_k": [2, 4],
    "retrieval.method": ["dense", "bm25"],
}


def make_subset(limit: int, max_docs: int, seed: int, out: Path) -> None:
    """A qa-folder dataset: the first `limit` questions' gold essays plus seeded distractors."""
    full = load_dataset(DatasetConfig(loader="pg-essays", path=str(SHARED / "pg-essays")))
    questions = full.questions[:limit]
    gold = {d for q in questions for d in q.gold_doc_ids}
    others = sorted(d.id_ for d in full.corpus if d.id_ not in gold)
    keep = gold | set(random.Random(seed).sample(others, max(0, max_docs - len(gold))))
    (out / "corpus").mkdir(parents=True)
    for doc in full.corpus:
        if doc.id_ in keep:
            shutil.copy(doc.metadata["source"], out / "corpus" / doc.id_)
    with (out / "questions.jsonl").open("w") as handle:
        for q in questions:
            handle.write(json.dumps(q.__dict__) + "\n")


def experiment(path: Path, limit: int, top_n: int) -> dict:
    return {
        "name": "sweep-cost",
        "dataset": {"loader": "qa-folder", "path": str(path)},
        "base": {"generation": {"llm": {"provider": "local", "max_tokens": 160}}},
        "sweep": SWEEP,
        "metrics": ["hit_rate", "mrr", "faithfulness"],
        "staged": {"rank_by": "mrr", "top_n": top_n},
        "judge_limit": limit,
    }


def unique_work_seconds(db: Path, run_id: str, embed_seconds: float) -> float:
    """Embedding time plus the time of every LLM call the run actually made (not cache hits)."""
    store = Store(db)
    gen = store.query(
        "SELECT json_extract(value_json, '$.seconds')::DOUBLE AS s FROM cache "
        "WHERE kind = 'generation'"
    ).s.sum()
    judge = store.query(
        "SELECT sum(seconds) AS s FROM scores WHERE run_id = ? AND seconds > 0", [run_id]
    ).s.iloc[0]
    return embed_seconds + float(gen or 0) + float(judge or 0)


def naive(config_data: dict, dataset_path: Path) -> float:
    """Every trial from scratch: chunk, embed, index, retrieve, answer, judge; no caches, no staging."""
    from llama_index.core import VectorStoreIndex
    from llama_index.retrievers.bm25 import BM25Retriever

    config = parse_config(config_data)
    from ragbench.config.experiment import expand

    dataset = load_dataset(DatasetConfig(loader="qa-folder", path=str(dataset_path)))
    start = time.perf_counter()
    trials = expand(config)
    embed = make_embedding(trials[0].pipeline.embedding)
    llm = make_llm(trials[0].pipeline.generation.llm)
    judge = Judge(trials[0].pipeline.judge, make_llm(trials[0].pipeline.judge), HashingEmbedding())
    for trial in trials:
        cfg = trial.pipeline
        nodes = chunk_documents(cfg.chunking, embed, dataset.corpus).nodes
        index = VectorStoreIndex(nodes, embed_model=embed)
        if cfg.retrieval.method == "dense":
            retriever = index.as_retriever(similarity_top_k=cfg.retrieval.top_k)
        else:
            retriever = BM25Retriever.from_defaults(
                nodes=nodes, similarity_top_k=cfg.retrieval.top_k
            )
        for q in dataset.questions:
            chunks = retriever.retrieve(q.user_input)
            contexts = [c.node.get_content() for c in chunks]
            doc_ids = [doc_id_of(c) for c in chunks]
            prompt = render_prompt(
                cfg.generation.prompt, format_context(contexts, doc_ids), q.user_input
            )
            text, _, _ = complete(llm, prompt)
            cited_doc_ids(text, doc_ids)
            judge.score("faithfulness", q.user_input, text, contexts)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=2, help="questions per trial")
    parser.add_argument("--max-docs", type=int, default=30, help="essays in the corpus")
    parser.add_argument("--top-n", type=int, default=2, help="trials staged search keeps")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ragbench-sweep-cost-"))
    make_subset(args.limit, args.max_docs, 0, tmp / "data")
    data = experiment(tmp / "data", args.limit, args.top_n)
    db = tmp / "bench.duckdb"

    start = time.perf_counter()
    first = run(parse_config(data), db=db, progress=False)
    wall = time.perf_counter() - start
    unique = unique_work_seconds(db, first.run_id, first.stats.embed_seconds)
    start = time.perf_counter()
    run(parse_config(data), db=db, progress=False)
    warm = time.perf_counter() - start

    print(f"dataset: {first.stats.dataset}")
    print(
        f"trials: 12; chunks embedded {first.stats.chunks_embedded}, answers generated "
        f"{first.stats.generated}, judged {first.stats.judged}"
    )
    print(f"ragbench first run: {wall:8.1f} s   unique work: {unique:8.1f} s")
    print(f"(a) wall / unique work        = {wall / unique:6.2f}   (target <= 1.3)")
    print(
        f"(c) warm re-run: {warm:6.1f} s = {100 * warm / wall:5.1f}% of the first run (target <= 5%)"
    )
    if not args.skip_naive:
        naive_s = naive(data, tmp / "data")
        print(f"naive script: {naive_s:8.1f} s")
        print(f"(b) naive / ragbench          = {naive_s / wall:6.2f}   (target >= 5)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
