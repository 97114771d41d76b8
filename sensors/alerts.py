"""Alert sensors: one model's failed runs and failed blocking checks, sent through the `alerts` resource.

`build_alert_sensors(spec)` returns two sensors per model:

- `<model>_run_failure_alerts`, a run-failure sensor: one P2 alert per failed run that touched the
  model's assets (or, for a run that touched no asset, whose job is named after the model), with the
  run id, job, failing steps, error and the run's `trigger`/`reason` tags.
- `<model>_failed_check_alerts`: one P2 alert per failed evaluation of one of the model's blocking
  checks (the data-validation families, the label and feature contracts, `gate_passed`), naming the
  check, the asset, the partition and the run.

The two do not page twice for one cause. In Dagster 1.13 a blocking check that fails with ERROR
severity fails its step (`DagsterAssetCheckFailedError`), so the run fails too; a run whose only
failed steps are such steps is left to the check sensor, whose alert says which check failed and why.

Why the check sensor follows finished runs instead of the check evaluation events themselves: the
default SQLite event log is sharded by run, so evaluation events carry per-run storage ids (every run
numbers its events from 1) and a cursor over them means nothing; `DagsterInstance.get_event_records`
refuses an integer cursor there, and is deprecated besides. Run status changes are mirrored into the
index shard with instance-wide storage ids, and `fetch_run_status_changes` is the current public API
for them. The cursor is the storage id of the last finished run looked at; a check evaluation is
alerted once, when its run finishes.

The decisions (which run or evaluation alerts, and the title and details of each alert) are plain
functions that tests call directly; the sensor bodies only read the instance and send.
"""

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import dagster as dg

from platform_assets.keys import GATE_PASSED_CHECK, TAG_REASON, TAG_TRIGGER
from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource, Severity

__all__ = [
    "BLOCKING_CHECK_ERROR",
    "CHECK_FAILURE_SEVERITY",
    "FIRST_TICK_LOOKBACK_SECONDS",
    "RUN_FAILURE_SEVERITY",
    "Alert",
    "StepFailure",
    "build_alert_sensors",
    "check_failure_alert",
    "complete_through",
    "concerns_model",
    "metadata_summary",
    "root_message",
    "run_failure_alert",
    "run_partition",
]

RUN_FAILURE_SEVERITY: Severity = "P2"
# Data checks and the quality gate page alike: either way nothing downstream moved (the batch is
# quarantined, or the candidate is not registered) and a person should look today, not at night.
CHECK_FAILURE_SEVERITY: Severity = "P2"
# The error class Dagster raises in a step whose blocking check failed with ERROR severity.
BLOCKING_CHECK_ERROR = "DagsterAssetCheckFailedError"
# On its very first tick the check sensor looks this far back, not at the instance's whole history,
# so turning it on over an old instance does not page for every batch ever quarantined.
FIRST_TICK_LOOKBACK_SECONDS = 24 * 3600
# Finished runs read per status per tick; a longer backlog is worked through over the next ticks.
RUNS_PER_TICK = 200
TERMINAL_RUN_EVENTS = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)
# Dagster's system tags for a run's partition (these are not exported as constants).
PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
# Checks whose asset sends its own, richer alert when they fail (the quality gate's reasons).
SELF_ALERTING_CHECKS = frozenset({GATE_PASSED_CHECK})
TEXT_LIMIT = 300
TITLE_ERROR_LIMIT = 160


class ErrorInfo(Protocol):
    """The part of Dagster's serialized error that alerts use."""

    message: str
    cls_name: str | None
    cause: "ErrorInfo | None"


@dataclass(frozen=True)
class Alert:
    """One alert, as `AlertingResource.send` takes it."""

    severity: Severity
    title: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepFailure:
    """One failed step of a run: its key, the class of its top-level error, and the root message."""

    step_key: str
    error_class: str
    message: str

    @property
    def stopped_by_blocking_check(self) -> bool:
        return self.error_class == BLOCKING_CHECK_ERROR


