"""Loading a TOML topology: read once, validate everything, return frozen objects or fail whole.

`load_config` collects every problem of a file before it raises one ConfigError, so an
operator fixes a config in one pass; `start_order` is the dependency order over `after`.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping, Set
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from engines.spec import EngineConfig
from nautilusd.config import _convert as cv
from nautilusd.config import _fleet
from nautilusd.config import _sections as sections
from nautilusd.config._convert import INVALID, Collector
from nautilusd.config._crosscheck import Parsed, check_all, find_cycles
from nautilusd.config.model import GroupConfig, GroupStrategy, Topology
from nautilusd.errors import ConfigError

TOP_LEVEL_KEYS: Final = ("symbols", "supervisor", "groups", "rings", "engines", "fleet",
                          "peers")
MAX_CONFIG_BYTES: Final = 4 * 1024 * 1024  # a topology is kilobytes; this is generous
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)$")
_symbols = cv.array(cv.string(r"\S+", "a symbol (non-empty, no spaces)"), distinct=True)


def default_host_cpus() -> frozenset[int]:
    return frozenset(range(os.cpu_count() or 1))


def load_config(path: str | Path, *, host_cpus: Set[int] | None = None) -> Topology:
    """Parse and validate the topology at `path`; raise ConfigError listing every problem."""
    source = str(Path(path).absolute())  # remembered: a reload from another cwd finds it
    return loads_config(read_config_file(source), source=source, host_cpus=host_cpus)


def read_config_file(source: str) -> bytes:
    """The bytes of a config file, refused unless it is a regular file of at most
    MAX_CONFIG_BYTES: a FIFO, a device (/dev/zero) or a socket is never read, so loading
    never blocks the daemon's loop or grows without bound."""
    def refuse(why: str) -> ConfigError:
        return ConfigError(source, [("", f"{source}: {why}")])

    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise refuse(f"not a regular file ({_kind(st.st_mode)}): refused")
        if st.st_size > MAX_CONFIG_BYTES:
            raise refuse(f"{st.st_size} bytes, over the {MAX_CONFIG_BYTES}-byte limit")
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise refuse(f"over the {MAX_CONFIG_BYTES}-byte limit")
    return data


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISDIR, "a directory")]
    return next((name for test, name in kinds if test(mode)), "a special file")


def loads_config(
    data: bytes | str, *, source: str = "<config>", host_cpus: Set[int] | None = None
) -> Topology:
    """Parse and validate a topology given as TOML text; `source` names it in messages."""
    document = _parse_toml(data, source)
    collector = Collector(source)
    try:
        cpus = default_host_cpus() if host_cpus is None else host_cpus
        topology = _build(collector, document, source, cpus)
    except RecursionError:
        collector.error("", "nested too deeply")
        topology = None
    if collector.errors or topology is None:
        raise ConfigError(source, collector.errors)
    return topology


def _parse_toml(data: bytes | str, source: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return tomllib.loads(text)
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1]
        message = f"{source}: not UTF-8 text: byte {exc.start}: {bad!r}"
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        where = f"line {found[1]}, column {found[2]}" if found else ""
        reason = _TOML_POSITION.sub("", str(exc)).strip()
        collector = Collector(source)
        collector.error(where, f"invalid TOML: {reason}")
        raise ConfigError(source, collector.errors) from None
    except RecursionError:
        message = f"{source}: invalid TOML: nested too deeply"
    raise ConfigError(source, [("", message)])


def _build(c: Collector, doc: dict[str, Any], source: str, host_cpus: Set[int]) -> Topology:
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            c.error(cv.key_path("", key), f"unknown key: {key!r} "
                    f"(allowed keys: {', '.join(TOP_LEVEL_KEYS)})")
    symbols = _symbols(c, "symbols", doc.get("symbols", []))
    parsed = Parsed(
        supervisor=sections.supervisor(c, doc.get("supervisor", {})),
        groups=_groups(c, doc.get("groups", {})),
        engines=_named(c, "engines", doc.get("engines", {}), sections.engine),
        rings=_named(c, "rings", doc.get("rings", {}), sections.ring),
    )
    check_all(c, parsed, host_cpus)
    fleet = _fleet.fleet(c, doc.get("fleet", {}))
    peers = _fleet.peers(c, doc.get("peers", []), fleet.host)
    _fleet.check_bridges(c, fleet.host, peers, parsed.engines, parsed.rings)
    return Topology(
        source=Path(source),
        supervisor=parsed.supervisor,
        groups=MappingProxyType(dict(parsed.groups)),
        rings=MappingProxyType(dict(parsed.rings)),
        engines=MappingProxyType(dict(parsed.engines)),
        symbols=() if symbols is INVALID else symbols,
        fleet=fleet,
        peers=MappingProxyType(peers),
    )


def _named(c: Collector, section: str, value: Any, build: Any) -> dict[str, Any]:
    """A table of named sub-tables, each built by `build(c, name, table)` (None = skip)."""
    if not isinstance(value, dict):
        c.wrong_type(section, "table", value)
        return {}
    out = {}
    for name, item in value.items():
        built = build(c, name, item)
        if built is not None:
            out[name] = built
    return out


def _groups(c: Collector, value: Any) -> dict[str, GroupConfig]:
    groups = {"default": GroupConfig(name="default", strategy=GroupStrategy.ONE_FOR_ONE)}
    groups.update(_named(c, "groups", value, sections.group))
    return groups


def start_order(topology: Topology | Mapping[str, EngineConfig]) -> list[str]:
    """Engine names (config names, not replica instances) in start order.

    Topological over `after`; among engines free to start, file order decides. Stop in
    the reverse of this order. Raises ConfigError on a cycle (load_config refuses those).
    """
    engines = topology.engines if isinstance(topology, Topology) else topology
    order: list[str] = []
    placed: set[str] = set()
    pending = list(engines)
    while pending:
        ready = next(
            (n for n in pending if all(d in placed or d not in engines for d in engines[n].after)),
            None,
        )
        if ready is None:
            cycle = " -> ".join(find_cycles({n: engines[n] for n in pending})[0])
            raise ConfigError("", [("", f"dependency cycle: {cycle}")])
        order.append(ready)
        placed.add(ready)
        pending.remove(ready)
    return order
