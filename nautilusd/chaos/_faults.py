"""The faults a chaos run injects, one function each; every one returns a result row.

A row says what was done (`fault`, `engine`), whether it killed a process (`kills`), how long
the victim took from kill to ready again (`kill_to_ready_ms`, from the bus lifecycle events),
and whether the whole pipeline was ready again afterwards (`recovered`). An engine kill also
says how much of that the daemon spent on purpose (`backoff_ms`: the backoff it chose before
the respawn, 0 for the immediate first restart inside the window), what is left
(`kill_to_ready_net_ms`) and the new process's own start (`startup_ms`, spawn to READY, from
its `ready` event).
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from typing import Any

from nautilusd.bench.restart_events import Event as BusEvent
from nautilusd.bench.restart_events import StaleFeedError, time_kill
from nautilusd.chaos._config import CRASH_LOOP_ENGINE, LIVENESS_TIMEOUT_MS, MEMORY_ENGINE
from nautilusd.chaos._rig import Rig

RECOVERY_S = 25.0
# The input ring of the engines killed "mid-batch", and their reader slot on it.
INPUT_RING = {"risk": ("orders", 0), "execution": ("decisions", 0)}
TICKS_SLOT = {"strategy": 0, "risk": 1, "execution": 2, "positions": 3}


def _row(fault: str, engine: str, kills: int, since: float | None, ready_at: float | None,
         rig: Rig, restart: Restart | None = None, **extra: Any) -> dict[str, Any]:
    recovered = ready_at is not None and rig.wait_until(rig.all_ready, RECOVERY_S)
    ms = None if ready_at is None or since is None else round((ready_at - since) * 1e3, 3)
    timed = extra.pop("in_percentiles", True)
    row = {"fault": fault, "engine": engine, "kills": kills, "kill_to_ready_ms": ms,
           "in_percentiles": timed and ms is not None, "recovered": recovered}
    if restart is not None:
        row.update(backoff_ms=restart.backoff_ms, startup_ms=restart.startup_ms,
                   kill_to_ready_net_ms=None if ms is None else round(
                       ms - restart.backoff_ms, 3))
    return {**row, "detail": extra}


@dataclass(frozen=True, slots=True)
class Restart:
    """What the daemon said about one engine restart: the backoff it chose before the
    respawn (ms, 0 when immediate) and the new process's startup_ms (None: no ready)."""

    backoff_ms: float = 0.0
    startup_ms: float | None = None


def _restart_facts(rig: Rig, name: str, t0: float, generation: int, new_pid: int) -> Restart:
    """The `backoff` event of `name`'s killed generation after `t0` and the `ready` event of
    `new_pid`, from the events the rig has received."""
    backoff, startup = 0.0, None
    for ev in rig.events:
        if ev.name != name or ev.at < t0:
            continue
        f = ev.fields
        if ev.event == "backoff" and int(f.get("generation") or 0) == generation:
            backoff = float(f.get("backoff_s") or 0.0) * 1e3
        elif ev.event == "ready" and int(f.get("pid") or 0) == new_pid:
            startup = f.get("startup_ms")
    return Restart(round(backoff, 3), None if startup is None else float(startup))


class _EngineFeed:
    """Engine `name`'s lifecycle events from the rig, read the way bench restart reads them
    (nautilusd.bench.restart_events), from the moment it is made."""

    def __init__(self, rig: Rig, name: str) -> None:
        self.rig, self.name = rig, name
        rig.pump(0)
        self.seen = len(rig.events)

    def drain(self) -> int:
        self.rig.pump(0)
        dropped, self.seen = len(self.rig.events) - self.seen, len(self.rig.events)
        return dropped

    def next(self, timeout_s: float) -> BusEvent | None:
        deadline = time.monotonic() + timeout_s
        while True:
            events = self.rig.events
            while self.seen < len(events):
                ev, self.seen = events[self.seen], self.seen + 1
                if ev.name == self.name:
                    f = ev.fields
                    return BusEvent(ev.at, ev.event, int(f.get("pid") or 0),
                                    int(f.get("generation") or 0), int(f.get("mono_ns") or 0))
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.rig.pump(max(1, int(left * 1000)))


def _generation(rig: Rig, name: str) -> int:
    return int(rig.engines().get(name, {}).get("generation") or 0)


