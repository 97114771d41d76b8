"""The closed loop: sensors that read monitoring and the prediction log and start runs by themselves.

- `<model>_drift_sensor`: a drift report flagging a critical feature or the output starts one retraining run;
- `<model>_performance_decay_sensor`: the champion's realised AUC too low, or too far below its training AUC,
  starts one retraining run;
- `<model>_rollout_sensor`: a new challenger becomes the first champion, or enters shadow after the deployment
  asset's integration test (unless the spec asks for a person's approval: then it waits for a UI launch);
- `<model>_shadow_sensor`: once the shadow has enough evidence, the shadow gate starts the canary or rejects it;
- `<model>_canary_sensor` (hourly by default): the canary gate advances, promotes or rolls back the canary;
- `<model>_production_health_sensor` (every 5 minutes by default): the seed's rollback conditions on the
  champion roll it back to the previous champion (the deployment run sends the P1 alert);
- `<model>_reference_update_sensor`: after a promotion, monitoring's reference becomes the new champion's
  training window (a materialization of `reference_statistics`).

Each tick reads only what it needs (a report's JSON, the registry's aliases, a window of the prediction log queried
in DuckDB), takes its decision through `platform_assets.monitoring.decisions`, and returns a `RunRequest` tagged
with `trigger` and `reason` whose run key names the event, or a `SkipReason` that says why not. Cursors are JSON.
"""

import json
from dataclasses import replace
from typing import Any

import dagster as dg
import pandas as pd

from platform_assets.deployment.assets import DeploymentConfig
from platform_assets.deployment.judges import CanaryEvidence, canary_gate, shadow_gate
from platform_assets.deployment.registry import read_state
from platform_assets.deployment.state import TAG_DEPLOYMENT_STATUS, DeploymentState
from platform_assets.keys import (
    ALIAS_CHAMPION,
    DEPLOYMENT,
    DRIFT_REPORT,
    PERFORMANCE_REPORT,
    REFERENCE_STATISTICS,
    REFERENCE_STATISTICS_FILE,
    TAG_REASON,
    TAG_TRIGGER,
    asset_key,
)
from platform_assets.monitoring.assets import report_name
from platform_assets.monitoring.decisions import (
    Decision,
    canary_action,
    decay_decision,
    drift_decision,
    health_decision,
    rollout_decision,
    shadow_action,
)
from platform_assets.monitoring.drift import ReferenceProfile
from platform_assets.monitoring.evidence import (
    canary_evidence,
    champion_window,
    latest_event_time,
    shadow_evidence,
)
from platform_assets.monitoring.health import production_health
from platform_assets.monitoring.reference import champion_reference_window
from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from sensors.training import retrain_job_name

__all__ = ["build_monitoring_sensors", "deploy_job_name", "deployment_request", "step_started_at"]

# The run tag holding the event time a monitoring trigger fired at (the end of the triggering day).
TAG_EVENT_TIME = "event_time"
RETRAIN_TRIGGERS = ("data_drift", "performance_decay")
# Deployment materializations looked back through to find when the current shadow or canary step began.
_HISTORY = 50
_REPORTS_PER_TICK = 100


def deploy_job_name(model: str) -> str:
    return f"{model}_deploy"


def _op_name(model: str, name: str) -> str:
    return asset_key(model, name).to_python_identifier()


def _cursor(context: dg.SensorEvaluationContext) -> dict[str, Any]:
    return json.loads(context.cursor) if context.cursor else {}


def deployment_request(
    model: str, decision: Decision, *, trigger: str, as_of: pd.Timestamp | None, evidence: Any = None
) -> dg.RunRequest:
    """A run of the deployment job applying `decision.action`, keyed by the event and tagged with why."""
    config = DeploymentConfig(
        action=str(decision.action),
        version=decision.version,
        reason=decision.reason,
        evidence=json.dumps(evidence if evidence is not None else {}, default=str),
        as_of=as_of.isoformat() if as_of is not None else None,
    )
    return dg.RunRequest(
        run_key=f"{model}:{decision.key}",
        run_config=dg.RunConfig(ops={_op_name(model, DEPLOYMENT): config}),
        tags={TAG_TRIGGER: trigger, TAG_REASON: decision.reason[:1000]},
    )


def step_started_at(
    instance: dg.DagsterInstance, model: str, actions: tuple[str, ...], version: str, weight: float | None = None
) -> pd.Timestamp | None:
    """Event time of the latest deployment materialization that put `version` where it is now.

    The deployment asset records each transition's `as of` (the event time of the decision); the dwell of a shadow
    or a canary step counts from it. A transition recorded without it counts from its wall-clock time.
    """
    records = instance.fetch_materializations(asset_key(model, DEPLOYMENT), limit=_HISTORY).records
    for record in records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
        if metadata.get("action") not in actions or str(metadata.get("version")) != version:
            continue
        if weight is not None and float(metadata.get("canary weight", -1)) != weight:
            continue
        stamp = metadata.get("as of")
        return pd.Timestamp(stamp) if stamp else pd.Timestamp(record.timestamp, unit="s", tz="UTC")
    return None


