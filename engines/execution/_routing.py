"""The routing section of execution's params: the venues orders may be routed to, each with
its fee schedule, latency and displayed size, parsed once into frozen objects.

`route` lists the venues in order of preference (ties of price after fees go to the first);
`venues` describes each. Every problem names its key: a route naming no venue described, a
venue with no kind or an unknown key, a negative fee, an empty route.

    route = ["lit_a", "lit_b"]
    [engines.execution.params.venues.lit_a]
    kind = "simulated"          # in-process venue matched against the ticks' touch
    latency_us = 50.0           # before a child order can trade there
    display_fraction = 0.5      # of the touch's size the venue shows (and fills at most)
    taker_bps = 0.3             # fee rate of an order that takes liquidity, basis points
    maker_bps = 0.1             # ... of one that rests
    per_share = 0.0005          # flat fee per share, price units
    [engines.execution.params.venues.fixv]
    kind = "fix"                # a FIX gateway engine (engines.fix) in the topology
    engine = "fixgw"            # its name: its session is read from trading.venues.fixgw
    orders_ring = "fix_orders"  # the DECISION ring execution writes, the gateway reads
    reports_ring = "fix_fills"  # the FILL ring the gateway writes, execution reads
    session_timeout_s = 3.0     # its last "up" on the bus holds this long (then: down)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engines.execution._fees import FeeSchedule
from engines.params import ParamError, did_you_mean

KINDS = ("simulated", "fix")
MAX_VENUES = 255  # venue_id is one byte on the fills ring (0 = not routed)
_NUMBERS = {"latency_us": 0.0, "display_fraction": 1.0, "taker_bps": 0.0, "maker_bps": 0.0,
            "per_share": 0.0, "session_timeout_s": 3.0}
_FEES = ("taker_bps", "maker_bps", "per_share")
_GATEWAY = ("engine", "orders_ring", "reports_ring")  # kind "fix": the gateway and its rings
_KEYS = ("kind", *_NUMBERS, *_GATEWAY)


@dataclass(frozen=True, kw_only=True, slots=True)
class VenueConfig:
    name: str
    venue_id: int  # 1 + its index in `route`: what the fills ring carries
    kind: str
    latency_us: float
    display_fraction: float
    fees: FeeSchedule
    # kind "fix": the gateway engine, the DECISION ring execution writes it, the FILL ring
    # it writes back, and how long its last "up" on the bus holds
    engine: str = ""
    orders_ring: str = ""
    reports_ring: str = ""
    session_timeout_s: float = 3.0


def routing_problems(route: Any, venues: Any, where: str) -> list[str]:
    """Every problem of the routing params (`route`, `venues`), each naming its key."""
    if route is None and venues is None:
        return []
    if not isinstance(route, list | tuple) or not route:
        return [f"{where}.route: no venue to route to (got {route!r}); list the names of "
                f"{where}.venues, in order of preference"]
    if not isinstance(venues, Mapping):
        return [f"{where}.venues: expected a table of venues by name, got {venues!r}"]
    problems = []
    if len(route) > MAX_VENUES:
        problems.append(f"{where}.route: {len(route)} venues, at most {MAX_VENUES}")
    seen: set[str] = set()
    for i, name in enumerate(route):
        if not isinstance(name, str) or name not in venues:
            problems.append(f"{where}.route[{i}]: unknown venue {name!r}"
                            f"{did_you_mean(str(name), venues)}; described: "
                            f"{', '.join(sorted(venues)) or 'none'}")
        elif name in seen:
            problems.append(f"{where}.route[{i}]: venue {name!r} listed twice")
        seen.add(str(name))
    for name, table in venues.items():
        problems += _venue_problems(table, f"{where}.venues.{name}")
    return problems


def parse_routing(route: Any, venues: Any, where: str) -> tuple[VenueConfig, ...]:
    """The venues of `route` in its order, or ParamError listing every problem; () when the
    params have no routing section (the one simulated venue, no router)."""
    problems = routing_problems(route, venues, where)
    if problems:
        raise ParamError(problems)
    if route is None:
        return ()
    out = []
    for i, name in enumerate(route):
        table = venues[name]
        num = {key: float(table.get(key, default)) for key, default in _NUMBERS.items()}
        out.append(VenueConfig(
            name=name, venue_id=i + 1, kind=table["kind"], latency_us=num["latency_us"],
            display_fraction=num["display_fraction"],
            fees=FeeSchedule(maker_bps=num["maker_bps"], taker_bps=num["taker_bps"],
                             per_share=num["per_share"]),
            session_timeout_s=num["session_timeout_s"],
            **{key: str(table.get(key, "")) for key in _GATEWAY}))
    return tuple(out)


def _venue_problems(table: Any, where: str) -> list[str]:
    if not isinstance(table, Mapping):
        return [f"{where}: expected a table, got {table!r}"]
    problems = [f"{where}.{key}: unknown key {key!r}{did_you_mean(key, _KEYS)}; known: "
                f"{', '.join(_KEYS)}" for key in table if key not in _KEYS]
    kind = table.get("kind")
    if kind not in KINDS:
        problems.append(f"{where}.kind: {kind!r} is not a venue kind the router drives; "
                        f"known: {', '.join(KINDS)}")
    for key in _NUMBERS:
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            problems.append(f"{where}.{key}: expected a number, got {value!r}")
        elif key in _FEES and value < 0:
            problems.append(f"{where}.{key}: negative fee {value!r} (rebates are not modelled)")
        elif key == "latency_us" and value < 0:
            problems.append(f"{where}.latency_us: {value!r} us is below the minimum 0 us")
        elif key == "display_fraction" and not 0 < value <= 1:
            problems.append(f"{where}.display_fraction: {value!r} is not in (0, 1]")
        elif key == "session_timeout_s" and value <= 0:
            problems.append(f"{where}.session_timeout_s: {value!r} s is not above 0 s")
    for key in _GATEWAY:
        if kind == "fix" and not (isinstance(table.get(key), str) and table.get(key)):
            problems.append(f"{where}.{key}: a fix venue needs its gateway's {key} "
                            f"(got {table.get(key)!r})")
        elif kind == "simulated" and key in table:
            problems.append(f"{where}.{key}: only a fix venue has a gateway {key}")
    return problems
