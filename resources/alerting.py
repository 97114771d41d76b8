"""Alerting: every alert the platform raises goes through this resource.

Every alert is appended to a local JSON-lines log (one object per line, flushed at once), so a laptop run keeps a
readable record and tests can assert on it. Webhook targets plug in by configuration, secrets through `dg.EnvVar`:

- Slack: an incoming-webhook URL (`slack_webhook_url`) receives every alert as a message with blocks.
- PagerDuty: an Events API v2 routing key (`pagerduty_routing_key`) receives a `trigger` event for each alert at or
  above `min_severity_pagerduty` (P1 by default, so only pages page). The dedup key is derived from the model and
  the title, so a repeated alert updates one open incident instead of opening another.

Delivery is best effort and never costs the alert: a target that fails (an HTTP error, a timeout, a refused
connection) is logged as a warning and `send` carries on, and the JSON-lines record says in its `delivery` field
what each target did ("sent", "skipped: ...", or "failed: <reason>"). Failure reasons never contain the webhook URL
or the routing key. Deliveries are synchronous, bounded by `timeout_seconds` per request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

import dagster as dg
import httpx
from pydantic import Field, field_validator

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "PAGERDUTY_SEVERITY",
    "SEVERITIES",
    "AlertingResource",
    "Severity",
    "pagerduty_dedup_key",
    "pagerduty_payload",
    "slack_payload",
]

Severity = Literal["P1", "P2", "P3", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)  # most severe first
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# The platform's severities in PagerDuty's vocabulary (Events API v2 accepts critical, error, warning, info).
PAGERDUTY_SEVERITY: dict[str, str] = {"P1": "critical", "P2": "error", "P3": "warning", "info": "info"}

SENT = "sent"
_SLACK = "slack"
_PAGERDUTY = "pagerduty"
# Limits of the receiving APIs: a longer field is rejected, so text is clipped to fit.
_SLACK_HEADER_CHARS = 150
_SLACK_SECTION_CHARS = 3_000
_PAGERDUTY_SUMMARY_CHARS = 1_024
_PAGERDUTY_DEDUP_CHARS = 255
_FAILURE_BODY_CHARS = 200


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escape(text: str) -> str:
    # Slack mrkdwn reads &, < and > as control characters ("AUC < 0.88" would start a link).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dumps(document: Any, **kwargs: Any) -> str:
    # Details may hold dates, paths or numpy numbers; str() keeps every alert sendable.
    return json.dumps(document, sort_keys=True, default=str, **kwargs)


def slack_payload(alert: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` for notifications, blocks with title, severity, model and details."""
    severity, model, title = alert["severity"], alert["model"], alert["title"]
    details = alert["details"]
    rendered = _dumps(details, indent=2) if details else "{}"
    # Clip inside the code fence so a long document still closes it.
    fenced = "```" + _clip(_slack_escape(rendered), _SLACK_SECTION_CHARS - 20) + "```"
    return {
        "text": _slack_escape(f"[{severity}] {model}: {title}"),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(f"[{severity}] {title}", _SLACK_HEADER_CHARS)},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Severity*\n{_slack_escape(severity)}"},
                    {"type": "mrkdwn", "text": f"*Model*\n{_slack_escape(model)}"},
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(f"*Title*\n{_slack_escape(title)}", _SLACK_SECTION_CHARS)},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Details*\n{fenced}"}},
        ],
    }


def pagerduty_dedup_key(model: str, title: str) -> str:
    """`<model>:<title>`, or when longer than PagerDuty's 255 characters, its start and a hash of the whole."""
    key = f"{model}:{title}"
    if len(key) <= _PAGERDUTY_DEDUP_CHARS:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{key[: _PAGERDUTY_DEDUP_CHARS - len(digest) - 1]}:{digest}"


