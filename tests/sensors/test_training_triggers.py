"""Continuous-training triggers: the retrain schedule, the code-change trigger, and the follow-ups."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.keys import GATE_PASSED_CHECK, asset_key
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from sensors.training import CT_ASSETS, retrain_job_name
from tests.conftest import day

pytestmark = pytest.mark.unit

MODEL = "delivery_delay"


def _keys(*names: str) -> set[dg.AssetKey]:
    return {asset_key(MODEL, name) for name in names}


def _requested(result: dg.EvaluateAutomationConditionsResult) -> set[dg.AssetKey]:
    return {key for key in (asset_key(MODEL, n) for n in CT_ASSETS) if result.get_num_requested(key)}


def test_retrain_schedule_and_manual_tags(spec: ModelSpec, lake: LakeResource) -> None:
    repository = build_definitions([spec]).get_repository_def()
    job = repository.get_job(retrain_job_name(MODEL))
    assert job.tags == {"trigger": "manual", "reason": "launched by hand"}
    assert set(job.asset_layer.executable_asset_keys) >= _keys(*CT_ASSETS)
    schedule = repository.get_schedule_def(f"{MODEL}_retrain_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * 1", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = dt.datetime(2026, 1, 19, 2, 0, tzinfo=dt.UTC)  # a Monday

    def evaluate() -> dg.ScheduleExecutionData:
        with dg.DagsterInstance.ephemeral() as instance:
            context = dg.build_schedule_context(
                instance, scheduled_execution_time=tick, repository_def=repository, resources={"lake": lake}
            )
            return schedule.evaluate_tick(context)

    # Until a full training window of days has features and labels, a run would fail: the schedule waits.
    row = pd.DataFrame({"tracking_id": ["t1"]})
    for offset in range(spec.training.window_days):
        lake.write_partition(MODEL, "features", day(offset), row)
        if offset < spec.training.window_days - 1:
            lake.write_partition(MODEL, "labels", day(offset), row)
    waiting = evaluate()
    assert not waiting.run_requests
    assert f"{spec.training.window_days - 1} labelled day(s) so far" in waiting.skip_message
    lake.write_partition(MODEL, "labels", day(spec.training.window_days - 1), row)
    request = evaluate().run_requests[0]
    assert request.run_key == "delivery_delay:retrain:2026-01-19T02:00"
    assert request.tags["trigger"] == "schedule" and "0 2 * * 1" in request.tags["reason"]


def test_a_training_code_change_retrains_by_itself(spec: ModelSpec, resources: dict) -> None:
    changed = spec.model_copy(
        update={"training": spec.training.model_copy(update={"params": {**spec.training.params, "num_leaves": 63}})}
    )
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.evaluate_automation_conditions(
            defs=build_definitions([spec], resources=resources), instance=instance
        )
        same = dg.evaluate_automation_conditions(
            defs=build_definitions([spec], resources=resources), instance=instance, cursor=first.cursor
        )
        assert _requested(same) == set(), "an unchanged code version starts nothing"
        after = dg.evaluate_automation_conditions(
            defs=build_definitions([changed], resources=resources), instance=instance, cursor=same.cursor
        )
        assert _keys("training_set") <= _requested(after)
    repository = build_definitions([spec], resources=resources).get_repository_def()
    sensor = repository.get_sensor_def(f"{MODEL}_training_automation")
    assert sensor.run_tags == {
        "trigger": "code_change",
        "reason": "the training code or the spec's training section changed",
    }


def test_a_new_candidate_is_evaluated_judged_and_only_registered_after_a_passing_gate(
    spec: ModelSpec, resources: dict
) -> None:
    defs = build_definitions([spec], resources=resources)
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor

        def step() -> set[dg.AssetKey]:
            nonlocal cursor
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            cursor = result.cursor
            return _requested(result)

        for name in ("training_set", "candidate_model"):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key(MODEL, name)))
        # One run evaluates, judges and registers; inside it the blocking gate_passed check decides.
        assert step() == _keys("evaluation_report", "gate_decision", "registered_model")
        assert step() == set(), "requested once"
        gate = asset_key(MODEL, "gate_decision")
        for passed, expected in ((False, set()), (True, _keys("registered_model"))):
            instance.report_runless_asset_event(dg.AssetMaterialization(gate))
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(asset_key=gate, check_name=GATE_PASSED_CHECK, passed=passed)
            )
            assert step() == expected, f"gate passed={passed}"
