"""Schedules, the reference sensor and the automation conditions, each on a real instance."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions, build_model_definitions
from platform_assets.keys import asset_key
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.source import DataSourceResource, ScenarioConfig
from sensors.reference import reference_decision
from sensors.schedules import labels_partition_due
from tests.conftest import day, platform_resources

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("tick", "delay", "expected"),
    [
        (dt.date(2026, 1, 10), 2, dt.date(2026, 1, 8)),
        (dt.date(2026, 1, 10), 0, dt.date(2026, 1, 9)),
        (dt.date(2026, 1, 2), 2, None),
    ],
)
def test_labels_partition_due(tick: dt.date, delay: int, expected: dt.date | None) -> None:
    assert labels_partition_due(tick, delay, dt.date(2026, 1, 1)) == expected


def _schedule(spec: ModelSpec, name: str) -> tuple[dg.ScheduleDefinition, dg.RepositoryDefinition]:
    repository = build_definitions([spec]).get_repository_def()
    return repository.get_schedule_def(f"{spec.name}_{name}"), repository


def _tick(instance: dg.DagsterInstance, repository: dg.RepositoryDefinition, when: dt.datetime):
    return dg.build_schedule_context(instance, scheduled_execution_time=when, repository_def=repository)


def test_ingest_schedule_lands_yesterday_with_tags(spec: ModelSpec) -> None:
    schedule, repository = _schedule(spec, "ingest_schedule")
    assert schedule.cron_schedule == "30 0 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.DagsterInstance.ephemeral() as instance:
        context = _tick(instance, repository, dt.datetime(2026, 1, 10, 0, 30, tzinfo=dt.UTC))
        request = schedule.evaluate_tick(context).run_requests[0]
        assert request.partition_key == "2026-01-09"
        assert request.run_key == "delivery_delay:ingest:2026-01-09"
        assert request.tags["trigger"] == "schedule" and "2026-01-09" in request.tags["reason"]
        early = _tick(instance, repository, dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.UTC))
        assert "no event days before 2026-01-01" in schedule.evaluate_tick(early).skip_message


def test_labels_schedule_fetches_the_day_whose_delay_ended(spec: ModelSpec) -> None:
    schedule, repository = _schedule(spec, "labels_schedule")
    with dg.DagsterInstance.ephemeral() as instance:
        context = _tick(instance, repository, dt.datetime(2026, 1, 10, 0, 30, tzinfo=dt.UTC))
        request = schedule.evaluate_tick(context).run_requests[0]
    assert (request.partition_key, request.run_key) == ("2026-01-08", "delivery_delay:labels:2026-01-08")
    assert request.tags["trigger"] == "schedule"


def test_reference_decision() -> None:
    window = ["2026-01-01", "2026-01-02"]
    assert reference_decision(window, {"2026-01-01"}, None) == (
        False,
        "waiting for 1 of 2 reference days to be validated (next: 2026-01-02)",
    )
    assert reference_decision(window, set(window), None) == (True, "reference window 2026-01-01..2026-01-02 has landed")
    assert reference_decision(window, set(window), "2026-01-01..2026-01-02")[0] is False


def test_reference_sensor_requests_once_when_the_window_is_validated(small_spec: ModelSpec, lake: LakeResource) -> None:
    resources = platform_resources(lake, DataSourceResource(rows_per_day=200))
    repository = build_definitions([small_spec], resources=resources).get_repository_def()
    sensor = repository.get_sensor_def("parcel_small_reference_sensor")
    assets = list(build_model_definitions(small_spec).assets)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance)
        skip = sensor(context)
        assert isinstance(skip, dg.SkipReason) and "waiting for 2 of 2" in skip.skip_message
        for key in ("2026-02-01", "2026-02-02"):
            dg.materialize(
                assets,
                selection=["parcel_small/raw_batch", "parcel_small/validated_batch"],
                partition_key=key,
                resources=resources,
                instance=instance,
            )
        result = sensor(dg.build_sensor_context(instance=instance))
        request = result.run_requests[0]
        assert request.run_key == "parcel_small:reference:2026-02-01..2026-02-02"
        assert request.asset_selection == [asset_key("parcel_small", "reference_statistics")]
        assert request.tags["trigger"] == "reference_window"
        assert result.cursor == "2026-02-01..2026-02-02"
        again = sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
        assert isinstance(again, dg.SkipReason) and "already requested" in again.skip_message


def _requested(result: dg.EvaluateAutomationConditionsResult, key: dg.AssetKey) -> set[str]:
    return {partition for partition in result.get_requested_partitions(key)}


def test_automation_flows_a_landed_day_through_validation_and_features(spec: ModelSpec, resources: dict) -> None:
    defs = build_definitions([spec], resources=resources)
    raw, validated, features = (asset_key("delivery_delay", n) for n in ("raw_batch", "validated_batch", "features"))
    assets = list(build_model_definitions(spec).assets)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert result.total_requested == 0, "nothing landed, nothing to do"
        # A past day lands (not the latest partition: eager() would ignore it).
        dg.materialize(
            assets, selection=["delivery_delay/raw_batch"], partition_key=day(3), resources=resources, instance=instance
        )
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert _requested(result, validated) == {day(3)}
        assert _requested(result, features) == set()
        dg.materialize(
            assets,
            selection=["delivery_delay/validated_batch"],
            partition_key=day(3),
            resources=resources,
            instance=instance,
        )
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert _requested(result, features) == {day(3)}
        assert _requested(result, validated) == set(), "handled once, not again"
        assert _requested(result, raw) == set(), "landing is the schedule's job, not automation's"


@pytest.mark.parametrize(("corruptions", "expected"), [([], {day(3)}), (["unknown_carriers"], set())])
def test_automation_holds_features_back_after_a_failed_check(
    spec: ModelSpec, lake: LakeResource, corruptions: list[str], expected: set[str]
) -> None:
    scenarios = [ScenarioConfig(kind="corrupt_batch", start=day(3), end=day(3), corruptions=corruptions)]
    source = DataSourceResource(rows_per_day=500, scenarios=scenarios if corruptions else [])
    resources = platform_resources(lake, source)
    defs = build_definitions([spec], resources=resources)
    assets = list(build_model_definitions(spec).assets)
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        dg.materialize(
            assets,
            selection=["delivery_delay/raw_batch", "delivery_delay/validated_batch"],
            partition_key=day(3),
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        assert _requested(result, asset_key("delivery_delay", "features")) == expected


def test_monitoring_reports_follow_features_and_late_labels(spec: ModelSpec, resources: dict) -> None:
    defs = build_definitions([spec], resources=resources)
    drift, performance = (asset_key("delivery_delay", n) for n in ("drift_report", "performance_report"))
    assets = list(build_model_definitions(spec).assets)

    def land(*names: str) -> None:
        dg.materialize(
            assets,
            selection=[f"delivery_delay/{name}" for name in names],
            partition_key=day(3),
            resources=resources,
            instance=instance,
        )

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        land("raw_batch", "validated_batch", "features", "labels")
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert _requested(result, drift) == {day(3)}, "a day's features bring its drift report"
        assert _requested(result, performance) == {day(3)}, "a day's labels bring its performance report"
        land("drift_report", "performance_report")
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert _requested(result, drift) == _requested(result, performance) == set(), "handled once"
        # The labels of that day land again (late or corrected): the performance report follows, the drift report not.
        land("labels")
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert _requested(result, performance) == {day(3)}
        assert _requested(result, drift) == set()
