"""The sensors' reads of the prediction log and the labels, on real log files and real label partitions.

Logs are written with `serving.prediction_log.PredictionLogWriter` (one of them by a real `serving.router.Router`),
labels with `LakeResource.write_partition`, as the service and the labels asset write them. Covered: shadow rows paired
with the champion's served row of the same request; label joins on the entity id, labels that arrive later and labels
that are not 0/1; windows in event time with inclusive (and, for the champion window, half-open) edges; errors against
timeouts with the router's own messages; an empty log; windows over several days, read through the per-date cache and
re-read when a date changes; and evidence that `shadow_gate` and `canary_gate` judge as expected.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.deployment.judges import canary_gate, shadow_gate
from platform_assets.keys import LABELS
from platform_assets.monitoring import evidence
from platform_assets.monitoring.evidence import (
    TIMEOUT_PREFIX,
    canary_evidence,
    champion_window,
    latest_event_time,
    log_days,
    shadow_evidence,
)
from platform_assets.monitoring.health import LOG_COLUMNS, production_health
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from serving.prediction_log import PredictionLogWriter, partition_dir, read_predictions
from serving.roles import Roles
from serving.router import Router
from serving.scoring import Scorer

pytestmark = pytest.mark.unit

CHAMPION, CANARY, SHADOW = "3", "4", "5"
NOON = pd.Timestamp("2026-03-02 12:00", tz="UTC")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    evidence.clear_cache()
    yield
    evidence.clear_cache()


# ------------------------------------------------------------------------------------------------ helpers


def features(spec: ModelSpec, index: int = 0) -> dict[str, Any]:
    values = {"str": "UPS", "float": 1.5 + index, "int": index % 5, "bool": False}
    return {column.name: values[column.dtype] for column in spec.features.columns}


def row(
    spec: ModelSpec,
    request_id: str,
    event_time: pd.Timestamp,
    *,
    role: str = "champion",
    version: str | None = None,
    score: float | None = 0.5,
    latency_ms: float | None = 2.0,
    error: str | None = None,
) -> dict[str, Any]:
    versions = {"champion": CHAMPION, "canary": CANARY, "shadow": SHADOW}
    return {
        "request_id": request_id,
        "unit_id": f"u-{request_id}",
        "event_time": event_time.to_pydatetime(),
        "model_version": version or versions[role],
        "role": role,
        "served": role != "shadow",
        "features": features(spec),
        "score": score,
        "latency_ms": latency_ms,
        "error": error,
    }


def write_log(root: Path, spec: ModelSpec, rows: list[dict[str, Any]]) -> None:
    """One flush of the service's writer: one new file per event date."""
    writer = PredictionLogWriter.from_spec(spec, root, start=False)
    for record in rows:
        writer.log(record)
    writer.close()


def write_labels(root: Path, spec: ModelSpec, day: str, labels: Mapping[str, Any]) -> None:
    """The labels asset's partition for `day`: entity id, event time, the label and an outcome column."""
    frame = pd.DataFrame(
        {
            spec.source.entity_id_column: list(labels),
            spec.source.event_time_column: pd.Timestamp(day),
            spec.source.label_column: list(labels.values()),
            "delay_minutes": 10.0,
        }
    )
    LakeResource(root=str(root)).write_partition(spec.name, LABELS, day, frame)


def shadow_of(root: Path, spec: ModelSpec, since: Any, until: Any, version: str = SHADOW) -> Any:
    return shadow_evidence(root, spec, shadow_version=version, since=since, until=until)


def canary_of(root: Path, spec: ModelSpec, since: Any, until: Any, version: str = CANARY) -> Any:
    return canary_evidence(root, spec, canary_version=version, since=since, until=until)


def second(n: float) -> pd.Timestamp:
    return NOON + pd.Timedelta(seconds=n)


# --------------------------------------------------------------------------------------------- the log


