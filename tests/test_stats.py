"""Statistics: intervals (coverage, degenerate samples), paired tests, Holm, rankings, best trial."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ragbench.stats import (
    MIN_N,
    RANKING_COLUMNS,
    SCIPY_MAX_N,
    SUMMARY_COLUMNS,
    best_trial,
    constant_interval,
    holm,
    mean_ci,
    order_trials,
    paired_comparison,
    rank_all,
    rank_trials,
    sign_flip_p_value,
    summarize,
    wilson_interval,
)


def qids(n: int) -> list[str]:
    return [f"q{i:02d}" for i in range(n)]


def as_dict(values: np.ndarray | list[float]) -> dict[str, float]:
    return dict(zip(qids(len(values)), (float(v) for v in values), strict=True))


def long_scores(
    trials: dict[str, dict[str, float | None]], metric: str = "faithfulness"
) -> pd.DataFrame:
    """Long format as ``Store.scores`` returns it; the trial label is the trial id upper-cased."""
    rows = [
        {"trial_id": t, "label": t.upper(), "question_id": q, "metric": metric, "value": v}
        for t, values in trials.items()
        for q, v in values.items()
    ]
    return pd.DataFrame(rows).astype({"value": float})  # as Store.scores: None is NaN


@pytest.fixture
def clear_winner() -> tuple[dict[str, float], dict[str, float]]:
    rng = np.random.default_rng(42)
    b = rng.uniform(0.2, 0.6, size=30)
    a = b + 0.3 + rng.normal(0, 0.03, size=30)
    return as_dict(a), as_dict(b)


# --- intervals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (17, 40)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_matches_scipy(k: int, n: int, confidence: float) -> None:
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(k / n, n, confidence) == pytest.approx((ref.low, ref.high), abs=1e-12)


@pytest.mark.parametrize(("p", "n"), [(0.1, 20), (0.5, 10), (0.8, 30), (0.95, 60)])
def test_wilson_coverage_is_near_nominal(p: float, n: int) -> None:
    # exact coverage: the probability over k ~ Binomial(n, p) that the interval holds p
    ks = np.arange(n + 1)
    covered = [lo <= p <= hi for lo, hi in (wilson_interval(k / n, n) for k in ks)]
    coverage = float(sps.binom.pmf(ks, n, p)[covered].sum())
    assert 0.90 <= coverage <= 0.99


def test_binary_metric_never_gets_a_zero_width_interval() -> None:
    ci = mean_ci([1.0] * 10)
    assert ci.method == "wilson" and ci.mean == 1.0 and ci.high == 1.0
    assert ci.low == pytest.approx(10 / (10 + sps.norm.ppf(0.975) ** 2))  # 0.72, not 1.00
    zeros = mean_ci([0.0] * 3)
    assert zeros.low == 0.0 and zeros.high == pytest.approx(0.5614, abs=1e-4)
    one = mean_ci([1.0])  # one 0/1 value still has a Wilson interval
    assert one.method == "wilson" and one.low == pytest.approx(0.2065, abs=1e-4)


def test_constant_non_binary_sample_gets_the_bounded_interval() -> None:
    ci = mean_ci([0.5] * 10)
    assert ci.method == "wilson"
    u = wilson_interval(0.0, 10)[1]
    assert (ci.low, ci.high) == pytest.approx((0.5 - 0.5 * u, 0.5 + 0.5 * u))
    assert ci.low < 0.5 < ci.high
    # the rule is Wilson's own interval at 0/n and n/n
    assert constant_interval(1.0, 7, (0.0, 1.0)) == pytest.approx(wilson_interval(1.0, 7))
    assert constant_interval(0.0, 7, (0.0, 1.0)) == pytest.approx(wilson_interval(0.0, 7))
    outside = mean_ci([3.0, 3.0])  # unknown range: no interval rather than a fake one
    assert outside.method == "constant" and math.isnan(outside.low)


def test_tiny_and_empty_samples() -> None:
    none = mean_ci([])
    assert none.method == "none" and none.n == 0 and math.isnan(none.mean)
    single = mean_ci([0.4])
    assert single.method == "single" and single.mean == 0.4
    assert math.isnan(single.low) and math.isnan(single.high)
    dropped = mean_ci([0.4, float("nan"), 0.6])
    assert dropped.n == 2 and dropped.mean == pytest.approx(0.5)


def test_small_samples_use_t_and_large_ones_bca() -> None:
    small = mean_ci([0.2, 0.4, 0.9])
    assert small.method == "t"
    ref = sps.t.interval(0.95, 2, loc=0.5, scale=np.std([0.2, 0.4, 0.9], ddof=1) / math.sqrt(3))
    assert small.low == max(ref[0], 0.0) and small.high == min(ref[1], 1.0)
    values = np.random.default_rng(0).beta(2, 5, size=60)
    large = mean_ci(values)
    assert large.method == "bca" and large.low < values.mean() < large.high
    assert mean_ci(values) == large  # seeded


def test_interval_coverage_sanity() -> None:
    # t below 20 values, BCa above: both near 95% on a skewed [0, 1] distribution
    rng = np.random.default_rng(11)
    mu = 2 / 7  # mean of Beta(2, 5)
    for n, reps in ((5, 300), (30, 80)):
        hits = sum(
            ci.low <= mu <= ci.high
            for ci in (mean_ci(rng.beta(2, 5, size=n), seed=i) for i in range(reps))
        )
        assert hits / reps >= 0.87, (n, hits / reps)


# --- paired comparison -----------------------------------------------------------------------


def test_identical_trials_tie() -> None:
    scores = as_dict(np.random.default_rng(1).uniform(size=20))
    res = paired_comparison(scores, dict(scores))
    assert (res.mean_diff, res.p_value, res.n) == (0.0, 1.0, 20)
    # all 20 differences are 0: not a fake [0, 0] but the bound for "none of 20 differ"
    u = wilson_interval(0.0, 20)[1]
    assert (res.ci_low, res.ci_high) == pytest.approx((-u, u)) and res.ci_method == "wilson"


def test_clear_winner_is_significant(
    clear_winner: tuple[dict[str, float], dict[str, float]],
) -> None:
    a, b = clear_winner
    res = paired_comparison(a, b)
    assert res.n == 30 and res.ci_method == "bca"
    assert res.mean_diff == pytest.approx(np.mean([a[q] - b[q] for q in a]))
    assert 0.25 < res.ci_low < res.mean_diff < res.ci_high < 0.35
    # 30 positive differences of different sizes: Monte Carlo, smallest p = 2 / 10,000
    assert res.p_value == pytest.approx(2 / 10_000)
    reverse = paired_comparison(b, a)
    assert reverse.mean_diff == pytest.approx(-res.mean_diff)
    assert reverse.ci_high < 0 and reverse.p_value == res.p_value


@pytest.mark.parametrize(
    ("diffs", "expected"),
    [
        ([1.0, 1.0, 1.0], 2 / 8),  # only +++ and --- reach |sum| = 3
        ([2.0, 1.0, -1.0], 6 / 8),  # |sum| of the 8 flips: 2 4 0 2 2 0 4 2 -> six are >= 2
        ([0.5, -0.5], 1.0),
        ([0.3, 0.3, 0.0, 0.0], 2 / 4),  # zeros change nothing
        ([0.9, 0.2, 0.4, 0.7, -0.1, 0.3], 4 / 64),  # only +all and the flip of -0.1, and mirrors
    ],
)
def test_exact_sign_flip_p_value(diffs: list[float], expected: float) -> None:
    for seed in (0, 1):  # exact: the seed does not matter
        assert sign_flip_p_value(diffs, seed=seed) == pytest.approx(expected)


def test_equal_size_differences_are_an_exact_sign_test_at_any_n() -> None:
    # 0/1 metric: 40 of 50 questions differ, 30 in favour of A -> binomial(40, 1/2)
    diffs = [1.0] * 30 + [-1.0] * 10 + [0.0] * 10
    expected = sps.binomtest(30, 40, 0.5).pvalue
    assert sign_flip_p_value(diffs) == pytest.approx(expected)
    assert sign_flip_p_value([0.2] * 17) == pytest.approx(2 / 2**17)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.1])
def test_direct_sign_flips_agree_with_scipy(shift: float) -> None:
    diffs = np.random.default_rng(5).normal(shift, 0.5, size=SCIPY_MAX_N + 50)
    ours = sign_flip_p_value(diffs)
    ref = sps.permutation_test(
        (diffs,), np.mean, permutation_type="samples", n_resamples=9999, rng=1
    ).pvalue
    assert abs(ours - ref) < 0.02, (ours, ref)  # Monte Carlo error of 9,999 flips is ~0.005
    assert sign_flip_p_value(diffs) == ours  # seeded


def test_small_sample_with_large_difference_is_not_significant() -> None:
    res = paired_comparison(as_dict([0.9, 0.9]), as_dict([0.1, 0.1]))
    assert res.p_value == pytest.approx(0.5)  # 2 questions cannot show significance
    assert res.ci_low < 0.8 and res.ci_high <= 1.0  # and the interval is honest about it


def test_only_shared_finite_questions_are_compared() -> None:
    a = {"q1": 0.5, "q2": 0.7, "q3": 0.9, "only_a": 100.0, "q4": None, "q5": float("nan")}
    b = {"q1": 0.4, "q2": 0.6, "q3": 0.8, "only_b": -100.0, "q4": 0.1, "q5": 0.2}
    res = paired_comparison(a, b)
    assert res.n == 3 and res.mean_diff == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("a", "b"), [({}, {}), ({"q1": 0.5}, {"q2": 0.5}), ({"q1": float("nan")}, {"q1": 0.5})]
)
def test_no_shared_question_gives_nans(a: dict[str, float], b: dict[str, float]) -> None:
    res = paired_comparison(a, b)
    assert res.n == 0
    assert all(math.isnan(x) for x in (res.mean_diff, res.ci_low, res.ci_high, res.p_value))
    assert not res.ci_contains_zero


def test_same_seed_same_numbers(clear_winner: tuple[dict[str, float], dict[str, float]]) -> None:
    a, b = clear_winner
    noisy_b = {q: v + 0.3 * math.sin(i) for i, (q, v) in enumerate(b.items())}
    first = paired_comparison(a, noisy_b, seed=7)
    assert paired_comparison(dict(reversed(a.items())), noisy_b, seed=7) == first  # order-free
    other = paired_comparison(a, noisy_b, seed=8)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert other.mean_diff == first.mean_diff


# --- Holm ------------------------------------------------------------------------------------


def test_holm_hand_worked() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm([0.01, float("nan"), 0.02])  # NaN is not a test: m = 2
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)
    assert holm([]).size == 0


# --- summarize ---------------------------------------------------------------------------------


def test_summarize_columns_methods_and_failures() -> None:
    scores = pd.concat(
        [
            long_scores(
                {"t1": {"q1": 1.0, "q2": 0.0, "q3": None}, "t2": {"q1": 1.0, "q2": 1.0}}, "hit_rate"
            ),
            long_scores(
                {"t1": {"q1": 0.2, "q2": 0.5, "q3": 0.9}, "t2": {"q1": 0.7, "q2": None}},
                "faithfulness",
            ),
            long_scores({"t1": {"q1": None}}, "answer_relevancy"),
        ]
    )
    out = summarize(scores)
    assert list(out.columns) == SUMMARY_COLUMNS
    rows = out.set_index(["trial_id", "metric"])
    assert rows.loc[("t1", "hit_rate"), ["mean", "n", "n_failed", "method"]].tolist() == [
        0.5,
        2,
        1,
        "wilson",
    ]
    assert rows.loc[("t2", "hit_rate"), "ci_low"] < 1.0  # 2 of 2: no [1.00, 1.00]
    assert rows.loc[("t1", "faithfulness"), "method"] == "t"
    single = rows.loc[("t2", "faithfulness")]
    assert single["method"] == "single" and single["n_failed"] == 1
    empty = rows.loc[("t1", "answer_relevancy")]
    assert empty["method"] == "none" and empty["n"] == 0 and empty["n_failed"] == 1
    assert out.trial_id.tolist() == ["t1"] * 3 + ["t2"] * 2  # by label, metrics as they came


def test_binary_is_decided_per_metric_over_all_trials() -> None:
    # t1 happens to score 0/1 only, but the metric is continuous: t2 has 0.5
    scores = long_scores(
        {"t1": {f"q{i}": float(i % 2) for i in range(30)}, "t2": {f"q{i}": 0.5 for i in range(30)}}
    )
    out = summarize(scores).set_index("trial_id")
    assert out.loc["t1", "method"] == "bca"
    assert out.loc["t2", "method"] == "wilson"  # constant: the bounded interval


def test_summarize_is_order_free() -> None:
    rng = np.random.default_rng(4)
    scores = long_scores({"a": as_dict(rng.uniform(size=40)), "b": as_dict(rng.uniform(size=40))})
    pd.testing.assert_frame_equal(
        summarize(scores.sample(frac=1, random_state=3)), summarize(scores)
    )


def test_bad_input_is_one_clear_error() -> None:
    scores = long_scores({"t1": {"q1": 0.5}})
    with pytest.raises(ValueError, match="value"):
        summarize(scores.drop(columns="value"))
    with pytest.raises(ValueError, match="twice"):
        rank_trials(pd.concat([scores, scores]), "faithfulness")


# --- best trial and rankings ------------------------------------------------------------------


def test_best_trial_rule() -> None:
    scores = long_scores(
        {
            "z": {"q1": 0.8, "q2": 0.6},
            "b": {"q1": 0.6, "q2": 0.8},
            "a": {"q1": 0.1, "q2": 0.2},
            "c": {"q1": 1.0, "q2": None, "q3": None},
        }
    )
    assert best_trial(scores, "faithfulness") == "c"  # failures are not zeros
    tie = scores[scores.trial_id != "c"]
    assert best_trial(tie, "faithfulness") == "b"  # tie on 0.7: label B before Z
    same_label = tie.assign(label="same")
    assert best_trial(same_label, "faithfulness") == "b"  # then trial_id
    assert best_trial(scores, "no_such_metric") is None
    assert best_trial(long_scores({"x": {"q1": None}}), "faithfulness") is None
    assert rank_trials(tie, "faithfulness").trial_id.iloc[0] == best_trial(tie, "faithfulness")
    order = order_trials(scores, "faithfulness")
    assert order.trial_id.tolist() == ["c", "b", "z", "a"]  # the ranking's order, no resampling
    assert order["mean"].tolist() == pytest.approx([1.0, 0.7, 0.7, 0.15])
    assert order.n.tolist() == [1, 2, 2, 2]
    assert order.trial_id.tolist() == rank_trials(scores, "faithfulness").trial_id.tolist()


def test_rank_clear_winner(clear_winner: tuple[dict[str, float], dict[str, float]]) -> None:
    a, b = clear_winner
    close = {q: v + (0.02 if i % 2 else -0.03) for i, (q, v) in enumerate(a.items())}
    scores = long_scores({"loser": b, "winner": a, "close": close})
    ranking = rank_trials(scores, "faithfulness").set_index("trial_id")
    assert list(ranking.reset_index().columns) == RANKING_COLUMNS
    assert ranking.index.tolist() == ["winner", "close", "loser"]
    assert ranking["rank"].tolist() == [1, 2, 3]
    assert ranking.verdict.tolist() == ["best", "tied", "worse"]
    assert ranking.tied_with_best.tolist() == [True, True, False]
    winner = ranking.loc["winner"]
    assert winner.diff_vs_best == 0.0 and math.isnan(winner.p_value)
    loser = ranking.loc["loser"]
    assert loser.diff_ci_high < 0 and loser.p_adjusted == pytest.approx(2 * loser.p_value)
    assert ranking.loc["close", "p_adjusted"] >= 0.05


def test_identical_trials_are_all_tied() -> None:
    values = as_dict(np.random.default_rng(3).uniform(size=12))
    ranking = rank_trials(long_scores({"t1": values, "t2": dict(values)}), "faithfulness")
    assert ranking.verdict.tolist() == ["best", "tied"]
    assert ranking["rank"].tolist() == [1, 1]  # equal means share the rank
    assert ranking.label.tolist() == ["T1", "T2"]  # ... and the order falls back on the label


def test_min_n_boundary() -> None:
    # every pair differs by 0.5 in favour of the best: exact p = 2 / 2**n
    def ranking(n: int) -> pd.Series:
        best = {f"q{i}": 0.9 for i in range(n)}
        return rank_trials(
            long_scores({"best": best, "other": {q: 0.4 for q in best}}), "faithfulness"
        ).iloc[1]

    below = ranking(MIN_N - 1)
    assert below.verdict == "too_few" and below.tied_with_best and math.isnan(below.p_adjusted)
    assert below.p_value == pytest.approx(2 / 2 ** (MIN_N - 1)) and below.p_value > 0.05
    at = ranking(MIN_N)
    assert at.verdict == "worse" and at.p_adjusted == pytest.approx(2 / 2**MIN_N)
    assert at.p_adjusted < 0.05


def test_not_compared_trials() -> None:
    scores = long_scores(
        {
            "none": {"q1": None, "q2": None},
            "some": {"q1": 0.2, "q2": 0.4},
            "elsewhere": {"q9": 0.1},
        }
    )
    ranking = rank_trials(scores, "faithfulness")
    assert ranking.trial_id.tolist() == ["some", "elsewhere", "none"]
    assert ranking.verdict.tolist() == ["best", "not_compared", "not_compared"]
    assert not ranking.tied_with_best.iloc[1:].any()
    assert pd.isna(ranking["rank"].iloc[2]) and ranking["rank"].iloc[1] == 2
    empty = rank_trials(scores, "no_such_metric")
    assert empty.empty and list(empty.columns) == RANKING_COLUMNS


def test_holm_runs_across_every_metric_of_the_report() -> None:
    # alone, each metric's one comparison is significant (p = 2/2**6 = 0.031); over 2 metrics
    # Holm doubles the smaller one to 0.0625: neither may be called worse any more
    best = {f"q{i}": 0.9 for i in range(6)}
    worse = {q: 0.4 for q in best}
    scores = pd.concat([long_scores({"a": best, "b": worse}, m) for m in ("mrr", "ndcg")])
    alone = rank_trials(scores, "mrr").set_index("trial_id")
    assert alone.loc["b", "verdict"] == "worse"
    together = rank_all(scores, ["mrr", "ndcg"])
    for metric in ("mrr", "ndcg"):
        row = together[metric].set_index("trial_id").loc["b"]
        assert row.p_value == pytest.approx(2 / 64) and row.p_adjusted == pytest.approx(4 / 64)
        assert row.verdict == "tied"


@pytest.mark.parametrize("seed", range(4))
def test_every_worse_verdict_holds_under_the_correction(seed: int) -> None:
    rng = np.random.default_rng(seed)
    trials: dict[str, dict[str, float | None]] = {}
    for t in range(5):  # 5 trials, shifted means, some failures, some short trials
        n = int(rng.integers(3, 30))
        values = np.clip(rng.normal(0.5 + 0.05 * t, 0.2, size=n), 0, 1)
        trials[f"t{t}"] = {
            q: (None if rng.random() < 0.1 else float(v))
            for q, v in zip(qids(n), values, strict=True)
        }
    scores = pd.concat(
        [
            long_scores(trials, "faithfulness"),
            long_scores(
                {
                    t: {q: float(v is not None and v > 0.5) for q, v in d.items()}
                    for t, d in trials.items()
                },
                "hit_rate",
            ),
        ]
    )
    rankings = rank_all(scores, ["faithfulness", "hit_rate"], alpha=0.05)
    tested = pd.concat(rankings.values())
    tested = tested[tested.verdict.isin(["worse", "tied"])]
    # the sentence "significantly worse" is true under Holm over every comparison of the report
    raw = tested.p_value.to_numpy()
    assert tested.p_adjusted.to_numpy() == pytest.approx(holm(raw))
    for ranking in rankings.values():
        assert set(ranking.verdict) <= {"best", "tied", "worse", "too_few", "not_compared"}
        assert (ranking.verdict == "best").sum() == 1
        worse = ranking[ranking.verdict == "worse"]
        assert (worse.p_adjusted < 0.05).all() and (worse.diff_vs_best < 0).all()
        assert (ranking[ranking.verdict == "tied"].p_adjusted >= 0.05).all()


def test_rank_is_deterministic(clear_winner: tuple[dict[str, float], dict[str, float]]) -> None:
    a, b = clear_winner
    scores = long_scores({"a": a, "b": {q: v + 0.25 for q, v in b.items()}})
    first = rank_trials(scores, "faithfulness")
    shuffled = rank_trials(scores.sample(frac=1, random_state=1), "faithfulness")
    pd.testing.assert_frame_equal(shuffled, first)


def test_questions_needed_matches_the_normal_power_formula() -> None:
    from scipy.stats import norm

    from ragbench.stats import questions_needed

    diffs = [0.1, 0.3, -0.1, 0.2, 0.0, 0.4]
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
    z = norm.ppf(1 - 0.05 / 2) + norm.ppf(0.8)
    assert questions_needed(diffs) == int(np.ceil((z * sd / mean) ** 2))
    # more comparisons (Bonferroni) need more questions; a clear effect needs no more than it has
    assert questions_needed(diffs, comparisons=3) > questions_needed(diffs)
    assert questions_needed([1.0, 0.9, 1.0, 0.95]) == 4
    assert questions_needed([0.0, 0.0, 0.0]) is None  # nothing to extrapolate from
    assert questions_needed([0.2, 0.2]) is None  # no spread
    assert questions_needed([0.5]) is None


# --- BCa in linear memory (issue 23, second round) ---------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.beta(2, 5, n),
        lambda rng, n: rng.choice([0.0, 1 / 3, 0.5, 1.0], n, p=[0.5, 0.1, 0.15, 0.25]),  # MRR-like
        lambda rng, n: rng.choice([0.0, 0.5, 1.0], n, p=[0.1, 0.2, 0.7]),
    ],
    ids=["beta", "mrr-like", "three-point"],
)
def test_linear_memory_bca_matches_scipy_within_monte_carlo_error(draw: Any) -> None:
    from ragbench.stats.intervals import bca_mean

    rng = np.random.default_rng(5)
    for n in (300, 1500):
        x = draw(rng, n)
        res = sps.bootstrap(
            (x,), np.mean, n_resamples=20000, method="BCa", rng=np.random.default_rng(1)
        )
        ref = res.confidence_interval
        low, high, method = bca_mean(x, 0.95, seed=2, resamples=20000)  # other draws
        assert method == "bca"
        width = ref.high - ref.low
        assert abs(low - ref.low) < 0.05 * width and abs(high - ref.high) < 0.05 * width


def test_linear_memory_bca_draws_what_scipy_draws() -> None:
    """Same seed, same resamples (numpy's generator gives the same stream in chunks), and the
    closed-form acceleration equals scipy's jackknife: the same interval to rounding."""
    from ragbench.stats import intervals

    x = np.random.default_rng(3).beta(2, 5, 1200)
    res = sps.bootstrap((x,), np.mean, n_resamples=2000, method="BCa", rng=np.random.default_rng(7))
    low, high, _ = intervals.bca_mean(x, 0.95, seed=7)
    assert low == pytest.approx(res.confidence_interval.low, abs=1e-12)
    assert high == pytest.approx(res.confidence_interval.high, abs=1e-12)


def test_mean_ci_uses_scipy_up_to_its_limit_and_linear_bca_past_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ragbench.stats import intervals

    x = np.random.default_rng(4).beta(2, 5, intervals.BCA_SCIPY_MAX_N)
    res = sps.bootstrap((x,), np.mean, n_resamples=2000, method="BCa", rng=np.random.default_rng(0))
    ci = mean_ci(x)
    assert (ci.low, ci.high) == (res.confidence_interval.low, res.confidence_interval.high)
    called: list[int] = []
    real = intervals.bca_mean
    monkeypatch.setattr(
        intervals,
        "bca_mean",
        lambda data, *a, **k: (called.append(data.size), real(data, *a, **k))[1],
    )
    big = np.random.default_rng(4).beta(2, 5, intervals.BCA_SCIPY_MAX_N + 1)
    assert mean_ci(big).method == "bca" and called == [big.size]
    assert mean_ci(x) == ci and called == [big.size]  # below the limit: scipy, as before
