"""Uplift intervals and verdicts: hand-computed cases, coverage on simulated experiments, properties."""

from __future__ import annotations

import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from crosssell_plugin.experiments.stats import (
    InsufficientDataError,
    Interval,
    UndefinedUpliftError,
    bootstrap_ci,
    incremental_revenue,
    proportion_ci,
    verdict,
    welch_ci,
)

ROOT = Path(__file__).resolve().parents[2]


def close(value: Decimal, expected: float, tol: float = 1e-4) -> bool:
    return abs(float(value) - expected) <= tol


# --- Welch ---------------------------------------------------------------------------------------


def test_welch_matches_the_hand_formula_and_scipy() -> None:
    t = [Decimal("12.50"), Decimal("30.00"), Decimal("18.25"), Decimal("44.10"), Decimal("25.00")]
    c = [Decimal("10.00"), Decimal("15.50"), Decimal("22.00"), Decimal("9.90")]
    tf, cf = [float(x) for x in t], [float(x) for x in c]
    mt, mc = sum(tf) / 5, sum(cf) / 4
    vt = sum((x - mt) ** 2 for x in tf) / 4 / 5
    vc = sum((x - mc) ** 2 for x in cf) / 3 / 4
    df = (vt + vc) ** 2 / (vt**2 / 4 + vc**2 / 3)
    half = sps.t.ppf(0.975, df) * math.sqrt(vt + vc)
    scipy_ci = sps.ttest_ind(tf, cf, equal_var=False).confidence_interval(0.95)

    got = welch_ci(t, c)

    assert close(got.estimate, mt - mc)
    assert close(got.low, mt - mc - half) and close(got.high, mt - mc + half)
    assert close(got.low, scipy_ci.low) and close(got.high, scipy_ci.high)
    assert (got.n_treatment, got.n_control, got.kind, got.method) == (5, 4, "absolute", "Welch t")
    assert isinstance(got.low, Decimal)


def test_welch_at_90_percent_is_narrower_and_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    t, c = rng.exponential(30, 80), rng.exponential(25, 120)
    ci90 = sps.ttest_ind(t, c, equal_var=False).confidence_interval(0.90)
    got90, got95 = welch_ci(t, c, 0.90), welch_ci(t, c)
    assert close(got90.low, ci90.low) and close(got90.high, ci90.high)
    assert got95.low < got90.low and got90.high < got95.high


@pytest.mark.parametrize(("t", "c"), [([], [1.0, 2.0]), ([1.0, 2.0], []), ([5.0], [1.0, 2.0, 3.0])])
def test_welch_needs_two_values_per_group(t: list[float], c: list[float]) -> None:
    with pytest.raises(InsufficientDataError, match="at least 2 values per group"):
        welch_ci(t, c)


def test_two_constant_groups_give_a_zero_width_interval_at_the_difference() -> None:
    got = welch_ci([Decimal("20.00")] * 5, [Decimal("15.00")] * 7)
    assert got.estimate == got.low == got.high == Decimal("5.0000")
    assert "constant" in got.method


