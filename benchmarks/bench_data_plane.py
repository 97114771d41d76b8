"""Data-plane benchmark: one day of deliveries landed, validated and featurized.

The platform side is `dg.materialize` of `delivery_delay/raw_batch`, `validated_batch` and `features`
for one partition on a fresh temporary lake, exactly as the assets are built from the shipped spec.
The bare side is a plain script doing the same work without Dagster: generate the same batch, write
it to Parquet, read it back, validate it with one hand-written pandera schema carrying the spec's
rules, copy it as the validated batch, and run the spec's feature SQL in DuckDB with `COPY ... TO`.

The two sides alternate (bare, platform, bare, platform, ...) in one process so that they share the
machine's noise; the medians are compared. Peak memory of the platform side is measured in a fresh
child process (`--side platform`), read from `getrusage(RUSAGE_CHILDREN).ru_maxrss`.

    python benchmarks/bench_data_plane.py [--rows N] [--repeats K]

Exits 1 when the platform takes more than 1.5x the bare script or peaks at 2 GB or more.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pandera
import pandera.pandas as pa
import pyarrow
import pyarrow.parquet as pq
from console import stderr_to, tail

from platform_assets.definitions import build_model_definitions
from platform_assets.keys import FEATURES, RAW_BATCH, VALIDATED_BATCH
from platform_assets.spec import ModelSpec, load_spec
from resources.lake import LakeResource
from resources.source import DataSourceResource
from resources.synthetic_deliveries import delivery_batch

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "specs" / "delivery_delay.yaml"
PARTITION = "2026-01-05"
MAX_RATIO = 1.5
MAX_PEAK_MB = 2048.0
WARMUP_ROWS = 2_000
ASSETS = (RAW_BATCH, VALIDATED_BATCH, FEATURES)


# ------------------------------------------------------------------------------------------ helpers


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


class _Stopwatch:
    """Named laps: `with watch("write"): ...`."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - start


# -------------------------------------------------------------------------------------- bare side


def bare_schema(spec: ModelSpec) -> pa.DataFrameSchema:
    """One hand-written pandera schema with the rules of `specs/delivery_delay.yaml`.

    Types and strictness as `specs.delivery_delay.DeliveryBatch`; not-null, ranges, allowed sets and
    uniqueness as the spec's `schema.rules`; the weather null fraction as a frame-wide check (a
    column check would only see the non-null values). `main` asserts that the types and the rule
    values agree with the loaded spec, so the two sides cannot silently drift apart.
    """
    carriers = ["UPS", "FDX", "USPS", "DHL", "ONT", "LSO"]
    return pa.DataFrameSchema(
        {
            "tracking_id": pa.Column(str, nullable=False, unique=True),
            "event_time": pa.Column("datetime64[ns]", nullable=False),
            "carrier_code": pa.Column(str, pa.Check.isin(carriers), nullable=False),
            "service_level": pa.Column(str, pa.Check.isin(["express", "standard", "economy"]), nullable=False),
            "origin_region": pa.Column(str, nullable=True),
            "weight_kg": pa.Column("float64", pa.Check.in_range(0.01, 1000.0), nullable=False),
            "distance_km": pa.Column("float64", pa.Check.ge(0.0), nullable=True),
            "package_count": pa.Column("int64", pa.Check.ge(1.0), nullable=True),
            "hour_of_day": pa.Column("int64", pa.Check.in_range(0.0, 23.0), nullable=False),
            "day_of_week": pa.Column("int64", pa.Check.in_range(0.0, 6.0), nullable=False),
            "weather_severity": pa.Column("float64", pa.Check.in_range(0.0, 5.0), nullable=True),
        },
        checks=[
            pa.Check(
                lambda frame: frame["weather_severity"].isna().mean() <= 0.05,
                name="weather_severity_null_fraction",
            )
        ],
        strict=True,
        name="delivery_batch_bare",
    )


