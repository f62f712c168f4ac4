"""Budgeted, adaptive judging: the allocator on score matrices with a known answer, the look plan,
the config keys, and end-to-end fake runs (rows, report table, resume)."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ragbench.config.experiment import ConfigError, parse_config
from ragbench.experiment.allocation import ALL_JUDGED, EXHAUSTED, Allocator, Budget
from ragbench.experiment.context import judged_order, judged_subset
from ragbench.experiment.judging import JudgingWork
from ragbench.experiment.orchestrator import run
from ragbench.judge.scoring import Judge, Score
from ragbench.render.report import load
from ragbench.stats import (
    best_trial,
    compare_with_best,
    look_plan,
    order_by_mean,
    sign_flip_p_value,
)
from ragbench.stats.sequential import _may_pass
from ragbench.store import Store

ALPHA = 0.05


def replay(
    matrix: np.ndarray,
    policy: str,
    budget: Budget | None = None,
    seconds: Callable[[int, int], float] = lambda t, q: 1.0,
    per_round: int = 1,
) -> Allocator:
    """Run an allocator over a trials x questions matrix of decision-metric values."""
    trials = [f"T{i}" for i in range(matrix.shape[0])]
    questions = [f"q{j:03d}" for j in range(matrix.shape[1])]
    alloc = Allocator(trials, questions, "faithfulness", policy, budget)
    while pairs := alloc.next_round(per_round):
        for trial, question in pairs:
            t, q = int(trial[1:]), int(question[1:])
            value = matrix[t, q]
            alloc.record(trial, question, None if math.isnan(value) else value, seconds(t, q))
    return alloc


def known_matrix(seed: int, kind: str, questions: int = 40) -> np.ndarray:
    """T0 clearly best; T1 and T2 tied with each other (identical scores), below T0;
    T3 and T4 clearly worse. ``kind``: binary (0/1) or continuous (shares of 1-5 statements)."""
    rng = np.random.default_rng(seed)
    if kind == "binary":
        p = np.array([0.95, 0.55, 0.55, 0.1, 0.1])[:, None]
        matrix = (rng.uniform(size=(5, questions)) < p).astype(float)
    else:
        logit = np.array([2.5, 0.4, 0.4, -2.0, -2.0])[:, None] + rng.normal(0, 0.5, (5, questions))
        statements = rng.integers(1, 6, (5, questions))
        matrix = rng.binomial(statements, 1 / (1 + np.exp(-logit))) / statements
    matrix[2] = matrix[1]  # tied: the same verdicts on every question
    return matrix


def null_matrix(seed: int, trials: int = 4, questions: int = 40) -> np.ndarray:
    """Every trial equal: question difficulty shared, per-answer noise, 1-5 statements."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 1, questions)[None, :] + rng.normal(0, 0.8, (trials, questions))
    statements = rng.integers(1, 6, (trials, questions))
    return rng.binomial(statements, 1 / (1 + np.exp(-logit))) / statements


# --- uniform and the budget ------------------------------------------------------------------------


def test_uniform_spends_evenly_and_stops_exactly_at_the_budget_mid_round() -> None:
    matrix = np.full((3, 10), 0.5)
    alloc = Allocator(["a", "b", "c"], [f"q{j}" for j in range(10)], "m", "uniform", Budget(14))
    first = alloc.next_round()
    assert first == [("a", "q0"), ("b", "q0"), ("c", "q0")]  # the same question for every trial
    for trial, question in first:
        alloc.record(trial, question, 0.5, 1.0)
    rounds = [first]
    while pairs := alloc.next_round():
        rounds.append(pairs)
        for trial, question in pairs:
            alloc.record(trial, question, float(matrix[0, 0]), 1.0)
    assert alloc.spent_verdicts == 14  # exactly the budget, reached in the middle of round 5
    assert rounds[-1] == [("a", "q4"), ("b", "q4")]
    status = alloc.status()
    assert [status[t].verdicts for t in "abc"] == [5, 5, 4]
    assert {s.reason for s in status.values()} == {EXHAUSTED}
    assert not any(s.stopped for s in status.values())
    assert alloc.next_round() == []


