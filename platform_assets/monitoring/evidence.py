"""What the deployment sensors read from the prediction log and the labels, on every tick, in well under a second.

This module defines the plain reads behind the shadow, canary and production-health sensors:

- `log_days` and `latest_event_time`: which event dates the prediction log holds and how far its event time has got
  (the sensors judge windows of event time ending there, never the wall clock, so a replayed or delayed log is judged
  as it happened).
- `shadow_evidence`: the shadow's rows paired with the champion's served rows of the same requests, with the labels
  that have arrived for them, as the `ShadowEvidence` that `platform_assets.deployment.judges.shadow_gate` judges.
- `canary_evidence`: the canary's and production's served rows over the current step, as the `CanaryEvidence` that
  `judges.canary_gate` judges.
- `champion_window`: the champion's served rows over the last few minutes, the frame
  `platform_assets.monitoring.health.production_health` judges.

The log (`serving.prediction_log`) is `<lake root>/<model>/predictions/date=<D>/part-*.parquet`, partitioned by the
UTC date of event time, and holds tens of millions of rows; the labels are `<lake root>/<model>/labels/date=<D>/
data.parquet` (the labels asset), partitioned by the entity's event date. Every read runs in DuckDB over only the date
partitions its window touches, with projection, filters, pairing, the label join and ordering in SQL, and brings back
only numbers: counts, and numeric arrays of the rows the gates need.

How the shadow and canary reads stay fast: their result is kept per event date. A date's rows (a few numeric columns
per relevant row, no strings) are cached in-process under the names, sizes and modification times of the date's log
files and of the label files they were joined with; log and label files are never changed once renamed into place,
so a date whose files are unchanged is not read again. A tick therefore reads (in one query) only the dates that
changed since the last one, in practice today's and a date whose labels just arrived, and cuts the window's edges
from the cached rows in numpy. The cache holds at most `_CACHE_BYTES`.

Pairing and labels: the router logs a shadow row with the request's id and event time, so a shadow row pairs with the
champion's served row of the same `request_id` and `event_time` (exactly "the same request", even when a parcel is
scored more than once). The log's `request_id` is the entity id: a row's label is the row of
`labels[spec.source.entity_id_column] == request_id` in the label partition of the row's event date or a date next to
it (an entity's label partition is its own event date, which the request's event time carries; one date either side
allows for a request logged across midnight).

A model without a log (or a window without rows) gives empty evidence (zero counts, empty arrays, NaN latency), which
the gates read as "wait" or "hold". Arrays come back in event-time order (ties in a fixed order of the request ids),
so a gate's seeded bootstrap over them gives the same verdict every tick on the same log. Nothing here imports
Dagster.

Cost (`benchmarks/bench_sensor_reads.py`, 10,000,000 log rows over 30 days in 24 files a date): a tick whose newest
date has changed re-reads that one date, about 0.2 s for a 7-day shadow window; the first tick of a process reads
every date of the window, about 1-1.5 s for the same window on a busy 2-core machine. Every read lists the window's
files, and DuckDB opens each: a date of tens of thousands of small files (the writer's one file per flush, unmerged)
costs seconds whatever the query.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_assets.deployment.judges import CanaryEvidence, ShadowEvidence
from platform_assets.keys import LABELS
from platform_assets.spec import ModelSpec
from resources.lake import staged
from serving.prediction_log import PredictionLogWriter, day_files, predictions_dir
from serving.roles import ROLE_CANARY, ROLE_CHAMPION, ROLE_SHADOW

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "TIMEOUT_PREFIX",
    "canary_evidence",
    "champion_window",
    "clear_cache",
    "latest_event_time",
    "log_days",
    "shadow_evidence",
]

# Every timed-out shadow row's error starts with this (`serving.router.Router._shadow_worker` and its watchdog log
# "shadow timed out: ..."); any other non-empty error is a failure of another kind.
TIMEOUT_PREFIX = "shadow timed out"

_LABELS_FILE = "data.parquet"  # `resources.lake.LakeResource.partition_path`
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000
# The cached rows of one date are ~50 bytes each: a shadow date of 55,000 rows takes under 3 MB, a canary date of
# 280,000 served rows under 15 MB. 256 MB holds a month of shadow dates and a week of canary dates at that traffic.
_CACHE_BYTES = 256 * 2**20

# Shadow kinds of outcome (the `kind` column).
_SCORED_OR_EMPTY, _ERROR, _TIMEOUT = 0, 1, 2


# ------------------------------------------------------------------------------------------------ the log


def _relisting(read: _F) -> _F:
    """Run `read` again once when a file it listed vanished before it was read: a compaction
    (`serving.prediction_log.compact_day`) replaced it meanwhile, and listing again finds the merged file."""

    @functools.wraps(read)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return read(*args, **kwargs)
        except (FileNotFoundError, duckdb.IOException):
            return read(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def log_days(lake_root: str | Path, model: str) -> list[str]:
    """The event dates (YYYY-MM-DD) with at least one prediction-log file, sorted; [] when there is no log."""
    root = predictions_dir(lake_root, model)
    if not root.is_dir():
        return []
    days = []
    for child in root.iterdir():
        match = _DATE_DIR.match(child.name)
        if match and child.is_dir() and day_files(lake_root, model, match.group(1)):
            days.append(match.group(1))
    return sorted(days)


@_relisting
def latest_event_time(lake_root: str | Path, model: str) -> pd.Timestamp | None:
    """The largest event time in the log (UTC), or None when the log holds no rows.

    Partitions are dated by event time, so the newest partition holds the maximum; only it is read (and the one
    before it, and so on, while a partition's files hold no rows).
    """
    for day in reversed(log_days(lake_root, model)):
        spans = [span for span in (_span(file) for file in _log_files(lake_root, model, day)) if span is not None]
        if spans:
            return max(span[1] for span in spans)
    return None


# (path, size, mtime_ns) -> (min, max) event time of a log file, from its Parquet footer. Log files are written once and
# only ever replaced whole, so the key identifies the contents; a sensor tick reads one footer per new file.
_SPANS: dict[tuple[str, int, int], tuple[pd.Timestamp, pd.Timestamp] | None] = {}
_SPANS_LOCK = threading.Lock()


def _span(file: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The event-time range of a log file (None when it holds no rows), from the statistics its writer stored."""
    status = Path(file).stat()
    key = (file, status.st_size, status.st_mtime_ns)
    with _SPANS_LOCK:
        if key in _SPANS:
            return _SPANS[key]
    metadata = pq.read_metadata(file)
    column = metadata.schema.to_arrow_schema().get_field_index("event_time")
    low = high = None
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        if group.num_rows == 0:
            continue
        statistics = group.column(column).statistics
        if statistics is None or not statistics.has_min_max:
            # A writer that stored no statistics: read the column itself.
            bounds = pc.min_max(pq.read_table(file, columns=["event_time"]).column(0)).as_py()
            low, high = bounds["min"], bounds["max"]
            break
        low = statistics.min if low is None else min(low, statistics.min)
        high = statistics.max if high is None else max(high, statistics.max)
    span = None if low is None or high is None else (_utc(low), _utc(high))
    with _SPANS_LOCK:
        if len(_SPANS) > 100_000:
            _SPANS.clear()
        _SPANS[key] = span
    return span


# ------------------------------------------------------------------------------------------------ shadow


@_relisting
def shadow_evidence(
    lake_root: str | Path,
    spec: ModelSpec,
    *,
    shadow_version: str,
    since: pd.Timestamp,
    until: pd.Timestamp,
) -> ShadowEvidence:
    """The shadow version's evidence over event times `since <= t <= until` (both inclusive; naive means UTC).

    - `requests`: shadow rows of `shadow_version` in the window, whatever their outcome; `days`: event time elapsed
      from `since` (when the shadow started) to `until` (how far the log has got), in days: the shadow's age, not the
      span of its sampled rows, which is always a little shorter and would keep a 7-day gate waiting forever.
    - `shadow_timeouts`: rows whose error starts with `TIMEOUT_PREFIX`; `shadow_errors`: rows with any other
      non-empty error. `shadow_p99_ms`: the 99th percentile (linear, as numpy's) of the rows' logged `latency_ms`
      (NaN when none is logged).
    - `champion_scores`, `shadow_scores`: the rows paired with the champion's served row of the same request (see the
      module docstring) where both sides scored (no error, a finite score). A request the canary answered has no
      champion row and no pair.
    - `labels`, `champion_labelled_scores`, `shadow_labelled_scores`: the pairs whose label has arrived; None when
      none has. A label that is not 0/1 (or a boolean), or a request labelled both 0 and 1, raises ValueError.
    """
    low, high = _window(since, until)
    rows = _rows(lake_root, spec, "shadow", shadow_version, low, high)
    if len(rows["t"]) == 0:
        return ShadowEvidence(
            days=0.0,
            requests=0,
            champion_scores=np.empty(0),
            shadow_scores=np.empty(0),
            labels=None,
            champion_labelled_scores=None,
            shadow_labelled_scores=None,
            shadow_p99_ms=float("nan"),
            shadow_errors=0,
            shadow_timeouts=0,
        )
    kind, champion, shadow = rows["kind"], rows["champion_score"], rows["shadow_score"]
    paired = np.isfinite(champion) & np.isfinite(shadow)
    labels, (champion_labelled, shadow_labelled) = _labelled(rows, paired, [champion, shadow], spec)
    return ShadowEvidence(
        days=max(0.0, (_utc(until) - _utc(since)).total_seconds()) / 86_400,
        requests=len(kind),
        champion_scores=champion[paired],
        shadow_scores=shadow[paired],
        labels=labels,
        champion_labelled_scores=champion_labelled,
        shadow_labelled_scores=shadow_labelled,
        shadow_p99_ms=_p99(rows["latency"]),
        shadow_errors=int(np.count_nonzero(kind == _ERROR)),
        shadow_timeouts=int(np.count_nonzero(kind == _TIMEOUT)),
    )


# ------------------------------------------------------------------------------------------------ canary


@_relisting
def canary_evidence(
    lake_root: str | Path,
    spec: ModelSpec,
    *,
    canary_version: str,
    since: pd.Timestamp,
    until: pd.Timestamp,
) -> CanaryEvidence:
    """The canary step's evidence over event times `since <= t <= until` (both inclusive; naive means UTC).

    Served rows only: the canary side is role "canary" with `model_version == canary_version`, production is role
    "champion" (the champion's share over the same time, whatever its version). For each side: requests, errors (a
    non-empty `error`), scores (rows without an error and with a finite score) and the scored rows whose label has
    arrived (joined as in `shadow_evidence`; None when none has). `canary_p99_ms` is over the canary rows' logged
    latencies (NaN when none). `hours_at_step` is `until - since` in hours (0 when `until` is before `since`, a
    window that holds no rows).
    """
    low, high = _window(since, until)
    rows = _rows(lake_root, spec, "served", canary_version, low, high)
    canary = _served_side(rows, rows["is_canary"], spec)
    production = _served_side(rows, ~rows["is_canary"], spec)
    return CanaryEvidence(
        hours_at_step=max(high - low, 0) / _US_PER_HOUR,
        canary_requests=canary.requests,
        canary_errors=canary.errors,
        canary_p99_ms=canary.p99_ms,
        canary_scores=canary.scores,
        production_requests=production.requests,
        production_errors=production.errors,
        production_scores=production.scores,
        canary_labels=canary.labels,
        canary_labelled_scores=canary.labelled_scores,
        production_labels=production.labels,
        production_labelled_scores=production.labelled_scores,
    )


@dataclass(frozen=True, eq=False)
class _Side:
    requests: int
    errors: int
    p99_ms: float
    scores: np.ndarray
    labels: np.ndarray | None
    labelled_scores: np.ndarray | None


def _served_side(rows: dict[str, np.ndarray], side: np.ndarray, spec: ModelSpec) -> _Side:
    part = {column: values[side] for column, values in rows.items()}
    score = part["score"]
    scored = np.isfinite(score)
    labels, (labelled,) = _labelled(part, scored, [score], spec)
    return _Side(
        requests=len(score),
        errors=int(np.count_nonzero(part["failed"])),
        p99_ms=_p99(part["latency"]),
        scores=score[scored],
        labels=labels,
        labelled_scores=labelled,
    )


# ---------------------------------------------------------------------------------------------- champion


@_relisting
def champion_window(
    lake_root: str | Path,
    spec: ModelSpec,
    *,
    version: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    columns: Sequence[str],
) -> pd.DataFrame:
    """The champion `version`'s served rows with `start < event_time <= end` (naive means UTC), by event time.

    Only `columns` are read, `event_time` always among them (first when not asked for). A column the log does not
    have raises ValueError naming it and the log's columns (the spec's log schema when there is no log yet); with no
    rows the frame is empty, its columns typed as the log types them. Not cached: a window of minutes is one
    partition's few row groups, which DuckDB finds by their event-time statistics.
    """
    if isinstance(columns, str):
        raise TypeError(f"columns must be a sequence of column names, not the string {columns!r}")
    wanted = list(dict.fromkeys(columns if "event_time" in columns else ["event_time", *columns]))
    start, end = _utc(start), _utc(end)
    listed = [file for day in _dates(start, end) for file in _log_files(lake_root, spec.name, day)]
    # Only the files whose event times reach into the window: a day's log is many small files (one per flush).
    files = [file for file in listed if (span := _span(file)) is not None and span[1] > start and span[0] <= end]
    if not files:
        schema = PredictionLogWriter.from_spec(spec, lake_root, start=False).schema
        _require_columns(wanted, schema.names)
        return pa.schema([schema.field(name) for name in wanted]).empty_table().to_pandas()
    scan = _scan(files)
    query = (
        f"SELECT {', '.join(_identifier(name) for name in wanted)} FROM {scan} "
        f"WHERE role = {_string(ROLE_CHAMPION)} AND served AND model_version = {_string(version)} "
        f"AND event_time > {_timestamp(start)} AND event_time <= {_timestamp(end)} ORDER BY event_time"
    )
    with _connect() as con:
        try:
            return con.execute(query).df()
        except duckdb.BinderException:
            # Looked up only on failure: a healthy tick pays nothing for it.
            present = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
            _require_columns(wanted, present)
            raise


def _require_columns(wanted: Iterable[str], present: Sequence[str]) -> None:
    unknown = [name for name in wanted if name not in present]
    if unknown:
        raise ValueError(
            f"the prediction log has no column(s) {unknown}; its columns are {list(present)}. "
            "Ask only for columns the log records (the spec's features and the log's own columns)."
        )


# ----------------------------------------------------------------------------------------- rows per date


def _rows(
    lake_root: str | Path, spec: ModelSpec, kind: str, version: str, low: int, high: int
) -> dict[str, np.ndarray]:
    """The relevant rows with `low <= t <= high` (microseconds since the epoch), in event-time order.

    `kind` "shadow": the shadow rows of `version`, with their paired champion score and label. "served": the served
    rows of the champion and of canary `version`, with their labels. Read date by date through the cache.
    """
    root = Path(lake_root).absolute()
    days = _dates(_from_us(low), _from_us(high)) if low <= high else []
    parts: list[dict[str, np.ndarray]] = []
    missing: dict[str, tuple[Hashable, list[str], list[tuple[str, str]]]] = {}
    for day in days:
        log_files = _log_files(root, spec.name, day)
        if not log_files:
            continue
        label_files = _label_files(root, spec.name, day)
        key = (
            kind,
            str(root),
            spec.name,
            version,
            spec.source.entity_id_column,
            spec.source.label_column,
            day,
            _signature(log_files),
            _signature(file for _, file in label_files),
        )
        cached = _CACHE.get(key)
        if cached is None:
            cached = _load_stored(root, spec.name, kind, version, day, key)
            if cached is not None:
                _CACHE.put(key, cached)
        if cached is None:
            missing[day] = (key, log_files, label_files)
        parts.append(cached if cached is not None else {"day": day})
    if missing:
        # One query for every date the cache lacks: on a cold start that is the whole window.
        read = _read_days(root, spec, kind, version, missing)
        parts = [read[part["day"]] if "day" in part else part for part in parts]
    columns = _SHADOW_COLUMNS if kind == "shadow" else _SERVED_COLUMNS
    if not parts:
        return {name: np.empty(0, dtype=dtype) for name, dtype in columns.items()}
    rows = {name: np.concatenate([part[name] for part in parts]) for name in columns}
    t = rows["t"]
    inside = slice(np.searchsorted(t, low, side="left"), np.searchsorted(t, high, side="right"))
    return {name: values[inside] for name, values in rows.items()}


_SHADOW_COLUMNS: dict[str, type] = {
    "t": np.int64,  # event time, microseconds since the epoch
    "h": np.uint64,  # a hash of the request id: with t, it tells a duplicated row
    "latency": np.float64,  # NaN when not logged
    "kind": np.int8,  # _SCORED_OR_EMPTY, _ERROR or _TIMEOUT
    "shadow_score": np.float64,  # NaN unless the shadow scored
    "champion_score": np.float64,  # NaN unless a served champion row pairs with it and scored
    "y": np.float64,  # the label; NaN when none has arrived (or it is not a number)
    "bad": np.bool_,  # a label arrived that is not 0/1
}
_SERVED_COLUMNS: dict[str, type] = {
    "t": np.int64,
    "h": np.uint64,
    "is_canary": np.bool_,
    "latency": np.float64,
    "failed": np.bool_,  # a non-empty error
    "score": np.float64,  # NaN unless scored (no error, a finite score)
    "y": np.float64,
    "bad": np.bool_,
}


def _read_days(
    root: Path,
    spec: ModelSpec,
    kind: str,
    version: str,
    days: dict[str, tuple[Hashable, list[str], list[tuple[str, str]]]],
) -> dict[str, dict[str, np.ndarray]]:
    """Read the given dates from the log (and their labels) in one query, cache each date's rows, return them."""
    log_files = [file for _, files, _ in days.values() for file in files]
    label_files = sorted({pair for _, _, pairs in days.values() for pair in pairs})
    scan = _scan(log_files)
    if kind == "shadow":
        timeout = _string(TIMEOUT_PREFIX)
        rows_sql = f"""
            WITH shadow AS (
                SELECT request_id, event_time, score, latency_ms, error FROM {scan}
                WHERE role = {_string(ROLE_SHADOW)} AND model_version = {_string(version)}
            ), champion AS (
                SELECT request_id, event_time, score, error FROM {scan}
                WHERE role = {_string(ROLE_CHAMPION)} AND served
            )
            SELECT s.request_id, s.event_time, coalesce(s.latency_ms, 'NaN'::DOUBLE) AS latency_ms,
                   CASE WHEN starts_with(s.error, {timeout}) THEN {_TIMEOUT}
                        WHEN s.error <> '' THEN {_ERROR} ELSE {_SCORED_OR_EMPTY} END::TINYINT AS kind,
                   {_score_if_scored("s")} AS shadow_score, {_score_if_scored("c")} AS champion_score
            FROM shadow AS s LEFT JOIN champion AS c USING (request_id, event_time)
        """
        selected = "r.latency_ms AS latency, r.kind, r.shadow_score, r.champion_score"
    else:
        canary = _string(ROLE_CANARY)
        rows_sql = f"""
            SELECT request_id, event_time, role = {canary} AS is_canary,
                   coalesce(latency_ms, 'NaN'::DOUBLE) AS latency_ms, coalesce(error, '') <> '' AS failed,
                   {_score_if_scored(None)} AS score
            FROM {scan}
            WHERE served
              AND (role = {_string(ROLE_CHAMPION)} OR (role = {canary} AND model_version = {_string(version)}))
        """
        selected = "r.is_canary, r.latency_ms AS latency, r.failed, r.score"
    query = f"""
        WITH r AS ({rows_sql}), l AS ({_labels_sql(spec, label_files)})
        SELECT epoch_us(r.event_time) AS t, hash(r.request_id) AS h, {selected},
               coalesce(l.y, 'NaN'::DOUBLE) AS y, coalesce(l.bad, false) AS bad
        FROM r LEFT JOIN l ON l.request_id = r.request_id
            AND l.day BETWEEN CAST(r.event_time AS DATE) - 1 AND CAST(r.event_time AS DATE) + 1
        ORDER BY t, h
    """
    with _connect() as con:
        try:
            fetched = con.execute(query).fetchnumpy()
        except duckdb.BinderException as error:
            if not label_files:
                raise
            raise ValueError(
                f"the labels of {spec.name} (e.g. {label_files[0][1]}) lack the entity id column "
                f"{spec.source.entity_id_column!r} or the label column {spec.source.label_column!r} the spec "
                f"names: {error}"
            ) from error
    columns = _SHADOW_COLUMNS if kind == "shadow" else _SERVED_COLUMNS
    rows = _deduplicated({name: np.ma.getdata(fetched[name]).astype(dtype) for name, dtype in columns.items()})
    # The rows are in event-time order and a partition holds its date's rows: split at the dates' midnights.
    result = {}
    for day, (key, _, _) in days.items():
        midnight = _to_us(pd.Timestamp(day, tz="UTC"))
        inside = slice(
            np.searchsorted(rows["t"], midnight, side="left"),
            np.searchsorted(rows["t"], midnight + _US_PER_DAY, side="left"),
        )
        result[day] = {name: _frozen(values[inside]) for name, values in rows.items()}
        _CACHE.put(key, result[day])
        _store(root, spec.name, kind, version, day, key, result[day])
    return result


def _frozen(values: np.ndarray) -> np.ndarray:
    """A read-only copy: cached arrays are shared by every later call."""
    copy = values.copy()
    copy.setflags(write=False)
    return copy


def _labels_sql(spec: ModelSpec, label_files: Sequence[tuple[str, str]]) -> str:
    """The arrived labels of the given (date, file) pairs: request_id, day, y (NaN unless numeric) and bad."""
    if not label_files:
        return "SELECT NULL::VARCHAR AS request_id, NULL::DATE AS day, NULL::DOUBLE AS y, NULL::BOOLEAN AS bad LIMIT 0"
    entity, label = _identifier(spec.source.entity_id_column), _identifier(spec.source.label_column)
    # One scan per file, each with its date (the file's partition), so that a label only meets rows of nearby dates.
    return " UNION ALL ".join(
        f"SELECT CAST({entity} AS VARCHAR) AS request_id, DATE {_string(day)} AS day, "
        f"TRY_CAST({label} AS DOUBLE) AS y, coalesce(TRY_CAST({label} AS DOUBLE) NOT IN (0, 1), true) AS bad "
        f"FROM {_scan([file])} WHERE {entity} IS NOT NULL AND {label} IS NOT NULL"
        for day, file in label_files
    )


def _score_if_scored(alias: str | None) -> str:
    prefix = f"{alias}." if alias else ""
    return (
        f"CASE WHEN coalesce({prefix}error, '') = '' AND isfinite({prefix}score) "
        f"THEN {prefix}score ELSE 'NaN'::DOUBLE END"
    )


def _deduplicated(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per (event time, request): a request whose id is labelled in two partitions (or logged twice) would
    otherwise count twice. Conflicting labels for one request raise."""
    t, h = rows["t"], rows["h"]
    repeat = np.zeros(len(t), dtype=bool)
    repeat[1:] = (t[1:] == t[:-1]) & (h[1:] == h[:-1])
    if not repeat.any():
        return rows
    y = rows["y"]
    previous = np.flatnonzero(repeat) - 1
    repeats = np.flatnonzero(repeat)
    conflict = np.isfinite(y[repeats]) & np.isfinite(y[previous]) & (y[repeats] != y[previous])
    if conflict.any():
        raise ValueError(
            f"{int(conflict.sum()):,} request(s) in the prediction log have labels both 0 and 1 (an entity id in "
            "two label partitions with different labels); the label contract admits one label per id"
        )
    return {name: values[~repeat] for name, values in rows.items()}


def _labelled(
    rows: dict[str, np.ndarray], usable: np.ndarray, scores: list[np.ndarray], spec: ModelSpec
) -> tuple[np.ndarray | None, list[np.ndarray | None]]:
    """The 0/1 labels and aligned scores of the `usable` rows whose label has arrived; None when none has."""
    bad = usable & rows["bad"]
    if bad.any():
        shown = sorted({"not a number" if np.isnan(value) else repr(float(value)) for value in rows["y"][bad]})[:5]
        raise ValueError(
            f"label column {spec.source.label_column!r} of {spec.name} must hold only 0/1 (or booleans); the labels "
            f"of {int(bad.sum()):,} request(s) do not: {', '.join(shown)}"
        )
    labelled = usable & np.isfinite(rows["y"])
    if not labelled.any():
        return None, [None for _ in scores]
    return rows["y"][labelled].astype(np.int64), [values[labelled] for values in scores]


def _p99(latency: np.ndarray) -> float:
    finite = latency[np.isfinite(latency)]
    return float(np.percentile(finite, 99)) if len(finite) else float("nan")


# ------------------------------------------------------------------------------------------------- cache


class _Cache:
    """A thread-safe LRU of per-date row arrays, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, dict[str, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> dict[str, np.ndarray] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: dict[str, np.ndarray]) -> None:
        size = sum(values.nbytes for values in entry.values())
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= sum(values.nbytes for values in previous.values())
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= sum(values.nbytes for values in evicted.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


_CACHE = _Cache(_CACHE_BYTES)


def clear_cache() -> None:
    """Forget every cached date in this process (a test's fresh start; never needed for correctness)."""
    _CACHE.clear()


# Each date's rows are also stored beside the log, so the first tick of a new process (a restarted code server) reads
# a few small files instead of a week of log: `<lake root>/<model>/_evidence/<kind>-<version>/date=<D>/<key>.npz`,
# one per date, named by the digest of the same key as the memory cache (the files' names, sizes and times).
_STORE = "_evidence"


def _stored_path(root: Path, model: str, kind: str, version: str, day: str, key: Hashable) -> Path:
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
    safe_version = re.sub(r"[^A-Za-z0-9_.-]", "_", version)
    return root / model / _STORE / f"{kind}-{safe_version}" / f"date={day}" / f"{digest}.npz"


def _load_stored(
    root: Path, model: str, kind: str, version: str, day: str, key: Hashable
) -> dict[str, np.ndarray] | None:
    path = _stored_path(root, model, kind, version, day, key)
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: _frozen(stored[name]) for name in stored.files}
    except (FileNotFoundError, ValueError, OSError):  # absent, or half-written by a crash: read the log instead
        return None


def _store(
    root: Path, model: str, kind: str, version: str, day: str, key: Hashable, rows: dict[str, np.ndarray]
) -> None:
    """Store one date's rows (atomically) and drop the date's older entries; a failure only costs a later read."""
    path = _stored_path(root, model, kind, version, day, key)
    try:
        with staged(path) as file:
            with file.path.open("wb") as out:
                np.savez(out, **rows)
            file.commit()
        for other in path.parent.glob("*.npz"):
            if other != path:
                other.unlink(missing_ok=True)
    except OSError:
        pass


# --------------------------------------------------------------------------------------------- internals

# Opened on first use, never at import (see `_connect`).
_DATABASE: duckdb.DuckDBPyConnection | None = None
_DATABASE_LOCK = threading.Lock()


def _connect() -> duckdb.DuckDBPyConnection:
    """A fresh connection (close it when done) to the process's one in-memory DuckDB database: opening a database
    costs 30-100 ms, a connection to an open one well under 1 ms. The database itself holds no tables."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = duckdb.connect()
        con = _DATABASE.cursor()
    con.execute("SET TimeZone = 'UTC'")  # timestamps and dates in UTC, whatever the machine's zone
    return con


def _utc(value: Any) -> pd.Timestamp:
    """A UTC timestamp; a naive one is taken to be UTC already (as the prediction log's writer does)."""
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"expected a timestamp, got {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _to_us(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000)


def _from_us(micros: int) -> pd.Timestamp:
    return pd.Timestamp(micros * 1_000, tz="UTC")


def _window(since: Any, until: Any) -> tuple[int, int]:
    """`since <= t <= until` as whole microseconds (the log's precision): the lower bound rounded up, the upper
    down, so that comparing with them is exactly comparing with the given timestamps."""
    return _to_us(_utc(since).ceil("us")), _to_us(_utc(until).floor("us"))


def _dates(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """The UTC dates from `first` to `last` inclusive (none when `last` is before `first`)."""
    day, end = first.date(), last.date()
    days = []
    while day <= end:
        days.append(day.isoformat())
        day += dt.timedelta(days=1)
    return days


def _log_files(lake_root: str | Path, model: str, day: str) -> list[str]:
    return [str(path) for path in day_files(lake_root, model, day)]


def _label_files(root: Path, model: str, day: str) -> list[tuple[str, str]]:
    """(date, file) of the label partitions present for `day` and the dates either side of it."""
    centre = dt.date.fromisoformat(day)
    found = []
    for offset in (-1, 0, 1):
        near = (centre + dt.timedelta(days=offset)).isoformat()
        path = root / model / LABELS / f"date={near}" / _LABELS_FILE
        if path.is_file():
            found.append((near, str(path)))
    return found


def _signature(files: Iterable[str]) -> tuple[tuple[str, int, int], ...]:
    """What identifies the files' contents: they are only ever replaced whole (a rename), never changed in place."""
    signature = []
    for file in files:
        status = Path(file).stat()
        signature.append((file, status.st_size, status.st_mtime_ns))
    return tuple(signature)


def _scan(files: Sequence[str]) -> str:
    listed = ", ".join(_string(path) for path in files)
    # hive_partitioning off: the date is already the event_time column; union_by_name: files of different feature
    # sets are read together by column name.
    return f"read_parquet([{listed}], hive_partitioning = false, union_by_name = true)"


def _string(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _timestamp(stamp: pd.Timestamp) -> str:
    """A TIMESTAMPTZ literal, floored to the log's microseconds (the bounds it is used for are `>`  and `<=`). A
    literal rather than a parameter lets DuckDB skip row groups by their event-time statistics."""
    return f"TIMESTAMPTZ '{stamp.floor('us').strftime('%Y-%m-%d %H:%M:%S.%f')}+00'"
