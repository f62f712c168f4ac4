"""Metrics you can trust: retrieval metrics by hand and against a maintained IR library
(ir-measures over trec_eval), and the reference-based RAGAS metrics through the Judge (inputs,
cache keys, recorded failures, token accounting)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ir_measures
import pytest
import pytrec_eval
from conftest import FAKE_MODELS, DictCache, fake_experiment
from ir_measures import RR, R, Success, nDCG
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback

from ragbench.config.experiment import ConfigError, LLMConfig, parse_config
from ragbench.judge.scoring import Judge, judge_details
from ragbench.metrics import (
    ANSWER as ANSWER_SCORES,
)
from ragbench.metrics import (
    ANSWER_METRICS,
    GOLD_METRICS,
    JUDGED_METRICS,
    METRICS,
    RANKED_METRICS,
    RETRIEVAL_METRICS,
    abstained,
    applies,
    content_words,
    declines,
)
from ragbench.metrics import (
    JUDGED as METRIC_INPUTS,
)
from ragbench.metrics.retrieval import (
    distinct_docs,
    hit_rate,
    mrr,
    ndcg,
    recall,
    reference_recall,
    retrieval_scores,
    span_coverage,
)
from ragbench.models import FakeLLM, HashingEmbedding
from ragbench.pipeline.prompts import NOT_FOUND
from ragbench.store import Store

QUESTION = "When was the Corran lighthouse built?"
ANSWER = "The Corran lighthouse was built in 1871 [1]."
CONTEXTS = ["The Corran lighthouse was built in 1871 by Ada Finch.", "The ferry leaves at 7:15."]
REFERENCE = "It was built in 1871 by Ada Finch."
NEW_JUDGED = ["context_precision", "context_recall", "answer_correctness", "semantic_similarity"]
NEEDS_REFERENCE = NEW_JUDGED  # every new judged metric compares against the reference answer


# --- retrieval metrics by hand -------------------------------------------------------------------


def dcg(*ranks: int) -> float:
    """DCG of binary gains at these 1-based ranks."""
    return sum(1 / math.log2(r + 1) for r in ranks)


def test_metric_names_match_the_config() -> None:
    assert set(RANKED_METRICS) | {"span_coverage"} == set(GOLD_METRICS)
    assert set(RETRIEVAL_METRICS) == set(GOLD_METRICS) | {"reference_recall"}
    assert set(ANSWER_SCORES) == set(ANSWER_METRICS) == {"abstained"}
    assert set(METRICS) == set(RETRIEVAL_METRICS) | set(JUDGED_METRICS) | set(ANSWER_METRICS)


def test_distinct_docs_keeps_the_first_occurrence() -> None:
    assert distinct_docs(["d3", "d1", "d3", "d2", "d1"]) == ["d3", "d1", "d2"]
    assert distinct_docs([]) == []


def test_worked_example_from_the_issue() -> None:
    retrieved, gold = ["d3", "d1", "d2", "d1"], ["d1", "d2"]
    assert hit_rate(retrieved, gold, k=4) == 1.0
    assert mrr(retrieved, gold, k=4) == 0.5
    assert recall(retrieved, gold, k=4) == 1.0
    # distinct docs d3, d1, d2: gold at ranks 2 and 3; ideal: 2 gold docs at ranks 1 and 2
    assert ndcg(retrieved, gold, k=4) == pytest.approx(dcg(2, 3) / dcg(1, 2), abs=1e-12)
    assert ndcg(retrieved, gold, k=4) == pytest.approx(0.6934264036172708, abs=1e-12)


@pytest.mark.parametrize(
    ("retrieved", "gold", "k", "hit", "rr"),
    [
        (["a", "b", "c"], ["a"], 3, 1.0, 1.0),
        (["a", "b", "c"], ["c"], 3, 1.0, 1 / 3),
        (["x", "b", "b"], ["b", "z"], 3, 1.0, 0.5),
        (["x", "y"], ["b"], 2, 0.0, 0.0),
        ([], ["b"], 3, 0.0, 0.0),
        (["x", "x", "x", "g"], ["g"], 4, 1.0, 0.5),  # ranks count distinct docs, not chunks
        (["a", "b", "c"], ["c"], 2, 0.0, 0.0),  # below the cutoff
    ],
)
def test_hit_rate_and_mrr(
    retrieved: list[str], gold: list[str], k: int, hit: float, rr: float
) -> None:
    assert hit_rate(retrieved, gold, k=k) == hit
    assert mrr(retrieved, gold, k=k) == pytest.approx(rr, abs=1e-12)


@pytest.mark.parametrize(
    ("retrieved", "gold", "k", "expected"),
    [
        (["a", "b", "c"], ["a"], 3, 1.0),
        (["a", "a"], ["a", "b"], 2, 0.5),  # duplicate chunks of one doc count once
        (["x", "y"], ["a", "b"], 2, 0.0),
        (["a", "b"], ["a", "a"], 2, 1.0),  # duplicate gold ids count once
        ([], ["a"], 3, 0.0),
        (["c", "b", "a", "d"], ["a", "b", "c"], 4, 1.0),
        (["c", "b", "a", "d"], ["a", "b", "c"], 2, 2 / 3),  # a at rank 3 is past the cutoff
        (["a", "b"], ["a", "b", "c"], 2, 2 / 3),  # more gold than k: cannot reach 1
    ],
)
def test_recall(retrieved: list[str], gold: list[str], k: int, expected: float) -> None:
    assert recall(retrieved, gold, k=k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("retrieved", "gold", "k", "expected"),
    [
        (["g", "x"], ["g"], 2, 1.0),
        (["x", "g"], ["g"], 2, 1 / math.log2(3)),
        (["x", "x", "g"], ["g"], 3, 1 / math.log2(3)),  # ranks count distinct docs
        (["x", "y", "z"], ["g"], 3, 0.0),
        ([], ["g"], 3, 0.0),
        (["a", "b"], ["a", "b", "c"], 2, 1.0),  # ideal cut at k = 2
        (["a", "b"], ["a", "b", "c"], 3, dcg(1, 2) / dcg(1, 2, 3)),  # short list, full ideal
        (["a", "x", "b"], ["a", "b"], 3, dcg(1, 3) / dcg(1, 2)),
        (["x", "g"], ["g"], 1, 0.0),
        (["g", "x", "h"], ["g", "h"], 2, dcg(1) / dcg(1, 2)),
    ],
)
def test_ndcg(retrieved: list[str], gold: list[str], k: int, expected: float) -> None:
    assert ndcg(retrieved, gold, k=k) == pytest.approx(expected, abs=1e-12)


def test_ndcg_graded_gains() -> None:
    gains = {"a": 3.0, "b": 1.0, "c": 2.0}
    # retrieved b (gain 1), x (0), a (3); ideal: a (3), c (2), b (1)
    expected = (1 / math.log2(2) + 3 / math.log2(4)) / (3 + 2 / math.log2(3) + 1 / math.log2(4))
    assert ndcg(["b", "x", "a"], ["a", "b", "c"], k=3, gains=gains) == pytest.approx(expected)
    # a gold document the gains leave out has gain 1; fractional gains are fine
    assert ndcg(["b", "a"], ["a", "b"], k=2, gains={"a": 0.5}) == pytest.approx(
        (1 + 0.5 / math.log2(3)) / (1 + 0.5 / math.log2(3))
    )
    assert ndcg(["a", "b"], ["a", "b"], k=2, gains={"a": 0.5}) < 1.0
    # the graded ideal is cut at k too
    assert ndcg(["a"], ["a", "b", "c"], k=1, gains=gains) == 1.0
    # trec-style qrels: a judged non-relevant document (gain 0) is the same as an unjudged one
    assert ndcg(["x", "a"], ["a", "b", "c"], k=3, gains=gains | {"x": 0}) == ndcg(
        ["x", "a"], ["a", "b", "c"], k=3, gains=gains
    )


def test_short_list_is_scored_against_the_full_ideal() -> None:
    """Regression: nDCG used k = len(retrieved), so a retriever returning fewer items than top_k
    (auto-merging, the access filter) was compared with a smaller ideal and looked better."""
    retrieved, gold = ["g"], ["g", "h"]
    old = dcg(1) / dcg(*range(1, min(len(gold), len(retrieved)) + 1))  # the old k = len(list)
    assert old == 1.0
    assert ndcg(retrieved, gold, k=3) == pytest.approx(dcg(1) / dcg(1, 2))
    assert ndcg(retrieved, gold, k=3) < old


def chunk_rank_mrr(retrieved: list[str], gold: list[str]) -> float:
    """The old MRR: the rank of the first gold *chunk*, duplicates of a document included."""
    for rank, doc_id in enumerate(retrieved, start=1):
        if doc_id in gold:
            return 1.0 / rank
    return 0.0


def test_mrr_ranks_documents_not_chunks() -> None:
    """Regression: MRR ranked chunks while nDCG ranked distinct documents, so a document retrieved
    twice before the first gold one pushed MRR down (the README's 8-of-3,000 finding)."""
    retrieved, gold = ["x", "x", "g", "y"], ["g"]
    assert chunk_rank_mrr(retrieved, gold) == pytest.approx(1 / 3)
    assert mrr(retrieved, gold, k=4) == 0.5
    # the library agrees with the new definition on the distinct-document run
    assert library_scores([Case("q", retrieved, gold, None, 4)])["q"]["mrr"] == 0.5
    # and the two MRRs now agree with nDCG about where the gold document is
    assert ndcg(retrieved, gold, k=4) == pytest.approx(1 / math.log2(3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mrr(["a"], ["a"], k=0), "k must be a positive integer"),
        (lambda: ndcg(["a"], ["a"], k=True), "k must be a positive integer"),  # type: ignore[arg-type]
        (lambda: retrieval_scores(["a"], [], ["mrr"], k=-1), "k must be a positive integer"),
        (lambda: ndcg(["a"], ["a"], k=1, gains={"b": 2.0}), "not a gold document"),
        (lambda: ndcg(["a"], ["a"], k=1, gains={"b": -1.0}), "not a gold document"),
        (lambda: ndcg(["a"], ["a"], k=1, gains={"a": 0.0}), "positive finite"),
        (lambda: ndcg(["a"], ["a"], k=1, gains={"a": math.nan}), "positive finite"),
        (lambda: ndcg(["a"], ["a"], k=1, gains={"a": "2"}), "must be a number"),  # type: ignore[dict-item]
        (lambda: recall(["a"], [], k=1), "at least one gold document"),
        (lambda: ndcg(["a"], [], k=1), "at least one gold document"),
    ],
)
def test_bad_input_is_a_one_line_error(call: Callable[[], float], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


# --- retrieval metrics against ir-measures (trec_eval) ------------------------------------------


@dataclass
class Case:
    qid: str
    retrieved: list[str]  # chunk doc ids, best first, duplicates allowed
    gold: list[str]
    gains: dict[str, float] | None
    k: int


def qrels_of(cases: list[Case]) -> dict[str, dict[str, int]]:
    """trec qrels: each gold document with its gain (1 when binary), retrieved others judged 0."""
    return {
        c.qid: {d: 0 for d in c.retrieved}
        | {d: int(g) for d, g in (c.gains or {}).items()}
        | {d: int((c.gains or {}).get(d, 1)) for d in c.gold}
        for c in cases
    }


def run_of(c: Case, depth: int | None = None) -> dict[str, float]:
    """A run in our order: the libraries rank by score, so the distinct documents get strictly
    decreasing scores and the library sees exactly our distinct-document ranking."""
    ranked = distinct_docs(c.retrieved)[:depth]
    return {d: float(len(ranked) - i) for i, d in enumerate(ranked)}


def library_scores(cases: list[Case]) -> dict[str, dict[str, float]]:
    """hit_rate, mrr, recall and ndcg per query as ir-measures computes them: Success@k, R@k and
    nDCG@k by trec_eval (its pytrec_eval provider), RR@k by its own MS MARCO implementation. The
    library gets the whole distinct ranking and cuts it at k itself."""
    out: dict[str, dict[str, float]] = {c.qid: {} for c in cases}
    names = {Success: "hit_rate", RR: "mrr", R: "recall", nDCG: "ndcg"}
    for k in sorted({c.k for c in cases}):
        group = [c for c in cases if c.k == k]
        measures = {m @ k: name for m, name in names.items()}
        run = {c.qid: run_of(c) for c in group}
        for metric in ir_measures.iter_calc(list(measures), qrels_of(group), run):
            out[metric.query_id][measures[metric.measure]] = metric.value
    assert all(len(scores) == len(names) for scores in out.values()), "a query went unscored"
    return out


def trec_eval_scores(cases: list[Case]) -> dict[str, dict[str, float]]:
    """The same four metrics straight from pytrec_eval (trec_eval's C code). trec_eval's
    recip_rank has no cutoff, so every run is cut at k before it is evaluated."""
    out: dict[str, dict[str, float]] = {}
    for k in sorted({c.k for c in cases}):
        group = [c for c in cases if c.k == k]
        names = {f"success_{k}": "hit_rate", "recip_rank": "mrr", f"recall_{k}": "recall"}
        names[f"ndcg_cut_{k}"] = "ndcg"
        measures = {f"success.{k}", "recip_rank", f"recall.{k}", f"ndcg_cut.{k}"}
        evaluator = pytrec_eval.RelevanceEvaluator(qrels_of(group), measures)
        got = evaluator.evaluate({c.qid: run_of(c, depth=k) for c in group})
        out |= {qid: {names[m]: v for m, v in values.items()} for qid, values in got.items()}
    assert set(out) == {c.qid for c in cases}, "a query went unscored"
    return out


def random_cases(scenario: str, n: int, seed: int) -> list[Case]:
    """Seeded random queries of one kind over a pool of documents d0..d29."""
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(30)]
    cases = []
    for i in range(n):
        k = rng.randint(1, 10)
        n_gold = rng.randint(2, 6) if scenario in ("multi_gold", "graded") else rng.randint(1, 3)
        gold = rng.sample(pool, n_gold)
        others = [d for d in pool if d not in gold]
        length = rng.randint(0, k - 1) if scenario == "short" else rng.randint(k, 2 * k)
        if scenario == "no_relevant":
            retrieved = [rng.choice(others) for _ in range(length)]
        elif scenario == "duplicates":
            # few distinct documents, so chunks of one document repeat, often before a gold one
            few = rng.sample(others, 3) + gold
            retrieved = [rng.choice(few) for _ in range(length)]
        else:
            retrieved = [rng.choice(pool if rng.random() < 0.5 else gold) for _ in range(length)]
        gains = None
        if scenario == "graded":
            gains = {d: float(rng.randint(1, 4)) for d in gold if rng.random() < 0.8}
            gains |= {d: 0.0 for d in rng.sample(others, 2)}  # judged non-relevant, as in qrels
        cases.append(Case(f"{scenario}-{i}", retrieved, gold, gains, k))
    return cases