def test_uniform_without_a_budget_judges_everything() -> None:
    alloc = replay(np.full((2, 7), 1.0), "uniform")
    assert alloc.verdicts == {"T0": 7, "T1": 7}
    assert {s.reason for s in alloc.status().values()} == {ALL_JUDGED}


def test_seconds_budget_is_checked_before_each_round_and_cuts_the_round() -> None:
    # 2 s per verdict, 15 s: round 1 (3 verdicts, 6 s); round 2: 9 s left buy 5 at the mean
    # cost, 3 are due (12 s); round 3: 3 s left buy 2 of 3 (16 s); then nothing is left.
    alloc = replay(np.full((3, 10), 0.5), "uniform", Budget(seconds=15), lambda t, q: 2.0)
    assert alloc.spent_seconds == 16.0
    assert [alloc.verdicts[t] for t in ("T0", "T1", "T2")] == [3, 3, 2]
    assert {s.reason for s in alloc.status().values()} == {EXHAUSTED}


def test_both_budgets_whichever_ends_first() -> None:
    alloc = replay(np.full((2, 10), 0.5), "uniform", Budget(verdicts=8, seconds=100))
    assert alloc.spent_verdicts == 8
    alloc = replay(np.full((2, 10), 0.5), "uniform", Budget(verdicts=80, seconds=5))
    assert alloc.spent_verdicts == 5  # 2 + 2 + 1: the 1 s left buys one verdict


def test_round_must_be_recorded_and_pairs_must_be_of_the_round() -> None:
    alloc = Allocator(["a", "b"], ["q1", "q2"], "m", "adaptive")
    pairs = alloc.next_round()
    with pytest.raises(RuntimeError, match="2 pair\\(s\\) of the last round are not recorded"):
        alloc.next_round()
    with pytest.raises(ValueError, match="not a pair of the current round"):
        alloc.record("a", "q2", 1.0, 0.0)
    with pytest.raises(ValueError, match="seconds must be a finite number >= 0"):
        alloc.record(*pairs[0], 1.0, -1.0)
    with pytest.raises(ValueError, match="unknown allocation 'adaptiv'"):
        Allocator(["a"], ["q1"], "m", "adaptiv")
    with pytest.raises(ValueError, match="budget verdicts must be a whole number"):
        Budget(verdicts=-1)


# --- adaptive on matrices with a known answer --------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_adaptive_stops_the_clearly_worse_early_and_spends_their_verdicts_on_contenders(
    kind: str,
) -> None:
    budget = 120  # uniform: 24 questions for each of the 5 trials
    for seed in range(5):
        matrix = known_matrix(seed, kind, questions=100)
        alloc = replay(matrix, "adaptive", Budget(budget))
        status = alloc.status()
        assert status["T3"].stopped and status["T4"].stopped, (seed, status)
        first_look = min(alloc.plan)
        assert status["T3"].verdicts <= 17 and status["T4"].verdicts <= 17  # an early look
        assert status["T3"].verdicts >= first_look
        assert re.fullmatch(
            r"significantly worse than T0 on faithfulness \(p=[0-9.e-]+, Holm over \d+ pairs, "
            r"n=\d+; look at \d+ questions with alpha [0-9.e-]+\)",
            status["T3"].reason,
        )
        assert not status["T0"].stopped  # the true best is never stopped
        assert status["T1"].stopped == status["T2"].stopped  # tied trials share their fate
        assert alloc.spent_verdicts == budget
        assert alloc.best() == "T0"
        uniform = replay(matrix, "uniform", Budget(budget))
        assert uniform.verdicts["T0"] == 24
        assert alloc.verdicts["T0"] > 24  # the verdicts saved went to the contenders
        assert not any(s.stopped for s in uniform.status().values())


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_adaptive_never_stops_the_true_best_or_a_tie_of_it(kind: str) -> None:
    for seed in range(20):
        matrix = known_matrix(seed, kind, questions=100)
        matrix[1] = matrix[0]  # T1 now tied with the best
        alloc = replay(matrix, "adaptive", Budget(150))
        status = alloc.status()
        assert not status["T0"].stopped and not status["T1"].stopped, (seed, status)
        assert status["T3"].stopped and status["T4"].stopped
        assert status["T0"].verdicts - status["T1"].verdicts in (0, 1)  # paired but the last
        # an exact tie: the last, cut round decides which of the two is "best so far"
        assert {status["T0"].reason, status["T1"].reason} == {
            f"{EXHAUSTED}; best so far",
            f"{EXHAUSTED}; still in contention",
        }


