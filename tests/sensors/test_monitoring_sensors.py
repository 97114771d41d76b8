"""The closed-loop sensors on a real Dagster instance, lake, prediction log and SQLite registry.

The lake holds three days landed through the platform's own assets from the synthetic feed (a reference day, a
stable day, and a day after a `sudden_shift`), their labels and the reference built on the first day; the registry
holds two small trained versions. Each test works on its own copy of both, materializes the real reports, writes a
real prediction log with `PredictionLogWriter` (scores from the registered models), moves the registry through the
deployment state machine, and evaluates the sensor with `dg.build_sensor_context`. It asserts the run requested (key,
tags, deployment config), the skip reason when nothing is requested, the cursor, that the same tick evaluated twice
requests the same run key (so the daemon launches one run), and, where the sensor keeps a cursor, that the next tick
requests nothing new. Deployment requests are then executed through the deployment asset, as the daemon would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import pandas as pd
import pytest

from platform_assets.definitions import build_definitions, build_model_definitions
from platform_assets.deployment.registry import apply_transition, read_state
from platform_assets.deployment.state import TAG_DEPLOYMENT_STATUS, DeploymentState, plan
from platform_assets.keys import (
    ALIAS_CHALLENGER,
    DEPLOYMENT,
    DRIFT_REPORT,
    FEATURES,
    LABELS,
    PERFORMANCE_REPORT,
    RAW_BATCH,
    REFERENCE_STATISTICS,
    TAG_REASON,
    TAG_TRIGGER,
    VALIDATED_BATCH,
    asset_key,
)
from platform_assets.monitoring.assets import report_name
from platform_assets.monitoring.drift import SCORE_COLUMN
from platform_assets.monitoring.reference import TAG_TRAINING_PARTITIONS
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource, ScenarioConfig
from sensors.monitoring import deploy_job_name
from sensors.training import retrain_job_name
from serving.prediction_log import PredictionLogWriter
from serving.scoring import Scorer
from tests.builders import register_version
from tests.conftest import day, platform_resources

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"
ROWS = 400
REFERENCE_DAY, STABLE_DAY, SHIFTED_DAY = day(0), day(1), day(2)
DATA_PLANE = [f"{MODEL}/{name}" for name in (RAW_BATCH, VALIDATED_BATCH, FEATURES, LABELS)]
DEPLOYMENT_OP = f"{MODEL}__{DEPLOYMENT}"
ERROR = "scoring failed: booster raised"
# Event times of the traffic logged in the deployment scenarios (after the landed days).
SHADOW_START = pd.Timestamp("2026-01-10 00:00", tz="UTC")
CANARY_START = pd.Timestamp("2026-01-20 00:00", tz="UTC")
HEALTH_START = pd.Timestamp("2026-02-01 12:00", tz="UTC")


def _source() -> DataSourceResource:
    scenario = ScenarioConfig(kind="sudden_shift", start=SHIFTED_DAY)
    return DataSourceResource(today="2026-03-01", rows_per_day=ROWS, scenarios=[scenario])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, spec: ModelSpec) -> Path:
    """A lake with three landed days, their labels and a reference on the first, and a registry of two versions."""
    root = tmp_path_factory.mktemp("world")
    resources = platform_resources(LakeResource(root=str(root / "lake")), _source())
    assets = list(build_model_definitions(spec).assets)
    with dg.DagsterInstance.ephemeral() as instance:
        for partition in (REFERENCE_DAY, STABLE_DAY, SHIFTED_DAY):
            landed = dg.materialize(
                assets, selection=DATA_PLANE, partition_key=partition, resources=resources, instance=instance
            )
            assert landed.success
        reference = dg.materialize(
            assets,
            selection=[f"{MODEL}/{REFERENCE_STATISTICS}"],
            resources=resources,
            instance=instance,
            run_config={
                "ops": {f"{MODEL}__{REFERENCE_STATISTICS}": {"config": {"days": [REFERENCE_DAY], "reason": "test"}}}
            },
        )
        assert reference.success
    mlflow = resources["mlflow"]
    assert isinstance(mlflow, MlflowResource)
    assert [register_version(mlflow, spec, seed) for seed in (1, 2)] == ["1", "2"]
    return root


@pytest.fixture
def env(world: Path, tmp_path: Path) -> dict[str, Any]:
    """The platform's resources on this test's own copy of the world's lake and registry."""
    for name in ("lake", "mlflow"):
        shutil.copytree(world / name, tmp_path / name)
    return platform_resources(LakeResource(root=str(tmp_path / "lake")), _source())