def _assert_bare_schema_matches(spec: ModelSpec, schema: pa.DataFrameSchema) -> None:
    """Guard the fairness of the baseline: same columns, types and rule values as the spec."""
    model = spec.batch_schema
    assert list(schema.columns) == list(model.columns), "bare schema columns differ from the spec's model"
    for name, column in model.columns.items():
        assert str(schema.columns[name].dtype) == str(column.dtype), f"{name}: dtype differs from the spec"
    rules = spec.schema_.rules
    assert {n for n, c in schema.columns.items() if not c.nullable} == set(rules.not_null), "not_null differs"
    assert {n for n, c in schema.columns.items() if c.unique} == set(rules.unique), "unique differs"
    for name, bounds in rules.ranges.items():
        stats = next(
            c.statistics
            for c in schema.columns[name].checks
            if c.name in ("in_range", "greater_than_or_equal_to", "less_than_or_equal_to")
        )
        got = (stats.get("min_value"), stats.get("max_value"))
        assert got == (bounds.min, bounds.max), f"{name}: range {got} differs from the spec's {bounds}"
    for name, allowed in rules.allowed.items():
        isin = next(c for c in schema.columns[name].checks if c.name == "isin")
        assert sorted(isin.statistics["allowed_values"]) == sorted(allowed), f"{name}: allowed set differs"
    assert rules.max_null_fraction == {"weather_severity": 0.05}, "null-fraction rule differs from the bare check"


def run_bare(spec: ModelSpec, schema: pa.DataFrameSchema, rows: int, workdir: Path) -> dict[str, float]:
    """The platform's work without the platform; returns seconds per stage plus 'total'."""
    synthetic = spec.source.synthetic
    assert synthetic is not None
    day = dt.date.fromisoformat(PARTITION)
    raw_path = workdir / "raw.parquet"
    validated_path = workdir / "validated.parquet"
    features_path = workdir / "features.parquet"
    watch = _Stopwatch()
    start = time.perf_counter()
    with watch("generate"):
        batch = delivery_batch(day, seed=synthetic.seed, rows=rows, scenarios=[s.window() for s in synthetic.scenarios])
    with watch("write raw"):
        pq.write_table(pyarrow.Table.from_pandas(batch, preserve_index=False), raw_path)
        del batch
    with watch("read back"):
        batch = pq.read_table(raw_path).to_pandas()
    with watch("validate"):
        schema.validate(batch, lazy=True)  # raises SchemaErrors on a bad batch
    with watch("copy validated"):
        shutil.copyfile(raw_path, validated_path)
        del batch
    with watch("features"):
        con = duckdb.connect()
        try:
            con.sql(f"CREATE VIEW batch AS SELECT * FROM read_parquet('{validated_path}')")
            written = con.execute(f"COPY ({spec.features.sql}) TO '{features_path}' (FORMAT parquet)").fetchone()
        finally:
            con.close()
    laps = {**watch.laps, "total": time.perf_counter() - start}
    assert written is not None and int(written[0]) == rows, f"bare features wrote {written} rows, expected {rows}"
    return laps


# ---------------------------------------------------------------------------------- platform side


def platform_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    defs = build_model_definitions(spec)
    wanted = {dg.AssetKey([spec.name, name]) for name in ASSETS}
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) and a.key in wanted]
    assert {a.key for a in assets} == wanted, f"expected assets {wanted}, found {[a.key for a in assets]}"
    return assets


