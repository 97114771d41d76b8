"""Per-column statistics of a reference window, computed in DuckDB.

The `reference_statistics` asset stores them as JSON in the lake; the distribution-shift check reads
the means and standard deviations, and drift monitoring reads the quantile bins and category
frequencies (PSI's bins are fixed on the reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

__all__ = ["QUANTILES", "column_statistics"]

# Decile edges: the bins PSI uses for numeric features.
QUANTILES: tuple[float, ...] = tuple(round(q / 10, 1) for q in range(1, 10))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def column_statistics(
    con: duckdb.DuckDBPyConnection,
    table_sql: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Row count and statistics of each column of `table_sql` (a DuckDB table expression)."""
    stats: dict[str, dict[str, Any]] = {}
    aggregates = ["count(*)"]
    for name in numeric:
        column = _quote(name)
        aggregates += [
            f"count({column})",
            f"avg({column})",
            f"stddev_samp({column})",
            f"min({column})",
            f"max({column})",
            f"quantile_cont({column}, {list(QUANTILES)})",
        ]
    row = con.execute(f"SELECT {', '.join(aggregates)} FROM {table_sql}").fetchone()
    assert row is not None
    rows = int(row[0])
    for index, name in enumerate(numeric):
        count, mean, std, low, high, quantiles = row[1 + 6 * index : 7 + 6 * index]
        stats[name] = {
            "kind": "numeric",
            "count": int(count),
            "null_fraction": (rows - int(count)) / rows if rows else 0.0,
            "mean": None if mean is None else float(mean),
            "std": None if std is None else float(std),
            "min": None if low is None else float(low),
            "max": None if high is None else float(high),
            "quantiles": None if quantiles is None else [float(q) for q in quantiles],
        }
    for name in categorical:
        column = _quote(name)
        counts = con.execute(
            f"SELECT {column}, count(*) FROM {table_sql} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
        total = sum(n for _, n in counts)
        stats[name] = {
            "kind": "categorical",
            "count": total,
            "null_fraction": (rows - total) / rows if rows else 0.0,
            "frequencies": {str(value): n / total for value, n in counts} if total else {},
        }
    return rows, stats
