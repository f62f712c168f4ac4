"""Benchmarks measure what they say: a stub that prints nothing, or made-up numbers, fails here.

Each script runs in its cheapest real mode (tiny sizes, the hashing embedder, the loopback
endpoint), in-process; where a script needs a local model or a shared dataset, the test doubles or
the demo corpus take their place (monkeypatched, named in each test) and the rest of its ``main``
runs as written. The printed figures are parsed and checked against the tiny input (counts) and
against each other (a ratio is its printed numerator / denominator, to the printed precision), and
the output names the date and machine where the script prints them. The functions the scripts
compute with are checked on inputs with a known answer.

Nothing here asserts how fast anything is, only lower bounds that a sleep guarantees.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import tempfile
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import FAKE_MODELS, fake_experiment

from ragbench.config.experiment import ChunkingConfig, DatasetConfig, PipelineConfig, expand
from ragbench.config.experiment import parse_config as real_parse_config
from ragbench.data.corpus import load_corpus
from ragbench.data.datasets import load_dataset
from ragbench.experiment.orchestrator import run
from ragbench.models import HashingEmbedding
from ragbench.pipeline.index import chunk_documents
from ragbench.records import RunInfo
from ragbench.stats import best_trial, look_plan, mean_ci
from ragbench.store import Store

ROOT = Path(__file__).parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))
DEMO = ROOT / "ragbench" / "demo"
NUMBER = r"(-?[\d.]+|inf|nan)"


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark(name: str) -> Any:
    return _load(ROOT / "benchmarks" / f"{name}.py")


@pytest.fixture
def main_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., str]:
    """``main_output(module, *argv)``: what the benchmark's ``main`` prints for these arguments;
    its temporary folders (results files) are left in the test's ``tmp_path``."""

    def call(module: Any, *argv: object) -> str:
        monkeypatch.setattr(sys, "argv", [module.__file__, *map(str, argv)])
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        capsys.readouterr()
        module.main()
        return capsys.readouterr().out

    return call


def figures(pattern: str, out: str) -> tuple[float, ...]:
    """The numbers ``pattern``'s groups match in the output (which must contain it)."""
    found = re.search(pattern, out, flags=re.M)
    assert found, f"no line matches {pattern!r} in:\n{out}"
    return tuple(float(g) for g in found.groups())


def is_ratio(ratio: float, num: float, den: float, places: tuple[int, int, int]) -> bool:
    """Whether a printed ``ratio`` can be ``num / den``, each printed to these decimal places."""
    e_num, e_den, e_ratio = (0.5 * 10.0**-p for p in places)
    low = (num - e_num) / (den + e_den)
    high = (num + e_num) / (den - e_den) if den > e_den else float("inf")
    return low - e_ratio <= ratio <= high + e_ratio


def assert_stamped(out: str, utc: bool = True, machine: bool = True) -> None:
    """The output names the day it was measured (today) and the machine (its core count)."""
    now = datetime.now(UTC) if utc else datetime.now()
    days = {f"{now - timedelta(days=d):%Y-%m-%d}" for d in (0, 1)}  # run across midnight
    assert any(day in out for day in days), out
    assert not machine or f"{os.cpu_count()} cores" in out, out


def stored_runs(db: Path) -> list[RunInfo]:
    """The runs a benchmark left in its results file, oldest first (each finished)."""
    store = Store(db, read_only=True)
    runs = [store.run_info(run_id) for run_id in store.runs().run_id]
    assert runs and all(r.status == "finished" for r in runs), runs
    return runs


def seconds_of(run: RunInfo) -> float:
    assert run.started_at is not None and run.finished_at is not None
    return (run.finished_at - run.started_at).total_seconds()