SCENARIOS = ["short", "duplicates", "multi_gold", "no_relevant", "graded"]


@pytest.mark.parametrize("oracle", [library_scores, trec_eval_scores])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_metric_agrees_with_the_ir_library(
    scenario: str, oracle: Callable[[list[Case]], dict[str, dict[str, float]]]
) -> None:
    cases = random_cases(scenario, n=100, seed=SCENARIOS.index(scenario))
    expected = oracle(cases)
    names = list(RANKED_METRICS)
    for c in cases:
        ours = retrieval_scores(c.retrieved, c.gold, names, k=c.k, gains=c.gains)
        assert set(ours) == set(names)
        for name in names:
            assert abs(ours[name] - expected[c.qid][name]) <= 1e-9, f"{name} on {c}"
    # the scenario holds what it says (so the comparison covers it)
    if scenario == "short":
        assert all(len(c.retrieved) < c.k for c in cases)
    if scenario == "duplicates":
        assert sum(len(set(c.retrieved)) < len(c.retrieved) for c in cases) > 50
    if scenario == "no_relevant":
        assert all(expected[c.qid]["hit_rate"] == 0.0 for c in cases)
    if scenario == "graded":
        assert sum(len(set((c.gains or {}).values())) > 1 for c in cases) > 30


def test_the_library_comparison_catches_the_old_definitions() -> None:
    """The comparison above can fail: the old chunk-rank MRR and the old nDCG (k = the list's
    length) disagree with the library on random runs with duplicates and short lists."""
    cases = random_cases("duplicates", 100, seed=1) + random_cases("short", 100, seed=0)
    expected = library_scores(cases)

    def old_ndcg(retrieved: list[str], gold: list[str]) -> float:
        k = len(retrieved)
        ranked = distinct_docs(retrieved)[:k]
        ideal = dcg(*range(1, min(len(set(gold)), k) + 1))
        return dcg(*[r for r, d in enumerate(ranked, start=1) if d in gold]) / ideal if ideal else 0

    mrr_off = sum(
        abs(chunk_rank_mrr(c.retrieved, c.gold) - expected[c.qid]["mrr"]) > 1e-9 for c in cases
    )
    ndcg_off = sum(
        abs(old_ndcg(c.retrieved, c.gold) - expected[c.qid]["ndcg"]) > 1e-9 for c in cases
    )
    assert mrr_off > 0 and ndcg_off > 0


