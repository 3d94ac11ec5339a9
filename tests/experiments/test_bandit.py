"""Thompson sampling: simulated runs that must converge, the exploration floor, the revenue reward."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosssell_plugin.experiments.bandit import ArmStats, Reward, allocate, choose

FLOOR = 0.05
TRUE_RATES = {"a": 0.02, "b": 0.03, "c": 0.05}
ROUNDS = 20_000


@dataclass
class Tally:
    exposures: int = 0
    conversions: int = 0
    revenue: float = 0.0
    squares: float = 0.0

    def stats(self, arm_id: str) -> ArmStats:
        revenue, squares = Decimal(repr(self.revenue)), Decimal(repr(self.squares))
        return ArmStats(arm_id, self.exposures, self.conversions, revenue, squares)


@dataclass
class Run:
    chosen: list[str]
    regret: np.ndarray  # expected regret of each round
    equal_split_regret: float
    final: list[ArmStats]


def simulate(rates: dict[str, float], values: dict[str, float], reward: Reward, rounds: int, seed: int) -> Run:
    """``rounds`` exposures chosen one at a time with ``choose``; conversions drawn from the true
    rates, order values log-normal around each arm's true mean."""
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(seed + 1)
    tallies = {arm: Tally() for arm in rates}
    worth = {arm: rates[arm] * (values[arm] if reward == "revenue" else 1.0) for arm in rates}
    best = max(worth.values())
    chosen: list[str] = []
    for _ in range(rounds):
        arm = choose([t.stats(a) for a, t in tallies.items()], rng, floor=FLOOR, reward=reward)
        chosen.append(arm)
        tally = tallies[arm]
        tally.exposures += 1
        if world.random() < rates[arm]:
            value = float(world.lognormal(np.log(values[arm]) - 0.125, 0.5))
            tally.conversions += 1
            tally.revenue += value
            tally.squares += value * value
    regret = np.array([best - worth[a] for a in chosen])
    equal = rounds * float(np.mean([best - w for w in worth.values()]))
    return Run(chosen, regret, equal, [t.stats(a) for a, t in tallies.items()])


@pytest.fixture(scope="module")
def bernoulli_run() -> Run:
    return simulate(TRUE_RATES, dict.fromkeys(TRUE_RATES, 1.0), "conversion", ROUNDS, 42)


def late_shares(run: Run) -> dict[str, float]:
    late = run.chosen[-5000:]
    return {arm: late.count(arm) / len(late) for arm in TRUE_RATES}


def test_the_best_arm_gets_most_of_the_late_traffic(bernoulli_run: Run) -> None:
    shares = late_shares(bernoulli_run)
    assert shares["c"] > 0.5
    assert shares["c"] == max(shares.values())


def test_every_arm_keeps_at_least_the_floor(bernoulli_run: Run) -> None:
    shares = late_shares(bernoulli_run)
    # the floor's exposures of the last 5,000 are Binomial(5000, 0.05): mean 250, sd 15
    assert all(share >= FLOOR - 3 * 0.0031 for share in shares.values())
    final = allocate(bernoulli_run.final, floor=FLOOR, rng=np.random.default_rng(0))
    assert all(share >= FLOOR for share in final.values())
    assert final["c"] == max(final.values())


def test_regret_grows_sublinearly_and_far_below_an_equal_split(bernoulli_run: Run) -> None:
    half = ROUNDS // 2
    first, second = bernoulli_run.regret[:half].sum(), bernoulli_run.regret[half:].sum()
    assert second < first
    total = first + second
    assert total < 0.5 * bernoulli_run.equal_split_regret


def test_the_revenue_bandit_prefers_revenue_per_exposure_over_conversion() -> None:
    # "cheap" converts more (5 % at 20) but "premium" earns more per exposure (3 % at 50)
    rates, values = {"cheap": 0.05, "premium": 0.03}, {"cheap": 20.0, "premium": 50.0}
    run = simulate(rates, values, "revenue", 8000, 9)
    late = run.chosen[-2000:]
    assert late.count("premium") / len(late) > 0.5
    by_conversion = allocate(run.final, floor=FLOOR, rng=np.random.default_rng(1), reward="conversion")
    by_revenue = allocate(run.final, floor=FLOOR, rng=np.random.default_rng(1), reward="revenue")
    assert by_revenue["premium"] > by_revenue["cheap"]
    assert by_conversion["cheap"] > by_conversion["premium"]