def demo_subset(
    out: Path, docs: tuple[str, ...] = ("about/history.md", "policies/borrowing.md")
) -> None:
    """A qa-folder dataset of two demo documents and one question about the first."""
    (out / "corpus").mkdir(parents=True)
    for name in docs:
        (out / "corpus" / Path(name).name).write_text((DEMO / "corpus" / name).read_text())
    question = json.loads((DEMO / "questions.jsonl").read_text().splitlines()[0])
    question["gold_doc_ids"] = [Path(docs[0]).name]
    (out / "questions.jsonl").write_text(json.dumps(question) + "\n")


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_imports_and_has_main(path: Path) -> None:
    module = _load(path)
    assert callable(module.main) and module.__doc__


# --- allocation -----------------------------------------------------------------------------------


def test_allocation_replay_runs_on_a_small_synthetic_matrix() -> None:
    module = benchmark("allocation")
    scores = module.synthetic(trials=3, questions=12)
    assert len(scores) == 36 and scores.value.between(0, 1).all()
    wide = scores.pivot(index="trial_id", columns="question_id", values="value")
    for policy in ("uniform", "adaptive"):
        pick, width, verdicts = module.replay(wide.to_numpy(), list(wide.index), policy, 18)
        assert pick in set(wide.index) and width > 0 and verdicts == 6


def test_allocation_replay_finds_a_dominant_trial_every_time() -> None:
    """B is right on every question, A on half, C on none: any resample and policy picks B, and
    the width is the winner's interval on the verdicts it got (uniform: budget / trials)."""
    module = benchmark("allocation")
    matrix = np.array([[1.0, 0.0] * 10, [1.0] * 20, [0.0] * 20])
    rng = np.random.default_rng(0)
    for draw in (rng.integers(0, 20, 20) for _ in range(5)):
        for policy in ("uniform", "adaptive"):
            pick, width, verdicts = module.replay(matrix[:, draw], ["A", "B", "C"], policy, 30)
            assert pick == "B"
            if policy == "uniform":
                ci = mean_ci(np.ones(10), 0.95, binary=True)
                assert verdicts == 10 and width == pytest.approx(ci.high - ci.low)
            else:
                assert 10 <= verdicts <= 20  # A and C's shares may move to the best


def test_allocation_synthetic_mode_prints_consistent_figures(main_output: Callable) -> None:
    module = benchmark("allocation")
    out = main_output(module, "--synthetic", "--reps", 3, "--budgets", "72,144")
    assert_stamped(out)
    assert "source: synthetic; metric faithfulness; 6 trials x 60 questions" in out
    scores = module.synthetic()
    means = scores.groupby("trial_id").value.mean().sort_values(ascending=False)
    assert "trial means: " + "; ".join(f"{t} {m:.3f}" for t, m in means.items()) in out
    assert f"true best: {best_trial(scores, 'faithfulness')}; 3 bootstrap repetitions" in out
    for budget in (72, 144):
        row = rf"^ +{budget} +(\d+)% \| +{NUMBER} +{NUMBER} \| .* \| +(\d+)/(\d+) +\|"
        share, p_uniform, p_adaptive, v_uniform, v_adaptive = figures(row, out)
        assert share == round(100 * budget / 360)
        for p in (p_uniform, p_adaptive):  # a share of 3 repetitions
            assert round(3 * p, 2) in (0, 1, 2, 3)
        assert v_uniform == budget / 6 and v_adaptive <= budget  # uniform splits evenly
        looks = re.search(rf"^ +{budget} .*\| (\S+)$", out, flags=re.M)
        assert looks and looks.group(1) == (
            ",".join(map(str, look_plan(6, 60, max_verdicts=budget))) or "none"
        )
    first = min(look_plan(6, 60))
    assert f"after {first} questions per trial ({6 * first} verdicts)" in out


# --- concurrency ----------------------------------------------------------------------------------