# --- span coverage and retrieval_scores ----------------------------------------------------------


def test_span_coverage_ignores_whitespace_and_case() -> None:
    contexts = ["Intro.", "The Corran  lighthouse was\n built in 1871 BY ADA\tFinch."]
    assert span_coverage(contexts, ["built in 1871 by Ada Finch"]) == 1.0
    assert span_coverage(contexts, ["built in 1872 by Ada Finch"]) == 0.0
    assert span_coverage(contexts, ["nothing here", "  Built in 1871\n"]) == 1.0  # any span
    assert span_coverage([], ["built in 1871"]) == 0.0
    assert span_coverage(contexts, [""]) == 0.0  # an empty span is not evidence


def test_span_coverage_span_cut_by_a_chunk_boundary() -> None:
    span = "The keeper rowed out to the rock every evening at dusk to light the great lamp by hand"
    first = "Old customs. The keeper rowed out to the rock every evening at dusk to light"
    second = "the great lamp by hand. He did so for forty years."
    assert span not in first and span not in second
    assert span_coverage([second, first], [span]) == 1.0  # its first 60 characters are in `first`
    assert span_coverage([second], [span]) == 0.0  # only the tail: not counted


def test_retrieval_scores_all_metrics() -> None:
    contexts = ["x", "The Corran lighthouse was built in 1871.", "y", "z"]
    scores = retrieval_scores(
        ["d3", "d1", "d2", "d1"],
        ["d1", "d2"],
        list(RETRIEVAL_METRICS),
        k=4,
        contexts=contexts,
        gold_spans=["LIGHTHOUSE was built"],
        reference="The lighthouse was built in 1871.",
    )
    assert set(scores) == set(RETRIEVAL_METRICS)
    assert scores["reference_recall"] == 1.0  # lighthouse, built, 1871: all in the top 4
    assert scores["hit_rate"] == 1.0 and scores["mrr"] == 0.5 and scores["recall"] == 1.0
    assert scores["ndcg"] == pytest.approx(dcg(2, 3) / dcg(1, 2))
    assert scores["span_coverage"] == 1.0
    graded = retrieval_scores(["d3", "d1", "d2"], ["d1", "d2"], ["ndcg"], k=3, gains={"d2": 2.0})
    assert graded["ndcg"] == pytest.approx(
        ndcg(["d3", "d1", "d2"], ["d1", "d2"], k=3, gains={"d2": 2})
    )
    assert graded["ndcg"] != pytest.approx(scores["ndcg"])


