"""The live demo: the feed's simulated clock, its first-model rule, its sensor ticks, and the traffic job.

The clock and the first-model rule are plain functions, tested directly (with the laws a replay must keep: every
day lands once and in order, every label is fetched once and never before it arrives). The sensor is evaluated
with `dg.build_sensor_context` on a real instance and a real SQLite registry; the traffic job runs in process
against a registry whose champion is a real trained model, and its predictions are read back from the log.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import pytest
import yaml

from platform_assets import spec as spec_module
from platform_assets.definitions import build_definitions
from platform_assets.keys import ALIAS_CHAMPION, FEATURES, LABELS, asset_key
from platform_assets.spec import ModelSpec, SpecError, load_spec
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from sensors.demo import (
    DEMO_FEED_ENV,
    MAX_IN_FLIGHT,
    TICK_SECONDS,
    FeedCursor,
    FeedTick,
    feed_paused,
    feed_sensor_name,
    first_model_decision,
    plan_tick,
    traffic_job_name,
)
from serving.prediction_log import read_predictions
from tests.builders import register_version
from tests.conftest import SHIPPED_SPEC, SMALL_SPEC, day, platform_resources

MODEL = "delivery_delay"
START = dt.date(2026, 1, 1)
SOURCE_TODAY = dt.date(2026, 3, 1)
SENSOR = feed_sensor_name(MODEL)
TRAFFIC_OP = f"{MODEL}__demo_traffic"
T0 = 1_800_000_000.0  # a wall-clock instant (epoch seconds) for the clock's pace


def _with(spec: ModelSpec, **sections: dict[str, Any]) -> ModelSpec:
    """The spec with some sections' fields replaced (validated again, as a YAML edit would be)."""
    raw = spec.model_dump(by_alias=True)
    for section, fields in sections.items():
        raw[section] = {**raw[section], **fields}
    return ModelSpec.model_validate(raw)


def _run(spec: ModelSpec, ticks: int, source_today: dt.date = SOURCE_TODAY, every: float = 60.0) -> list[FeedTick]:
    """`ticks` evaluations of the clock, `every` seconds apart, with no run of the feed in flight."""
    cursor, plans = None, []
    for index in range(ticks):
        tick = plan_tick(spec, cursor, source_today=source_today, now=T0 + index * every)
        plans.append(tick)
        cursor = tick.cursor
    return plans


def _landed(plans: list[FeedTick]) -> list[dt.date]:
    return [tick.land for tick in plans if tick.land is not None]


# ------------------------------------------------------------------------------------------------ the clock


@pytest.mark.unit
def test_the_first_tick_lands_the_first_day(spec: ModelSpec) -> None:
    tick = plan_tick(spec, None, source_today=SOURCE_TODAY, now=T0)
    assert (tick.land, tick.labels, tick.today) == (START, (), dt.date(2026, 1, 2))
    assert tick.traffic == dt.date(2026, 1, 2), "the day in progress is served; its batch lands next"
    assert tick.cursor == FeedCursor(next_day=dt.date(2026, 1, 2), landed_at=T0)
    assert tick.reason == ""


@pytest.mark.unit
def test_the_warm_up_lands_back_to_back_then_one_day_per_seconds_per_day(spec: ModelSpec) -> None:
    assert spec.demo_warmup_days() == 8, "validation 3 + test 3 + label delay 2: enough for a first model"
    warm_up = _run(spec, 8, every=TICK_SECONDS)
    assert _landed(warm_up) == [START + dt.timedelta(days=offset) for offset in range(8)]
    # Labels of day D arrive on D + 2: landing Jan 3 (today Jan 4) fetches Jan 2's.
    assert [tick.labels for tick in warm_up[:3]] == [(), (START,), (dt.date(2026, 1, 2),)]
    assert warm_up[-1].today == dt.date(2026, 1, 9) and warm_up[-1].labels == (dt.date(2026, 1, 7),)

    paced = plan_tick(spec, warm_up[-1].cursor, source_today=SOURCE_TODAY, now=T0 + 8 * TICK_SECONDS)
    assert paced.land is None and paced.cursor == warm_up[-1].cursor
    assert paced.reason == "2026-01-09 lands in 45 s"
    due = plan_tick(spec, warm_up[-1].cursor, source_today=SOURCE_TODAY, now=T0 + 7 * TICK_SECONDS + 60)
    assert (due.land, due.labels, due.traffic) == (dt.date(2026, 1, 9), (dt.date(2026, 1, 8),), dt.date(2026, 1, 10))


