"""Engine params specs: unknown keys with a suggestion, types, ranges, choices, booleans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engines.marketdata.engine import MarketDataParams
from engines.params import ParamError, param_problems, parse_params, truth
from engines.risk.engine import RiskParams

pytestmark = pytest.mark.timeout(60)
WHERE = "engines.risk.params"


def test_param_problems_when_key_misspelt_names_it_and_suggests_the_right_one():
    """`max_ordr_qty` is refused with the path, the key and 'did you mean max_order_qty'."""
    [problem] = param_problems(RiskParams, {"max_ordr_qty": 10}, WHERE)
    assert problem.startswith("engines.risk.params.max_ordr_qty: unknown param 'max_ordr_qty'")
    assert "(did you mean 'max_order_qty'?)" in problem


def test_param_problems_when_values_bad_lists_every_one_with_its_value():
    """A wrong type, a value under its minimum and a word not in the choices, all at once."""
    found = param_problems(RiskParams, {"max_order_qty": "ten", "max_orders_per_s": 0,
                                        "max_notional": True}, WHERE)
    assert found == [
        "engines.risk.params.max_order_qty: expected integer, got 'ten'",
        "engines.risk.params.max_orders_per_s: 0 orders/s is below the minimum 1 orders/s",
        "engines.risk.params.max_notional: expected number, got True",
    ]
    [choice] = param_problems(MarketDataParams, {"source": "gmb"}, "engines.md.params")
    assert "not one of gbm, replay: 'gmb' (did you mean 'gbm'?)" in choice


def test_parse_params_when_valid_builds_the_spec_and_widens_ints_to_floats():
    """An integer for a float param is taken as a float; unspecified keys keep defaults."""
    p = parse_params(RiskParams, {"max_notional": 5, "max_order_qty": 7}, WHERE)
    assert (p.max_notional, p.max_order_qty, p.max_gross) == (5.0, 7, 20_000)
    with pytest.raises(ParamError, match="max_ordr_qty"):
        parse_params(RiskParams, {"max_ordr_qty": 1}, WHERE)


@pytest.mark.parametrize(("raw", "expected"), [
    (True, True), (False, False), (1, True), (0, False), ("true", True), ("False", False),
    ("yes", True), ("no", False), ("ON", True), ("off", False), ("1", True), ("0", False)])
def test_truth_when_boolean_word_given_returns_its_value(raw, expected):
    """Every spelling an operator may type on `nautilusctl call`."""
    assert truth(raw, "engage") is expected


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none()))
def test_truth_when_anything_else_raises_naming_the_key(raw):
    """No other value is a boolean: 'maybe', 2, 0.5, None are refused with the key named."""
    words = {"true", "false", "yes", "no", "on", "off", "1", "0"}
    if (isinstance(raw, str) and raw.strip().lower() in words) or raw in (0, 1):
        return
    with pytest.raises(ParamError, match=r"^engage: not a valid boolean value"):
        truth(raw, "engage")