def test_one_constant_group_uses_the_other_groups_spread() -> None:
    t, c = [10.0, 12.0, 14.0, 16.0], [11.0, 11.0, 11.0]
    half = sps.t.ppf(0.975, 3) * math.sqrt(np.var(t, ddof=1) / 4)  # df = n_t - 1
    got = welch_ci(t, c)
    assert close(got.low, 2.0 - half) and close(got.high, 2.0 + half)


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [1.0, float("inf")], [Decimal("NaN"), Decimal(1)]])
def test_non_finite_values_are_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="finite"):
        welch_ci(bad, [1.0, 2.0])


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95])
def test_confidence_must_be_a_fraction(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        welch_ci([1.0, 2.0], [1.0, 2.0], confidence)


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_percentiles_match_a_loop_over_the_same_draws() -> None:
    t = np.array([0.0, 0.0, 35.0, 12.0, 60.0, 0.0, 18.0])
    c = np.array([0.0, 10.0, 0.0, 22.0, 5.0])
    got = bootstrap_ci(t, c, resamples=500, seed=11)

    rng = np.random.default_rng(11)  # the documented order: all treatment resamples, then control
    ti = rng.integers(0, len(t), size=(500, len(t)))
    ci = rng.integers(0, len(c), size=(500, len(c)))
    diffs = sorted(t[ti[i]].mean() - c[ci[i]].mean() for i in range(500))
    lo, hi = np.quantile(diffs, [0.025, 0.975])

    assert close(got.estimate, t.mean() - c.mean())
    assert close(got.low, lo) and close(got.high, hi)


def test_bootstrap_is_deterministic_given_the_seed() -> None:
    rng = np.random.default_rng(0)
    t, c = rng.exponential(30, 300), rng.exponential(28, 300)
    assert bootstrap_ci(t, c, seed=5) == bootstrap_ci(t, c, seed=5)
    assert bootstrap_ci(t, c, seed=5) != bootstrap_ci(t, c, seed=6)


def test_bootstrap_relative_uplift_is_the_ratio_minus_one() -> None:
    rng = np.random.default_rng(1)
    t, c = rng.exponential(33, 2000), rng.exponential(30, 2000)
    got = bootstrap_ci(t, c, relative=True, seed=2)
    assert got.kind == "relative"
    assert close(got.estimate, t.mean() / c.mean() - 1, 1e-6)
    assert got.low < got.estimate < got.high
    assert float(got.high) - float(got.low) < 0.2


def test_ratio_of_means_compares_revenue_per_order() -> None:
    revenue_t, orders_t = [0.0, 40.0, 90.0, 30.0, 0.0, 60.0] * 5, [0, 1, 2, 1, 0, 1] * 5
    revenue_c, orders_c = [20.0, 0.0, 50.0, 30.0] * 5, [1, 0, 2, 1] * 5
    got = bootstrap_ci(
        revenue_t,
        revenue_c,
        statistic="ratio_of_means",
        treatment_denominator=orders_t,
        control_denominator=orders_c,
        resamples=400,
        relative=True,
        seed=0,
    )
    assert close(got.estimate, (220 / 5) / (100 / 4) - 1, 1e-6)  # AOV 44 vs 25
    assert got.low < got.estimate < got.high


def test_ratio_of_means_is_undefined_when_a_resample_has_no_denominator() -> None:
    with pytest.raises(UndefinedUpliftError, match="denominators sum to 0"):
        bootstrap_ci(
            [0.0, 40.0],
            [0.0, 30.0],
            statistic="ratio_of_means",
            treatment_denominator=[0, 1],
            control_denominator=[0, 1],
        )


def test_ratio_of_means_needs_matching_denominators() -> None:
    with pytest.raises(ValueError, match="needs treatment_denominator"):
        bootstrap_ci([1.0, 2.0], [1.0, 2.0], statistic="ratio_of_means")
    with pytest.raises(ValueError, match="one denominator per value"):
        bootstrap_ci(
            [1.0, 2.0], [1.0, 2.0], statistic="ratio_of_means", treatment_denominator=[1], control_denominator=[1, 1]
        )
    with pytest.raises(ValueError, match="only for"):
        bootstrap_ci([1.0, 2.0], [1.0, 2.0], treatment_denominator=[1, 1])


def test_relative_uplift_over_an_all_zero_control_is_undefined_not_infinite() -> None:
    with pytest.raises(UndefinedUpliftError, match="control group's mean is 0"):
        bootstrap_ci([5.0, 0.0, 10.0], [0.0, 0.0, 0.0], relative=True)


def test_relative_uplift_is_undefined_when_resamples_of_the_control_are_all_zero() -> None:
    control = [0.0] * 29 + [50.0]  # P(a resample misses the one buyer) = (29/30)^30, about 36 %
    with pytest.raises(UndefinedUpliftError, match=r"in \d+ of 2000 resamples"):
        bootstrap_ci([5.0, 0.0, 10.0, 3.0], control, relative=True)
    assert bootstrap_ci([5.0, 0.0, 10.0, 3.0], control).kind == "absolute"  # the absolute difference works


def test_bootstrap_refuses_one_observation_and_too_few_resamples() -> None:
    with pytest.raises(InsufficientDataError):
        bootstrap_ci([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 100 resamples"):
        bootstrap_ci([1.0, 2.0], [1.0, 2.0], resamples=10)


# --- rates ---------------------------------------------------------------------------------------


def test_newcombe_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a): 56/70 vs 48/80, method 10
    got = proportion_ci(56, 70, 48, 80)
    assert got.kind == "rate" and close(got.estimate, 0.2, 1e-9)
    assert close(got.low, 0.0524) and close(got.high, 0.3339)


def test_newcombe_from_the_wilson_formula() -> None:
    z = sps.norm.ppf(0.975)

    def wilson(k: int, n: int) -> tuple[float, float]:
        p = k / n
        a, b = 2 * n * p + z * z, z * math.sqrt(z * z + 4 * n * p * (1 - p))
        return (a - b) / (2 * (n + z * z)), (a + b) / (2 * (n + z * z))

    (l1, u1), (l2, u2) = wilson(30, 1000), wilson(18, 1000)
    d = 0.030 - 0.018
    got = proportion_ci(30, 1000, 18, 1000)
    assert close(got.low, d - math.sqrt((0.030 - l1) ** 2 + (u2 - 0.018) ** 2), 1e-6)
    assert close(got.high, d + math.sqrt((u1 - 0.030) ** 2 + (0.018 - l2) ** 2), 1e-6)


def test_rates_at_zero_and_at_all_successes_stay_inside_minus_one_to_one() -> None:
    none = proportion_ci(0, 50, 0, 40)
    assert none.estimate == 0 and none.low < 0 < none.high
    full = proportion_ci(50, 50, 0, 50)
    assert full.estimate == 1 and 0 < full.low and full.high == 1


def test_rates_refuse_impossible_counts_and_empty_groups() -> None:
    with pytest.raises(ValueError, match="between 0 and n"):
        proportion_ci(11, 10, 1, 10)
    with pytest.raises(InsufficientDataError):
        proportion_ci(0, 0, 1, 10)


# --- incremental revenue -------------------------------------------------------------------------


def test_incremental_revenue_scales_the_welch_interval_by_treated_customers() -> None:
    t = [Decimal("0"), Decimal("25.00"), Decimal("40.00"), Decimal("0"), Decimal("35.00")]
    c = [Decimal("0"), Decimal("20.00"), Decimal("0"), Decimal("30.00")]
    diff = welch_ci(t, c)
    got = incremental_revenue(t, c, 1000)
    assert close(got.estimate, 1000 * (20.0 - 12.5), 1e-6)
    assert close(got.low, 1000 * float(diff.low), 0.1) and close(got.high, 1000 * float(diff.high), 0.1)
    assert incremental_revenue(t, c).estimate == Decimal("37.5000")  # default: the 5 treated given


# --- verdict -------------------------------------------------------------------------------------


def interval(est: str, low: str, high: str, kind: str = "relative", n: int = 500) -> Interval:
    return Interval(Decimal(est), Decimal(low), Decimal(high), n, n, "test", 0.95, kind)  # type: ignore[arg-type]


def test_verdict_sentences() -> None:
    positive = verdict(interval("0.041", "0.012", "0.070"))
    assert positive.code == "positive"
    assert positive.sentence == (
        "Cross-sell is adding about 4.1 % to average order value (95 % interval 1.2 % to 7.0 %)."
    )
    negative = verdict(interval("-0.030", "-0.051", "-0.009"))
    assert negative.code == "negative"
    assert negative.sentence == (
        "Cross-sell is lowering average order value by about 3.0 % (95 % interval 0.9 % to 5.1 % lower)."
    )
    unclear = verdict(interval("0.016", "-0.020", "0.053"))
    assert unclear.code == "inconclusive"
    assert unclear.sentence == (
        "No clear effect on average order value yet: anywhere from -2.0 % to +5.3 % (95 % interval). "
        "Keep the experiment running."
    )


def test_verdict_of_rates_and_amounts() -> None:
    rate = verdict(interval("0.012", "0.004", "0.020", "rate"), metric="the cross-sell rate")
    assert rate.sentence == (
        "Cross-sell is adding about 1.2 percentage points to the cross-sell rate "
        "(95 % interval 0.4 percentage points to 2.0 percentage points)."
    )
    money = verdict(interval("3.2", "1.1", "5.3", "absolute"), amount=lambda d: f"€{d:.2f}")
    assert money.sentence == "Cross-sell is adding about €3.20 to average order value (95 % interval €1.10 to €5.30)."


def test_not_enough_data_names_the_smaller_group_and_the_minimum() -> None:
    got = verdict(interval("0.5", "0.2", "0.8", n=37), 200)
    assert got.code == "not_enough_data"
    assert got.sentence == "Not enough data yet: 37 of the 200 customers per group needed."
    assert verdict(interval("0.5", "0.2", "0.8", n=900), 200, 900, 120).sentence.startswith(
        "Not enough data yet: 120 of the 200"
    )
    assert verdict(None, 50, 3, 0).sentence == "Not enough data yet: 0 of the 50 customers per group needed."
    assert verdict(interval("0.5", "0.2", "0.8", n=50), 50).code == "positive"


def test_a_lower_bound_of_exactly_zero_is_not_positive() -> None:
    assert verdict(interval("0.02", "0", "0.05")).code == "inconclusive"
    assert verdict(interval("-0.02", "-0.05", "0")).code == "inconclusive"


def test_verdict_without_an_interval_needs_the_counts() -> None:
    with pytest.raises(ValueError, match="needs n_t and n_c"):
        verdict(None)


# --- coverage on simulated experiments -----------------------------------------------------------

EXPERIMENTS = 400


def simulated(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Revenue per customer: 40 % buy, order values log-normal (mean 30 control, 33 treated)."""
    sigma = 0.8
    mu_c, mu_t = np.log(30) - sigma**2 / 2, np.log(33) - sigma**2 / 2
    t = (rng.random(n) < 0.4) * rng.lognormal(mu_t, sigma, n)
    c = (rng.random(n) < 0.4) * rng.lognormal(mu_c, sigma, n)
    return t, c


TRUE_DIFF = 0.4 * 33 - 0.4 * 30
TRUE_RELATIVE = 33 / 30 - 1


def covered(intervals: list[Interval], truth: float) -> float:
    return sum(float(i.low) <= truth <= float(i.high) for i in intervals) / len(intervals)


def test_welch_covers_the_true_uplift_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2024)
    rate = covered([welch_ci(*simulated(rng)) for _ in range(EXPERIMENTS)], TRUE_DIFF)
    assert 0.92 <= rate <= 0.98


def test_bootstrap_covers_the_true_uplift_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2025)
    runs = [simulated(rng) for _ in range(EXPERIMENTS)]
    absolute = [bootstrap_ci(t, c, resamples=400, seed=i) for i, (t, c) in enumerate(runs)]
    relative = [bootstrap_ci(t, c, resamples=400, seed=i, relative=True) for i, (t, c) in enumerate(runs)]
    assert 0.92 <= covered(absolute, TRUE_DIFF) <= 0.98
    assert 0.92 <= covered(relative, TRUE_RELATIVE) <= 0.98


def test_newcombe_covers_the_true_rate_difference_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    ks_t, ks_c = rng.binomial(400, 0.05, EXPERIMENTS), rng.binomial(400, 0.03, EXPERIMENTS)
    intervals = [proportion_ci(int(a), 400, int(b), 400) for a, b in zip(ks_t, ks_c, strict=True)]
    assert 0.92 <= covered(intervals, 0.02) <= 0.98


# --- properties ----------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)
groups = st.lists(money, min_size=2, max_size=40)


@settings(max_examples=150, deadline=None)
@given(groups, groups, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_welch_interval_contains_its_estimate(t: list[Decimal], c: list[Decimal], confidence: float) -> None:
    got = welch_ci(t, c, confidence)
    assert got.low <= got.estimate <= got.high


@settings(max_examples=60, deadline=None)
@given(groups, groups, st.booleans(), st.integers(0, 2**32))
def test_bootstrap_interval_contains_its_estimate(t: list[Decimal], c: list[Decimal], rel: bool, seed: int) -> None:
    try:
        got = bootstrap_ci(t, c, resamples=200, seed=seed, relative=rel)
    except UndefinedUpliftError:
        assert rel  # only a relative uplift can be undefined
        return
    assert got.low <= got.estimate <= got.high


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.integers(1, 5000))
def test_rate_interval_contains_its_estimate_inside_minus_one_to_one(kn: tuple[int, int], n_c: int) -> None:
    got = proportion_ci(kn[0], kn[1], n_c // 3, n_c)
    assert -1 <= got.low <= got.estimate <= got.high <= 1


bounds = st.decimals(min_value=-1, max_value=1, places=4)


@settings(max_examples=300, deadline=None)
@given(bounds, bounds, bounds, st.integers(0, 1000), st.integers(0, 1000), st.integers(1, 500))
def test_verdict_never_claims_an_effect_the_interval_does_not_show(
    a: Decimal, b: Decimal, e: Decimal, n_t: int, n_c: int, minimum: int
) -> None:
    low, high = min(a, b), max(a, b)
    est = min(max(e, low), high)
    got = verdict(Interval(est, low, high, n_t, n_c, "test", 0.95, "relative"), minimum)
    assert (got.code == "not_enough_data") == (min(n_t, n_c) < minimum)
    if low <= 0:
        assert got.code != "positive"
    if high >= 0:
        assert got.code != "negative"
    assert got.sentence.endswith(".")


# --- purity --------------------------------------------------------------------------------------


def test_the_statistics_import_no_django() -> None:
    """Both modules load on their own (outside the Django app) and pull in neither Django nor the core."""
    code = (
        "import importlib.util, sys\n"
        "for name in ('stats', 'bandit'):\n"
        "    spec = importlib.util.spec_from_file_location(name, 'crosssell_plugin/experiments/' + name + '.py')\n"
        "    module = sys.modules[name] = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'crosssell_plugin', 'celery'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- Welch from the rollups' moments ---------------------------------------------------------------


def test_welch_from_moments_matches_welch_ci_over_the_values() -> None:
    from crosssell_plugin.experiments.stats import welch_from_moments

    rng = np.random.default_rng(7)
    # revenue per customer: most bought nothing (0), a few bought something
    t = np.where(rng.random(300) < 0.3, rng.gamma(2.0, 20.0, 300), 0.0).round(2)
    c = np.where(rng.random(120) < 0.2, rng.gamma(2.0, 20.0, 120), 0.0).round(2)
    from_values = welch_ci(t, c)
    from_moments = welch_from_moments(len(t), t.sum(), (t * t).sum(), len(c), c.sum(), (c * c).sum())
    assert (from_moments.n_treatment, from_moments.n_control) == (300, 120)
    assert from_moments.method == from_values.method == "Welch t"
    for name in ("estimate", "low", "high"):
        assert abs(getattr(from_moments, name) - getattr(from_values, name)) <= Decimal("0.0002"), name
    # Decimals as a rollup row stores them work the same
    as_decimal = welch_from_moments(
        len(t), Decimal(str(t.sum())), (t * t).sum(), len(c), Decimal(str(c.sum())), (c * c).sum()
    )
    assert abs(as_decimal.estimate - from_values.estimate) <= Decimal("0.0002")


def test_welch_from_moments_of_constant_groups_and_too_few_units() -> None:
    from crosssell_plugin.experiments.stats import welch_from_moments

    flat = welch_from_moments(3, 15, 75, 4, 8, 16)  # [5, 5, 5] vs [2, 2, 2, 2]
    assert flat.estimate == flat.low == flat.high == Decimal("3.0000")
    assert "zero-width" in flat.method
    with pytest.raises(InsufficientDataError, match="treatment has 1, control has 4"):
        welch_from_moments(1, 5, 25, 4, 8, 16)
    with pytest.raises(ValueError, match="must not be negative"):
        welch_from_moments(-1, 5, 25, 4, 8, 16)
    with pytest.raises(ValueError, match="confidence"):
        welch_from_moments(3, 15, 75, 4, 8, 16, confidence=1.0)
