"""The code location: loads with an empty environment, matches its snapshot, one pipeline per spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions, build_model_definitions
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.source import DataSourceResource
from tests.conftest import ROOT, platform_resources

pytestmark = pytest.mark.unit

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"

GRAPH_SCRIPT = """
import json
from platform_assets.definitions import defs
d = defs()
graph = d.resolve_asset_graph()
nodes = {}
for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
    node = graph.get(key)
    nodes[key.to_user_string()] = {
        "group": node.group_name,
        "deps": sorted(p.to_user_string() for p in node.parent_keys),
        "checks": sorted(c.name for c in node.check_keys),
        "partitioned": node.partitions_def is not None,
        "automation": node.automation_condition.get_label() if node.automation_condition else None,
        "kinds": sorted(node.kinds),
        "owners": list(node.owners),
        "has_description": bool(node.description),
    }
repo = d.get_repository_def()
print(json.dumps({
    "assets": nodes,
    "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    "schedules": sorted(s.name for s in repo.schedule_defs),
    "sensors": sorted(s.name for s in repo.sensor_defs),
}, indent=2, sort_keys=True))
"""


def _graph_with_empty_environment() -> dict:
    """Load the location the way `dagster dev` does, in a process with no environment variables."""
    result = subprocess.run(
        [sys.executable, "-c", GRAPH_SCRIPT], env={}, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_definitions_load_with_no_environment_and_match_the_snapshot() -> None:
    graph = _graph_with_empty_environment()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(graph, indent=2, sort_keys=True) + "\n")
    assert graph == json.loads(SNAPSHOT.read_text()), (
        "the asset graph changed; if intended, rerun with UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_every_asset_has_description_group_owner_and_kind() -> None:
    for key, node in json.loads(SNAPSHOT.read_text())["assets"].items():
        assert node["has_description"] and node["group"] and node["owners"] and node["kinds"], key


def test_two_specs_make_two_independent_pipelines(
    spec: ModelSpec, small_spec: ModelSpec, lake: LakeResource, tmp_path: Path
) -> None:
    defs = build_definitions(
        [spec, small_spec], resources=platform_resources(lake, DataSourceResource(rows_per_day=100))
    )
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for model in ("delivery_delay", "parcel_small"):
        assert {
            f"{model}/{name}" for name in ("raw_batch", "validated_batch", "features", "labels", "reference_statistics")
        } <= keys
    # No edge crosses from one model to the other.
    for key in graph.get_all_asset_keys():
        assert {parent.path[0] for parent in graph.get(key).parent_keys} <= {key.path[0]}
    repository = defs.get_repository_def()
    assert {"delivery_delay_automation", "parcel_small_automation"} <= {s.name for s in repository.sensor_defs}
    small = repository.get_sensor_def("parcel_small_automation")
    assert small.minimum_interval_seconds == 15
    # Materializing one model writes only under its own name in the lake.
    dg.materialize(
        list(build_model_definitions(small_spec).assets),
        selection=["parcel_small/raw_batch", "parcel_small/validated_batch", "parcel_small/features"],
        partition_key="2026-02-03",
        resources=platform_resources(lake, DataSourceResource(rows_per_day=100)),
    )
    assert sorted(p.name for p in Path(lake.root).iterdir()) == ["parcel_small"]
    assert list(lake.read_partition("parcel_small", "features", "2026-02-03").columns) == [
        "tracking_id",
        "event_time",
        "carrier_code",
        "weight_kg",
        "distance_km",
        "hour_of_day",
    ]
