"""The lifecycle simulation: N days of a model's life replayed through the real definitions on a fresh instance.

`Simulation(...).run()` creates, under its output directory, a Dagster instance (`dagster/`), a lake (`lake/`), an
embedded MLflow (`mlflow/`) and an alert log (`alerts.jsonl`), builds the code location's definitions for the spec
(`platform_assets.definitions.build_definitions`) and then lets event time advance day by day, doing what a running
daemon and a production service would have done:

- traffic: each day's requests (`simulation.traffic`) go through the real router in slices of the production-health
  sensor's interval; after each slice the shadow settles and the prediction log is flushed, so the sensors read
  exactly the traffic served so far;
- schedules: each schedule is evaluated at every cron tick that falls in the day (ingest, labels, retraining);
- sensors and automation: the sensors that react to runs (the automation-condition sensors, drift, decay, rollout,
  reference, alerts, compaction) are evaluated after every run or schedule tick until none asks for another run, as
  a daemon's ticks would find them; the sensors that read the prediction log (production health, shadow, canary)
  are evaluated on their own interval in event time (never more often than one traffic slice);
- runs: every `RunRequest` is executed in process on the instance (`execute_in_process`), with the tags a daemon
  gives them (trigger, reason, run key, sensor or schedule name); a run key is never run twice, as in Dagster.

The scenario (`simulation.scenarios`) shapes the source's world, ships code changes and switches on serving faults;
everything else is the platform's own decision. Each decision is recorded as a `TimelineEvent` with the event time
at which it happened; `simulation.report` writes the timeline, the summary, the plots and the story.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import sqlalchemy
import yaml
from croniter import croniter
from sklearn.metrics import roc_auc_score

from platform_assets.definitions import build_definitions
from platform_assets.deployment.registry import read_state
from platform_assets.deployment.state import DeploymentState
from platform_assets.keys import (
    CURRENT,
    DEPLOYMENT,
    DRIFT_REPORT,
    GATE_DECISION,
    REGISTERED_MODEL,
    TAG_REASON,
    TAG_TRIGGER,
    asset_key,
)
from platform_assets.monitoring.assets import report_name
from platform_assets.spec import ModelSpec, load_spec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from serving.router import Router
from simulation.events import DailyRecord, TimelineEvent
from simulation.scenarios import FaultPlan, Scenario, build_scenario
from simulation.traffic import FaultInjector, Served, build_router, day_requests, serve

__all__ = ["Simulation", "SimulationError", "SimulationResult"]

_LOGGER = logging.getLogger(__name__)

# Sensors that read the prediction log: evaluated on their interval in event time.
_LOG_SENSORS = ("production_health_sensor", "shadow_sensor", "canary_sensor")
_DEPLOYMENT_EVENTS = {
    "start_shadow": ("shadow_started", "shadow"),
    "start_canary": ("canary_started", "canary"),
    "advance_canary": ("canary_step", "canary"),
    "promote": ("promoted", "champion"),
    "rollback_canary": ("rollback", "canary"),
    "rollback_production": ("rollback", "champion"),
    "reject": ("shadow_rejected", "shadow"),
}
# A run of these reacts on registry state: the router re-reads its roles after them.
_ROLE_CHANGES = {DEPLOYMENT, REGISTERED_MODEL}
_GATE_TICK_SECONDS = 3600
_PSI_HOLD = re.compile(r"holds .*prediction PSI [0-9.]+ > ")
_MAX_ROUNDS = 50  # reaction rounds after one event; more means two sensors are feeding each other


class SimulationError(RuntimeError):
    """The simulation cannot start or continue (bad arguments, a non-empty output directory, a runaway loop)."""


@dataclass
class SimulationResult:
    spec: ModelSpec
    scenario: Scenario
    seed: int
    out: Path
    events: list[TimelineEvent]
    days: list[DailyRecord]
    final_state: DeploymentState
    wall_seconds: float
    runs: int
    failed_runs: int


@dataclass
class _Cursors:
    sensors: dict[str, str | None] = field(default_factory=dict)
    automation: dict[str, Any] = field(default_factory=dict)
    run_keys: set[str] = field(default_factory=set)
    last_tick: dict[str, pd.Timestamp] = field(default_factory=dict)


class Simulation:
    """One scenario over `days` days of `spec_path`'s model, in the fresh directory `out`.

    `seed` replaces the synthetic feed's seed (the same seed gives the same timeline); `rows_per_day` its volume;
    `onset` the day the scenario strikes. `progress(day_index, days, text)` is called after each simulated day.
    """

    def __init__(
        self,
        spec_path: str | Path,
        scenario: str,
        days: int,
        out: str | Path,
        *,
        seed: int | None = None,
        rows_per_day: int | None = None,
        onset: int | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> None:
        if days < 1:
            raise SimulationError(f"--days must be at least 1, got {days}")
        self.spec = load_spec(spec_path)
        self.out = Path(out).absolute()
        if self.out.exists() and any(self.out.iterdir()):
            raise SimulationError(
                f"{self.out} is not empty: a simulation starts on a fresh instance; choose a new --out directory"
            )
        self.days = days
        self.start = self.spec.source.start_date
        synthetic = self.spec.source.synthetic
        self.seed = seed if seed is not None else (synthetic.seed if synthetic is not None else 0)
        if seed is not None and synthetic is not None:
            self.spec = self.spec.model_copy(
                update={
                    "source": self.spec.source.model_copy(
                        update={"synthetic": synthetic.model_copy(update={"seed": seed})}
                    )
                }
            )
        if self.spec.demo.feed:
            # The live demo's feed is a wall-clock stand-in for what the simulation itself does day by day.
            self.spec = self.spec.model_copy(update={"demo": self.spec.demo.model_copy(update={"feed": False})})
        try:
            self.scenario = build_scenario(scenario, self.spec, start=self.start, days=days, onset=onset)
        except ValueError as error:
            raise SimulationError(str(error)) from error
        self.rows_per_day = rows_per_day
        self._progress = progress
        self._code = self.spec  # the spec as the code currently deployed sees it (code changes replace it)
        self.events: list[TimelineEvent] = []
        self.records: list[DailyRecord] = []
        self._cursors = _Cursors()
        self._faults = FaultInjector()
        self._active_faults: list[tuple[FaultPlan, str, pd.Timestamp | None]] = []
        self._pending_faults = list(self.scenario.faults)
        self._runs = 0
        self._seen: dict[str, int] = {}  # reactive sensor -> the run count at its last tick
        self._log_writes = 0  # slices of traffic written to the prediction log
        self._seen_log: dict[str, tuple[int, int]] = {}  # log sensor -> (log writes, runs) at its last tick
        self._failed_runs = 0
        self._alerts_seen = 0
        self._held: set[str] = set()
        self._day_index = 0
        self._now = pd.Timestamp(self.start, tz="UTC")

    # ------------------------------------------------------------------------------------------------ setup

    def _paths(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.home = self.out / "dagster"
        self.home.mkdir(exist_ok=True)
        # One event-log database for all runs (Dagster's default opens and migrates a new SQLite file per run, most of
        # an in-process run's cost). The same settings are written to dagster.yaml, so `DAGSTER_HOME=<out>/dagster
        # dagster dev` shows the simulated instance afterwards.
        self._storage = {
            "event_log_storage": {
                "module": "dagster._core.storage.event_log",
                "class": "ConsolidatedSqliteEventLogStorage",
                "config": {"base_dir": str(self.home / "history")},
            }
        }
        (self.home / "dagster.yaml").write_text(
            yaml.safe_dump({"telemetry": {"enabled": False}, **self._storage}), encoding="utf-8"
        )
        self.lake = LakeResource(root=str(self.out / "lake"))
        self.mlflow = MlflowResource(root=str(self.out / "mlflow"))
        self.alerts = AlertingResource(log_path=str(self.out / "alerts.jsonl"))

    def _source(self, today: dt.date) -> DataSourceResource:
        return DataSourceResource(
            today=today.isoformat(), rows_per_day=self.rows_per_day, scenarios=list(self.scenario.windows)
        )

    def _bind(self, today: dt.date) -> None:
        """(Re)build the code location for the deployed code and today's clock, as a reload of the location would."""
        self.source = self._source(today)
        self.resources = {"lake": self.lake, "source": self.source, "mlflow": self.mlflow, "alerts": self.alerts}
        self.defs = build_definitions([self._code], resources=self.resources)
        # The resources as the daemon holds them: configured once, not re-validated on every one of a day's hundreds
        # of sensor ticks (which would cost more than the ticks themselves).
        self._built = {name: dg.ResourceDefinition.hardcoded_resource(value) for name, value in self.resources.items()}
        self.repository = self.defs.get_repository_def()

    # ------------------------------------------------------------------------------------------------- run

    def run(self) -> SimulationResult:
        started = time.perf_counter()
        self._paths()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Dagster's beta/preview warnings, once per definition, every day
            with (
                _scratch_sqlite(),
                dg.DagsterInstance.local_temp(tempdir=str(self.home), overrides=self._storage) as instance,
            ):
                self.instance = instance
                self._bind(self.start)
                self.router = self._new_router()
                try:
                    for index in range(self.days):
                        self._day_index = index + 1
                        self._simulate_day(self.start + dt.timedelta(days=index))
                        if self._progress is not None:
                            self._progress(index + 1, self.days, self._status_line())
                finally:
                    self.router.close()
                final_state = read_state(self.mlflow, self.spec.name)
        self._measure_days()
        return SimulationResult(
            spec=self.spec,
            scenario=self.scenario,
            seed=self.seed,
            out=self.out,
            events=self.events,
            days=self.records,
            final_state=final_state,
            wall_seconds=time.perf_counter() - started,
            runs=self._runs,
            failed_runs=self._failed_runs,
        )

    def _new_router(self) -> Router:
        router = build_router(
            self.spec,
            lake_root=self.lake.root,
            mlflow=self.mlflow,
            alerts=self.alerts,
            faults=self._faults,
            seed=self.seed,
        )
        router.refresh()
        return router

    def _status_line(self) -> str:
        state = read_state(self.mlflow, self.spec.name)
        return f"{state.describe().split(', canary_weight')[0]}; {len(self.events)} events"

    # ------------------------------------------------------------------------------------------------- day

    def _simulate_day(self, date: dt.date) -> None:
        day_start = pd.Timestamp(date, tz="UTC")
        for change in self.scenario.code_changes:
            if change.day == self._day_index:
                self._code = change.change(self._code)
                self._seen.clear()  # new code: every sensor looks again (code versions changed)
                self._event("scenario", None, None, f"code change shipped: {change.describe}", when=day_start)
        if self._day_index == self.scenario.onset and self.scenario.windows:
            self._event("scenario", None, None, self.scenario.description, when=day_start)
        self._bind(date)
        record = DailyRecord(day=self._day_index, date=date.isoformat())
        self.records.append(record)
        requests = day_requests(self.spec, self.source, date)
        event_times = requests[self.spec.source.event_time_column]
        slice_length = pd.Timedelta(seconds=self.spec.monitoring.health_interval_seconds)
        fires = self._cron_fires(day_start)
        self._now = day_start
        self._react()
        tick = day_start
        while tick < day_start + pd.Timedelta(days=1):
            end = min(tick + slice_length, day_start + pd.Timedelta(days=1))
            self._switch_faults(tick)
            chunk = requests[(event_times >= tick) & (event_times < end)]
            if len(chunk):
                served = serve(self.router, self.spec, chunk)
                self.router.settle()
                if self.router.log.flush():
                    self._log_writes += 1
                _count(record, served)
            self._now = end
            for when, schedule in [fire for fire in fires if tick < fire[0] <= end]:
                self._now = when
                self._tick_schedule(schedule, when)
                self._react()
            self._now = end
            self._tick_log_sensors(end)
            tick = end

    def _cron_fires(self, day_start: pd.Timestamp) -> list[tuple[pd.Timestamp, dg.ScheduleDefinition]]:
        """Every (time, schedule) tick within the day starting at `day_start`, in time order."""
        fires = []
        end = day_start + pd.Timedelta(days=1)
        for schedule in self.repository.schedule_defs:
            zone = schedule.execution_timezone or "UTC"
            ticks = croniter(schedule.cron_schedule, day_start.tz_convert(zone).to_pydatetime())
            while (stamp := pd.Timestamp(ticks.get_next(dt.datetime)).tz_convert("UTC")) < end:
                fires.append((stamp, schedule))
        return sorted(fires, key=lambda fire: (fire[0], fire[1].name))

    def _switch_faults(self, now: pd.Timestamp) -> None:
        for plan in list(self._pending_faults):
            if plan.at_day is None or plan.at_day != self._day_index:
                continue
            start = pd.Timestamp(dt.datetime.combine(now.date(), plan.at_time), tz="UTC")
            if now < start:
                continue
            version = read_state(self.mlflow, self.spec.name).champion if plan.role == "champion" else None
            if version is None:
                raise SimulationError(
                    f"scenario {self.scenario.name}: no {plan.role} serves on day {self._day_index} to inject the "
                    "fault into; simulate more days or a later --onset"
                )
            self._faults.switch_on(version, plan.fault)
            self._pending_faults.remove(plan)
            self._active_faults.append((plan, version, start + pd.Timedelta(hours=plan.hours)))
            self._fault_note(plan, version, start)
        for plan, version, until in list(self._active_faults):
            if until is not None and now >= until:
                self._faults.switch_off(version)
                self._active_faults.remove((plan, version, until))

    def _fault_note(self, plan: FaultPlan, version: str, when: pd.Timestamp) -> None:
        _LOGGER.info("%s: fault on %s v%s: %s", when, plan.role, version, plan.fault.description)
        self._event("scenario", version, plan.role, f"fault injected: {plan.fault.description}", when=when)

    # ------------------------------------------------------------------------------------------- triggers

    def _tick_schedule(self, schedule: dg.ScheduleDefinition, when: pd.Timestamp) -> None:
        context = dg.build_schedule_context(
            self.instance,
            scheduled_execution_time=when.to_pydatetime(),
            repository_def=self.repository,
            resources=self._built,
        )
        with context:
            data = schedule.evaluate_tick(context)
        for request in data.run_requests or []:
            self._launch(request, job_name=schedule.job_name, origin={"dagster/schedule_name": schedule.name})

    def _sensor(self, name: str) -> dg.SensorDefinition:
        return self.repository.get_sensor_def(f"{self.spec.name}_{name}")

    def _tick_sensor(self, sensor: dg.SensorDefinition) -> int:
        """Evaluate one sensor as the daemon would and run what it asks; returns the number of runs started."""
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self._cursors.sensors.get(sensor.name),
            repository_def=self.repository,
            resources=self._built,
        )
        with context:
            data = sensor.evaluate_tick(context)
        if data.cursor is not None:
            self._cursors.sensors[sensor.name] = data.cursor
        self._note_skip(sensor, data.skip_message)
        started = 0
        for request in data.run_requests or []:
            started += self._launch(request, job_name=_target_job(sensor), origin={"dagster/sensor_name": sensor.name})
        return started

    def _tick_automation(self, sensors: Sequence[dg.AutomationConditionSensorDefinition]) -> int:
        """Evaluate every automation-condition sensor's conditions in one pass (their targets are disjoint, and a
        condition's state is kept per asset) and run each sensor's requests with its own tags, one run per
        partition, as the daemon groups them."""
        selection = sensors[0].asset_selection
        for sensor in sensors[1:]:
            selection = selection | sensor.asset_selection
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            asset_selection=selection,
            evaluation_time=self._now.to_pydatetime(),
            cursor=self._cursors.automation.get("*"),
        )
        self._cursors.automation["*"] = result.cursor
        if not result.total_requested:
            return 0
        graph = self.defs.resolve_asset_graph()
        started = 0
        for sensor in sensors:
            by_partition: dict[str | None, list[dg.AssetKey]] = {}
            for key in sorted(sensor.asset_selection.resolve(graph), key=str):
                for partition in sorted(result.get_requested_partitions(key), key=lambda p: "" if p is None else p):
                    by_partition.setdefault(partition, []).append(key)
            for partition, keys in by_partition.items():
                started += self._execute(
                    self.defs.resolve_implicit_global_asset_job_def(),
                    asset_selection=keys,
                    partition_key=partition,
                    run_config=None,
                    tags={
                        **sensor.run_tags,
                        "dagster/sensor_name": sensor.name,
                        "dagster/from_automation_condition": "true",
                    },
                )
        return started

    def _launch(self, request: dg.RunRequest, *, job_name: str | None, origin: Mapping[str, str]) -> int:
        if request.run_key is not None:
            key = f"{next(iter(origin.values()))}:{request.run_key}"
            if key in self._cursors.run_keys:
                return 0
            self._cursors.run_keys.add(key)
        name = request.job_name or job_name
        if name is None and not request.asset_selection:
            raise SimulationError(f"{origin}: a run request names neither a job nor assets: {request}")
        job = self.defs.resolve_job_def(name) if name else self.defs.resolve_implicit_global_asset_job_def()
        tags = dict(request.tags)
        tags.update(origin)
        if request.run_key is not None:
            tags["dagster/run_key"] = request.run_key
        return self._execute(
            job,
            asset_selection=list(request.asset_selection) if request.asset_selection else None,
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=tags,
        )

    def _execute(
        self,
        job: dg.JobDefinition,
        *,
        asset_selection: Sequence[dg.AssetKey] | None,
        partition_key: str | None,
        run_config: Any,
        tags: Mapping[str, str],
    ) -> int:
        if isinstance(run_config, dg.RunConfig):
            run_config = run_config.to_config_dict()
        is_retrain = job.name == f"{self.spec.name}_retrain" or (
            asset_selection is not None and asset_key(self.spec.name, "candidate_model") in asset_selection
        )
        if is_retrain:
            trigger = tags.get(TAG_TRIGGER, "manual")
            self._event("retrain_triggered", None, None, f"{trigger}: {tags.get(TAG_REASON, '')}")
        # Runs log to the instance's event log as always; the console stays quiet (a replay runs thousands).
        run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
        result = job.execute_in_process(
            run_config=run_config,
            instance=self.instance,
            partition_key=partition_key,
            asset_selection=list(asset_selection) if asset_selection else None,
            tags=dict(tags),
            raise_on_error=False,
        )
        self._runs += 1
        if not result.success:
            self._failed_runs += 1
        self._record_run(result)
        return 1

    def _react(self) -> None:
        """Tick every run-driven sensor until a whole round starts no run (what a daemon's ticks would converge to).

        These sensors read only what runs write (materializations, check results, run records, the registry), so a
        sensor whose last tick came after the latest run would find nothing new: its tick is skipped.
        """
        reactive = [s for s in self.repository.sensor_defs if not s.name.endswith(_LOG_SENSORS)]
        automation = [s for s in reactive if isinstance(s, dg.AutomationConditionSensorDefinition)]
        reactive = [s for s in reactive if s not in automation]
        for _ in range(_MAX_ROUNDS):
            started = 0
            if automation and self._seen.get("*automation") != self._runs:
                self._seen["*automation"] = self._runs
                started += self._tick_automation(automation)
            for sensor in reactive:
                if self._seen.get(sensor.name) == self._runs:
                    continue
                self._seen[sensor.name] = self._runs
                started += self._tick_sensor(sensor)
            self._collect_alerts()
            if not started:
                return
        raise SimulationError(f"sensors kept starting runs after {_MAX_ROUNDS} rounds at {self._now}")

    def _tick_log_sensors(self, now: pd.Timestamp) -> None:
        monitoring = self.spec.monitoring
        # Production health on its own interval (the seed's 5 minutes): an incident is caught within one. The shadow
        # and canary gates judge days and hours of evidence: they tick hourly in event time at most (a daemon would
        # tick the shadow sensor every minute, which changes its decisions by less than an hour).
        intervals = {
            "production_health_sensor": monitoring.health_interval_seconds,
            "shadow_sensor": max(monitoring.monitor_interval_seconds, _GATE_TICK_SECONDS),
            "canary_sensor": max(monitoring.canary_interval_seconds, _GATE_TICK_SECONDS),
        }
        for name, seconds in intervals.items():
            last = self._cursors.last_tick.get(name)
            if last is not None and now - last < pd.Timedelta(seconds=seconds):
                continue
            self._cursors.last_tick[name] = now
            # These sensors read the log and the registry; when neither changed since their last tick (no request
            # logged, no run: a night, or the days before the first champion), the tick would decide the same.
            state = (self._log_writes, self._runs)
            if self._seen_log.get(name) == state:
                continue
            self._seen_log[name] = state
            if self._tick_sensor(self._sensor(name)):
                self._react()
        self._collect_alerts()

    # ------------------------------------------------------------------------------------------- timeline

    def _event(
        self, kind: str, version: str | None, role: str | None, detail: str, *, when: pd.Timestamp | None = None
    ) -> None:
        stamp = when if when is not None else self._now
        self.events.append(
            TimelineEvent(
                day=self._day_index,
                time=stamp.isoformat(),
                event=kind,
                model_version=str(version) if version is not None else None,
                role=role,
                detail=detail,
            )
        )

    def _record_run(self, result: dg.ExecuteInProcessResult) -> None:
        model = self.spec.name
        roles_changed = False
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                    key = evaluation.asset_key
                    failed = _meta(evaluation.metadata)
                    detail = f"{key.path[-1]} {evaluation.check_name} failed"
                    partition = evaluation.partition or result.dagster_run.tags.get("dagster/partition")
                    if partition:
                        detail += f" for {partition}"
                    count = failed.get("failures") or failed.get("failure count") or failed.get("failed rules")
                    if count not in (None, ""):
                        detail += f" ({count})"
                    if key.path[-1] != GATE_DECISION:
                        self._event("check_failed", None, None, detail)
            if event.event_type_value != "ASSET_MATERIALIZATION":
                continue
            materialization = event.step_materialization_data.materialization
            name = materialization.asset_key.path[-1]
            metadata = _meta(materialization.metadata)
            if name == GATE_DECISION:
                passed = bool(metadata.get("passed"))
                decision = self.lake.read_json(model, GATE_DECISION, CURRENT) or {}
                reasons = "; ".join(decision.get("reasons", [])) if not passed else "every rule passed"
                detail = "; ".join(part for part in (reasons, str(metadata.get("note") or "")) if part)
                self._event("gate_passed" if passed else "gate_failed", None, None, detail)
            elif name == REGISTERED_MODEL and metadata.get("new version", True):
                self._event(
                    "registered", str(metadata.get("version")), "challenger", "passed the gate; alias challenger"
                )
                roles_changed = True
            elif name == DEPLOYMENT:
                action = str(metadata.get("action"))
                kind, role = _DEPLOYMENT_EVENTS.get(action, ("hold", None))
                version = str(metadata.get("version"))
                detail = str(metadata.get("reason", ""))
                if action == "advance_canary" or action == "start_canary":
                    detail = f"{metadata.get('canary weight', 0):g}% of traffic: {detail}"
                if action == "rollback_canary":
                    detail = f"canary rollback: {detail}"
                elif action == "rollback_production":
                    detail = f"production rollback to v{metadata.get('champion')}: {detail}"
                self._event(kind, version, role, detail)
                roles_changed = True
                self._on_deployment(action, version)
            elif name == DRIFT_REPORT and metadata.get("drifted"):
                self._event("drift_detected", None, None, self._drift_detail(materialization.partition, metadata))
        if not result.success:
            failure = result.get_run_failure_event()
            message = failure.message if failure is not None else "the run failed"
            _LOGGER.info("run %s failed: %s", result.run_id, message)
        if roles_changed:
            self.router.refresh()

    def _drift_detail(self, partition: str | None, metadata: Mapping[str, Any]) -> str:
        document = self.lake.read_json(self.spec.name, DRIFT_REPORT, report_name(partition)) if partition else None
        if document:
            drifted = [
                f"{column['column']} PSI {column['psi']:.3f}"
                for column in document.get("columns", [])
                if column.get("critical") and column.get("verdict") == "drift"
            ]
            return f"drift on {partition}: " + ", ".join(drifted)
        return f"drift on {partition}: {metadata.get('drifted critical')}"

    def _on_deployment(self, action: str, version: str) -> None:
        """Switch on the faults a scenario attaches to a canary step."""
        if action not in ("start_canary", "advance_canary"):
            return
        state = read_state(self.mlflow, self.spec.name)
        for plan in list(self._pending_faults):
            if plan.role == "canary" and plan.at_step is not None and state.canary_step == plan.at_step:
                self._faults.switch_on(version, plan.fault)
                self._pending_faults.remove(plan)
                self._active_faults.append((plan, version, None))
                self._fault_note(plan, version, self._now)

    def _note_skip(self, sensor: dg.SensorDefinition, message: str | None) -> None:
        """Record the first hold of each canary step that a rule asked for (the seed's prediction-PSI hold), not the
        ticks that merely wait for evidence."""
        if not message or not sensor.name.endswith("canary_sensor") or not _PSI_HOLD.search(message):
            return
        state = read_state(self.mlflow, self.spec.name)
        version = state.canary if sensor.name.endswith("canary_sensor") else state.shadow
        key = f"{sensor.name}:{version}:{state.canary_step}"
        if key in self._held:
            return
        self._held.add(key)
        role = "canary" if sensor.name.endswith("canary_sensor") else "shadow"
        self._event("hold", version, role, message)

    def _collect_alerts(self) -> None:
        sent = self.alerts.read()
        for alert in sent[self._alerts_seen :]:
            self._event("alert", _alert_version(alert), None, f"{alert.get('severity')}: {alert.get('title')}")
        self._alerts_seen = len(sent)

    # ------------------------------------------------------------------------------------------- measures

    def _measure_days(self) -> None:
        """Realised AUC per day and version (served predictions against the outcomes the source knows) and the
        drift report's PSI per critical column."""
        from serving.prediction_log import read_predictions

        spec = self.spec
        final = self.start + dt.timedelta(days=self.days + spec.source.label_delay_days + 1)
        truth_source = self._source(final)
        label = spec.source.label_column
        for record in self.records:
            date = dt.date.fromisoformat(record.date)
            drift = self.lake.read_json(spec.name, DRIFT_REPORT, report_name(record.date))
            if drift and drift.get("judged"):
                for column in drift.get("columns", []):
                    if column.get("critical"):
                        record.psi[column["column"]] = float(column["psi"])
                        record.psi_threshold[column["column"]] = float(column["threshold"])
            log = read_predictions(self.lake.root, spec.name, days=[date])
            if log.empty:
                continue
            served = log[log["served"] & log["score"].notna()]
            if served.empty:
                continue
            labels = truth_source.labels(spec, date)[[spec.source.entity_id_column, label]]
            joined = served.merge(
                labels.rename(columns={spec.source.entity_id_column: "request_id"}).astype({"request_id": str}),
                on="request_id",
                how="inner",
            )
            record.auc = _auc(joined[label], joined["score"])
            for version, group in joined.groupby("model_version"):
                auc = _auc(group[label], group["score"])
                if auc is not None:
                    record.auc_by_version[str(version)] = auc


def _target_job(sensor: dg.SensorDefinition) -> str | None:
    """The job a sensor's run requests run, or None for a sensor that names assets instead."""
    try:
        return sensor.job_name
    except dg.DagsterInvalidDefinitionError:
        return None


@contextlib.contextmanager
def _scratch_sqlite() -> Iterator[None]:
    """SQLite without waiting for the disk (no fsync, a write-ahead log) for the simulation's own stores: they are a
    replay's scratch, rebuilt by running it again, and a Dagster run's twenty event writes would otherwise wait for
    twenty syncs."""

    def pragmas(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            cursor = connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", pragmas)
    try:
        yield
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", pragmas)


def _count(record: DailyRecord, served: Served) -> None:
    for (version, _role), count in served.by_version.items():
        record.traffic[version] = record.traffic.get(version, 0) + count
    record.requests += served.requests
    record.errors += served.errors


def _auc(labels: pd.Series, scores: pd.Series) -> float | None:
    y = np.asarray(labels, dtype=int)
    if len(y) < 2 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def _meta(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def _alert_version(alert: Mapping[str, Any]) -> str | None:
    details = alert.get("details") or {}
    for key in ("version", "kept_version"):
        if details.get(key):
            return str(details[key])
    return None