def test_log_days_and_the_latest_event_time_read_only_the_newest_partition(tmp_path: Path, spec: ModelSpec) -> None:
    assert log_days(tmp_path, spec.name) == []
    assert latest_event_time(tmp_path, spec.name) is None
    write_log(
        tmp_path,
        spec,
        [
            row(spec, "a", pd.Timestamp("2026-03-01 08:00", tz="UTC")),
            row(spec, "b", pd.Timestamp("2026-03-03 09:30:00.000007", tz="UTC")),
            row(spec, "c", pd.Timestamp("2026-03-03 07:00", tz="UTC")),
        ],
    )
    # Neither a directory without log files nor a foreign directory is a date of the log.
    partition_dir(tmp_path, spec.name, "2026-03-02").mkdir()
    (partition_dir(tmp_path, spec.name, "2026-03-02").parent / "date=someday").mkdir()
    assert log_days(tmp_path, spec.name) == ["2026-03-01", "2026-03-03"]
    # An older partition is never read: a corrupt file there does not matter.
    (partition_dir(tmp_path, spec.name, "2026-03-01") / "part-corrupt.parquet").write_bytes(b"not parquet")
    assert latest_event_time(tmp_path, spec.name) == pd.Timestamp("2026-03-03 09:30:00.000007", tz="UTC")

    # A newest partition whose files hold no rows gives way to the one before it.
    empty = PredictionLogWriter.from_spec(spec, tmp_path, start=False).schema.empty_table()
    later = partition_dir(tmp_path, spec.name, "2026-03-04")
    later.mkdir()
    pq.write_table(empty, later / "part-empty.parquet")
    assert log_days(tmp_path, spec.name)[-1] == "2026-03-04"
    assert latest_event_time(tmp_path, spec.name) == pd.Timestamp("2026-03-03 09:30:00.000007", tz="UTC")


# ------------------------------------------------------------------------------------------------ shadow


def test_shadow_rows_pair_with_the_champion_row_of_the_same_request(tmp_path: Path, spec: ModelSpec) -> None:
    rows = [
        # Two plain pairs.
        row(spec, "p1", second(0), score=0.1),
        row(spec, "p1", second(0), role="shadow", score=0.15, latency_ms=5.0),
        row(spec, "p2", second(10), score=0.8),
        row(spec, "p2", second(10), role="shadow", score=0.7, latency_ms=7.0),
        # The same parcel scored again later: each shadow row pairs with the served row of its own request.
        row(spec, "p1", second(20), score=0.3),
        row(spec, "p1", second(20), role="shadow", score=0.35, latency_ms=6.0),
        # A request the canary answered: its shadow row counts but has no champion to pair with.
        row(spec, "c1", second(30), role="canary", score=0.4),
        row(spec, "c1", second(30), role="shadow", score=0.45, latency_ms=4.0),
        # The champion failed: no pair.
        row(spec, "e1", second(40), score=None, error="ValueError: bad input"),
        row(spec, "e1", second(40), role="shadow", score=0.5, latency_ms=3.0),
        # The shadow failed, timed out (the router's two messages) or was shed: counted, never paired.
        row(spec, "f1", second(50), score=0.2),
        row(spec, "f1", second(50), role="shadow", score=None, latency_ms=2.0, error="RuntimeError: boom"),
        row(spec, "t1", second(60), score=0.2),
        row(spec, "t1", second(60), role="shadow", score=None, latency_ms=120.0, error="shadow timed out: 120.0 ms"),
        row(spec, "t2", second(70), score=0.2),
        row(spec, "t2", second(70), role="shadow", score=None, latency_ms=100.0, error=f"{TIMEOUT_PREFIX}: no score"),
        row(spec, "q1", second(80), score=0.2),
        row(spec, "q1", second(80), role="shadow", score=None, latency_ms=None, error="shadow queue full"),
        # Another shadow version, and a champion row without a shadow: neither counts.
        row(spec, "o1", second(90), score=0.2),
        row(spec, "o1", second(90), role="shadow", version="99", score=0.9, latency_ms=900.0),
        row(spec, "n1", second(100), score=0.6),
    ]
    write_log(tmp_path, spec, rows)
    found = shadow_of(tmp_path, spec, NOON, second(100))
    assert found.requests == 9
    np.testing.assert_array_equal(found.champion_scores, [0.1, 0.8, 0.3])
    np.testing.assert_array_equal(found.shadow_scores, [0.15, 0.7, 0.35])
    assert (found.shadow_errors, found.shadow_timeouts) == (2, 2)
    latencies = [5.0, 7.0, 6.0, 4.0, 3.0, 2.0, 120.0, 100.0]  # the shed row logged no latency
    assert found.shadow_p99_ms == pytest.approx(np.percentile(latencies, 99))
    assert found.days == pytest.approx(100 / 86_400)  # from the shadow's start (since) to how far the log got (until)
    assert found.labels is None and found.champion_labelled_scores is None and found.shadow_labelled_scores is None