def run_platform(
    assets: list[dg.AssetsDefinition], rows: int, workdir: Path, log: Path
) -> tuple[dict[str, float], dg.ExecuteInProcessResult]:
    """One `dg.materialize` on a fresh lake; returns seconds per step plus 'total' and 'orchestration'."""
    lake = workdir / "lake"
    instance = dg.DagsterInstance.ephemeral()
    try:
        with stderr_to(log):
            start = time.perf_counter()
            result = dg.materialize(
                assets,
                partition_key=PARTITION,
                resources={
                    "lake": LakeResource(root=str(lake)),
                    "source": DataSourceResource(rows_per_day=rows),
                },
                instance=instance,
                raise_on_error=True,
            )
            total = time.perf_counter() - start
    finally:
        instance.dispose()
    laps: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS and event.step_key:
            laps[event.step_key.rsplit("__", 1)[-1]] = event.event_specific_data.duration_ms / 1000.0
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert result.success and not failed, f"platform run failed checks: {[e.check_name for e in failed]}"
    laps["orchestration"] = total - sum(laps.values())
    laps["total"] = total
    return laps, result


# ------------------------------------------------------------------------------------ child sides


def child_main(side: str, rows: int, workdir: Path) -> None:
    """One cold run of one side; prints a JSON line with its seconds and peak RSS."""
    spec = load_spec(SPEC_PATH)
    if side == "platform":
        laps, _ = run_platform(platform_assets(spec), rows, workdir, workdir / "dagster.log")
    else:
        laps = run_bare(spec, bare_schema(spec), rows, workdir)
    peak = max(_peak_rss_mb(resource.RUSAGE_SELF), _peak_rss_mb(resource.RUSAGE_CHILDREN))
    print(json.dumps({"side": side, "seconds": laps["total"], "peak_rss_mb": peak}))


