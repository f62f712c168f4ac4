"""Loading one large CSV as a corpus: seconds and peak memory of ``load_corpus`` on N rows.

Writes one synthetic CSV (an id, a title, a 3-sentence body, a category, a date and an
``allowed_groups`` column, ~330 bytes a row, plus ``--extra-columns`` short columns such as an
export of a catalogue has), then loads it with ``data.corpus.load_corpus`` in a
child process (so the peak RSS is the load's alone) and prints the rows, the file size, the
seconds and the peak RSS, with the date and the machine.

    .venv/bin/python benchmarks/csv_load.py [--rows 200000] [--extra-columns 24]

Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

WORDS = (
    "harbour ferry library archive council budget volunteer lighthouse storm pier membership "
    "report branch opening hours fee policy collection map ledger ship captain tide river bridge"
).split()
CHILD = """
import sys, time
from pathlib import Path
from ragbench.data.corpus import load_corpus
start = time.perf_counter()
docs, skipped = load_corpus(Path(sys.argv[1]))
print(len(docs), len(skipped), f"{time.perf_counter() - start:.1f}")
"""


def write_csv(path: Path, rows: int, extra: int = 0, seed: int = 0) -> None:
    """``rows`` deterministic rows of a catalogue-like table."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        more = [f"attr{i}" for i in range(extra)]
        out.writerow(["id", "title", "body", "category", "date", "allowed_groups", *more])
        for n in range(rows):
            body = " ".join(
                " ".join(rng.choices(WORDS, k=rng.randint(8, 14))).capitalize() + "."
                for _ in range(3)
            )
            title = " ".join(rng.choices(WORDS, k=4)).title()
            group = rng.choice(["", "staff", "staff, board"])
            cells = [rng.choice(WORDS) for _ in more]
            month = f"2024-{n % 12 + 1:02d}-01"
            out.writerow([f"r{n}", title, body, rng.choice(WORDS), month, group, *cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--extra-columns", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        write_csv(corpus / "table.csv", args.rows, args.extra_columns)
        size = (corpus / "table.csv").stat().st_size
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(corpus)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    docs, skipped, seconds = done.stdout.split()
    print(
        f"{date.today()} on {platform.node()} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()})"
    )
    columns = 6 + args.extra_columns
    print(
        f"{args.rows:,} rows x {columns} columns, {size / 1e6:.0f} MB: {docs} documents, {skipped} skipped; "
        f"load_corpus {seconds} s ({wall:.1f} s with the interpreter), peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
