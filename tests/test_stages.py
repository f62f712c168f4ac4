"""The named stages of a run: one seeded order, one scheduler, stage names stored, one model cache,
and LlamaIndex's global ``Settings`` never used nor changed."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata

from ragbench import models
from ragbench.config.experiment import EmbeddingConfig, JudgeConfig, LLMConfig, parse_config
from ragbench.data.datasets import load_dataset
from ragbench.experiment.allocation import Allocator
from ragbench.experiment.context import RunContext, judged_order, judged_subset
from ragbench.experiment.judging import JudgingWork, make_judge
from ragbench.experiment.orchestrator import run
from ragbench.experiment.workers import LocalExecutor
from ragbench.models.cache import ModelCache
from ragbench.records import ANSWER_JUDGE, RETRIEVAL, STAGES
from ragbench.store import Store

FAKES = {
    "embedding": {"provider": "hashing"},
    "generation": {"llm": {"provider": "fake"}},
    "judge": {"provider": "fake"},
}


def config(**extra: Any) -> Any:
    data = {
        "name": "stages",
        "dataset": {"loader": "demo"},
        "base": FAKES,
        "metrics": ["hit_rate", "mrr", "faithfulness", "answer_relevancy"],
        "limit": 6,
        "judge_limit": 3,
    }
    return parse_config(data | extra)


# --- one seeded order ------------------------------------------------------------------------------


def test_the_judged_subset_is_the_seeded_orders_questions_in_dataset_order() -> None:
    ids = [f"q{i:02d}" for i in range(40)]
    for seed in range(5):
        for limit in (None, 0, 1, 7, 39, 40, 99):
            order = judged_order(ids, limit, seed)
            assert judged_subset(ids, limit, seed) == [q for q in ids if q in set(order)]
    assert judged_order(ids, 7, 3) == judged_order(ids, None, 3)[:7]  # one shuffle, its prefix


def test_the_scheduler_takes_the_judged_questions_in_the_seeded_order(
    tmp_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    done: list[tuple[str, str]] = []
    compute = JudgingWork.compute

    def noted(self: JudgingWork, item: Any) -> Any:
        done.append(item.key)
        return compute(self, item)

    monkeypatch.setattr(JudgingWork, "compute", noted)
    cfg = config(sweep={"retrieval.top_k": [2, 3]})
    result = run(cfg, db=tmp_db, progress=False)
    order = judged_order([f"q{i:02d}" for i in range(1, 7)], 3, cfg.seed)
    trials = [t.trial_id for t in result.trials]
    # one round, question-major: every trial's first seeded question, then the second, ...
    assert done == [(t, q) for q in order for t in trials]


# --- one scheduler ---------------------------------------------------------------------------------


def test_uniform_without_a_budget_is_one_round_of_every_pending_pair(
    tmp_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds: list[list[tuple[str, str]]] = []
    next_round = Allocator.next_round

    def noted(self: Allocator, questions_per_trial: int = 1) -> list[tuple[str, str]]:
        pairs = next_round(self, questions_per_trial)
        rounds.append(pairs)
        return pairs

    executed: list[tuple[int, int]] = []  # (threads, items) per executor call
    completed = LocalExecutor.completed

    def counted(self: LocalExecutor, items: Any, fn: Any) -> Any:
        executed.append((self.workers, len(items)))
        return completed(self, items, fn)

    monkeypatch.setattr(Allocator, "next_round", noted)
    monkeypatch.setattr(LocalExecutor, "completed", counted)
    fast = {"provider": "fake", "concurrency": 8}
    base = FAKES | {"generation": {"llm": fast}, "judge": fast}
    result = run(config(base=base, sweep={"retrieval.top_k": [2, 3]}), db=tmp_db, progress=False)
    assert [len(r) for r in rounds] == [2 * 3, 0]  # one round, then "done"
    assert executed[-1] == (8, 6)  # every pair in flight at once, as wide as the endpoints allow
    assert result.stats.allocation is None  # no budget: no allocation summary, no report section
    assert result.stats.judged == 2 * 3 * 2

    rounds.clear()  # resumed with nothing left: one round of the same pairs, none with work
    executed.clear()
    cfg = config(base=base, sweep={"retrieval.top_k": [2, 3]})
    again = run(cfg, db=tmp_db, resume=result.run_id, progress=False)
    assert [len(r) for r in rounds] == [6, 0] and again.stats.judged == 0


def test_a_budget_plans_a_round_per_question(tmp_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[int] = []
    next_round = Allocator.next_round

    def noted(self: Allocator, questions_per_trial: int = 1) -> list[tuple[str, str]]:
        pairs = next_round(self, questions_per_trial)
        rounds.append(len(pairs))
        return pairs

    monkeypatch.setattr(Allocator, "next_round", noted)
    cfg = config(sweep={"retrieval.top_k": [2, 3]}, judge_budget=5)
    result = run(cfg, db=tmp_db, progress=False)
    assert rounds == [2, 2, 1, 0]  # the next question of each trial, until the budget ends
    assert result.stats.allocation is not None
    assert result.stats.allocation["spent_verdicts"] == 5


# --- stage names -----------------------------------------------------------------------------------


def test_staged_search_stores_the_stage_each_trial_reached_by_name(tmp_db: Any) -> None:
    cfg = config(
        sweep={"retrieval.top_k": [1, 2, 3]}, staged={"rank_by": "mrr", "top_n": 1, "pin": []}
    )
    result = run(cfg, db=tmp_db, progress=False)
    store = Store(tmp_db)
    trials = store.trials(result.run_id)
    assert set(trials.stage) == {RETRIEVAL, ANSWER_JUDGE} and set(trials.stage) <= set(STAGES)
    assert list(trials.stage).count(ANSWER_JUDGE) == 1
    stored = store.query(
        "SELECT stage_reached, stage FROM trials WHERE run_id = ? ORDER BY stage",
        [result.run_id],
    )
    # the name is what a version-4 file holds; the integer stays for readers of older versions
    assert list(stored.stage_reached) == [RETRIEVAL, RETRIEVAL, ANSWER_JUDGE]
    assert list(stored.stage) == [1, 1, 2]
    with pytest.raises(ValueError, match="unknown stage"):
        store.set_stage(result.run_id, {result.trials[0].trial_id: ("stage 2", "kept")})


# --- one model cache -------------------------------------------------------------------------------


def test_model_cache_builds_one_instance_per_config_from_any_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    make_llm = models.make_llm

    def counted(cfg: LLMConfig) -> Any:
        made.append(cfg.provider)
        return make_llm(cfg)

    monkeypatch.setattr(models, "make_llm", counted)
    cache = ModelCache()
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.llm(LLMConfig(provider="fake"))))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and all(llm is got[0] for llm in got)
    # a judge config with the same model settings is the same model (its prompts are the judge's)
    assert cache.llm(JudgeConfig(provider="fake", max_tokens=256, prompts="ragas")) is got[0]
    assert cache.llm(LLMConfig(provider="fake", temperature=0.5)) is not got[0]
    hashing = cache.embedding(EmbeddingConfig(provider="hashing"))
    assert cache.embedding(EmbeddingConfig(provider="hashing")) is hashing
    assert cache.embedding(EmbeddingConfig(provider="hashing", batch_size=3)) is not hashing
    assert len(cache.llms()) == 2


def test_the_index_builder_and_the_judge_share_the_runs_model_cache(
    tmp_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config()
    store = Store(tmp_db)
    ctx = RunContext.open(cfg, load_dataset(cfg.dataset, 2), store, "r")
    assert ctx.builder.models is ctx.models and ctx.builder.indexer.models is ctx.models
    trial_cfg = cfg.base
    pipeline = ctx.builder.build(trial_cfg)
    judge = make_judge(ctx.models, trial_cfg.judge, ctx.judged_metrics, ctx.cache)
    assert pipeline.llm is ctx.models.llm(trial_cfg.generation.llm)
    # answer relevancy's embedding: the judge's fixed ruler is the index's hashing embedder here
    assert judge.embed.embed is ctx.models.embedding(trial_cfg.embedding)

    built: list[str] = []
    make_embedding, make_llm = models.make_embedding, models.make_llm
    monkeypatch.setattr(models, "make_embedding", lambda c: built.append("e") or make_embedding(c))
    monkeypatch.setattr(models, "make_llm", lambda c: built.append("l") or make_llm(c))
    same = {"provider": "fake", "max_tokens": 256}
    base = FAKES | {"generation": {"llm": same}, "judge": same}
    run(config(base=base, sweep={"chunking.chunk_size": [128, 256]}), db=tmp_db, progress=False)
    assert sorted(built) == ["e", "l"]  # one embedder, one LLM: for both indexes and the judge


# --- LlamaIndex's global Settings --------------------------------------------------------------------


class ForbiddenLLM(CustomLLM):
    """Settings.llm during the test: any use is a silent fallback to a default model."""

    @property
    def metadata(self) -> LLMMetadata:
        raise AssertionError("LlamaIndex's Settings.llm was used")

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise AssertionError("LlamaIndex's Settings.llm was used")

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise AssertionError("LlamaIndex's Settings.llm was used")


class ForbiddenEmbedding(BaseEmbedding):
    """Settings.embed_model during the test."""

    def _get_query_embedding(self, query: str) -> list[float]:
        raise AssertionError("LlamaIndex's Settings.embed_model was used")

    async def _aget_query_embedding(self, query: str) -> list[float]:
        raise AssertionError("LlamaIndex's Settings.embed_model was used")

    def _get_text_embedding(self, text: str) -> list[float]:
        raise AssertionError("LlamaIndex's Settings.embed_model was used")


def test_a_sweep_of_every_component_never_touches_llamaindex_settings(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm, embed = ForbiddenLLM(), ForbiddenEmbedding()
    monkeypatch.setattr(Settings, "_llm", llm)
    monkeypatch.setattr(Settings, "_embed_model", embed)
    chunkers = ["token", "sentence", "semantic", "sentence_window", "hierarchical"]
    sweeps = [  # every chunker the fakes support (hybrid, reciprocal rank fusion) ...
        {
            "base": FAKES | {"retrieval": {"method": "hybrid", "fusion": "reciprocal_rank"}},
            "sweep": {"chunking.method": [*chunkers, "markdown", "html"]},
        },
        {  # ... and every retriever x query transform, LLM-reranked, on a duckdb index
            "base": FAKES | {"retrieval": {"rerank": "llm", "top_k": 2, "vector_store": "duckdb"}},
            "sweep": {
                "retrieval.method": ["dense", "bm25", "hybrid", "mmr"],
                "retrieval.query_transform": ["none", "hyde", "multi_query"],
            },
        },
    ]
    for n, sweep in enumerate(sweeps):
        cfg = config(limit=2, judge_limit=1, **sweep)
        result = run(cfg, db=tmp_path / f"s{n}.duckdb", progress=False)
        assert result.ok and result.stats.judge_failures == 0, result.problems
        assert len(result.trials) == (7 if n == 0 else 12)
    assert Settings._llm is llm and Settings._embed_model is embed  # never changed either
