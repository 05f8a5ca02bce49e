"""The notification engine: `risk.alerts.*` and `system.engine.*` become structured log
records with journald priorities (the journald channel) and, routed by severity and topic,
deliveries to webhook, Slack-compatible webhook and email channels.

poll never blocks on a channel: it logs, dedupes, appends the alert to the durable outbox
in the state directory and hands it to the delivery thread (engines.notification._delivery),
which aggregates, rate-limits and retries with backoff. A restarted engine delivers what the
outbox still holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engines.base import Engine
from engines.notification._channels import ChannelConfig, make_channel
from engines.notification._delivery import Delivery, DeliveryTiming
from engines.notification._outbox import Outbox
from engines.notification._routing import Router
from engines.params import ParamError, param, parse_params
from shm.status import W_CUSTOM0, W_ERRORS, W_RECORDS_IN, W_RECORDS_OUT

# structlog method per lifecycle event; engines.log maps each to its journald PRIORITY
# (critical 2, error 3, warning 4, info 6).
SYSTEM_LEVELS = {"fatal": "critical", "escalated": "critical", "spawn_failed": "error",
                 "backoff": "error", "exited": "error", "killed": "error",
                 "not_restarted": "error", "group_restart": "warning", "restarting": "warning",
                 "removed": "warning", "reader_released": "error", "stopping": "info",
                 "stopped": "info",
                 "spawned": "info", "ready": "info"}
W_DUPLICATES, W_PENDING, W_BATCHES = W_CUSTOM0, W_CUSTOM0 + 1, W_CUSTOM0 + 2


def level_for(topic: str) -> str:
    """The log level of a bus topic: kill switch critical, other risk alerts warnings."""
    if topic.startswith("risk.alerts.kill_switch"):
        return "critical"
    if topic.startswith("risk."):
        return "warning"
    return SYSTEM_LEVELS.get(topic.rsplit(".", 1)[-1], "info")


@dataclass(frozen=True, kw_only=True, slots=True)
class NotificationParams:
    webhook_url: str = ""  # shorthand: one webhook channel "webhook" for warnings and above
    topics: tuple[str, ...] = ("risk.alerts.", "system.engine.")
    channels: dict[str, Any] = field(default_factory=dict)  # name -> ChannelConfig keys
    routes: dict[str, Any] = field(default_factory=dict)  # topic prefix -> [channel names]
    dedupe_window_s: float = param(60.0, unit="s", min=0.0)
    aggregation_window_ms: float = param(100.0, unit="ms", min=0.0, max=60_000.0)
    retry_initial_ms: float = param(200.0, unit="ms", min=1.0)
    retry_max_ms: float = param(30_000.0, unit="ms", min=1.0)


class NotificationEngine(Engine):
    params_spec = NotificationParams
    counters = ("duplicates", "pending", "batches")

    def on_start(self) -> None:
        where = f"engines.{self.ctx.name}"
        self.p = parse_params(NotificationParams, self.ctx.params, where)
        configs = _channel_configs(self.p, where)
        self.router = Router(configs, _routes(self.p, configs, where), self.p.dedupe_window_s)
        self.outbox = Outbox(self.ctx.state, keep_seen_s=self.p.dedupe_window_s)
        for key, at in self.outbox.seen.items():
            self.router.remember(key, at)
        self.delivery = Delivery({n: make_channel(c) for n, c in configs.items()}, configs,
                                 self.outbox, self.log, DeliveryTiming(
                                     aggregation_s=self.p.aggregation_window_ms / 1000,
                                     retry_initial_s=self.p.retry_initial_ms / 1000,
                                     retry_max_s=self.p.retry_max_ms / 1000))
        self.delivery.start()
        for (_, channel), alert in list(self.outbox.pending.items()):
            if channel in configs:  # queued before a crash: deliver it now
                self.delivery.submit(channel, alert)
        if self.outbox.pending:
            self.log.warning("notification_outbox_replayed", pending=len(self.outbox.pending))
        self.sub = self.ctx.subscriber(list(self.p.topics))

    def poll(self) -> int:
        n = 0
        while n < 256 and (msg := self.sub.recv(0)) is not None:
            self.notify(*msg)
            n += 1
        self._count()
        return n

    def notify(self, topic: str, payload: Any) -> None:
        level = level_for(topic)
        fields = payload if isinstance(payload, dict) else {"payload": payload}
        safe = {f"alert_{k}" if k in ("event", "level", "engine") else k: v
                for k, v in fields.items()}
        getattr(self.log, level)("notification", topic=topic, **safe)  # the journald channel
        self.ctx.status.add(W_RECORDS_IN, 1)
        routed = self.router.route(topic, level, fields, time.time())
        if routed is None:
            return
        alert, names = routed
        for name in names:
            self.outbox.queued(alert["id"], name, alert)  # durable before it is handed on
            self.delivery.submit(name, alert)

    def _count(self) -> None:
        words, c = self.ctx.status.words, self.delivery.counters
        words[W_RECORDS_OUT] = c.delivered
        words[W_ERRORS] = c.failures
        words[W_DUPLICATES] = self.router.duplicates
        words[W_PENDING] = len(self.outbox.pending)
        words[W_BATCHES] = c.batches

    def next_wakeup_s(self) -> float | None:
        return 0.5  # refresh the delivery counters

    def wait_handles(self) -> list[Any]:
        return [self.sub.socket]

    def on_stop(self) -> None:
        self.delivery.stop()
        self.outbox.close()


def _channel_configs(p: NotificationParams, where: str) -> dict[str, ChannelConfig]:
    configs = {name: parse_params(ChannelConfig, spec, f"{where}.channels.{name}")
               for name, spec in p.channels.items()}
    if p.webhook_url:
        configs.setdefault("webhook", ChannelConfig(kind="webhook", url=p.webhook_url))
    for name, cfg in configs.items():
        if cfg.kind in ("webhook", "slack") and not cfg.url:
            raise ParamError(f"{where}.channels.{name}.url: a {cfg.kind} channel needs a url")
        if cfg.kind == "email" and not cfg.to:
            raise ParamError(f"{where}.channels.{name}.to: an email channel needs recipients")
    return configs


def _routes(p: NotificationParams, configs: dict[str, ChannelConfig],
            where: str) -> MappingProxyType[str, tuple[str, ...]]:
    """Topic prefix -> channels. An unquoted dotted TOML key (risk.alerts.kill_switch = [..])
    arrives as nested tables: those are joined back into the prefix."""
    routes = {}
    for prefix, names in _flatten(p.routes, ""):
        if not isinstance(names, list | tuple) or not all(n in configs for n in names):
            raise ParamError(f"{where}.routes.{prefix}: {names!r} is not a list of channels; "
                             f"known: {sorted(configs)}")
        routes[prefix] = tuple(names)
    return MappingProxyType(routes)


def _flatten(table: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
