"""Fee schedules: per-share and basis-point fees, and the price after fees the router ranks by."""

from __future__ import annotations

import pytest

from engines.execution._fees import FeeSchedule, better_first_key, price_after_fees


def test_per_share_fee_when_taker_adds_rate_of_price_to_flat_fee() -> None:
    """0.3 bps of 100.0 plus a flat 0.001 is 0.004 per share."""
    fees = FeeSchedule(taker_bps=0.3, maker_bps=0.1, per_share=0.001)
    assert fees.per_share_fee(100.0) == pytest.approx(0.004)


def test_per_share_fee_when_maker_uses_maker_rate() -> None:
    """A resting order pays the maker rate: 0.1 bps of 100.0 is 0.001."""
    assert FeeSchedule(taker_bps=0.3, maker_bps=0.1).per_share_fee(100.0, taker=False) == \
        pytest.approx(0.001)


def test_cost_when_many_shares_is_quantity_times_fee() -> None:
    """250 shares at 40.0 with 1 bps and 0.002 per share cost 250 * (0.004 + 0.002)."""
    assert FeeSchedule(taker_bps=1.0, per_share=0.002).cost(250, 40.0) == pytest.approx(1.5)


def test_price_after_fees_when_buy_adds_and_sell_subtracts() -> None:
    """A buy pays the fee on top of the price; a sell receives the price less the fee."""
    assert price_after_fees(1, 100.0, 0.01) == pytest.approx(100.01)
    assert price_after_fees(-1, 100.0, 0.01) == pytest.approx(99.99)


def test_better_first_key_when_fees_differ_ranks_cheaper_buy_and_richer_sell_first() -> None:
    """100.00 + 0.02 is a worse buy than 100.01 + 0; for a sell 100.02 - 0.005 beats 100.0."""
    assert better_first_key(1, 100.01, 0.0) < better_first_key(1, 100.0, 0.02)
    assert better_first_key(-1, 100.02, 0.005) < better_first_key(-1, 100.0, 0.0)


def test_fee_schedule_when_default_is_free() -> None:
    """No fee configured: the price after fees is the price."""
    assert FeeSchedule().per_share_fee(123.45) == 0.0