def measure_peak(side: str, rows: int, root: Path) -> tuple[float, float]:
    """Run one side in a fresh child process; (peak RSS MB as the parent sees it, child's seconds)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"mem-{side}-", dir=root))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--side",
        side,
        "--rows",
        str(rows),
        "--workdir",
        str(workdir),
    ]
    before = _peak_rss_mb(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    after = _peak_rss_mb(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"--side {side} child failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # RUSAGE_CHILDREN is a maximum over every waited-for descendant: it names this child only if it
    # grew past the earlier ones; the child's own report covers the other case.
    peak = after if after > before else report["peak_rss_mb"]
    shutil.rmtree(workdir, ignore_errors=True)
    return max(peak, report["peak_rss_mb"]), report["seconds"]


# ------------------------------------------------------------------------------------------ report


def _same_features(bare_file: Path, platform_file: Path) -> bool:
    con = duckdb.connect()
    try:
        # hive_partitioning off: the lake's `date=...` directory would otherwise add a `date` column.
        a, b = (f"read_parquet('{path}', hive_partitioning = false)" for path in (bare_file, platform_file))
        counts = con.execute(
            f"SELECT (SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})),"
            f" (SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}))"
        ).fetchone()
    finally:
        con.close()
    return counts == (0, 0)


def _table(title: str, runs: list[dict[str, float]], order: list[str]) -> None:
    keys = [k for k in order if any(k in r for r in runs)]
    width = max(len(k) for k in keys)
    print(f"\n{title}")
    print(f"  {'stage':<{width}}  " + "  ".join(f"run {i + 1:>2}" for i in range(len(runs))) + "   median")
    for key in keys:
        values = [r.get(key, float("nan")) for r in runs]
        cells = "  ".join(f"{v:6.2f}" for v in values)
        print(f"  {key:<{width}}  {cells}   {statistics.median(values):6.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the day's batch (1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, alternating (3)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS child processes")
    parser.add_argument("--side", choices=["platform", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DO_NOT_TRACK", "true")  # as `make bench` exports it
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be positive")
    if args.side:
        child_main(args.side, args.rows, args.workdir or Path(tempfile.mkdtemp(prefix="bench-child-")))
        return 0

    spec = load_spec(SPEC_PATH)
    schema = bare_schema(spec)
    _assert_bare_schema_matches(spec, schema)
    assets = platform_assets(spec)
    print(
        f"data-plane benchmark: {args.rows:,} rows, partition {PARTITION}, {args.repeats} repeats per side "
        f"(alternating)\n  {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, dagster {dg.__version__}, pandera {pandera.__version__}, "
        f"duckdb {duckdb.__version__}, pyarrow {pyarrow.__version__}, pandas {pd.__version__}"
    )

    root = Path(tempfile.mkdtemp(prefix="bench-data-plane-"))
    log = root / "dagster.log"
    try:
        peak_platform = peak_bare = float("nan")
        if not args.no_memory:
            # First, before this process does any Dagster work, so RUSAGE_CHILDREN is the child's alone.
            peak_platform, cold_platform = measure_peak("platform", args.rows, root)
            peak_bare, cold_bare = measure_peak("bare", args.rows, root)
            print(
                f"  cold child runs: platform {cold_platform:.2f} s (peak {peak_platform:.0f} MB), "
                f"bare {cold_bare:.2f} s (peak {peak_bare:.0f} MB)"
            )

        # Warm-up: imports, Dagster's lazily built machinery, DuckDB and pandera first calls.
        warm = Path(tempfile.mkdtemp(prefix="warm-", dir=root))
        run_bare(spec, schema, WARMUP_ROWS, warm)
        run_platform(assets, WARMUP_ROWS, warm, log)

        bare_runs: list[dict[str, float]] = []
        platform_runs: list[dict[str, float]] = []
        identical: bool | None = None
        for repeat in range(args.repeats):
            runs: dict[str, Callable[[Path], dict[str, float]]] = {
                "bare": lambda d: run_bare(spec, schema, args.rows, d),
                "platform": lambda d: run_platform(assets, args.rows, d, log)[0],
            }
            dirs: dict[str, Path] = {}
            for side, run in runs.items():
                gc.collect()
                dirs[side] = Path(tempfile.mkdtemp(prefix=f"{side}-{repeat}-", dir=root))
                laps = run(dirs[side])
                (bare_runs if side == "bare" else platform_runs).append(laps)
                print(f"  repeat {repeat + 1}/{args.repeats}: {side:<8} {laps['total']:6.2f} s", flush=True)
            if identical is None:
                platform_file = LakeResource(root=str(dirs["platform"] / "lake")).existing_partition_path(
                    spec.name, FEATURES, PARTITION
                )
                identical = _same_features(dirs["bare"] / "features.parquet", platform_file)
            for directory in dirs.values():
                shutil.rmtree(directory, ignore_errors=True)
    except Exception:
        last_lines = tail(log)
        if last_lines:
            print(f"--- last lines of the Dagster log ({log}) ---\n{last_lines}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)

    _table(
        "bare script (seconds)",
        bare_runs,
        ["generate", "write raw", "read back", "validate", "copy validated", "features", "total"],
    )
    _table(
        "platform, dg.materialize (seconds; steps as Dagster reports them)",
        platform_runs,
        [*ASSETS, "orchestration", "total"],
    )

    bare = statistics.median(r["total"] for r in bare_runs)
    plat = statistics.median(r["total"] for r in platform_runs)
    ratio = plat / bare
    time_ok = ratio <= MAX_RATIO
    memory_ok = args.no_memory or peak_platform < MAX_PEAK_MB
    print(f"\n  features identical on both sides: {'yes' if identical else 'NO'}")
    print(f"  ratio = platform / bare = {plat:.2f} / {bare:.2f} = {ratio:.2f}  (target <= {MAX_RATIO})")
    if not args.no_memory:
        print(
            f"  peak RSS, platform child: {peak_platform:.0f} MB (target < {MAX_PEAK_MB:.0f}); "
            f"bare child: {peak_bare:.0f} MB"
        )
    verdict = "PASS" if time_ok and memory_ok and identical else "FAIL"
    memory = "not measured" if args.no_memory else f"{peak_platform:.0f} MB"
    print(
        f"data plane: platform {plat:.2f} s, bare {bare:.2f} s, ratio {ratio:.2f} (target <= {MAX_RATIO}) ; "
        f"peak RSS {memory} (target < {MAX_PEAK_MB:.0f}) : {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