def test_concurrency_speed_up_is_the_ratio_of_its_timed_runs(
    main_output: Callable, tmp_path: Path
) -> None:
    module = benchmark("concurrency")
    out = main_output(module, "--latency", 0.1, "--questions", 2, "--concurrency", 4)
    assert_stamped(out)
    assert "0.10 s per reply; 16 calls per run (2 trials x 2 questions x 4)" in out
    seq_run, seq_stage = figures(rf"^concurrency 1 +{NUMBER} +{NUMBER}$", out)
    par_run, par_stage = figures(rf"^concurrency 4 +{NUMBER} +{NUMBER}$", out)
    per_run, per_stage = figures(rf"speed-up: {NUMBER}x per run, {NUMBER}x for the answer", out)
    assert is_ratio(per_run, seq_run, par_run, (1, 1, 1))
    assert is_ratio(per_stage, seq_stage, par_stage, (1, 1, 1))
    assert seq_stage <= seq_run + 0.1 and par_stage <= par_run + 0.1  # a stage of the run
    # Each reply waits 0.1 s: one after another, the first trial's 2 x 4 calls alone take 0.8 s.
    assert seq_stage >= 0.8 - 0.05
    # The timed runs are in the results files, at the concurrency named, each one complete and
    # inside the wall time printed for it.
    (work,) = tmp_path.glob("ragbench-concurrency-*")
    for db, concurrency, wall in (("c1", 1, seq_run), ("cn", 4, par_run)):
        (info,) = stored_runs(work / f"{db}.duckdb")
        assert info.config["base"]["generation"]["llm"]["concurrency"] == concurrency
        assert seconds_of(info) <= wall + 0.05
        scores = Store(work / f"{db}.duckdb").scores(info.run_id)
        assert len(scores) == 2 * 2 * 3 and scores.error.isna().all()  # trials x questions x 3


# --- sweep cost -----------------------------------------------------------------------------------


def test_sweep_cost_naive_baseline_runs_on_fakes(tmp_path: Path) -> None:
    module = benchmark("sweep_cost")
    demo_subset(tmp_path / "data", ("about/history.md", "policies/borrowing.md"))
    config = module.experiment(tmp_path / "data", limit=1, top_n=2)
    config["base"] = FAKE_MODELS
    assert module.naive(config, tmp_path / "data") > 0


def test_sweep_cost_unique_work_sums_this_runs_llm_and_embedding_seconds(tmp_path: Path) -> None:
    """Generation seconds come from the generation cache, judge seconds from this run's scores
    (retrieval rows have none), plus the embedding seconds given."""
    db = tmp_path / "r.duckdb"
    data = fake_experiment(dataset={"loader": "demo"}, metrics=["mrr", "faithfulness"], limit=3)
    first = run(real_parse_config(data | {"judge_limit": 2}), db=db, progress=False)
    other = run(real_parse_config(data | {"name": "other"}), db=db, progress=False)
    store = Store(db)
    with store.connect() as con:  # known seconds in place of the fakes' near-zero ones
        con.execute("UPDATE cache SET value_json = '{\"seconds\": 0.5}' WHERE kind = 'generation'")
        con.execute("UPDATE scores SET seconds = 0.25 WHERE metric = 'faithfulness'")
        con.execute("UPDATE scores SET seconds = 9 WHERE run_id = ?", [other.run_id])
    generations = len(store.query("SELECT key FROM cache WHERE kind = 'generation'"))
    scores = store.scores(first.run_id)
    assert generations >= 2 and (scores.metric == "faithfulness").sum() == 2
    assert not (scores[scores.metric == "mrr"].seconds > 0).any()  # retrieval rows add nothing
    want = 1.5 + 0.5 * generations + 0.25 * 2
    assert benchmark("sweep_cost").unique_work_seconds(db, first.run_id, 1.5) == pytest.approx(want)


