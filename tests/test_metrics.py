"""Metrics you can trust: retrieval metrics against hand-computed values, and the reference-based
RAGAS metrics through the Judge (inputs, cache keys, recorded failures, token accounting)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from conftest import DictCache
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback

from ragbench.config import JUDGED_METRICS, RETRIEVAL_METRICS, LLMConfig, parse_config
from ragbench.evaluate import (
    METRIC_INPUTS,
    Judge,
    hit_rate,
    judge_details,
    mrr,
    ndcg,
    recall,
    retrieval_scores,
    span_coverage,
)
from ragbench.experiment import run
from ragbench.models import FakeLLM, HashingEmbedding
from ragbench.store import Store

QUESTION = "When was the Corran lighthouse built?"
ANSWER = "The Corran lighthouse was built in 1871 [1]."
CONTEXTS = ["The Corran lighthouse was built in 1871 by Ada Finch.", "The ferry leaves at 7:15."]
REFERENCE = "It was built in 1871 by Ada Finch."
NEW_JUDGED = ["context_precision", "context_recall", "answer_correctness", "semantic_similarity"]
NEEDS_REFERENCE = NEW_JUDGED  # every new judged metric compares against the reference answer


# --- retrieval metrics ---------------------------------------------------------------------------


def test_worked_example_from_the_issue() -> None:
    retrieved, gold = ["d3", "d1", "d2", "d1"], ["d1", "d2"]
    assert hit_rate(retrieved, gold) == 1.0
    assert mrr(retrieved, gold) == 0.5
    assert recall(retrieved, gold) == 1.0
    # distinct docs d3, d1, d2: gold at ranks 2 and 3; ideal: 2 gold docs at ranks 1 and 2
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    assert ndcg(retrieved, gold) == pytest.approx(expected, abs=1e-12)
    assert ndcg(retrieved, gold) == pytest.approx(0.6934264036172708, abs=1e-12)


@pytest.mark.parametrize(
    ("retrieved", "gold", "expected"),
    [
        (["a", "b", "c"], ["a"], 1.0),
        (["a", "a"], ["a", "b"], 0.5),  # duplicate chunks of one doc count once
        (["x", "y"], ["a", "b"], 0.0),
        (["a", "b"], ["a", "a"], 1.0),  # duplicate gold ids count once
        ([], ["a"], 0.0),
        (["c", "b", "a", "d"], ["a", "b", "c"], 1.0),
    ],
)
def test_recall(retrieved: list[str], gold: list[str], expected: float) -> None:
    assert recall(retrieved, gold) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("retrieved", "gold", "expected"),
    [
        (["g", "x"], ["g"], 1.0),
        (["x", "g"], ["g"], 1 / math.log2(3)),
        (["x", "x", "g"], ["g"], 1 / math.log2(3)),  # ranks count distinct docs
        (["x", "y", "z"], ["g"], 0.0),
        ([], ["g"], 0.0),
        (["a", "b"], ["a", "b", "c"], 1.0),  # ideal over min(|gold|, k) = 2 ranks
        (["a", "x", "b"], ["a", "b"], (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))),
    ],
)
def test_ndcg(retrieved: list[str], gold: list[str], expected: float) -> None:
    assert ndcg(retrieved, gold) == pytest.approx(expected, abs=1e-12)


def test_ndcg_explicit_k_cuts_the_ranking() -> None:
    assert ndcg(["x", "g"], ["g"], k=1) == 0.0
    assert ndcg(["g", "x", "h"], ["g", "h"], k=2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


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
        contexts=contexts,
        gold_spans=["LIGHTHOUSE was built"],
    )
    assert set(scores) == set(RETRIEVAL_METRICS)
    assert scores["hit_rate"] == 1.0 and scores["mrr"] == 0.5 and scores["recall"] == 1.0
    assert scores["ndcg"] == pytest.approx(ndcg(["d3", "d1", "d2", "d1"], ["d1", "d2"]))
    assert scores["span_coverage"] == 1.0


def test_retrieval_scores_what_applies() -> None:
    metrics = list(RETRIEVAL_METRICS)
    # no gold document: nothing applies, spans or not
    assert retrieval_scores(["a"], [], metrics, contexts=["t"], gold_spans=["t"]) == {}
    # no gold spans: span_coverage does not apply (absent, not 0)
    assert "span_coverage" not in retrieval_scores(["a"], ["a"], metrics, contexts=["t"])
    assert "span_coverage" not in retrieval_scores(
        ["a"], ["a"], metrics, contexts=["t"], gold_spans=[]
    )
    # only the experiment's metrics
    assert retrieval_scores(["a"], ["a"], ["recall"], contexts=["t"], gold_spans=["t"]) == {
        "recall": 1.0
    }
    # the old positional call still works
    assert retrieval_scores(["a", "b"], ["b"], ["hit_rate", "mrr"]) == {"hit_rate": 1.0, "mrr": 0.5}


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
        {
            "name": "all-metrics",
            "dataset": {"loader": "qa-folder", "path": str(folder)},
            "base": {
                "embedding": {"provider": "hashing"},
                "retrieval": {"top_k": 2},
                "generation": {"llm": {"provider": "fake"}},
                "judge": {"provider": "fake"},
            },
            "metrics": list(RETRIEVAL_METRICS + JUDGED_METRICS),
        }
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