# ----------------------------------------------------------------------------------------------- helpers


class Tick(NamedTuple):
    requests: list[dg.RunRequest]
    skip: str | None
    cursor: str | None

    @property
    def keys(self) -> list[str | None]:
        return [request.run_key for request in self.requests]


def _tick(
    defs: dg.Definitions, name: str, instance: dg.DagsterInstance, env: dict[str, Any], cursor: str | None = None
) -> Tick:
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"lake": env["lake"], "mlflow": env["mlflow"], "alerts": env["alerts"]},
        definitions=defs,
    )
    data = _sensor(defs, name).evaluate_tick(context)
    return Tick(list(data.run_requests or []), data.skip_message, data.cursor)


def _sensor(defs: dg.Definitions, name: str) -> dg.SensorDefinition:
    return defs.get_repository_def().get_sensor_def(name)


def _assets(spec: ModelSpec) -> list[Any]:
    return list(build_model_definitions(spec).assets)


def _report(spec: ModelSpec, env: dict[str, Any], instance: dg.DagsterInstance, name: str, partition: str) -> None:
    result = dg.materialize(
        _assets(spec), selection=[f"{MODEL}/{name}"], partition_key=partition, resources=env, instance=instance
    )
    assert result.success


def _latest_storage_id(instance: dg.DagsterInstance, name: str) -> int:
    return instance.fetch_materializations(asset_key(MODEL, name), limit=1).records[0].storage_id


def _config(request: dg.RunRequest) -> dict[str, Any]:
    return request.run_config["ops"][DEPLOYMENT_OP]["config"]


def _deploy(
    spec: ModelSpec,
    env: dict[str, Any],
    instance: dg.DagsterInstance,
    run_config: dict[str, Any],
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        _assets(spec),
        selection=[f"{MODEL}/{DEPLOYMENT}"],
        resources=env,
        instance=instance,
        run_config=run_config,
        tags=tags,
    )
    assert result.success
    return result


def _launch(spec: ModelSpec, env: dict[str, Any], instance: dg.DagsterInstance, **config: str) -> None:
    """A person launching the deployment job from the UI, with the event time of the decision."""
    _deploy(spec, env, instance, {"ops": {DEPLOYMENT_OP: {"config": {"reason": "test", **config}}}})


def _execute(
    spec: ModelSpec, env: dict[str, Any], instance: dg.DagsterInstance, request: dg.RunRequest
) -> dict[str, Any]:
    """Run a sensor's deployment request as the daemon would; the materialization's metadata."""
    tags = {key: request.tags[key] for key in (TAG_TRIGGER, TAG_REASON)}
    result = _deploy(spec, env, instance, request.run_config, tags)
    materialization = result.asset_materializations_for_node(DEPLOYMENT_OP)[0]
    return {key: value.value for key, value in materialization.metadata.items()}


def _move(spec: ModelSpec, mlflow: MlflowResource, *actions: tuple[str, str | None]) -> DeploymentState:
    """Registry moves of the deployment state machine, without the deployment asset."""
    state = read_state(mlflow, MODEL)
    for action, version in actions:
        state = apply_transition(
            mlflow, MODEL, plan(state, action, steps=spec.deployment.canary.steps, version=version)
        )
    return state


def _scorer(spec: ModelSpec, mlflow: MlflowResource, version: str) -> Scorer:
    booster = mlflow.load_booster(MODEL, mlflow.client().get_model_version(MODEL, version))
    return Scorer.from_booster(booster, spec.features.names, spec.features.categorical)


def _scored(spec: ModelSpec, env: dict[str, Any], partition: str, version: str) -> list[tuple[dict, float]]:
    """A landed day's feature rows with the registered version's score of each."""
    features = env["lake"].read_partition(MODEL, FEATURES, partition)
    scores = _scorer(spec, env["mlflow"], version).score_frame(features)
    return list(zip(features.to_dict("records"), scores.tolist(), strict=True))


def _record(
    row: dict[str, Any],
    at: pd.Timestamp,
    role: str,
    version: str,
    score: float,
    *,
    served: bool = True,
    failed: bool = False,
) -> dict[str, Any]:
    """One prediction as the router logs it: a failed request has an error and no score."""
    return {
        "request_id": row["tracking_id"],
        "unit_id": row["tracking_id"],
        "event_time": at,
        "model_version": version,
        "role": role,
        "served": served,
        "features": row,
        "score": None if failed else score,
        "latency_ms": 8.0,
        "error": ERROR if failed else None,
    }