def test_retrieval_scores_what_applies() -> None:
    metrics = list(RETRIEVAL_METRICS)
    # no gold document and no reference: nothing applies, spans or not
    assert retrieval_scores(["a"], [], metrics, k=3, contexts=["t"], gold_spans=["t"]) == {}
    # no gold spans: span_coverage does not apply (absent, not 0)
    assert "span_coverage" not in retrieval_scores(["a"], ["a"], metrics, k=3, contexts=["t"])
    assert "span_coverage" not in retrieval_scores(
        ["a"], ["a"], metrics, k=3, contexts=["t"], gold_spans=[]
    )
    # only the experiment's metrics; judged names are not ours to compute
    assert retrieval_scores(["a"], ["a"], ["recall"], k=3, contexts=["t"], gold_spans=["t"]) == {
        "recall": 1.0
    }
    assert retrieval_scores(["a", "b"], ["b"], ["hit_rate", "mrr", "faithfulness"], k=2) == {
        "hit_rate": 1.0,
        "mrr": 0.5,
    }


def test_k_is_required() -> None:
    with pytest.raises(TypeError):
        retrieval_scores(["a", "b"], ["b"], ["mrr"])  # type: ignore[call-arg]


# --- reference_recall: retrieval scored from the reference answer ----------------------------------