def test_timeouts_are_told_from_other_errors_by_what_the_router_logs(tmp_path: Path, spec: ModelSpec) -> None:
    class Constant(Scorer):
        def __init__(self, value: float, hang_seconds: float = 0.0) -> None:  # no booster
            self.value, self.hang_seconds = value, hang_seconds

        def score_row(self, features: Mapping[str, Any]) -> float:
            if self.hang_seconds:
                time.sleep(self.hang_seconds)
            return self.value

    scorers = {CHAMPION: Constant(0.3), SHADOW: Constant(0.4, hang_seconds=0.2)}
    roles = Roles(CHAMPION, None, SHADOW, 0.0, 1.0, "ab-test")
    log = PredictionLogWriter.from_spec(spec, tmp_path)
    # Shadow calls hang past the timeout; one worker and a short queue also shed some as "shadow queue full".
    router = Router(
        spec, scorers.__getitem__, lambda: roles, log, shadow_timeout_ms=20.0, shadow_workers=1, shadow_queue_size=8
    )
    router.refresh()
    with router:
        for index in range(40):
            router.predict(f"r-{index}", features(spec, index), unit_id=f"u-{index}", event_time=second(index))
    logged = read_predictions(tmp_path, spec.name).query("role == 'shadow'")
    timed_out = int(logged["error"].str.startswith("shadow timed out").sum())
    assert timed_out >= 1 and len(logged) == 40

    found = shadow_of(tmp_path, spec, NOON, second(40))
    assert found.requests == 40
    assert found.shadow_timeouts == timed_out
    assert found.shadow_errors == 40 - timed_out  # shed or unfinished at shutdown: failures, not timeouts
    assert len(found.shadow_scores) == 0


@pytest.mark.parametrize("naive", [False, True])
def test_the_shadow_window_is_inclusive_at_both_ends_in_event_time(
    tmp_path: Path, spec: ModelSpec, naive: bool
) -> None:
    micro = pd.Timedelta(microseconds=1)
    times = [NOON - micro, NOON, second(30), second(60), second(60) + micro]
    rows = []
    for index, when in enumerate(times):
        rows += [
            row(spec, f"r{index}", when, score=index / 10),
            row(spec, f"r{index}", when, role="shadow", score=index / 10),
        ]
    write_log(tmp_path, spec, rows)
    since, until = (NOON, second(60)) if not naive else (NOON.tz_localize(None), second(60).tz_localize(None))
    found = shadow_of(tmp_path, spec, since, until)
    assert found.requests == 3
    np.testing.assert_array_equal(found.shadow_scores, [0.1, 0.2, 0.3])
    assert found.days == pytest.approx(60 / 86_400)
    # Bounds finer than the log's microseconds: a row at NOON is before NOON + 1 ns, and after second(60) - 1 ns.
    nano = pd.Timedelta(nanoseconds=1)
    assert shadow_of(tmp_path, spec, NOON + nano, second(60) - nano).requests == 1
    # The same instant in another time zone is the same window.
    paris = shadow_of(tmp_path, spec, NOON.tz_convert("Europe/Paris"), second(60).tz_convert("Europe/Paris"))
    assert paris.requests == 3
    # An empty window (until before since) holds nothing.
    assert shadow_of(tmp_path, spec, second(60), NOON).requests == 0


