"""Which BM25 margin tells a question that names its subject from one that does not?

The labelled sample behind ``ragbench.synth.specific.SPECIFIC_MARGIN``:

- stand alone: the 55 pg-essays questions written by people (``qa_pairs.json``), each with its
  gold essay; the COVID-QA expert questions are printed for information (written for one paper
  each, most name their subject, some do not: "What was the sample size?");
- do not stand alone: vague questions modelled on issue 21's rejected examples ("What is the
  task?", "What is the batch size used in the training of the models?") and their like for each
  corpus, each asked as if it came from 5 of the documents that match it at all (a vague question
  is drafted from a passage that mentions its words, in any of the papers that do); and, the
  hard case, as if it came from each of the 3 documents that match it best.

For each margin it prints the share of stand-alone questions kept and of vague ones rejected,
per corpus, with ``margin = (own best passage - best passage of any other document) / own``.

    .venv/bin/python benchmarks/standalone_margin.py [--shared ../shared/datasets]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

from ragbench.synth.sampling import PassageIndex, split_passages
from ragbench.synth.specific import SPECIFIC_MARGIN, specificity

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
ISSUE = ["What is the task?", "What is the batch size used in the training of the models?"]
VAGUE = {
    "pg-essays": [
        "What did he do after college?",
        "How much money did the company raise?",
        "What is the best way to start?",
        "Why did they fail?",
        "What programming language was used?",
        "When was it founded?",
        "How many users did it have?",
        "What was the first product?",
        "Who funded them?",
        "What is the main advantage?",
        "What did the investors want?",
        "What mistake do founders make?",
    ],
    "covid-qa": [
        "What was the sample size of the study?",
        "What were the main findings?",
        "What method was used to detect the virus?",
        "How many patients were included?",
        "What is the mortality rate?",
        "Which virus was studied?",
        "What were the limitations of the study?",
        "How long was the follow-up period?",
        "What statistical test was used?",
        "What was the primary outcome?",
        "Where was the study conducted?",
        "When were the samples collected?",
    ],
}
MARGINS = [round(0.1 * i, 1) for i in range(-8, 5)]


def pg_essays(root: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted((root / "essays").glob("*.txt"))}
    pairs = json.loads((root / "qa_pairs.json").read_text(encoding="utf-8"))
    return texts, [(r["question"], r["essay"]) for r in pairs]


def covid_qa(root: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    data = json.loads((root / "200423_covidQA.json").read_text(encoding="utf-8"))["data"]
    texts, questions = {}, []
    for d in data:
        par = d["paragraphs"][0]
        doc = str(par["document_id"])
        texts[doc] = par["context"]
        questions += [(q["question"], doc) for q in par["qas"]]
    return texts, questions


def margins(index: PassageIndex, asked: list[tuple[str, str]]) -> list[float]:
    return [specificity(index, q, doc).margin for q, doc in asked]


def vague_samples(index: PassageIndex, questions: list[str], hard: bool) -> list[tuple[str, str]]:
    """Each vague question as if drafted from 5 documents it matches at all (seeded), or, when
    ``hard``, from each of the 3 documents that match it best."""
    rng = random.Random(0)
    out = []
    for q in questions:
        docs = list(dict.fromkeys(p.doc_id for p, _ in index.search(q, 200)))
        picked = docs[:3] if hard else rng.sample(docs, min(5, len(docs)))
        out += [(q, d) for d in picked]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--covid-questions", type=int, default=300, help="sampled, for information")
    args = parser.parse_args(argv)
    print(f"Stand-alone margin, {dt.date.today()} (ragbench SPECIFIC_MARGIN = {SPECIFIC_MARGIN})")
    rows: dict[str, list[float]] = {}
    for name, load in (("pg-essays", pg_essays), ("covid-qa", covid_qa)):
        texts, human = load(args.shared / name)
        index = PassageIndex([p for d, t in texts.items() for p in split_passages(d, t)])
        if name == "covid-qa":
            human = human[:: max(1, len(human) // args.covid_questions)]
        rows[f"{name} people's questions ({len(human)}), kept"] = margins(index, human)
        vague = vague_samples(index, VAGUE[name] + ISSUE, hard=False)
        rows[f"{name} vague questions ({len(vague)}), rejected"] = margins(index, vague)
        hard = vague_samples(index, VAGUE[name] + ISSUE, hard=True)
        rows[f"{name} vague, from a top-3 document ({len(hard)}), rejected"] = margins(index, hard)
    width = max(len(k) for k in rows)
    print(f"{'margin':<{width}} " + " ".join(f"{m:>5.2f}" for m in MARGINS))
    for label, values in rows.items():
        keep = label.endswith("kept")
        shares = [sum((v >= m) if keep else (v < m) for v in values) / len(values) for m in MARGINS]
        print(f"{label:<{width}} " + " ".join(f"{s:>5.2f}" for s in shares))
    print(
        "kept: share with margin >= the column's value; rejected: share below it. "
        "margin = (own document's best BM25 passage - best other document's) / own"
    )


if __name__ == "__main__":
    main()
