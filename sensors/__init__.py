"""Every trigger of the platform: schedules, sensors and the automation-condition sensors."""

from __future__ import annotations

import dagster as dg

from platform_assets.keys import TAG_REASON, TAG_TRIGGER, Stage, group_name
from platform_assets.spec import ModelSpec
from sensors.alerts import build_alert_sensors
from sensors.demo import build_demo
from sensors.maintenance import build_maintenance
from sensors.monitoring import build_monitoring_sensors
from sensors.reference import build_reference_sensor
from sensors.schedules import build_data_schedules
from sensors.training import build_training_triggers

__all__ = ["build_triggers"]


def build_triggers(spec: ModelSpec) -> dg.Definitions:
    """The jobs, schedules and sensors that run one model's lifecycle by themselves."""
    jobs, schedules = build_data_schedules(spec)
    # The data plane and the monitoring reports follow each landed batch and each day's labels.
    data_plane = dg.AssetSelection.groups(
        *(group_name(spec.name, stage) for stage in (Stage.DATA, Stage.FEATURES, Stage.MONITORING))
    )
    automation = dg.AutomationConditionSensorDefinition(
        f"{spec.name}_automation",
        target=data_plane,
        run_tags={TAG_TRIGGER: "new_data", TAG_REASON: "a batch landed upstream"},
        # The default automation sensor starts STOPPED on a new instance; this one must work on the
        # first `dagster dev`, without a click.
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=spec.triggers.automation_interval_seconds,
        description=f"Evaluates the automation conditions of {spec.name}'s assets.",
    )
    data = dg.Definitions(
        jobs=jobs, schedules=schedules, sensors=[automation, build_reference_sensor(spec), *build_alert_sensors(spec)]
    )
    triggers = dg.Definitions.merge(
        data, build_training_triggers(spec), build_monitoring_sensors(spec), build_maintenance(spec)
    )
    # The live demo replays the source over the model's own jobs; only for a spec that asks for it.
    return dg.Definitions.merge(triggers, build_demo(spec, triggers)) if spec.demo.feed else triggers
