"""A venue's fee schedule and the price an order pays after it: what the router ranks venues by.

Fees are per share: `per_share` (a flat fee, in price units) plus a rate of the notional in
basis points, `taker_bps` when the order takes liquidity (marketable now), `maker_bps` when it
rests. A buy pays price + fee per share, a sell receives price - fee: lower is better for a
buy, higher for a sell. Negative fees (rebates) are refused by the config (engines.execution.
_routing), so a fee never makes a price better than the touch.
"""

from __future__ import annotations

from dataclasses import dataclass

BPS = 1e-4


@dataclass(frozen=True, kw_only=True, slots=True)
class FeeSchedule:
    maker_bps: float = 0.0
    taker_bps: float = 0.0
    per_share: float = 0.0

    def per_share_fee(self, price: float, taker: bool = True) -> float:
        """The fee of one share traded at `price` (price units)."""
        return self.per_share + price * (self.taker_bps if taker else self.maker_bps) * BPS

    def cost(self, qty: int, price: float, taker: bool = True) -> float:
        """The fee of `qty` shares at `price` (price units, >= 0)."""
        return qty * self.per_share_fee(price, taker)


def price_after_fees(side: int, price: float, fee_per_share: float) -> float:
    """What one share costs a buy (side > 0) or brings a sell (side < 0) at `price`."""
    return price + fee_per_share if side > 0 else price - fee_per_share


def better_first_key(side: int, price: float, fee_per_share: float) -> float:
    """A sort key that puts the better price after fees first, for either side."""
    after = price_after_fees(side, price, fee_per_share)
    return after if side > 0 else -after
