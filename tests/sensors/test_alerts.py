"""Alert sensors: the plain decisions on their own, then both sensors on real instances.

The sensor tests run on `dg.instance_for_test()`, a SQLite instance with the run-sharded event log
that `dagster dev` uses by default (where storage ids restart in every run), and the check sensor
also on the in-memory ephemeral instance.
"""

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.keys import GATE_DECISION, GATE_PASSED_CHECK, TAG_REASON, TAG_TRIGGER, asset_key
from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource
from sensors.alerts import (
    BLOCKING_CHECK_ERROR,
    StepFailure,
    build_alert_sensors,
    check_failure_alert,
    complete_through,
    concerns_model,
    metadata_summary,
    root_message,
    run_failure_alert,
    run_partition,
)

MODEL = "delivery_delay"
OTHER = "parcel_small"
RUN_ID = "0f3c2a6e-5b1d-4c8e-9a7f-2d4e6b8a1c3e"
RUN_TAGS = {TAG_TRIGGER: "schedule", TAG_REASON: "daily batch of 2026-01-05"}
TAGS = {**RUN_TAGS, "dagster/partition": "2026-01-05"}

unit = pytest.mark.unit
integration = pytest.mark.integration


# Plain decisions -------------------------------------------------------------------------------


@unit
@pytest.mark.parametrize(
    ("job_name", "keys", "expected"),
    [
        ("__ASSET_JOB", [dg.AssetKey([MODEL, "validated_batch"])], True),
        ("__ASSET_JOB", [dg.AssetKey([OTHER, "validated_batch"])], False),
        ("__ASSET_JOB", [dg.AssetKey([OTHER, "x"]), dg.AssetKey([MODEL, "x"])], True),
        # Asset keys decide over the job name: this job belongs to the other model.
        (f"{MODEL}_v2_retrain", [dg.AssetKey([f"{MODEL}_v2", "training_set"])], False),
        (f"{MODEL}_housekeeping", [], True),
        (f"{MODEL}", [], False),
        (f"{OTHER}_housekeeping", [], False),
        ("nightly_cleanup", [], False),
    ],
)
def test_a_run_concerns_the_model_by_its_assets_else_by_its_job_name(
    job_name: str, keys: list[dg.AssetKey], expected: bool
) -> None:
    assert concerns_model(MODEL, job_name, keys) is expected


def _step(key: str, message: str, error_class: str = "DagsterExecutionStepExecutionError") -> StepFailure:
    return StepFailure(step_key=key, error_class=error_class, message=message)


@unit
def test_a_failed_step_alerts_once_with_the_run_the_steps_the_error_and_the_trigger() -> None:
    alert = run_failure_alert(
        MODEL,
        run_id=RUN_ID,
        job_name=f"{MODEL}_retrain",
        tags=TAGS,
        run_error="Execution of run failed. Steps failed: ['delivery_delay__candidate_model'].",
        step_failures=[_step("delivery_delay__candidate_model", "ValueError: no rows in the training window\n")],
    )
    assert alert is not None
    assert alert.severity == "P2"
    assert alert.title == (
        f"{MODEL}_retrain run {RUN_ID} failed in delivery_delay__candidate_model: "
        "ValueError: no rows in the training window"
    )
    assert alert.details["failed_steps"] == [
        {"step": "delivery_delay__candidate_model", "error": "ValueError: no rows in the training window\n"}
    ]
    assert (alert.details["run_id"], alert.details["job_name"]) == (RUN_ID, f"{MODEL}_retrain")
    assert (alert.details["trigger"], alert.details["reason"]) == ("schedule", "daily batch of 2026-01-05")
    assert alert.details["partition"] == "2026-01-05"
    assert alert.details["steps_stopped_by_blocking_checks"] == []


