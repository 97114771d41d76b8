"""The prediction service over HTTP: `mlplatform serve` in a subprocess on a free loopback port.

A real uvicorn serves the shipped spec (with a short refresh and flush window) against an embedded MLflow registry
holding two trained versions, the lake and the alert log in a temporary directory. Covered: readiness before and after
a champion alias exists, predictions equal to the champion's scorer, 422s naming each bad field (also in a batch, by
index), Prometheus counts equal to what was sent, and 20,000 requests from 16 concurrent clients with no error and,
after SIGTERM, exactly one prediction-log row per request.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from platform_assets.keys import ALIAS_CHAMPION
from platform_assets.spec import ModelSpec
from resources.mlflow_registry import MlflowResource
from serving.prediction_log import read_predictions
from serving.scoring import Scorer
from tests.conftest import ROOT, SHIPPED_SPEC
from tests.serving.test_router import log_versions, request_rows, scorer_of, train_boosters, training_rows

pytestmark = pytest.mark.integration

LOAD_REQUESTS = 20_000
LOAD_CLIENTS = 16
LOAD_TIME_LIMIT_SECONDS = 120.0


@dataclass
class Service:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    lake: Path
    stderr: Path
    mlflow: MlflowResource
    scorers: dict[str, Scorer]
    rows: list[dict[str, Any]]
    not_ready: httpx.Response  # /readyz before any champion alias existed
    unserved: httpx.Response  # a /predict at that time
    served_ids: list[str] = field(default_factory=list)  # request ids the service answered (200 or 500)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request_ids: list[str]) -> None:
        with self.lock:
            self.served_ids.extend(request_ids)

    def logs(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(condition: Any, timeout: float, what: str, service_logs: Any = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s; server log:\n{service_logs()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def service(spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("service")
    # The shipped spec with a fast refresh and flush, so alias changes show within the test.
    document = yaml.safe_load(SHIPPED_SPEC.read_text(encoding="utf-8"))
    document["deployment"]["serving"].update({"refresh_seconds": 0.2, "flush_seconds": 0.5})
    spec_file = root / "delivery_delay.yaml"
    spec_file.write_text(yaml.safe_dump(document), encoding="utf-8")
    port = _free_port()
    stderr = root / "server.log"
    command = [
        sys.executable,
        "-m",
        "mlplatform.cli",
        "serve",
        "--spec",
        str(spec_file),
        "--port",
        str(port),
        "--lake",
        str(root / "lake"),
        "--mlflow",
        str(root / "mlflow"),
        "--alerts",
        str(root / "alerts.jsonl"),
        "--log-level",
        "info",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with stderr.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        # Trained while the server starts (its imports take seconds), registered once it is up: by then it has
        # created the registry database, so the two processes do not race to create its tables.
        data = training_rows(spec)
        boosters = train_boosters(spec, data)
        with httpx.Client(base_url=url, timeout=5) as client:
            _wait(lambda: client.get("/healthz").status_code == 200, 90, "the server did not start", stderr.read_text)
            not_ready = client.get("/readyz")
            features = request_rows(spec, data.test, 1)[0]
            unserved = client.post("/predict", json={"request_id": "before-any-champion", "features": features})
            mlflow = MlflowResource(root=str(root / "mlflow"))
            versions = log_versions(mlflow, spec, boosters, data)
            scorers = {version: scorer_of(spec, booster) for version, booster in zip(versions, boosters, strict=True)}
            mlflow.set_alias(spec.name, ALIAS_CHAMPION, versions[0])
            _wait(lambda: client.get("/readyz").status_code == 200, 30, "no champion was loaded", stderr.read_text)
        yield Service(
            url=url,
            port=port,
            process=process,
            lake=root / "lake",
            stderr=stderr,
            mlflow=mlflow,
            scorers=scorers,
            rows=request_rows(spec, data.test, 500),
            not_ready=not_ready,
            unserved=unserved,
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _predict_body(service: Service, request_id: str, index: int) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "unit_id": f"customer-{index % 97}",
        "features": service.rows[index % len(service.rows)],
    }


def test_readiness_follows_the_champion_alias(service: Service) -> None:
    assert service.not_ready.status_code == 503
    assert service.not_ready.json()["ready"] is False
    assert "no champion alias" in service.not_ready.json()["reason"]
    assert service.unserved.status_code == 503
    assert service.unserved.json()["error"] == "no_champion"
    with httpx.Client(base_url=service.url, timeout=5) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["champion"] == "1"
        assert client.get("/healthz").json() == {"status": "ok"}


def test_predictions_are_the_champions_scores(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=5) as client:
        for index in range(25):
            body = _predict_body(service, f"single-{index}", index)
            response = client.post("/predict", json=body)
            assert response.status_code == 200, response.text
            service.record([body["request_id"]])
            answer = response.json()
            assert (answer["request_id"], answer["model_version"], answer["role"]) == (
                body["request_id"],
                "1",
                "champion",
            )
            assert answer["score"] == service.scorers["1"].score_row(body["features"])
        batch = [_predict_body(service, f"batch-{index}", index) for index in range(10)]
        response = client.post("/predict/batch", json=batch)
        assert response.status_code == 200, response.text
        service.record([body["request_id"] for body in batch])
        answers = response.json()
        assert answers["errors"] == 0
        assert [a["request_id"] for a in answers["predictions"]] == [b["request_id"] for b in batch]
        assert [a["score"] for a in answers["predictions"]] == [
            service.scorers["1"].score_row(b["features"]) for b in batch
        ]


def test_invalid_requests_get_a_422_naming_each_bad_field(service: Service) -> None:
    good = service.rows[0]
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "weight_kg"}, {("weight_kg", "missing")}),
        "wrong type": ({**good, "hour_of_day": "nine"}, {("hour_of_day", "int_type")}),
        "out of range": ({**good, "weight_kg": 5_000.0}, {("weight_kg", "less_than_equal")}),
        "unknown carrier": ({**good, "carrier_code": "ACME"}, {("carrier_code", "literal_error")}),
        "all at once": (
            {**{k: v for k, v in good.items() if k != "day_of_week"}, "weight_kg": -1, "carrier_code": "ACME", "x": 1},
            {
                ("day_of_week", "missing"),
                ("weight_kg", "greater_than_equal"),
                ("carrier_code", "literal_error"),
                ("x", "extra_forbidden"),
            },
        ),
    }
    with httpx.Client(base_url=service.url, timeout=5) as client:
        for name, (features, expected) in cases.items():
            response = client.post("/predict", json={"request_id": f"bad-{name}", "features": features})
            assert response.status_code == 422, name
            errors = response.json()["detail"]
            assert {(e["loc"][-1], e["type"]) for e in errors} == expected, name
            assert all(e["loc"][:2] == ["body", "features"] for e in errors), name
        batch = [
            _predict_body(service, "fine", 0),
            {"request_id": "bad", "features": {**good, "service_level": "teleport"}},
        ]
        response = client.post("/predict/batch", json=batch)
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["detail"]] == [["body", 1, "features", "service_level"]]


def _samples(text: str, name: str) -> dict[tuple[str, str], float]:
    """{(version, role): value} of one Prometheus series for the delivery_delay model."""
    pattern = re.compile(rf'^{name}\{{model="delivery_delay",role="(\w+)",version="(\w+)"\}} (\S+)$', re.MULTILINE)
    return {(version, role): float(value) for role, version, value in pattern.findall(text)}


def test_metrics_count_what_was_sent(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=5) as client:
        before = client.get("/metrics")
        assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
        sent = 40
        for index in range(sent):
            body = _predict_body(service, f"metrics-{index}", index)
            assert client.post("/predict", json=body).status_code == 200
            service.record([body["request_id"]])
        client.post("/predict", json={"request_id": "invalid", "features": {}})  # a 422 reaches no model
        after = client.get("/metrics").text
    key = ("1", "champion")
    delta = {
        series: _samples(after, series).get(key, 0.0) - _samples(before.text, series).get(key, 0.0)
        for series in ("mlplatform_requests_total", "mlplatform_errors_total", "mlplatform_latency_seconds_count")
    }
    assert delta == {
        "mlplatform_requests_total": sent,
        "mlplatform_errors_total": 0,
        "mlplatform_latency_seconds_count": sent,
    }
    assert "mlplatform_latency_seconds_bucket" in after


def test_concurrent_load_has_no_errors_and_sigterm_leaves_one_log_row_per_request(service: Service) -> None:
    per_client = LOAD_REQUESTS // LOAD_CLIENTS
    failures: list[str] = []
    deadline = time.monotonic() + LOAD_TIME_LIMIT_SECONDS

    def client_loop(number: int) -> None:
        # One keep-alive connection per client through the standard library's http.client: httpx costs about
        # 1.5 ms of client CPU per request, which on a 2-core machine would take the CPU the server needs and
        # triple the test's time; the other tests use httpx.
        ids = []
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
        try:
            for index in range(per_client):
                if time.monotonic() > deadline:
                    failures.append(f"client {number} ran out of time after {index} requests")
                    break
                request_id = f"load-{number}-{index}"
                body = json.dumps(_predict_body(service, request_id, index))
                try:
                    connection.request("POST", "/predict", body=body, headers={"content-type": "application/json"})
                    response = connection.getresponse()
                    text = response.read()
                except (OSError, http.client.HTTPException) as error:
                    failures.append(f"{request_id}: {error!r}")
                    connection.close()  # reconnects on the next request
                    continue
                ids.append(request_id)
                if response.status != 200:
                    failures.append(f"{request_id}: {response.status} {text[:200]!r}")
        finally:
            connection.close()
            service.record(ids)

    started = time.monotonic()
    clients = [threading.Thread(target=client_loop, args=(number,)) for number in range(LOAD_CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    elapsed = time.monotonic() - started
    assert failures == [], f"{len(failures)} failures, first: {failures[:5]}"
    assert len([i for i in service.served_ids if i.startswith("load-")]) == LOAD_REQUESTS
    assert elapsed < LOAD_TIME_LIMIT_SECONDS

    service.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully (lifespan shutdown closes the router and flushes the log), then re-raises the
    # signal it caught, so the exit status is -SIGTERM; its log shows the shutdown completed.
    assert service.process.wait(timeout=60) in (0, -signal.SIGTERM), service.logs()
    assert "Finished server process" in service.logs(), service.logs()
    logged = read_predictions(service.lake, "delivery_delay")
    assert logged["served"].all()
    assert len(logged) == len(service.served_ids), "exactly one row per answered request"
    assert sorted(logged["request_id"]) == sorted(service.served_ids)
    assert logged["error"].isna().all() and logged["score"].notna().all()
    assert not list(service.lake.rglob(".tmp-*")), "no temporary files after a clean stop"