def _killed_ready_at(rig: Rig, feed: _EngineFeed, pid: int, generation: int,
                     t0: float) -> tuple[float | None, Restart | None]:
    """When the ready event of the process that replaced `pid` (killed at `t0`) arrived:
    bench restart's matching (exited of that pid and generation, spawned of a new pid and a
    later generation, ready of that one), stale events skipped; and that restart's backoff
    and startup. (None, None) if it never came."""
    try:
        timing = time_kill(feed, pid, generation, t0, timeout_s=RECOVERY_S)
    except StaleFeedError:
        return None, None
    return (t0 + timing.arrival_ms["ready"] / 1e3,
            _restart_facts(rig, feed.name, t0, generation, timing.new_pid))


def _sigkill(rig: Rig, name: str, pid: int, generation: int, feed: _EngineFeed | None = None
             ) -> tuple[float, float | None, Restart | None]:
    """SIGKILL `pid` now: (t0 just before the kill, its successor's ready arrival, what the
    daemon said about that restart)."""
    feed = feed or _EngineFeed(rig, name)
    feed.drain()
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    return (t0, *_killed_ready_at(rig, feed, pid, generation, t0))


def _ready_after(rig: Rig, name: str, since: float, old_pid: int) -> float | None:
    """Arrival time of `name`'s first ready event after `since` from a new process."""
    rig.wait_until(lambda: rig.event_after(since, name, "ready", old_pid) is not None,
                   RECOVERY_S)
    ev = rig.event_after(since, name, "ready", old_pid)
    return None if ev is None else ev.at


def _lag(rig: Rig, ring: str, slot: int) -> int:
    stats = rig.ring(ring)
    return int(stats["readers"][slot]["lag"]) if stats else 0


def kill(rig: Rig, rng: random.Random, name: str) -> dict[str, Any]:
    """SIGKILL engine `name` wherever it is."""
    pid = rig.pid(name)
    since, ready, restart = _sigkill(rig, name, pid, _generation(rig, name))
    return _row("sigkill", name, 1, since, ready, rig, restart)


def kill_mid_batch(rig: Rig, rng: random.Random, name: str) -> dict[str, Any]:
    """Stop `name` until its input ring holds a backlog, resume it and SIGKILL it a random
    fraction of a millisecond later: the kill lands while it works through the batch."""
    ring, slot = INPUT_RING[name]
    pid, generation = rig.pid(name), _generation(rig, name)
    feed = _EngineFeed(rig, name)
    os.kill(pid, signal.SIGSTOP)
    rig.wait_until(lambda: _lag(rig, ring, slot) >= 40, LIVENESS_TIMEOUT_MS / 2000)
    backlog = _lag(rig, ring, slot)
    os.kill(pid, signal.SIGCONT)
    time.sleep(rng.uniform(0.0, 0.002))
    since, ready, restart = _sigkill(rig, name, pid, generation, feed)
    return _row("sigkill_mid_batch", name, 1, since, ready, rig, restart, backlog=backlog)


def hang(rig: Rig, rng: random.Random, name: str) -> dict[str, Any]:
    """SIGSTOP `name` for good: the liveness check must kill and replace it."""
    pid, generation = rig.pid(name), _generation(rig, name)
    feed = _EngineFeed(rig, name)
    stopped = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    rig.wait_until(lambda: rig.event_after(stopped, name, "killed") is not None,
                   LIVENESS_TIMEOUT_MS * 3 / 1000)
    killed = rig.event_after(stopped, name, "killed")
    if killed is None:  # not detected: do not leave a stopped process behind
        os.kill(pid, signal.SIGKILL)
        return _row("hang", name, 1, None, None, rig, detected_after_ms=None)
    # Timed from the daemon's own stamp of its kill (the same clock): what the rig received
    # after that is matched as bench restart matches it.
    t0 = int(killed.fields.get("mono_ns") or killed.at * 1e9) / 1e9
    ready, restart = _killed_ready_at(rig, feed, pid, generation, t0)
    return _row("hang", name, 1, t0, ready, rig, restart, reason=killed.fields.get("reason"),
                detected_after_ms=round((killed.at - stopped) * 1e3, 1))


