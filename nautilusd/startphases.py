"""Where a start of nautilusd spends its time: monotonic marks of each phase, from the exec
that began this image (the handover says when) to its first control reply.

CLOCK_MONOTONIC is one clock for the whole host and survives an exec, so the earlier image's
last mark and this image's marks are on one scale; so does the process's CPU time, kept with
each mark: on a loaded host the wall time of a phase is mostly waiting for a core, its CPU
time is what a quiet host would see. Marks are cheap (two clock reads, one append).
"""

from __future__ import annotations

import time
from typing import Any


class StartPhases:
    """Phase marks of this process's start, reported as ms since `origin_ns`."""

    def __init__(self, origin_ns: int | None = None) -> None:
        self.origin_ns = origin_ns  # where the timeline begins; None: at the first mark
        self.origin_cpu_ns = time.process_time_ns() if origin_ns is not None else None
        self._marks: list[tuple[str, int]] = []
        self._cpu_ns: dict[str, int] = {}  # phase -> this process's CPU time at its end

    def mark(self, phase: str) -> None:
        """`phase` ends now."""
        self._marks.append((phase, time.monotonic_ns()))
        self._cpu_ns[phase] = time.process_time_ns()

    def export(self) -> dict[str, Any]:
        """The marks as plain data, for a handover to the next image."""
        return {"origin_ns": self.origin_ns, "origin_cpu_ns": self.origin_cpu_ns,
                "marks": [list(m) for m in self._marks], "cpu_ns": dict(self._cpu_ns)}

    def continue_from(self, handed: object) -> bool:
        """Put an earlier image's marks (`export()`) before this image's own, its origin as
        the origin. Only diagnostics: a malformed value is left out (False), never fatal."""
        try:
            origin = int(handed["origin_ns"])  # type: ignore[index]
            marks = [(str(name), int(at)) for name, at in handed["marks"]]  # type: ignore[index]
            cpu = {str(k): int(v) for k, v in (handed.get("cpu_ns") or {}).items()}  # type: ignore[attr-defined]
            origin_cpu = handed.get("origin_cpu_ns")  # type: ignore[attr-defined]
            origin_cpu = None if origin_cpu is None else int(origin_cpu)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        self.origin_ns, self.origin_cpu_ns = origin, origin_cpu
        self._marks = marks + self._marks
        self._cpu_ns = {**cpu, **self._cpu_ns}
        return True

    def since_origin_ms(self) -> dict[str, float]:
        """phase -> ms from the origin to its end (cumulative, in the order marked)."""
        if not self._marks:
            return {}
        origin = self._marks[0][1] if self.origin_ns is None else self.origin_ns
        return {phase: round((at - origin) / 1e6, 3) for phase, at in self._marks}

    def ms_since_origin(self, at_ns: int) -> float:
        """A monotonic time of this start (`at_ns`) as ms since the origin."""
        origin = self.origin_ns if self.origin_ns is not None else (
            self._marks[0][1] if self._marks else at_ns)
        return round((at_ns - origin) / 1e6, 3)

    def cpu_steps_ms(self) -> dict[str, float]:
        """phase -> CPU ms this process spent in it (every thread), where it was measured."""
        steps, previous = {}, self.origin_cpu_ns
        for phase, _ in self._marks:
            at = self._cpu_ns.get(phase)
            if at is not None and previous is not None:
                steps[phase] = round((at - previous) / 1e6, 3)
            previous = at
        return steps

    def steps_ms(self) -> dict[str, float]:
        """phase -> ms it took (from the previous mark, the first from the origin)."""
        steps, previous = {}, None
        for phase, total in self.since_origin_ms().items():
            steps[phase] = round(total - (previous or 0.0), 3)
            previous = total
        return steps


PHASES = StartPhases()  # this process's; the first mark is made as nautilusd.main loads
