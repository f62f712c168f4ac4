"""Prediction-powered inference (ragbench/stats/ppi.py) against ppi_py, the maintained library, on
fixed arrays; then the small-sample mode's own rules."""

from __future__ import annotations

import numpy as np
import pytest

from ragbench.stats.ppi import (
    BINARY_PSEUDO,
    labels_needed,
    power_tuning,
    ppi_difference,
    ppi_mean,
)

ppi_py = pytest.importorskip("ppi_py")

RNG = np.random.default_rng(7)
TRUTH = RNG.binomial(1, 0.7, 260).astype(float)
# a lenient judge: the share of 4 statements it calls supported
JUDGED = RNG.binomial(4, np.where(TRUTH == 1, 0.9, 0.45)) / 4
LAB, UNL = slice(0, 40), slice(40, None)


@pytest.mark.parametrize("labels", [12, 40, 100])
def test_plain_mode_is_ppi_py(labels: int) -> None:
    y, yhat, unl = TRUTH[:labels], JUDGED[:labels], JUDGED[labels:]
    ours = ppi_mean(y, yhat, unl, small_sample=False)
    low, high = ppi_py.ppi_mean_ci(y, yhat, unl, alpha=0.05)
    assert ours.ci_low == pytest.approx(float(np.ravel(low)[0]), abs=1e-12)
    assert ours.ci_high == pytest.approx(float(np.ravel(high)[0]), abs=1e-12)
    point = ppi_py.ppi_mean_pointestimate(y, yhat, unl)
    assert ours.mean == pytest.approx(float(np.ravel(point)[0]), abs=1e-12)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_fixed_lam_and_p_value_are_ppi_py(lam: float) -> None:
    y, yhat, unl = TRUTH[LAB], JUDGED[LAB], JUDGED[UNL]
    ours = ppi_mean(y, yhat, unl, small_sample=False, lam=lam)
    low, high = ppi_py.ppi_mean_ci(y, yhat, unl, alpha=0.05, lam=lam)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(
        (float(np.ravel(low)[0]), float(np.ravel(high)[0])), abs=1e-12
    )
    diffs = y - 0.5  # a mean that is not 0, so the p-value is informative
    ours = ppi_mean(diffs, yhat - 0.5, unl - 0.5, small_sample=False, lam=lam)
    p = ppi_py.ppi_mean_pval(diffs, yhat - 0.5, unl - 0.5, null=0, lam=lam)
    assert ours.p_value == pytest.approx(float(np.ravel(p)[0]), rel=1e-9)


def test_power_tuning_is_ppi_pys_clipped_lam() -> None:
    y, yhat, unl = TRUTH[LAB], JUDGED[LAB], JUDGED[UNL]
    from ppi_py.ppi import _calc_lam_glm

    point = ppi_py.ppi_mean_pointestimate(y, yhat, unl, lam=1)
    expected = _calc_lam_glm(
        y - point, yhat - point, unl - point, np.eye(1), clip=True, optim_mode="overall"
    )
    assert power_tuning(y, yhat, unl) == pytest.approx(float(expected), abs=1e-12)
    # a judge that says the same about everything carries no information: the labels alone
    assert power_tuning(y, np.full(40, 0.5), np.full(220, 0.5)) == 0.0


def test_small_sample_mode_adds_pseudo_labels_and_a_t_quantile() -> None:
    y = np.ones(20)  # every label the same: the plain interval has no width from the labels
    yhat = np.full(20, 0.75)
    unl = np.full(100, 0.75)
    plain = ppi_mean(y, yhat, unl, small_sample=False)
    small = ppi_mean(y, yhat, unl)
    assert plain.ci_high - plain.ci_low == pytest.approx(0.0)
    # lam is 0 here (the judge never varies), so the estimate is the labels' mean with two 0s and
    # two 1s added: 22 / 24, and its interval is a t interval of those 24 values
    assert small.lam == 0.0 and small.mean == pytest.approx(22 / 24)
    values = np.concatenate([y, BINARY_PSEUDO])
    from scipy import stats

    half = stats.t.ppf(0.975, 19) * values.std(ddof=1) / np.sqrt(24)
    assert (small.ci_low, small.ci_high) == pytest.approx((22 / 24 - half, 22 / 24 + half))


def test_a_good_judge_makes_the_interval_narrower_than_the_labels_alone() -> None:
    rng = np.random.default_rng(3)
    truth = rng.binomial(1, 0.6, 400).astype(float)
    good = rng.binomial(4, np.where(truth == 1, 0.95, 0.05)) / 4
    with_judge = ppi_mean(truth[:40], good[:40], good[40:])
    labels_only = ppi_mean(truth[:40], np.zeros(40), np.zeros(360))  # lam 0: the labels alone
    assert with_judge.lam > 0.8
    assert with_judge.half_width < 0.75 * labels_only.half_width


def test_the_estimate_corrects_a_biased_judge() -> None:
    """A lenient judge averages well above the true share; PPI moves back to it."""
    rng = np.random.default_rng(11)
    lenient = rng.binomial(4, np.where(TRUTH == 1, 0.9, 0.8)) / 4  # passes most bad answers
    est = ppi_mean(TRUTH[:100], lenient[:100], lenient[100:])
    assert est.judge_mean > TRUTH.mean() + 0.1
    assert abs(est.mean - TRUTH.mean()) < abs(est.judge_mean - TRUTH.mean()) / 2
    assert est.ci_low <= TRUTH.mean() <= est.ci_high


def test_paired_difference_shrinks_towards_no_difference() -> None:
    diffs = np.ones(6)  # trial A better on all 6 labelled questions
    judged = np.ones(6)
    est = ppi_difference(diffs, judged, np.ones(30))
    # one +1 and one -1 pseudo-difference: the labels' part of the mean is 6 / 8
    assert est.lam == 0.0 and est.mean == pytest.approx(6 / 8)
    assert 0 < est.p_value < 0.05


def test_labels_needed_plans_from_the_variances() -> None:
    est = ppi_mean(TRUTH[:40], JUDGED[:40], JUDGED[40:])
    many = labels_needed(est, gap=0.05)
    few = labels_needed(est, gap=0.3)
    assert many > few >= est.n_labels
    assert labels_needed(est, gap=0.0) == 0


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 2 labelled"):
        ppi_mean([1.0], [1.0], [0.5])
    with pytest.raises(ValueError, match="3 labels but 2"):
        ppi_mean([1.0, 0.0, 1.0], [1.0, 0.0], [0.5])
    with pytest.raises(ValueError, match="finite"):
        ppi_mean([1.0, float("nan")], [1.0, 0.0], [0.5])
