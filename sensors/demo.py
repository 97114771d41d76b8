"""The live demo: a feed that replays a model's source on a simulated clock, and the traffic it serves.

Defined only for a spec with `demo.feed: true` (the shipped example):

- `<model>_demo_feed`, a sensor. Each simulated day it lands the next event day through `<model>_ingest`, fetches
  through `<model>_labels` the day whose `source.label_delay_days` just passed on the simulated clock, and, once a
  champion serves, sends the day in progress through `<model>_demo_traffic`. The warm-up days land back to back, as
  fast as their runs finish; then one day every `demo.seconds_per_day`. While no model version exists it asks ONCE
  for a first model (`<model>_retrain` on the labelled days at hand, not the spec's full window), so the gate, the
  registration and the rollout sensor's first deployment follow within minutes. From there the platform's own
  triggers (automation, drift, decay, rollout, shadow, canary, health) run the loop.
- `<model>_demo_traffic`, an op job: one event day's requests through the router `mlplatform serve` runs (the
  registry's champion, canary and shadow), every prediction flushed to the prediction log.

The simulated clock lives in the sensor's JSON cursor (`next_day`: the next event day to land; "today" is the day
after the last landed one). It never runs ahead of the source's own clock (`DataSourceResource.current_date`), so
every label it asks for has arrived, and it waits while `MAX_IN_FLIGHT` of its runs are queued or running: `dagster
dev` runs four runs at once on a small machine, and a burst of landings would hold back the validation, features and
training of the days already landed (the feed's runs also sit below them in the run queue, priority -1). A slow
machine slows the simulated days rather than piling up runs.

Decisions are plain functions (`plan_tick`, `first_model_decision`, `feed_paused`); the sensor and the op only read
their inputs and turn decisions into runs. The feed is defined RUNNING; `MLPLATFORM_DEMO_FEED=0` pauses it, read by
the source resource when the feed ticks (never when the definitions load): each tick then skips, naming the switch,
for a quiet instance.
Stopping the sensor in the UI works as for any sensor.
"""

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg
from pydantic import Field

from platform_assets.keys import ALIAS_CHAMPION, FEATURES, LABELS, TAG_REASON, TAG_TRIGGER, TRAINING_SET, asset_key
from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DEMO_FEED_ENV, DataSourceResource
from sensors.training import retrain_job_name
from simulation.traffic import Served, build_router, day_requests, serve

__all__ = [
    "DEMO_FEED_ENV",
    "MAX_IN_FLIGHT",
    "TICK_SECONDS",
    "TRIGGER",
    "DemoTraffic",
    "DemoTrafficConfig",
    "FeedCursor",
    "FeedTick",
    "FirstModel",
    "build_demo",
    "feed_paused",
    "feed_sensor_name",
    "first_model_decision",
    "plan_tick",
    "serve_demo_day",
    "traffic_job_name",
]

TRIGGER = "demo_feed"
# The feed's runs queued or running at most: the other slots of the run queue (dagster.yaml: 4) stay free for the
# automation, training and deployment runs the landed days start.
MAX_IN_FLIGHT = 2
# How often the sensor looks; a simulated day lands when its time has come and the runs of the last one are moving.
TICK_SECONDS = 15
_OFF = {"0", "false", "no", "off"}
# Below the automation's runs (priority 0) in the run queue: the days already landed go first.
_BEHIND_AUTOMATION = {"dagster/priority": "-1"}
_SENSOR_TAG = "dagster/sensor_name"  # set by Dagster on every run a sensor launches
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def feed_sensor_name(model: str) -> str:
    return f"{model}_demo_feed"


def traffic_job_name(model: str) -> str:
    return f"{model}_demo_traffic"


def feed_paused(switch: str | None) -> str | None:
    """Why the feed is paused when its switch (`MLPLATFORM_DEMO_FEED`, unset: None) is 0/false/no/off (a quiet
    instance for tests and screenshots), else None."""
    value = (switch or "").strip()
    if value.lower() not in _OFF:
        return None
    return f"the demo feed is paused: {DEMO_FEED_ENV}={value} in the environment of the code location"


