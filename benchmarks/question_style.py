"""How far are synthesized questions from people's? Overlap with the evidence, length, type.

Prints, for each question set, the number of questions, the mean share of a question's content
words found in its evidence span (``overlap``), the mean length in words, and the share of each
question type (``ragbench.synth.style.TYPES``); then the distance of each synthesized set to each
human set: overlap difference, length difference (synthesized - human) and the total-variation
distance of the type mixes (0 same mix, 1 nothing in common).

Human sets (read in place from ../shared/datasets): pg-essays ``qa_pairs.json`` (question and its
``quote`` span) and COVID-QA (question and its answer span, and the sentence(s) around it). Synthesized: the committed sample
``ragbench/demo/synth_sample.jsonl`` and any ``--synth FILE`` (a ``ragbench synth`` output; its
answerable rows with gold spans, accepted or not unless ``--accepted``).

    .venv/bin/python benchmarks/question_style.py [--synth results/pg-synth.jsonl]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from ragbench.synth.sampling import sentence_spans
from ragbench.synth.style import TYPES, StyleProfile, distance, profile

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SAMPLE = ROOT / "ragbench" / "demo" / "synth_sample.jsonl"
SHORT = {"yes-no": "y/n"}


def pg_pairs(shared: Path) -> list[tuple[str, str]]:
    rows = json.loads((shared / "pg-essays" / "qa_pairs.json").read_text(encoding="utf-8"))
    return [(r["question"], r["quote"]) for r in rows]


def covid_pairs(shared: Path, sentence: bool) -> list[tuple[str, str]]:
    """COVID-QA questions with their answer span, or (``sentence``) the context's sentence(s)
    holding it (the answers are often a phrase; people's evidence in pg-essays is a sentence)."""
    data = json.loads((shared / "covid-qa" / "200423_covidQA.json").read_text(encoding="utf-8"))
    pairs = []
    for d in data["data"]:
        context = d["paragraphs"][0]["context"]
        spans = sentence_spans(context) if sentence else []
        for q in d["paragraphs"][0]["qas"]:
            if not q["answers"]:
                continue
            answer = q["answers"][0]
            start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
            around = [context[a:b] for a, b in spans if a < end and b > start]
            pairs.append((q["question"], " ".join(around) if sentence else answer["text"]))
    return pairs


def synth_pairs(path: Path, accepted_only: bool) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if accepted_only and row.get("status", "accepted") != "accepted":
            continue
        if row.get("gold_spans"):
            pairs.append((row["user_input"], " ".join(row["gold_spans"])))
    return pairs


def table(profiles: dict[str, StyleProfile]) -> list[str]:
    width = max(len(k) for k in profiles)
    head = f"{'set':<{width}} {'n':>5} {'overlap':>7} {'words':>6} " + " ".join(
        f"{SHORT.get(t, t):>5}" for t in TYPES
    )
    lines = [head]
    for name, p in profiles.items():
        shown = "-" if p.overlap is None else f"{p.overlap:.2f}"
        lines.append(
            f"{name:<{width}} {p.n:>5} {shown:>7} {p.length:>6.1f} "
            + " ".join(f"{p.types[t]:>5.2f}" for t in TYPES)
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--synth", type=Path, nargs="*", default=[])
    parser.add_argument("--accepted", action="store_true", help="accepted rows only")
    args = parser.parse_args(argv)
    human = {
        "pg-essays (people)": profile(pg_pairs(args.shared)),
        "covid-qa (people, answer)": profile(covid_pairs(args.shared, sentence=False)),
        "covid-qa (people, sentence)": profile(covid_pairs(args.shared, sentence=True)),
    }
    synth = {
        f"{path.name} (synth)": profile(synth_pairs(path, args.accepted))
        for path in [SAMPLE, *args.synth]
    }
    print(f"Question style, {dt.date.today()}: overlap = share of the question's content words in")
    print("its evidence span; words = mean length; then the share of each question type")
    print("\n".join(table(human | synth)))
    print("distance (synth - people): overlap, words, type mix (total variation)")
    for s_name, s in synth.items():
        for h_name, h in human.items():
            d = distance(s, h)
            gap = "-" if d.overlap is None else f"{d.overlap:+.2f}"
            print(f"  {s_name} vs {h_name}: {gap}, {d.length:+.1f}, {d.types:.2f}")


if __name__ == "__main__":
    main()