def _first_line(text: str, limit: int = TITLE_ERROR_LIMIT) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def root_message(error: ErrorInfo | None) -> str:
    """The message of the innermost cause: the user's exception, not Dagster's wrapper around it."""
    if error is None:
        return "no error was recorded"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_partition(tags: Mapping[str, str]) -> str | None:
    """The partition a run targeted, from its tags: one key, `first...last` for a range, or None."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    start, end = (tags.get(tag) for tag in PARTITION_RANGE_TAGS)
    if start and end:
        return start if start == end else f"{start}...{end}"
    return None


def concerns_model(model: str, job_name: str, asset_keys: Iterable[dg.AssetKey]) -> bool:
    """Whether a run belongs to `model`: by the assets it touched, else by its job's name.

    Asset keys decide when the run touched any, since every model's assets live under its name (a
    job named `delivery_delay_v2_retrain` belongs to `delivery_delay_v2`, not to `delivery_delay`).
    Only a run that touched no asset at all (an op job, or one that failed before planning) is
    matched by the `<model>_` prefix of its job name.
    """
    prefixes = {key.path[0] for key in asset_keys if key.path}
    if prefixes:
        return model in prefixes
    return job_name.startswith(f"{model}_")


def run_failure_alert(
    model: str,
    *,
    run_id: str,
    job_name: str,
    tags: Mapping[str, str],
    run_error: str,
    step_failures: Sequence[StepFailure],
) -> Alert | None:
    """The alert for one failed run of `model`, or None when failed blocking checks explain it all.

    Steps that failed only because a blocking check failed are reported by the check sensor, with
    the check's own verdict; the run alert lists the other failed steps and their errors. A run that
    failed outside any step (a crashed worker, a resource that would not start) alerts with the run's
    error.
    """
    failed = [step for step in step_failures if not step.stopped_by_blocking_check]
    stopped = sorted(step.step_key for step in step_failures if step.stopped_by_blocking_check)
    if step_failures and not failed:
        return None
    if failed:
        steps = ", ".join(step.step_key for step in failed)
        title = f"{job_name} run {run_id} failed in {steps}: {_first_line(failed[0].message)}"
    else:
        title = f"{job_name} run {run_id} failed: {_first_line(run_error)}"
    return Alert(
        severity=RUN_FAILURE_SEVERITY,
        title=title,
        details={
            "run_id": run_id,
            "job_name": job_name,
            "failed_steps": [{"step": step.step_key, "error": step.message} for step in failed],
            "steps_stopped_by_blocking_checks": stopped,
            "error": run_error,
            "partition": run_partition(tags),
            TAG_TRIGGER: tags.get(TAG_TRIGGER),
            TAG_REASON: tags.get(TAG_REASON),
            "model": model,
        },
    )


def metadata_summary(metadata: Mapping[str, dg.MetadataValue], limit: int = TEXT_LIMIT) -> dict[str, Any]:
    """Check metadata as short plain values: numbers and flags as they are, anything else as text cut
    to `limit` characters (a markdown table of failing rows belongs in the UI, not in a page)."""
    summary: dict[str, Any] = {}
    for label, entry in metadata.items():
        value = entry.value
        if isinstance(value, bool | int | float) or value is None:
            summary[label] = value
        else:
            text = str(value).strip()
            summary[label] = text if len(text) <= limit else text[: limit - 1] + "…"
    return summary


def check_failure_alert(
    model: str, evaluation: dg.AssetCheckEvaluation, *, run_id: str, run_tags: Mapping[str, str] | None = None
) -> Alert | None:
    """The alert for one check evaluation, or None unless it is a failed blocking check of `model`.

    Only evaluations that held something back alert: a blocking check (Dagster records `blocking`
    on every evaluation made in a run) that failed with ERROR severity, on an asset under the
    model's prefix. A WARN failure, a non-blocking check or a runless report blocks nothing.

    Dagster 1.13 leaves `partition` empty on evaluations made inside a run of a partitioned asset,
    so the partition comes from the run's tags (`run_tags`) when the evaluation has none.
    `gate_passed` is left out: `gate_decision` sends its own alert, with the gate's reasons.
    """
    if evaluation.passed or not evaluation.blocking or evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return None
    if evaluation.asset_key.path[:1] != [model] or evaluation.check_name in SELF_ALERTING_CHECKS:
        return None
    asset = evaluation.asset_key.to_user_string()
    partition = evaluation.partition or run_partition(run_tags or {})
    where = f"{asset} [{partition}]" if partition else asset
    summary = metadata_summary(evaluation.metadata)
    return Alert(
        severity=CHECK_FAILURE_SEVERITY,
        title=f"blocking check {evaluation.check_name} failed on {where} in run {run_id}",
        details={
            "check": evaluation.check_name,
            "asset": asset,
            "partition": partition,
            "run_id": run_id,
            "description": evaluation.description,
            "metadata": summary,
            "model": model,
        },
    )


def complete_through(pages: Sequence[tuple[Sequence[int], bool]]) -> int | None:
    """The highest storage id up to which every page of ascending ids is complete.

    `pages` holds one `(ids, has_more)` per queried event type, each read after the same cursor with
    the same limit. A page that was cut short is only complete up to its last id; ids beyond that in
    other pages wait for the next tick, or the cut page's remainder would be skipped for good.
    """
    cut = [ids[-1] for ids, has_more in pages if has_more and ids]
    if cut:
        return min(cut)
    return max((ids[-1] for ids, _ in pages if ids), default=None)


def _finished_runs(
    instance: dg.DagsterInstance, after: int | None, since: float | None
) -> tuple[list[tuple[int, str]], int | None]:
    """Runs that finished after storage id `after` (or, with no cursor, after timestamp `since`),
    oldest first, and the storage id through which they are complete."""
    pages: list[tuple[Sequence[int], bool]] = []
    runs: list[tuple[int, str]] = []
    for event_type in TERMINAL_RUN_EVENTS:
        result = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after, after_timestamp=since),
            limit=RUNS_PER_TICK,
            ascending=True,
        )
        pages.append(([record.storage_id for record in result.records], result.has_more))
        runs.extend((record.storage_id, record.run_id) for record in result.records)
    through = complete_through(pages)
    return sorted(run for run in runs if through is not None and run[0] <= through), through


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = (record.event_log_entry.asset_check_evaluation for record in records)
    return [evaluation for evaluation in evaluations if evaluation is not None]


def _step_failure(event: dg.DagsterEvent) -> StepFailure:
    error = event.step_failure_data.error
    return StepFailure(
        step_key=event.step_key or "unknown step",
        error_class=(error.cls_name or "") if error else "",
        message=root_message(error),
    )


def _run_asset_keys(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[dg.AssetKey]:
    """The assets a run selected or planned: an asset job's selection can be implicit (None)."""
    keys = set(run.asset_selection or ())
    keys |= {check_key.asset_key for check_key in run.asset_check_selection or ()}
    keys |= set(instance.get_asset_keys_for_run(run.run_id))
    return keys