def test_labels_join_on_the_entity_id_and_are_read_again_when_they_arrive(tmp_path: Path, spec: ModelSpec) -> None:
    day = "2026-03-02"
    rows = []
    for index in range(6):
        rows += [
            row(spec, f"TRK-{index}", second(index), score=0.1 * index),
            row(spec, f"TRK-{index}", second(index), role="shadow", score=0.1 * index + 0.05),
        ]
    write_log(tmp_path, spec, rows)
    before = shadow_of(tmp_path, spec, NOON, second(10))
    assert before.labels is None and len(before.shadow_scores) == 6

    # Labels arrive for three parcels of the day (one of them in the next day's partition), plus parcels that were
    # never shadowed; the next read sees them although the log itself has not changed.
    write_labels(tmp_path, spec, day, {"TRK-0": 1, "TRK-2": 0, "TRK-other": 1})
    write_labels(tmp_path, spec, "2026-03-03", {"TRK-4": 1, "TRK-late": 0})
    after = shadow_of(tmp_path, spec, NOON, second(10))
    np.testing.assert_array_equal(after.labels, [1, 0, 1])
    assert after.labels.dtype == np.int64
    np.testing.assert_allclose(after.champion_labelled_scores, [0.0, 0.2, 0.4])
    np.testing.assert_allclose(after.shadow_labelled_scores, [0.05, 0.25, 0.45])
    np.testing.assert_array_equal(after.shadow_scores, before.shadow_scores)


def test_labels_two_days_away_are_not_the_requests(tmp_path: Path, spec: ModelSpec) -> None:
    write_log(tmp_path, spec, [row(spec, "TRK-1", second(0)), row(spec, "TRK-1", second(0), role="shadow")])
    write_labels(tmp_path, spec, "2026-03-04", {"TRK-1": 1})
    assert shadow_of(tmp_path, spec, NOON, second(1)).labels is None


def test_boolean_labels_count_as_zero_and_one(tmp_path: Path, spec: ModelSpec) -> None:
    write_log(
        tmp_path,
        spec,
        [
            *(
                row(spec, f"TRK-{i}", second(i), role=role, score=0.5)
                for i in range(2)
                for role in ("champion", "shadow")
            ),
        ],
    )
    write_labels(tmp_path, spec, "2026-03-02", {"TRK-0": True, "TRK-1": False})
    np.testing.assert_array_equal(shadow_of(tmp_path, spec, NOON, second(5)).labels, [1, 0])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"TRK-0": 2}, "must hold only 0/1"),
        ({"TRK-0": -1.0}, "must hold only 0/1"),
    ],
)
def test_a_label_that_is_not_0_or_1_raises(
    tmp_path: Path, spec: ModelSpec, labels: dict[str, Any], message: str
) -> None:
    write_log(tmp_path, spec, [row(spec, "TRK-0", second(0)), row(spec, "TRK-0", second(0), role="shadow")])
    write_labels(tmp_path, spec, "2026-03-02", labels)
    with pytest.raises(ValueError, match=message) as caught:
        shadow_of(tmp_path, spec, NOON, second(1))
    assert spec.source.label_column in str(caught.value)


def test_a_request_labelled_both_0_and_1_raises(tmp_path: Path, spec: ModelSpec) -> None:
    write_log(tmp_path, spec, [row(spec, "TRK-0", second(0)), row(spec, "TRK-0", second(0), role="shadow")])
    write_labels(tmp_path, spec, "2026-03-02", {"TRK-0": 1})
    write_labels(tmp_path, spec, "2026-03-03", {"TRK-0": 0})
    with pytest.raises(ValueError, match="both 0 and 1"):
        shadow_of(tmp_path, spec, NOON, second(1))
    # The same label in two partitions is one label, not two labelled requests.
    write_labels(tmp_path, spec, "2026-03-03", {"TRK-0": 1})
    np.testing.assert_array_equal(shadow_of(tmp_path, spec, NOON, second(1)).labels, [1])


