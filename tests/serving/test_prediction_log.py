"""The prediction log writer: one row per record, atomic files, event-date partitions and the flush window."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import serving.prediction_log as prediction_log
from platform_assets.spec import ModelSpec
from serving.prediction_log import PredictionLogWriter, partition_dir, predictions_dir, read_predictions

pytestmark = pytest.mark.unit

MODEL = "delivery_delay"
FEATURES = {"carrier_code": "str", "weight_kg": "float", "hour_of_day": "int", "is_fragile": "bool"}
DAY = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SLACK_SECONDS = 30.0  # how long a test waits for the background thread: scheduling on a busy machine, not a target


def record(index: int, event_time: dt.datetime = DAY, **changes: Any) -> dict[str, Any]:
    base = {
        "request_id": f"r-{index}",
        "unit_id": f"u-{index % 7}",
        "event_time": event_time,
        "model_name": MODEL,
        "model_version": "3",
        "role": "champion",
        "served": True,
        "features": {"carrier_code": "UPS", "weight_kg": 1.5 + index, "hour_of_day": index % 24, "is_fragile": False},
        "score": index / 10_000,
        "latency_ms": 0.25,
        "error": None,
    }
    return base | changes


def files(root: Path) -> list[Path]:
    return sorted(path for path in predictions_dir(root, MODEL).rglob("*") if path.is_file())


def test_exactly_one_row_per_record_from_many_threads(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES, flush_seconds=0.05)
    threads = [
        threading.Thread(target=lambda t=t: [writer.log(record(t * 1_000 + i)) for i in range(1_000)]) for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    logged = read_predictions(tmp_path, MODEL)
    assert len(logged) == 4_000 == writer.rows_written
    assert logged["request_id"].is_unique
    assert writer.files_written >= 1 and writer.dropped == 0
    row = logged.set_index("request_id").loc["r-1002"]
    assert (row["carrier_code"], row["weight_kg"], row["hour_of_day"], row["is_fragile"]) == (
        "UPS",
        1003.5,
        1002 % 24,
        False,
    )
    assert (row["model_name"], row["model_version"], row["role"], bool(row["served"])) == (MODEL, "3", "champion", True)
    assert row["score"] == pytest.approx(0.1002) and row["event_time"] == DAY


def test_the_schema_has_each_feature_as_a_typed_column(tmp_path: Path, spec: ModelSpec) -> None:
    writer = PredictionLogWriter.from_spec(spec, tmp_path, start=False)
    assert writer.flush_seconds == spec.deployment.serving.flush_seconds
    names = writer.schema.names
    assert names[:7] == ["request_id", "unit_id", "event_time", "model_name", "model_version", "role", "served"]
    assert names[7:-3] == spec.features.names and names[-3:] == ["score", "latency_ms", "error"]
    assert str(writer.schema.field("package_count").type) == "int64"
    assert str(writer.schema.field("event_time").type) == "timestamp[us, tz=UTC]"
    with pytest.raises(ValueError, match="clash"):
        PredictionLogWriter(tmp_path, MODEL, {"score": "float"}, start=False)


def test_files_are_renamed_into_place_and_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES, start=False)
    for index in range(10):
        writer.log(record(index))
    real_write = pq.write_table

    def half_written(table: Any, where: Any, **kwargs: Any) -> None:
        Path(where).write_bytes(b"PAR1 and then the disk filled up")
        raise OSError("No space left on device")

    monkeypatch.setattr(prediction_log.pq, "write_table", half_written)
    with pytest.raises(OSError, match="No space left"):
        writer.flush()
    assert files(tmp_path) == [], "neither a temporary nor a partial file may remain"
    monkeypatch.setattr(prediction_log.pq, "write_table", real_write)
    writer.log(record(10))
    writer.close()  # the failed batch is retried with the new record
    [written] = files(tmp_path)
    assert written.name.startswith("part-") and written.suffix == ".parquet"
    assert sorted(read_predictions(tmp_path, MODEL)["request_id"]) == sorted(f"r-{i}" for i in range(11))


def test_rows_land_in_the_partition_of_their_utc_event_date(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES, start=False)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    writer.log(record(1, dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC)))
    writer.log(record(2, dt.datetime(2026, 3, 2, 1, 30, tzinfo=plus_two)))  # 23:30 UTC on 1 March
    writer.log(record(3, dt.datetime(2026, 3, 2, 0, 0, 1)))  # naive: taken as UTC
    writer.log(record(4, dt.datetime(2026, 2, 27, 8, 0, tzinfo=dt.UTC)))
    writer.close()
    by_day = {
        day: sorted(
            pq.read_table(path).column("request_id").to_pylist()
            for path in partition_dir(tmp_path, MODEL, day).glob("*")
        )
        for day in ("2026-02-27", "2026-03-01", "2026-03-02")
    }
    assert by_day == {"2026-02-27": [["r-4"]], "2026-03-01": [["r-1", "r-2"]], "2026-03-02": [["r-3"]]}
    assert list(read_predictions(tmp_path, MODEL, ["2026-03-01"])["request_id"]) == ["r-2", "r-1"]
    assert list(read_predictions(tmp_path, MODEL, 2, until=dt.date(2026, 3, 2))["request_id"]) == ["r-2", "r-1", "r-3"]
    assert read_predictions(tmp_path, MODEL, ["2026-01-01"]).empty


def test_the_background_thread_writes_every_flush_window(tmp_path: Path) -> None:
    window = 0.2
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES, flush_seconds=window)
    try:
        writer.log(record(1))
        # Without flush() or close(): the thread writes it after a window, so a crash loses at most what was logged
        # in the last window. The wait is generous (a loaded CI machine delays threads by seconds): this checks that
        # the thread writes, one file per window; how soon is the benchmarks' business.
        deadline = time.monotonic() + SLACK_SECONDS
        while not files(tmp_path) and time.monotonic() < deadline:
            time.sleep(window / 10)
        assert len(files(tmp_path)) == 1
        writer.log(record(2))
        writer.log(record(3))
        deadline = time.monotonic() + SLACK_SECONDS
        while len(files(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(window / 10)
        assert len(files(tmp_path)) == 2, "one new file per window, never an append"
        assert writer.flush() == 0  # nothing left queued
    finally:
        writer.close()
    assert writer.rows_written == 3


def test_values_are_coerced_to_the_declared_types_or_null(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES, start=False)
    odd = {"carrier_code": 7, "weight_kg": "heavy", "hour_of_day": 3.0, "is_fragile": "false"}
    writer.log(record(1, features=odd))
    writer.log(record(2, features={"carrier_code": None, "weight_kg": float("nan"), "hour_of_day": 3.5}))
    writer.log({"request_id": "r-3", "carrier_code": "DHL", "hour_of_day": 4})  # features inline, most keys missing
    writer.close()
    logged = read_predictions(tmp_path, MODEL).set_index("request_id")
    assert logged.loc["r-1", ["carrier_code", "hour_of_day"]].tolist() == ["7", 3]
    assert logged.loc["r-1", ["weight_kg", "is_fragile"]].isna().all()
    assert logged.loc["r-2", ["carrier_code", "weight_kg", "hour_of_day", "is_fragile"]].isna().all()
    assert logged.loc["r-3", ["carrier_code", "hour_of_day", "model_name"]].tolist() == ["DHL", 4, MODEL]


def test_after_close_records_are_counted_as_dropped_and_reads_of_nothing_are_empty(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES)
    writer.close()
    writer.close()
    writer.log(record(1))
    assert writer.dropped == 1 and files(tmp_path) == []
    empty = read_predictions(tmp_path, MODEL)
    assert empty.empty and {"request_id", "score", "error"} <= set(empty.columns)


def _flushes(writer: PredictionLogWriter, batches: int, size: int, start: int = 0) -> None:
    for batch in range(batches):
        for index in range(size):
            writer.log(record(start + batch * size + index, DAY + dt.timedelta(seconds=batch)))
        writer.flush()


def test_compaction_merges_a_date_into_one_file_and_keeps_every_row_once(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES, start=False)
    _flushes(writer, batches=5, size=20)
    before = read_predictions(tmp_path, MODEL)
    assert len(prediction_log.day_files(tmp_path, MODEL, DAY.date())) == 5

    assert prediction_log.compact_day(tmp_path, MODEL, DAY.date()) == 5
    (merged,) = prediction_log.day_files(tmp_path, MODEL, DAY.date())
    assert merged.name.startswith("compacted-")
    assert [path.name for path in files(tmp_path)] == sorted([merged.name, prediction_log.COMPACTION_MANIFEST])
    after = read_predictions(tmp_path, MODEL)
    assert after.equals(before)

    # The writer goes on: a part written after the compaction is listed beside the merged file, and the next
    # compaction takes both, leaving no stray file behind.
    _flushes(writer, batches=2, size=10, start=1_000)
    assert len(prediction_log.day_files(tmp_path, MODEL, DAY.date())) == 3
    assert len(read_predictions(tmp_path, MODEL)) == 120
    assert prediction_log.compact_day(tmp_path, MODEL, DAY.date()) == 3
    assert len(prediction_log.day_files(tmp_path, MODEL, DAY.date())) == 1
    assert len(files(tmp_path)) == 2  # the merged file and the manifest
    logged = read_predictions(tmp_path, MODEL)
    assert len(logged) == 120 and logged["request_id"].is_unique
    assert prediction_log.compact_day(tmp_path, MODEL, DAY.date()) == 0  # one file: nothing to do
    writer.close()


def test_a_crash_before_the_manifest_leaves_the_old_listing_and_the_next_compaction_cleans_up(
    tmp_path: Path,
) -> None:
    writer = PredictionLogWriter(tmp_path, MODEL, FEATURES, start=False)
    _flushes(writer, batches=3, size=10)
    writer.close()
    directory = partition_dir(tmp_path, MODEL, DAY.date())
    # A merged file whose manifest was never written: readers do not list it.
    stray = directory / "compacted-crashed.parquet"
    stray.write_bytes((directory / prediction_log.day_files(tmp_path, MODEL, DAY.date())[0].name).read_bytes())
    assert len(read_predictions(tmp_path, MODEL)) == 30
    prediction_log.compact_day(tmp_path, MODEL, DAY.date())
    assert not stray.exists()
    assert len(read_predictions(tmp_path, MODEL)) == 30
