"""Thompson sampling over an experiment's arms (variants), for traffic shares and single exposures.

Pure numpy, no Django. The caller aggregates each arm's exposures, conversions and order
values (one currency per call) into :class:`ArmStats`. The holdout is *not* an arm: the caller
keeps the holdout's share fixed outside the bandit and splits the rest of the traffic with
:func:`allocate` or :func:`choose`, so the uplift measurement never depends on the bandit.

Two rewards:

- ``"conversion"`` (Bernoulli): each arm's conversion rate has a Beta(1, 1) prior, so its
  posterior is Beta(1 + conversions, 1 + exposures - conversions).
- ``"revenue"`` (revenue per exposure), a zero-inflated model: revenue per exposure =
  conversion rate x mean order value, the two independent. The rate's posterior is the Beta
  above; the mean order value has a Normal-Gamma posterior from the arm's order count, sum and
  sum of squares (so its marginal is a Student t; draws are clipped at 0, order values being
  non-negative). The prior is weak and comes from the orders of all arms pooled (mean, worth
  one order; variance, worth two), which makes it scale-free in any currency. Before any arm
  has an order, revenue ranks arms like conversion. We chose this over a Bayesian bootstrap
  because it needs only aggregates a database sums cheaply (COUNT, SUM, SUM of squares) rather
  than every order value, and the t marginal is what the central limit theorem gives a mean
  of skewed order values once an arm has a few dozen orders.

Every arm keeps at least ``floor`` of the traffic (exploration never stops, and a change in the
arms' true rates is noticed); ``floor * len(arms)`` must not exceed 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

Reward = Literal["conversion", "revenue"]


@dataclass(frozen=True)
class ArmStats:
    """What one arm has observed: ``exposures`` shown, ``conversions`` among them (an exposure
    converts at most once), and for the revenue reward the converted orders' total ``revenue``
    and ``revenue_squares`` (the sum of each order value squared)."""

    arm_id: str
    exposures: int
    conversions: int
    revenue: Decimal = Decimal(0)
    revenue_squares: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.exposures < 0 or not 0 <= self.conversions <= self.exposures:
            raise ValueError(
                f"arm {self.arm_id!r}: conversions must be between 0 and exposures, "
                f"got {self.conversions} of {self.exposures}"
            )
        if self.revenue < 0 or self.revenue_squares < 0:
            raise ValueError(f"arm {self.arm_id!r}: revenue and revenue_squares must not be negative")


def allocate(
    arms: Sequence[ArmStats],
    *,
    floor: float = 0.05,
    draws: int = 10_000,
    rng: np.random.Generator,
    reward: Reward = "conversion",
) -> dict[str, float]:
    """Traffic share per arm: ``floor + (1 - floor * k) * P(arm is best)``.

    P(best) is estimated from ``draws`` joint posterior draws (ties split at random). Every
    arm gets at least ``floor`` and the shares sum to 1.
    """
    _validate(arms, floor)
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    samples = _posterior(arms, draws, rng, reward)
    wins = np.bincount(_argmax_random_ties(samples, rng), minlength=len(arms)) / draws
    free = 1.0 - floor * len(arms)
    return {arm.arm_id: floor + free * float(p) for arm, p in zip(arms, wins, strict=True)}


def choose(
    arms: Sequence[ArmStats],
    rng: np.random.Generator,
    *,
    floor: float = 0.05,
    reward: Reward = "conversion",
) -> str:
    """The arm for one exposure: uniformly at random with probability ``floor * k``, else the
    best of one posterior draw per arm (Thompson sampling). Over many exposures each arm gets
    the share :func:`allocate` computes."""
    _validate(arms, floor)
    if rng.random() < floor * len(arms):
        return arms[int(rng.integers(len(arms)))].arm_id
    return arms[int(_argmax_random_ties(_posterior(arms, 1, rng, reward), rng)[0])].arm_id


def _validate(arms: Sequence[ArmStats], floor: float) -> None:
    if not arms:
        raise ValueError("a bandit needs at least one arm")
    ids = [arm.arm_id for arm in arms]
    if len(set(ids)) != len(ids):
        raise ValueError(f"arm ids must be unique, got {ids}")
    if not 0.0 <= floor or floor * len(arms) > 1.0 + 1e-12:
        raise ValueError(f"floor must be between 0 and 1/{len(arms)} for {len(arms)} arms, got {floor}")


def _posterior(arms: Sequence[ArmStats], draws: int, rng: np.random.Generator, reward: Reward) -> npt.NDArray:
    """``draws`` x arms posterior draws of the reward."""
    n = np.array([a.exposures for a in arms], dtype=np.float64)
    k = np.array([a.conversions for a in arms], dtype=np.float64)
    rates = rng.beta(1.0 + k, 1.0 + n - k, size=(draws, len(arms)))
    if reward == "conversion":
        return rates
    if reward != "revenue":
        raise ValueError(f'reward must be "conversion" or "revenue", got {reward!r}')
    revenue: npt.NDArray[np.float64] = rates * _order_value_draws(arms, draws, rng)
    return revenue


def _order_value_draws(arms: Sequence[ArmStats], draws: int, rng: np.random.Generator) -> npt.NDArray:
    k = np.array([a.conversions for a in arms], dtype=np.float64)
    s = np.array([float(a.revenue) for a in arms])
    q = np.array([float(a.revenue_squares) for a in arms])
    total = k.sum()
    if total == 0:
        return np.ones((draws, len(arms)))
    mu0 = s.sum() / total
    pooled_var = (q.sum() - total * mu0 * mu0) / (total - 1) if total > 1 else 0.0
    var0 = max(pooled_var, mu0 * mu0, 1e-12)
    kappa0, alpha0 = 1.0, 2.0
    beta0 = var0 * (alpha0 - 1.0)  # prior mean of the variance = var0
    mean = np.divide(s, k, out=np.zeros_like(s), where=k > 0)
    ss = np.maximum(q - k * mean * mean, 0.0)  # sum of squared deviations
    kappa = kappa0 + k
    mu = (kappa0 * mu0 + s) / kappa
    alpha = alpha0 + k / 2.0
    beta = beta0 + ss / 2.0 + kappa0 * k * (mean - mu0) ** 2 / (2.0 * kappa)
    scale = np.sqrt(beta / (alpha * kappa))
    t = rng.standard_t(2.0 * alpha, size=(draws, len(arms)))
    values: npt.NDArray[np.float64] = np.maximum(mu + scale * t, 0.0)
    return values


def _argmax_random_ties(samples: npt.NDArray, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    best = samples == samples.max(axis=1, keepdims=True)
    winners: npt.NDArray[np.intp] = np.argmax(best * rng.random(samples.shape), axis=1)
    return winners
