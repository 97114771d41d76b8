"""Schedules that keep a model's data fresh: the daily batch and the delayed labels.

Each run they start is tagged with `trigger` and `reason`, like every other trigger's runs.
"""

import datetime as dt
from typing import Any

import dagster as dg

from platform_assets.keys import LABELS, RAW_BATCH, TAG_REASON, TAG_TRIGGER, asset_key
from platform_assets.spec import ModelSpec

__all__ = ["build_data_schedules", "labels_partition_due"]


def labels_partition_due(tick_day: dt.date, label_delay_days: int, start: dt.date) -> dt.date | None:
    """The event day whose labels have just arrived on `tick_day`, or None before the first one.

    Labels of day D arrive on D + delay; with no delay they are complete at the end of D, so the
    earliest a tick can fetch them is the next day.
    """
    day = tick_day - dt.timedelta(days=max(label_delay_days, 1))
    return day if day >= start else None


def build_data_schedules(spec: ModelSpec) -> tuple[list[Any], list[Any]]:
    model = spec.name
    ingest_job = dg.define_asset_job(
        f"{model}_ingest",
        selection=[asset_key(model, RAW_BATCH)],
        description=f"Lands one day of {model} data from the source.",
    )

    @dg.schedule(
        name=f"{model}_ingest_schedule",
        job=ingest_job,
        cron_schedule=spec.triggers.ingest_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Lands each completed day's {model} batch; validation and features follow by automation.",
    )
    def ingest_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        day = context.scheduled_execution_time.date() - dt.timedelta(days=1)
        if day < spec.source.start_date:
            return dg.SkipReason(f"{model} has no event days before {spec.source.start_date}")
        return dg.RunRequest(
            run_key=f"{model}:ingest:{day}",
            partition_key=day.isoformat(),
            tags={TAG_TRIGGER: "schedule", TAG_REASON: f"daily batch of {day}"},
        )

    labels_job = dg.define_asset_job(
        f"{model}_labels",
        selection=[asset_key(model, LABELS)],
        description=f"Fetches the delayed outcomes of one {model} event day.",
    )

    @dg.schedule(
        name=f"{model}_labels_schedule",
        job=labels_job,
        cron_schedule=spec.triggers.ingest_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Fetches the labels of each {model} event day once its label delay has passed.",
    )
    def labels_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        tick_day = context.scheduled_execution_time.date()
        day = labels_partition_due(tick_day, spec.source.label_delay_days, spec.source.start_date)
        if day is None:
            return dg.SkipReason(f"no {model} event day has its labels yet on {tick_day}")
        return dg.RunRequest(
            run_key=f"{model}:labels:{day}",
            partition_key=day.isoformat(),
            tags={TAG_TRIGGER: "schedule", TAG_REASON: f"labels of {day} arrived"},
        )

    return [ingest_job, labels_job], [ingest_schedule, labels_schedule]