def build_alert_sensors(spec: ModelSpec) -> list[dg.SensorDefinition]:
    """The run-failure and failed-blocking-check alert sensors of one model."""
    model = spec.name

    @dg.run_failure_sensor(
        name=f"{model}_run_failure_alerts",
        minimum_interval_seconds=spec.triggers.automation_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Sends a P2 alert for every failed run of {model}'s assets or jobs, with the failing steps, the "
            "error and the run's trigger and reason. Failures of blocking checks alone are left to "
            f"{model}_failed_check_alerts."
        ),
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext, alerts: AlertingResource) -> None:
        # Returns None in every case: a returned value (even a SkipReason) ends the daemon's pass over
        # failed runs for this tick, which would hold other runs' alerts back by one tick each.
        run = context.dagster_run
        if not concerns_model(model, run.job_name, _run_asset_keys(context.instance, run)):
            return
        failure = context.failure_event.job_failure_data
        alert = run_failure_alert(
            model,
            run_id=run.run_id,
            job_name=run.job_name,
            tags=run.tags,
            run_error=root_message(failure.error if failure else None),
            step_failures=[_step_failure(event) for event in context.get_step_failure_events()],
        )
        if alert is None:
            context.log.info(f"run {run.run_id} failed on blocking checks only; {model}_failed_check_alerts reports")
            return
        alerts.send(severity=alert.severity, model=model, title=alert.title, details=alert.details)

    @dg.sensor(
        name=f"{model}_failed_check_alerts",
        minimum_interval_seconds=spec.triggers.automation_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Sends a P2 alert for every failed evaluation of {model}'s blocking checks (data validation, "
            "label and feature contracts, the quality gate), once, when its run finishes."
        ),
    )
    def failed_check_alerts(context: dg.SensorEvaluationContext, alerts: AlertingResource) -> dg.SensorResult:
        after = int(context.cursor) if context.cursor else None
        since = time.time() - FIRST_TICK_LOOKBACK_SECONDS if after is None else None
        runs, through = _finished_runs(context.instance, after, since)
        looked, sent = 0, 0
        for _, run_id in runs:
            evaluations = _check_evaluations(context.instance, run_id)
            run = context.instance.get_run_by_id(run_id) if evaluations else None
            for evaluation in evaluations:
                looked += 1
                alert = check_failure_alert(model, evaluation, run_id=run_id, run_tags=run.tags if run else None)
                if alert is not None:
                    alerts.send(severity=alert.severity, model=model, title=alert.title, details=alert.details)
                    sent += 1
        seen = f"looked at {looked} check evaluations in {len(runs)} finished runs"
        # The sensor starts no runs, so every tick is a skip in Dagster's eyes; its reason says what
        # the tick did, instead of Dagster's "Sensor function returned an empty result".
        reason = f"{seen}; sent {sent} alerts" if sent else f"{seen}; no blocking check of {model} failed"
        return dg.SensorResult(
            skip_reason=dg.SkipReason(reason), cursor=str(through) if through is not None else context.cursor
        )

    return [run_failure_alerts, failed_check_alerts]