def test_sweep_cost_on_fakes_prints_consistent_ratios(
    main_output: Callable, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real main over two demo documents with the test doubles in place of the local models
    and the shared pg-essays subset."""
    module = benchmark("sweep_cost")
    real_experiment = module.experiment
    monkeypatch.setattr(module, "make_subset", lambda limit, max_docs, seed, out: demo_subset(out))
    keep = types.SimpleNamespace(rmtree=lambda *a, **kw: None)  # its results file, for checking
    monkeypatch.setattr(module, "shutil", keep)
    monkeypatch.setattr(
        module, "experiment", lambda *a: real_experiment(*a) | {"base": FAKE_MODELS}
    )
    out = main_output(module, "--limit", 1, "--top-n", 2)
    trials = expand(real_parse_config(real_experiment(Path("."), 1, 2)))
    assert f"trials: {len(trials)};" in out and len(trials) == 12
    chunks, answered, judged = figures(
        r"chunks embedded (\d+), answers generated (\d+), judged (\d+)", out
    )
    demo_subset(tmp_path / "expected")
    docs = load_corpus(tmp_path / "expected" / "corpus")[0]
    texts = {
        n.get_content()
        for size in module.SWEEP["chunking.chunk_size"]
        for n in chunk_documents(ChunkingConfig(chunk_size=size), None, docs).nodes
    }
    assert chunks == len(texts)  # each distinct chunk text embedded once across the sweep
    # Staged: the top 2 trials answer the 1 question (identical prompts hit the cache) and are
    # judged on 1 metric.
    assert 1 <= answered <= 2 and judged == 2
    wall, unique = figures(rf"first run: +{NUMBER} s +unique work: +{NUMBER} s", out)
    (a,) = figures(rf"\(a\) wall / unique work += +{NUMBER}", out)
    warm, percent = figures(rf"\(c\) warm re-run: +{NUMBER} s = +{NUMBER}%", out)
    (naive,) = figures(rf"naive script: +{NUMBER} s", out)
    (b,) = figures(rf"\(b\) naive / ragbench += +{NUMBER}", out)
    assert unique <= wall + 0.1 and a >= 1 - 0.01
    assert is_ratio(a, wall, unique, (1, 1, 2))
    assert is_ratio(percent / 100, warm, wall, (1, 1, 3))
    assert is_ratio(b, naive, wall, (1, 1, 2))
    # The figures are the runs in its results file: the first did the work counted above (its
    # unique work as unique_work_seconds sums it), the warm re-run none of it.
    (work,) = tmp_path.glob("ragbench-sweep-cost-*")
    first, again = stored_runs(work / "bench.duckdb")
    stats = first.stats
    assert (stats.chunks_embedded, stats.generated, stats.judged) == (chunks, answered, judged)
    db_unique = module.unique_work_seconds(work / "bench.duckdb", first.run_id, stats.embed_seconds)
    assert abs(db_unique - unique) <= 0.05 and seconds_of(first) <= wall + 0.05
    assert again.stats.chunks_embedded == again.stats.generated == again.stats.judge_calls == 0
    assert seconds_of(again) <= warm + 0.05


# --- retrieval latency, large file, retrieval sweep (the hashing embedder: real modes) ------------


def test_retrieval_latency_tiny_run_counts_its_input(
    main_output: Callable, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = benchmark("retrieval_latency")
    monkeypatch.setattr(module, "SHARED", tmp_path / "absent")  # the demo corpus, not pg-essays
    out = main_output(module, "--chunks", 70, "--queries", 3, "--top-k", 2)
    assert_stamped(out, machine=False)  # it names no machine
    demo = load_dataset(DatasetConfig(loader="demo"))
    (docs, base) = figures(r"source corpus: demo, (\d+) docs -> (\d+) base chunks", out)
    assert docs == len(demo.corpus) and 0 < base < 70  # so 70 chunks include perturbed copies
    for name in ("memory", "duckdb", "duckdb, reopened"):
        _, chunks = figures(rf"^  {re.escape(name)} +{NUMBER} s +\((\d+) chunks", out)
        assert chunks == 70
    embedded = figures(r"^  memory .*\(70 chunks, (\d+) embedded", out)
    assert embedded == (70,)  # 70 distinct texts, a fresh builder
    assert "retrieval over 70 chunks, 3 queries, top_k=2:" in out
    for name in ("dense (memory)", "dense (duckdb)", "bm25", "hybrid", "mmr (memory)"):
        _, mean, p95 = figures(rf"^  {re.escape(name)} +{NUMBER} +{NUMBER} +{NUMBER}$", out)
        assert 0 <= mean <= p95 + 0.1  # the 95th percentile of 3 timings is the largest


def test_large_file_chunks_what_it_wrote(main_output: Callable, tmp_path: Path) -> None:
    module = benchmark("large_file")
    out = main_output(module, "--sizes-mb", 0.02, 0.05)
    counts = []
    for mb in (0.02, 0.05):
        load, chunk, index, chunks, rss = figures(
            rf"^ +{mb:g} +{NUMBER} +{NUMBER} +{NUMBER} +(\d+) +(\d+)$", out
        )
        folder = tmp_path / f"file-{mb}"
        folder.mkdir()
        (folder / "big.txt").write_text(module.prose(mb), encoding="utf-8")
        docs, _ = load_corpus(folder)
        want = chunk_documents(PipelineConfig().chunking, HashingEmbedding(), docs).nodes
        assert chunks == len(want) and min(load, chunk, index) >= 0 and rss > 0
        counts.append(chunks)
    assert counts[0] < counts[1]


def demo_chunk_texts(chunk_size: int) -> int:
    """Distinct chunk texts of the demo corpus, sentence-chunked with an overlap of 32."""
    demo = load_dataset(DatasetConfig(loader="demo")).corpus
    chunking = ChunkingConfig(method="sentence", chunk_size=chunk_size, chunk_overlap=32)
    return len({n.get_content() for n in chunk_documents(chunking, None, demo).nodes})


def covid_stand_in(module: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The demo corpus in place of the shared COVID-QA set (the rest of the sweep as written)."""
    real = module.experiment
    (tmp_path / "shared" / "covid-qa").mkdir(parents=True)
    monkeypatch.setattr(module, "SHARED", tmp_path / "shared")
    monkeypatch.setattr(module, "experiment", lambda *a: real(*a) | {"dataset": {"loader": "demo"}})


def test_retrieval_sweep_measures_its_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = benchmark("retrieval_sweep")
    covid_stand_in(module, monkeypatch, tmp_path)
    m = module.measure(module.experiment(3, 512, "hashing"), tmp_path / "r.duckdb")
    assert m["records"] == 6  # 2 methods x 3 questions
    assert m["chunks"] == demo_chunk_texts(512)
    assert m["unique"] == m["embed"] + m["retrieval"] and 0 < m["unique"] <= m["wall"]


def test_retrieval_sweep_prints_its_measurement(
    main_output: Callable, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = benchmark("retrieval_sweep")
    covid_stand_in(module, monkeypatch, tmp_path)
    out = main_output(module, "--limit", 3, "--embedding", "hashing")
    assert_stamped(out, utc=False)
    records, chunks, transactions = figures(
        r"records (\d+) \(2 trials x 3 questions\), chunks embedded (\d+), DuckDB write "
        r"transactions (\d+)",
        out,
    )
    assert records == 6 and chunks == demo_chunk_texts(512)
    assert transactions >= 1  # the batch written on leaving the stage counts too
    wall, unique, embed, retrieval = figures(
        rf"wall {NUMBER}s; unique work {NUMBER}s \(embedding {NUMBER}s \+ retrieval {NUMBER}s\)",
        out,
    )
    (ratio,) = figures(rf"wall / unique work = {NUMBER}", out)
    assert abs(unique - (embed + retrieval)) <= 0.15 and unique <= wall + 0.1
    assert is_ratio(ratio, wall, unique, (1, 1, 2))


# --- ingest and judge throughput: the test doubles stand in for the local models ------------------


def test_ingest_throughput_counts_and_ratio_on_the_demo(
    main_output: Callable, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sentence-transformers' ``encode`` and ragbench's local embedding are the hashing embedder
    here (no model to load); loading, chunking, the timing and the printing run as written."""
    module = benchmark("ingest_throughput")

    class Encoder:
        def __init__(self, path: str, device: str) -> None:
            self.embed = HashingEmbedding()

        def encode(self, texts: list[str], batch_size: int) -> list[list[float]]:
            return self.embed.get_text_embedding_batch(texts)

    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = Encoder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    monkeypatch.setattr(module, "local_embedding_path", lambda: tmp_path)
    real = module.EmbeddingConfig
    monkeypatch.setattr(
        module, "EmbeddingConfig", lambda **kw: real(**kw | {"provider": "hashing"})
    )
    out = main_output(module, "--dataset", "demo", "--max-docs", 5, "--chunk-size", 128)
    demo = load_dataset(DatasetConfig(loader="demo")).corpus
    chunking = ChunkingConfig(method="sentence", chunk_size=128, chunk_overlap=32)
    nodes = chunk_documents(chunking, None, demo[:5]).nodes
    assert f"dataset demo: 5 documents -> {len(nodes)} chunks" in out
    (read,) = figures(r"load: .* documents/s \((\d+) read", out)
    assert read == len(demo)
    docs_s, chunks_s = figures(rf"chunk: +{NUMBER} documents/s, +{NUMBER} chunks/s", out)
    assert chunks_s / docs_s == pytest.approx(len(nodes) / 5, rel=0.01)
    (raw,) = figures(rf"encode\): +{NUMBER} chunks/s", out)
    (ours,) = figures(rf"index build\): +{NUMBER} chunks/s", out)
    (ratio,) = figures(rf"ratio ragbench / raw encode: {NUMBER}", out)
    assert is_ratio(ratio, ours, raw, (1, 1, 2))


def test_judge_throughput_with_fakes_counts_its_calls_and_cache_hits(
    main_output: Callable, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The fake LLM and judge stand in for the local ones; the runs, the per-metric figures and
    the cache re-run are the script's own."""
    module = benchmark("judge_throughput")
    monkeypatch.setattr(
        module, "parse_config", lambda data: real_parse_config(data | {"base": FAKE_MODELS})
    )
    monkeypatch.setattr(module, "check_models", lambda: [("llama-cpp-python", "ok", "no build")])
    metrics = ["faithfulness", "answer_relevancy"]
    out = main_output(module, "--questions", 2, "--metrics", *metrics)
    (calls,) = figures(r"2 questions, one trial, local judge; first run \d+ s \((\d+) judge", out)
    assert calls >= 2 * len(metrics)  # at least one judge call per judged question and metric
    # The figures are the two runs in its results file: per metric, judged questions per minute
    # from the seconds each score took; the re-run's cache hits.
    (work,) = tmp_path.glob("ragbench-judge-*")
    first, rerun = stored_runs(work / "j.duckdb")
    assert first.stats.judge_calls == calls
    scores = Store(work / "j.duckdb").scores(first.run_id)
    for metric in metrics:
        per_minute, failed = figures(rf"^  {metric} +{NUMBER} .* (\d+)$", out)
        mine = scores[scores.metric == metric]
        assert len(mine) == 2 and mine.error.isna().all() and failed == 0
        assert per_minute == pytest.approx(60 / mine.seconds.mean(), abs=0.006)
    hits, judged, percent, again = figures(
        r"judge cache hit rate (\d+)/(\d+) = (\d+)%, judge LLM calls (\d+)", out
    )
    assert hits == judged == 2 * len(metrics) and percent == 100 and again == 0
    assert (rerun.stats.judge_cache_hits, rerun.stats.judged) == (hits, judged)


# --- synth agreement: its statistics on known rankings --------------------------------------------


def test_synth_agreement_concordance_of_known_rankings() -> None:
    module = benchmark("synth_agreement")
    a = pd.Series([0.1, 0.2, 0.3, 0.4], index=list("wxyz"))
    assert module.concordance(a, a) == (pytest.approx(1.0), 1.0)
    assert module.concordance(a, -a) == (pytest.approx(-1.0), 0.0)
    swapped = pd.Series([0.1, 0.3, 0.2, 0.4], index=list("wxyz"))  # one of 6 pairs flipped
    assert module.concordance(a, swapped) == (pytest.approx(4 / 6), 5 / 6)
    tied = pd.Series([0.1, 0.1, 0.3, 0.4], index=list("wxyz"))  # the tied pair counts for neither
    assert module.concordance(a, tied)[1] == 1.0


def test_synth_agreement_bootstrap_keeps_an_order_every_question_shares() -> None:
    """Every question ranks the set-ups the same way, so every resample agrees (or disagrees)."""
    module = benchmark("synth_agreement")
    rng = np.random.default_rng(1)
    synth = pd.DataFrame(rng.uniform(0, 0.1, (8, 3)) + [0.0, 0.5, 1.0], columns=list("abc"))
    human = pd.DataFrame(rng.uniform(0, 0.1, (5, 3)) + [0.0, 0.5, 1.0], columns=list("abc"))
    same = module.bootstrap(synth, human, draws=20, seed=0)
    assert same.shape == (20, 2) and (same == 1.0).all()
    reversed_ = module.bootstrap(synth, human[list("cba")], draws=20, seed=0)
    assert (reversed_[:, 0] == -1.0).all() and (reversed_[:, 1] == 0.0).all()


def test_ppi_coverage_prints_every_judge_share_and_label_count(main_output: Callable) -> None:
    module = benchmark("ppi_coverage")
    out = main_output(module, "--reps", 40, "--items", 120)
    assert_stamped(out)
    rows = re.findall(r"^(\w+) +([\d.]+) +(\d+)  (.*)$", out, flags=re.M)
    expected = {
        (j, f"{s:.2f}", str(n))
        for j in module.JUDGES
        for s in module.TRUE_SHARES
        for n in module.LABELS
    }
    assert {(j, s, n) for j, s, n, _ in rows} == expected
    lowest = dict.fromkeys(module.METHODS, 1.0)
    for *_, cells in rows:
        values = re.findall(rf"{NUMBER} w +{NUMBER}", cells)
        assert len(values) == len(module.METHODS)
        for method, (coverage, width) in zip(module.METHODS, values, strict=True):
            assert 0 <= float(coverage) <= 1 and float(width) > 0
            lowest[method] = min(lowest[method], float(coverage))
    printed = figures(
        r"lowest coverage: judge only ([\d.]+), PPI ([\d.]+), PPI \(plain\) ([\d.]+), labels only ([\d.]+)",
        out,
    )
    assert printed == pytest.approx(tuple(lowest.values()), abs=5e-4)
    # a lenient or harsh judge's own interval sits around the wrong value
    assert lowest["judge only"] < 0.5


def test_ppi_coverage_simulation_is_seeded_and_counts_covered_intervals() -> None:
    module = benchmark("ppi_coverage")
    one = module.simulate((0.9, 0.45), 0.6, 20, 100, 30, seed=1)
    assert one == module.simulate((0.9, 0.45), 0.6, 20, 100, 30, seed=1)
    assert all(c * 30 == round(c * 30) for c, _ in one.values())  # a share of 30 repetitions


def test_judge_agreement_counts_degenerate_first_replies() -> None:
    module = benchmark("judge_agreement")
    copied = {"reason": "The context does not say.", "verdict": 0}
    trace = [
        {"StatementGeneratorOutput": {"statements": ["a opened in 2024", "b has 120 items"]}},
        {"Verdicts": {"verdicts": [copied, copied]}},
        {"degenerate": {"problems": ["copied_reason"]}},
        {"Verdicts": {"verdicts": [{"reason": "It says 2024.", "verdict": 1}]}},  # a re-ask
    ]
    one = {
        "trace": [
            {"StatementGeneratorOutput": {"statements": ["c is open"]}},
            {"Verdicts": {"verdicts": [{"reason": "Says so.", "verdict": 1}]}},
        ]
    }
    counts = module.degenerate_counts([{"trace": trace, "judge_reasked": 2}, one], echoed=False)
    assert counts == {
        "several": 1,  # the one-statement reply does not count
        "degenerate": 1,
        "copied_reason": 1,
        "contradiction": 0,
        "reasked": 2,
    }


def test_judge_agreement_with_a_fake_judge_prints_each_variant(
    main_output: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = benchmark("judge_agreement")
    real = module.JudgeConfig
    monkeypatch.setattr(module, "JudgeConfig", lambda **kw: real(**kw | {"provider": "fake"}))
    out = main_output(
        module, "--limit", 6, "--variants", "baseline,repair", "--thresholds", "0.5,1"
    )
    assert_stamped(out)
    for name in ("baseline", "repair"):
        n, failed, wall, per_minute = figures(
            rf"^{name} \(.*\): (\d+) judged, (\d+) failed, {NUMBER} s wall, {NUMBER} judged", out
        )
        assert n + failed == 6
        assert wall == 0 or is_ratio(per_minute, 60 * n, wall, (0, 0, 2))
    assert len(re.findall(r"^  threshold (0\.5|1): balanced accuracy", out, flags=re.M)) == 4


def test_judge_agreement_counts_the_runs_of_a_results_file(
    main_output: Callable, tmp_path: Path
) -> None:
    from ragbench.config.experiment import load_config
    from ragbench.experiment.orchestrator import run

    db = tmp_path / "r.duckdb"
    result = run(load_config(ROOT / "tests" / "data" / "smoke.yaml"), db=db, progress=False)
    out = main_output(benchmark("judge_agreement"), "--count", db)
    (n,) = figures(rf"^{result.run_id} \(smoke.*\): (\d+) faithfulness scores", out)
    scores = Store(db, read_only=True).scores(result.run_id)
    assert n == int((scores.metric == "faithfulness").sum())


def test_ppi_real_pools_judge_check_runs_and_checks_each_draw(
    main_output: Callable, tmp_path: Path
) -> None:
    from ragbench.config.components import JudgeConfig
    from ragbench.judge.check import check_dataset

    labelled = tmp_path / "labelled.csv"
    rows = [("The shop opens at nine.", "It opens at nine.", 1)] * 9
    rows += [("The shop opens at nine.", "It closes at noon on Sundays.", 0)] * 7
    pd.DataFrame(rows, columns=["context", "answer", "label"]).to_csv(labelled, index=False)
    db = tmp_path / "check.duckdb"
    check_dataset(labelled, judge=JudgeConfig(provider="fake"), db=db, progress=False)
    module = benchmark("ppi_real")
    items = module.judged_items([db])
    assert len(items) == 16 and items.label.sum() == 9
    out = main_output(module, db, "--labels", "4,8,16", "--reps", 50)
    assert_stamped(out)
    assert "truth: people call 0.562 of them supported (9 of 16)" in out
    assert re.search(r"^    16  skipped: needs 2 <= k < 16$", out, flags=re.M)
    for k in (4, 8):
        cells = figures(
            rf"^ +{k} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}$", out
        )
        coverage, width, error, labels_coverage, labels_width, labels_error = cells
        assert all(0 <= c <= 1 for c in (coverage, error, labels_coverage, labels_error))
        assert width > 0 and 0 < labels_width <= 1  # a t interval from 4 labels may pass 1
    # every draw's coverage is a share of the 50 draws, and draws are seeded
    score, label = items.score.to_numpy(float), items.label.to_numpy(float)
    found = module.draws(score, label, 8, 50, seed=3)
    assert found == module.draws(score, label, 8, 50, seed=3)
    assert all(round(c * 50) == c * 50 for c, _, _ in found.values())
