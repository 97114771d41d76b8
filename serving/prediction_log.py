"""The prediction log: every prediction the service makes, as Parquet files in the lake.

Defines `PredictionLogWriter`, which `serving.router.Router` calls once per served prediction and once per shadow
outcome, and `read_predictions`, which monitoring, the shadow and canary gates and the tests use to read the log back.

Layout: `<lake root>/<model>/predictions/date=<YYYY-MM-DD>/part-<uuid>.parquet`, partitioned by the UTC date of each
prediction's event time, one new file per partition per flush. A file is written under a temporary name
(`resources.lake.StagedFile`) and renamed into place, so a reader never sees half a file and nothing is ever
appended. `log()` only puts the record on a queue, so the request path never waits for the disk; a background thread
writes what has queued every `flush_seconds`, so a crash loses at most one flush window, and `close()` writes the
rest, so a clean stop loses nothing.

Columns: request_id, unit_id, event_time (timestamp, UTC), model_name, model_version, role, served, one column per
feature (typed as the spec declares it), score, latency_ms, error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import queue
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.spec import FeatureColumn, ModelSpec
from resources.lake import staged

__all__ = [
    "BASE_COLUMNS",
    "COMPACTION_MANIFEST",
    "PREDICTIONS",
    "TRAILING_COLUMNS",
    "PredictionLogWriter",
    "compact_day",
    "day_files",
    "partition_dir",
    "predictions_dir",
    "read_predictions",
]

_LOGGER = logging.getLogger(__name__)

PREDICTIONS = "predictions"  # the lake dataset

_TIMESTAMP = pa.timestamp("us", tz="UTC")
# Columns before the features, and after them; a feature may not reuse one of these names.
BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("request_id", pa.string()),
    ("unit_id", pa.string()),
    ("event_time", _TIMESTAMP),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("role", pa.string()),
    ("served", pa.bool_()),
)
TRAILING_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("score", pa.float64()),
    ("latency_ms", pa.float64()),
    ("error", pa.string()),
)
_ARROW_TYPES: dict[str, pa.DataType] = {
    "float": pa.float64(),
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
}
# A batch that cannot be written is kept for the next flush, up to this many rows; beyond it the oldest are dropped
# (and counted) rather than let a broken disk exhaust the memory of the serving process.
_MAX_RETAINED_ROWS = 1_000_000


def predictions_dir(lake_root: str | Path, model: str) -> Path:
    """`<lake root>/<model>/predictions`, the same layout as `LakeResource.dataset_dir`."""
    return Path(lake_root).absolute() / model / PREDICTIONS


def partition_dir(lake_root: str | Path, model: str, day: dt.date | str) -> Path:
    return predictions_dir(lake_root, model) / f"date={day if isinstance(day, str) else day.isoformat()}"


def _utc(value: Any) -> dt.datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already, None is now."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise TypeError(f"event_time must be a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _coerce(value: Any, dtype: pa.DataType) -> Any:
    """One value as the column's type, or None when it has no faithful representation in it."""
    if value is None or (isinstance(value, float) and math.isnan(value) and not pa.types.is_floating(dtype)):
        return None
    try:
        if pa.types.is_floating(dtype):
            return float(value)
        if pa.types.is_integer(dtype):
            number = float(value)
            return int(number) if number.is_integer() else None
        if pa.types.is_boolean(dtype):
            # Only a real boolean, or a 0/1 number: bool("false") would be True.
            if isinstance(value, bool | np.bool_):
                return bool(value)
            return bool(value) if isinstance(value, int | float | np.number) and value in (0, 1) else None
        return str(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _column(name: str, values: list[Any], dtype: pa.DataType) -> pa.Array:
    # pyarrow truncates a float such as 3.5 into an int64 column without complaint, so integer columns take the
    # fast path only when every value already is an int.
    if pa.types.is_integer(dtype) and not all(value is None or type(value) is int for value in values):
        return pa.array([_coerce(value, dtype) for value in values], type=dtype)
    try:
        return pa.array(values, type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        # An in-process caller sent a value of another type: keep the row, with what converts and null for the
        # rest, rather than lose the whole batch.
        _LOGGER.warning(
            "prediction log: column %s has values that are not %s; unconvertible ones are null", name, dtype
        )
        return pa.array([_coerce(value, dtype) for value in values], type=dtype)


class PredictionLogWriter:
    """Queues prediction records and writes them to the lake in batches from a background thread.

    `log` is non-blocking and thread-safe; `flush` writes everything queued so far (in the caller's thread);
    `close` stops the thread and flushes. Records logged after `close` cannot be written and are counted in
    `dropped` (with a warning) instead of raising in whatever thread logged them.
    """

    def __init__(
        self,
        lake_root: str | Path,
        model: str,
        features: Sequence[FeatureColumn] | Mapping[str, str],
        flush_seconds: float = 1.0,
        *,
        start: bool = True,
    ) -> None:
        if flush_seconds <= 0:
            raise ValueError(f"flush_seconds must be positive, got {flush_seconds}")
        pairs = (
            list(features.items())
            if isinstance(features, Mapping)
            else [(column.name, column.dtype) for column in features]
        )
        reserved = {name for name, _ in (*BASE_COLUMNS, *TRAILING_COLUMNS)}
        clashes = sorted(name for name, _ in pairs if name in reserved)
        if clashes:
            raise ValueError(
                f"feature name(s) {clashes} clash with the prediction log's own columns {sorted(reserved)}"
            )
        unknown = {name: dtype for name, dtype in pairs if dtype not in _ARROW_TYPES}
        if unknown:
            raise ValueError(f"feature dtype(s) {unknown} are not among {sorted(_ARROW_TYPES)}")
        self.lake_root = Path(lake_root).absolute()
        self.model = model
        self.flush_seconds = float(flush_seconds)
        self.feature_names: tuple[str, ...] = tuple(name for name, _ in pairs)
        self.schema = pa.schema(
            [
                *BASE_COLUMNS,
                *((name, _ARROW_TYPES[dtype]) for name, dtype in pairs),
                *TRAILING_COLUMNS,
            ]
        )
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._retained: list[dict[str, Any]] = []  # a batch whose write failed, retried first next flush
        self._write_lock = threading.Lock()  # one writer at a time: the thread, flush() and close()
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.files_written = 0
        self.dropped = 0
        if start:
            self.start()

    @classmethod
    def from_spec(cls, spec: ModelSpec, lake_root: str | Path, *, start: bool = True) -> PredictionLogWriter:
        """A writer for the spec's model, features and flush window."""
        return cls(lake_root, spec.name, spec.features.columns, spec.deployment.serving.flush_seconds, start=start)

    # -------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the background flush thread (done by the constructor unless `start=False`)."""
        if self._closed:
            raise RuntimeError("the prediction log is closed")
        if self._thread is not None:
            return
        # A daemon thread: a crash (or a forgotten close) must not hang the interpreter at exit; the records of the
        # last window are the documented loss in that case.
        self._thread = threading.Thread(target=self._run, name=f"prediction-log-{self.model}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the thread must outlive one bad flush; the records are retained and retried
                _LOGGER.exception("prediction log: flush failed; retrying next window")

    def close(self) -> None:
        """Stop the background thread and write everything logged so far. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    @property
    def closed(self) -> bool:
        return self._closed

    # ---------------------------------------------------------------------------------------------- writes

    def log(self, record: dict[str, Any]) -> None:
        """Queue one record; never blocks on I/O.

        Keys: request_id, unit_id, event_time (datetime; naive is taken as UTC), model_name (defaults to the
        writer's model), model_version, role, served, features (a mapping from feature name to value; when absent
        the feature values are read from the record itself), score, latency_ms, error. Missing keys are null. The
        record and its feature mapping are read at flush time, so the caller must not mutate them after logging.
        """
        if self._closed:
            self.dropped += 1
            _LOGGER.warning("prediction log closed; dropped the record of request %s", record.get("request_id"))
            return
        self._queue.put(record)

    def flush(self) -> int:
        """Write every record queued up to now; returns the number of rows written."""
        with self._write_lock:
            records = self._retained
            self._retained = []
            while True:
                try:
                    records.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not records:
                return 0
            # On a failure `_write` keeps the unwritten records for the next flush and re-raises.
            return self._write(records)

    def _retain(self, records: list[dict[str, Any]]) -> None:
        excess = len(records) - _MAX_RETAINED_ROWS
        if excess > 0:
            self.dropped += excess
            _LOGGER.error("prediction log: %d unwritten rows beyond the retention cap were dropped", excess)
            records = records[excess:]
        self._retained = records

    def _write(self, records: list[dict[str, Any]]) -> int:
        by_day: dict[dt.date, list[tuple[dt.datetime, dict[str, Any]]]] = {}
        for record in records:
            try:
                event_time = _utc(record.get("event_time"))
            except TypeError as error:
                _LOGGER.warning("prediction log: %s; logging request %s at now", error, record.get("request_id"))
                event_time = dt.datetime.now(dt.UTC)
            by_day.setdefault(event_time.date(), []).append((event_time, record))
        written = 0
        # Days are written one by one; a day already committed is not rewritten when a later one fails.
        for day in sorted(by_day):
            rows = by_day.pop(day)
            try:
                self._write_day(day, rows)
            except Exception:
                # Keep what was not written (this day and the later ones) for the next attempt.
                self._retain([record for _, record in rows] + [r for rest in by_day.values() for _, r in rest])
                raise
            written += len(rows)
            self.rows_written += len(rows)
        return written

    def _write_day(self, day: dt.date, rows: list[tuple[dt.datetime, dict[str, Any]]]) -> None:
        columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        for event_time, record in rows:
            features = record.get("features")
            source: Mapping[str, Any] = features if isinstance(features, Mapping) else record
            columns["request_id"].append(record.get("request_id"))
            columns["unit_id"].append(record.get("unit_id"))
            columns["event_time"].append(event_time)
            columns["model_name"].append(record.get("model_name") or self.model)
            columns["model_version"].append(record.get("model_version"))
            columns["role"].append(record.get("role"))
            columns["served"].append(record.get("served"))
            for name in self.feature_names:
                columns[name].append(source.get(name))
            columns["score"].append(record.get("score"))
            columns["latency_ms"].append(record.get("latency_ms"))
            columns["error"].append(record.get("error"))
        arrays = [_column(field.name, columns[field.name], field.type) for field in self.schema]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        with staged(partition_dir(self.lake_root, self.model, day) / f"part-{uuid.uuid4().hex}.parquet") as part:
            pq.write_table(table, part.path)
            part.commit()
        self.files_written += 1


# ------------------------------------------------------------------------------------------- compaction

# A date's compaction manifest: which merged file now holds the rows of which replaced files.
COMPACTION_MANIFEST = "_compaction.json"
_PART_GLOB = "part-*.parquet"
_COMPACTED_GLOB = "compacted-*.parquet"


def day_files(lake_root: str | Path, model: str, day: dt.date | str) -> list[Path]:
    """The files that hold one date's rows, each row exactly once: the compacted file of the date's manifest (if
    any) and every part it did not replace (written since). Every reader of the log lists files through this."""
    directory = partition_dir(lake_root, model, day)
    parts = sorted(directory.glob(_PART_GLOB))
    manifest_path = directory / COMPACTION_MANIFEST
    if not manifest_path.is_file():
        return parts
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    replaced = set(manifest["replaces"])
    return [directory / manifest["file"], *(part for part in parts if part.name not in replaced)]


def compact_day(lake_root: str | Path, model: str, day: dt.date | str) -> int:
    """Merge one date's files into one, for readers that open every file of the dates they read; returns how many
    files were replaced (0 when there was at most one).

    Safe beside the writer and readers: the merged file is written under a name readers do not list, then the date's
    manifest is replaced atomically (from then on readers list the merged file instead of the files it replaces, and
    a part the writer adds later is listed beside it), then the replaced files are deleted. A reader that listed the
    files just before may find one gone, and lists again (`read_predictions`, the monitoring evidence). A crash
    leaves either the old listing or the new one, plus at worst an unlisted file that the next compaction removes.
    """
    directory = partition_dir(lake_root, model, day)
    files = day_files(lake_root, model, day)
    if len(files) <= 1:
        return 0
    name = f"compacted-{uuid.uuid4().hex}.parquet"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        table = con.sql(
            "SELECT * FROM read_parquet($files, hive_partitioning = false, union_by_name = true) "
            "ORDER BY event_time, request_id, role",
            params={"files": [str(path) for path in files]},
        ).to_arrow_table()
    finally:
        con.close()
    with staged(directory / name) as merged:
        pq.write_table(table, merged.path)
        merged.commit()
    with staged(directory / COMPACTION_MANIFEST) as manifest:
        manifest.path.write_text(
            json.dumps({"file": name, "replaces": sorted(path.name for path in files), "rows": table.num_rows}),
            encoding="utf-8",
        )
        manifest.commit()
    live = {path.name for path in day_files(lake_root, model, day)}
    for path in [*files, *directory.glob(_COMPACTED_GLOB)]:
        if path.name not in live:
            path.unlink(missing_ok=True)
    return len(files)


# -------------------------------------------------------------------------------------------------- reads


def _days(days: int | Iterable[dt.date | str] | None, until: dt.date | None) -> list[str] | None:
    if days is None:
        return None
    if isinstance(days, int):
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        last = until or dt.datetime.now(dt.UTC).date()
        return [(last - dt.timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]
    return [day if isinstance(day, str) else day.isoformat() for day in days]


def read_predictions(
    lake_root: str | Path,
    model: str,
    days: int | Iterable[dt.date | str] | None = None,
    *,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """The logged predictions of `model`, ordered by event time and request id.

    `days`: None reads every partition; an int reads that many days ending at `until` (default: today, UTC); an
    iterable reads those event dates. Days without a partition contribute nothing. Files of different feature sets
    are read together by column name (DuckDB `union_by_name`); `hive_partitioning` is off because the date is
    already the `event_time` column.
    """
    wanted = _days(days, until)
    root = predictions_dir(lake_root, model)
    directories = (
        sorted(root.glob("date=*")) if wanted is None else [partition_dir(lake_root, model, day) for day in wanted]
    )
    for attempt in range(2):
        files = [str(path) for directory in directories for path in day_files(lake_root, model, directory.name[5:])]
        if not files:
            return pd.DataFrame({name: pd.Series(dtype=object) for name, _ in (*BASE_COLUMNS, *TRAILING_COLUMNS)})
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")  # timestamps come back as UTC, whatever the machine's zone
            return con.execute(
                "SELECT * FROM read_parquet(?, hive_partitioning = false, union_by_name = true) "
                "ORDER BY event_time, request_id, role",
                [files],
            ).df()
        except duckdb.IOException:
            if attempt:
                raise
            # A compaction replaced files between the listing and the read: list again.
        finally:
            con.close()
    raise AssertionError("unreachable")