def pagerduty_payload(alert: dict[str, Any], routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 `trigger` event for the alert."""
    severity, model, title = alert["severity"], alert["model"], alert["title"]
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": pagerduty_dedup_key(model, title),
        "payload": {
            "summary": _clip(f"[{severity}] {model}: {title}", _PAGERDUTY_SUMMARY_CHARS),
            "source": model,
            "severity": PAGERDUTY_SEVERITY[severity],
            "timestamp": alert["time"],
            "custom_details": alert["details"],
        },
        "client": "mlplatform",
    }


class AlertingResource(dg.ConfigurableResource):
    """Sends alerts: the JSON-lines log always receives them; Slack and PagerDuty when configured."""

    log_path: str = "var/alerts.jsonl"
    slack_webhook_url: str | None = Field(
        default=None, description="Slack incoming-webhook URL; every alert is posted there (a secret: use dg.EnvVar)"
    )
    pagerduty_routing_key: str | None = Field(
        default=None, description="PagerDuty Events API v2 routing key (a secret: use dg.EnvVar)"
    )
    pagerduty_events_url: str = PAGERDUTY_EVENTS_URL
    min_severity_pagerduty: str = Field(
        default="P1", description=f"the least severe alert PagerDuty receives, one of {list(SEVERITIES)}"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, description="per HTTP request to a target")

    @field_validator("min_severity_pagerduty", mode="before")
    @classmethod
    def _known_severity(cls, value: object) -> object:
        # An EnvVar is checked once Dagster has resolved it (the resource is validated again then).
        if isinstance(value, dg.EnvVar):
            return value
        if value not in SEVERITIES:
            raise ValueError(f"min_severity_pagerduty must be one of {list(SEVERITIES)}, got {value!r}")
        return value

    def send(
        self, *, severity: Severity, model: str, title: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Record and deliver one alert; returns the alert as written, with what each target did in `delivery`.

        An unknown severity raises ValueError before anything is recorded or sent. A failing target never raises.
        """
        if severity not in SEVERITIES:
            raise ValueError(f"unknown alert severity {severity!r}; expected one of {list(SEVERITIES)}")
        alert: dict[str, Any] = {
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "severity": severity,
            "model": model,
            "title": title,
            "details": details or {},
        }
        alert["delivery"] = self._deliver(alert)
        path = Path(self.log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(_dumps(alert) + "\n")
        dg.get_dagster_logger().warning(f"[{severity}] {model}: {title}")
        return alert

    def read(self) -> list[dict[str, Any]]:
        """Every alert recorded so far, oldest first."""
        path = Path(self.log_path)
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    # ------------------------------------------------------------------------------------------- delivery

    def _deliver(self, alert: dict[str, Any]) -> dict[str, str]:
        """What each configured target did with the alert; an unconfigured target does not appear."""
        delivery: dict[str, str] = {}
        posts: list[tuple[str, str, Callable[[], dict[str, Any]]]] = []
        if self.slack_webhook_url:
            posts.append((_SLACK, self.slack_webhook_url, lambda: slack_payload(alert)))
        if self.pagerduty_routing_key:
            routing_key = self.pagerduty_routing_key
            if SEVERITIES.index(alert["severity"]) <= SEVERITIES.index(self.min_severity_pagerduty):
                posts.append((_PAGERDUTY, self.pagerduty_events_url, lambda: pagerduty_payload(alert, routing_key)))
            else:
                delivery[_PAGERDUTY] = (
                    f"skipped: {alert['severity']} is below min_severity_pagerduty {self.min_severity_pagerduty}"
                )
        if not posts:
            return delivery
        try:
            # One client per alert: building its TLS context costs more than a local POST.
            client = httpx.Client(timeout=self.timeout_seconds)
        except Exception as error:
            for target, _, _ in posts:
                delivery[target] = self._failed(target, error)
            return delivery
        with client:
            for target, url, build in posts:
                delivery[target] = self._post(client, target, url, build)
        return delivery

    def _post(self, client: httpx.Client, target: str, url: str, build: Callable[[], dict[str, Any]]) -> str:
        """POST the JSON document `build()` returns; "sent" on a 2xx answer, else "failed: <reason>" (logged)."""
        try:
            response = client.post(
                url, content=_dumps(build()).encode("utf-8"), headers={"Content-Type": "application/json"}
            )
        except Exception as error:  # whatever goes wrong, the alert is still recorded
            return self._failed(target, error)
        if response.is_success:
            return SENT
        # Not raise_for_status(): its message quotes the URL, and a webhook URL is a secret.
        return self._failed(
            target, f"HTTP {response.status_code} {response.reason_phrase}: {response.text[:_FAILURE_BODY_CHARS]}"
        )

    def _failed(self, target: str, cause: Exception | str) -> str:
        """Log why a target failed and return its `delivery` entry, with the secrets redacted."""
        if isinstance(cause, Exception):
            cause = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        reason = self._redact(cause.strip())
        dg.get_dagster_logger().warning(f"alert delivery to {target} failed: {reason}")
        return f"failed: {reason}"

    def _redact(self, text: str) -> str:
        for secret in (self.slack_webhook_url, self.pagerduty_routing_key):
            if secret:
                text = text.replace(secret, "<redacted>")
        return text