def _new_reports(
    context: dg.SensorEvaluationContext, model: str, name: str, after: int | None
) -> list[tuple[int, str]]:
    """(storage id, partition) of the report's materializations since `after`, oldest first."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key(model, name), after_storage_id=after),
        limit=_REPORTS_PER_TICK,
        ascending=True,
    ).records
    return [(record.storage_id, str(record.partition_key)) for record in records if record.partition_key]


def _retrain_sensor(
    spec: ModelSpec,
    report: str,
    trigger: str,
    decide: Any,
    interval: int,
    description: str,
) -> dg.SensorDefinition:
    """A sensor that reads each new partition of `report` and starts one retraining run per triggering event."""
    model = spec.name
    cooldown = spec.monitoring.retrain_cooldown_hours

    @dg.sensor(
        name=f"{model}_{trigger}_sensor" if trigger != "data_drift" else f"{model}_drift_sensor",
        job_name=retrain_job_name(model),
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def retrain_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.SensorResult | dg.SkipReason:
        cursor = _cursor(context)
        reports = _new_reports(context, model, report, cursor.get("after"))
        if not reports:
            return dg.SkipReason(f"no new {report} since the last tick")
        requests, reasons = [], []
        # Drift and decay share one cooldown: whichever retrained last, in event time.
        last_trigger = _latest(cursor.get("last_trigger"), _last_retrain(context.instance, model))
        for storage_id, day in reports:
            document = lake.read_json(model, report, report_name(day))
            cursor["after"] = storage_id
            if document is None:
                reasons.append(f"{report} for {day} has no document in the lake")
                continue
            decision = decide(document, mlflow=mlflow, last_trigger=last_trigger, cooldown_hours=cooldown)
            if decision.act:
                event_time = (pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)).isoformat()
                last_trigger = _latest(last_trigger, event_time)
                requests.append(
                    dg.RunRequest(
                        run_key=f"{model}:{decision.key}",
                        tags={TAG_TRIGGER: trigger, TAG_REASON: decision.reason[:1000], TAG_EVENT_TIME: event_time},
                    )
                )
            else:
                reasons.append(decision.reason)
        cursor["last_trigger"] = last_trigger
        if not requests:
            return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(reasons[-5:])), cursor=json.dumps(cursor))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return retrain_sensor


def _latest(*stamps: str | None) -> str | None:
    present = [pd.Timestamp(stamp) for stamp in stamps if stamp]
    return max(present).isoformat() if present else None


def _last_retrain(instance: dg.DagsterInstance, model: str) -> str | None:
    """Event time of the latest retraining a drift or decay sensor started (its `event_time` tag)."""
    stamps = [
        run.tags.get(TAG_EVENT_TIME)
        for trigger in RETRAIN_TRIGGERS
        for run in instance.get_runs(
            filters=dg.RunsFilter(job_name=retrain_job_name(model), tags={TAG_TRIGGER: trigger}), limit=5
        )
    ]
    return _latest(*stamps)


def _closed_versions(mlflow: MlflowResource, model: str, state: DeploymentState) -> list[str]:
    """The challenger, if its rollout already ended (rejected, rolled back, archived)."""
    if state.challenger is None:
        return []
    tags = mlflow.client().get_model_version(model, state.challenger).tags
    return [state.challenger] if tags.get(TAG_DEPLOYMENT_STATUS) else []


def build_monitoring_sensors(spec: ModelSpec) -> dg.Definitions:
    model = spec.name
    monitoring, deployment = spec.monitoring, spec.deployment
    steps = deployment.canary.steps
    deploy = dg.define_asset_job(
        deploy_job_name(model),
        selection=dg.AssetSelection.assets(asset_key(model, DEPLOYMENT)),
        tags={TAG_TRIGGER: "manual", TAG_REASON: "launched by hand"},
        description=(
            f"Applies one deployment action to {model} (start_shadow, start_canary, advance_canary, promote, "
            "rollback_canary, rollback_production, reject). The monitoring sensors launch it with their evidence; "
            "launch it by hand to approve a challenger (start_shadow) or to roll back."
        ),
    )

    def drift(document: dict, *, mlflow: MlflowResource, last_trigger: str | None, cooldown_hours: float) -> Decision:
        return drift_decision(document, last_trigger=last_trigger, cooldown_hours=cooldown_hours)

    def decay(document: dict, *, mlflow: MlflowResource, last_trigger: str | None, cooldown_hours: float) -> Decision:
        champion = mlflow.version_by_alias(model, ALIAS_CHAMPION)
        # MLflow gives the version number as an int; the report names versions as strings ("1"), and an int never
        # matches one, so without str() the champion's realised AUC is never found and decay never retrains.
        return decay_decision(
            document,
            champion=str(champion.version) if champion else None,
            spec=monitoring.performance,
            last_trigger=last_trigger,
            cooldown_hours=cooldown_hours,
        )

    drift_sensor = _retrain_sensor(
        spec,
        DRIFT_REPORT,
        "data_drift",
        drift,
        monitoring.monitor_interval_seconds,
        f"Retrains {model} when a day's drift report flags a critical feature or the output.",
    )
    decay_sensor = _retrain_sensor(
        spec,
        PERFORMANCE_REPORT,
        "performance_decay",
        decay,
        monitoring.monitor_interval_seconds,
        f"Retrains {model} when the champion's realised AUC falls below {monitoring.performance.min_auc} or "
        f"more than {monitoring.performance.max_decay} below its training AUC.",
    )

    @dg.sensor(
        name=f"{model}_rollout_sensor",
        job=deploy,
        minimum_interval_seconds=monitoring.monitor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Deploys each new {model} challenger: the first becomes champion, later ones enter shadow after the "
            "integration test"
            + (
                " once a person approves (deployment.serving.require_approval)."
                if deployment.serving.require_approval
                else "."
            )
        ),
    )
    def rollout_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.RunRequest | dg.SkipReason:
        state = read_state(mlflow, model)
        decision = rollout_decision(
            state,
            require_approval=deployment.serving.require_approval,
            closed=_closed_versions(mlflow, model, state),
        )
        if not decision.act:
            return dg.SkipReason(decision.reason)
        # The shadow's dwell counts in the log's event time, like everything monitoring judges.
        return deployment_request(model, decision, trigger="new_challenger", as_of=latest_event_time(lake.root, model))

    @dg.sensor(
        name=f"{model}_shadow_sensor",
        job=deploy,
        minimum_interval_seconds=monitoring.monitor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs {model}'s shadow gate on the prediction log: start the canary, reject, or wait.",
    )
    def shadow_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.RunRequest | dg.SkipReason:
        state = read_state(mlflow, model)
        if state.shadow is None:
            return dg.SkipReason("no shadow running")
        until = latest_event_time(lake.root, model)
        since = step_started_at(context.instance, model, ("start_shadow",), state.shadow)
        if until is None or since is None:
            return dg.SkipReason(f"shadow v{state.shadow}: no logged traffic since it started yet")
        evidence = shadow_evidence(lake.root, spec, shadow_version=state.shadow, since=since, until=until)
        verdict = shadow_gate(evidence, deployment.shadow)
        decision = shadow_action(verdict, state.shadow)
        if not decision.act:
            return dg.SkipReason(decision.reason)
        return deployment_request(model, decision, trigger="shadow_gate", as_of=until, evidence=verdict.to_dict())

    @dg.sensor(
        name=f"{model}_canary_sensor",
        job=deploy,
        minimum_interval_seconds=monitoring.canary_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs {model}'s canary gate at each step ({steps}%): promote, hold or roll back.",
    )
    def canary_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.RunRequest | dg.SkipReason:
        state = read_state(mlflow, model)
        if state.canary is None or state.canary_step is None:
            return dg.SkipReason("no canary running")
        until = latest_event_time(lake.root, model)
        since = step_started_at(
            context.instance, model, ("start_canary", "advance_canary"), state.canary, weight=state.canary_weight
        )
        if until is None or since is None or until <= since:
            return dg.SkipReason(f"canary v{state.canary}: no logged traffic at this step yet")
        evidence = canary_evidence(lake.root, spec, canary_version=state.canary, since=since, until=until)
        if state.canary_weight >= 100:
            # At 100% no live champion traffic remains to compare with: production is the champion's own
            # recent history, an equally long window before this step began.
            before = canary_evidence(
                lake.root, spec, canary_version=state.canary, since=since - (until - since), until=since
            )
            evidence = _with_production(evidence, before)
        verdict = canary_gate(evidence, deployment.canary, concurrent_production=state.canary_weight < 100)
        decision = canary_action(verdict, state, steps)
        if not decision.act:
            return dg.SkipReason(decision.reason)
        return deployment_request(model, decision, trigger="canary_gate", as_of=until, evidence=verdict.to_dict())

    @dg.sensor(
        name=f"{model}_production_health_sensor",
        job=deploy,
        minimum_interval_seconds=monitoring.health_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Rolls {model}'s champion back to the previous champion when error rate, p99 latency, null "
            "predictions or input PSI breach the spec's conditions (a P1 alert names the condition)."
        ),
    )
    def production_health_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource, alerts: AlertingResource
    ) -> dg.SensorResult | dg.SkipReason:
        state = read_state(mlflow, model)
        if state.champion is None:
            return dg.SkipReason("no champion serving")
        as_of = latest_event_time(lake.root, model)
        if as_of is None:
            return dg.SkipReason("no prediction logged yet")
        cursor = _cursor(context)
        health = monitoring.health
        longest = max(
            rule.window_minutes
            for rule in (health.error_rate, health.p99_latency_ms, health.prediction_null_rate, health.input_psi)
        )
        columns = ["model_version", "role", "served", "score", "latency_ms", "error", *spec.features.critical]
        window = champion_window(
            lake.root,
            spec,
            version=state.champion,
            start=as_of - pd.Timedelta(minutes=longest),
            end=as_of,
            columns=columns,
        )
        reference = lake.read_json(model, REFERENCE_STATISTICS, REFERENCE_STATISTICS_FILE)
        profile = ReferenceProfile.from_dict(reference["profile"]) if reference and "profile" in reference else None
        result = production_health(
            window,
            health,
            version=state.champion,
            as_of=as_of,
            profile=profile,
            features=spec.features.critical,
            critical_quantile=monitoring.drift.critical_quantile,
        )
        decision = health_decision(
            result, state, last_rollback=cursor.get("last_rollback"), cooldown_minutes=health.cooldown_minutes
        )
        if not decision.act:
            if result.breaches and state.previous_champion is None and cursor.get("last_alert") != state.champion:
                # Nothing to roll back to: a person must act, so page once for this champion.
                alerts.send(
                    severity="P1",
                    model=model,
                    title=f"champion v{state.champion} unhealthy and no previous champion to roll back to: "
                    + "; ".join(check.reason for check in result.breaches),
                    details=result.to_dict(),
                )
                cursor["last_alert"] = state.champion
                return dg.SensorResult(skip_reason=dg.SkipReason(decision.reason), cursor=json.dumps(cursor))
            return dg.SkipReason(decision.reason)
        cursor["last_rollback"] = as_of.isoformat()
        request = deployment_request(
            model, decision, trigger="production_health", as_of=as_of, evidence=result.to_dict()
        )
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(cursor))

    @dg.sensor(
        name=f"{model}_reference_update_sensor",
        asset_selection=[asset_key(model, REFERENCE_STATISTICS)],
        minimum_interval_seconds=monitoring.monitor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"After each promotion of {model}, rebuilds the monitoring reference on the new champion's "
        "training window.",
    )
    def reference_update_sensor(
        context: dg.SensorEvaluationContext, mlflow: MlflowResource
    ) -> dg.SensorResult | dg.SkipReason:
        cursor = _cursor(context)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key(model, DEPLOYMENT), after_storage_id=cursor.get("after")),
            limit=_REPORTS_PER_TICK,
            ascending=True,
        ).records
        if not records:
            return dg.SkipReason("no deployment since the last tick")
        cursor["after"] = records[-1].storage_id
        promoted = [
            r
            for r in records
            if r.asset_materialization is not None
            and getattr(r.asset_materialization.metadata.get("action"), "value", None) == "promote"
        ]
        if not promoted:
            return dg.SensorResult(
                skip_reason=dg.SkipReason("no promotion since the last tick"), cursor=json.dumps(cursor)
            )
        champion, days = champion_reference_window(mlflow, model)
        if champion is None or not days:
            return dg.SensorResult(
                skip_reason=dg.SkipReason("the champion carries no training partitions to build a reference from"),
                cursor=json.dumps(cursor),
            )
        reason = f"champion v{champion} promoted: monitoring compares against its training window"
        request = dg.RunRequest(
            run_key=f"{model}:reference:champion:{champion}",
            asset_selection=[asset_key(model, REFERENCE_STATISTICS)],
            run_config=dg.RunConfig(
                ops={_op_name(model, REFERENCE_STATISTICS): {"config": {"days": days, "reason": reason}}}
            ),
            tags={TAG_TRIGGER: "promotion", TAG_REASON: reason},
        )
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(cursor))

    return dg.Definitions(
        jobs=[deploy],
        sensors=[
            drift_sensor,
            decay_sensor,
            rollout_sensor,
            shadow_sensor,
            canary_sensor,
            production_health_sensor,
            reference_update_sensor,
        ],
    )


def _with_production(canary: CanaryEvidence, before: CanaryEvidence) -> CanaryEvidence:
    """Canary evidence whose production side is taken from `before` (the champion's earlier window)."""
    return replace(
        canary,
        production_requests=before.production_requests,
        production_errors=before.production_errors,
        production_scores=before.production_scores,
        production_labels=before.production_labels,
        production_labelled_scores=before.production_labelled_scores,
    )