@unit
def test_a_run_stopped_only_by_failed_blocking_checks_is_left_to_the_check_sensor() -> None:
    stopped = _step("delivery_delay__validated_batch", "1 blocking asset check failed", BLOCKING_CHECK_ERROR)
    alone = run_failure_alert(
        MODEL, run_id=RUN_ID, job_name="__ASSET_JOB", tags=TAGS, run_error="failed", step_failures=[stopped]
    )
    assert alone is None
    mixed = run_failure_alert(
        MODEL,
        run_id=RUN_ID,
        job_name="__ASSET_JOB",
        tags=TAGS,
        run_error="failed",
        step_failures=[stopped, _step("delivery_delay__labels", "OSError: the feed is down")],
    )
    assert mixed is not None
    assert "delivery_delay__labels" in mixed.title and "validated_batch" not in mixed.title
    assert mixed.details["steps_stopped_by_blocking_checks"] == ["delivery_delay__validated_batch"]


@unit
def test_a_run_that_failed_outside_any_step_alerts_with_the_run_error_and_missing_tags_as_none() -> None:
    alert = run_failure_alert(
        MODEL,
        run_id=RUN_ID,
        job_name=f"{MODEL}_ingest",
        tags={},
        run_error="DagsterResourceFunctionError: lake root /mnt/lake is not writable\nmore lines",
        step_failures=[],
    )
    assert alert is not None
    assert alert.title.endswith("failed: DagsterResourceFunctionError: lake root /mnt/lake is not writable")
    assert alert.details["failed_steps"] == []
    assert (alert.details["trigger"], alert.details["reason"], alert.details["partition"]) == (None, None, None)


@unit
def test_a_long_error_is_cut_in_the_title_but_kept_whole_in_the_details() -> None:
    message = "RuntimeError: " + "x" * 500
    alert = run_failure_alert(
        MODEL, run_id=RUN_ID, job_name="j", tags={}, run_error="", step_failures=[_step("s", message)]
    )
    assert alert is not None
    assert alert.title.endswith("…") and len(alert.title) < 250
    assert alert.details["failed_steps"][0]["error"] == message


class _Error:
    def __init__(self, message: str, cls_name: str | None = None, cause: "_Error | None" = None) -> None:
        self.message, self.cls_name, self.cause = message, cls_name, cause


@unit
def test_the_root_message_is_the_innermost_cause() -> None:
    wrapped = _Error("DagsterExecutionStepExecutionError: Error in op", "X", _Error("ValueError: boom\n", "ValueError"))
    assert root_message(wrapped) == "ValueError: boom"
    assert root_message(_Error(" plain \n")) == "plain"
    assert root_message(None) == "no error was recorded"


def _evaluation(**changes: object) -> dg.AssetCheckEvaluation:
    fields: dict = {
        "asset_key": asset_key(MODEL, "validated_batch"),
        "check_name": "ranges",
        "passed": False,
        "blocking": True,
        "partition": "2026-01-05",
        "metadata": {"failures": 12, "summary": "12 values outside the spec's ranges"},
    }
    return dg.AssetCheckEvaluation(**(fields | changes))


@unit
def test_a_failed_blocking_data_check_alerts_with_check_asset_partition_run_and_summary() -> None:
    alert = check_failure_alert(MODEL, _evaluation(), run_id=RUN_ID)
    assert alert is not None
    assert alert.severity == "P2"
    assert alert.title == f"blocking check ranges failed on {MODEL}/validated_batch [2026-01-05] in run {RUN_ID}"
    assert alert.details == {
        "check": "ranges",
        "asset": f"{MODEL}/validated_batch",
        "partition": "2026-01-05",
        "run_id": RUN_ID,
        "description": None,
        "metadata": {"failures": 12, "summary": "12 values outside the spec's ranges"},
        "model": MODEL,
    }


@unit
def test_a_failed_gate_is_left_to_the_gate_decision_alert() -> None:
    evaluation = _evaluation(
        asset_key=asset_key(MODEL, GATE_DECISION),
        check_name=GATE_PASSED_CHECK,
        partition=None,
        description="auc_roc below the floor",
        metadata={"failed rules": "min_auc", "reasons": "auc_roc 0.61 < 0.70"},
    )
    # gate_decision alerts itself with the gate's reasons; a second alert for its check would page twice.
    assert check_failure_alert(MODEL, evaluation, run_id=RUN_ID) is None