def test_adaptive_reasons_when_the_budget_ends_mid_round() -> None:
    matrix = np.array([[1.0] * 40, [1.0] * 40, [0.0] * 40])  # T0 and T1 tie, T2 always wrong
    alloc = replay(matrix, "adaptive", Budget(55))
    assert min(alloc.plan) == 10
    status = alloc.status()
    assert status["T2"].stopped and status["T2"].verdicts == 10  # at the first look
    assert "significantly worse than T0 on faithfulness (p=0.0059, Holm over 3 pairs, n=10;" in (
        status["T2"].reason
    )
    # the other 25 verdicts went to T0 and T1 in rounds of 2: the last round is cut in half
    assert (status["T0"].verdicts, status["T1"].verdicts) == (23, 22)  # the best is served first
    assert alloc.spent_verdicts == 55
    assert status["T0"].reason == f"{EXHAUSTED}; best so far"
    assert status["T1"].reason == f"{EXHAUSTED}; still in contention"


def test_adaptive_alone_best_gets_the_rest_and_all_questions_judged() -> None:
    matrix = known_matrix(1, "continuous", questions=30)[[0, 3, 4]]
    alloc = replay(matrix, "adaptive")  # unlimited: every question of the trials in contention
    status = alloc.status()
    assert status["T0"].verdicts == 30
    assert status["T0"].reason == f"{ALL_JUDGED}; best, every other trial stopped"
    assert status["T1"].stopped and status["T2"].stopped
    assert alloc.spent_verdicts == 30 + status["T1"].verdicts + status["T2"].verdicts


def test_failed_verdicts_count_against_the_budget_but_not_in_the_test() -> None:
    matrix = known_matrix(2, "binary", questions=100)[[0, 3]]
    matrix[:, ::4] = np.nan  # every 4th question failed for both trials
    alloc = replay(matrix, "adaptive", Budget(60))
    assert alloc.spent_verdicts == 60
    status = alloc.status()
    assert status["T1"].stopped
    n = int(status["T1"].reason.split("n=")[1].split(";")[0])
    assert n == status["T1"].verdicts - math.ceil(status["T1"].verdicts / 4)


def test_batched_rounds_take_the_same_decisions() -> None:
    matrix = known_matrix(3, "continuous")
    one = replay(matrix, "adaptive", Budget(120))
    many = replay(matrix, "adaptive", Budget(120), per_round=7)
    assert one.status() == many.status()
    assert one.looked == many.looked


def test_uniform_never_stops_anything() -> None:
    alloc = replay(known_matrix(0, "binary"), "uniform", Budget(100))
    assert alloc.plan == {} and alloc.stop_reason == {}
    assert set(alloc.verdicts.values()) == {20}


def test_null_matrices_rarely_stop_a_trial() -> None:
    """All trials equal: the share of runs that stop any trial stays below 2 alpha (measured:
    3.5%); without the correction for repeated looks (every look at alpha) it is 19.5%."""
    runs = 200
    stopped = sum(bool(replay(null_matrix(seed), "adaptive").stop_reason) for seed in range(runs))
    assert stopped / runs <= 2 * ALPHA


# --- the look plan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trials", "questions", "budget"),
    [(2, 20, None), (4, 40, None), (6, 60, None), (6, 60, 108), (8, 100, 300), (3, 200, None)],
)
def test_look_plan_spends_alpha_on_looks_that_can_reject(
    trials: int, questions: int, budget: int | None
) -> None:
    plan = look_plan(trials, questions, ALPHA, 6, budget)
    assert plan
    assert math.isclose(sum(plan.values()), ALPHA)
    pairs = trials * (trials - 1) // 2
    for n, share in plan.items():
        assert 6 <= n < questions
        assert pairs * 2.0 ** (1 - n) < share  # some p-value on n pairs can pass Holm
    looks = list(plan)
    assert looks == sorted(looks)
    assert all(b >= a * 1.25 for a, b in zip(looks, looks[1:], strict=False))
    if budget is not None:  # reachable: others stopped at the first look leave the budget
        assert looks[-1] < budget - (trials - 1) * looks[0]