FERRY = "The ferry leaves at 7:15 from pier 4."  # content words: ferry leaves 7 15 pier 4


def test_content_words_are_unique_lowercased_tokens_without_stopwords() -> None:
    assert content_words(FERRY) == {"ferry", "leaves", "7", "15", "pier", "4"}
    assert content_words("Ferry, FERRY and the ferry!") == {"ferry"}
    assert content_words("It is what it was.") == set()


@pytest.mark.parametrize(
    ("contexts", "k", "expected"),
    [
        (["The ferry to Ostby leaves every morning.", "Boats use pier 9."], 2, 3 / 6),
        (["The ferry to Ostby leaves every morning.", "Boats use pier 9."], 1, 2 / 6),
        (["Boats use pier 9.", "The ferry to Ostby leaves every morning."], 1, 1 / 6),
        (["It leaves at 7:15 from pier 4, the ferry."], 3, 1.0),
        (["Ferries leave from piers."], 3, 0.0),  # words, not substrings or stems
        ([], 3, 0.0),
    ],
)
def test_reference_recall_exact_values(contexts: list[str], k: int, expected: float) -> None:
    assert reference_recall(contexts, FERRY, k=k) == pytest.approx(expected)


def test_reference_recall_counts_a_repeated_reference_word_once() -> None:
    assert reference_recall(["ferry pier"], "ferry ferry ferry pier harbour", k=1) == 2 / 3