@unit
@pytest.mark.parametrize(
    "changes",
    [
        {"passed": True},
        {"blocking": False},
        {"blocking": None},  # a runless report blocks nothing
        {"severity": dg.AssetCheckSeverity.WARN},  # a WARN failure does not hold anything back
        {"asset_key": asset_key(OTHER, "validated_batch")},
        {"asset_key": dg.AssetKey([f"{MODEL}_v2", "validated_batch"])},
        {"asset_key": dg.AssetKey(["validated_batch"])},
    ],
    ids=["passed", "not-blocking", "runless", "warn", "other-model", "prefix-lookalike", "unprefixed"],
)
def test_only_failed_blocking_error_checks_of_the_model_alert(changes: dict) -> None:
    assert check_failure_alert(MODEL, _evaluation(), run_id=RUN_ID) is not None
    assert check_failure_alert(MODEL, _evaluation(**changes), run_id=RUN_ID) is None


@unit
def test_the_partition_comes_from_the_run_when_the_evaluation_has_none() -> None:
    unmarked = _evaluation(partition=None)
    alert = check_failure_alert(MODEL, unmarked, run_id=RUN_ID, run_tags={"dagster/partition": "2026-01-07"})
    assert alert is not None and "[2026-01-07]" in alert.title and alert.details["partition"] == "2026-01-07"
    marked = check_failure_alert(MODEL, _evaluation(), run_id=RUN_ID, run_tags={"dagster/partition": "2026-01-07"})
    assert marked is not None and marked.details["partition"] == "2026-01-05", "the evaluation's own partition wins"
    bare = check_failure_alert(MODEL, unmarked, run_id=RUN_ID)
    assert bare is not None and "[" not in bare.title and bare.details["partition"] is None


@unit
@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"dagster/partition": "2026-01-05"}, "2026-01-05"),
        (
            {"dagster/asset_partition_range_start": "2026-01-01", "dagster/asset_partition_range_end": "2026-01-09"},
            "2026-01-01...2026-01-09",
        ),
        (
            {"dagster/asset_partition_range_start": "2026-01-03", "dagster/asset_partition_range_end": "2026-01-03"},
            "2026-01-03",
        ),
        ({"dagster/asset_partition_range_start": "2026-01-03"}, None),
        ({TAG_TRIGGER: "manual"}, None),
    ],
)
def test_run_partition_from_tags(tags: dict[str, str], expected: str | None) -> None:
    assert run_partition(tags) == expected


@unit
def test_metadata_summary_keeps_numbers_and_cuts_long_text() -> None:
    evaluation = _evaluation(
        metadata={
            "failures": 3,
            "share": 0.25,
            "flag": True,
            "table": dg.MetadataValue.md("| a |\n|---|\n" + "| 1 |\n" * 200),
            "details": dg.MetadataValue.json({"column": "weight_kg"}),
        }
    )
    summary = metadata_summary(evaluation.metadata, limit=50)
    assert (summary["failures"], summary["share"], summary["flag"]) == (3, 0.25, True)
    assert len(summary["table"]) == 50 and summary["table"].endswith("…")
    assert "weight_kg" in summary["details"]


@unit
@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        ([([], False), ([], False)], None),
        ([([3, 9], False), ([5], False)], 9),
        # The failure page was cut at 7: successes past 7 wait, or failures 8.. would be skipped.
        ([([3, 9, 12], False), ([4, 7], True)], 7),
        ([([3, 9], True), ([4, 7], True)], 7),
        ([([], False), ([4, 7], True)], 7),
    ],
)
def test_finished_runs_are_complete_through_the_earliest_cut_page(
    pages: list[tuple[list[int], bool]], expected: int | None
) -> None:
    assert complete_through(pages) == expected


@unit
def test_two_sensors_per_model_running_by_default_and_part_of_the_platform(spec: ModelSpec, resources: dict) -> None:
    sensors = build_alert_sensors(spec)
    assert [sensor.name for sensor in sensors] == [f"{MODEL}_run_failure_alerts", f"{MODEL}_failed_check_alerts"]
    assert isinstance(sensors[0], dg.RunStatusSensorDefinition)
    for sensor in sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == spec.triggers.automation_interval_seconds
        assert set(sensor.required_resource_keys) == {"alerts"}
    repository = build_definitions([spec], resources=resources).get_repository_def()
    for sensor in sensors:
        wired = repository.get_sensor_def(sensor.name)
        assert wired.default_status == dg.DefaultSensorStatus.RUNNING
        assert set(wired.required_resource_keys) == {"alerts"}