def test_look_plan_is_empty_when_nothing_can_be_decided() -> None:
    assert look_plan(1, 100) == {}
    assert look_plan(4, 8) == {}  # 8 questions: no p-value can pass Holm over 6 pairs
    assert look_plan(6, 60, max_verdicts=60) == {}  # 10 each: no look before the budget ends
    assert Allocator(["a", "b", "c", "d"], [f"q{i}" for i in range(8)], "m", "adaptive").plan == {}


def test_compare_with_best_holm_over_every_pair() -> None:
    questions = [f"q{i:02d}" for i in range(12)]
    values: dict[str, dict[str, float | None]] = {
        "good": dict.fromkeys(questions, 1.0),
        "tied": dict.fromkeys(questions, 1.0),
        "bad": dict.fromkeys(questions, 0.0),
    }
    look = compare_with_best(values, alpha=0.01)
    assert look.best == "good" and look.pairs == 3
    by_trial = {c.trial_id: c for c in look.comparisons}
    assert by_trial["bad"].n == 12 and by_trial["bad"].mean_diff == -1.0
    # exact sign test: 2 / 2**12; Holm over 3 pairs (the untested third counts as p = 1)
    assert math.isclose(by_trial["bad"].p_adjusted, 3 * 2 / 2**12)
    assert by_trial["tied"].p_adjusted == 1.0
    assert look.worse == ("bad",)
    assert compare_with_best(values, alpha=0.001).worse == ()  # 0.0015 is not below 0.001
    values["bad"] = {q: values["bad"][q] for q in questions[:5]}  # 5 pairs < min_n: untested
    assert compare_with_best(values, alpha=0.5).worse == ()


def test_screen_never_skips_a_comparison_that_would_pass() -> None:
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(150):
        n = int(rng.integers(6, 40))
        diffs = np.round(rng.normal(rng.uniform(-0.5, 0.0), 0.4, n), 2)
        p = sign_flip_p_value(diffs, 0)
        for threshold in (0.001, 0.005, 0.02):
            if p <= threshold:
                checked += 1
                assert _may_pass(diffs, threshold, 0), (p, threshold)
    assert checked >= 50


def test_order_by_mean_is_the_best_trial_rule() -> None:
    values = {"b": {"q1": 1.0, "q2": 0.0}, "a": {"q1": 0.5, "q2": 0.5}, "c": {"q1": None}}
    frame = pd.DataFrame(
        [
            {"trial_id": t, "question_id": q, "metric": "m", "value": v}
            for t, by_q in values.items()
            for q, v in by_q.items()
        ]
    )
    assert order_by_mean(values) == ["a", "b", "c"]  # tie on the mean: the smaller label first
    assert best_trial(frame, "m") == "a"
    assert order_by_mean(values, {"a": "z", "b": "y"}) == ["b", "a", "c"]


def test_judged_order_is_the_seeded_shuffle_of_the_judged_subset() -> None:
    ids = [f"q{i:02d}" for i in range(30)]
    for limit in (None, 0, 5, 12, 30):
        order = judged_order(ids, limit, seed=4)
        assert sorted(order) == judged_subset(ids, limit, 4)
    assert judged_order(ids, 12, 4)[:5] == judged_order(ids, 5, 4)  # larger limits nest
    assert judged_order(ids, None, 4) != ids


# --- config ---------------------------------------------------------------------------------------


def config(**extra: Any) -> Any:
    return parse_config({"name": "x", **extra}, source="exp.yaml")


def config_error(**extra: Any) -> str:
    with pytest.raises(ConfigError) as exc:
        config(**extra)
    return str(exc.value)


