"""`nautilusctl chaos`: the default pipeline under load, faults injected, then reconciled.

Usage: nautilusctl chaos [--duration S] [--kills N] [--seed X] [--faults a,b] [--venue fix]
                         [--json]
A seeded plan of SIGKILLs (every engine kind, risk and execution mid-batch), hangs, a crash
loop, a memory cap, a slow and a dying ring reader and a SIGKILL of nautilusd itself runs
against a real `nautilusd run`; then the feed stops, the pipeline drains, nautilusd stops
cleanly and the kept rings are reconciled. `--faults daemon_restart,reboot` adds graceful
daemon restarts and reboots (SIGKILL of everything, segments and runtime dir removed); a run
with a reboot is reconciled from the journal. `--venue fix` puts the FIX gateway in
execution's place, trading with the test acceptor as its own process (nautilusd.chaos._venue),
and reconciles the acceptor's executions with the fills order by order. Exit 1 if anything
was lost, doubled, filled without approval or not recovered, if positions differ from the
fills, if an engaged kill switch came back released, or if the venue's record differs.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nautilusd.bench.report import emit, percentiles
from nautilusd.chaos import _durability as durability
from nautilusd.chaos import _faults as faults
from nautilusd.chaos import _live as live
from nautilusd.chaos._config import chaos_doc, crash_loop_doc, memory_cap_doc, write_doc
from nautilusd.chaos._reconcile import (
    RingWrapped,
    read_ring,
    reconcile,
    reconcile_journal,
    unlink_instance,
)
from nautilusd.chaos._rig import Rig, RigError
from nautilusd.chaos._venue import VENUES, AcceptorProcess, fix_doc, reconcile_venue
from nautilusd.errors import NautilusdError
from nautilusd.paths import scratch_id
from shm.layout import DECISION, FILL

KINDS = ("marketdata", "strategy", "risk", "execution", "positions", "analytics",
         "notification")
SPECIALS = ("hang", "slow_reader", "block_reader_death", "memory_cap", "crash_loop",
            "daemon_kill")
LIVE = ("reexec", "upgrade")  # nautilusd.chaos._live: asked for by name, not by default
# The durability faults (not in the default plan either: they restart everything): a
# graceful daemon restart, a power cut; every other one with the kill switch engaged first;
# a run with a reboot is reconciled from the journal.
DURABILITY = ("daemon_restart", "reboot")
KNOWN = SPECIALS + LIVE + DURABILITY
REPEATS = {"reexec": 3, "upgrade": 3, "daemon_restart": 3, "reboot": 2}  # per plan
SPECIAL_KILLS = {"hang": 1, "block_reader_death": 1, "memory_cap": 1, "daemon_kill": 1,
                 "daemon_restart": 1, "reboot": 1}
DRAIN_S = 40.0
STARTUP_S = 60.0
SHM_ROOT = Path("/dev/shm")

Step = tuple[str, str]  # (fault, engine)


def plan(kills: int, specials: tuple[str, ...], rng: random.Random) -> list[Step]:
    """Every engine kind killed at least once, more kills at random up to `kills` in all,
    risk and execution mostly mid-batch, the special faults spread in between."""
    n = max(kills - sum(SPECIAL_KILLS.get(s, 0) * REPEATS.get(s, 1) for s in specials),
            len(KINDS))
    victims = list(KINDS)
    rng.shuffle(victims)
    victims += [rng.choice(KINDS) for _ in range(n - len(KINDS))]
    steps: list[Step] = [
        ("kill_mid_batch" if v in faults.INPUT_RING and rng.random() < 0.7 else "kill", v)
        for v in victims]
    for special in specials:
        for _ in range(REPEATS.get(special, 1)):
            victim = rng.choice(("strategy", "risk", "execution")) if special == "hang" else ""
            steps.insert(rng.randint(1, len(steps)), (special, victim))
    return steps


class ChaosRun:
    """One chaos run in private dirs: start, inject `steps` over `duration_s`, drain, check."""

    def __init__(self, work: Path, seed: int, venue: str = "sim") -> None:
        self.rng = random.Random(seed)
        # Rings on tmpfs as in production; a private directory, removed with the run.
        self.shm_dir = (SHM_ROOT / work.name) if SHM_ROOT.is_dir() else work / "shm"
        self.runtime_dir = work / "run"
        self.shm_dir.mkdir(mode=0o700)
        self.runtime_dir.mkdir(mode=0o700)
        self.base = chaos_doc(self.shm_dir, self.runtime_dir, seed)
        self.acceptor: AcceptorProcess | None = None
        if venue == "fix":
            self.acceptor = AcceptorProcess(work / "venue")
            self.base = fix_doc(self.base, self.acceptor.port)
        self.config = write_doc(work / "chaos.toml", self.base)
        self.instance = self.base["supervisor"]["instance"]
        self.rig = Rig(self.config, self.runtime_dir, self.shm_dir, self.instance)
        self.rig.ticks_readers = list(self.base["rings"]["ticks"]["readers"])
        self.rows: list[dict[str, Any]] = []
        self.durability_runs: dict[str, int] = {}
        self.state_dir = Path(self.base["supervisor"]["state_dir"])

    def run(self, steps: list[Step], duration_s: float) -> None:
        self.rig.start()
        if not self.rig.wait_until(self.rig.all_ready, STARTUP_S, poll_s=0.05):
            raise RigError("the pipeline did not become ready")
        self.rig.wait_until(lambda: self.rig.ring("orders").get("cursor", 0) > 0, 20.0, 0.05)
        start = time.monotonic()
        slot_s = duration_s / (len(steps) + 1)
        for i, (fault, engine) in enumerate(steps):
            due = start + (i + 1 + self.rng.uniform(-0.2, 0.2)) * slot_s
            self.rig.wait_until(lambda d=due: time.monotonic() >= d, slot_s * 2)
            self.rows.append(self._inject(fault, engine, time.monotonic() - start))
        self.rig.wait_until(lambda: time.monotonic() - start >= duration_s, duration_s)

    def _inject(self, fault: str, engine: str, at_s: float) -> dict[str, Any]:
        self.rig.wait_until(self.rig.all_ready, faults.RECOVERY_S)
        action = self._action(fault, engine)
        try:
            row = action()
        except (RigError, NautilusdError, OSError, KeyError) as exc:
            row = {"fault": fault, "engine": engine, "kills": 0, "kill_to_ready_ms": None,
                   "recovered": self.rig.wait_until(self.rig.all_ready, faults.RECOVERY_S),
                   "detail": {"error": f"{type(exc).__name__}: {exc}"}}
        return {"at_s": round(at_s, 2), **row}

    def _action(self, fault: str, engine: str) -> Callable[[], dict[str, Any]]:
        rig, rng = self.rig, self.rng
        if fault in ("kill", "kill_mid_batch", "hang", "slow_reader", "block_reader_death"):
            fn = getattr(faults, fault)
            return lambda: fn(rig, rng, engine) if engine else fn(rig, rng)
        if fault == "daemon_kill":
            return lambda: faults.daemon_kill(rig, rng)
        if fault in LIVE:
            fn = getattr(live, fault)
            return lambda: fn(rig, rng)
        if fault in DURABILITY:
            self.durability_runs[fault] = self.durability_runs.get(fault, 0) + 1
            engage = self.durability_runs[fault] % 2 == 1  # the 1st, 3rd...: switch engaged
            fn = getattr(durability, fault)
            return lambda: fn(rig, rng, engage)
        variant = {"memory_cap": memory_cap_doc, "crash_loop": crash_loop_doc}[fault]
        apply = self._reload_with(variant(self.base))
        restore = self._reload_with(self.base)
        return lambda: getattr(faults, fault)(rig, rng, apply, restore)

    def _reload_with(self, doc: dict[str, Any]) -> Callable[[], None]:
        def reload() -> None:
            write_doc(self.config, doc)
            self.rig.request("reload", config=str(self.config))
        return reload

    def drain_and_stop(self) -> dict[str, Any]:
        """Stop the feed, wait until every order ring reader has read everything, stop."""
        not_ready = [n for n, e in self.rig.engines().items() if e["state"] != "READY"]
        self.rig.request("stop", target="marketdata")
        seen: list[Any] = [None]

        def drained() -> bool:
            now = [(r, self.rig.ring(r).get("cursor"), self.rig.ring(r).get("readers", [{}])[0]
                    .get("lag")) for r in ("orders", "decisions", "fills")]
            stable = now == seen[0] and all(lag == 0 for _, _, lag in now)
            seen[0] = now
            return stable
        ok = self.rig.wait_until(drained, DRAIN_S, poll_s=1.0)
        code = self.rig.stop_daemon()
        return {"fault": "drain_and_stop", "recovered": not not_ready and code == 0,
                "detail": {"drained": ok, "exit_code": code, "not_ready_at_end": not_ready}}

    def reconcile_venue(self, rebooted: bool) -> dict[str, Any]:
        """The acceptor's record against the decisions and fills (from the journal when
        the rings of a reboot hold only the last boot); {} without a FIX venue."""
        if self.acceptor is None:
            return {}
        if rebooted:
            from engines.journal import KIND_DECISION, KIND_FILL, journal_records
            from engines.statedir import StateDir

            records = journal_records(StateDir(self.state_dir))
            decisions, fills = records[KIND_DECISION], records[KIND_FILL]
        else:
            decisions = read_ring(self.shm_dir, self.instance, "decisions", DECISION)
            fills = read_ring(self.shm_dir, self.instance, "fills", FILL)
        return reconcile_venue(self.acceptor, decisions, fills)

    def close(self) -> None:
        self.rig.close()
        if self.acceptor is not None:
            self.acceptor.close()
        unlink_instance(self.shm_dir, self.instance)
        shutil.rmtree(self.shm_dir, ignore_errors=True)


VENUE_KEYS = ("venue_mismatch", "venue_unapproved", "venue_sent_twice")


def summarise(rows: list[dict[str, Any]], recon: dict[str, Any], venue: str = "sim"
              ) -> dict[str, Any]:
    """The summary with exactly the keys of the chaos suite (and, with a FIX venue, the
    acceptor's reconciliation counters)."""
    timed = [r["kill_to_ready_ms"] for r in rows if r.get("kills") and r.get("in_percentiles")]
    pct = percentiles(timed)
    extra = {} if venue == "sim" else {k: recon.get(k, -1) for k in VENUE_KEYS}
    return {**extra,
        "kills": sum(int(r.get("kills") or 0) for r in rows),
        "orders_published": recon.get("orders_published", 0),
        "orders_lost": recon.get("orders_lost", -1),
        "duplicate_fills": recon.get("duplicate_fills", -1),
        "unapproved_fills": recon.get("unapproved_fills", -1),
        "engines_not_recovered": sum(1 for r in rows if r.get("recovered") is False),
        "positions_mismatch": recon.get("positions_mismatch", -1),
        "kill_switch_lost": sum(int(r.get("detail", {}).get("kill_switch_lost") or 0)
                                for r in rows),
        "daemon_restarts": sum(1 for r in rows if r.get("fault") == "daemon_restart"),
        "reboots": sum(1 for r in rows if r.get("fault") == "reboot"),
        "kill_to_ready_p50_ms": pct["p50"],
        "kill_to_ready_p99_ms": pct["p99"],
        "kill_to_ready_by_fault": by_fault(rows),
    }


ENGINE_KILLS = ("sigkill", "sigkill_mid_batch")  # a SIGKILL of one engine process, no more


def _net_ms(row: dict[str, Any]) -> float:
    """kill -> ready without the backoff the daemon chose (`kill_to_ready_net_ms`), where
    the row has one (engine kills), else kill -> ready as measured."""
    net = row.get("kill_to_ready_net_ms")
    return float(row["kill_to_ready_ms"] if net is None else net)


def by_fault(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """kill -> ready percentiles of each fault kind that killed something, whatever kinds
    the plan holds (an engine kill and a daemon kill are different recoveries), plus
    "engine_kill" over the plain engine kills together. Each is net of the backoff the
    daemon chose on purpose before a respawn (a second kill inside an engine's restart
    window is restarted after `backoff_initial_ms` and more, by design); `backoff_ms` says
    how much was taken out and `backoffs` in how many kills, and the new processes' own
    start (`startup_p50`, `startup_p99`: spawn -> READY from their ready events) comes with
    it, the part of a restart that is the engine's."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("kills") and r.get("in_percentiles") and r.get("kill_to_ready_ms") is not None:
            groups.setdefault(str(r["fault"]), []).append(r)
    kinds = sorted(groups.items())
    engine = [r for f in ENGINE_KILLS for r in groups.get(f, [])]
    return {fault: _kill_figures(group) for fault, group in
            [*kinds, *([("engine_kill", engine)] if engine else [])]}


def _kill_figures(group: list[dict[str, Any]]) -> dict[str, float]:
    out = percentiles([_net_ms(r) for r in group])
    backoffs = [float(r.get("backoff_ms") or 0.0) for r in group]
    out.update(backoffs=sum(1 for b in backoffs if b > 0), backoff_ms=round(sum(backoffs), 3))
    startups = [float(r["startup_ms"]) for r in group if r.get("startup_ms") is not None]
    if startups:
        starts = percentiles(startups)
        out.update(startup_p50=starts["p50"], startup_p99=starts["p99"])
    return out


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nautilusctl chaos", description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of faults")
    parser.add_argument("--kills", type=int, default=20, help="processes to kill in all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=",".join(SPECIALS),
                        help=f"special faults to include (default: {','.join(SPECIALS)}; "
                             f"also {','.join(LIVE + DURABILITY)})")
    parser.add_argument("--venue", choices=VENUES, default="sim",
                        help="the venue execution trades with: the simulated one (sim) or "
                             "the FIX gateway to the test acceptor, its own process (fix)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    specials = tuple(s for s in args.faults.split(",") if s)
    unknown = sorted(set(specials) - set(KNOWN))
    if unknown:
        sys.stderr.write(f"chaos: unknown fault(s) {unknown}; known: {list(KNOWN)}\n")
        return 2
    work = Path(tempfile.mkdtemp(prefix=f"nautilusd-chaos-{scratch_id(4)}-"))
    try:
        chaos = ChaosRun(work, args.seed, args.venue)
    except BaseException:  # nothing started yet: leave no work dir behind
        shutil.rmtree(work, ignore_errors=True)
        raise
    recon: dict[str, Any] = {}
    try:
        chaos.run(plan(args.kills, specials, chaos.rng), args.duration)
        chaos.rows.append(chaos.drain_and_stop())
        rebooted = any(r.get("fault") == "reboot" for r in chaos.rows)
        recon = (reconcile_journal(chaos.state_dir, chaos.runtime_dir) if rebooted
                 else reconcile(chaos.shm_dir, chaos.instance, chaos.runtime_dir))
        recon.update(chaos.reconcile_venue(rebooted))
    except (RigError, RingWrapped, NautilusdError) as exc:
        chaos.rows.append({"fault": "run", "recovered": False,
                           "detail": {"error": f"{type(exc).__name__}: {exc}"}})
    finally:
        chaos.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = [*chaos.rows, {"fault": "reconcile", "detail": recon}] if recon else chaos.rows
    summary = summarise(chaos.rows, recon, args.venue)
    report_failed = emit("chaos", rows, summary, args.json)
    if args.keep:
        sys.stderr.write(f"chaos: logs kept in {work}\n")
    bad = (summary["orders_lost"], summary["duplicate_fills"], summary["unapproved_fills"],
           summary["engines_not_recovered"], summary["positions_mismatch"],
           summary["kill_switch_lost"], *(summary[k] for k in VENUE_KEYS if k in summary))
    return 0 if all(v == 0 for v in bad) and recon and not report_failed else 1


if __name__ == "__main__":
    sys.exit(main())
