"""The closed loop with the real daemon: a drifted batch lands, and a retraining run starts by itself.

The reference window is landed in-process on the same Dagster instance first (the daemon would take minutes to
ingest it day by day). Then `dagster dev` runs the location and the test lands ONE shifted batch with the CLI, as
the ingest schedule would, and only watches: the automation sensor validates the batch, builds its features and
its drift report, and the drift sensor requests a retraining run tagged `trigger=data_drift`.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml

from platform_assets.definitions import build_definitions
from platform_assets.keys import REFERENCE_STATISTICS
from platform_assets.spec import load_spec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource, ScenarioConfig
from tests.conftest import SHIPPED_SPEC, day
from tests.integration.devserver import dagster_cli, dagster_home, graphql, running_dagster_dev

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"
REFERENCE_DAYS = 5
SHIFT = day(9)
ROWS = 1_200

RUNS = """
query ($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    ... on Runs { results { runId status jobName tags { key value } } }
  }
}
"""


def _spec_file(path: Path) -> Path:
    raw = yaml.safe_load(SHIPPED_SPEC.read_text(encoding="utf-8"))
    raw["reference"] = {"days": REFERENCE_DAYS}
    raw["triggers"] = {**raw.get("triggers", {}), "automation_interval_seconds": 5}
    raw["monitoring"] = {**raw["monitoring"], "monitor_interval_seconds": 5}
    raw["monitoring"]["drift"] = {**raw["monitoring"]["drift"], "evidently_sample_rows": 500}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _seed(workdir: Path, spec_path: Path, home: Path) -> None:
    """The reference window, validated and featurized, and its reference statistics, on the server's instance."""
    spec = load_spec(spec_path)
    resources = {
        "lake": LakeResource(root=str(workdir / "var" / "lake")),
        "source": DataSourceResource(
            today="2026-03-01", rows_per_day=ROWS, scenarios=[ScenarioConfig(kind="sudden_shift", start=SHIFT)]
        ),
        "mlflow": MlflowResource(root=str(workdir / "var" / "mlflow")),
        "alerts": AlertingResource(log_path=str(workdir / "var" / "alerts.jsonl")),
    }
    assets = list(build_definitions([spec], resources).assets)
    selection = [f"{MODEL}/{name}" for name in ("raw_batch", "validated_batch", "features", "labels")]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for offset in range(REFERENCE_DAYS):
            dg.materialize(
                assets, selection=selection, partition_key=day(offset), resources=resources, instance=instance
            )
        dg.materialize(assets, selection=[f"{MODEL}/{REFERENCE_STATISTICS}"], resources=resources, instance=instance)


def test_a_drifted_batch_starts_a_retraining_run_by_itself(tmp_path: Path) -> None:
    spec_path = _spec_file(tmp_path / "drifting.yaml")
    env = {
        "MLPLATFORM_TEST_SPEC": str(spec_path),
        "MLPLATFORM_TEST_SHIFT": SHIFT,
        "MLPLATFORM_TEST_ROWS": str(ROWS),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    workspace = "load_from:\n  - python_module: tests.integration.drift_location\n"
    _seed(tmp_path, spec_path, dagster_home(tmp_path))

    with running_dagster_dev(tmp_path, workspace, env) as server:
        landed = dagster_cli(
            server,
            "asset",
            "materialize",
            "-m",
            "tests.integration.drift_location",
            "--select",
            f"{MODEL}/raw_batch",
            "--partition",
            SHIFT,
        )
        assert landed.returncode == 0, landed.stderr[-4000:]
        runs = server.wait_for(
            "a retraining run started by the drift sensor",
            lambda: graphql(server.port, RUNS, {"key": "trigger", "value": "data_drift"})["data"]["runsOrError"][
                "results"
            ],
            420,
        )
    [run] = runs
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert run["jobName"] == f"{MODEL}_retrain"
    assert tags["dagster/sensor_name"] == f"{MODEL}_drift_sensor"
    assert tags["dagster/run_key"] == f"{MODEL}:drift:{SHIFT}"
    assert SHIFT in tags["reason"] and "PSI" in tags["reason"], tags["reason"]
