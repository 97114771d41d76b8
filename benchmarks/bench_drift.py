"""Drift benchmark: the platform's PSI drift report against evidently's PSI data-drift preset, same data.

Generates a reference and a current window (1,000,000 rows each by default) of 10 features: 8 numeric (floats and
integers, one with 2 % missing values) and 2 categorical (object strings, 6 and 4 categories). The current window
has drifted on three of them (a float's mean, an integer's distribution, and a categorical's proportions with a
new category); the other seven are drawn from the reference's distributions.

Our side is `build_reference_profile` + `drift_report` (`platform_assets.monitoring.drift`) with the shipped
`DriftSpec` defaults (decile bins). Evidently's side is `Dataset.from_pandas` of both frames with a
`DataDefinition` naming the same numeric and categorical columns, then `Report([DataDriftPreset(method="psi")])
.run(current, reference)`. The sides alternate (ours first in even repeats, evidently first in odd ones) in one
process; the medians are compared. The script also checks that both call exactly the drifted features drifted.

    python benchmarks/bench_drift.py [--rows N] [--repeats K]

Exits 1 when our side takes more than 0.5 s, is less than 10x faster than evidently, or the two disagree (on
which features drifted, or on a categorical feature's PSI, which both bin alike).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.monitoring import drift
from platform_assets.monitoring.drift import DriftResult, build_reference_profile, drift_report
from platform_assets.spec import DriftSpec

MAX_SECONDS = 0.5
MIN_SPEEDUP = 10.0
WARMUP_ROWS = 20_000
SEED = 11

NUMERIC = [
    "weight_kg",
    "distance_km",
    "package_count",
    "hour_of_day",
    "day_of_week",
    "weather_severity",
    "declared_value",
    "volume_l",
]
CATEGORICAL = ["carrier_code", "origin_region"]
DRIFTED = {"weight_kg", "hour_of_day", "carrier_code"}
CRITICAL = ["weight_kg", "distance_km", "weather_severity", "carrier_code"]

CARRIERS = np.array(["UPS", "FDX", "USPS", "DHL", "ONT", "LSO"], dtype=object)
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)
HOURS = np.arange(24)
# Deliveries by hour: a day shape peaking around 11:00 and 17:00.
_HOUR_WEIGHTS = np.exp(-0.5 * ((HOURS - 11) / 3.0) ** 2) + 0.8 * np.exp(-0.5 * ((HOURS - 17) / 2.0) ** 2) + 0.02


def make_window(rows: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    """One window of synthetic deliveries; `drifted` moves weight_kg, hour_of_day and carrier_code."""
    rng = np.random.default_rng(seed)
    hours = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
    carriers = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    if drifted:
        hours = np.roll(hours, 3)  # three hours later
    weather = np.round(rng.uniform(0.0, 5.0, rows), 1)
    weather[rng.random(rows) < 0.02] = np.nan
    frame = pd.DataFrame(
        {
            # log-normal with sigma 0.6: +0.36 on the log scale is a 0.6 sd shift
            "weight_kg": rng.lognormal(1.36 if drifted else 1.0, 0.6, rows),
            "distance_km": rng.gamma(2.0, 40.0, rows),
            "package_count": rng.poisson(1.5, rows) + 1,
            "hour_of_day": rng.choice(HOURS, size=rows, p=hours),
            "day_of_week": rng.integers(0, 7, rows),
            "weather_severity": weather,
            "declared_value": rng.lognormal(4.0, 1.0, rows),
            "volume_l": rng.gamma(3.0, 5.0, rows),
        }
    )
    # Object strings sharing one Python object per category, as pyarrow's to_pandas() returns them.
    if drifted:
        labels = np.append(CARRIERS, np.array(["XPO"], dtype=object))
        frame["carrier_code"] = labels[rng.choice(7, size=rows, p=[0.15, 0.25, 0.2, 0.1, 0.1, 0.05, 0.15])]
    else:
        frame["carrier_code"] = CARRIERS[rng.choice(6, size=rows, p=carriers)]
    frame["origin_region"] = REGIONS[rng.choice(4, size=rows, p=[0.4, 0.3, 0.2, 0.1])]
    return frame


# ------------------------------------------------------------------------------------------------ sides


def run_ours(reference: pd.DataFrame, current: pd.DataFrame, spec: DriftSpec) -> tuple[dict[str, float], DriftResult]:
    start = time.perf_counter()
    profile = build_reference_profile(reference, numeric=NUMERIC, categorical=CATEGORICAL, bins=spec.bins)
    built = time.perf_counter()
    result = drift_report(profile, current, spec, critical=CRITICAL)
    end = time.perf_counter()
    return {"profile": built - start, "report": end - built, "total": end - start}, result


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds, and each column's PSI as evidently reports it (its ValueDrift metrics)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    start = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset(method="psi")]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    seconds = time.perf_counter() - start
    return {"total": seconds}, _evidently_psi(snapshot.dict())


def _evidently_psi(snapshot: dict[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for metric in snapshot["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            values[config["column"]] = float(metric["value"])
    return values


# ------------------------------------------------------------------------------------------------- main


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _load() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side (1,000,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each side, alternating (5)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be positive")
    os.environ.setdefault("DO_NOT_TRACK", "true")

    import evidently

    spec = DriftSpec()
    print(
        f"drift benchmark: {args.rows:,} reference vs {args.rows:,} current rows, {len(NUMERIC)} numeric + "
        f"{len(CATEGORICAL)} categorical features, {args.repeats} repeats per side (alternating)\n"
        f"  {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, pandas {pd.__version__}, evidently {evidently.__version__}; "
        f"load average {_load()}"
    )
    reference = make_window(args.rows, SEED, drifted=False)
    current = make_window(args.rows, SEED + 1, drifted=True)

    # Warm-up: imports, evidently's registries, first numpy and pandas calls.
    run_ours(make_window(WARMUP_ROWS, 1, drifted=False), make_window(WARMUP_ROWS, 2, drifted=True), spec)
    run_evidently(make_window(WARMUP_ROWS, 1, drifted=False), make_window(WARMUP_ROWS, 2, drifted=True))

    ours_runs: list[dict[str, float]] = []
    evidently_runs: list[dict[str, float]] = []
    ours_result: DriftResult | None = None
    evidently_psi: dict[str, float] = {}
    for repeat in range(args.repeats):
        sides: list[tuple[str, Callable[[], None]]] = []

        def ours() -> None:
            nonlocal ours_result
            laps, ours_result = run_ours(reference, current, spec)
            ours_runs.append(laps)

        def theirs() -> None:
            nonlocal evidently_psi
            laps, evidently_psi = run_evidently(reference, current)
            evidently_runs.append(laps)

        sides = [("ours", ours), ("evidently", theirs)]
        if repeat % 2:
            sides.reverse()
        for name, run in sides:
            gc.collect()
            run()
            seconds = (ours_runs if name == "ours" else evidently_runs)[-1]["total"]
            print(f"  repeat {repeat + 1}/{args.repeats}: {name:<9} {seconds:7.3f} s", flush=True)
    assert ours_result is not None

    # Agreement: both must call exactly the drifted features drifted (evidently's PSI threshold is 0.1).
    evidently_threshold = 0.1
    print("\n| column | drifted by design | our PSI | critical value | our verdict | evidently PSI | evidently |")
    print("|---|---|--:|--:|---|--:|---|")
    ours_drifted: set[str] = set()
    evidently_drifted: set[str] = set()
    for column in ours_result.columns:
        theirs_psi = evidently_psi.get(column.column, float("nan"))
        theirs_verdict = "drift" if theirs_psi >= evidently_threshold else "stable"
        if column.verdict == "drift":
            ours_drifted.add(column.column)
        if theirs_verdict == "drift":
            evidently_drifted.add(column.column)
        print(
            f"| {column.column} | {'yes' if column.column in DRIFTED else 'no'} | {column.psi:.3g} "
            f"| {column.critical_value:.2g} | {column.verdict} | {theirs_psi:.3g} | {theirs_verdict} |"
        )
    agree = ours_drifted == DRIFTED and evidently_drifted == DRIFTED
    # Categorical PSI is binned alike on both sides (one bin per category, empty bins floored at 1e-4), so there
    # the two must give the same number; numeric bins differ (evidently: equal-width bins over both sides).
    categorical_gap = max(
        abs((column.psi or 0.0) - evidently_psi.get(column.column, float("inf")))
        for column in ours_result.columns
        if column.kind == "categorical"
    )

    # For information: our side on one thread (the columns one after the other).
    threaded_rows = drift._THREADED_ROWS
    drift._THREADED_ROWS = sys.maxsize
    try:
        single = [run_ours(reference, current, spec)[0]["total"] for _ in range(args.repeats)]
    finally:
        drift._THREADED_ROWS = threaded_rows

    ours_median = _median(ours_runs, "total")
    evidently_median = _median(evidently_runs, "total")
    speedup = evidently_median / ours_median
    ours_times = ", ".join(f"{run['total']:.3f}" for run in ours_runs)
    evidently_times = ", ".join(f"{run['total']:.2f}" for run in evidently_runs)
    print(
        f"\nours:      median {ours_median:.3f} s (profile {_median(ours_runs, 'profile'):.3f} s + report "
        f"{_median(ours_runs, 'report'):.3f} s); runs {ours_times}\n"
        f"ours on one thread (information): median {statistics.median(single):.3f} s\n"
        f"evidently: median {evidently_median:.3f} s; runs {evidently_times}\n"
        f"speedup {speedup:.1f}x (target >= {MIN_SPEEDUP:g}x); ours {ours_median:.3f} s (target <= {MAX_SECONDS} s); "
        f"verdicts agree: {agree}; largest categorical PSI difference {categorical_gap:.1e}; load average {_load()}"
    )
    failures = []
    if ours_median > MAX_SECONDS:
        failures.append(f"ours {ours_median:.3f} s > {MAX_SECONDS} s")
    if speedup < MIN_SPEEDUP:
        failures.append(f"speedup {speedup:.1f}x < {MIN_SPEEDUP:g}x")
    if not agree:
        failures.append(
            f"drifted sets differ: designed {sorted(DRIFTED)}, ours {sorted(ours_drifted)}, "
            f"evidently {sorted(evidently_drifted)}"
        )
    if not categorical_gap < 1e-6:
        failures.append(f"categorical PSI differs from evidently's by {categorical_gap:.1e}")
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