def test_labels_without_the_spec_columns_raise_naming_them(tmp_path: Path, spec: ModelSpec) -> None:
    write_log(tmp_path, spec, [row(spec, "TRK-0", second(0)), row(spec, "TRK-0", second(0), role="shadow")])
    LakeResource(root=str(tmp_path)).write_partition(spec.name, LABELS, "2026-03-02", pd.DataFrame({"id": ["TRK-0"]}))
    with pytest.raises(ValueError, match=spec.source.entity_id_column):
        shadow_of(tmp_path, spec, NOON, second(1))


# ------------------------------------------------------------------------------------------------ canary


def test_canary_evidence_counts_each_side_of_the_step(tmp_path: Path, spec: ModelSpec) -> None:
    rows = [
        row(spec, "c0", second(0), role="canary", score=0.2, latency_ms=10.0),
        row(spec, "c1", second(1), role="canary", score=0.4, latency_ms=30.0),
        row(spec, "c2", second(2), role="canary", score=None, latency_ms=50.0, error="RuntimeError: boom"),
        row(spec, "c3", second(3), role="canary", score=float("nan"), latency_ms=20.0),  # logged as null: no score
        row(spec, "p0", second(4), score=0.6, latency_ms=1.0),
        row(spec, "p1", second(5), score=0.7, latency_ms=1.0, version="2"),  # production is whatever champion served
        row(spec, "p2", second(6), score=None, error="ValueError: x"),
        # Not part of the step: another canary version, a shadow row, and rows outside the window.
        row(spec, "x0", second(7), role="canary", version="9", score=0.9),
        row(spec, "x1", second(8), role="shadow", score=0.9),
        row(spec, "x2", NOON - pd.Timedelta(seconds=1), role="canary", score=0.9),
        row(spec, "x3", second(3_600) + pd.Timedelta(microseconds=1), score=0.9),
    ]
    write_log(tmp_path, spec, rows)
    write_labels(tmp_path, spec, "2026-03-02", {"c1": 1, "c2": 1, "p0": 0, "x0": 1})
    found = canary_of(tmp_path, spec, NOON, second(3_600))
    assert found.hours_at_step == pytest.approx(1.0)
    assert (found.canary_requests, found.canary_errors) == (4, 1)
    assert (found.production_requests, found.production_errors) == (3, 1)
    np.testing.assert_array_equal(found.canary_scores, [0.2, 0.4])
    np.testing.assert_array_equal(found.production_scores, [0.6, 0.7])
    assert found.canary_p99_ms == pytest.approx(np.percentile([10.0, 30.0, 50.0, 20.0], 99))
    # Only scored rows carry their label: c2 failed.
    np.testing.assert_array_equal(found.canary_labels, [1])
    np.testing.assert_array_equal(found.canary_labelled_scores, [0.4])
    np.testing.assert_array_equal(found.production_labels, [0])
    np.testing.assert_array_equal(found.production_labelled_scores, [0.6])


def test_a_canary_step_without_labels_or_traffic(tmp_path: Path, spec: ModelSpec) -> None:
    write_log(tmp_path, spec, [row(spec, "p0", second(0), score=0.6)])
    found = canary_of(tmp_path, spec, NOON, second(7_200))
    assert (found.canary_requests, found.production_requests) == (0, 1)
    assert np.isnan(found.canary_p99_ms) and len(found.canary_scores) == 0
    assert found.canary_labels is None and found.production_labels is None
    assert canary_of(tmp_path, spec, second(10), NOON).hours_at_step == 0.0


# ---------------------------------------------------------------------------------------------- champion