def test_config_judge_budget_forms() -> None:
    assert config().judge_budget is None and config().allocation == "uniform"
    bare = config(judge_budget=120).judge_budget
    assert bare is not None and (bare.verdicts, bare.seconds) == (120, None)
    both = config(judge_budget={"verdicts": 50, "seconds": 600}, allocation="adaptive")
    assert both.judge_budget is not None and both.judge_budget.seconds == 600.0
    assert config(allocation="adaptive", allocation_metric="answer_relevancy").allocation_metric


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"judge_budget": 2.5}, "judge_budget: give a whole number of verdicts (e.g. 120)"),
        ({"judge_budget": True}, "judge_budget: give a whole number of verdicts"),
        ({"judge_budget": 0}, "judge_budget.verdicts: Input should be greater than or equal to 1"),
        ({"judge_budget": {}}, "judge_budget: give verdicts, seconds or both"),
        ({"judge_budget": {"second": 5}}, "judge_budget.second: unknown key (did you mean"),
        ({"judge_budget": {"seconds": -1}}, "judge_budget.seconds: Input should be greater than 0"),
        ({"allocation": "adaptiv"}, "unknown allocation 'adaptiv' (did you mean 'adaptive'?)"),
        ({"allocation_metric": "faithfulness"}, "allocation_metric is what allocation: adaptive"),
        (
            {"allocation": "adaptive", "allocation_metric": "mrr"},
            "allocation_metric 'mrr' is not a judged metric in metrics; judged metrics here: "
            "faithfulness, answer_relevancy",
        ),
        (
            {"judge_budget": 10, "metrics": ["mrr"]},
            "judge_budget and allocation spend judged verdicts, and metrics lists no judged",
        ),
    ],
)
def test_config_errors(extra: dict[str, Any], message: str) -> None:
    msg = config_error(**extra)
    assert msg.startswith("exp.yaml: ")
    assert message in msg


# --- end to end with fakes -----------------------------------------------------------------------


