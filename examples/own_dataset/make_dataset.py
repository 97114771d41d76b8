"""Write the worked example's dataset: subscription renewals, one Parquet file per event day.

Each row is a subscription reaching its renewal date (`event_time`), identified by `subscription_id`, with a
few numeric and categorical attributes and the outcome `churned` (1: the customer cancelled in the grace
period). The spec `examples/own_dataset/churn.yaml` reads these files with `source.kind: files`; the platform
drops `churned` from the landed batch and serves it as the delayed label.

Deterministic for a seed: day N is drawn from `seed` and N alone, so regenerating a range of days gives
the same rows. Files are named `churn-YYYY-MM-DD.parquet` (no `key=value` directory, which DuckDB would
read as an extra hive column).

    .venv/bin/python examples/own_dataset/make_dataset.py                 # var/examples/own_dataset/
    .venv/bin/python examples/own_dataset/make_dataset.py --out DIR --days 60 --rows-per-day 1500
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_OUT", "churn_day", "main", "write_dataset"]

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "var" / "examples" / "own_dataset"
PLANS = ("basic", "standard", "premium")
PLAN_FEES = (9.99, 15.99, 22.99)
REGIONS = ("na", "eu", "apac", "latam")
PAYMENT_METHODS = ("card", "paypal", "bank_transfer")


def churn_day(day: dt.date, *, index: int, rows: int, seed: int) -> pd.DataFrame:
    """One event day of renewals; `index` (days since the first day) and `seed` fix the draw."""
    rng = np.random.default_rng([seed, index])
    engagement = rng.normal(0.0, 1.0, rows)  # latent: drives usage and (inversely) churn
    plan = rng.choice(len(PLANS), size=rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(len(REGIONS), size=rows, p=[0.4, 0.3, 0.2, 0.1])
    payment = rng.choice(len(PAYMENT_METHODS), size=rows, p=[0.6, 0.25, 0.15])
    tenure = np.minimum(rng.geometric(1 / 14, rows), 96)
    discount = rng.choice([0, 10, 20, 30], size=rows, p=[0.6, 0.2, 0.15, 0.05])
    auto_renew = (rng.random(rows) < 0.3 + 0.15 * (engagement > 0)).astype(np.int64)
    sessions = rng.poisson(np.exp(2.4 + 0.8 * engagement))
    minutes = rng.gamma(4.0, np.exp(2.0 + 0.4 * engagement) / 4.0)
    minutes[rng.random(rows) < 0.03] = np.nan  # some clients do not report session length
    tickets = rng.poisson(0.4 + 0.5 * (engagement < -1.0))
    fee = np.asarray(PLAN_FEES)[plan] * (1 - discount / 100) + rng.normal(0.0, 0.3, rows)

    logit = (
        0.4
        - 1.6 * engagement
        - 0.5 * np.log1p(tenure)
        + 0.55 * tickets
        - 1.2 * auto_renew
        + 0.35 * (payment == 2)
        + 0.06 * (fee - 15.0)
        + 0.25 * (region == 3)
    )
    churned = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    seconds = np.sort(rng.integers(0, 86_400, rows))
    event_time = pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            "subscription_id": [f"sub-{day:%Y%m%d}-{i:05d}" for i in range(rows)],
            "event_time": event_time.astype("datetime64[us]"),
            "plan": np.asarray(PLANS)[plan],
            "region": np.asarray(REGIONS)[region],
            "payment_method": np.asarray(PAYMENT_METHODS)[payment],
            "tenure_months": tenure.astype(np.int64),
            "monthly_fee": np.round(fee, 2),
            "discount_pct": discount.astype(np.int64),
            "auto_renew": auto_renew,
            "sessions_30d": sessions.astype(np.int64),
            "avg_session_minutes": np.round(minutes, 1),
            "support_tickets_90d": tickets.astype(np.int64),
            "churned": churned,
        }
    )


def write_dataset(out: Path, *, start: dt.date, days: int, rows_per_day: int, seed: int) -> list[Path]:
    """Write `days` daily files under `out` (replacing files of the same days) and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(days):
        day = start + dt.timedelta(days=index)
        path = out / f"churn-{day.isoformat()}.parquet"
        staging = path.with_name(f".tmp-{path.name}")
        churn_day(day, index=index, rows=rows_per_day, seed=seed).to_parquet(staging, index=False)
        staging.replace(path)  # a reader never sees half a file
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1), help="first event day")
    parser.add_argument("--days", type=int, default=60, help="event days to write (default 60)")
    parser.add_argument("--rows-per-day", type=int, default=1_500, help="renewals per day (default 1500)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    if args.days < 1 or args.rows_per_day < 1:
        parser.error("--days and --rows-per-day must be positive")
    paths = write_dataset(args.out, start=args.start, days=args.days, rows_per_day=args.rows_per_day, seed=args.seed)
    sys.stdout.write(f"wrote {len(paths)} files ({args.rows_per_day} rows each) to {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