# ------------------------------------------------------------------------------------------------ the clock


@dataclass(frozen=True)
class FeedCursor:
    """The feed's state between ticks: the next event day to land, when the last one landed (epoch seconds), and
    whether the first model is settled."""

    next_day: dt.date
    landed_at: float | None = None
    first_model: bool = False

    @classmethod
    def parse(cls, text: str | None) -> "FeedCursor | None":
        if not text:
            return None
        data = json.loads(text)
        return cls(
            next_day=dt.date.fromisoformat(data["next_day"]),
            landed_at=data.get("landed_at"),
            first_model=bool(data.get("first_model")),
        )

    def to_json(self) -> str:
        return json.dumps(
            {"next_day": self.next_day.isoformat(), "landed_at": self.landed_at, "first_model": self.first_model}
        )


@dataclass(frozen=True)
class FeedTick:
    """One tick of the feed: the day that lands (None: the clock waits, `reason` says why), whose labels arrive,
    whose traffic is served, and the clock after it.

    `today` is the simulated date after the tick: the day after the last landed day (a day lands once it is over),
    whose traffic is in progress.
    """

    today: dt.date
    land: dt.date | None
    labels: tuple[dt.date, ...]
    traffic: dt.date | None
    cursor: FeedCursor
    reason: str = ""


def plan_tick(
    spec: ModelSpec, cursor: FeedCursor | None, *, source_today: dt.date, now: float, in_flight: int = 0
) -> FeedTick:
    """The feed's next simulated day, or why the clock waits.

    A day lands when the feed has fewer than `MAX_IN_FLIGHT` runs queued or running and either the warm-up
    (`spec.demo_warmup_days()` days from `demo.start`) is not over or `demo.seconds_per_day` have passed since the
    last day landed. Labels of event day D arrive on D + `label_delay_days` (at least one day: a day's outcomes are
    complete only after it), so landing day T - 1 (today becomes T) fetches those of T - delay. The feed lands no day
    after `demo.end`, nor one the source's clock has not finished (`source_today` - 1), so no label is asked for
    before it exists.
    """
    demo, start = spec.demo, spec.demo_start()
    state = cursor or FeedCursor(next_day=start)
    day = state.next_day
    clock_limit = source_today - dt.timedelta(days=1)
    last_day = min(demo.end, clock_limit) if demo.end is not None else clock_limit

    def wait(reason: str) -> FeedTick:
        return FeedTick(today=day, land=None, labels=(), traffic=None, cursor=state, reason=reason)

    if day > last_day:
        limit = (
            f"demo.end {demo.end}"
            if demo.end is not None and demo.end <= clock_limit
            else f"the source's clock ({source_today})"
        )
        return wait(f"the demo feed has landed every day up to {last_day}, the last before {limit}")
    if in_flight >= MAX_IN_FLIGHT:
        return wait(f"the simulated clock waits at {day}: {in_flight} of the demo's runs are queued or running")
    warming_up = day < start + dt.timedelta(days=spec.demo_warmup_days())
    if not warming_up and state.landed_at is not None and now - state.landed_at < demo.seconds_per_day:
        return wait(f"{day} lands in {demo.seconds_per_day - (now - state.landed_at):.0f} s")
    today = day + dt.timedelta(days=1)
    labelled = today - dt.timedelta(days=max(spec.source.label_delay_days, 1))
    return FeedTick(
        today=today,
        land=day,
        labels=(labelled,) if labelled >= start else (),
        # The day in progress is served now; its batch lands with the next simulated day.
        traffic=today if today <= (demo.end or source_today) else None,
        cursor=replace(state, next_day=today, landed_at=now),
    )


# ------------------------------------------------------------------------------------------ the first model


