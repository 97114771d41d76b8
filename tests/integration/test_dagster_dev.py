"""The real `dagster dev` on the shipped workspace: webserver and daemon on loopback, the live demo running by itself.

Nobody lands anything and nobody clicks: the demo feed's first tick lands the warm-up days through the ingest job,
and the daemon's automation sensor must validate them and build their features without being asked. The test only
watches, through GraphQL and the lake.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.devserver import DevServer, graphql, running_dagster_dev

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"
ASSETS = ("raw_batch", "validated_batch", "features", "labels", "reference_statistics")
FEED = f"{MODEL}_demo_feed"
# The shipped spec's first event day: the feed's first tick lands it first.
PARTITION = "2026-01-01"


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DevServer]:
    workspace = (ROOT / "workspace.yaml").read_text(encoding="utf-8")
    # The feed is on by default for the shipped spec; the test helper starts it stopped unless asked, as here.
    with running_dagster_dev(tmp_path, workspace, env={"MLPLATFORM_DEMO_FEED": "1"}) as server:
        yield server


def _asset_keys(port: int) -> set[str]:
    data = graphql(port, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
    return {"/".join(node["assetKey"]["path"]) for node in data}


MATERIALIZATIONS = """
query ($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) { ... on Asset { assetMaterializations(limit: 50) { partition runId } } }
}
"""

RUNS = """
query ($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    ... on Runs { results { runId status jobName tags { key value } } }
  }
}
"""

RUN_TAGS = """
query ($runId: ID!) { runOrError(runId: $runId) { ... on Run { tags { key value } } } }
"""


def _materializations(port: int, name: str) -> dict[str, str]:
    """Partition -> run id of the asset's latest materializations."""
    asset = graphql(port, MATERIALIZATIONS, {"path": [MODEL, name]})["data"]["assetOrError"]
    return {event["partition"]: event["runId"] for event in reversed(asset.get("assetMaterializations", []))}


def _tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def _feed_ingest_runs(port: int) -> list[dict]:
    runs = graphql(port, RUNS, {"key": "trigger", "value": "demo_feed"})["data"]["runsOrError"]["results"]
    return [run for run in runs if run["jobName"] == f"{MODEL}_ingest"]


def test_dagster_dev_runs_the_demo_feed_and_automation_by_itself(dagster_dev: DevServer) -> None:
    server = dagster_dev
    expected = {f"{MODEL}/{name}" for name in ASSETS}
    server.wait_for("every asset in the code location", lambda: expected <= _asset_keys(server.port), 90)

    # The feed's first tick: one ingest run per warm-up day, each tagged with the demo's trigger and its day.
    runs = server.wait_for("the demo feed's ingest runs", lambda: _feed_ingest_runs(server.port), 240)
    landing = {_tags(run)["dagster/partition"]: _tags(run) for run in runs}
    assert PARTITION in landing, sorted(landing)
    tags = landing[PARTITION]
    assert tags["dagster/sensor_name"] == FEED, tags
    assert tags["dagster/run_key"] == f"{MODEL}:demo:ingest:{PARTITION}", tags
    assert tags["reason"] == f"the demo feed landed simulated day {PARTITION}", tags

    # Nobody asks for validation or features: the daemon's automation sensor must. It takes a few of its 30-second
    # ticks, and each requested run waits for the queue and a fresh process; on a loaded 2-core machine (CI) over
    # four minutes in all.
    server.wait_for(
        "validated_batch and features of the first day materialized by automation",
        lambda: (
            PARTITION in _materializations(server.port, "validated_batch")
            and PARTITION in _materializations(server.port, "features")
        ),
        480,
    )
    features_run = _materializations(server.port, "features")[PARTITION]
    run = graphql(server.port, RUN_TAGS, {"runId": features_run})["data"]["runOrError"]
    assert _tags(run).get("dagster/sensor_name") == f"{MODEL}_automation", _tags(run)
    assert (server.workdir / "var" / "lake" / MODEL / "features" / f"date={PARTITION}" / "data.parquet").is_file()
