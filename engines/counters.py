"""Named engine counters: what an engine's five custom status words mean.

An engine class declares `counters = ("rejected", "kill_switch_engaged", ...)`: the name of
W_CUSTOM0, W_CUSTOM0 + 1, ... in order ("" leaves a word unnamed). nautilusd reads the names
from the class of each `entry` (cached per entry) and shows them in `nautilusctl status`, on
/metrics as `nautilusd_engine_counter{engine,group,name}` and on the dashboard.

A few names have a meaning beyond their engine, and /metrics exports them as gauges of their
own (WELL_KNOWN): `kill_switch_engaged` (0 or 1) and the P&L words in cents.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Final

from engines.errors import CounterNameError
from shm.status import CUSTOM_COUNTERS

NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,47}")

# counter name -> (metric, label kind, scale to the metric's unit)
WELL_KNOWN: Final[Mapping[str, tuple[str, str, float]]] = {
    "kill_switch_engaged": ("kill_switch_engaged", "", 1.0),
    "pnl_realised_cents": ("pnl", "realised", 0.01),
    "pnl_unrealised_cents": ("pnl", "unrealised", 0.01),
}


def check_names(names: Sequence[str], where: str) -> tuple[str, ...]:
    """The names as a tuple; raise CounterNameError naming the bad value and `where`."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise CounterNameError(f"{where}: counters must be a tuple of names, got {names!r}")
    if len(names) > CUSTOM_COUNTERS:
        raise CounterNameError(
            f"{where}: {len(names)} counter names, the status slot has {CUSTOM_COUNTERS}")
    for name in names:
        if name != "" and not (isinstance(name, str) and NAME_PATTERN.fullmatch(name)):
            raise CounterNameError(
                f"{where}: counter name {name!r} is not lower_snake_case (a-z, 0-9, _)")
    named = [n for n in names if n]
    if len(set(named)) != len(named):
        raise CounterNameError(f"{where}: counter names repeat: {list(names)!r}")
    return tuple(names)


_KNOWN: dict[str, tuple[str, ...]] = {}  # entry -> names, known without its class


def adopt_declared(names: Mapping[str, Sequence[str]], where: str) -> None:
    """Take counter names declared by classes this process has not imported: a re-executed
    nautilusd's, from the earlier image, as its running engines declared them (importing
    every engine's module again only to read them is most of the new image's first status).
    Each is checked as a class's would be; raises CounterNameError naming `where`."""
    checked = {entry: check_names(found, f"{where}: {entry}") for entry, found in names.items()}
    _KNOWN.update(checked)
    declared_counters.cache_clear()
    counter_names.cache_clear()


@functools.lru_cache(maxsize=256)
def declared_counters(entry: str | None) -> tuple[str, ...]:
    """The counter names the class at `entry` ("module:Class") declares; () for a program
    run by `command` or a class declaring none. Raises CounterNameError on bad names."""
    if not entry:
        return ()
    if entry in _KNOWN:
        return _KNOWN[entry]
    from engines.runner import load_engine_class

    cls = load_engine_class(entry)
    return check_names(getattr(cls, "counters", ()), f"{entry}.counters")


def named_values(names: Sequence[str], words: Sequence[int]) -> dict[str, int]:
    """{name: value} of the named custom words (unnamed ones are left out)."""
    return {name: int(value) for name, value in zip(names, words, strict=False) if name}


@functools.lru_cache(maxsize=256)
def counter_names(entry: str | None) -> tuple[str, ...]:
    """declared_counters for observers (status, metrics): () when the entry cannot be loaded
    or declares bad names; the runner refuses to start such an engine, naming the error."""
    try:
        return declared_counters(entry)
    except (ImportError, AttributeError, TypeError, ValueError, CounterNameError):
        return ()
