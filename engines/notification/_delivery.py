"""The delivery thread: one asyncio loop, one worker per channel, blocking sends on executors.

A worker takes an alert, waits the aggregation window for more, takes a rate-limit token,
then sends the batch, retrying with exponential backoff (capped) until the channel accepts
it; only then is each alert marked done in the outbox. The engine loop only enqueues
(`submit`): a slow or dead channel never holds up poll, so the engine keeps heartbeating.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from structlog.typing import FilteringBoundLogger

from engines.notification._channels import Channel, ChannelConfig
from engines.notification._outbox import Outbox


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryTiming:
    aggregation_s: float = 0.1
    retry_initial_s: float = 0.2
    retry_max_s: float = 30.0


@dataclass(slots=True)
class DeliveryCounters:
    delivered: int = 0  # alerts a channel accepted
    failures: int = 0  # failed attempts (each retried)
    batches: int = 0


class TokenBucket:
    def __init__(self, per_min: float) -> None:
        self.rate_s = per_min / 60.0
        self.capacity = max(1.0, per_min / 6.0)  # a 10 s burst
        self.tokens, self.at = self.capacity, time.monotonic()

    def wait_s(self) -> float:
        """Take a token: 0 if one is there, else how long until there is (then taken)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate_s)
        self.at = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate_s


class Delivery:
    def __init__(self, channels: Mapping[str, Channel], configs: Mapping[str, ChannelConfig],
                 outbox: Outbox, log: FilteringBoundLogger, timing: DeliveryTiming) -> None:
        self.channels, self.outbox, self.log, self.timing = channels, outbox, log, timing
        self.buckets = {n: TokenBucket(configs[n].rate_limit_per_min) for n in channels}
        self.counters = DeliveryCounters()
        self.loop = asyncio.new_event_loop()
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.thread = threading.Thread(target=self._run, name="notification-delivery",
                                       daemon=True)
        self._started = threading.Event()

    def start(self) -> None:
        self.thread.start()
        self._started.wait(5.0)

    def submit(self, channel: str, alert: dict[str, Any]) -> None:
        """Hand `alert` to `channel`'s worker; returns at once."""
        self.loop.call_soon_threadsafe(self.queues[channel].put_nowait, alert)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        for name in self.channels:
            self.queues[name] = asyncio.Queue()
            self.loop.create_task(self._worker(name))
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    async def _worker(self, name: str) -> None:
        queue = self.queues[name]
        while True:
            batch = [await queue.get()]
            await asyncio.sleep(self.timing.aggregation_s)
            while not queue.empty():
                batch.append(queue.get_nowait())
            await asyncio.sleep(self.buckets[name].wait_s())
            await self._send(name, batch)

    async def _send(self, name: str, batch: list[dict[str, Any]]) -> None:
        delay, attempt = self.timing.retry_initial_s, 1
        while True:
            try:
                await self.loop.run_in_executor(None, self.channels[name].deliver, batch)
                break
            except Exception as exc:  # any failure of a channel is retried, never lost
                self.counters.failures += 1
                self.log.warning("notification_retry", channel=name, attempt=attempt,
                                 retry_in_s=round(delay, 3), error=str(exc))
                await asyncio.sleep(delay)
                delay, attempt = min(delay * 2, self.timing.retry_max_s), attempt + 1
        for alert in batch:
            self.outbox.done(alert["id"], name)
        self.counters.delivered += len(batch)
        self.counters.batches += 1

    def stop(self, timeout_s: float = 2.0) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout_s)
