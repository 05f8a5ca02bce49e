"""The routing section of execution's params: each problem names its key, a good one parses."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from engines.execution import ExecutionParams
from engines.execution._routing import parse_routing, routing_problems
from engines.params import ParamError, param_problems
from nautilusd.config.load import load_config
from nautilusd.config.params import params_errors
from nautilusd.config.tomlwriter import toml_document

ROOT = Path(__file__).resolve().parents[2]

W = "engines.execution.params"
VENUES: dict[str, Any] = {"lit_a": {"kind": "simulated", "taker_bps": 0.3, "latency_us": 50.0},
          "lit_b": {"kind": "simulated", "per_share": 0.001, "display_fraction": 0.5}}


def test_parse_routing_when_valid_gives_venues_in_route_order_with_ids() -> None:
    """venue_id is 1 + the index in `route`; unset numbers take their defaults."""
    a, b = parse_routing(["lit_b", "lit_a"], VENUES, W)
    assert (a.name, a.venue_id, a.display_fraction, a.fees.per_share) == ("lit_b", 1, 0.5, 0.001)
    assert (b.name, b.venue_id, b.latency_us, b.fees.taker_bps) == ("lit_a", 2, 50.0, 0.3)


def test_parse_routing_when_absent_is_no_router() -> None:
    """No route and no venues: the one simulated venue, nothing to parse."""
    assert parse_routing(None, None, W) == ()


def test_routing_problems_when_route_names_unknown_venue_names_the_key() -> None:
    """route[1] = 'lit_c' is not described: the message names route[1] and the known ones."""
    (problem,) = routing_problems(["lit_a", "lit_c"], VENUES, W)
    assert problem.startswith(f"{W}.route[1]: unknown venue 'lit_c'")
    assert "lit_a, lit_b" in problem


def test_routing_problems_when_fee_negative_names_the_venue_key() -> None:
    """A rebate given as a negative taker_bps is refused at venues.lit_a.taker_bps."""
    venues = {**VENUES, "lit_a": {"kind": "simulated", "taker_bps": -0.2}}
    (problem,) = routing_problems(["lit_a"], venues, W)
    assert problem.startswith(f"{W}.venues.lit_a.taker_bps: negative fee -0.2")


@pytest.mark.parametrize("route", [[], None, "lit_a"])
def test_routing_problems_when_no_venue_to_route_to_names_route(route: object) -> None:
    """Venues described but an empty (or missing, or not a list) route: no venue."""
    (problem,) = routing_problems(route, VENUES, W)
    assert problem.startswith(f"{W}.route: no venue to route to")


def test_routing_problems_when_venue_key_unknown_suggests_the_close_one() -> None:
    """A misspelt taker_bsp is named with a did-you-mean."""
    venues = {"lit_a": {"kind": "simulated", "taker_bsp": 0.3}}
    (problem,) = routing_problems(["lit_a"], venues, W)
    assert "venues.lit_a.taker_bsp: unknown key" in problem and "'taker_bps'" in problem


def test_routing_problems_when_kind_missing_or_unknown_names_kind() -> None:
    """Every venue needs a kind the router drives."""
    (problem,) = routing_problems(["x"], {"x": {"kind": "carrier-pigeon"}}, W)
    assert problem.startswith(f"{W}.venues.x.kind: 'carrier-pigeon'")


def test_routing_problems_when_route_lists_a_venue_twice_names_the_second() -> None:
    """A venue listed twice would be sent a parent twice."""
    (problem,) = routing_problems(["lit_a", "lit_a"], VENUES, W)
    assert problem.startswith(f"{W}.route[1]: venue 'lit_a' listed twice")


def test_param_problems_when_execution_params_have_bad_routing_reports_it() -> None:
    """`nautilusd check` goes through param_problems: the routing checks are part of it."""
    problems = param_problems(ExecutionParams, {"route": ["nope"], "venues": VENUES}, W)
    assert any("route[0]: unknown venue 'nope'" in p for p in problems)


def test_parse_routing_when_bad_raises_param_error_listing_all() -> None:
    """Two problems, one ParamError carrying both."""
    venues = {"lit_a": {"kind": "simulated", "per_share": -1.0}}
    with pytest.raises(ParamError) as err:
        parse_routing(["lit_a", "zzz"], venues, W)
    assert len(err.value.problems) == 2


def test_check_when_default_topology_routes_to_unknown_venue_names_the_key(
        tmp_path: Path) -> None:
    """configs/default.toml with a route naming no venue: `check` (params_errors) refuses it
    with the file, the key and the value; a negative fee the same; a good section passes."""
    doc = tomllib.loads((ROOT / "configs" / "default.toml").read_text())
    params = doc["engines"]["execution"]["params"]
    path = tmp_path / "routing.toml"

    def errors(route: list[str], venues: dict[str, Any]) -> list[str]:
        params.update(route=route, venues=venues)
        path.write_text(toml_document(doc))
        return [message for _key, message in params_errors(load_config(path))]

    (unknown,) = errors(["lit_a", "dark_x"], VENUES)
    assert f"{path}: {W}.route[1]: unknown venue 'dark_x'" in unknown
    (fee,) = errors(["lit_a"], {"lit_a": {"kind": "simulated", "per_share": -0.001}})
    assert f"{W}.venues.lit_a.per_share: negative fee -0.001" in fee
    assert errors(["lit_b", "lit_a"], VENUES) == []


def test_routing_problems_when_fix_venue_lacks_its_gateway_names_each_key() -> None:
    """A fix venue needs engine, orders_ring and reports_ring; a simulated one has none."""
    problems = routing_problems(["fixv", "lit_a"], {
        "fixv": {"kind": "fix", "engine": "fixgw"},
        "lit_a": {"kind": "simulated", "orders_ring": "x"}}, W)
    assert [p.split(":")[0] for p in problems] == [
        f"{W}.venues.fixv.orders_ring", f"{W}.venues.fixv.reports_ring",
        f"{W}.venues.lit_a.orders_ring"]


def test_parse_routing_when_fix_venue_keeps_gateway_and_rings() -> None:
    """The gateway's engine and rings and its session timeout are parsed."""
    (v,) = parse_routing(["fixv"], {"fixv": {
        "kind": "fix", "engine": "fixgw", "orders_ring": "fo", "reports_ring": "ff",
        "session_timeout_s": 2.0, "taker_bps": 0.5}}, W)
    assert (v.kind, v.engine, v.orders_ring, v.reports_ring, v.session_timeout_s) == (
        "fix", "fixgw", "fo", "ff", 2.0)