def test_revenue_from_aggregates_ranks_a_lower_rate_with_bigger_orders_first() -> None:
    cheap = ArmStats("cheap", 5000, 250, Decimal(250 * 20), Decimal(250 * (20**2 + 5**2)))
    premium = ArmStats("premium", 5000, 150, Decimal(150 * 50), Decimal(150 * (50**2 + 10**2)))
    shares = allocate([cheap, premium], floor=FLOOR, rng=np.random.default_rng(3), reward="revenue")
    assert shares["premium"] > 0.9
    assert allocate([cheap, premium], floor=FLOOR, rng=np.random.default_rng(3))["cheap"] > 0.9


def test_before_any_order_revenue_ranks_like_conversion() -> None:
    arms = [ArmStats("a", 100, 0), ArmStats("b", 100, 0)]
    shares = allocate(arms, floor=0.0, rng=np.random.default_rng(0), reward="revenue")
    assert abs(shares["a"] - 0.5) < 0.02  # symmetric arms: MC error of 10,000 draws is 0.005


def test_arms_without_data_share_evenly() -> None:
    arms = [ArmStats(x, 0, 0) for x in "abcd"]
    shares = allocate(arms, rng=np.random.default_rng(5))
    assert all(abs(s - 0.25) < 0.02 for s in shares.values())


def test_a_floor_of_one_over_k_is_an_equal_split() -> None:
    arms = [ArmStats("a", 1000, 10), ArmStats("b", 1000, 90)]
    assert allocate(arms, floor=0.5, rng=np.random.default_rng(0)) == {"a": 0.5, "b": 0.5}


def test_allocation_is_deterministic_given_the_generator() -> None:
    arms = [ArmStats("a", 300, 9), ArmStats("b", 280, 11), ArmStats("c", 310, 10)]
    assert allocate(arms, rng=np.random.default_rng(8)) == allocate(arms, rng=np.random.default_rng(8))


def test_choose_follows_the_allocated_shares() -> None:
    arms = [ArmStats("a", 400, 8), ArmStats("b", 400, 14)]
    rng = np.random.default_rng(12)
    expected = allocate(arms, floor=0.1, draws=50_000, rng=rng)
    picks = [choose(arms, rng, floor=0.1) for _ in range(8000)]
    assert abs(picks.count("b") / len(picks) - expected["b"]) < 0.02  # sd of 8,000 picks: 0.0055


@pytest.mark.parametrize(
    ("arms", "floor", "message"),
    [
        ([], 0.05, "at least one arm"),
        ([ArmStats("a", 1, 0), ArmStats("a", 2, 1)], 0.05, "unique"),
        ([ArmStats(x, 1, 0) for x in "abc"], 0.34, "between 0 and 1/3"),
        ([ArmStats("a", 1, 0)], -0.1, "between 0 and 1/1"),
    ],
)
def test_invalid_arms_and_floors_are_refused(arms: list[ArmStats], floor: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate(arms, floor=floor, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=message):
        choose(arms, np.random.default_rng(0), floor=floor)


def test_impossible_counts_and_unknown_rewards_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and exposures"):
        ArmStats("a", 10, 11)
    with pytest.raises(ValueError, match="must not be negative"):
        ArmStats("a", 10, 1, Decimal(-5))
    with pytest.raises(ValueError, match="reward must be"):
        allocate([ArmStats("a", 1, 0)], rng=np.random.default_rng(0), reward="clicks")  # type: ignore[arg-type]


arm_stats = st.integers(0, 10_000).flatmap(
    lambda n: st.builds(lambda k, v: (n, k, v), st.integers(0, n), st.decimals(min_value=1, max_value=500, places=2))
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(arm_stats, min_size=1, max_size=6),
    st.floats(0, 1),
    st.sampled_from(["conversion", "revenue"]),
    st.integers(0, 2**32),
)
def test_shares_sum_to_one_and_respect_the_floor(
    raw: list[tuple[int, int, Decimal]], fraction: float, reward: Reward, seed: int
) -> None:
    arms = [ArmStats(str(i), n, k, v * k, v * v * k) for i, (n, k, v) in enumerate(raw)]
    floor = fraction / len(arms)
    shares = allocate(arms, floor=floor, draws=500, rng=np.random.default_rng(seed), reward=reward)
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    assert all(s >= floor - 1e-12 for s in shares.values())
    assert choose(arms, np.random.default_rng(seed), floor=floor, reward=reward) in shares
