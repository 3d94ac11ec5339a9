"""Uplift statistics for holdout experiments: intervals for a difference between a treated group
and a control group, and a verdict a store owner can read.

Pure numpy/scipy, no Django: the caller loads the per-customer values, groups them by currency
(never mix currencies in one call) and passes one array per group. Money comes in as ``Decimal``
(floats and ints are accepted too) and every interval comes back in ``Decimal``; the arithmetic
in between is float64.

- :func:`welch_ci`: difference of means, Welch-Satterthwaite degrees of freedom, Student t;
  :func:`welch_from_moments` gives the same from counts, sums and sums of squares (the rollups).
- :func:`bootstrap_ci`: percentile bootstrap of a difference (or a relative uplift) of means or
  of ratios of means, vectorised and deterministic given its seed.
- :func:`proportion_ci`: difference of two rates (cross-sell rate, click-through rate) with
  Newcombe's hybrid score interval (his method 10: Wilson intervals per group, no continuity
  correction).
- :func:`incremental_revenue`: extra revenue over the treated customers, with its interval.
- :func:`verdict`: "not enough data", "positive", "negative" or "inconclusive", in one sentence.

Edge cases are explicit: fewer than 2 values in a group raises :class:`InsufficientDataError`;
a relative uplift over a control mean of 0 raises :class:`UndefinedUpliftError` (never inf or
NaN); two constant groups give a zero-width interval at the observed difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as _sps

#: per-unit values of one group: money as Decimal, counts or rates as numbers
Values = Sequence[float | Decimal] | npt.NDArray[np.floating] | npt.NDArray[np.integer]
Kind = Literal["absolute", "relative", "rate"]
VerdictCode = Literal["not_enough_data", "positive", "negative", "inconclusive"]

#: amounts keep 4 decimals (as stored); fractions (relative uplifts, rates) keep 6
_PLACES: dict[str, int] = {"absolute": 4, "relative": 6, "rate": 6}
#: bootstrap resamples drawn per block, at most this many cells per group
_BLOCK_CELLS = 1 << 22


class InsufficientDataError(ValueError):
    """A group has too few observations for the interval asked for."""


class UndefinedUpliftError(ValueError):
    """A relative uplift was asked for while the control's mean (or a resample's) is 0."""


@dataclass(frozen=True)
class Interval:
    """A point estimate of treatment minus control with its confidence interval.

    ``kind`` says how to read the numbers: ``"absolute"`` (an amount, or a difference of means
    in the values' unit), ``"relative"`` (treatment / control - 1, a fraction: 0.041 is 4.1 %)
    or ``"rate"`` (a difference of two proportions, 0.012 is 1.2 percentage points).
    ``n_treatment`` and ``n_control`` count the observations behind it.
    """

    estimate: Decimal
    low: Decimal
    high: Decimal
    n_treatment: int
    n_control: int
    method: str
    confidence: float = 0.95
    kind: Kind = "absolute"


@dataclass(frozen=True)
class Verdict:
    """What an interval means for the store: a stable ``code`` and a ``sentence`` to show."""

    code: VerdictCode
    sentence: str


def welch_ci(treatment: Values, control: Values, confidence: float = 0.95) -> Interval:
    """Difference of means (treatment - control) with Welch's t interval.

    Degrees of freedom by Welch-Satterthwaite, quantile from ``scipy.stats.t``. Needs at least 2
    values per group (:class:`InsufficientDataError`); when both groups are constant the
    interval has zero width at the observed difference (``method`` says so).
    """
    _check_confidence(confidence)
    t, c = _array(treatment, "treatment"), _array(control, "control")
    _need(t, c, 2, "welch_ci")
    estimate, low, high, method = _welch(t, c, confidence)
    return _interval(estimate, low, high, len(t), len(c), method, confidence, "absolute")


def welch_from_moments(
    n_t: int,
    sum_t: float | Decimal,
    sumsq_t: float | Decimal,
    n_c: int,
    sum_c: float | Decimal,
    sumsq_c: float | Decimal,
    confidence: float = 0.95,
) -> Interval:
    """:func:`welch_ci` from each group's count, sum and sum of squares instead of its values.

    What a daily rollup keeps (customers, revenue, the sum of the squared revenue per customer)
    is enough for the same interval, without reading every customer again. Needs at least 2
    units per group (:class:`InsufficientDataError`); a variance that rounding makes slightly
    negative (a constant group) is taken as 0, which gives the zero-width interval of two
    constant groups.
    """
    _check_confidence(confidence)
    for name, n in (("treatment", n_t), ("control", n_c)):
        if n < 0:
            raise ValueError(f"{name}: the number of units must not be negative, got {n}")
    if n_t < 2 or n_c < 2:
        raise InsufficientDataError(
            f"welch_from_moments needs at least 2 units per group (treatment has {n_t}, control has {n_c})"
        )
    mean_t, var_t = _moments(n_t, sum_t, sumsq_t, "treatment")
    mean_c, var_c = _moments(n_c, sum_c, sumsq_c, "control")
    estimate, low, high, method = _welch_from(mean_t, var_t, n_t, mean_c, var_c, n_c, confidence)
    return _interval(estimate, low, high, n_t, n_c, method, confidence, "absolute")


def bootstrap_ci(
    treatment: Values,
    control: Values,
    statistic: Literal["mean", "ratio_of_means"] = "mean",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int | np.random.Generator = 0,
    *,
    relative: bool = False,
    treatment_denominator: Values | None = None,
    control_denominator: Values | None = None,
) -> Interval:
    """Percentile bootstrap interval of treatment vs control, resampling each group on its own.

    ``statistic="mean"`` compares the groups' means (revenue per customer, say);
    ``"ratio_of_means"`` compares ``sum(values) / sum(denominator)`` per group, with one
    denominator per unit (revenue over orders per customer gives average order value while the
    customer stays the randomised unit). ``relative=False`` gives treatment - control,
    ``relative=True`` gives treatment / control - 1 (:class:`UndefinedUpliftError` when the
    control's statistic is 0, in the data or in any resample).

    The same ``seed`` gives the same interval. The estimate is the statistic of the data; the
    interval is widened to contain it in the rare samples where the percentiles miss it.
    """
    _check_confidence(confidence)
    if resamples < 100:
        raise ValueError(f"bootstrap_ci needs at least 100 resamples, got {resamples}")
    t, c = _array(treatment, "treatment"), _array(control, "control")
    _need(t, c, 2, "bootstrap_ci")
    t_den, c_den = _denominators(statistic, t, c, treatment_denominator, control_denominator)
    rng = np.random.default_rng(seed)
    t_stat, c_stat = _ratio(t, t_den), _ratio(c, c_den)
    t_boot, c_boot = _resampled(t, t_den, resamples, rng), _resampled(c, c_den, resamples, rng)
    if relative:
        _check_relative(c_stat, c_boot)
        estimate, diffs = t_stat / c_stat - 1.0, t_boot / c_boot - 1.0
    else:
        estimate, diffs = t_stat - c_stat, t_boot - c_boot
    alpha = 1.0 - confidence
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    method = f"percentile bootstrap ({statistic}, {resamples} resamples)"
    kind: Kind = "relative" if relative else "absolute"
    return _interval(estimate, min(low, estimate), max(high, estimate), len(t), len(c), method, confidence, kind)


def proportion_ci(successes_t: int, n_t: int, successes_c: int, n_c: int, confidence: float = 0.95) -> Interval:
    """Difference of two rates (treatment - control) with Newcombe's hybrid score interval.

    Each group's Wilson score interval (no continuity correction) is combined as in Newcombe
    (1998), method 10; it stays inside [-1, 1] and behaves at 0 or all successes, unlike Wald.
    A group with no units raises :class:`InsufficientDataError`.
    """
    _check_confidence(confidence)
    for name, k, n in (("treatment", successes_t, n_t), ("control", successes_c, n_c)):
        if n < 0 or k < 0 or k > n:
            raise ValueError(f"{name}: successes must be between 0 and n, got {k} of {n}")
    if n_t == 0 or n_c == 0:
        raise InsufficientDataError(
            f"proportion_ci needs at least 1 unit per group (treatment has {n_t}, control has {n_c})"
        )
    z = float(_sps.norm.ppf((1 + confidence) / 2))
    p1, p2 = successes_t / n_t, successes_c / n_c
    l1, u1 = _wilson(successes_t, n_t, z)
    l2, u2 = _wilson(successes_c, n_c, z)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return _interval(d, low, high, n_t, n_c, "Newcombe hybrid score (Wilson)", confidence, "rate")


def incremental_revenue(
    revenue_per_customer_t: Values,
    revenue_per_customer_c: Values,
    n_treatment: int | None = None,
    confidence: float = 0.95,
) -> Interval:
    """Revenue the treatment added: (mean revenue per treated customer - per control customer)
    times ``n_treatment`` treated customers (default: the number of treated values given).

    The interval is Welch's interval of the difference, scaled by ``n_treatment``. Every
    customer of a group counts, with 0 for those who bought nothing.
    """
    _check_confidence(confidence)
    t = _array(revenue_per_customer_t, "treatment")
    c = _array(revenue_per_customer_c, "control")
    _need(t, c, 2, "incremental_revenue")
    n = len(t) if n_treatment is None else n_treatment
    if n < 0:
        raise ValueError(f"n_treatment must not be negative, got {n}")
    estimate, low, high, method = _welch(t, c, confidence)
    return _interval(estimate * n, low * n, high * n, len(t), len(c), f"{method} x {n} treated", confidence, "absolute")


def verdict(
    interval: Interval | None,
    min_per_arm: int = 200,
    n_t: int | None = None,
    n_c: int | None = None,
    *,
    metric: str = "average order value",
    amount: Callable[[Decimal], str] | None = None,
) -> Verdict:
    """Read an interval for a store owner.

    "not_enough_data" while either group has fewer than ``min_per_arm`` customers (``n_t`` and
    ``n_c``, default the interval's counts; ``interval`` may be None when it could not be
    computed yet); then "positive" when the whole interval is above 0, "negative" when it is
    below 0, else "inconclusive". ``metric`` names what was measured; ``amount`` formats an
    absolute amount (e.g. a price formatter for the currency; default 2 decimals).
    """
    if min_per_arm < 1:
        raise ValueError(f"min_per_arm must be at least 1, got {min_per_arm}")
    if interval is not None:
        n_t = interval.n_treatment if n_t is None else n_t
        n_c = interval.n_control if n_c is None else n_c
    if n_t is None or n_c is None:
        raise ValueError("verdict without an interval needs n_t and n_c")
    have = min(n_t, n_c)
    if interval is None or have < min_per_arm:
        return Verdict(
            "not_enough_data", f"Not enough data yet: {have} of the {min_per_arm} customers per group needed."
        )
    return _read(interval, metric, amount or _two_decimals)


# --- helpers -----------------------------------------------------------------------------------


def _array(values: Values, name: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: every value must be a finite number")
    return arr


def _need(t: np.ndarray, c: np.ndarray, minimum: int, what: str) -> None:
    if len(t) < minimum or len(c) < minimum:
        raise InsufficientDataError(
            f"{what} needs at least {minimum} values per group (treatment has {len(t)}, control has {len(c)})"
        )


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")


def _welch(t: np.ndarray, c: np.ndarray, confidence: float) -> tuple[float, float, float, str]:
    estimate = float(t.mean() - c.mean())
    a, b = float(t.var(ddof=1)) / len(t), float(c.var(ddof=1)) / len(c)
    se = np.sqrt(a + b)
    if se == 0.0:
        return estimate, estimate, estimate, "Welch t (both groups constant: zero-width interval)"
    ra, rb = a / (a + b), b / (a + b)  # Satterthwaite, scaled so tiny variances cannot underflow
    df = 1.0 / (ra * ra / (len(t) - 1) + rb * rb / (len(c) - 1))
    q = float(_sps.t.ppf((1 + confidence) / 2, df))
    return estimate, estimate - q * se, estimate + q * se, "Welch t"


def _moments(n: int, total: float | Decimal, squares: float | Decimal, name: str) -> tuple[float, float]:
    """Mean and sample variance (ddof=1) of ``n`` values from their sum and sum of squares."""
    s, ss = float(total), float(squares)
    if not (np.isfinite(s) and np.isfinite(ss)) or ss < 0:
        raise ValueError(f"{name}: the sum and the sum of squares must be finite, the latter not negative")
    mean = s / n
    var = (ss - s * mean) / (n - 1)
    # cancellation leaves a few ulps of the squares where the true variance is 0
    if var <= 1e-12 * ss / n:
        var = 0.0
    return mean, var


def _welch_from(
    mean_t: float, var_t: float, n_t: int, mean_c: float, var_c: float, n_c: int, confidence: float
) -> tuple[float, float, float, str]:
    """:func:`_welch` from the groups' means and sample variances."""
    estimate = float(mean_t - mean_c)
    a, b = var_t / n_t, var_c / n_c
    se = np.sqrt(a + b)
    if se == 0.0:
        return estimate, estimate, estimate, "Welch t (both groups constant: zero-width interval)"
    ra, rb = a / (a + b), b / (a + b)
    df = 1.0 / (ra * ra / (n_t - 1) + rb * rb / (n_c - 1))
    q = float(_sps.t.ppf((1 + confidence) / 2, df))
    return estimate, estimate - q * se, estimate + q * se, "Welch t"


def _denominators(
    statistic: str, t: np.ndarray, c: np.ndarray, t_den: Values | None, c_den: Values | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if statistic == "mean":
        if t_den is not None or c_den is not None:
            raise ValueError('denominators are only for statistic="ratio_of_means"')
        return None, None
    if statistic != "ratio_of_means":
        raise ValueError(f'statistic must be "mean" or "ratio_of_means", got {statistic!r}')
    if t_den is None or c_den is None:
        raise ValueError('statistic="ratio_of_means" needs treatment_denominator and control_denominator')
    td, cd = _array(t_den, "treatment_denominator"), _array(c_den, "control_denominator")
    if len(td) != len(t) or len(cd) != len(c):
        raise ValueError("each group needs one denominator per value")
    if (td < 0).any() or (cd < 0).any() or td.sum() == 0 or cd.sum() == 0:
        raise ValueError("denominators must be non-negative with a positive total per group")
    return td, cd


def _ratio(values: np.ndarray, den: np.ndarray | None) -> float:
    return float(values.mean() if den is None else values.sum() / den.sum())


def _resampled(values: np.ndarray, den: np.ndarray | None, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The statistic of ``resamples`` resamples with replacement, drawn in blocks of rows."""
    n = len(values)
    block = max(1, _BLOCK_CELLS // n)
    out = np.empty(resamples)
    for start in range(0, resamples, block):
        stop = min(start + block, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        if den is None:
            out[start:stop] = values[idx].mean(axis=1)
        else:
            sums = den[idx].sum(axis=1)
            if (sums == 0).any():
                raise UndefinedUpliftError(
                    "a resample's denominators sum to 0: too few units with a denominator to bootstrap this ratio"
                )
            out[start:stop] = values[idx].sum(axis=1) / sums
    return out


def _check_relative(c_stat: float, c_boot: np.ndarray) -> None:
    if c_stat == 0.0:
        raise UndefinedUpliftError(
            "relative uplift is undefined: the control group's mean is 0; compare the absolute difference instead"
        )
    zeros = int((c_boot == 0.0).sum())
    if zeros:
        raise UndefinedUpliftError(
            f"relative uplift is undefined: the control's mean is 0 in {zeros} of {len(c_boot)} resamples "
            "(too few control customers with a non-zero value); compare the absolute difference instead"
        )


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _dec(x: float, places: int) -> Decimal:
    return Decimal(f"{x:.{places}f}")


def _interval(
    estimate: float, low: float, high: float, n_t: int, n_c: int, method: str, confidence: float, kind: Kind
) -> Interval:
    places = _PLACES[kind]
    return Interval(
        estimate=_dec(estimate, places),
        low=_dec(low, places),
        high=_dec(high, places),
        n_treatment=n_t,
        n_control=n_c,
        method=method,
        confidence=confidence,
        kind=kind,
    )


def _two_decimals(value: Decimal) -> str:
    return f"{value:.2f}"


def _read(interval: Interval, metric: str, amount: Callable[[Decimal], str]) -> Verdict:
    level = f"{interval.confidence * 100:g} %"
    show = _shower(interval.kind, amount)
    if interval.low > 0:
        return Verdict(
            "positive",
            f"Cross-sell is adding about {show(interval.estimate)} to {metric} "
            f"({level} interval {show(interval.low)} to {show(interval.high)}).",
        )
    if interval.high < 0:
        return Verdict(
            "negative",
            f"Cross-sell is lowering {metric} by about {show(-interval.estimate)} "
            f"({level} interval {show(-interval.high)} to {show(-interval.low)} lower).",
        )
    return Verdict(
        "inconclusive",
        f"No clear effect on {metric} yet: anywhere from {show(interval.low, signed=True)} to "
        f"{show(interval.high, signed=True)} ({level} interval). Keep the experiment running.",
    )


def _shower(kind: Kind, amount: Callable[[Decimal], str]) -> Callable[..., str]:
    def show(value: Decimal, signed: bool = False) -> str:
        sign = "+" if signed and value > 0 else ("-" if value < 0 and signed else "")
        magnitude = abs(value) if signed else value
        if kind == "relative":
            return f"{sign}{magnitude * 100:.1f} %"
        if kind == "rate":
            return f"{sign}{magnitude * 100:.1f} percentage points"
        return f"{sign}{amount(magnitude)}"

    return show