@pytest.fixture
def graded_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake judge, graded: faithfulness ~0.9 for top_k 3 (3 contexts), ~0.2 for top_k 2;
    answer_relevancy 0.5; one second per score. Trials with the same top_k tie exactly."""

    def score(self: Judge, metric: str, user_input: str, response: str, contexts: list[str],
              *, reference: str = "") -> Score:  # fmt: skip
        noise = (sum(map(ord, user_input)) % 7) / 100
        value = (0.9 if len(contexts) == 3 else 0.2) - noise
        return Score(value if metric == "faithfulness" else 0.5, None, 1.0, {})

    monkeypatch.setattr(Judge, "score", score)


def budget_config(fake_config_data: dict[str, Any], **extra: Any) -> Any:
    data = copy.deepcopy(fake_config_data)
    data.update({"limit": None, "judge_limit": None, "judge_budget": 60, "allocation": "adaptive"})
    return parse_config(data | extra)


def test_adaptive_run_end_to_end(
    graded_judge: None, fake_config_data: dict[str, Any], tmp_db: Path
) -> None:
    result = run(budget_config(fake_config_data), db=tmp_db, progress=False)
    store = Store(tmp_db, read_only=True)
    scores = store.scores(result.run_id)
    judged = scores[scores.metric.isin(["faithfulness", "answer_relevancy"])]
    # retrieval metrics: every trial and every question with gold documents (22 of the 25)
    assert len(scores) - len(judged) == 4 * 22 * 2
    assert len(judged) == 60 * 2  # 60 verdicts, two judged metrics each
    records = store.records_frame(result.run_id)
    assert len(records) == 100 and int(records.response.notna().sum()) == 60
    alloc = store.run_info(result.run_id).stats.allocation
    top_k = {t.trial_id: t.pipeline.retrieval.top_k for t in result.trials}
    stopped = {t for t, s in alloc["trials"].items() if s["stopped"]}
    assert stopped == {t for t, k in top_k.items() if k == 2}
    first_look = min(int(n) for n in alloc["looks"])
    assert first_look == 10
    assert all(alloc["trials"][t]["verdicts"] == first_look for t in stopped)
    kept = [alloc["trials"][t]["verdicts"] for t in top_k if t not in stopped]
    assert sorted(kept) == [(60 - 2 * first_look) // 2] * 2
    per_trial = judged[judged.metric == "faithfulness"].groupby("trial_id").size().to_dict()
    assert per_trial == {t: s["verdicts"] for t, s in alloc["trials"].items()}
    order = judged_order([f"q{i:02d}" for i in range(1, 26)], None, 0)
    for t, n in per_trial.items():  # every trial got a prefix of the same seeded order
        assert set(judged[judged.trial_id == t].question_id) == set(order[:n])

    rep = load(tmp_db, run_id=result.run_id)
    html, markdown, text = rep.html(), rep.markdown(), rep.table
    assert "Judging budget" in html and "why it stopped" in html
    assert "## Judging budget" in markdown and "| trial | verdicts | why it stopped |" in markdown
    labels = {t.trial_id: t.label for t in result.trials}
    for trial_id, s in alloc["trials"].items():
        assert f"| {labels[trial_id]} | {s['verdicts']} | {s['reason']} |" in markdown
    assert "significantly worse than" in text and "adaptive allocation, budget 60 verdicts" in text
    assert "(answer_relevancy follows its verdicts)" in markdown


def test_adaptive_run_resumes_where_it_stopped(
    graded_judge: None,
    fake_config_data: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = budget_config(fake_config_data)
    whole = run(config, db=tmp_path / "whole.duckdb", progress=False)
    expected = Store(tmp_path / "whole.duckdb").run_info(whole.run_id).stats.allocation

    compute_item = JudgingWork.compute  # what the executor runs for each (trial, question)
    calls = {"n": 0}

    def dies_after_45(self: JudgingWork, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 45:
            raise KeyboardInterrupt
        return compute_item(self, *args)

    monkeypatch.setattr(JudgingWork, "compute", dies_after_45)
    db = tmp_path / "cut.duckdb"
    with pytest.raises(KeyboardInterrupt):
        run(config, db=db, progress=False)
    cut = Store(db).runs().run_id.iloc[0]
    partial = Store(db).run_info(cut).stats.allocation
    # 40 verdicts before the first look (4 trials x 10), then rounds of 2; the 46th died
    assert partial["spent_verdicts"] == 44
    monkeypatch.setattr(JudgingWork, "compute", compute_item)
    resumed = run(config, db=db, resume=cut, progress=False)
    got = Store(db).run_info(resumed.run_id).stats.allocation
    assert got["trials"] == expected["trials"]
    assert got["spent_verdicts"] == 60
    assert resumed.stats.judged == (60 - 45) * 2  # only the verdicts not written before
    scores = Store(db).scores(cut)
    assert int(scores.metric.isin(["faithfulness", "answer_relevancy"]).sum()) == 120


def test_uniform_budget_end_to_end(fake_config_data: dict[str, Any], tmp_db: Path) -> None:
    config = budget_config(fake_config_data, allocation="uniform", judge_limit=4, judge_budget=14)
    result = run(config, db=tmp_db, progress=False)
    alloc = result.stats.allocation
    assert alloc["spent_verdicts"] == 14  # judge_limit 4 x 4 trials = 16 > 14: budget wins
    got = sorted((s["verdicts"], s["reason"]) for s in alloc["trials"].values())
    assert got == [(3, EXHAUSTED), (3, EXHAUSTED), (4, ALL_JUDGED), (4, ALL_JUDGED)]
    scores = Store(tmp_db).scores(result.run_id)
    assert int((scores.metric == "faithfulness").sum()) == 14
    rep = load(tmp_db, run_id=result.run_id)
    assert "uniform allocation, budget 14 verdicts: 14 verdicts" in rep.markdown()


def test_no_budget_no_table(fake_config_data: dict[str, Any], tmp_db: Path) -> None:
    result = run(parse_config(copy.deepcopy(fake_config_data)), db=tmp_db, progress=False)
    assert result.stats.allocation is None
    rep = load(tmp_db, run_id=result.run_id)
    assert "Judging budget" not in rep.html() and "Judging budget" not in rep.markdown()
