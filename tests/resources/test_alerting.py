"""The alerting resource against a real local HTTP server: Slack and PagerDuty payloads, severity filtering, and
targets that fail (an error answer, a refused connection, a timeout) without raising or losing the alert."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
import pytest

from resources.alerting import SEVERITIES, AlertingResource, pagerduty_dedup_key

pytestmark = pytest.mark.unit

SLACK_PATH = "/services/T000/B000/secret-webhook-token"
ROUTING_KEY = "R0UT1NGKEY-secret"


@dataclass
class Received:
    path: str
    content_type: str
    body: dict[str, Any]


@dataclass
class Recorder:
    """What a local webhook server received, and how it answers (status, or hang until released)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    hang: bool = False
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [request.body for request in self.requests if request.path == path]


@pytest.fixture
def server() -> Iterator[Recorder]:
    recorder = Recorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorder.requests.append(Received(self.path, self.headers["Content-Type"], json.loads(body)))
            if recorder.hang:
                recorder.release.wait(10)
                return
            answer = b"ok" if recorder.status < 400 else b"invalid_payload"
            self.send_response(recorder.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield recorder
    finally:
        recorder.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: bound, then closed, so a connection is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _alerts(tmp_path: Path, server: Recorder | None = None, **config: Any) -> AlertingResource:
    if server is not None:
        config = {
            "slack_webhook_url": f"{server.url}{SLACK_PATH}",
            "pagerduty_routing_key": ROUTING_KEY,
            "pagerduty_events_url": f"{server.url}/v2/enqueue",
            **config,
        }
    return AlertingResource(log_path=str(tmp_path / "alerts.jsonl"), **config)


# -------------------------------------------------------------------------------------------- the log


def test_without_targets_the_log_records_every_alert_and_nothing_is_sent(tmp_path: Path) -> None:
    alerts = _alerts(tmp_path)
    first = alerts.send(severity="P2", model="m", title="gate failed", details={"auc": 0.8})
    second = alerts.send(severity="info", model="m", title="promoted")
    assert alerts.read() == [first, second]
    assert first["delivery"] == {} and first["details"] == {"auc": 0.8} and second["details"] == {}
    assert _alerts(tmp_path / "elsewhere").read() == []


def test_an_unknown_severity_raises_before_anything_is_recorded(tmp_path: Path, server: Recorder) -> None:
    alerts = _alerts(tmp_path, server)
    with pytest.raises(ValueError, match="unknown alert severity 'P0'"):
        alerts.send(severity="P0", model="m", title="t")  # type: ignore[arg-type]
    assert alerts.read() == [] and server.requests == []


@pytest.mark.parametrize("bad", ["P0", "critical", "p1"])
def test_an_unknown_min_severity_is_refused_at_configuration(tmp_path: Path, bad: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="min_severity_pagerduty"):
        _alerts(tmp_path, min_severity_pagerduty=bad)


# ------------------------------------------------------------------------------------------- payloads


def test_slack_receives_the_alert_as_text_and_blocks(tmp_path: Path, server: Recorder) -> None:
    alerts = _alerts(tmp_path, server)
    details = {"auc": 0.81, "floor": 0.88, "window": "2026-03-01"}
    alert = alerts.send(severity="P3", model="delivery_delay", title="realised AUC < floor", details=details)
    [received] = [r for r in server.requests if r.path == SLACK_PATH]
    assert received.content_type == "application/json"
    message = received.body
    assert message["text"] == "[P3] delivery_delay: realised AUC &lt; floor"
    header, facts, title, detail = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "[P3] realised AUC < floor"}}
    assert [f["text"] for f in facts["fields"]] == ["*Severity*\nP3", "*Model*\ndelivery_delay"]
    assert title["text"]["text"] == "*Title*\nrealised AUC &lt; floor"
    rendered = detail["text"]["text"]
    assert rendered.startswith("*Details*\n```") and rendered.endswith("```")
    assert json.loads(rendered.removeprefix("*Details*\n```").removesuffix("```")) == details
    assert alert["delivery"] == {"slack": "sent", "pagerduty": "skipped: P3 is below min_severity_pagerduty P1"}
    assert alerts.read() == [alert]


def test_slack_blocks_stay_within_slack_limits(tmp_path: Path, server: Recorder) -> None:
    alerts = _alerts(tmp_path, server)
    alerts.send(severity="P2", model="m", title="x" * 400, details={"log": "y" * 10_000})
    [message] = server.bodies(SLACK_PATH)
    header, _, title, detail = message["blocks"]
    assert len(header["text"]["text"]) <= 150
    assert len(title["text"]["text"]) <= 3_000 and len(detail["text"]["text"]) <= 3_000
    assert detail["text"]["text"].endswith("```")


