"""Do synthesized questions rank retrieval set-ups the way human-written questions do?

Runs the same retrieval-only sweep (chunk size x retriever x top_k, local MiniLM embeddings, no LLM)
twice over one corpus: once with the questions ``ragbench synth`` wrote, once with the corpus's
human-written questions, and prints

- each set-up's mean on both question sets and its rank;
- Kendall's tau-b between the two rankings and the share of set-up pairs both sets order the same
  way, each with a 95% bootstrap interval (questions resampled within each set, 2,000 draws);
- the weakest vs the strongest set-up on the synthesized set: paired difference, CI and sign-flip
  p-value (``ragbench.stats.paired_comparison``).

    .venv/bin/python benchmarks/synth_agreement.py --questions results/pg-synth.jsonl \
        [--corpus ../shared/datasets/pg-essays] [--metric mrr] [--db results/agreement.duckdb]

The human set is read with the corpus's own loader (``pg-essays``: 55 questions with gold essays);
synthesized questions with the ``documents`` loader over the same files, so both runs share chunks
and embeddings (embedded once, from the store's cache). Only accepted synthesized questions are used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from ragbench.config.experiment import parse_config
from ragbench.experiment.orchestrator import run
from ragbench.stats.paired import paired_comparison
from ragbench.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SWEEP = {
    "chunking.chunk_size": [128, 512],
    "retrieval.method": ["bm25", "dense", "hybrid"],
    "retrieval.top_k": [1, 4],
}
METRICS = ["hit_rate", "mrr", "ndcg"]


def experiment(name: str, dataset: dict, limit: int | None) -> dict:
    return {
        "name": name,
        "dataset": dataset,
        "base": {
            "chunking": {"method": "sentence", "chunk_overlap": 32},
            "embedding": {"provider": "local", "batch_size": 64},
        },
        "sweep": SWEEP,
        "metrics": METRICS,
        "limit": limit,
    }


def matrix(store: Store, run_id: str, metric: str) -> pd.DataFrame:
    """Questions x set-ups (trial labels) of one metric."""
    scores = store.scores(run_id)
    scores = scores[(scores.metric == metric) & scores.error.isna()]
    return scores.pivot_table(index="question_id", columns="label", values="value")


def concordance(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """(Kendall's tau-b, share of set-up pairs ordered the same way among pairs both order)."""
    tau = float(kendalltau(a.values, b.values).statistic)
    agree = total = 0
    for x, y in combinations(a.index, 2):
        da, db = np.sign(a[x] - a[y]), np.sign(b[x] - b[y])
        if da != 0 and db != 0:
            total += 1
            agree += da == db
    return tau, (agree / total if total else float("nan"))


def bootstrap(synth: pd.DataFrame, human: pd.DataFrame, draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    s_values, h_values = synth.to_numpy(), human.to_numpy()
    for _ in range(draws):
        s = s_values[rng.integers(0, len(s_values), len(s_values))].mean(axis=0)
        h = h_values[rng.integers(0, len(h_values), len(h_values))].mean(axis=0)
        out.append(concordance(pd.Series(s), pd.Series(h)))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", required=True, help="a question file ragbench synth wrote")
    parser.add_argument("--corpus", default=str(SHARED / "pg-essays"))
    parser.add_argument("--metric", default="mrr", choices=METRICS)
    parser.add_argument("--db", default=None, help="results file (default: a fresh temp file)")
    parser.add_argument("--limit", type=int, default=None, help="human questions to use")
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    corpus = Path(args.corpus).resolve()
    db = Path(args.db) if args.db else Path(os.environ.get("TMPDIR", "/tmp")) / "agreement.duckdb"
    synth_cfg = experiment(
        "agreement-synth",
        {"loader": "documents", "path": str(corpus / "essays"), "questions": args.questions},
        None,
    )
    human_cfg = experiment(
        "agreement-human", {"loader": "pg-essays", "path": str(corpus)}, args.limit
    )
    runs = {}
    for key, cfg in (("synth", synth_cfg), ("human", human_cfg)):
        result = run(parse_config(cfg), db=db, progress=True)
        runs[key] = result.run_id
    store = Store(db, read_only=True)
    synth = matrix(store, runs["synth"], args.metric)
    human = matrix(store, runs["human"], args.metric)
    labels = sorted(set(synth.columns) & set(human.columns))
    synth, human = synth[labels].dropna(), human[labels].dropna()
    table = pd.DataFrame({"synth": synth.mean(), "human": human.mean()})
    table["synth_rank"] = table.synth.rank(ascending=False)
    table["human_rank"] = table.human.rank(ascending=False)
    tau, share = concordance(table.synth, table.human)
    boots = bootstrap(synth, human, args.draws, seed=0)
    tau_ci = np.nanpercentile(boots[:, 0], [2.5, 97.5])
    share_ci = np.nanpercentile(boots[:, 1], [2.5, 97.5])
    print(
        f"{dt.date.today()} on {os.cpu_count()} cores; metric {args.metric}; "
        f"{len(synth)} synthesized vs {len(human)} human questions; {len(labels)} set-ups"
    )
    print(table.sort_values("human", ascending=False).round(3).to_string())
    print(f"Kendall's tau-b {tau:.2f} [95% bootstrap CI {tau_ci[0]:.2f}, {tau_ci[1]:.2f}]")
    print(
        f"pairs ordered the same way {share:.0%} [95% bootstrap CI {share_ci[0]:.0%}, "
        f"{share_ci[1]:.0%}]"
    )
    weak, strong = table.synth.idxmin(), table.synth.idxmax()
    paired = paired_comparison(synth[strong].to_dict(), synth[weak].to_dict())
    print(
        f"synthesized set, strongest '{strong}' vs weakest '{weak}': "
        f"{paired.mean_diff:+.3f} [{paired.ci_low:+.3f}, {paired.ci_high:+.3f}], "
        f"p={paired.p_value:.2g}, n={paired.n}"
    )
    print(f"runs in {db}: synth {runs['synth']}, human {runs['human']}")


if __name__ == "__main__":
    main()
