"""The real `dagster dev`: webserver and daemon on loopback, automation running by itself.

The test lands one batch with the `dagster` CLI against the same instance, then only watches: the
daemon's automation sensor must validate the batch and build its features without being asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.devserver import DevServer, dagster_cli, graphql, running_dagster_dev

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"
ASSETS = ("raw_batch", "validated_batch", "features", "labels", "reference_statistics")
PARTITION = "2026-01-05"


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DevServer]:
    with running_dagster_dev(tmp_path, (ROOT / "workspace.yaml").read_text(encoding="utf-8")) as server:
        yield server


def _asset_keys(port: int) -> set[str]:
    data = graphql(port, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
    return {"/".join(node["assetKey"]["path"]) for node in data}


MATERIALIZATIONS = """
query ($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) { ... on Asset { assetMaterializations(limit: 20) { partition runId } } }
}
"""


def _materialized_partitions(port: int, name: str) -> set[str]:
    asset = graphql(port, MATERIALIZATIONS, {"path": [MODEL, name]})["data"]["assetOrError"]
    return {event["partition"] for event in asset.get("assetMaterializations", [])}


def test_dagster_dev_loads_every_asset_and_automation_runs_by_itself(dagster_dev: DevServer) -> None:
    server = dagster_dev
    expected = {f"{MODEL}/{name}" for name in ASSETS}
    server.wait_for("every asset in the code location", lambda: expected <= _asset_keys(server.port), 90)

    # Land one batch against the same instance, as the ingest schedule would.
    landed = dagster_cli(
        server,
        "asset",
        "materialize",
        "-m",
        "platform_assets.definitions",
        "--select",
        f"{MODEL}/raw_batch",
        "--partition",
        PARTITION,
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
