"""A real `dagster dev` (webserver and daemon on loopback) started by a test, and GraphQL to watch it.

Started from Python in a new session, so the whole process group (webserver, daemon, code servers) stops by PID;
see shared/STACK.md for why `cmd &` from a shell would not stop.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["DevServer", "dagster_cli", "dagster_home", "free_port", "graphql", "running_dagster_dev"]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict:
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


def dagster_home(workdir: Path) -> Path:
    """`workdir/dagster_home` with the project's dagster.yaml (a test may use the instance before the server)."""
    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


@contextlib.contextmanager
def running_dagster_dev(workdir: Path, workspace: str, env: dict[str, str] | None = None) -> Iterator[DevServer]:
    """`dagster dev` on `workspace` (YAML text) in `workdir`, with its own DAGSTER_HOME under it.

    The demo feed is paused (MLPLATFORM_DEMO_FEED=0) unless `env` turns it on: a test that lands its own data
    (or derives its spec from the shipped one, which asks for the demo) must not share the machine with the feed.
    """
    home = dagster_home(workdir)
    (workdir / "workspace.yaml").write_text(workspace, encoding="utf-8")
    env = {
        **os.environ,
        "MLPLATFORM_DEMO_FEED": "0",
        **(env or {}),
        "DAGSTER_HOME": str(home),
        "DO_NOT_TRACK": "true",
    }
    port = free_port()
    log = workdir / "dagster_dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DevServer(port, workdir, env, process, log)
    try:
        server.wait_for("the webserver", lambda: graphql(port, "{ version }"), 120)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def dagster_cli(server: DevServer, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The `dagster` CLI against the server's instance and working directory."""
    return subprocess.run(
        [str(BIN / "dagster"), *args],
        cwd=server.workdir,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
