"""Sensor-tick benchmark: every monitoring sensor's tick with 10,000,000 rows in the prediction log.

Target: each tick at most 1 s. A tick is the sensor's whole evaluation as the daemon runs it
(`SensorDefinition.evaluate_tick` on a `build_sensor_context`): reading the registry's roles, the deployment history,
the prediction log and the labels, judging with the gates, deciding, building the run request.

Setup (untimed): the 10M-row, 30-day log of `bench_sensor_reads.py` (cached, built on first use); a fresh SQLite
MLflow registry with nine small versions where version 7 is champion (6 previous champion), 8 a canary at 30 % and
9 a shadow, as in that log; deployment materializations saying when the shadow started (7 days before the log's
last event) and the canary reached its step (24 hours before); a reference profile; one drift and one performance
report. Each sensor is ticked once untimed (the code server's first tick), then `--repeats` times with a touched
newest log file before each (a flush since the last tick); the median is judged.

    python benchmarks/bench_sensor_ticks.py [--cache DIR] [--repeats K]

Exits 1 when a sensor's median tick exceeds 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_sensor_reads import CANARY, CHAMPION, SHADOW, SPEC_PATH, build_log, newest_file

from platform_assets.definitions import build_definitions
from platform_assets.deployment.state import TAG_CANARY_STEP, TAG_CANARY_WEIGHT, TAG_SHADOW_STARTED_VERSION
from platform_assets.keys import (
    ALIAS_CANARY,
    ALIAS_CHAMPION,
    ALIAS_PREVIOUS_CHAMPION,
    ALIAS_SHADOW,
    DEPLOYMENT,
    DRIFT_REPORT,
    PERFORMANCE_REPORT,
    REFERENCE_STATISTICS,
    REFERENCE_STATISTICS_FILE,
    asset_key,
)
from platform_assets.monitoring import evidence
from platform_assets.monitoring.assets import report_name
from platform_assets.monitoring.drift import build_reference_profile
from platform_assets.monitoring.health import LOG_COLUMNS
from platform_assets.monitoring.reference import feature_kinds
from platform_assets.spec import load_spec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from tests.builders import register_version

BUDGET_SECONDS = 1.0
SENSORS = (
    "drift_sensor",
    "performance_decay_sensor",
    "rollout_sensor",
    "shadow_sensor",
    "canary_sensor",
    "production_health_sensor",
    "reference_update_sensor",
    "failed_check_alerts",
)


def _registry(spec, mlflow: MlflowResource) -> None:
    """Versions 1..9; 7 champion, 6 previous champion, 8 canary at the 30 % step, 9 shadow."""
    for seed in range(1, int(SHADOW) + 1):
        register_version(mlflow, spec, seed=seed)
    model = spec.name
    mlflow.set_alias(model, ALIAS_CHAMPION, CHAMPION)
    mlflow.set_alias(model, ALIAS_PREVIOUS_CHAMPION, str(int(CHAMPION) - 1))
    mlflow.set_alias(model, ALIAS_CANARY, CANARY)
    mlflow.set_alias(model, ALIAS_SHADOW, SHADOW)
    client = mlflow.client()
    client.set_registered_model_tag(model, TAG_CANARY_WEIGHT, "30.0")
    client.set_registered_model_tag(model, TAG_CANARY_STEP, "2")
    client.set_registered_model_tag(model, TAG_SHADOW_STARTED_VERSION, SHADOW)


def _history(instance: dg.DagsterInstance, spec, end: pd.Timestamp, lake: LakeResource) -> None:
    """The deployment transitions that started the shadow and the canary step, and one report of each kind."""
    model = spec.name
    for action, version, weight, at in (
        ("start_shadow", SHADOW, 0.0, end - pd.Timedelta(days=7)),
        ("advance_canary", CANARY, 30.0, end - pd.Timedelta(hours=24)),
    ):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key(model, DEPLOYMENT),
                metadata={"action": action, "version": version, "canary weight": weight, "as of": at.isoformat()},
            )
        )
    day = (end - pd.Timedelta(days=3)).date().isoformat()
    for name, document in (
        (DRIFT_REPORT, {"day": day, "judged": True, "columns": []}),
        (PERFORMANCE_REPORT, {"day": day, "groups": []}),
    ):
        lake.write_json(model, name, report_name(day), document)
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key(model, name), partition=day))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mlplatform-bench-log"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    spec = load_spec(SPEC_PATH)
    root = build_log(args.cache, spec, rows=10_000_000, days=30, files_per_day=24)
    end = evidence.latest_event_time(root, spec.name)
    assert end is not None
    flushed = newest_file(root, spec.name)

    with tempfile.TemporaryDirectory(prefix="bench-ticks-") as work, dg.DagsterInstance.ephemeral() as instance:
        lake = LakeResource(root=str(root))
        mlflow = MlflowResource(root=str(Path(work) / "mlflow"))
        resources = {
            "lake": lake,
            "mlflow": mlflow,
            "alerts": AlertingResource(log_path=str(Path(work) / "alerts.jsonl")),
            "source": DataSourceResource(),
        }
        _registry(spec, mlflow)
        first = evidence.log_days(root, spec.name)[0]
        numeric, categorical = feature_kinds(spec)
        sample = evidence.champion_window(
            root,
            spec,
            version=CHAMPION,
            start=pd.Timestamp(first, tz="UTC"),
            end=pd.Timestamp(first, tz="UTC") + pd.Timedelta(days=1),
            columns=[*LOG_COLUMNS, *spec.features.names],
        )
        profile = build_reference_profile(sample, numeric=numeric, categorical=categorical, bins=10)
        lake.write_json(spec.name, REFERENCE_STATISTICS, REFERENCE_STATISTICS_FILE, {"profile": profile.to_dict()})
        _history(instance, spec, end, lake)
        defs = build_definitions([spec], resources)
        repository = defs.get_repository_def()

        print(
            f"sensor ticks: 10,000,000 prediction-log rows, 30 days; {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}, CPython {platform.python_version()}; median of {args.repeats}\n"
        )
        print("| sensor | first tick s | median tick s | max s | outcome | verdict |")
        print("|---|---:|---:|---:|---|---|")
        failed = []
        for name in SENSORS:
            sensor = repository.get_sensor_def(f"{spec.name}_{name}")

            def tick(sensor: dg.SensorDefinition = sensor) -> tuple[float, str]:
                context = dg.build_sensor_context(instance=instance, resources=resources, definitions=defs)
                started = time.perf_counter()
                data = sensor.evaluate_tick(context)
                seconds = time.perf_counter() - started
                outcome = f"{len(data.run_requests)} run request(s)" if data.run_requests else (data.skip_message or "")
                return seconds, outcome

            first_seconds, _ = tick()
            times, outcome = [], ""
            for _ in range(args.repeats):
                os.utime(flushed)  # a flush since the last tick: the newest date is read again
                seconds, outcome = tick()
                times.append(seconds)
            median = statistics.median(times)
            verdict = "PASS" if median <= BUDGET_SECONDS else "FAIL"
            if verdict == "FAIL":
                failed.append(name)
            shown = outcome if len(outcome) <= 90 else outcome[:87] + "..."
            print(
                f"| {name} | {first_seconds:.3f} | {median:.3f} | {max(times):.3f} | {shown.replace('|', '/')} "
                f"| {verdict} |"
            )
    print(f"\nsensor ticks: {'FAIL: ' + ', '.join(failed) if failed else 'PASS'} (budget {BUDGET_SECONDS:g} s each)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