def _log(spec: ModelSpec, env: dict[str, Any], records: list[dict[str, Any]]) -> None:
    writer = PredictionLogWriter.from_spec(spec, env["lake"].root, start=False)
    for record in records:
        writer.log(record)
    writer.close()


def _alerts(env: dict[str, Any]) -> list[dict[str, Any]]:
    path = Path(env["alerts"].log_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------------------------------ retraining


def test_drift_sensor_retrains_once_on_a_drifted_day_and_skips_a_stable_one(
    spec: ModelSpec, env: dict[str, Any]
) -> None:
    defs = build_definitions([spec], resources=env)
    name = f"{MODEL}_drift_sensor"
    assert _sensor(defs, name).job_name == retrain_job_name(MODEL)
    lake: LakeResource = env["lake"]
    with dg.DagsterInstance.ephemeral() as instance:
        empty = _tick(defs, name, instance, env)
        assert (empty.requests, empty.skip, empty.cursor) == ([], "no new drift_report since the last tick", None)

        _report(spec, env, instance, DRIFT_REPORT, STABLE_DAY)
        stable = _tick(defs, name, instance, env, empty.cursor)
        assert stable.requests == []
        assert stable.skip == f"no drift on a critical feature or the output on {STABLE_DAY}"
        assert json.loads(stable.cursor) == {"after": _latest_storage_id(instance, DRIFT_REPORT), "last_trigger": None}
        # The one-day reference holds one weekday, so the stable day drifts on the calendar: not critical, ignored.
        document = lake.read_json(MODEL, DRIFT_REPORT, report_name(STABLE_DAY))
        drifted = {column["column"] for column in document["columns"] if column["verdict"] == "drift"}
        assert "day_of_week" in drifted and not drifted & {*spec.features.critical, SCORE_COLUMN}

        _report(spec, env, instance, DRIFT_REPORT, SHIFTED_DAY)
        shifted = _tick(defs, name, instance, env, stable.cursor)
        document = lake.read_json(MODEL, DRIFT_REPORT, report_name(SHIFTED_DAY))
        critical = [column for column in document["columns"] if column["critical"] and column["verdict"] == "drift"]
        assert {column["column"] for column in critical} >= {"distance_km", "weather_severity"}
        (request,) = shifted.requests
        assert request.run_key == f"{MODEL}:drift:{SHIFTED_DAY}"
        assert request.tags[TAG_TRIGGER] == "data_drift"
        assert request.tags[TAG_REASON].startswith(f"data drift on {SHIFTED_DAY}: ")
        for column in critical:
            assert f"{column['column']} PSI {column['psi']:.3f} > {column['threshold']:g}" in request.tags[TAG_REASON]
        assert json.loads(shifted.cursor) == {
            "after": _latest_storage_id(instance, DRIFT_REPORT),
            "last_trigger": f"{day(3)}T00:00:00+00:00",
        }

        assert _tick(defs, name, instance, env, stable.cursor).keys == shifted.keys, "the same tick: one run"
        after = _tick(defs, name, instance, env, shifted.cursor)
        assert (after.requests, after.skip) == ([], "no new drift_report since the last tick")

        # The drifted day's report materialized again is the same event, inside its cooldown.
        _report(spec, env, instance, DRIFT_REPORT, SHIFTED_DAY)
        again = _tick(defs, name, instance, env, shifted.cursor)
        assert again.requests == []
        assert again.skip.startswith(f"drift on {SHIFTED_DAY} (")
        cooldown = spec.monitoring.retrain_cooldown_hours
        assert f"in cooldown: the last trigger was 0.0 h earlier in event time (cooldown {cooldown:g} h)" in again.skip


def test_decay_sensor_retrains_when_the_champions_realised_auc_falls_below_the_minimum(
    spec: ModelSpec, env: dict[str, Any]
) -> None:
    mlflow: MlflowResource = env["mlflow"]
    lake: LakeResource = env["lake"]
    _move(spec, mlflow, ("promote", "1"))
    # The champion served both days; after the sudden shift its ranking no longer fits the world.
    records = [
        _record(row, row["event_time"], "champion", "1", score)
        for partition in (STABLE_DAY, SHIFTED_DAY)
        for row, score in _scored(spec, env, partition, "1")
    ]
    _log(spec, env, records)
    defs = build_definitions([spec], resources=env)
    name = f"{MODEL}_performance_decay_sensor"
    assert _sensor(defs, name).job_name == retrain_job_name(MODEL)

    def champion(partition: str) -> dict[str, Any]:
        document = lake.read_json(MODEL, PERFORMANCE_REPORT, report_name(partition))
        return next(g for g in document["groups"] if g["role"] == "champion" and g["model_version"] == "1")

    with dg.DagsterInstance.ephemeral() as instance:
        _report(spec, env, instance, PERFORMANCE_REPORT, STABLE_DAY)
        held = _tick(defs, name, instance, env)
        auc = champion(STABLE_DAY)["auc"]
        assert auc >= spec.monitoring.performance.min_auc
        assert held.requests == []
        assert held.skip == f"champion v1 holds up on the window ending {STABLE_DAY}: realised AUC {auc:.4f}"
        assert json.loads(held.cursor) == {
            "after": _latest_storage_id(instance, PERFORMANCE_REPORT),
            "last_trigger": None,
        }

        _report(spec, env, instance, PERFORMANCE_REPORT, SHIFTED_DAY)
        decayed = _tick(defs, name, instance, env, held.cursor)
        group = champion(SHIFTED_DAY)
        assert group["auc"] < spec.monitoring.performance.min_auc
        (request,) = decayed.requests
        assert request.run_key == f"{MODEL}:decay:1:{SHIFTED_DAY}"
        assert request.tags[TAG_TRIGGER] == "performance_decay"
        assert request.tags[TAG_REASON] == (
            f"performance decay of champion v1 on the window ending {SHIFTED_DAY}: realised AUC {group['auc']:.4f} "
            f"< minimum 0.88 ({group['labelled']:,} labelled predictions)"
        )
        assert json.loads(decayed.cursor) == {
            "after": _latest_storage_id(instance, PERFORMANCE_REPORT),
            "last_trigger": f"{day(3)}T00:00:00+00:00",
        }
        assert _tick(defs, name, instance, env, held.cursor).keys == decayed.keys, "the same tick: one run"
        after = _tick(defs, name, instance, env, decayed.cursor)
        assert (after.requests, after.skip) == ([], "no new performance_report since the last tick")


# ------------------------------------------------------------------------------------------ deployment


def test_rollout_sensor_deploys_the_first_champion_then_shadows_the_next_challenger(
    spec: ModelSpec, env: dict[str, Any]
) -> None:
    mlflow: MlflowResource = env["mlflow"]
    defs = build_definitions([spec], resources=env)
    name = f"{MODEL}_rollout_sensor"
    assert _sensor(defs, name).job_name == deploy_job_name(MODEL)
    with dg.DagsterInstance.ephemeral() as instance:
        assert _tick(defs, name, instance, env).skip == "no challenger waiting"

        mlflow.set_alias(MODEL, ALIAS_CHALLENGER, "1")
        mlflow.client().set_model_version_tag(MODEL, "1", TAG_TRAINING_PARTITIONS, f"{REFERENCE_DAY},{STABLE_DAY}")
        first = _tick(defs, name, instance, env)
        (request,) = first.requests
        assert request.run_key == f"{MODEL}:first:1"
        reason = "first deployment: challenger v1 becomes champion"
        assert _config(request) == {"action": "promote", "version": "1", "reason": reason, "evidence": "{}"}
        assert (request.tags[TAG_TRIGGER], request.tags[TAG_REASON]) == ("new_challenger", reason)
        assert first.cursor is None  # the registry is the state: nothing to remember
        assert _tick(defs, name, instance, env).keys == first.keys, "the same tick: one run"

        metadata = _execute(spec, env, instance, request)
        assert (metadata["action"], metadata["trigger"], metadata["trigger reason"]) == (
            "promote",
            "new_challenger",
            reason,
        )
        assert read_state(mlflow, MODEL) == DeploymentState(champion="1")
        assert _tick(defs, name, instance, env).skip == "no challenger waiting"

        # The promotion moves monitoring's reference to the champion's training window.
        reference = f"{MODEL}_reference_update_sensor"
        rebuilt = _tick(defs, reference, instance, env)
        (request,) = rebuilt.requests
        assert request.run_key == f"{MODEL}:reference:champion:1"
        assert request.asset_selection == [asset_key(MODEL, REFERENCE_STATISTICS)]
        ops = request.run_config["ops"][f"{MODEL}__{REFERENCE_STATISTICS}"]["config"]
        assert ops["days"] == [REFERENCE_DAY, STABLE_DAY]
        assert request.tags[TAG_TRIGGER] == "promotion"
        assert _tick(defs, reference, instance, env).keys == rebuilt.keys, "the same tick: one run"
        settled = _tick(defs, reference, instance, env, rebuilt.cursor)
        assert (settled.requests, settled.skip) == ([], "no deployment since the last tick")

        mlflow.set_alias(MODEL, ALIAS_CHALLENGER, "2")
        shadow = _tick(defs, name, instance, env)
        (request,) = shadow.requests
        assert request.run_key == f"{MODEL}:shadow:2"
        reason = "challenger v2 passed the gate: shadow after the integration test"
        assert _config(request) == {"action": "start_shadow", "version": "2", "reason": reason, "evidence": "{}"}
        assert (request.tags[TAG_TRIGGER], request.tags[TAG_REASON]) == ("new_challenger", reason)
        assert _tick(defs, name, instance, env).keys == shadow.keys, "the same tick: one run"


def test_rollout_sensor_waits_for_a_person_under_require_approval(spec: ModelSpec, env: dict[str, Any]) -> None:
    serving = spec.deployment.serving.model_copy(update={"require_approval": True})
    approval = spec.model_copy(update={"deployment": spec.deployment.model_copy(update={"serving": serving})})
    mlflow: MlflowResource = env["mlflow"]
    _move(approval, mlflow, ("promote", "1"))
    mlflow.set_alias(MODEL, ALIAS_CHALLENGER, "2")
    name = f"{MODEL}_rollout_sensor"
    defs = build_definitions([approval], resources=env)
    assert "once a person approves" in (_sensor(defs, name).description or "")
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            waiting = _tick(defs, name, instance, env)
            assert waiting.requests == []
            assert waiting.skip == (
                "challenger v2 waits for approval (deployment.serving.require_approval): launch the deployment job "
                "with action start_shadow and version 2"
            )
        # The same registry under the shipped spec, which needs no approval, starts the shadow.
        shipped = _tick(build_definitions([spec], resources=env), name, instance, env)
        assert shipped.keys == [f"{MODEL}:shadow:2"]


def test_shadow_sensor_waits_while_the_shadow_has_too_little_evidence(spec: ModelSpec, env: dict[str, Any]) -> None:
    mlflow: MlflowResource = env["mlflow"]
    _move(spec, mlflow, ("promote", "1"))
    mlflow.set_alias(MODEL, ALIAS_CHALLENGER, "2")
    defs = build_definitions([spec], resources=env)
    name = f"{MODEL}_shadow_sensor"
    assert _sensor(defs, name).job_name == deploy_job_name(MODEL)
    with dg.DagsterInstance.ephemeral() as instance:
        assert _tick(defs, name, instance, env).skip == "no shadow running"
        # Approved by hand: the integration test serves v2 over HTTP before it enters shadow.
        _launch(spec, env, instance, action="start_shadow", version="2", as_of=SHADOW_START.isoformat())
        assert read_state(mlflow, MODEL).shadow == "2"
        assert _tick(defs, name, instance, env).skip == "shadow v2: no logged traffic since it started yet"

        # 300 requests, one a minute: the champion serves each, the shadow scores it beside.
        champion = _scored(spec, env, STABLE_DAY, "1")[:300]
        shadow = _scored(spec, env, STABLE_DAY, "2")[:300]
        records = []
        for minute, ((row, served), (_, shadowed)) in enumerate(zip(champion, shadow, strict=True)):
            at = SHADOW_START + pd.Timedelta(minutes=minute)
            records += [
                _record(row, at, "champion", "1", served),
                _record(row, at, "shadow", "2", shadowed, served=False),
            ]
        _log(spec, env, records)
        waiting = _tick(defs, name, instance, env)
        assert waiting.requests == [] and waiting.cursor is None
        assert waiting.skip.startswith(
            "shadow gate waits: wait: shadow days: 0.2 of 7 days (6.8 more needed); "
            "shadow requests: 300 of 1,000 requests (700 more needed)"
        )
        assert _tick(defs, name, instance, env).skip == waiting.skip


def test_canary_sensor_holds_a_young_canary_and_rolls_back_one_that_errors(
    spec: ModelSpec, env: dict[str, Any]
) -> None:
    mlflow: MlflowResource = env["mlflow"]
    _move(spec, mlflow, ("promote", "1"), ("start_shadow", "2"))
    defs = build_definitions([spec], resources=env)
    name = f"{MODEL}_canary_sensor"
    sensor = _sensor(defs, name)
    assert sensor.job_name == deploy_job_name(MODEL)
    assert sensor.minimum_interval_seconds == spec.monitoring.canary_interval_seconds
    champion = _scored(spec, env, STABLE_DAY, "1")
    canary = _scored(spec, env, STABLE_DAY, "2")

    def traffic(requests: range, canary_fails: bool) -> list[dict[str, Any]]:
        """One request every 30 s; every fourth goes to the canary, and (if failing) every other of those errors."""
        records = []
        for index in requests:
            at = CANARY_START + pd.Timedelta(seconds=30 * index)
            if index % 4 == 0:
                row, score = canary[index]
                records.append(_record(row, at, "canary", "2", score, failed=canary_fails and index % 8 == 0))
            else:
                row, score = champion[index]
                records.append(_record(row, at, "champion", "1", score))
        return records

    with dg.DagsterInstance.ephemeral() as instance:
        assert _tick(defs, name, instance, env).skip == "no canary running"
        _launch(spec, env, instance, action="start_canary", version="2", as_of=CANARY_START.isoformat())
        assert read_state(mlflow, MODEL) == DeploymentState(
            champion="1", challenger=None, canary="2", canary_weight=5.0, canary_step=0
        )
        assert _tick(defs, name, instance, env).skip == "canary v2: no logged traffic at this step yet"

        _log(spec, env, traffic(range(200), canary_fails=False))
        held = _tick(defs, name, instance, env)
        assert held.requests == [] and held.cursor is None
        assert held.skip.startswith("canary gate holds v2 at 5%: ")
        assert "canary requests: 50 of 500 requests (450 more needed)" in held.skip
        assert "error rate: no errors on either side" in held.skip

        _log(spec, env, traffic(range(200, 400), canary_fails=True))
        rolled = _tick(defs, name, instance, env)
        (request,) = rolled.requests
        until = CANARY_START + pd.Timedelta(seconds=30 * 399)
        assert request.run_key == f"{MODEL}:canary:2:0:rollback"
        config = _config(request)
        assert (config["action"], config["version"], config["as_of"]) == ("rollback_canary", "2", until.isoformat())
        assert json.loads(config["evidence"])["decision"] == "rollback"
        assert request.tags[TAG_TRIGGER] == "canary_gate"
        assert request.tags[TAG_REASON].startswith(
            "canary gate rolls back v2 at 5%: error rate canary 25.00% (25/100) vs production 0.00% (0/300): "
            "significantly above 1.5x production"
        )
        assert _tick(defs, name, instance, env).keys == rolled.keys, "the same tick: one run"

        metadata = _execute(spec, env, instance, request)
        assert (metadata["action"], metadata["as of"], metadata["trigger"]) == (
            "rollback_canary",
            until.isoformat(),
            "canary_gate",
        )
        assert read_state(mlflow, MODEL) == DeploymentState(champion="1")
        assert mlflow.client().get_model_version(MODEL, "2").tags[TAG_DEPLOYMENT_STATUS] == "rolled_back"
        (alert,) = _alerts(env)
        assert (alert["severity"], alert["title"]) == (
            "P2",
            f"automated rollback_canary of version 2: {request.tags[TAG_REASON]}",
        )
        assert _tick(defs, name, instance, env).skip == "no canary running"


def test_production_health_sensor_rolls_back_an_error_spike_and_the_rollback_pages(
    spec: ModelSpec, env: dict[str, Any]
) -> None:
    mlflow: MlflowResource = env["mlflow"]
    state = _move(
        spec,
        mlflow,
        ("promote", "1"),
        ("start_shadow", "2"),
        ("start_canary", "2"),
        *[("advance_canary", "2")] * (len(spec.deployment.canary.steps) - 1),
        ("promote", "2"),
    )
    assert state == DeploymentState(champion="2", previous_champion="1")
    defs = build_definitions([spec], resources=env)
    name = f"{MODEL}_production_health_sensor"
    sensor = _sensor(defs, name)
    assert sensor.job_name == deploy_job_name(MODEL)
    assert sensor.minimum_interval_seconds == spec.monitoring.health_interval_seconds
    scored = _scored(spec, env, STABLE_DAY, "2")

    def traffic(requests: range, spike: bool) -> list[dict[str, Any]]:
        """One champion request every 9 s; in a spike every other one fails."""
        records = []
        for index in requests:
            row, score = scored[index]
            at = HEALTH_START + pd.Timedelta(seconds=9 * index)
            records.append(_record(row, at, "champion", "2", score, failed=spike and index % 2 == 0))
        return records

    with dg.DagsterInstance.ephemeral() as instance:
        assert _tick(defs, name, instance, env).skip == "no prediction logged yet"

        healthy = traffic(range(200), spike=False)  # half an hour
        _log(spec, env, healthy)
        ok = _tick(defs, name, instance, env)
        assert (ok.requests, ok.cursor) == ([], None)
        assert ok.skip == "champion v2 healthy (error_rate, p99_latency_ms, prediction_null_rate, input_psi)"

        spike = traffic(range(200, 240), spike=True)  # six minutes
        _log(spec, env, spike)
        as_of = spike[-1]["event_time"]
        window = [r for r in healthy + spike if r["event_time"] > as_of - pd.Timedelta(minutes=10)]
        rate = sum(r["error"] is not None for r in window) / len(window)
        breach = _tick(defs, name, instance, env, ok.cursor)
        (request,) = breach.requests
        assert request.run_key == f"{MODEL}:health:2:{as_of.isoformat()}"
        reason = f"production health: error_rate {rate:.3f} over the last 10 min ({len(window)} requests) > 0.05"
        assert (request.tags[TAG_TRIGGER], request.tags[TAG_REASON]) == ("production_health", reason)
        config = _config(request)
        assert (config["action"], config["version"], config["reason"]) == ("rollback_production", "2", reason)
        assert json.loads(config["evidence"])["breaches"] == ["error_rate"]
        assert json.loads(breach.cursor) == {"last_rollback": as_of.isoformat()}
        assert _tick(defs, name, instance, env, ok.cursor).keys == breach.keys, "the same tick: one run"
        cooling = _tick(defs, name, instance, env, breach.cursor)
        assert cooling.requests == []
        assert cooling.skip == (
            f"champion v2 breaches {reason.removeprefix('production health: ')}, but in cooldown: the last trigger "
            "was 0.0 h earlier in event time (cooldown 1 h)"
        )

        # The run the daemon launches: the previous champion serves again and the on-call is paged.
        assert _alerts(env) == []
        metadata = _execute(spec, env, instance, request)
        assert (metadata["action"], metadata["trigger"], metadata["trigger reason"]) == (
            "rollback_production",
            "production_health",
            reason,
        )
        assert read_state(mlflow, MODEL) == DeploymentState(champion="1")
        assert mlflow.client().get_model_version(MODEL, "2").tags[TAG_DEPLOYMENT_STATUS] == "rolled_back"
        (alert,) = _alerts(env)
        assert (alert["severity"], alert["model"]) == ("P1", MODEL)
        assert alert["title"] == f"automated rollback_production of version 2: {reason}"
        assert alert["details"]["evidence"]["breaches"] == ["error_rate"]
        assert (alert["details"]["before"]["champion"], alert["details"]["after"]["champion"]) == ("2", "1")
        assert _tick(defs, name, instance, env, breach.cursor).skip == "champion v1 healthy (nothing judged yet)"

        # Version 1 fails too, and nothing is left to roll back to: no run, but the on-call is paged, once.
        later = HEALTH_START + pd.Timedelta(hours=2)
        failing = [
            _record(row, later + pd.Timedelta(seconds=9 * index), "champion", "1", score, failed=True)
            for index, (row, score) in enumerate(scored[:40])
        ]
        _log(spec, env, failing)
        stuck = _tick(defs, name, instance, env, breach.cursor)
        assert stuck.requests == []
        assert "but there is no previous champion" in stuck.skip
        alerts = _alerts(env)
        assert len(alerts) == 2 and alerts[-1]["severity"] == "P1"
        assert alerts[-1]["title"].startswith(
            "champion v1 unhealthy and no previous champion to roll back to: error_rate"
        )
        assert json.loads(stuck.cursor)["last_alert"] == "1"
        assert _tick(defs, name, instance, env, stuck.cursor).requests == []
        assert len(_alerts(env)) == 2, "paged once for this champion"