def test_the_champion_window_is_half_open_and_reads_only_the_asked_columns(tmp_path: Path, spec: ModelSpec) -> None:
    start, end = NOON, second(300)
    rows = [
        row(spec, "before", start, score=0.1),  # start is excluded
        row(spec, "first", start + pd.Timedelta(microseconds=1), score=0.2),
        row(spec, "last", end, score=0.3, error=None),
        row(spec, "after", end + pd.Timedelta(microseconds=1), score=0.4),
        row(spec, "old", second(100), version="2", score=0.5),
        row(spec, "canary", second(100), role="canary", score=0.6),
        row(spec, "shadow", second(100), role="shadow", version=CHAMPION, score=0.7),
    ]
    write_log(tmp_path, spec, rows)
    frame = champion_window(tmp_path, spec, version=CHAMPION, start=start, end=end, columns=["score", "weight_kg"])
    assert list(frame.columns) == ["event_time", "score", "weight_kg"]
    assert frame["score"].tolist() == [0.2, 0.3]
    assert str(frame["event_time"].dt.tz) == "UTC"

    # What the production-health check reads, it can judge.
    columns = [*LOG_COLUMNS, *spec.features.names]
    window = champion_window(tmp_path, spec, version=CHAMPION, start=start, end=end, columns=columns)
    assert list(window.columns) == list(dict.fromkeys(columns))
    result = production_health(
        window, spec.monitoring.health, version=CHAMPION, as_of=end, profile=None, features=spec.features.names
    )
    assert {check.condition for check in result.checks} == {
        "error_rate",
        "p99_latency_ms",
        "prediction_null_rate",
        "input_psi",
    }


def test_an_unknown_column_raises_naming_it_and_the_logs_columns(tmp_path: Path, spec: ModelSpec) -> None:
    # Before any log exists, the columns are those the spec's log would have.
    empty = champion_window(tmp_path, spec, version=CHAMPION, start=NOON, end=second(60), columns=["score", "error"])
    assert empty.empty and list(empty.columns) == ["event_time", "score", "error"]
    assert str(empty["score"].dtype) == "float64"
    with pytest.raises(ValueError, match=r"no column\(s\) \['wieght_kg'\].*weight_kg"):
        champion_window(tmp_path, spec, version=CHAMPION, start=NOON, end=second(60), columns=["wieght_kg"])

    write_log(tmp_path, spec, [row(spec, "a", second(1))])
    with pytest.raises(ValueError, match=r"no column\(s\) \['wieght_kg'\].*'request_id'.*'weight_kg'"):
        champion_window(tmp_path, spec, version=CHAMPION, start=NOON, end=second(60), columns=["score", "wieght_kg"])
    with pytest.raises(TypeError, match="sequence of column names"):
        champion_window(tmp_path, spec, version=CHAMPION, start=NOON, end=second(60), columns="score")


# ------------------------------------------------------------------------------------------- empty, days


def test_a_missing_log_gives_empty_evidence_that_the_gates_wait_or_hold_on(tmp_path: Path, spec: ModelSpec) -> None:
    shadow = shadow_of(tmp_path / "nothing", spec, NOON - pd.Timedelta(days=7), NOON)
    assert (shadow.requests, shadow.shadow_errors, shadow.shadow_timeouts, shadow.days) == (0, 0, 0, 0.0)
    assert len(shadow.champion_scores) == len(shadow.shadow_scores) == 0 and np.isnan(shadow.shadow_p99_ms)
    assert shadow.labels is None
    assert shadow_gate(shadow, spec.deployment.shadow).decision == "wait"

    canary = canary_of(tmp_path / "nothing", spec, NOON - pd.Timedelta(hours=24), NOON)
    assert (canary.canary_requests, canary.production_requests, canary.hours_at_step) == (0, 0, 24.0)
    assert len(canary.canary_scores) == len(canary.production_scores) == 0
    assert canary_gate(canary, spec.deployment.canary).decision == "hold"