# Sensors on real instances ---------------------------------------------------------------------


@contextlib.contextmanager
def _instance(kind: str) -> Iterator[dg.DagsterInstance]:
    if kind == "sqlite":
        with dg.instance_for_test() as instance:
            yield instance
    else:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance


def _alerts(tmp_path: Path) -> AlertingResource:
    return AlertingResource(log_path=str(tmp_path / "alerts.jsonl"))


def _lines(alerts: AlertingResource) -> list[dict]:
    path = Path(alerts.log_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


PARTITIONS = dg.StaticPartitionsDefinition(["2026-01-05", "2026-01-06"])


def _checked_asset(model: str, name: str, checks: dict[str, tuple[bool, bool]]) -> dg.AssetsDefinition:
    """A tiny partitioned asset whose checks report `(passed, blocking)` as given."""
    key = dg.AssetKey([model, name])

    @dg.asset(
        key=key,
        partitions_def=PARTITIONS,
        check_specs=[dg.AssetCheckSpec(check, asset=key, blocking=blocking) for check, (_, blocking) in checks.items()],
    )
    def checked() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(
                    check_name=check, passed=passed, metadata={"failures": 0 if passed else 4, "summary": check}
                )
                for check, (passed, _) in checks.items()
            ]
        )

    return checked


@dataclass(frozen=True)
class Tick:
    """What one sensor evaluation returned (Dagster's own result type is not public)."""

    cursor: str | None
    skip_message: str | None
    run_requests: list[dg.RunRequest]


def _latest_finished(instance: dg.DagsterInstance) -> int:
    records = [
        record
        for event_type in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE)
        for record in instance.fetch_run_status_changes(event_type, limit=1).records
    ]
    return max(record.storage_id for record in records)


@integration
@pytest.mark.parametrize("kind", ["sqlite", "ephemeral"])
def test_each_failed_blocking_check_of_the_model_alerts_exactly_once(
    spec: ModelSpec, tmp_path: Path, kind: str
) -> None:
    sensor = build_alert_sensors(spec)[1]
    alerts = _alerts(tmp_path)
    with _instance(kind) as instance:

        def tick(cursor: str | None) -> Tick:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alerts": alerts})
            data = sensor.evaluate_tick(context)
            return Tick(cursor=data.cursor, skip_message=data.skip_message, run_requests=list(data.run_requests or []))

        quiet = tick(None)
        assert quiet.skip_message == (
            f"looked at 0 check evaluations in 0 finished runs; no blocking check of {MODEL} failed"
        )
        assert quiet.cursor is None

        mine = dg.materialize(
            [_checked_asset(MODEL, "x", {"ranges": (False, True), "schema": (True, True), "advisory": (False, False)})],
            instance=instance,
            partition_key="2026-01-05",
            raise_on_error=False,
        )
        other = dg.materialize(
            [_checked_asset(OTHER, "x", {"ranges": (False, True)})],
            instance=instance,
            partition_key="2026-01-05",
            raise_on_error=False,
        )
        assert not mine.success and not other.success, "a failed blocking check fails its step in Dagster 1.13"

        first = tick(None)
        sent = _lines(alerts)
        assert len(sent) == 1, sent
        assert (sent[0]["severity"], sent[0]["model"]) == ("P2", MODEL)
        assert sent[0]["title"] == f"blocking check ranges failed on {MODEL}/x [2026-01-05] in run {mine.run_id}"
        assert sent[0]["details"]["metadata"] == {"failures": 4, "summary": "ranges"}
        assert first.run_requests == []
        assert first.skip_message == "looked at 4 check evaluations in 2 finished runs; sent 1 alerts"
        assert first.cursor == str(_latest_finished(instance))

        again = tick(first.cursor)
        assert len(_lines(alerts)) == 1, "the same evaluations never alert twice"
        assert again.skip_message.startswith("looked at 0 check evaluations in 0 finished runs")
        assert again.cursor == first.cursor

        gate_key = asset_key(MODEL, GATE_DECISION)

        @dg.asset(key=gate_key, check_specs=[dg.AssetCheckSpec(GATE_PASSED_CHECK, asset=gate_key, blocking=True)])
        def gate() -> dg.MaterializeResult:
            return dg.MaterializeResult(
                check_results=[
                    dg.AssetCheckResult(
                        check_name=GATE_PASSED_CHECK, passed=False, metadata={"reasons": "auc_roc 0.61 < 0.70"}
                    )
                ]
            )

        judged = dg.materialize([gate], instance=instance, raise_on_error=False)
        passing = dg.materialize(
            [_checked_asset(MODEL, "x", {"ranges": (True, True)})], instance=instance, partition_key="2026-01-06"
        )
        assert passing.success

        third = tick(again.cursor)
        assert not judged.success
        assert len(_lines(alerts)) == 1, "the failed gate is alerted by gate_decision itself, not a second time"
        assert third.skip_message.endswith("sent 0 alerts") or "no blocking check" in third.skip_message
        assert int(third.cursor) == _latest_finished(instance) > int(first.cursor)
        assert tick(third.cursor).skip_message.startswith("looked at 0 check evaluations")