@dataclass(frozen=True)
class FirstModel:
    """Whether the demo asks for its first model now, on which window, and why (or why not).

    `settled`: the question is closed for good (asked once, or a model already exists); the cursor remembers it.
    """

    act: bool
    reason: str
    settled: bool = False
    window_end: str | None = None
    window_days: int | None = None


def first_model_decision(
    spec: ModelSpec,
    labelled_days: Iterable[str],
    *,
    has_versions: Callable[[], bool],
    retrain_in_flight: Callable[[], bool],
) -> FirstModel:
    """The demo's first model: one retraining run as soon as the labelled days allow a time split.

    It needs `validation_days + test_days + 1` labelled days (at least one to train on) inside a window of at most
    `training.window_days` ending at the latest labelled day; that window is the run's. Nothing is asked for once a
    version is registered (the question is then settled) or while a retraining run is queued or running. The two
    lookups are callables, made only when the labelled days would allow a model.
    """
    training = spec.training
    needed = training.validation_days + training.test_days + 1
    days = sorted(dt.date.fromisoformat(day) for day in labelled_days)
    if not days:
        return FirstModel(False, f"waiting for {needed} labelled days for a first model (have none)")
    end = days[-1]
    window_start = max(days[0], end - dt.timedelta(days=training.window_days - 1))
    present = [day for day in days if day >= window_start]
    if len(present) < needed:
        return FirstModel(
            False, f"waiting for {needed} labelled days for a first model (have {len(present)}, through {end})"
        )
    if has_versions():
        return FirstModel(
            False, "a model version is already registered: the platform's own triggers take over", settled=True
        )
    if retrain_in_flight():
        return FirstModel(False, "a retraining run is already queued or running; the first model waits for it")
    return FirstModel(
        True,
        f"the demo's first model: {len(present)} labelled days {window_start}..{end} "
        f"(the spec's window is {training.window_days} days)",
        settled=True,
        window_end=end.isoformat(),
        window_days=max((end - window_start).days + 1, 3),
    )


def _has_versions(mlflow: MlflowResource, model: str) -> bool:
    return bool(mlflow.client().search_model_versions(f"name = '{model}'", max_results=1))


# ------------------------------------------------------------------------------------------------ the traffic


class DemoTrafficConfig(dg.Config):
    """The event day whose traffic to serve."""

    day: str = Field(description="event day (YYYY-MM-DD); its requests carry their own event times")


@dataclass(frozen=True)
class DemoTraffic:
    """What one day's traffic did: who served it, and the counts."""

    day: dt.date
    champion: str | None
    canary: str | None
    shadow: str | None
    served: Served
    note: str


def serve_demo_day(
    spec: ModelSpec,
    day: dt.date,
    *,
    lake_root: str,
    mlflow: MlflowResource,
    alerts: AlertingResource | None,
    source: DataSourceResource,
) -> DemoTraffic:
    """Serve `day`'s requests through the registry's current roles; the prediction log is flushed on return.

    With no champion loaded nothing is served (and nothing is logged): production has no model yet.
    """
    router = build_router(spec, lake_root=lake_root, mlflow=mlflow, alerts=alerts)
    try:
        router.refresh()
        status = router.status()
        if not status.ready:
            return DemoTraffic(day, None, None, None, Served(), f"nothing served: {status.reason}")
        served = serve(router, spec, day_requests(spec, source, day))
        settled = router.settle()
        note = f"served by champion v{status.champion}" + ("" if settled else "; some shadow jobs had not finished")
        return DemoTraffic(day, status.champion, status.canary, status.shadow, served, note)
    finally:
        router.close()