@pytest.mark.parametrize(
    ("severity", "pagerduty_severity"), [("P1", "critical"), ("P2", "error"), ("P3", "warning"), ("info", "info")]
)
def test_pagerduty_receives_a_trigger_event(
    tmp_path: Path, server: Recorder, severity: str, pagerduty_severity: str
) -> None:
    alerts = _alerts(tmp_path, server, min_severity_pagerduty="info")
    details = {"error_rate": 0.12, "rolled_back_to": "3"}
    alert = alerts.send(severity=severity, model="delivery_delay", title="champion rolled back", details=details)  # type: ignore[arg-type]
    [event] = server.bodies("/v2/enqueue")
    assert event == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "delivery_delay:champion rolled back",
        "payload": {
            "summary": f"[{severity}] delivery_delay: champion rolled back",
            "source": "delivery_delay",
            "severity": pagerduty_severity,
            "timestamp": alert["time"],
            "custom_details": details,
        },
        "client": "mlplatform",
    }
    assert alert["delivery"] == {"slack": "sent", "pagerduty": "sent"}


def test_the_dedup_key_is_stable_per_model_and_title_and_fits_pagerduty() -> None:
    assert pagerduty_dedup_key("m", "drift") == pagerduty_dedup_key("m", "drift")
    assert (
        len({pagerduty_dedup_key("m", "drift"), pagerduty_dedup_key("n", "drift"), pagerduty_dedup_key("m", "x")}) == 3
    )
    long_a, long_b = pagerduty_dedup_key("m", "t" * 300 + "a"), pagerduty_dedup_key("m", "t" * 300 + "b")
    assert len(long_a) == len(long_b) == 255 and long_a != long_b


@pytest.mark.parametrize(
    ("minimum", "paged"), [("P1", ["P1"]), ("P2", ["P1", "P2"]), ("P3", ["P1", "P2", "P3"]), ("info", list(SEVERITIES))]
)
def test_pagerduty_receives_only_alerts_at_or_above_its_minimum_and_slack_all(
    tmp_path: Path, server: Recorder, minimum: str, paged: list[str]
) -> None:
    alerts = _alerts(tmp_path, server, min_severity_pagerduty=minimum)
    for severity in SEVERITIES:
        alerts.send(severity=severity, model="m", title=f"alert {severity}")  # type: ignore[arg-type]
    assert [event["payload"]["summary"] for event in server.bodies("/v2/enqueue")] == [
        f"[{severity}] m: alert {severity}" for severity in paged
    ]
    assert [message["text"] for message in server.bodies(SLACK_PATH)] == [
        f"[{severity}] m: alert {severity}" for severity in SEVERITIES
    ]
    recorded = {alert["severity"]: alert["delivery"]["pagerduty"] for alert in alerts.read()}
    assert recorded == {
        severity: "sent" if severity in paged else f"skipped: {severity} is below min_severity_pagerduty {minimum}"
        for severity in SEVERITIES
    }


def test_each_target_is_optional(tmp_path: Path, server: Recorder) -> None:
    slack_only = _alerts(tmp_path, slack_webhook_url=f"{server.url}{SLACK_PATH}")
    assert slack_only.send(severity="P1", model="m", title="t")["delivery"] == {"slack": "sent"}
    pagerduty_only = _alerts(
        tmp_path, pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=f"{server.url}/v2/enqueue"
    )
    assert pagerduty_only.send(severity="P1", model="m", title="t")["delivery"] == {"pagerduty": "sent"}
    assert [r.path for r in server.requests] == [SLACK_PATH, "/v2/enqueue"]


# ------------------------------------------------------------------------------------ failing targets


def _assert_recorded_once(alerts: AlertingResource, alert: dict[str, Any]) -> None:
    [recorded] = alerts.read()
    assert recorded == alert and recorded["title"] == "canary rolled back"


