"""The simulator of bench/simulate.py, run small: its report has every figure, a planted uplift is
found by the plugin's measurement, no uplift is not, and the bandit moves traffic to the best arm
without going under its floor."""

from __future__ import annotations

from typing import Any

import pytest

from bench import simulate


@pytest.fixture
def shop(transactional_db: Any, isolated_models: None, settings: Any) -> None:
    """Committed transactions (the purchase pipeline runs on commit) and half of the customers
    held out, so that a few dozen customers give each side enough of them."""
    settings.CROSSSELL = {**settings.CROSSSELL, "HOLDOUT_SHARE": 0.5, "MODEL_CHECK_SECONDS": 0}


def test_a_planted_uplift_is_found_and_measured_as_the_orders_say(shop: None) -> None:
    lines: list[str] = []
    result = simulate.run_once(11, customers=80, weeks=2, lift=0.6, history=40, progress=lines.append)

    assert result.true_rpc_uplift > 20  # most blocks match: most treated buy again, the held out rarely
    assert result.rpc_low > 0, result
    assert result.rate_low > 0, result
    assert result.mean_match_treated > 0.5  # the trained model shows what the customers like
    assert 20 <= result.holdout <= 60
    assert result.measured_rpc_uplift == pytest.approx(result.direct_rpc_uplift, abs=0.01)
    assert result.impressions > 0 and result.refunds >= 0
    assert result.orders > 80 + 40
    assert any("week 2/2" in line for line in lines)


def test_no_uplift_is_not_found_and_the_report_has_every_figure(shop: None) -> None:
    lines: list[str] = []
    summary = simulate.simulate(
        customers=60, weeks=1, runs=3, seed=5, lift=0.0, history=30, bandit_weeks=6, progress=lines.append
    )

    assert [run["true_rpc_uplift"] for run in summary.runs] == [0.0, 0.0, 0.0]
    assert sum(run["covered"] for run in summary.runs) >= 2, summary.runs
    uplift = summary.uplift
    for key in ("true_rpc_uplift", "mean_measured_rpc_uplift", "bias", "coverage", "coverage_ci95", "method"):
        assert key in uplift
    assert uplift["coverage"] == sum(run["covered"] for run in summary.runs) / 3
    assert uplift["bias"] == pytest.approx(uplift["mean_measured_rpc_uplift"] - uplift["true_rpc_uplift"])
    assert uplift["max_report_vs_orders_gap"] < 0.01
    assert set(summary.bandit["mean_final_shares"]) == set(simulate.BANDIT_RATES)
    assert summary.bandit["floor_held"]
    assert any(line.startswith("run 3/3: week 1/1") for line in lines)
    table = simulate.table(summary)
    assert "coverage of the 95 % interval" in table and "cumulative regret, bandit" in table


def test_the_bandit_ends_on_the_best_arm_above_its_floor_with_less_regret() -> None:
    result = simulate.run_bandit(3, weeks=12, exposures_per_week=2000, floor=0.05)

    assert result.best_arm == "sms-day-2"
    assert result.final_shares["sms-day-2"] > 0.6
    assert result.min_share >= 0.05 - 1e-12
    assert sum(result.final_shares.values()) == pytest.approx(1.0)
    assert result.bandit_regret < result.equal_regret / 2
    assert result.equal_regret == pytest.approx(12 * 2000 * (0.07 - (0.04 + 0.055 + 0.07) / 3))


def test_bad_sizes_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="--weeks"):
        simulate.run_once(1, customers=50, weeks=0, lift=0.1)
    with pytest.raises(ValueError, match="--runs"):
        simulate.simulate(customers=50, weeks=1, runs=0, seed=1, lift=0.1, bandit_weeks=1)