def slow_reader(rig: Rig, rng: random.Random, name: str = "positions") -> dict[str, Any]:
    """Stop a reader of the overwrite ticks ring until the writer laps it (shorter than its
    liveness timeout): the writer must not wait, the reader must count the records it lost."""
    readers = rig.ticks_readers
    slot = readers.index(name) if name in readers else TICKS_SLOT[name]
    pid = rig.pid(name)
    before = rig.ring("ticks")
    os.kill(pid, signal.SIGSTOP)
    cap = before["capacity"]
    rig.wait_until(lambda: rig.ring("ticks")["cursor"] - before["cursor"] > cap * 1.5,
                   LIVENESS_TIMEOUT_MS * 0.7 / 1000)
    during = rig.ring("ticks")
    os.kill(pid, signal.SIGCONT)
    caught_up = rig.wait_until(lambda: _lag(rig, "ticks", slot) < cap, 5.0)
    after = rig.ring("ticks")
    advanced = during["cursor"] - before["cursor"]
    lost = after["readers"][slot]["lost"] - before["readers"][slot]["lost"]
    lagged = during["cursor"] - before["readers"][slot]["cursor"]
    # Lapped by `lagged - cap` at least, and never more than what it had not read.
    consistent = (lagged <= cap or lost >= lagged - cap) and lost <= after["cursor"] - before[
        "readers"][slot]["cursor"]
    return _row("slow_reader", name, 0, None, 0.0, rig, writer_advanced=advanced,
                lapped=lagged > cap, reader_lost=lost, lost_consistent=consistent and caught_up,
                same_pid=rig.pid(name) == pid)


def block_reader_death(rig: Rig, rng: random.Random, name: str = "positions") -> dict[str, Any]:
    """A reader of the block fills ring dies while it holds the ring back; its successor must
    resume at the committed cursor and catch up."""
    pid, generation = rig.pid(name), _generation(rig, name)
    feed = _EngineFeed(rig, name)
    os.kill(pid, signal.SIGSTOP)
    rig.wait_until(lambda: _lag(rig, "fills", 0) > 0, LIVENESS_TIMEOUT_MS / 2000)
    held = _lag(rig, "fills", 0)
    since, ready, restart = _sigkill(rig, name, pid, generation, feed)
    caught_up = rig.wait_until(lambda: _lag(rig, "fills", 0) == 0, 10.0)
    return _row("block_reader_death", name, 1, since, ready, rig, restart, held_back=held,
                caught_up=caught_up)


def memory_cap(rig: Rig, rng: random.Random, apply: Any, restore: Any) -> dict[str, Any]:
    """Give an engine an RSS cap it exceeds: it is killed for memory, restarted, killed
    again (a loop with backoff) until the cap is lifted again."""
    name, since = MEMORY_ENGINE, time.monotonic()
    apply()
    rig.wait_until(lambda: _killed_for(rig, since, name, "memory") >= 2, 15.0)
    kills = _killed_for(rig, since, name, "memory")
    first = next((e for e in rig.events if e.at >= since and e.name == name
                  and e.event == "killed"), None)
    lifted = time.monotonic()
    restore()
    ready = _ready_after(rig, name, lifted, 0)
    return _row("memory_cap", name, kills, first.at if first else None,
                ready if kills else None, rig, in_percentiles=False,
                rss_bytes=first.fields.get("rss_bytes") if first else None)


def _killed_for(rig: Rig, since: float, name: str, reason: str) -> int:
    return sum(1 for e in rig.events if e.at >= since and e.name == name
               and e.event == "killed" and e.fields.get("reason") == reason)


def crash_loop(rig: Rig, rng: random.Random, apply: Any, restore: Any) -> dict[str, Any]:
    """An engine that fails at every start: backoff, restart intensity, FATAL; an operator
    `start` after the fix brings it back."""
    name, since = CRASH_LOOP_ENGINE, time.monotonic()
    apply()
    rig.wait_until(lambda: rig.event_after(since, name, "fatal") is not None, 20.0)
    fatal = rig.event_after(since, name, "fatal")
    exits = sum(1 for e in rig.events if e.at >= since and e.name == name and e.event == "exited")
    fixed = time.monotonic()
    restore()
    rig.request("start", target=name)
    ready = _ready_after(rig, name, fixed, 0)
    return _row("crash_loop", name, 0, fixed, ready if fatal else None, rig,
                in_percentiles=False, exits=exits, fatal=fatal is not None)


def daemon_kill(rig: Rig, rng: random.Random) -> dict[str, Any]:
    """SIGKILL nautilusd: its engines die with it; a new nautilusd adopts the rings and every
    engine resumes from its committed cursor."""
    pids = [int(e["pid"]) for e in rig.engines().values() if e.get("pid")]
    cursors = {r: rig.ring(r).get("cursor") for r in ("orders", "decisions", "fills")}
    since = time.monotonic()
    rig.kill_daemon()
    rig.wait_until(lambda: not any(_alive(p) for p in pids), 5.0)
    rig.start()
    ready = rig.wait_until(rig.all_ready, RECOVERY_S, poll_s=0.02)
    at = time.monotonic() if ready else None
    kept = all(rig.ring(r).get("cursor", 0) >= (c or 0) for r, c in cursors.items())
    return _row("daemon_sigkill", "nautilusd", 1, since, at, rig, engines=len(pids),
                rings_kept=kept, cursors_before=cursors)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
