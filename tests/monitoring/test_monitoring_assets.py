"""The monitoring assets on real data: reference profile, drift report, performance report.

Days are landed with the platform's own data assets from the synthetic feed, a sudden shift is imposed from
day 8, and the reports are materialized with `dg.materialize` against a real lake and a real SQLite MLflow.
"""

import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from platform_assets.definitions import build_model_definitions
from platform_assets.keys import DRIFT_REPORT, FEATURES, LABELS, PERFORMANCE_REPORT, REFERENCE_STATISTICS
from platform_assets.monitoring.assets import report_name
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.source import DataSourceResource, ScenarioConfig
from serving.prediction_log import PredictionLogWriter
from tests.conftest import day, platform_resources

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"
REFERENCE_DAYS = 5
SHIFT_DAY = 8
ROWS = 1_200


@pytest.fixture(scope="module")
def monitored_spec(spec: ModelSpec) -> ModelSpec:
    reference = spec.reference.model_copy(update={"days": REFERENCE_DAYS})
    drift = spec.monitoring.drift.model_copy(update={"evidently_sample_rows": 500})
    performance = spec.monitoring.performance.model_copy(update={"window_days": 3, "min_labelled": 100})
    monitoring = spec.monitoring.model_copy(update={"drift": drift, "performance": performance})
    return spec.model_copy(update={"reference": reference, "monitoring": monitoring})


def _source() -> DataSourceResource:
    return DataSourceResource(
        today="2026-03-01", rows_per_day=ROWS, scenarios=[ScenarioConfig(kind="sudden_shift", start=day(SHIFT_DAY))]
    )


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory, monitored_spec: ModelSpec) -> Path:
    """The reference days, a normal day and a shifted day, with labels, landed once for the module."""
    root = tmp_path_factory.mktemp("monitored")
    resources = platform_resources(LakeResource(root=str(root / "lake")), _source())
    assets = list(build_model_definitions(monitored_spec).assets)
    selection = [f"{MODEL}/{name}" for name in ("raw_batch", "validated_batch", "features", "labels")]
    with dg.DagsterInstance.ephemeral() as instance:
        for offset in [*range(REFERENCE_DAYS), REFERENCE_DAYS, SHIFT_DAY]:
            dg.materialize(
                assets, selection=selection, partition_key=day(offset), resources=resources, instance=instance
            )
    return root


@pytest.fixture
def env(tmp_path: Path, landed: Path) -> dict[str, object]:
    shutil.copytree(landed / "lake", tmp_path / "lake")
    return platform_resources(LakeResource(root=str(tmp_path / "lake")), _source())


def _materialize(
    spec: ModelSpec, env: dict, names: list[str], partition: str | None = None
) -> dg.ExecuteInProcessResult:
    assets = list(build_model_definitions(spec).assets)
    return dg.materialize(
        assets, selection=[f"{MODEL}/{name}" for name in names], partition_key=partition, resources=env
    )


def _metadata(result: dg.ExecuteInProcessResult, name: str) -> dict[str, object]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == name]
    materialization = event.event_specific_data.materialization
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


