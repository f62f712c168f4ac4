"""One spec per metric (ragbench.metrics): a metric added in one place is known everywhere, and the
helpers say what the code said before the specs existed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_layout import GRAPH

import ragbench
from ragbench.config.experiment import ConfigError, LLMConfig, parse_config
from ragbench.judge.adapter import JudgeEmbedding, JudgeLLM
from ragbench.judge.scoring import Judge
from ragbench.metrics import (
    ANSWER,
    JUDGED,
    RETRIEVAL,
    JudgedSpec,
    JudgeSettings,
    applies,
    description,
    is_binary,
    kind,
    names,
    reads_answer,
    retrieval_scores,
    spec,
    uses_embedding,
)
from ragbench.metrics.retrieval import NEEDS
from ragbench.models import FakeLLM, HashingEmbedding
from ragbench.store import Store

# --- a toy judged metric, registered in one place -----------------------------------------------


@dataclass
class ToyResult:
    value: float


class NonEmpty:
    """Scores 1.0 for a non-empty answer: no LLM, no embedding."""

    async def ascore(self, response: str) -> ToyResult:
        return ToyResult(1.0 if response.strip() else 0.0)


TOY = JudgedSpec(
    description="the answer is not empty (a test metric)",
    inputs=("response",),
    build=lambda llm, embeddings, settings: NonEmpty(),
    llm=False,
)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(JUDGED, "toy", TOY)  # the one place
    return "toy"


TOY_EXPERIMENT: dict[str, Any] = {
    "name": "toy",
    "dataset": {"loader": "demo"},
    "base": {
        "embedding": {"provider": "hashing"},
        "generation": {"llm": {"provider": "fake"}},
        "judge": {"provider": "fake"},
    },
    "metrics": ["hit_rate", "toy"],
    "limit": 4,
    "judge_limit": 3,
}


def toy_config(**changes: Any) -> dict[str, Any]:
    return copy.deepcopy(TOY_EXPERIMENT) | changes


def test_config_validation_knows_the_toy_metric(toy: str) -> None:
    assert parse_config(toy_config()).metrics == ["hit_rate", "toy"]
    with pytest.raises(ConfigError, match=r"unknown metric 'tyo' \(did you mean 'toy'\?\)"):
        parse_config(toy_config(metrics=["hit_rate", "tyo"]))
    with pytest.raises(ConfigError, match="'toy' is judged only after stage 1"):
        parse_config(toy_config(staged={"rank_by": "toy"}))
    adaptive = parse_config(toy_config(allocation="adaptive", allocation_metric="toy"))
    assert adaptive.allocation_metric == "toy"


def test_without_the_entry_the_toy_metric_is_unknown() -> None:
    assert "toy" not in names()
    with pytest.raises(ConfigError, match="unknown metric 'toy'"):
        parse_config(toy_config())


def test_run_judges_caches_and_reports_the_toy_metric(toy: str, tmp_db: Path) -> None:
    config = parse_config(toy_config())
    first = ragbench.run(config, db=tmp_db, progress=False)
    assert first.stats.judged == 3 and first.stats.judge_failures == 0
    assert first.stats.judge_calls == 0  # the toy spec uses no LLM
    rows = Store(tmp_db).query(
        "SELECT * FROM scores WHERE run_id = ? AND metric = 'toy'", [first.run_id]
    )
    assert len(rows) == 3 and (rows.value == 1.0).all() and rows.error.isna().all()
    assert not any(json.loads(d)["cached"] for d in rows.details)

    again = ragbench.run(config, db=tmp_db, progress=False)  # a new run: verdicts from the cache
    assert again.run_id != first.run_id
    assert again.stats.judged == 3 and again.stats.judge_cache_hits == 3
    cached = Store(tmp_db).query(
        "SELECT * FROM scores WHERE run_id = ? AND metric = 'toy'", [again.run_id]
    )
    assert all(json.loads(d)["cached"] for d in cached.details)

    rep = ragbench.load(tmp_db)
    assert rep.run_id == again.run_id
    toy_row = rep.summary[rep.summary.metric == "toy"].iloc[0]
    assert toy_row["mean"] == 1.0 and toy_row["n"] == 3
    header, row = rep.table.split("\n\n")[1].splitlines()[:2]
    assert header.split() == ["trial", "hit_rate", "toy"]
    assert row.rstrip().endswith("1.000* [0.43, 1.00] n=3")  # the toy column's cell
    assert "toy: best = base (1.000)" in rep.table


def test_helpers_read_the_tables_when_called(toy: str) -> None:
    assert names("judged")[-1] == "toy" and "toy" in names("answered") and "toy" in names()
    assert kind("toy") == "judged" and spec("toy") is TOY
    assert reads_answer("toy") and applies("toy", True) and applies("toy", False)
    assert not uses_embedding("toy") and not is_binary("toy")
    assert description("toy") == TOY.description
    import ragbench.metrics as metrics

    assert "toy" in metrics.JUDGED_METRICS and "toy" in metrics.METRICS  # the views too


def test_the_judge_scores_the_toy_metric_without_an_llm(toy: str) -> None:
    llm = FakeLLM()
    judge = Judge(LLMConfig(provider="fake"), llm, HashingEmbedding())
    assert judge.score("toy", "Q?", "An answer.", []).value == 1.0
    assert judge.score("toy", "Q?", "  ", []).value == 0.0
    assert llm.calls == 0
    assert judge.inputs("toy", "Q?", "An answer.", ["c"], reference="r") == {
        "response": "An answer."
    }


# --- the built-in specs say what the code said before --------------------------------------------


def test_names_by_kind_in_their_former_order() -> None:
    gold = ("hit_rate", "mrr", "recall", "ndcg", "span_coverage")
    judged = (
        "faithfulness",
        "answer_relevancy",
        "context_precision",
        "context_recall",
        "answer_correctness",
        "semantic_similarity",
    )
    assert names("gold") == gold
    assert names("ranked") == ("hit_rate", "mrr", "recall", "ndcg")
    assert names("retrieval") == (*gold, "reference_recall")
    assert names("judged") == judged
    assert names("answer") == ("abstained",)
    assert names("answered") == (*judged, "abstained")
    assert names() == (*gold, "reference_recall", *judged, "abstained")
    with pytest.raises(ValueError, match="unknown metric kind 'graded'"):
        names("graded")
    with pytest.raises(ValueError, match="unknown metric 'bleu'; valid: hit_rate, mrr"):
        spec("bleu")


def test_the_default_metrics_are_unchanged() -> None:
    config = parse_config({"name": "defaults"})
    assert config.metrics == [
        "hit_rate",
        "mrr",
        "recall",
        "ndcg",
        "span_coverage",
        "faithfulness",
        "answer_relevancy",
    ]


def test_judged_inputs_are_what_the_cache_keys_were_made_of() -> None:
    # The former METRIC_INPUTS: the fields are hashed into every cached verdict's key.
    assert {name: s.inputs for name, s in JUDGED.items()} == {
        "faithfulness": ("user_input", "response", "retrieved_contexts"),
        "answer_relevancy": ("user_input", "response"),
        "context_precision": ("user_input", "reference", "retrieved_contexts"),
        "context_recall": ("user_input", "retrieved_contexts", "reference"),
        "answer_correctness": ("user_input", "response", "reference"),
        "semantic_similarity": ("reference", "response"),
    }


def test_judged_kinds_clipping_and_nan_reasons() -> None:
    assert {n for n in JUDGED if uses_embedding(n)} == {
        "answer_relevancy",
        "answer_correctness",
        "semantic_similarity",
    }
    assert {n for n, s in JUDGED.items() if s.cosine} == {
        "semantic_similarity",
        "answer_correctness",
        "answer_relevancy",
    }
    assert {n for n, s in JUDGED.items() if not s.llm} == {"semantic_similarity"}
    assert {n: s.nan_reason for n, s in JUDGED.items() if s.nan_reason != "ragas returned NaN"} == {
        "faithfulness": "no statements extracted",
        "context_recall": "no reference statements classified",
    }


def test_reads_answer() -> None:
    answer_free = {n for n in names() if not reads_answer(n)}
    assert answer_free == {*names("retrieval"), "context_precision", "context_recall"}
    assert reads_answer("abstained") and reads_answer("semantic_similarity")


def test_applies() -> None:
    assert applies("abstained", answerable=False) and not applies("abstained", answerable=True)
    for name in names("judged"):
        assert applies(name, answerable=True) and applies(name, answerable=False)
    for name in names("retrieval"):  # what retrieval_scores scores: answerable questions only
        assert applies(name, answerable=True) and not applies(name, answerable=False)
    everything = {"retrieved_doc_ids": ["d1"], "gold_doc_ids": ["d1"], "k": 1}
    labels = {"contexts": ["gold text"], "gold_spans": ["gold text"], "reference": "gold text"}
    assert set(retrieval_scores(**everything, metrics=names(), **labels)) == set(RETRIEVAL)
    assert retrieval_scores(**everything, metrics=names(), **labels, answerable=False) == {}


def test_binary_metrics_score_only_zero_or_one() -> None:
    assert {n for n in names() if is_binary(n)} == {"hit_rate", "span_coverage", "abstained"}
    seen: dict[str, set[float]] = {name: set() for name in RETRIEVAL}
    contexts = ["the lighthouse was built in 1871", "the ferry leaves at dawn", "tea"]
    for ranking in (["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], ["c", "c", "b"]):
        scores = retrieval_scores(
            ranking,
            ["a", "b"],
            list(RETRIEVAL),
            k=3,
            contexts=contexts,
            gold_spans=["built in 1871"],
            reference="built in 1871 by Ada Finch at dawn",
        )
        for name, value in scores.items():
            seen[name].add(value)
    for name, values in seen.items():
        assert (values <= {0.0, 1.0}) == is_binary(name), (name, values)
    assert {ANSWER["abstained"].score(r) for r in ("I don't know.", "In 1871.")} == {0.0, 1.0}


def test_every_retrieval_need_is_known() -> None:
    assert {need for s in RETRIEVAL.values() for need in s.needs} <= set(NEEDS)


def test_every_metric_has_a_description() -> None:
    for name in names():
        text = description(name)
        assert text and "\n" not in text and len(text) < 90, name


# --- how judged metrics are built ----------------------------------------------------------------


def build(
    name: str, temperature: float = 0.0, prompts: str = "compact", repair: bool = True
) -> Any:
    llm = JudgeLLM(FakeLLM(), max_retries=0, max_tokens=64)
    settings = JudgeSettings(temperature=temperature, prompts=prompts, repair=repair)
    return JUDGED[name].build(llm, JudgeEmbedding(HashingEmbedding()), settings)


def test_compact_prompts_build_judge_prompts_variants() -> None:
    from ragas.metrics.collections import ContextPrecision, ContextRecall, Faithfulness

    # judge.repair: false builds faithfulness as before the NLI replies were checked
    compact = build("faithfulness", repair=False)
    assert isinstance(compact, Faithfulness) and type(compact) is not Faithfulness
    assert type(compact).__name__ == "CompactFaithfulness"
    assert type(build("faithfulness", prompts="ragas", repair=False)) is Faithfulness
    for prompts in ("compact", "ragas"):  # the default checks them, with either prompt style
        checked = build("faithfulness", prompts=prompts)
        assert isinstance(checked, Faithfulness)
        assert type(checked).__name__ == "CheckedFaithfulness"
    assert type(build("context_precision")).__name__ == "CompactContextPrecision"
    assert type(build("context_precision", prompts="ragas")) is ContextPrecision
    for prompts in ("compact", "ragas"):  # context recall is ragas' own either way
        assert type(build("context_recall", prompts=prompts)) is ContextRecall


def test_answer_relevancy_strictness_follows_temperature() -> None:
    assert build("answer_relevancy", temperature=0.0).strictness == 1
    assert build("answer_relevancy", temperature=0.7).strictness == 3


# --- the package's shape ---------------------------------------------------------------------------


def test_metrics_import_only_leaves() -> None:
    allowed = {"ragbench.judge.prompts", "ragbench.pipeline.prompts"}
    allowed |= {"ragbench.judge", "ragbench.pipeline"}  # their __init__, run first: imports nothing
    # faithfulness' checked NLI: built on the two leaves above and nothing else
    allowed |= {"ragbench.judge.faithfulness", "ragbench.judge.degenerate"}
    assert GRAPH["ragbench.judge"] == set() == GRAPH["ragbench.pipeline"]
    for module, targets in GRAPH.items():
        if module == "ragbench.metrics" or module.startswith("ragbench.metrics."):
            outside = {t for t in targets if not t.startswith("ragbench.metrics")}
            assert outside <= allowed, (module, outside)
    for module in allowed:  # and what they import stays inside this set: no way back
        assert GRAPH[module] <= allowed, (module, GRAPH[module] - allowed)
    assert GRAPH["ragbench.judge.prompts"] == set() == GRAPH["ragbench.judge.degenerate"]


def test_validating_a_config_loads_no_ragas() -> None:
    code = (
        "import sys; from ragbench.config.experiment import parse_config; "
        "import ragbench.metrics; parse_config({'name': 'x'}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ragas', 'llama_index')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
