"""Latency and memory of scoring, measured the way the serving process will see them.

Defines `ScoringProbe` and `probe_scoring`, which evaluation calls to fill the gate's `p99_latency_ms` and
`peak_memory_mb`. The measurement runs in a fresh interpreter (`python -m serving.probe`, the `main` below): the
parent process has trained models, loaded frames and Dagster in memory, so its peak RSS says nothing about the
serving footprint, and its heap and caches would colour the latencies. The child loads the saved model, scores a
Parquet sample in batches and then single rows through `serving.scoring.Scorer`, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ScoringProbe", "main", "probe_scoring"]

# The repository root: the child is started here, with it on PYTHONPATH, so `serving` and `platform_assets`
# import whether or not the project is installed.
_ROOT = Path(__file__).resolve().parent.parent
_WARMUP_ROWS = 200
_BATCH_ROWS = 10_000
_STDERR_TAIL = 2_000


@dataclass(frozen=True)
class ScoringProbe:
    """Single-row latency percentiles over `rows` timed requests, and the child's peak resident memory."""

    p50_ms: float
    p99_ms: float
    rows: int
    peak_rss_mb: float


def probe_scoring(
    model_path: Path,
    features: Sequence[str],
    categorical: Sequence[str],
    sample_path: Path,
    *,
    single_rows: int = 2000,
    timeout_seconds: float = 300.0,
) -> ScoringProbe:
    """Measure scoring of the model at `model_path` on the Parquet sample at `sample_path` in a fresh process.

    `single_rows` requests (cycling through the sample) are scored one by one after a warm-up, each timed alone.
    `peak_rss_mb` is the child's own peak resident set (interpreter, lightgbm, the model and the largest batch),
    read from the kernel's VmHWM rather than ru_maxrss, which on Linux would include this process's peak.
    Raises RuntimeError, with the end of the child's stderr, if the child fails or outlives `timeout_seconds`.
    """
    if single_rows < 1:
        raise ValueError(f"single_rows must be at least 1, got {single_rows}")
    command = [
        sys.executable,
        "-m",
        "serving.probe",
        "--model",
        str(Path(model_path).resolve()),
        "--sample",
        str(Path(sample_path).resolve()),
        "--features",
        json.dumps(list(features)),
        "--categorical",
        json.dumps(list(categorical)),
        "--single-rows",
        str(single_rows),
    ]
    try:
        # `python -m` from the repository root finds the package whether or not it is installed.
        done = subprocess.run(command, cwd=_ROOT, capture_output=True, text=True, timeout=timeout_seconds, check=False)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        raise RuntimeError(
            f"the scoring probe did not finish within {timeout_seconds} s; stderr ends with:\n{stderr[-_STDERR_TAIL:]}"
        ) from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"the scoring probe failed (exit code {done.returncode}) for model {model_path} and sample "
            f"{sample_path}; stderr ends with:\n{done.stderr[-_STDERR_TAIL:]}"
        )
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
        return ScoringProbe(
            p50_ms=float(result["p50_ms"]),
            p99_ms=float(result["p99_ms"]),
            rows=int(result["rows"]),
            peak_rss_mb=float(result["peak_rss_mb"]),
        )
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        raise RuntimeError(
            f"the scoring probe printed no result line ({exc}); stdout: {done.stdout[-_STDERR_TAIL:]!r}; "
            f"stderr ends with:\n{done.stderr[-_STDERR_TAIL:]}"
        ) from exc


def _measure(
    model_path: Path, sample_path: Path, features: list[str], categorical: list[str], single_rows: int
) -> dict[str, Any]:
    # Imported here, in the child only, so importing this module (the parent's side) stays cheap.
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from serving.scoring import Scorer

    booster = lgb.Booster(model_file=str(model_path))
    scorer = Scorer.from_booster(booster, features, categorical)
    sample = pd.read_parquet(sample_path, columns=features)
    if sample.empty:
        raise ValueError(f"the sample {sample_path} has no rows to score")

    started = time.perf_counter()
    for start in range(0, len(sample), _BATCH_ROWS):
        scorer.score_frame(sample.iloc[start : start + _BATCH_ROWS])
    batch_seconds = time.perf_counter() - started

    # Requests arrive as JSON objects; to_dict gives the same plain Python values (str, float, int, None/NaN).
    records = sample.head(min(len(sample), single_rows)).to_dict("records")
    for index in range(_WARMUP_ROWS):
        scorer.score_row(records[index % len(records)])
    timings = np.empty(single_rows, dtype=np.int64)
    for index in range(single_rows):
        record = records[index % len(records)]
        begun = time.perf_counter_ns()
        scorer.score_row(record)
        timings[index] = time.perf_counter_ns() - begun
    milliseconds = timings / 1e6
    return {
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "rows": single_rows,
        "peak_rss_mb": _peak_rss_mb(),
        # Kept for comparison: on Linux it includes the parent's peak (see _peak_rss_mb), so it is not the result.
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "batch_rows": len(sample),
        "batch_rows_per_second": len(sample) / batch_seconds if batch_seconds > 0 else None,
    }


def _peak_rss_mb() -> float:
    """This process's peak resident set since it started, in MB.

    `getrusage(RUSAGE_SELF).ru_maxrss` is not that on Linux: exec carries the pre-exec high-water mark over, and
    subprocess starts the child with vfork, so ru_maxrss reports at least the parent's peak (a parent that had
    touched 1 GB makes a bare `python -c` child report 980 MB). The kernel's VmHWM is the high-water mark of the
    memory map exec created, i.e. the child alone. ru_maxrss is the fallback where there is no /proc.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # reported in kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: Sequence[str] | None = None) -> int:
    """The child's entry point: measure, and write the result as one JSON line on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m serving.probe", description="Time scoring of a saved model in this process."
    )
    parser.add_argument("--model", type=Path, required=True, help="a LightGBM model file (Booster.save_model)")
    parser.add_argument("--sample", type=Path, required=True, help="a Parquet file holding the feature columns")
    parser.add_argument("--features", type=json.loads, required=True, help="the feature names, as a JSON list")
    parser.add_argument("--categorical", type=json.loads, default=[], help="the categorical ones, as a JSON list")
    parser.add_argument("--single-rows", type=int, default=2000, help="single-row requests to time")
    args = parser.parse_args(argv)
    result = _measure(args.model, args.sample, list(args.features), list(args.categorical), args.single_rows)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
