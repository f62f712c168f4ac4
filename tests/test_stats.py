"""Statistics: bootstrap intervals, paired comparison (bootstrap CI + sign-flip test), rankings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ragbench.stats import RANKING_COLUMNS, bootstrap_ci, paired_comparison, rank_trials


def qids(n: int) -> list[str]:
    return [f"q{i:02d}" for i in range(n)]


def as_dict(values: np.ndarray | list[float]) -> dict[str, float]:
    return dict(zip(qids(len(values)), (float(v) for v in values), strict=True))


def long_scores(trials: dict[str, dict[str, float | None]], metric: str = "faithfulness"
                ) -> pd.DataFrame:
    """Long format as ``Store.scores`` returns it; the trial label is the trial id upper-cased."""
    rows = [{"trial_id": t, "label": t.upper(), "question_id": q, "metric": metric, "value": v}
            for t, values in trials.items() for q, v in values.items()]
    return pd.DataFrame(rows)


@pytest.fixture
def clear_winner() -> tuple[dict[str, float], dict[str, float]]:
    rng = np.random.default_rng(42)
    b = rng.uniform(0.2, 0.6, size=30)
    a = b + 0.3 + rng.normal(0, 0.03, size=30)
    return as_dict(a), as_dict(b)


# --- bootstrap_ci ----------------------------------------------------------------------------------


def test_bootstrap_ci_brackets_mean_and_handles_tiny_inputs() -> None:
    mean, low, high = bootstrap_ci([0.0, 1.0, 1.0, 0.0, 1.0])
    assert mean == pytest.approx(0.6)
    assert 0.0 <= low < 0.6 < high <= 1.0
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    assert bootstrap_ci([0.4]) == (0.4, 0.4, 0.4)


# --- paired_comparison -----------------------------------------------------------------------------


def test_identical_trials_tie() -> None:
    scores = as_dict(np.random.default_rng(1).uniform(size=20))
    res = paired_comparison(scores, dict(scores))
    assert (res.mean_diff, res.ci_low, res.ci_high, res.p_value, res.n) == (0.0, 0.0, 0.0, 1.0, 20)
    assert res.ci_contains_zero


def test_clear_winner_is_significant(clear_winner: tuple[dict[str, float], dict[str, float]]) -> None:
    a, b = clear_winner
    res = paired_comparison(a, b)
    assert res.n == 30
    assert res.mean_diff == pytest.approx(np.mean([a[q] - b[q] for q in a]))
    assert 0.25 < res.ci_low < res.mean_diff < res.ci_high < 0.35
    assert not res.ci_contains_zero
    assert res.p_value < 0.01
    # Monte Carlo (n > 16) with the +1 correction: never 0, smallest value 1 / (n_resamples + 1)
    assert res.p_value == pytest.approx(1 / 5001)
    reverse = paired_comparison(b, a)
    assert reverse.mean_diff == pytest.approx(-res.mean_diff)
    assert reverse.ci_high < 0 and reverse.p_value == res.p_value


@pytest.mark.parametrize(
    ("diffs", "expected"),
    [
        ([1.0, 1.0, 1.0], 2 / 8),  # only +++ and --- reach |sum| = 3
        ([2.0, 1.0, -1.0], 6 / 8),  # |sum| of the 8 flips: 2 4 0 2 2 0 4 2 -> six are >= 2
        ([0.5, -0.5], 1.0),  # every flip gives |sum| 0 or 1 >= 0
        ([0.3, 0.3], 2 / 4),
    ],
)
def test_exact_permutation_p_value(diffs: list[float], expected: float) -> None:
    b = as_dict([0.5] * len(diffs))
    a = {q: b[q] + d for q, d in zip(qids(len(diffs)), diffs, strict=True)}
    for seed in (0, 1, 2):  # exact enumeration: the seed does not matter
        assert paired_comparison(a, b, seed=seed).p_value == pytest.approx(expected)


def test_exact_up_to_16_questions_monte_carlo_above() -> None:
    # all differences equal: exact p = 2 / 2**n; Monte Carlo cannot go below 1 / (n_resamples + 1)
    sixteen = paired_comparison(as_dict([0.2] * 16), as_dict([0.0] * 16), n_resamples=999)
    assert sixteen.p_value == pytest.approx(2 / 2**16)
    seventeen = paired_comparison(as_dict([0.2] * 17), as_dict([0.0] * 17), n_resamples=999)
    assert seventeen.p_value == pytest.approx(1 / 1000)


def test_small_sample_with_large_difference_is_not_significant() -> None:
    res = paired_comparison(as_dict([0.9, 0.9]), as_dict([0.1, 0.1]))
    assert not res.ci_contains_zero  # the bootstrap of two equal differences is a point ...
    assert res.p_value == pytest.approx(0.5)  # ... but 2 questions cannot show significance


def test_only_shared_questions_are_compared() -> None:
    a = {"q1": 0.5, "q2": 0.7, "q3": 0.9, "only_a": 100.0}
    b = {"q1": 0.4, "q2": 0.6, "q3": 0.8, "only_b": -100.0}
    res = paired_comparison(a, b)
    assert res.n == 3
    assert res.mean_diff == pytest.approx(0.1)
    assert res.ci_low == pytest.approx(0.1) and res.ci_high == pytest.approx(0.1)


def test_nan_scores_are_dropped_from_the_pairs() -> None:
    a = {"q1": 0.5, "q2": float("nan"), "q3": 0.9, "q4": None}
    b = {"q1": 0.4, "q2": 0.6, "q3": 0.8, "q4": 0.1}
    res = paired_comparison(a, b)  # type: ignore[arg-type]
    assert res.n == 2
    assert res.mean_diff == pytest.approx(0.1)


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
    assert paired_comparison(a, noisy_b, seed=7) == first
    assert paired_comparison(dict(reversed(a.items())), noisy_b, seed=7) == first  # order-free
    other = paired_comparison(a, noisy_b, seed=8)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert other.mean_diff == first.mean_diff


# --- rank_trials -----------------------------------------------------------------------------------


def test_rank_identical_trials_all_tied_with_best() -> None:
    values = as_dict(np.random.default_rng(3).uniform(size=12))
    ranking = rank_trials(long_scores({"t1": values, "t2": dict(values)}), "faithfulness")
    assert list(ranking.columns) == RANKING_COLUMNS
    assert ranking.tied_with_best.tolist() == [True, True]
    assert ranking.p_value.tolist() == [1.0, 1.0]
    assert ranking.diff_vs_best.tolist() == [0.0, 0.0]
    assert ranking["rank"].tolist() == [1, 1]  # equal means share the rank
    assert ranking.label.tolist() == ["T1", "T2"]  # ... and the order falls back on the label


def test_rank_clear_winner(clear_winner: tuple[dict[str, float], dict[str, float]]) -> None:
    a, b = clear_winner
    close = {q: v + (0.02 if i % 2 else -0.03) for i, (q, v) in enumerate(a.items())}
    scores = long_scores({"loser": b, "winner": a, "close": close})
    scores = pd.concat([scores, long_scores({"winner": {q: 0.0 for q in a}}, "other")])
    ranking = rank_trials(scores, "faithfulness").set_index("trial_id")
    assert ranking.index.tolist() == ["winner", "close", "loser"]
    assert ranking["rank"].tolist() == [1, 2, 3]
    assert ranking.loc["winner", "mean"] == pytest.approx(np.mean(list(a.values())))
    assert ranking.loc["winner", ["diff_vs_best", "p_value"]].tolist() == [0.0, 1.0]
    loser = ranking.loc["loser"]
    assert loser.diff_vs_best == pytest.approx(np.mean(list(b.values())) - np.mean(list(a.values())))
    assert loser.diff_ci_high < 0 and loser.p_value < 0.01
    assert not loser.tied_with_best
    assert ranking.loc["close", "tied_with_best"]
    assert ranking.loc["close", "diff_ci_low"] <= 0 <= ranking.loc["close", "diff_ci_high"]
    assert (ranking.n == 30).all()
    mean, low, high = bootstrap_ci(list(b.values()))
    assert loser[["mean", "ci_low", "ci_high"]].tolist() == pytest.approx([mean, low, high])


def test_rank_drops_nan_scores_instead_of_averaging() -> None:
    scores = long_scores({
        "t1": {"q1": 1.0, "q2": None, "q3": 0.5},
        "t2": {"q1": 0.1, "q2": float("nan"), "q3": 0.2, "q4": 0.3},
    })
    ranking = rank_trials(scores, "faithfulness").set_index("trial_id")
    assert ranking.loc["t1", "mean"] == pytest.approx(0.75)
    assert ranking.loc["t1", "n"] == 2
    assert ranking.loc["t2", "mean"] == pytest.approx(0.2)
    assert ranking.loc["t2", "n"] == 3
    assert ranking.loc["t2", "diff_vs_best"] == pytest.approx(((0.1 - 1.0) + (0.2 - 0.5)) / 2)


def test_rank_small_sample_not_called_significant() -> None:
    scores = long_scores({"a": {"q1": 0.9, "q2": 0.9}, "b": {"q1": 0.1, "q2": 0.1}})
    ranking = rank_trials(scores, "faithfulness").set_index("trial_id")
    assert ranking.loc["b", "diff_ci_high"] < 0  # degenerate interval ...
    assert ranking.loc["b", "p_value"] == pytest.approx(0.5)
    assert ranking.loc["b", "tied_with_best"]  # ... so the permutation test decides


def test_rank_trial_without_scores_comes_last() -> None:
    scores = long_scores({
        "none": {"q1": None, "q2": None},
        "some": {"q1": 0.2, "q2": 0.4},
        "elsewhere": {"q9": 0.1},
    })
    ranking = rank_trials(scores, "faithfulness")
    assert ranking.trial_id.tolist() == ["some", "elsewhere", "none"]
    none = ranking.iloc[2]
    assert none.n == 0 and math.isnan(none["mean"]) and math.isnan(none.p_value)
    assert not none.tied_with_best and pd.isna(none["rank"])
    elsewhere = ranking.iloc[1]  # scored, but on no question the best scored
    assert elsewhere["rank"] == 2 and math.isnan(elsewhere.diff_vs_best)
    assert not elsewhere.tied_with_best


def test_rank_unknown_metric_and_bad_input() -> None:
    scores = long_scores({"t1": {"q1": 0.5}})
    empty = rank_trials(scores, "no_such_metric")
    assert empty.empty and list(empty.columns) == RANKING_COLUMNS
    with pytest.raises(ValueError, match="value"):
        rank_trials(scores.drop(columns="value"), "faithfulness")
    with pytest.raises(ValueError, match="twice"):
        rank_trials(pd.concat([scores, scores]), "faithfulness")


def test_rank_is_deterministic(clear_winner: tuple[dict[str, float], dict[str, float]]) -> None:
    a, b = clear_winner
    scores = long_scores({"a": a, "b": {q: v + 0.25 for q, v in b.items()}})
    first = rank_trials(scores, "faithfulness")
    pd.testing.assert_frame_equal(rank_trials(scores.sample(frac=1, random_state=1), "faithfulness"),
                                  first)