def _traffic_metadata(traffic: DemoTraffic) -> dict[str, Any]:
    served = traffic.served
    rows = "\n".join(
        f"| v{version} | {role} | {count} |" for (version, role), count in sorted(served.by_version.items())
    )
    metadata: dict[str, Any] = {
        "day": traffic.day.isoformat(),
        "champion": f"v{traffic.champion}" if traffic.champion else "none",
        "canary": f"v{traffic.canary}" if traffic.canary else "none",
        "shadow": f"v{traffic.shadow}" if traffic.shadow else "none",
        "requests": served.requests,
        "errors": served.errors,
        "unserved": served.unserved,
        "note": traffic.note,
        "served by version": dg.MetadataValue.md(
            "| version | role | requests |\n| --- | --- | --- |\n" + rows if rows else "nothing served"
        ),
    }
    for (version, role), count in sorted(served.by_version.items()):
        metadata[f"requests v{version} {role}"] = count
    return metadata


def _traffic_op(model: str) -> str:
    return f"{model}__demo_traffic"


def _traffic_job(spec: ModelSpec) -> dg.JobDefinition:
    model = spec.name

    @dg.op(
        name=_traffic_op(model),
        out=dg.Out(dg.Nothing),
        description=f"Serves one event day of {model}'s traffic through the registry's champion, canary and shadow.",
    )
    def demo_traffic(
        context: dg.OpExecutionContext,
        config: DemoTrafficConfig,
        lake: LakeResource,
        mlflow: MlflowResource,
        alerts: AlertingResource,
        source: DataSourceResource,
    ) -> dg.Output:
        day = dt.date.fromisoformat(config.day)
        traffic = serve_demo_day(spec, day, lake_root=lake.root, mlflow=mlflow, alerts=alerts, source=source)
        context.log.info(f"{model} traffic of {day}: {traffic.served.requests} requests; {traffic.note}")
        return dg.Output(None, metadata=_traffic_metadata(traffic))

    @dg.job(
        name=traffic_job_name(model),
        # One op: running it in the run's own process spares a second interpreter start per simulated day.
        executor_def=dg.in_process_executor,
        tags={TAG_TRIGGER: "manual", TAG_REASON: "launched by hand"},
        description=(
            f"Serves one event day of {model}'s requests through the router `mlplatform serve` runs, and flushes "
            "them to the prediction log. The demo feed launches it for each simulated day once a champion serves."
        ),
    )
    def traffic_job() -> None:
        demo_traffic()

    return traffic_job


# ------------------------------------------------------------------------------------------------ the sensor


def _job(jobs: Iterable[Any], name: str) -> Any:
    """The model's job named `name` (a job definition or an asset job still to resolve)."""
    for job in jobs:
        if getattr(job, "name", None) == name:
            return job
    raise ValueError(f"the demo feed needs the job {name!r}, which the model's triggers do not define")