def _failing_asset(model: str) -> Callable[[dg.DagsterInstance], dg.ExecuteInProcessResult]:
    key = dg.AssetKey([model, "y"])

    @dg.asset(key=key)
    def broken() -> None:
        raise ValueError("the lake is on fire")

    return lambda instance: dg.materialize([broken], instance=instance, raise_on_error=False, tags=RUN_TAGS)


def _failing_op_job(name: str) -> Callable[[dg.DagsterInstance], dg.ExecuteInProcessResult]:
    @dg.op
    def sweep() -> None:
        raise OSError("scratch volume is full")

    @dg.job(name=name)
    def housekeeping() -> None:
        sweep()

    return lambda instance: housekeeping.execute_in_process(instance=instance, raise_on_error=False, tags=RUN_TAGS)


def _failing_check(model: str) -> Callable[[dg.DagsterInstance], dg.ExecuteInProcessResult]:
    asset = _checked_asset(model, "x", {"ranges": (False, True)})
    return lambda instance: dg.materialize(
        [asset], instance=instance, partition_key="2026-01-05", raise_on_error=False, tags=RUN_TAGS
    )


@integration
@pytest.mark.parametrize(
    ("run", "expected_step", "expected_error"),
    [
        (_failing_asset(MODEL), f"{MODEL}__y", "ValueError: the lake is on fire"),
        (_failing_op_job(f"{MODEL}_housekeeping"), "sweep", "OSError: scratch volume is full"),
        (_failing_asset(OTHER), None, None),
        (_failing_op_job(f"{OTHER}_housekeeping"), None, None),
        (_failing_check(MODEL), None, None),  # left to the check sensor
    ],
    ids=["model-asset", "model-op-job", "other-asset", "other-op-job", "blocking-check-only"],
)
def test_a_failed_run_of_the_model_alerts_once_and_other_runs_do_not(
    spec: ModelSpec,
    tmp_path: Path,
    run: Callable[[dg.DagsterInstance], dg.ExecuteInProcessResult],
    expected_step: str | None,
    expected_error: str | None,
) -> None:
    sensor = build_alert_sensors(spec)[0]
    alerts = _alerts(tmp_path)
    with dg.instance_for_test() as instance:
        result = run(instance)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"alerts": alerts},
        )
        assert sensor(context) is None
    sent = _lines(alerts)
    if expected_step is None:
        assert sent == []
        return
    assert len(sent) == 1
    alert = sent[0]
    job_name = result.dagster_run.job_name
    assert (alert["severity"], alert["model"]) == ("P2", MODEL)
    assert alert["title"] == f"{job_name} run {result.run_id} failed in {expected_step}: {expected_error}"
    details = alert["details"]
    assert (details["run_id"], details["job_name"]) == (result.run_id, job_name)
    assert details["failed_steps"] == [{"step": expected_step, "error": expected_error}]
    assert (details["trigger"], details["reason"]) == ("schedule", "daily batch of 2026-01-05")
    assert details["error"] == expected_error
