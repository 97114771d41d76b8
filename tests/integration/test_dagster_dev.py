"""The real `dagster dev`: webserver and daemon on loopback, automation running by itself.

The test lands one batch with the `dagster` CLI against the same instance, then only watches: the
daemon's automation sensor must validate the batch and build its features without being asked.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"
ASSETS = ("raw_batch", "validated_batch", "features", "labels", "reference_statistics")
PARTITION = "2026-01-05"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class DevServer:
    port: int
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen
    log: Path

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dagster dev exited ({self.process.returncode}) waiting for {what}:\n{self.tail()}")
            try:
                value = probe()
                if value:
                    return value
            except Exception as error:  # the server is still starting
                last_error = error
            time.sleep(2)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error}):\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text()[-4000:]


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DevServer]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    shutil.copy(ROOT / "workspace.yaml", tmp_path / "workspace.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "true"}
    port = _free_port()
    log = tmp_path / "dagster_dev.log"
    with log.open("w") as out:
        # A new session, so the whole process group (webserver, daemon, code servers) stops by PID.
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DevServer(port, tmp_path, env, process, log)
    try:
        server.wait_for("the webserver", lambda: _graphql(port, "{ version }"), 120)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _asset_keys(port: int) -> set[str]:
    data = _graphql(port, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
    return {"/".join(node["assetKey"]["path"]) for node in data}


MATERIALIZATIONS = """
query ($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) { ... on Asset { assetMaterializations(limit: 20) { partition runId } } }
}
"""


def _materialized_partitions(port: int, name: str) -> set[str]:
    asset = _graphql(port, MATERIALIZATIONS, {"path": [MODEL, name]})["data"]["assetOrError"]
    return {event["partition"] for event in asset.get("assetMaterializations", [])}


def test_dagster_dev_loads_every_asset_and_automation_runs_by_itself(dagster_dev: DevServer) -> None:
    server = dagster_dev
    expected = {f"{MODEL}/{name}" for name in ASSETS}
    server.wait_for("every asset in the code location", lambda: expected <= _asset_keys(server.port), 90)

    # Land one batch against the same instance, as the ingest schedule would.
    landed = subprocess.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "platform_assets.definitions",
            "--select",
            f"{MODEL}/raw_batch",
            "--partition",
            PARTITION,
        ],
        cwd=server.workdir,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert landed.returncode == 0, landed.stderr[-4000:]
    assert PARTITION in _materialized_partitions(server.port, "raw_batch")

    # Nobody asks for validation or features: the daemon's automation sensor must.
    server.wait_for(
        "validated_batch and features materialized by automation",
        lambda: (
            PARTITION in _materialized_partitions(server.port, "validated_batch")
            and PARTITION in _materialized_partitions(server.port, "features")
        ),
        240,
    )
    assert (server.workdir / "var" / "lake" / MODEL / "features" / f"date={PARTITION}" / "data.parquet").is_file()