def test_drift_report_flags_the_shifted_day_and_not_a_normal_one(monitored_spec: ModelSpec, env: dict) -> None:
    lake: LakeResource = env["lake"]
    # Without a reference, a day's drift is reported as not judged, never as an alarm.
    early = _materialize(monitored_spec, env, [DRIFT_REPORT], day(REFERENCE_DAYS))
    assert _metadata(early, DRIFT_REPORT)["drifted"] is False
    assert lake.read_json(MODEL, DRIFT_REPORT, report_name(day(REFERENCE_DAYS)))["judged"] is False

    built = _materialize(monitored_spec, env, [REFERENCE_STATISTICS])
    reference = lake.read_json(MODEL, REFERENCE_STATISTICS, "reference_statistics.json")
    assert reference["profile"]["window"] == [day(offset) for offset in range(REFERENCE_DAYS)]
    assert set(reference["profile"]["columns"]) == set(monitored_spec.features.names)
    assert _metadata(built, REFERENCE_STATISTICS)["scores of champion"].startswith("none")

    normal = _materialize(monitored_spec, env, [DRIFT_REPORT], day(REFERENCE_DAYS))
    normal_doc = lake.read_json(MODEL, DRIFT_REPORT, report_name(day(REFERENCE_DAYS)))
    assert normal_doc["judged"] is True
    assert _metadata(normal, DRIFT_REPORT)["drifted"] is False, normal_doc
    assert str(_metadata(normal, DRIFT_REPORT)["evidently report"]).startswith("none (on_drift"), "HTML on drift only"

    shifted = _materialize(monitored_spec, env, [DRIFT_REPORT], day(SHIFT_DAY))
    metadata = _metadata(shifted, DRIFT_REPORT)
    document = lake.read_json(MODEL, DRIFT_REPORT, report_name(day(SHIFT_DAY)))
    assert metadata["drifted"] is True, document
    drifted = {c["column"] for c in document["columns"] if c["critical"] and c["verdict"] == "drift"}
    assert drifted and drifted <= set(monitored_spec.features.critical)
    for column in document["columns"]:
        if column["verdict"] == "drift":
            assert column["psi"] > column["threshold"] and column["psi"] > column["critical_value"]
    assert "no reference scores" in document["output"]
    html = Path(str(metadata["evidently report"]))
    assert html.is_file() and "<html" in html.read_text(encoding="utf-8")[:5000].lower()


def _log_predictions(spec: ModelSpec, lake: LakeResource, days: list[str], quality: dict[str, float]) -> None:
    """Champion and canary traffic for `days`: each request is a landed parcel; scores track the label by role."""
    rng = np.random.default_rng(3)
    writer = PredictionLogWriter.from_spec(spec, lake.root, start=False)
    for event_day in days:
        features = lake.read_partition(MODEL, FEATURES, event_day)
        labels = lake.read_partition(MODEL, LABELS, event_day).set_index(spec.source.entity_id_column)
        for _, row in features.iterrows():
            role = "canary" if rng.random() < 0.3 else "champion"
            truth = float(labels.loc[row["tracking_id"], spec.source.label_column])
            noise = rng.normal(0, quality[role])
            writer.log(
                {
                    "request_id": row["tracking_id"],
                    "unit_id": f"unit-{rng.integers(1000)}",
                    "event_time": row["event_time"],
                    "model_name": MODEL,
                    "model_version": "2" if role == "canary" else "1",
                    "role": role,
                    "served": True,
                    **{name: row[name] for name in spec.features.names},
                    "score": float(1 / (1 + np.exp(-(4 * truth - 2 + noise)))),
                    "latency_ms": 2.0,
                    "error": None,
                }
            )
    writer.close()


def test_performance_report_judges_each_role_and_the_ab_difference(monitored_spec: ModelSpec, env: dict) -> None:
    lake: LakeResource = env["lake"]
    days = [day(offset) for offset in range(2, REFERENCE_DAYS)]
    _log_predictions(monitored_spec, lake, days, quality={"champion": 1.0, "canary": 6.0})
    result = _materialize(monitored_spec, env, [PERFORMANCE_REPORT], days[-1])
    metadata = _metadata(result, PERFORMANCE_REPORT)
    document = lake.read_json(MODEL, PERFORMANCE_REPORT, report_name(days[-1]))
    assert document["window"] == [days[0], days[-1]]
    groups = {g["role"]: g for g in document["groups"]}
    assert groups["champion"]["judged"] and groups["canary"]["judged"]
    assert groups["champion"]["auc"] > 0.9 > groups["canary"]["auc"]
    assert metadata["realised auc champion"] == pytest.approx(groups["champion"]["auc"])
    assert document["ab"]["verdict"] == "treatment worse"
    assert document["ab"]["high"] < 0
    assert groups["champion"]["training_auc"] is None  # no registered version 1 in this registry
