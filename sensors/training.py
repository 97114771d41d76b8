"""Continuous-training triggers: the retraining job, its schedule, and the automation that follows.

Every run is tagged with `trigger` and `reason`. The retraining job's own tags say `manual`, so a
launch from the UI is labelled as such; the schedule (and later the drift and decay sensors)
override them with their own.
"""

import dagster as dg

from platform_assets.keys import (
    CANDIDATE_MODEL,
    EVALUATION_REPORT,
    GATE_DECISION,
    REGISTERED_MODEL,
    TAG_REASON,
    TAG_TRIGGER,
    TRAINING_SET,
    asset_key,
)
from platform_assets.spec import ModelSpec
from platform_assets.training.assets import labelled_days
from resources.lake import LakeResource

__all__ = ["CT_ASSETS", "build_training_triggers", "retrain_job_name"]

CT_ASSETS = (TRAINING_SET, CANDIDATE_MODEL, EVALUATION_REPORT, GATE_DECISION, REGISTERED_MODEL)


def retrain_job_name(model: str) -> str:
    return f"{model}_retrain"


def build_training_triggers(spec: ModelSpec) -> dg.Definitions:
    model = spec.name
    retrain = dg.define_asset_job(
        retrain_job_name(model),
        selection=dg.AssetSelection.assets(*(asset_key(model, name) for name in CT_ASSETS)),
        tags={TAG_TRIGGER: "manual", TAG_REASON: "launched by hand"},
        description=(
            f"Retrains {model}: training set, candidate, evaluation, gate and (if it passes) registration. "
            "Launch it from the UI with config to override the window or the search budget."
        ),
    )

    @dg.schedule(
        name=f"{model}_retrain_schedule",
        job=retrain,
        cron_schedule=spec.triggers.retrain_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Retrains {model} on its cron ({spec.triggers.retrain_cron} UTC).",
    )
    def retrain_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource) -> dg.RunRequest | dg.SkipReason:
        tick = context.scheduled_execution_time
        labelled = len(labelled_days(lake, model))
        if labelled < spec.training.window_days:
            # A run now would fail (or train a first model on a sliver of data and page someone): wait for a window.
            return dg.SkipReason(
                f"{labelled} labelled day(s) so far; {model}'s first model trains on a full "
                f"{spec.training.window_days}-day window"
            )
        return dg.RunRequest(
            run_key=f"{model}:retrain:{tick:%Y-%m-%dT%H:%M}",
            tags={TAG_TRIGGER: "schedule", TAG_REASON: f"scheduled retraining ({spec.triggers.retrain_cron} UTC)"},
        )

    code_change = dg.AutomationConditionSensorDefinition(
        f"{model}_training_automation",
        target=dg.AssetSelection.assets(asset_key(model, TRAINING_SET), asset_key(model, CANDIDATE_MODEL)),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=spec.triggers.automation_interval_seconds,
        run_tags={TAG_TRIGGER: "code_change", TAG_REASON: "the training code or the spec's training section changed"},
        description=f"Retrains {model} when the code version of its training assets changes.",
    )
    follow_up = dg.AutomationConditionSensorDefinition(
        f"{model}_evaluation_automation",
        target=dg.AssetSelection.assets(*(asset_key(model, name) for name in CT_ASSETS[2:])),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=spec.triggers.automation_interval_seconds,
        run_tags={TAG_TRIGGER: "new_candidate", TAG_REASON: "a new candidate model to evaluate, judge and register"},
        description=f"Evaluates, judges and registers every new {model} candidate.",
    )
    return dg.Definitions(jobs=[retrain], schedules=[retrain_schedule], sensors=[code_change, follow_up])