def test_reference_recall_bad_input() -> None:
    with pytest.raises(ValueError, match="needs a reference answer with a content word"):
        reference_recall(["anything"], "It is.", k=1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        reference_recall(["ferry"], FERRY, k=0)


def test_reference_recall_applies_to_answerable_questions_with_a_reference() -> None:
    contexts = ["The ferry to Ostby leaves every morning.", "Boats use pier 9."]
    metrics = ["hit_rate", "mrr", "reference_recall"]
    # a labelled-answer-only question: no gold-doc rows at all (not zeros), reference_recall only
    assert retrieval_scores(["a", "b"], [], metrics, k=2, contexts=contexts, reference=FERRY) == {
        "reference_recall": 0.5
    }
    # with gold documents too, both kinds apply
    both = retrieval_scores(["a", "b"], ["b"], metrics, k=2, contexts=contexts, reference=FERRY)
    assert both == {"hit_rate": 1.0, "mrr": 0.5, "reference_recall": 0.5}
    # not applicable: no reference, a reference without content words, not listed, unanswerable
    assert retrieval_scores(["a"], [], metrics, k=2, contexts=contexts, reference="") == {}
    assert retrieval_scores(["a"], [], metrics, k=2, contexts=contexts, reference="It is.") == {}
    assert retrieval_scores(["a"], [], ["mrr"], k=2, contexts=contexts, reference=FERRY) == {}
    unanswerable = retrieval_scores(
        ["a"], [], metrics, k=2, contexts=contexts, reference=FERRY, answerable=False
    )
    assert unanswerable == {}


def test_reference_recall_is_a_valid_staged_rank_by_and_abstained_is_not() -> None:
    base = {"name": "x", "sweep": {"retrieval.top_k": [1, 2, 3]}}
    config = parse_config(
        {**base, "metrics": ["reference_recall"], "staged": {"rank_by": "reference_recall"}}
    )
    assert config.staged is not None and config.staged.rank_by == "reference_recall"
    with pytest.raises(
        ConfigError, match="'abstained' is judged only after stage 1 \\(it needs answers\\)"
    ):
        parse_config({**base, "metrics": ["abstained"], "staged": {"rank_by": "abstained"}})


# --- abstained: declining an unanswerable question -------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        NOT_FOUND,
        NOT_FOUND.upper(),
        "I don\u2019t know.",
        "I do not know: the sources say nothing about parking.",
        "The provided documents do not mention parking spaces.",
        "The context doesn't specify this.",
        "This is not mentioned in the sources.",
        "There is no information about dogs in the libraries.",
        "The question cannot be answered from these passages.",
        "I am unable to answer that.",
    ],
)
def test_abstained_is_one_for_a_refusal(response: str) -> None:
    assert declines(response) and abstained(response) == 1.0


@pytest.mark.parametrize(
    "response",
    [
        "The Central Library has 40 parking spaces [1].",
        "The fee does not include VAT [2].",
        "Dogs are not allowed, except assistance dogs [3].",
        "",
    ],
)
def test_abstained_is_zero_for_an_answer(response: str) -> None:
    assert not declines(response) and abstained(response) == 0.0


def test_abstained_applies_to_unanswerable_questions_only() -> None:
    assert applies("abstained", answerable=False) and not applies("abstained", answerable=True)
    assert applies("faithfulness", answerable=True) and applies("faithfulness", answerable=False)


# --- judged metrics ------------------------------------------------------------------------------


class EmptyListLLM(CustomLLM):
    """Answers every structured call with empty lists, so context recall has nothing to count."""

    calls: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="empty")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.calls += 1
        return CompletionResponse(text='{"classifications": []}')

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield self.complete(prompt, formatted=formatted, **kwargs)


def make_judge(llm: Any, cache: Any | None = None) -> Judge:
    return Judge(LLMConfig(provider="fake"), llm, HashingEmbedding(), cache=cache)


def test_every_judged_metric_declares_its_inputs() -> None:
    assert set(METRIC_INPUTS) == set(JUDGED_METRICS)