def _tags(reason: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {TAG_TRIGGER: TRIGGER, TAG_REASON: reason[:1000], **(extra or {})}


def _feed_requests(model: str, tick: FeedTick, *, ingest: str, labels: str, traffic: str | None) -> list[dg.RunRequest]:
    """The tick's runs: each landed day, each day whose labels arrived, and the day in progress if `traffic` (the
    traffic job's name, given once a champion serves)."""
    requests = [
        dg.RunRequest(
            run_key=f"{model}:demo:ingest:{day}",
            job_name=ingest,
            partition_key=day.isoformat(),
            tags=_tags(f"the demo feed landed simulated day {day}", _BEHIND_AUTOMATION),
        )
        for day in ([tick.land] if tick.land is not None else [])
    ]
    requests += [
        dg.RunRequest(
            run_key=f"{model}:demo:labels:{day}",
            job_name=labels,
            partition_key=day.isoformat(),
            tags=_tags(f"labels of {day} arrived on the demo's clock ({tick.today})", _BEHIND_AUTOMATION),
        )
        for day in tick.labels
    ]
    if traffic is not None and tick.traffic is not None:
        requests.append(
            dg.RunRequest(
                run_key=f"{model}:demo:traffic:{tick.traffic}",
                job_name=traffic,
                run_config=dg.RunConfig(ops={_traffic_op(model): DemoTrafficConfig(day=str(tick.traffic))}),
                tags=_tags(f"the demo's traffic of {tick.traffic}", _BEHIND_AUTOMATION),
            )
        )
    return requests


def build_demo(spec: ModelSpec, triggers: dg.Definitions) -> dg.Definitions:
    """The demo feed sensor and the traffic job of `spec` (whose `demo.feed` is on), over the model's own jobs."""
    model, demo = spec.name, spec.demo
    ingest, labels = _job(triggers.jobs or [], f"{model}_ingest"), _job(triggers.jobs or [], f"{model}_labels")
    retrain = _job(triggers.jobs or [], retrain_job_name(model))
    traffic_job = _traffic_job(spec)
    training_op = asset_key(model, TRAINING_SET).to_python_identifier()
    name = feed_sensor_name(model)

    @dg.sensor(
        name=name,
        jobs=[ingest, labels, retrain, traffic_job],
        minimum_interval_seconds=min(TICK_SECONDS, demo.seconds_per_day),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"The live demo of {model}: lands the next event day ({spec.demo_warmup_days()} warm-up days back to "
            f"back, then one every {demo.seconds_per_day} s), fetches the labels whose "
            f"{spec.source.label_delay_days}-day delay passed on the simulated clock, serves the day's traffic once a "
            "champion exists, and asks once for a first model when enough days are labelled. The clock waits while "
            f"{MAX_IN_FLIGHT} of its runs are queued or running. Paused while {DEMO_FEED_ENV}=0."
        ),
    )
    def demo_feed(
        context: dg.SensorEvaluationContext, mlflow: MlflowResource, source: DataSourceResource
    ) -> dg.SensorResult:
        paused = feed_paused(source.demo_feed_switch())
        if paused is not None:
            return dg.SensorResult(skip_reason=dg.SkipReason(paused))
        instance = context.instance
        cursor = FeedCursor.parse(context.cursor)
        in_flight = instance.get_runs_count(dg.RunsFilter(tags={_SENSOR_TAG: name}, statuses=_IN_FLIGHT))
        tick = plan_tick(spec, cursor, source_today=source.current_date(), now=time.time(), in_flight=in_flight)
        notes = [tick.reason or f"simulated today is {tick.today}"]
        champion = tick.traffic is not None and mlflow.version_by_alias(model, ALIAS_CHAMPION) is not None
        if tick.traffic is not None and not champion:
            notes.append(f"no champion serves yet: the traffic of {tick.traffic} goes unserved")
        requests = _feed_requests(
            model, tick, ingest=ingest.name, labels=labels.name, traffic=traffic_job.name if champion else None
        )
        cursor = tick.cursor
        if not cursor.first_model:
            labelled = set(instance.get_materialized_partitions(asset_key(model, FEATURES))) & set(
                instance.get_materialized_partitions(asset_key(model, LABELS))
            )
            decision = first_model_decision(
                spec,
                labelled,
                has_versions=lambda: _has_versions(mlflow, model),
                retrain_in_flight=lambda: bool(
                    instance.get_runs_count(dg.RunsFilter(job_name=retrain.name, statuses=_IN_FLIGHT))
                ),
            )
            notes.append(decision.reason)
            if decision.act:
                window = {"window_end": decision.window_end, "window_days": decision.window_days}
                requests.append(
                    dg.RunRequest(
                        run_key=f"{model}:demo:first_model",
                        job_name=retrain.name,
                        run_config={"ops": {training_op: {"config": window}}},
                        tags=_tags(decision.reason),
                    )
                )
            if decision.settled:
                cursor = replace(cursor, first_model=True)
        if not requests:
            return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(notes)), cursor=cursor.to_json())
        context.log.info("; ".join(notes))
        return dg.SensorResult(run_requests=requests, cursor=cursor.to_json())

    return dg.Definitions(jobs=[traffic_job], sensors=[demo_feed])
