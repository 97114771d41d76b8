"""Upkeep of the prediction log: a sensor that compacts dates whose files have piled up.

The serving writer adds one Parquet file per flush per date (`deployment.serving.flush_seconds`), and every reader of
the log opens every file of the dates it reads, so a date of continuous traffic would slow every monitoring tick
down in proportion. `<model>_prediction_log_compaction` looks at the file count of each date (cheap: a directory
listing) and, when one holds more than `COMPACT_AT_FILES`, requests a run of `<model>_compact_prediction_log`, which
merges each such date into one file (`serving.prediction_log.compact_day`: safe beside the writer and readers).
"""

import dagster as dg
from pydantic import Field

from platform_assets.keys import TAG_REASON, TAG_TRIGGER
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from serving.prediction_log import compact_day, day_files, predictions_dir

__all__ = ["COMPACT_AT_FILES", "build_maintenance", "dates_to_compact"]

# A date with more files than this is compacted: 100 files cost a monitoring read about 30 ms.
COMPACT_AT_FILES = 100


def dates_to_compact(lake_root: str, model: str, threshold: int = COMPACT_AT_FILES) -> dict[str, int]:
    """The dates whose file count exceeds `threshold`, with their counts."""
    root = predictions_dir(lake_root, model)
    if not root.is_dir():
        return {}
    counts = {
        child.name.removeprefix("date="): len(day_files(lake_root, model, child.name.removeprefix("date=")))
        for child in sorted(root.iterdir())
        if child.is_dir() and child.name.startswith("date=")
    }
    return {day: count for day, count in counts.items() if count > threshold}


class CompactionConfig(dg.Config):
    days: list[str] = Field(default_factory=list, description="event dates to compact; empty: every date")


def build_maintenance(spec: ModelSpec) -> dg.Definitions:
    model = spec.name

    @dg.op(name=f"{model}_compact_prediction_log_op")
    def compact(context: dg.OpExecutionContext, config: CompactionConfig, lake: LakeResource) -> None:
        days = config.days or list(dates_to_compact(lake.root, model, threshold=1))
        for day in days:
            replaced = compact_day(lake.root, model, day)
            context.log.info(f"{model}: prediction log of {day}: {replaced} files merged into one")

    @dg.job(
        name=f"{model}_compact_prediction_log",
        tags={TAG_TRIGGER: "manual", TAG_REASON: "launched by hand"},
        description=f"Merges each date of {model}'s prediction log into one file (readers open every file).",
    )
    def compact_job() -> None:
        compact()

    @dg.sensor(
        name=f"{model}_prediction_log_compaction",
        job=compact_job,
        minimum_interval_seconds=spec.monitoring.monitor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Compacts a date of {model}'s prediction log once it holds more than {COMPACT_AT_FILES} files.",
    )
    def compaction_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.RunRequest | dg.SkipReason:
        due = dates_to_compact(lake.root, model)
        if not due:
            return dg.SkipReason(f"no date of the prediction log holds more than {COMPACT_AT_FILES} files")
        described = ", ".join(f"{day} ({count} files)" for day, count in due.items())
        return dg.RunRequest(
            run_key=f"{model}:compact:" + ",".join(f"{day}:{count}" for day, count in due.items()),
            run_config=dg.RunConfig(ops={f"{model}_compact_prediction_log_op": CompactionConfig(days=list(due))}),
            tags={TAG_TRIGGER: "log_compaction", TAG_REASON: f"prediction log files piled up: {described}"},
        )

    return dg.Definitions(jobs=[compact_job], sensors=[compaction_sensor])