@pytest.mark.parametrize("metric", NEW_JUDGED)
def test_new_metric_with_fakes_gives_value_or_recorded_error(metric: str) -> None:
    score = make_judge(FakeLLM()).score(metric, QUESTION, ANSWER, CONTEXTS, reference=REFERENCE)
    if score.value is None:
        assert score.error
    else:
        assert score.error is None
        assert not math.isnan(score.value) and 0.0 <= score.value <= 1.0


@pytest.mark.parametrize("metric", NEEDS_REFERENCE)
@pytest.mark.parametrize("reference", ["", None])
def test_missing_reference_is_a_recorded_failure(metric: str, reference: str | None) -> None:
    llm = FakeLLM()
    cache = DictCache()
    score = make_judge(llm, cache=cache).score(
        metric,
        QUESTION,
        ANSWER,
        CONTEXTS,
        reference=reference,  # type: ignore[arg-type] - records may hold NULL
    )
    assert score.value is None and score.error == "no reference answer"
    assert llm.calls == 0 and cache.puts == 0


def test_reference_is_optional_for_answer_only_metrics() -> None:
    score = make_judge(FakeLLM()).score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    assert score.error is None and score.value is not None


def test_context_recall_cache_key_includes_the_reference() -> None:
    llm = FakeLLM()
    judge = make_judge(llm, cache=DictCache())
    first = judge.score("context_recall", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE)
    assert not first.cached
    calls = llm.calls
    other = judge.score("context_recall", QUESTION, ANSWER, CONTEXTS, reference="Built in 1871.")
    assert not other.cached and llm.calls > calls
    calls = llm.calls
    # the response is not an input of context recall: a different answer hits the cache
    again = judge.score("context_recall", QUESTION, "Other answer.", CONTEXTS, reference=REFERENCE)
    assert again.cached and llm.calls == calls


def test_answer_relevancy_cache_key_ignores_contexts_and_reference() -> None:
    llm = FakeLLM()
    judge = make_judge(llm, cache=DictCache())
    judge.score("answer_relevancy", QUESTION, ANSWER, CONTEXTS)
    calls = llm.calls
    again = judge.score("answer_relevancy", QUESTION, ANSWER, ["unrelated"], reference=REFERENCE)
    assert again.cached and llm.calls == calls


def test_semantic_similarity_uses_no_llm_and_is_clipped_at_zero() -> None:
    llm = FakeLLM()
    judge = make_judge(llm)
    same = judge.score("semantic_similarity", QUESTION, REFERENCE, [], reference=REFERENCE)
    assert same.value == pytest.approx(1.0)
    # the hashing embedder gives these two words a negative cosine (-0.29): recorded as 0
    apart = judge.score("semantic_similarity", QUESTION, "moon", [], reference="glass")
    assert apart.value == 0.0 and apart.error is None
    assert llm.calls == 0
    assert same.details["judge_prompt_tokens"] == 0 == same.details["judge_completion_tokens"]


def test_nan_is_a_recorded_error() -> None:
    score = make_judge(EmptyListLLM()).score(
        "context_recall", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE
    )
    assert score.value is None
    assert score.error is not None and score.error.startswith("context_recall is undefined")
    assert "no reference statements classified" in score.error


def test_judge_tokens_are_per_score() -> None:
    judge = make_judge(FakeLLM())
    judge.score("faithfulness", QUESTION, ANSWER, CONTEXTS)
    second = judge.score("context_recall", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE)
    alone = make_judge(FakeLLM()).score(
        "context_recall", QUESTION, ANSWER, CONTEXTS, reference=REFERENCE
    )
    assert second.details["judge_prompt_tokens"] > 0
    assert second.details["judge_completion_tokens"] > 0
    assert second.details["judge_prompt_tokens"] == alone.details["judge_prompt_tokens"]
    assert second.details["judge_completion_tokens"] == alone.details["judge_completion_tokens"]
    assert '"judge_prompt_tokens"' in judge_details(second)


# --- end to end ----------------------------------------------------------------------------------