@pytest.mark.unit
def test_the_clock_waits_while_the_feeds_runs_are_queued_or_running(spec: ModelSpec) -> None:
    first = plan_tick(spec, None, source_today=SOURCE_TODAY, now=T0)
    busy = plan_tick(spec, first.cursor, source_today=SOURCE_TODAY, now=T0 + 600, in_flight=MAX_IN_FLIGHT)
    assert (busy.land, busy.labels, busy.traffic, busy.cursor) == (None, (), None, first.cursor)
    assert busy.reason == "the simulated clock waits at 2026-01-02: 2 of the demo's runs are queued or running"
    moving = plan_tick(spec, first.cursor, source_today=SOURCE_TODAY, now=T0 + 600, in_flight=MAX_IN_FLIGHT - 1)
    assert moving.land == dt.date(2026, 1, 2)


@pytest.mark.unit
@pytest.mark.parametrize("delay", [0, 1, 2, 5])
@pytest.mark.parametrize("warmup", [1, 3, 8])
@pytest.mark.parametrize("every", [TICK_SECONDS, 60.0])
def test_a_replay_lands_each_day_once_in_order_and_fetches_each_label_once_after_it_arrives(
    spec: ModelSpec, delay: int, warmup: int, every: float
) -> None:
    replay = _with(spec, source={"label_delay_days": delay}, demo={"warmup_days": warmup})
    plans = _run(replay, 40, every=every)
    landed = _landed(plans)
    assert landed == [START + dt.timedelta(days=offset) for offset in range(len(landed))], "in order, no gap"
    # The warm-up back to back, then one day per 60 s: every tick, or every fourth 15 s tick.
    assert len(landed) == (40 if every >= 60 else warmup + (40 - warmup) // 4)
    fetched = [day for tick in plans for day in tick.labels]
    assert fetched == sorted(set(fetched)), "no label fetched twice, and in order"
    for index, tick in enumerate(plans):
        for labelled in tick.labels:
            assert labelled + dt.timedelta(days=max(delay, 1)) <= tick.today, "never before the labels arrive"
            assert labelled in _landed(plans[: index + 1]), "only days already landed"
    # Every landed day whose labels arrived by the last simulated today has been fetched.
    assert fetched == [day for day in landed if day + dt.timedelta(days=max(delay, 1)) <= plans[-1].today]


@pytest.mark.unit
def test_the_feed_stops_at_demo_end_and_at_the_sources_clock(spec: ModelSpec) -> None:
    ended = _with(spec, demo={"start": "2026-01-10", "end": "2026-01-12"})
    plans = _run(ended, 4)
    assert _landed(plans) == [dt.date(2026, 1, 10), dt.date(2026, 1, 11), dt.date(2026, 1, 12)]
    assert [tick.labels for tick in plans[:3]] == [(), (dt.date(2026, 1, 10),), (dt.date(2026, 1, 11),)]
    assert plans[2].traffic is None, "no traffic after demo.end"
    assert plans[3].land is None and plans[3].cursor == plans[2].cursor
    assert plans[3].reason == "the demo feed has landed every day up to 2026-01-12, the last before demo.end 2026-01-12"

    clock = _run(spec, 5, source_today=dt.date(2026, 1, 5))
    assert _landed(clock)[-1] == dt.date(2026, 1, 4), "a day lands only once the source's clock has finished it"
    assert clock[-1].land is None and "the last before the source's clock (2026-01-05)" in clock[-1].reason


@pytest.mark.unit
def test_the_cursor_round_trips() -> None:
    cursor = FeedCursor(next_day=dt.date(2026, 2, 3), landed_at=T0, first_model=True)
    assert FeedCursor.parse(cursor.to_json()) == cursor
    assert FeedCursor.parse(None) is None and FeedCursor.parse("") is None


# ------------------------------------------------------------------------------------------ the first model


def _labelled(first: int, count: int) -> list[str]:
    return [day(offset) for offset in range(first, first + count)]


def _never() -> bool:
    raise AssertionError("looked up although the labelled days do not allow a model yet")


@pytest.mark.unit
def test_no_first_model_before_the_split_has_a_day_to_train_on(spec: ModelSpec) -> None:
    for labelled in ([], _labelled(0, 6)):
        decision = first_model_decision(spec, labelled, has_versions=_never, retrain_in_flight=_never)
        assert not decision.act and not decision.settled
        assert "waiting for 7 labelled days" in decision.reason


@pytest.mark.unit
def test_the_first_model_trains_on_the_labelled_days_at_hand(spec: ModelSpec) -> None:
    decision = first_model_decision(spec, _labelled(0, 7), has_versions=lambda: False, retrain_in_flight=lambda: False)
    assert decision.act and decision.settled
    assert (decision.window_end, decision.window_days) == (day(6), 7)
    assert decision.reason.startswith("the demo's first model: 7 labelled days 2026-01-01..2026-01-07")
    # Never wider than the spec's window.
    wide = first_model_decision(spec, _labelled(0, 40), has_versions=lambda: False, retrain_in_flight=lambda: False)
    assert (wide.window_end, wide.window_days) == (day(39), spec.training.window_days)


@pytest.mark.unit
def test_no_first_model_once_a_version_exists_or_while_a_retrain_runs(spec: ModelSpec) -> None:
    registered = first_model_decision(spec, _labelled(0, 9), has_versions=lambda: True, retrain_in_flight=_never)
    assert not registered.act and registered.settled, "a registered version settles the question for good"
    assert "already registered" in registered.reason
    running = first_model_decision(spec, _labelled(0, 9), has_versions=lambda: False, retrain_in_flight=lambda: True)
    assert not running.act and not running.settled
    assert "already queued or running" in running.reason


# -------------------------------------------------------------------------------------------- the switch


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "paused"),
    [(None, False), ("1", False), ("", False), ("0", True), (" off ", True), ("False", True), ("no", True)],
)
def test_the_environment_switch(value: str | None, paused: bool) -> None:
    reason = feed_paused(value)
    assert (reason is not None) == paused
    if paused:
        assert f"{DEMO_FEED_ENV}={value.strip()}" in (reason or "")