def test_a_window_over_several_days_is_read_per_date_and_a_changed_date_again(tmp_path: Path, spec: ModelSpec) -> None:
    start = pd.Timestamp("2026-03-01 18:00", tz="UTC")
    rows = []
    for index in range(72):  # every hour over three days, across two midnights
        when = start + pd.Timedelta(hours=index)
        rows += [
            row(spec, f"r{index}", when, score=index / 100),
            row(spec, f"r{index}", when, role="shadow", score=index / 100 + 0.001, latency_ms=float(index)),
        ]
    write_log(tmp_path, spec, rows)
    assert log_days(tmp_path, spec.name) == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    since, until = start + pd.Timedelta(hours=3), start + pd.Timedelta(hours=60)
    cold = shadow_of(tmp_path, spec, since, until)
    assert cold.requests == 58
    np.testing.assert_allclose(cold.champion_scores, np.arange(3, 61) / 100)
    assert cold.days == pytest.approx(57 / 24)
    assert cold.shadow_p99_ms == pytest.approx(np.percentile(np.arange(3, 61, dtype=float), 99))

    # From the cache, the same evidence; a narrower window is cut from the same cached dates.
    warm = shadow_of(tmp_path, spec, since, until)
    np.testing.assert_array_equal(warm.shadow_scores, cold.shadow_scores)
    assert shadow_of(tmp_path, spec, since + pd.Timedelta(hours=1), until).requests == 57

    # A flush adds a file to one date: that date is read again.
    later = start + pd.Timedelta(hours=30, minutes=30)
    write_log(tmp_path, spec, [row(spec, "new", later, score=0.9), row(spec, "new", later, role="shadow", score=0.9)])
    updated = shadow_of(tmp_path, spec, since, until)
    assert updated.requests == 59
    assert 0.9 in updated.champion_scores.tolist()
    # Nothing a caller does to the arrays reaches the cache.
    updated.champion_scores[:] = -1
    assert shadow_of(tmp_path, spec, since, until).champion_scores.min() >= 0


# ---------------------------------------------------------------------------------------------- the gates


