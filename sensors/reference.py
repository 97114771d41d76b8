"""The sensor that builds a model's reference statistics once its reference window has landed."""

import dagster as dg

from platform_assets.keys import REFERENCE_STATISTICS, TAG_REASON, TAG_TRIGGER, VALIDATED_BATCH, asset_key
from platform_assets.spec import ModelSpec

__all__ = ["build_reference_sensor", "reference_decision"]


def reference_decision(window: list[str], validated: set[str], built_window: str | None) -> tuple[bool, str]:
    """Whether to (re)build reference statistics now, and why (or why not).

    Builds once every day of the window has been through validation (accepted or quarantined) and
    the statistics of this exact window were not requested before.
    """
    window_id = f"{window[0]}..{window[-1]}"
    if built_window == window_id:
        return False, f"reference statistics for {window_id} were already requested"
    waiting = [day for day in window if day not in validated]
    if waiting:
        return False, f"waiting for {len(waiting)} of {len(window)} reference days to be validated (next: {waiting[0]})"
    return True, f"reference window {window_id} has landed"


def build_reference_sensor(spec: ModelSpec) -> dg.SensorDefinition:
    model = spec.name
    target = asset_key(model, REFERENCE_STATISTICS)

    @dg.sensor(
        name=f"{model}_reference_sensor",
        asset_selection=[target],
        minimum_interval_seconds=spec.triggers.automation_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Builds {model}'s reference statistics when its reference window has been validated.",
    )
    def reference_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        window = [day.isoformat() for day in spec.reference_window()]
        validated = context.instance.get_materialized_partitions(asset_key(model, VALIDATED_BATCH))
        build, reason = reference_decision(window, set(validated), context.cursor)
        if not build:
            return dg.SkipReason(reason)
        window_id = f"{window[0]}..{window[-1]}"
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{model}:reference:{window_id}",
                    asset_selection=[target],
                    tags={TAG_TRIGGER: "reference_window", TAG_REASON: reason},
                )
            ],
            cursor=window_id,
        )

    return reference_sensor