def test_a_target_answering_500_is_recorded_as_failed_without_raising(
    tmp_path: Path, server: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    server.status = 500
    alerts = _alerts(tmp_path, server)
    with caplog.at_level(logging.WARNING):
        alert = alerts.send(severity="P1", model="m", title="canary rolled back", details={"step": 2})
    failed = "failed: HTTP 500 Internal Server Error: invalid_payload"
    assert alert["delivery"] == {"slack": failed, "pagerduty": failed}
    assert len(server.requests) == 2
    _assert_recorded_once(alerts, alert)
    assert f"alert delivery to slack {failed}" in caplog.text
    assert f"alert delivery to pagerduty {failed}" in caplog.text


def test_an_unreachable_target_is_recorded_as_failed_and_the_other_still_receives(
    tmp_path: Path, server: Recorder, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    alerts = _alerts(tmp_path, server, slack_webhook_url=f"http://127.0.0.1:{closed_port}{SLACK_PATH}")
    with caplog.at_level(logging.WARNING):
        alert = alerts.send(severity="P1", model="m", title="canary rolled back")
    assert alert["delivery"]["slack"].startswith("failed: ConnectError")
    assert alert["delivery"]["pagerduty"] == "sent"
    assert [r.path for r in server.requests] == ["/v2/enqueue"]
    _assert_recorded_once(alerts, alert)
    assert "alert delivery to slack failed: ConnectError" in caplog.text


def test_a_target_that_does_not_answer_times_out_as_failed(tmp_path: Path, server: Recorder) -> None:
    server.hang = True
    alerts = _alerts(tmp_path, server, min_severity_pagerduty="P3", timeout_seconds=0.2)
    alert = alerts.send(severity="P2", model="m", title="canary rolled back")
    assert alert["delivery"]["slack"].startswith("failed: ReadTimeout")
    assert alert["delivery"]["pagerduty"].startswith("failed: ReadTimeout")
    _assert_recorded_once(alerts, alert)


def test_a_malformed_target_url_is_recorded_as_failed(tmp_path: Path) -> None:
    alerts = _alerts(tmp_path, slack_webhook_url="not a url")
    alert = alerts.send(severity="P2", model="m", title="canary rolled back")
    assert alert["delivery"]["slack"].startswith("failed: ")
    _assert_recorded_once(alerts, alert)


def test_failure_reasons_and_the_log_never_hold_the_secrets(
    tmp_path: Path, server: Recorder, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    server.status = 403
    with caplog.at_level(logging.WARNING):
        _alerts(tmp_path, server).send(severity="P1", model="m", title="canary rolled back")
        _alerts(tmp_path, slack_webhook_url=f"http://127.0.0.1:{closed_port}{SLACK_PATH}").send(
            severity="P1", model="m", title="canary rolled back"
        )
    log_text = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8")
    assert log_text.count("failed:") == 3
    for secret in ("secret-webhook-token", ROUTING_KEY):
        assert secret not in log_text and secret not in caplog.text


def test_details_that_json_cannot_encode_are_still_delivered_and_recorded(tmp_path: Path, server: Recorder) -> None:
    alerts = _alerts(tmp_path, server)
    alert = alerts.send(severity="P1", model="m", title="t", details={"path": tmp_path, "rows": {1, 2}})
    assert alert["delivery"] == {"slack": "sent", "pagerduty": "sent"}
    [event] = server.bodies("/v2/enqueue")
    assert event["payload"]["custom_details"]["path"] == str(tmp_path)
    assert alerts.read()[0]["details"]["path"] == str(tmp_path)


# ---------------------------------------------------------------------------------------------- dagster


def test_targets_configured_through_env_vars_deliver_from_an_asset(
    tmp_path: Path, server: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", f"{server.url}{SLACK_PATH}")
    monkeypatch.setenv("TEST_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("TEST_PAGERDUTY_MIN_SEVERITY", "P2")

    @dg.asset
    def alerted(alerts: AlertingResource) -> None:
        alerts.send(severity="P2", model="m", title="from an asset")

    resource = AlertingResource(
        log_path=str(tmp_path / "alerts.jsonl"),
        slack_webhook_url=dg.EnvVar("TEST_SLACK_WEBHOOK_URL"),
        pagerduty_routing_key=dg.EnvVar("TEST_PAGERDUTY_ROUTING_KEY"),
        pagerduty_events_url=f"{server.url}/v2/enqueue",
        min_severity_pagerduty=dg.EnvVar("TEST_PAGERDUTY_MIN_SEVERITY"),
    )
    assert dg.materialize([alerted], resources={"alerts": resource}).success
    [event] = server.bodies("/v2/enqueue")
    assert event["routing_key"] == ROUTING_KEY and event["payload"]["severity"] == "error"
    assert len(server.bodies(SLACK_PATH)) == 1
    assert [alert["delivery"] for alert in resource.read()] == [{"slack": "sent", "pagerduty": "sent"}]