def traffic(
    spec: ModelSpec, days: int, *, shadow_noise: float, canary_noise: float, seed: int = 0
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """`days` of traffic, 300 requests a day: two thirds to the canary, the rest to the champion, all shadowed; and
    every request's label by date."""
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    first = pd.Timestamp("2026-03-01", tz="UTC")
    for day in range(days):
        date = first + pd.Timedelta(days=day)
        risk = rng.normal(0.0, 1.5, 300)
        label = (rng.random(300) < 1 / (1 + np.exp(-risk))).astype(int)
        served = 1 / (1 + np.exp(-(risk + rng.normal(0, 0.2, 300))))
        shadowed = 1 / (1 + np.exp(-(risk + rng.normal(0, shadow_noise, 300))))
        canaried = 1 / (1 + np.exp(-(risk + rng.normal(0, canary_noise, 300))))
        ids = [f"TRK-{day}-{index}" for index in range(300)]
        for index, request_id in enumerate(ids):
            when = date + pd.Timedelta(seconds=int(index * 280))
            on_canary = index % 3 != 0
            role = "canary" if on_canary else "champion"
            score = canaried[index] if on_canary else served[index]
            rows.append(row(spec, request_id, when, role=role, score=float(score), latency_ms=2.0))
            rows.append(row(spec, request_id, when, role="shadow", score=float(shadowed[index]), latency_ms=3.0))
        labels[date.date().isoformat()] = dict(zip(ids, label.tolist(), strict=True))
    return rows, labels


def test_the_evidence_is_what_the_gates_judge(tmp_path: Path, spec: ModelSpec) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    for root, noise in ((good, 0.2), (bad, 3.0)):
        rows, labels = traffic(spec, 8, shadow_noise=noise, canary_noise=noise)
        write_log(root, spec, rows)
        for day, values in labels.items():
            write_labels(root, spec, day, values)
    since = pd.Timestamp("2026-03-01", tz="UTC")
    until = latest_event_time(good, spec.name)
    assert until is not None

    shadow = shadow_of(good, spec, since, until)
    assert shadow.requests == 2_400 and shadow.days > 7
    assert len(shadow.labels) == len(shadow.shadow_scores) == 800  # the champion's third, all labelled
    verdict = shadow_gate(shadow, spec.deployment.shadow)
    assert verdict.decision == "proceed", verdict.reasons
    rejected = shadow_gate(shadow_of(bad, spec, since, until), spec.deployment.shadow)
    assert rejected.decision == "reject" and "correlation" in rejected.reasons[0]

    step = until - pd.Timedelta(hours=96)
    rows, _ = traffic(spec, 8, shadow_noise=0.2, canary_noise=0.2)
    inside = [r for r in rows if step <= pd.Timestamp(r["event_time"]) <= until and r["served"]]
    canary = canary_of(good, spec, step, until)
    assert canary.hours_at_step == pytest.approx(96.0)
    assert canary.canary_requests == sum(r["role"] == "canary" for r in inside) > spec.deployment.canary.min_requests
    assert canary.production_requests == sum(r["role"] == "champion" for r in inside)
    assert len(canary.canary_labels) == canary.canary_requests
    assert len(canary.production_labels) == canary.production_requests
    judged = canary_gate(canary, spec.deployment.canary)
    assert judged.decision == "promote", judged.reasons
    worse = canary_gate(canary_of(bad, spec, step, until), spec.deployment.canary)
    assert worse.decision == "rollback" and "AUC" in worse.reasons[0]


def test_files_of_another_feature_set_are_read_together(tmp_path: Path, spec: ModelSpec) -> None:
    # An older writer logged fewer features: its rows still count, by column name.
    older = PredictionLogWriter(tmp_path, spec.name, {"weight_kg": "float"}, start=False)
    older.log(row(spec, "a", second(0)) | {"features": {"weight_kg": 1.0}})
    older.log(row(spec, "a", second(0), role="shadow") | {"features": {"weight_kg": 1.0}})
    older.close()
    write_log(tmp_path, spec, [row(spec, "b", second(1)), row(spec, "b", second(1), role="shadow")])
    assert shadow_of(tmp_path, spec, NOON, second(2)).requests == 2
    frame = champion_window(tmp_path, spec, version=CHAMPION, start=second(-1), end=second(2), columns=["carrier_code"])
    assert frame["carrier_code"].isna().tolist() == [True, False]


def test_the_schema_of_an_empty_window_is_the_logs(tmp_path: Path, spec: ModelSpec) -> None:
    schema = PredictionLogWriter.from_spec(spec, tmp_path, start=False).schema
    frame = champion_window(tmp_path, spec, version=CHAMPION, start=NOON, end=second(1), columns=spec.features.names)
    expected = pa.schema([schema.field(name) for name in ["event_time", *spec.features.names]]).empty_table()
    assert list(frame.dtypes.astype(str)) == list(expected.to_pandas().dtypes.astype(str))


def test_a_new_process_reads_stored_dates_instead_of_the_log(
    tmp_path: Path, spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [row(spec, f"p{i}", second(i), score=i / 100) for i in range(20)]
    rows += [row(spec, f"p{i}", second(i), role="shadow", score=i / 90, latency_ms=2.0) for i in range(20)]
    write_log(tmp_path, spec, rows)
    first = shadow_of(tmp_path, spec, NOON, second(30))
    assert (tmp_path / spec.name / "_evidence").is_dir()

    # A restarted code server: nothing in memory, and the log is not read again for unchanged dates.
    evidence.clear_cache()
    monkeypatch.setattr(evidence, "_read_days", lambda *args, **kwargs: pytest.fail("read the log again"))
    again = shadow_of(tmp_path, spec, NOON, second(30))
    np.testing.assert_array_equal(again.shadow_scores, first.shadow_scores)
    np.testing.assert_array_equal(again.champion_scores, first.champion_scores)
    assert again.requests == first.requests == 20

    # A date whose files changed is read again, and its stored entry replaced.
    monkeypatch.undo()
    write_log(tmp_path, spec, [row(spec, "late", second(25), score=0.5)])
    evidence.clear_cache()
    assert shadow_of(tmp_path, spec, NOON, second(30)).requests == 20
    assert len(list((tmp_path / spec.name / "_evidence").rglob("*.npz"))) == 1
