"""Notification channels: each delivers one batch of alerts, blocking, raising on failure.

They run on the delivery thread's executor (engines.notification._delivery), never on the
engine loop. Kinds: webhook (JSON body), slack (Slack-compatible {"text": ...}), email
(SMTP). The journald channel is the engine's own log record of each alert, written in poll
with the alert's priority (the journal under systemd).
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

from engines.params import param

SEVERITIES = ("info", "warning", "error", "critical")


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelConfig:
    """[engines.notification.params.channels.<name>]"""

    kind: str = param("webhook", choices=("webhook", "slack", "email"))
    min_severity: str = param("warning", choices=SEVERITIES)
    url: str = ""  # webhook, slack
    timeout_s: float = param(5.0, unit="s", min=0.1, max=120.0)
    smtp_host: str = "127.0.0.1"  # email
    smtp_port: int = param(25, min=1, max=65535)
    sender: str = "nautilusd@localhost"
    to: tuple[str, ...] = field(default_factory=tuple)
    rate_limit_per_min: float = param(60.0, unit="/min", min=0.1)


class Channel(Protocol):
    def deliver(self, alerts: list[dict[str, Any]]) -> None: ...


class Webhook:
    def __init__(self, cfg: ChannelConfig, slack: bool = False) -> None:
        self.cfg, self.slack = cfg, slack

    def deliver(self, alerts: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = ({"text": "\n".join(summary(a) for a in alerts)} if self.slack
                                else {"alerts": alerts})
        request = urllib.request.Request(
            self.cfg.url, data=json.dumps(body, default=str).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Idempotency-Key": ",".join(a["id"] for a in alerts)})
        with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as reply:
            reply.read()


class Email:
    def __init__(self, cfg: ChannelConfig) -> None:
        self.cfg = cfg

    def deliver(self, alerts: list[dict[str, Any]]) -> None:
        msg = EmailMessage()
        worst = max(alerts, key=lambda a: SEVERITIES.index(a["severity"]))
        msg["Subject"] = f"[nautilusd {worst['severity']}] {summary(worst)}" + (
            f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else "")
        msg["From"], msg["To"] = self.cfg.sender, ", ".join(self.cfg.to)
        msg.set_content(json.dumps({"alerts": alerts}, indent=1, default=str))
        with smtplib.SMTP(self.cfg.smtp_host, self.cfg.smtp_port,
                          timeout=self.cfg.timeout_s) as smtp:
            smtp.send_message(msg)


def make_channel(cfg: ChannelConfig) -> Channel:
    if cfg.kind == "email":
        return Email(cfg)
    return Webhook(cfg, slack=cfg.kind == "slack")


def summary(alert: dict[str, Any]) -> str:
    return f"{alert['severity']} {alert['topic']}: {json.dumps(alert['payload'], default=str)}"