def test_run_stores_every_metric(make_qa_folder: Any, tmp_db: Path) -> None:
    from ragbench.experiment.orchestrator import run

    questions = [
        {
            "question_id": "t1",
            "user_input": "Who built the Corran lighthouse?",
            "reference": "Ada Finch built it in 1871.",
            "gold_doc_ids": ["lighthouse.md"],
            "gold_spans": ["built in 1871 by Ada Finch"],
        },
        {
            "question_id": "t2",
            "user_input": "When does the ferry to Ostby leave?",
            "reference": "",
            "gold_doc_ids": ["ferry.txt"],
        },
    ]
    folder = make_qa_folder(questions=questions)
    config = parse_config(
        fake_experiment(
            name="all-metrics",
            dataset={"loader": "qa-folder", "path": str(folder)},
            base=FAKE_MODELS | {"retrieval": {"top_k": 2}},
            metrics=list(RETRIEVAL_METRICS + JUDGED_METRICS),
        )
    )
    result = run(config, db=tmp_db, progress=False)
    rows = Store(tmp_db).query("SELECT * FROM scores WHERE run_id = ?", [result.run_id])
    got = {(r.question_id, r.metric): r for r in rows.itertuples()}
    for metric in RETRIEVAL_METRICS:
        assert ("t1", metric) in got
    assert ("t2", "span_coverage") not in got  # no gold spans: does not apply
    assert got[("t1", "span_coverage")].value == 1.0
    for metric in JUDGED_METRICS:
        assert ("t1", metric) in got and ("t2", metric) in got
    for metric in NEEDS_REFERENCE:
        assert got[("t2", metric)].value is None or math.isnan(got[("t2", metric)].value)
        assert got[("t2", metric)].error == "no reference answer"
        assert got[("t1", metric)].error is None
    assert '"judge_prompt_tokens"' in got[("t1", "context_recall")].details


def test_run_scores_reference_only_and_unanswerable_questions(
    make_qa_folder: Any, tmp_db: Path
) -> None:
    from ragbench.experiment.orchestrator import run

    questions = [
        {
            "question_id": "t1",
            "user_input": "Who built the Corran lighthouse?",
            "reference": "Ada Finch built it in 1871.",
            "gold_doc_ids": ["lighthouse.md"],
        },
        {  # labelled answer, no document labels: answerable, scored from its reference
            "question_id": "t2",
            "user_input": "When does the ferry to Ostby leave?",
            "reference": "Every morning at 7:15 from pier 4.",
        },
        {
            "question_id": "t3",
            "user_input": "How many parking spaces are there?",
            "answerable": False,
            "kind": "unanswerable",
        },
    ]
    config = parse_config(
        fake_experiment(
            name="label-free",
            dataset={"loader": "qa-folder", "path": str(make_qa_folder(questions=questions))},
            base=FAKE_MODELS | {"retrieval": {"top_k": 2}},
            metrics=["hit_rate", "mrr", "reference_recall", "abstained", "faithfulness"],
        )
    )
    result = run(config, db=tmp_db, progress=False)
    rows = Store(tmp_db).query("SELECT * FROM scores WHERE run_id = ?", [result.run_id])
    got = {(r.question_id, r.metric): r.value for r in rows.itertuples()}
    by_question = {q: sorted(m for qid, m in got if qid == q) for q in ("t1", "t2", "t3")}
    assert by_question == {
        "t1": ["faithfulness", "hit_rate", "mrr", "reference_recall"],
        "t2": ["faithfulness", "reference_recall"],  # no gold-doc rows, not zeros
        "t3": ["abstained", "faithfulness"],  # unanswerable: no retrieval rows
    }
    # top_k 2 of a two-document corpus retrieves both: every content word is found
    assert got[("t1", "reference_recall")] == 1.0 and got[("t2", "reference_recall")] == 1.0
    assert got[("t3", "abstained")] == 0.0  # the fake LLM answers from its first source
    # resume: the answerable questions' missing abstained rows do not count as work left
    again = run(config, db=tmp_db, progress=False, resume=result.run_id)
    assert again.stats.generated == 0 and again.stats.generation_cache_hits == 0


def test_staged_reference_recall_needs_a_question_with_a_reference(
    make_qa_folder: Any, tmp_db: Path
) -> None:
    from ragbench.experiment.orchestrator import run

    rows = [{"question_id": "t1", "user_input": "Who built it?", "gold_doc_ids": ["ferry.txt"]}]
    config = parse_config(
        fake_experiment(
            name="no-reference",
            dataset={"loader": "qa-folder", "path": str(make_qa_folder(questions=rows))},
            sweep={"retrieval.top_k": [1, 2]},
            metrics=["mrr", "reference_recall"],
            staged={"rank_by": "reference_recall", "top_n": 1},
        )
    )
    with pytest.raises(ValueError, match="'reference_recall' needs answerable questions with a"):
        run(config, db=tmp_db, progress=False)
    assert not tmp_db.exists()  # refused before any work
