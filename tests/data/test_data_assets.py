"""The data assets through `dg.materialize` on a temporary lake and a real Dagster instance."""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.definitions import build_model_definitions
from platform_assets.keys import FEATURES, LABELS, QUARANTINE, RAW_BATCH, REFERENCE_STATISTICS, VALIDATED_BATCH
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.source import DataSourceResource, ScenarioConfig
from tests.conftest import day, platform_resources

pytestmark = pytest.mark.data_validation

DAY = day(4)
DATA_PLANE = [f"delivery_delay/{name}" for name in (RAW_BATCH, VALIDATED_BATCH, FEATURES)]


def _land(spec: ModelSpec, resources: dict, partition: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(build_model_definitions(spec).assets),
        selection=DATA_PLANE,
        partition_key=partition,
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )


def _corrupt(*corruptions: str) -> DataSourceResource:
    scenario = ScenarioConfig(kind="corrupt_batch", start=DAY, end=DAY, corruptions=list(corruptions))
    return DataSourceResource(today="2026-03-01", rows_per_day=800, scenarios=[scenario])


def test_a_clean_batch_lands_validates_and_becomes_features(
    spec: ModelSpec, resources: dict, lake: LakeResource
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = _land(spec, resources, DAY, instance)
        assert result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {
            "schema": True,
            "not_null": True,
            "ranges": True,
            "allowed_values": True,
            "uniqueness": True,
            "null_fraction": True,
            "distribution_shift": True,
            "feature_contract": True,
        }
        validated = result.asset_materializations_for_node("delivery_delay__validated_batch")[0]
        assert validated.metadata["status"].value == "accepted"
    assert len(lake.read_partition("delivery_delay", VALIDATED_BATCH, DAY)) == 800
    features = lake.read_partition("delivery_delay", FEATURES, DAY)
    assert list(features.columns) == ["tracking_id", "event_time", *spec.features.names]
    assert len(features) == 800


@pytest.mark.parametrize(
    ("corruption", "check"),
    [
        ("null_ids", "not_null"),
        ("out_of_range_weights", "ranges"),
        ("unknown_carriers", "allowed_values"),
        ("duplicate_ids", "uniqueness"),
        ("missing_column", "schema"),
        ("extra_column", "schema"),
        ("wrong_types", "schema"),
        ("excess_weather_nulls", "null_fraction"),
    ],
)
def test_a_corrupt_batch_is_quarantined_and_stops_the_features(
    spec: ModelSpec, lake: LakeResource, corruption: str, check: str
) -> None:
    resources = platform_resources(lake, _corrupt(corruption))
    with dg.DagsterInstance.ephemeral() as instance:
        result = _land(spec, resources, DAY, instance)
        evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert not evaluation[check].passed
        assert evaluation[check].metadata["failures"].value > 0
        assert "failure cases (sample)" in evaluation[check].metadata
        # The blocking check stopped the features step in the same run.
        assert "feature_contract" not in evaluation
        assert not result.asset_materializations_for_node("delivery_delay__features")
        validated = result.asset_materializations_for_node("delivery_delay__validated_batch")[0]
        assert validated.metadata["status"].value == "quarantined"
        assert check in validated.metadata["failed checks"].value
    # Nothing is lost: the raw batch is where it landed, a copy waits in quarantine, nothing downstream.
    assert lake.has_partition("delivery_delay", RAW_BATCH, DAY)
    assert lake.has_partition("delivery_delay", QUARANTINE, DAY)
    assert not lake.has_partition("delivery_delay", VALIDATED_BATCH, DAY)
    assert not lake.has_partition("delivery_delay", FEATURES, DAY)


def test_a_corrupt_relanding_keeps_the_previous_good_partition(spec: ModelSpec, lake: LakeResource) -> None:
    good = platform_resources(lake, DataSourceResource(rows_per_day=800))
    with dg.DagsterInstance.ephemeral() as instance:
        assert _land(spec, good, DAY, instance).success
        before = lake.read_partition("delivery_delay", FEATURES, DAY)
        _land(spec, platform_resources(lake, _corrupt("unknown_carriers")), DAY, instance)
        assert lake.read_partition("delivery_delay", FEATURES, DAY).equals(before)
        assert len(lake.read_partition("delivery_delay", VALIDATED_BATCH, DAY)) == 800
        assert "XXX" not in set(lake.read_partition("delivery_delay", VALIDATED_BATCH, DAY)["carrier_code"])
        # A corrected batch is accepted again and the quarantined copy goes away.
        assert _land(spec, good, DAY, instance).success
    assert not lake.has_partition("delivery_delay", QUARANTINE, DAY)


def test_reference_statistics_feed_the_shift_check(spec: ModelSpec, resources: dict, lake: LakeResource) -> None:
    assets = list(build_model_definitions(spec).assets)
    with dg.DagsterInstance.ephemeral() as instance:
        for offset in range(3):
            assert _land(spec, resources, day(offset), instance).success
        result = dg.materialize(
            assets, selection=[f"delivery_delay/{REFERENCE_STATISTICS}"], resources=resources, instance=instance
        )
        metadata = result.asset_materializations_for_node("delivery_delay__reference_statistics")[0].metadata
        assert metadata["partitions used"].value == 3
        assert metadata["dagster/row_count"].value == 2_400
        stats = lake.read_json("delivery_delay", REFERENCE_STATISTICS, "reference_statistics.json")
        assert stats["window"]["partitions"] == [day(0), day(1), day(2)]
        assert len(stats["columns"]["distance_km"]["quantiles"]) == 9
        assert abs(sum(stats["columns"]["carrier_code"]["frequencies"].values()) - 1) < 1e-9
        # With a reference in place the shift check now judges new batches.
        result = _land(spec, resources, DAY, instance)
        shift = {e.check_name: e for e in result.get_asset_check_evaluations()}["distribution_shift"]
        assert shift.passed and "within 3" in shift.metadata["summary"].value


def test_reference_statistics_refuse_an_empty_window(spec: ModelSpec, resources: dict) -> None:
    result = dg.materialize(
        list(build_model_definitions(spec).assets),
        selection=[f"delivery_delay/{REFERENCE_STATISTICS}"],
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "no features in the reference window 2026-01-01..2026-01-14" in failure.message


def test_labels_arrive_after_their_delay_only(spec: ModelSpec, lake: LakeResource) -> None:
    assets = list(build_model_definitions(spec).assets)
    early = platform_resources(lake, DataSourceResource(today=day(5), rows_per_day=300))
    result = dg.materialize(
        assets, selection=[f"delivery_delay/{LABELS}"], partition_key=day(4), resources=early, raise_on_error=False
    )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "LabelsNotReadyError" in error.cause.cls_name
    assert "labels for events of 2026-01-05 arrive on 2026-01-07" in error.cause.message
    assert not lake.has_partition("delivery_delay", LABELS, day(4))
    on_time = platform_resources(lake, DataSourceResource(today=day(6), rows_per_day=300))
    result = dg.materialize(assets, selection=[f"delivery_delay/{LABELS}"], partition_key=day(4), resources=on_time)
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {"label_contract": True}
    assert lake.read_partition("delivery_delay", LABELS, day(4))["is_delayed"].isin([0, 1]).all()
