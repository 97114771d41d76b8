"""Alerting: every alert the platform raises goes through this resource.

By default alerts are appended to a local JSON-lines log (one object per line, flushed at once), so a
laptop run keeps a readable record and tests can assert on it. Webhook targets (Slack, PagerDuty)
plug in here by configuration.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import dagster as dg

__all__ = ["AlertingResource", "Severity"]

Severity = Literal["P1", "P2", "P3", "info"]


class AlertingResource(dg.ConfigurableResource):
    """Sends alerts; the JSON-lines log always receives them."""

    log_path: str = "var/alerts.jsonl"

    def send(
        self, *, severity: Severity, model: str, title: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Record (and deliver) one alert; returns the alert as written."""
        alert = {
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "severity": severity,
            "model": model,
            "title": title,
            "details": details or {},
        }
        path = Path(self.log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(alert, sort_keys=True, default=str) + "\n")
        dg.get_dagster_logger().warning(f"[{severity}] {model}: {title}")
        return alert

    def read(self) -> list[dict[str, Any]]:
        """Every alert recorded so far, oldest first."""
        path = Path(self.log_path)
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