@pytest.mark.unit
def test_the_feed_is_defined_running_whatever_the_environment(
    spec: ModelSpec, resources: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Definitions load the same in any environment (nothing branches at load): the switch acts when the feed ticks."""
    monkeypatch.setenv(DEMO_FEED_ENV, "0")
    sensor = build_definitions([spec], resources=resources).get_repository_def().get_sensor_def(SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == TICK_SECONDS


@pytest.mark.unit
def test_a_spec_without_the_demo_has_no_feed(small_spec: ModelSpec, spec: ModelSpec, resources: dict) -> None:
    assert small_spec.demo.feed is False and spec.demo.feed is True
    repository = build_definitions([small_spec, spec], resources=resources).get_repository_def()
    sensors = {sensor.name for sensor in repository.sensor_defs}
    jobs = {job.name for job in repository.get_all_jobs()}
    assert SENSOR in sensors and traffic_job_name(MODEL) in jobs
    assert not any(name.startswith("parcel_small_demo") for name in sensors | jobs)


# ------------------------------------------------------------------------------------------- the spec section


def _spec_with(tmp_path: Path, base: Path, demo: dict[str, Any], source: dict[str, Any] | None = None) -> Path:
    raw = yaml.safe_load(base.read_text())
    raw["demo"] = demo
    if source is not None:
        raw["source"] = {key: value for key, value in raw["source"].items() if key != "synthetic"} | source
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.unit
@pytest.mark.parametrize(
    ("demo", "message"),
    [
        ({"feed": True, "start": "2025-12-31"}, "demo.start: 2025-12-31 is before source.start_date 2026-01-01"),
        ({"feed": True, "end": "2025-12-01"}, "demo.end: 2025-12-01 is before source.start_date"),
        ({"start": "2026-02-01", "end": "2026-01-20"}, "end 2026-01-20 is before start 2026-02-01"),
        ({"seconds_per_day": 5}, "demo.seconds_per_day: Input should be greater than or equal to 10"),
        ({"warmup_days": 0}, "demo.warmup_days: Input should be greater than or equal to 1"),
        ({"fed": True}, "demo.fed: unknown key"),
    ],
)
def test_a_bad_demo_section_names_its_field(tmp_path: Path, demo: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(_spec_with(tmp_path, SHIPPED_SPEC, demo))


@pytest.mark.unit
def test_the_feed_needs_a_replayable_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"kind": "files", "files": {"paths": ["data/*.parquet"]}}
    path = _spec_with(tmp_path, SMALL_SPEC, {"feed": True}, source=files)
    assert load_spec(path).demo.feed, "a files source replays: the feed is allowed"
    # A source kind the platform could not replay (none ships today) refuses the feed, naming the field.
    monkeypatch.setattr(spec_module, "REPLAYABLE_SOURCES", frozenset({"synthetic_deliveries"}))
    with pytest.raises(SpecError, match=r"demo\.feed: the demo feed replays the source day by day, which a 'files'"):
        load_spec(path)
    assert not load_spec(_spec_with(tmp_path, SMALL_SPEC, {"feed": False}, source=files)).demo.feed


# ------------------------------------------------------------------------------------------------ the sensor


class Tick(NamedTuple):
    requests: list[dg.RunRequest]
    skip: str | None
    cursor: str | None

    def of(self, job: str) -> list[dg.RunRequest]:
        return [request for request in self.requests if request.job_name == job]


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, env: dict[str, Any], cursor: str | None) -> Tick:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=env, definitions=defs)
    data = defs.get_repository_def().get_sensor_def(SENSOR).evaluate_tick(context)
    return Tick(list(data.run_requests or []), data.skip_message, data.cursor)


def _label_days(instance: dg.DagsterInstance, days: list[str]) -> None:
    """Features and labels of `days` recorded on the instance, as the automation and labels runs would leave them."""
    for partition in days:
        for name in (FEATURES, LABELS):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key(MODEL, name), partition=partition))


@pytest.fixture
def feed(spec: ModelSpec, lake: LakeResource, monkeypatch: pytest.MonkeyPatch) -> tuple[dg.Definitions, dict[str, Any]]:
    monkeypatch.delenv(DEMO_FEED_ENV, raising=False)  # the feed runs, whatever the shell running the tests says
    env = platform_resources(lake, DataSourceResource(today=SOURCE_TODAY.isoformat(), rows_per_day=200))
    return build_definitions([spec], resources=env), env


@pytest.mark.unit
def test_the_sensor_lands_a_day_and_the_labels_that_arrived(feed: tuple[dg.Definitions, dict[str, Any]]) -> None:
    defs, env = feed
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(defs, instance, env, None)
        [request] = first.requests
        assert (request.job_name, request.partition_key) == (f"{MODEL}_ingest", day(0))
        assert request.run_key == f"{MODEL}:demo:ingest:{day(0)}"
        assert request.tags["trigger"] == "demo_feed"
        assert request.tags["reason"] == "the demo feed landed simulated day 2026-01-01"
        # Behind the automation's runs in the queue: landed days are processed before more land.
        assert request.tags["dagster/priority"] == "-1"
        cursor = FeedCursor.parse(first.cursor)
        assert cursor is not None and cursor.next_day == dt.date(2026, 1, 2) and cursor.landed_at is not None
        assert _tick(defs, instance, env, None).requests == first.requests, "the same tick twice: the same run keys"

        # Still warming up: the next day lands at once, with the labels that arrived.
        second = _tick(defs, instance, env, first.cursor)
        assert [(r.job_name, r.run_key) for r in second.requests] == [
            (f"{MODEL}_ingest", f"{MODEL}:demo:ingest:{day(1)}"),
            (f"{MODEL}_labels", f"{MODEL}:demo:labels:{day(0)}"),
        ]
        assert second.requests[1].tags["reason"] == "labels of 2026-01-01 arrived on the demo's clock (2026-01-03)"
        assert all(r.tags["trigger"] == "demo_feed" and r.tags["dagster/priority"] == "-1" for r in second.requests)

        # Warmed up: one day per seconds_per_day.
        just_landed = FeedCursor(next_day=START + dt.timedelta(days=8), landed_at=time.time()).to_json()
        paced = _tick(defs, instance, env, just_landed)
        assert paced.requests == [] and paced.cursor == just_landed
        assert re.match(r"2026-01-09 lands in (59|60) s", paced.skip or ""), paced.skip
        due = _tick(defs, instance, env, FeedCursor(next_day=START + dt.timedelta(days=8), landed_at=0.0).to_json())
        assert [r.run_key for r in due.requests] == [
            f"{MODEL}:demo:ingest:{day(8)}",
            f"{MODEL}:demo:labels:{day(7)}",
        ]


@pytest.mark.unit
def test_a_paused_feed_skips_naming_the_switch_and_resumes_where_it_was(
    feed: tuple[dg.Definitions, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    defs, env = feed
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(defs, instance, env, None)
        monkeypatch.setenv(DEMO_FEED_ENV, "0")
        paused = _tick(defs, instance, env, first.cursor)
        assert paused.requests == [] and paused.cursor == first.cursor, "nothing lands; the cursor stays as it was"
        assert paused.skip == f"the demo feed is paused: {DEMO_FEED_ENV}=0 in the environment of the code location"
        monkeypatch.setenv(DEMO_FEED_ENV, "1")
        resumed = _tick(defs, instance, env, first.cursor)
        assert resumed.requests[0].run_key == f"{MODEL}:demo:ingest:{day(1)}"


@pytest.mark.unit
def test_the_sensor_waits_while_its_runs_are_queued_or_running(feed: tuple[dg.Definitions, dict[str, Any]]) -> None:
    defs, env = feed
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(defs, instance, env, None)
        # Runs the daemon created for the feed and has not finished (a queued one needs a code location's origin).
        runs = [
            instance.create_run_for_job(
                defs.resolve_job_def(f"{MODEL}_ingest"), tags={"dagster/sensor_name": SENSOR, "dagster/partition": key}
            )
            for key in (day(0), day(1))
        ]
        waiting = _tick(defs, instance, env, first.cursor)
        assert waiting.requests == [] and waiting.cursor == first.cursor
        assert "the simulated clock waits at 2026-01-02: 2 of the demo's runs are queued or running" in (
            waiting.skip or ""
        )
        instance.report_run_canceled(runs[0])
        assert [r.partition_key for r in _tick(defs, instance, env, first.cursor).of(f"{MODEL}_ingest")] == [day(1)]


@pytest.mark.unit
def test_the_sensor_asks_once_for_a_first_model_and_not_when_a_version_exists(
    feed: tuple[dg.Definitions, dict[str, Any]], spec: ModelSpec
) -> None:
    defs, env = feed
    retrain = f"{MODEL}_retrain"
    # The clock waits (a day just landed): the first model does not.
    cursor = FeedCursor(next_day=START + dt.timedelta(days=10), landed_at=time.time() + 3600).to_json()
    with dg.DagsterInstance.ephemeral() as instance:
        _label_days(instance, [day(offset) for offset in range(6)])
        waiting = _tick(defs, instance, env, cursor)
        assert waiting.requests == [] and "waiting for 7 labelled days for a first model (have 6" in (
            waiting.skip or ""
        )
        _label_days(instance, [day(6), day(7)])
        asked = _tick(defs, instance, env, waiting.cursor)
        [request] = asked.requests
        assert (request.job_name, request.run_key) == (retrain, f"{MODEL}:demo:first_model")
        assert request.tags["trigger"] == "demo_feed" and request.tags["reason"].startswith("the demo's first model")
        config = request.run_config["ops"][f"{MODEL}__training_set"]["config"]
        assert config == {"window_end": day(7), "window_days": 8}
        job = defs.get_repository_def().get_job(retrain)
        assert dg.validate_run_config(job, request.run_config), "the retrain job accepts the window"
        assert FeedCursor.parse(asked.cursor).first_model
        assert _tick(defs, instance, env, asked.cursor).requests == [], "asked once"

    with dg.DagsterInstance.ephemeral() as instance:
        register_version(env["mlflow"], spec)
        _label_days(instance, [day(offset) for offset in range(8)])
        settled = _tick(defs, instance, env, cursor)
        assert settled.requests == [] and "already registered" in (settled.skip or "")
        assert FeedCursor.parse(settled.cursor).first_model, "a registered version settles it: no demo retraining"


@pytest.mark.unit
def test_the_sensor_serves_the_day_in_progress_once_a_champion_exists(
    feed: tuple[dg.Definitions, dict[str, Any]], spec: ModelSpec
) -> None:
    defs, env = feed
    with dg.DagsterInstance.ephemeral() as instance:
        assert _tick(defs, instance, env, None).of(traffic_job_name(MODEL)) == [], "no champion: no traffic run"
    mlflow: MlflowResource = env["mlflow"]
    mlflow.set_alias(MODEL, ALIAS_CHAMPION, register_version(mlflow, spec))
    with dg.DagsterInstance.ephemeral() as instance:
        [request] = _tick(defs, instance, env, None).of(traffic_job_name(MODEL))
    assert request.run_key == f"{MODEL}:demo:traffic:{day(1)}"
    assert request.run_config["ops"][TRAFFIC_OP]["config"] == {"day": day(1)}
    assert request.tags["reason"] == "the demo's traffic of 2026-01-02"
    assert dg.validate_run_config(defs.get_repository_def().get_job(traffic_job_name(MODEL)), request.run_config)


@pytest.mark.unit
def test_the_sensor_skips_with_a_reason_once_the_feed_has_caught_up(
    spec: ModelSpec, feed: tuple[dg.Definitions, dict[str, Any]]
) -> None:
    defs, env = feed
    caught_up = FeedCursor(next_day=SOURCE_TODAY, first_model=True).to_json()
    with dg.DagsterInstance.ephemeral() as instance:
        tick = _tick(defs, instance, env, caught_up)
    assert tick.requests == [] and tick.cursor == caught_up
    assert "the demo feed has landed every day up to 2026-02-28" in (tick.skip or "")


# ------------------------------------------------------------------------------------------------ the traffic


def _serve(spec: ModelSpec, env: dict[str, Any], partition: str) -> tuple[dg.ExecuteInProcessResult, dict[str, Any]]:
    job = build_definitions([spec], resources=env).get_job_def(traffic_job_name(MODEL))
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, run_config={"ops": {TRAFFIC_OP: {"config": {"day": partition}}}}
        )
    [output] = [event for event in result.events_for_node(TRAFFIC_OP) if event.is_successful_output]
    metadata = {key: getattr(value, "value", value) for key, value in output.step_output_data.metadata.items()}
    return result, metadata


@pytest.mark.feature_pipeline
def test_the_traffic_job_serves_the_day_through_the_champion(spec: ModelSpec, lake: LakeResource) -> None:
    env = platform_resources(lake, DataSourceResource(today=SOURCE_TODAY.isoformat(), rows_per_day=150))
    mlflow: MlflowResource = env["mlflow"]
    version = register_version(mlflow, spec)
    mlflow.set_alias(MODEL, ALIAS_CHAMPION, version)

    result, metadata = _serve(spec, env, day(9))
    assert result.success
    log = read_predictions(lake.root, MODEL, [day(9)])
    assert len(log) == 150 and metadata["requests"] == 150
    assert set(log["model_version"].astype(str)) == {version} and set(log["role"]) == {"champion"}
    assert log["score"].notna().all() and log["served"].all()
    assert {stamp.date().isoformat() for stamp in log["event_time"]} == {day(9)}, "requests keep their event time"
    assert (metadata["champion"], metadata["errors"], metadata["unserved"]) == (f"v{version}", 0, 0)
    assert metadata[f"requests v{version} champion"] == 150


@pytest.mark.feature_pipeline
def test_the_traffic_job_serves_nothing_without_a_champion(spec: ModelSpec, lake: LakeResource) -> None:
    env = platform_resources(lake, DataSourceResource(today=SOURCE_TODAY.isoformat(), rows_per_day=150))
    result, metadata = _serve(spec, env, day(9))
    assert result.success
    assert read_predictions(lake.root, MODEL, [day(9)]).empty
    assert (metadata["requests"], metadata["champion"]) == (0, "none")
    assert metadata["note"].startswith("nothing served")
