"""A 60-day scenario at the shipped spec's default volume, timed: the issue's budget is 10 minutes on this machine.

Runs `mlplatform simulate` in a fresh process (as a user would) on specs/delivery_delay.yaml, measures its wall time
and the peak resident memory of the process and its children (the evaluation's latency probe runs in a child),
and prints them with the ratio to the budget. Exits non-zero when the budget is missed.

    python benchmarks/bench_simulation.py [--scenario sudden_shift] [--days 60] [--budget-seconds 600]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "delivery_delay.yaml"))
    parser.add_argument("--scenario", default="sudden_shift")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--budget-seconds", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=None, help="keep the run here (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-simulation-") as scratch:
        out = args.out.absolute() if args.out else Path(scratch) / "run"
        command = [sys.executable, "-m", "mlplatform.cli", "simulate", "--spec", args.spec]
        command += ["--scenario", args.scenario, "--days", str(args.days), "--out", str(out), "--quiet"]
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        wall = time.perf_counter() - started
        if finished.returncode != 0:
            print(finished.stderr[-4000:], file=sys.stderr)
            return 1
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    counts = {kind: count for kind, count in summary["event_counts"].items() if count}
    print(f"scenario {args.scenario}, {args.days} days of {Path(args.spec).name} at its default volume")
    print(f"  requests served: {summary['requests']:,}; decisions: {counts}")
    print("  story:\n    " + "\n    ".join(summary["story"].splitlines()))
    print(f"  wall time: {wall:.0f} s (budget {args.budget_seconds:.0f} s): ratio {wall / args.budget_seconds:.2f}")
    print(f"  peak memory (largest process): {peak_mb:.0f} MB")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} (2 cores, shared)")
    met = wall <= args.budget_seconds
    print("PASS" if met else "MISS")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
