"""The largest single file the default pipeline takes: load + chunk (sentence, 256) + index.

Writes one synthetic plain-text file of each size (prose sentences, paragraphs separated by one
blank line, as most real text is; LlamaIndex's SentenceSplitter only splits paragraphs on two blank
lines, so without ragbench's pre-split its NLTK sentence tokenizer gets the whole file) and prints,
per size, the seconds to load it, chunk it with the default chunker and index it with the hashing
embedder (so the figure is about ragbench, not about the embedding model; with all-MiniLM-L6-v2 add
chunks / ~36 chunks/s on 2 cores, see the ingestion benchmark), plus the peak memory (max RSS).

    .venv/bin/python benchmarks/large_file.py [--sizes-mb 1 5 20 50]

Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from ragbench.config.experiment import PipelineConfig
from ragbench.data.corpus import load_corpus
from ragbench.data.datasets import Dataset, Question
from ragbench.pipeline.rag import Builder

WORDS = (
    "harbour ferry library archive council budget volunteer lighthouse storm pier membership "
    "report branch opening hours fee policy collection map ledger ship captain tide river bridge "
    "flood repair school reader loan card digital service event lecture map survey"
).split()


def prose(megabytes: float, seed: int = 0) -> str:
    """Deterministic sentences of 6-20 words, 3-8 sentences a paragraph, until the size is met."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    paragraphs, size = [], 0
    while size < target:
        sentences = []
        for _ in range(rng.randint(3, 8)):
            words = rng.choices(WORDS, k=rng.randint(6, 20))
            sentences.append(" ".join(words).capitalize() + f" in {rng.randint(1900, 2025)}.")
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[1, 5, 20, 50])
    args = parser.parse_args()
    cfg = PipelineConfig.model_validate(
        {"embedding": {"provider": "hashing"}, "generation": {"llm": {"provider": "fake"}}}
    )
    print(f"{'MB':>6} {'load s':>8} {'chunk s':>8} {'index s':>8} {'chunks':>8} {'max RSS MB':>11}")
    for mb in args.sizes_mb:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "big.txt").write_text(prose(mb), encoding="utf-8")
            start = time.perf_counter()
            docs, skipped = load_corpus(Path(tmp))
            loaded = time.perf_counter()
            builder = Builder(
                Dataset("big", docs, [Question("q", "When was the pier repaired?", "")])
            )
            chunks = builder.indexer.chunks(cfg)
            chunked = time.perf_counter()
            builder.build(cfg).retrieve("When was the pier repaired?")
            done = time.perf_counter()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{mb:>6g} {loaded - start:>8.1f} {chunked - loaded:>8.1f} {done - chunked:>8.1f} "
            f"{len(chunks.nodes):>8} {rss:>11.0f}",
            flush=True,
        )
        assert not skipped, skipped


if __name__ == "__main__":
    main()
