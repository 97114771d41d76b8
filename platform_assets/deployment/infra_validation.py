"""The pre-deployment integration test (the seed's "Integration Tests" step, TFX InfraValidator's job).

Before a version may enter shadow, it is loaded from the registry into a real serving process of its
own (this module, run as `python -m platform_assets.deployment.infra_validation`, serving only that
version on a free loopback port, with a scratch prediction log), then:

- it must become ready (`/readyz`) within the timeout;
- a sample of real feature rows scored over HTTP (`/predict/batch`) must come back from that version
  and equal, row for row, what the scorer computes in-process from the same registry entry;
- the feature contract must hold: a request missing a feature is refused with a 422 naming it;
- single requests over HTTP must meet the serving latency SLA at p99. A round of requests that misses it is
  measured again, up to `LATENCY_ROUNDS` rounds, and one round within the SLA passes: a slow model misses
  every round, while a busy neighbour on a shared machine (a training run, a CI job) slows one round, not
  every round. The report lists each round's p99.

A version that fails any of these raises `InfraValidationError` and never serves.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.spec import ModelSpec, load_spec
from resources.mlflow_registry import MlflowResource

__all__ = ["InfraValidationError", "latency_verdict", "validate_for_serving"]

ROOT = Path(__file__).resolve().parents[2]
LATENCY_ROUNDS = 3


class InfraValidationError(RuntimeError):
    """The version did not serve correctly; it must not enter shadow."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(url: str, body: Any | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body, default=str).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _sample_rows(spec: ModelSpec, mlflow: MlflowResource, version: str, rows: int) -> pd.DataFrame:
    """Feature rows to score: the version's own input example, repeated with its rows shuffled if short."""
    model_version = mlflow.client().get_model_version(spec.name, version)
    directory = Path(mlflow.local_model_file(str(model_version.source)).parent)
    example_file = directory / "input_example.json"
    if not example_file.is_file():
        raise InfraValidationError(f"{spec.name} version {version} was logged without an input example")
    example = json.loads(example_file.read_text())
    frame = pd.DataFrame(example["data"], columns=example["columns"]) if "columns" in example else pd.DataFrame(example)
    repeats = max(1, -(-rows // max(len(frame), 1)))
    return pd.concat([frame] * repeats, ignore_index=True).head(rows)


_CASTS = {"float": float, "int": int, "str": str, "bool": bool}


def _requests(spec: ModelSpec, frame: pd.DataFrame, prefix: str) -> list[dict[str, Any]]:
    """Requests in the feature contract's own types (the logged example stores every number as a float)."""
    casts = {column.name: _CASTS[column.dtype] for column in spec.features.columns}
    requests = []
    for i, row in enumerate(frame[spec.features.names].to_dict("records")):
        features = {name: None if pd.isna(value) else casts[name](value) for name, value in row.items()}
        requests.append({"request_id": f"{prefix}-{i}", "unit_id": None, "features": features})
    return requests


def validate_for_serving(
    spec: ModelSpec,
    mlflow: MlflowResource,
    version: str,
    *,
    sample_rows: int = 200,
    latency_requests: int = 200,
    timeout_seconds: float = 120.0,
) -> dict[str, Any]:
    """Serve `version` in a fresh process and check it; return the report or raise InfraValidationError."""
    if spec.path is None:
        raise InfraValidationError(f"{spec.name}: the integration test needs a spec loaded from a file")
    from serving.server import registry_loader  # the serving process's own loader, for the in-process reference

    reference_scorer = registry_loader(mlflow, spec)(version)
    sample = _sample_rows(spec, mlflow, version, sample_rows)
    expected = reference_scorer.score_frame(sample)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="infra-validation-") as scratch:
        log_path = Path(scratch) / "server.log"
        command = [
            sys.executable,
            "-m",
            "platform_assets.deployment.infra_validation",
            "--spec",
            str(spec.path),
            "--version",
            version,
            "--port",
            str(port),
            "--lake",
            str(Path(scratch) / "lake"),
            "--alerts",
            str(Path(scratch) / "alerts.jsonl"),
        ]
        command += ["--tracking-uri", mlflow.resolved_tracking_uri()]
        with log_path.open("w") as log:
            # `python -m` from the repository root finds the package whether or not it is installed.
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return _check(spec, version, base, sample, expected, latency_requests, timeout_seconds, process, log_path)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def _check(
    spec: ModelSpec,
    version: str,
    base: str,
    sample: pd.DataFrame,
    expected: np.ndarray,
    latency_requests: int,
    timeout_seconds: float,
    process: subprocess.Popen,
    log_path: Path,
) -> dict[str, Any]:
    def fail(reason: str) -> InfraValidationError:
        tail = log_path.read_text()[-2000:] if log_path.is_file() else ""
        return InfraValidationError(f"{spec.name} version {version} failed the integration test: {reason}\n{tail}")

    deadline = time.monotonic() + timeout_seconds
    while True:
        if process.poll() is not None:
            raise fail(f"the serving process exited with {process.returncode} before it was ready")
        try:
            status, body = _http(f"{base}/readyz", timeout=2)
            if status == 200:
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise fail(f"not ready within {timeout_seconds:.0f} s")
        time.sleep(0.25)

    status, body = _http(f"{base}/predict/batch", _requests(spec, sample, "infra"), timeout=30)
    if status != 200:
        raise fail(f"/predict/batch answered {status}: {json.dumps(body)[:500]}")
    predictions = body["predictions"]
    served = {str(p["model_version"]) for p in predictions}
    if served != {version}:
        raise fail(f"answered by versions {sorted(served)} instead of {version}")
    scores = np.array([np.nan if p["score"] is None else p["score"] for p in predictions], dtype=float)
    mismatch = int(np.sum(~np.isclose(scores, expected, rtol=0, atol=1e-9)))
    if mismatch:
        raise fail(f"{mismatch} of {len(scores)} scores over HTTP differ from the registry model scored in-process")

    first = _requests(spec, sample.head(1), "contract")[0]
    missing = spec.features.names[0]
    del first["features"][missing]
    status, body = _http(f"{base}/predict", first)
    if status != 422 or missing not in json.dumps(body):
        raise fail(f"a request missing feature {missing!r} got {status} instead of a 422 naming it")

    requests = _requests(spec, sample, "latency")[:latency_requests]
    sla = spec.deployment.serving.latency_sla_ms
    rounds: list[list[float]] = []
    for _ in range(LATENCY_ROUNDS):
        latencies = []
        for request in requests:
            started = time.perf_counter()
            status, _ = _http(f"{base}/predict", request)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise fail(f"a single /predict answered {status}")
        rounds.append(latencies)
        miss = latency_verdict(rounds, sla)
        if miss is None:
            break
    if miss is not None:
        raise fail(miss)
    best = min(rounds, key=lambda latencies: np.percentile(latencies, 99))
    return {
        "version": version,
        "rows scored": len(scores),
        "score mismatches": mismatch,
        "contract": f"missing {missing!r} refused with 422",
        "http p50 ms": round(float(np.percentile(best, 50)), 3),
        "http p99 ms": round(float(np.percentile(best, 99)), 3),
        "http p99 ms per round": [round(float(np.percentile(r, 99)), 3) for r in rounds],
        "sla ms": sla,
        "passed": True,
    }


def latency_verdict(rounds: list[list[float]], sla_ms: float) -> str | None:
    """None when one round's p99 (milliseconds per single request) meets the SLA, else why not."""
    p99s = [float(np.percentile(latencies, 99)) for latencies in rounds]
    if min(p99s) <= sla_ms:
        return None
    each = ", ".join(f"{p99:.1f}" for p99 in p99s)
    return f"p99 latency over HTTP exceeds the SLA of {sla_ms} ms in each of {len(p99s)} rounds ({each} ms)"


def _serve_pinned(args: argparse.Namespace) -> None:
    """The child: serve exactly one registry version as champion, logging to a scratch lake."""
    import uvicorn

    from resources.alerting import AlertingResource
    from serving.app import create_app
    from serving.prediction_log import PredictionLogWriter
    from serving.roles import Roles, ServingDefaults
    from serving.router import Router
    from serving.server import registry_loader

    spec = load_spec(args.spec)
    mlflow = MlflowResource(tracking_uri=args.tracking_uri)
    defaults = ServingDefaults.from_spec(spec)
    roles = Roles(
        champion=args.version,
        canary=None,
        shadow=None,
        canary_weight=0.0,
        shadow_sample_rate=0.0,
        ab_salt=defaults.ab_salt,
    )
    router = Router(
        spec,
        loader=registry_loader(mlflow, spec),
        roles_source=lambda: roles,
        log=PredictionLogWriter.from_spec(spec, args.lake),
        alerts=AlertingResource(log_path=args.alerts),
    )
    router.refresh()
    try:
        uvicorn.run(create_app(spec, router), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    finally:
        router.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve one registry version for its integration test")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--alerts", required=True)
    parser.add_argument("--tracking-uri", required=True)
    _serve_pinned(parser.parse_args())
