"""Tests of `simulation.report`: the timeline CSV, the summary, the plots and the story, on hand-built runs."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from simulation.events import EVENT_KINDS, TIMELINE_COLUMNS, DailyRecord, TimelineEvent
from simulation.report import (
    REPORT_FILES,
    plot_auc,
    plot_psi,
    plot_traffic,
    story,
    summarize,
    write_report,
    write_summary,
    write_timeline,
)

pytestmark = pytest.mark.unit

START = dt.date(2026, 1, 1)
PLOT_PIXELS = (1000, 400)  # 10 x 4 in at 100 dpi


def _date(day: int) -> str:
    return (START + dt.timedelta(days=day - 1)).isoformat()


def _event(day: int, event: str, version: str | None, role: str | None, detail: str, hour: int = 2) -> TimelineEvent:
    return TimelineEvent(day, f"{_date(day)}T{hour:02d}:00:00+00:00", event, version, role, detail)


def eventful_events() -> list[TimelineEvent]:
    """20 days: v1 trained on schedule and promoted, a failed check, drift on weight_kg triggering v2, which passes
    the gate, shadows, goes through the canary and is promoted, then a production rollback to v1 with a P1 alert."""
    events = [
        _event(1, "retrain_triggered", None, None, "schedule: scheduled retraining (0 2 * * * UTC)"),
        _event(1, "gate_passed", None, None, "all 9 rules passed (AUC 0.812 >= 0.70)"),
        _event(1, "registered", "1", "challenger", "registered as version 1"),
        _event(1, "promoted", "1", "champion", "first champion: no champion to beat"),
        _event(4, "check_failed", None, None, "label_freshness: labels of 2026-01-03 are 40 hours late"),
        _event(6, "drift_detected", None, None, "drift on 2026-01-06: weight_kg PSI 0.410"),
        _event(6, "retrain_triggered", None, None, "data_drift: data drift on 2026-01-06 (weight_kg PSI 0.41)", 3),
        _event(6, "gate_passed", None, None, "all 9 rules passed (AUC 0.801 >= 0.70)", 3),
        _event(6, "registered", "2", "challenger", "registered as version 2", 3),
        _event(6, "shadow_started", "2", "shadow", "shadow at 20% sampling", 3),
    ]
    events += [_event(day, "hold", "2", "shadow", "shadow gate waits: fewer than 7 days") for day in (8, 10)]
    events += [
        _event(10, "alert", "2", "shadow", "P2: shadow p99 latency 62 ms above 50 ms"),
        _event(13, "canary_started", "2", "canary", "5% of traffic: shadow gate passed after 7 days"),
        _event(14, "canary_step", "2", "canary", "15% of traffic: step 1 passed"),
        _event(14, "hold", "2", "canary", "canary gate holds: 420 labelled < 500"),
        _event(15, "canary_step", "2", "canary", "30% of traffic: step 2 passed"),
        _event(16, "canary_step", "2", "canary", "100% of traffic: step 3 passed"),
        _event(16, "promoted", "2", "champion", "canary passed every step"),
        _event(17, "scenario", "2", "champion", "fault injected: 4% of requests fail to score"),
        _event(18, "alert", "2", None, "P1: automated rollback_production of version 2: error spike"),
        _event(18, "rollback", "2", "champion", "production rollback to v1: error ratio 4.2 > 1.5 on v2"),
    ]
    return events


def _traffic(day: int) -> dict[str, int]:
    two = {13: 50, 14: 150, 15: 300, 16: 1000, 17: 1000, 18: 400}.get(day, 0)
    return {version: n for version, n in (("1", 1000 - two), ("2", two)) if n}


def eventful_days() -> list[DailyRecord]:
    days = []
    for day in range(1, 21):
        auc = None if day <= 2 else (0.70 if day == 18 else 0.80 - 0.002 * (day % 5))
        weight_psi = 0.41 if 6 <= day <= 9 else 0.05
        days.append(
            DailyRecord(
                day=day,
                date=_date(day),
                auc=auc,
                auc_by_version={"1": auc} if auc is not None else {},
                psi={"weight_kg": weight_psi, "distance_km": 0.03, "prediction": 0.02} if day > 1 else {},
                psi_threshold={"weight_kg": 0.2, "distance_km": 0.2, "prediction": 0.1} if day > 1 else {},
                traffic=_traffic(day),
                requests=1000,
                errors=42 if day == 18 else 1,
            )
        )
    return days


def _summary(
    days: list[DailyRecord], events: list[TimelineEvent], *, scenario: str = "drift_then_rollback", **kwargs: object
) -> dict:
    arguments = {
        "final_champion": "1",
        "started": "2026-03-01T10:00:00+00:00",
        "finished": "2026-03-01T10:04:00+00:00",
        "wall_seconds": 240.5,
        "peak_rss_mb": 812.0,
        **kwargs,
    }
    return summarize(scenario, "delivery_delay", 7, days, events, **arguments)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------------
# timeline


def test_timeline_reads_back_with_the_exact_columns_and_rows(tmp_path: Path) -> None:
    events = eventful_events()
    path = tmp_path / "timeline.csv"

    write_timeline(events, path)

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == TIMELINE_COLUMNS
    expected = [{k: "" if v is None else str(v) for k, v in event.to_row().items()} for event in events]
    assert frame.to_dict("records") == expected
    with path.open(newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == expected


def test_timeline_keeps_commas_quotes_and_newlines_in_details(tmp_path: Path) -> None:
    detail = 'gate failed: "auc" 0.61 < 0.70, calibration 0.09 > 0.05\nsee run 12'
    path = tmp_path / "timeline.csv"

    write_timeline([_event(3, "gate_failed", None, None, detail)], path)

    assert pd.read_csv(path, dtype=str, keep_default_na=False)["detail"].tolist() == [detail]


def test_timeline_without_events_is_a_header(tmp_path: Path) -> None:
    path = tmp_path / "timeline.csv"

    write_timeline([], path)

    assert path.read_text(encoding="utf-8").splitlines() == [",".join(TIMELINE_COLUMNS)]


# --------------------------------------------------------------------------------------------------------------------
# summary


def test_summary_counts_parses_and_totals_an_eventful_run() -> None:
    summary = _summary(eventful_days(), eventful_events())

    assert (summary["scenario"], summary["model"], summary["seed"]) == ("drift_then_rollback", "delivery_delay", 7)
    assert (summary["first_date"], summary["last_date"], summary["n_days"]) == ("2026-01-01", "2026-01-20", 20)
    assert list(summary["event_counts"]) == list(EVENT_KINDS)
    assert summary["event_counts"] == {
        "scenario": 1,
        "check_failed": 1,
        "drift_detected": 1,
        "retrain_triggered": 2,
        "gate_passed": 2,
        "gate_failed": 0,
        "registered": 2,
        "shadow_started": 1,
        "shadow_rejected": 0,
        "canary_started": 1,
        "canary_step": 3,
        "hold": 3,
        "promoted": 2,
        "rollback": 1,
        "alert": 2,
    }
    assert summary["retrainings_by_trigger"] == {"schedule": 1, "data_drift": 1}
    assert summary["alerts_by_severity"] == {"P1": 1, "P2": 1, "P3": 0, "info": 0}
    assert summary["champions"] == ["1", "2"]
    assert summary["final_champion"] == "1"
    assert [(r["day"], r["model_version"], r["scope"]) for r in summary["rollbacks"]] == [(18, "2", "production")]
    assert (summary["requests"], summary["errors"]) == (20_000, 19 + 42)
    assert summary["error_rate"] == pytest.approx(61 / 20_000)
    assert (summary["wall_seconds"], summary["peak_rss_mb"]) == (240.5, 812.0)


def test_summary_realised_auc_skips_missing_days() -> None:
    days = eventful_days()
    values = [d.auc for d in days if d.auc is not None]

    auc = _summary(days, [])["realised_auc"]

    assert (auc["first_day"], auc["first_date"], auc["first"]) == (3, "2026-01-03", values[0])
    assert (auc["last_day"], auc["last"]) == (20, values[-1])
    assert (auc["min_day"], auc["min_date"], auc["min"]) == (18, "2026-01-18", 0.70)
    assert auc["mean"] == pytest.approx(sum(values) / len(values))
    assert auc["days_with_value"] == 18


def test_summary_of_nothing_has_every_key_with_empty_values() -> None:
    summary = _summary([], [], final_champion=None, peak_rss_mb=None)

    assert (summary["first_date"], summary["last_date"], summary["n_days"]) == (None, None, 0)
    assert set(summary["event_counts"]) == set(EVENT_KINDS)
    assert not any(summary["event_counts"].values())
    assert summary["retrainings_by_trigger"] == {}
    assert summary["champions"] == []
    assert summary["rollbacks"] == []
    assert summary["realised_auc"]["days_with_value"] == 0
    assert summary["realised_auc"]["mean"] is None
    assert summary["error_rate"] is None
    json.dumps(summary, allow_nan=False)


@pytest.mark.parametrize(
    ("detail", "trigger"),
    [
        ("data_drift: data drift on 2026-02-03 (weight_kg PSI 0.41)", "data_drift"),
        ("schedule: scheduled retraining: 0 2 * * *", "schedule"),  # only the first ':' splits
        ("  manual :launched by hand", "manual"),
        ("schedule", "schedule"),
        ("retrained because the data drifted", "unknown"),
        ("", "unknown"),
    ],
)
def test_summary_reads_the_trigger_before_the_first_colon(detail: str, trigger: str) -> None:
    summary = _summary([], [_event(2, "retrain_triggered", None, None, detail)])

    assert summary["retrainings_by_trigger"] == {trigger: 1}


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (["P1: rollback", "P1: again", "P3: slow"], {"P1": 2, "P2": 0, "P3": 1, "info": 0}),
        (["info: canary advanced"], {"P1": 0, "P2": 0, "P3": 0, "info": 1}),
        (["P4: new severity", "no severity here"], {"P1": 0, "P2": 0, "P3": 0, "info": 0, "P4": 1, "unknown": 1}),
    ],
)
def test_summary_counts_alerts_by_the_severity_they_start_with(details: list[str], expected: dict[str, int]) -> None:
    events = [_event(3, "alert", None, None, detail) for detail in details]

    assert _summary([], events)["alerts_by_severity"] == expected


def test_summary_tells_a_canary_rollback_from_a_production_one() -> None:
    events = [
        _event(5, "rollback", "3", "canary", "canary rollback: canary AUC 0.71 below champion 0.80"),
        _event(9, "rollback", "2", "champion", "error spike on the champion"),
        _event(9, "rollback", None, None, "rolled back"),
    ]

    scopes = [rollback["scope"] for rollback in _summary([], events)["rollbacks"]]

    assert scopes == ["canary", "production", "unknown"]


def test_summary_json_is_indented_ordered_and_ends_with_a_newline(tmp_path: Path) -> None:
    summary = _summary(eventful_days(), eventful_events())
    path = tmp_path / "summary.json"

    write_summary(summary, path)

    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text.splitlines()[1].startswith('  "scenario"')
    assert json.loads(text) == summary
    assert list(json.loads(text)) == list(summary)


def test_summary_json_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        write_summary({"wall_seconds": math.nan}, tmp_path / "summary.json")


# --------------------------------------------------------------------------------------------------------------------
# plots


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:4] == b"\x89PNG"
    with Image.open(path) as image:
        assert image.size == PLOT_PIXELS


def _none_days() -> list[DailyRecord]:
    return [DailyRecord(day=d, date=_date(d), traffic={"1": 0}) for d in (1, 2, 3)]


def _one_day() -> list[DailyRecord]:
    return [
        DailyRecord(
            day=1,
            date=_date(1),
            auc=0.8,
            psi={"weight_kg": 0.1},
            psi_threshold={"weight_kg": 0.2},
            traffic={"1": 10},
            requests=10,
        )
    ]


def _gappy_days() -> list[DailyRecord]:
    days = eventful_days()
    for record in days[5:9]:
        record.auc, record.psi, record.traffic = None, {}, {}
    days[10].auc = math.nan
    days[11].psi = {"weight_kg": math.nan}
    return days


INPUTS: dict[str, Callable[[], tuple[list[DailyRecord], list[TimelineEvent]]]] = {
    "eventful": lambda: (eventful_days(), eventful_events()),
    "empty": lambda: ([], []),
    "events_without_days": lambda: ([], eventful_events()),
    "one_day": lambda: (_one_day(), [_event(1, "promoted", "1", "champion", "first champion")]),
    "all_none": lambda: (_none_days(), []),
    "gaps_and_nan": lambda: (_gappy_days(), eventful_events()),
    "ninety_days": lambda: (
        [DailyRecord(day=d, date=_date(d), auc=0.8, traffic={"1": 5, "12": 5}) for d in range(1, 91)],
        [_event(d, "retrain_triggered", None, None, "schedule: nightly") for d in range(1, 91)],
    ),
}


@pytest.mark.parametrize("case", list(INPUTS))
@pytest.mark.parametrize("threshold", [0.7, None])
def test_auc_plot_is_a_png_of_the_expected_size(tmp_path: Path, case: str, threshold: float | None) -> None:
    days, events = INPUTS[case]()

    path = plot_auc(days, events, tmp_path / "auc.png", threshold=threshold)

    assert path == tmp_path / "auc.png"
    _assert_png(path)


@pytest.mark.parametrize("case", list(INPUTS))
def test_psi_plot_is_a_png_of_the_expected_size(tmp_path: Path, case: str) -> None:
    days, _ = INPUTS[case]()

    path = plot_psi(days, tmp_path / "psi.png")

    assert path == tmp_path / "psi.png"
    _assert_png(path)


def test_psi_plot_with_one_shared_threshold(tmp_path: Path) -> None:
    days = eventful_days()
    for record in days:
        record.psi_threshold = dict.fromkeys(record.psi, 0.2)

    _assert_png(plot_psi(days, tmp_path / "psi.png"))


@pytest.mark.parametrize("case", list(INPUTS))
def test_traffic_plot_is_a_png_of_the_expected_size(tmp_path: Path, case: str) -> None:
    days, _ = INPUTS[case]()

    path = plot_traffic(days, tmp_path / "nested" / "traffic.png")

    assert path == tmp_path / "nested" / "traffic.png"
    _assert_png(path)


def test_plots_differ_when_the_data_does(tmp_path: Path) -> None:
    # guards against a plot that draws the same empty axes whatever it is given
    plot_traffic(eventful_days(), tmp_path / "full.png")
    plot_traffic([], tmp_path / "empty.png")

    assert (tmp_path / "full.png").read_bytes() != (tmp_path / "empty.png").read_bytes()


# --------------------------------------------------------------------------------------------------------------------
# story


def test_story_of_an_eventful_run_tells_the_drift_the_promotion_and_the_rollback() -> None:
    events = eventful_events()

    text = story(_summary(eventful_days(), events), events)

    lines = text.splitlines()
    assert 5 <= len(lines) <= 15
    assert text.endswith("\n")
    drift = next(line for line in lines if "drift" in line and "retraining" in line)
    assert drift.startswith("Days 6-16:")
    assert "data drift (weight_kg PSI 0.410) triggered retraining" in drift
    assert "v2 passed the gate" in drift
    assert "shadowed 7 days" in drift
    assert "(5% -> 15% -> 30% -> 100%, 1 hold)" in drift
    assert "promoted on day 16" in drift
    rollback = next(line for line in lines if "rolled back" in line)
    assert rollback.startswith("Day 18:")
    assert "from v2 to v1 (error ratio 4.2 > 1.5 on v2); P1 alert" in rollback
    assert any(line.startswith("Day 17: the scenario struck (fault injected") for line in lines)
    assert "P1" in rollback
    assert any(line.startswith("Day 4:") and "check failed" in line for line in lines)
    assert "Final champion: v1." in lines
    assert "minimum of 0.700 on day 18" in text
    assert "Nothing needed a decision" not in text
    # chronological: v1's line, then the check, then the drift, then the rollback
    assert lines.index(drift) < lines.index(rollback)


def test_story_of_a_quiet_run_says_nothing_happened() -> None:
    days = [DailyRecord(day=d, date=_date(d), auc=0.8, traffic={"1": 100}, requests=100) for d in range(1, 8)]

    text = story(_summary(days, [], final_champion="1"), [])

    lines = text.splitlines()
    assert 5 <= len(lines) <= 15
    assert any(line.startswith("Nothing needed a decision:") for line in lines)
    assert "No alert was sent." in lines
    assert "Final champion: v1." in lines


def test_story_of_a_scenario_the_platform_did_not_need_to_answer() -> None:
    events = [_event(3, "scenario", None, None, "fault injected: 2 ms more latency")]

    lines = story(_summary([], events, final_champion="1"), events).splitlines()

    assert lines[1] == "Day 3: the scenario struck (fault injected: 2 ms more latency)."
    assert lines[2].startswith("Nothing needed a decision:")


def test_story_of_nothing_at_all_does_not_raise() -> None:
    text = story(_summary([], [], final_champion=None), [])

    assert "no simulated day was recorded" in text
    assert "Nothing needed a decision" in text
    assert "No realised AUC was measured" in text


def test_story_depends_on_the_data_not_the_scenario_name() -> None:
    events = eventful_events()
    one = story(_summary(eventful_days(), events, scenario="drift_then_rollback"), events)
    other = story(_summary(eventful_days(), events, scenario="quiet"), events)

    assert one.splitlines()[1:] == other.splitlines()[1:]
    assert one.splitlines()[0] != other.splitlines()[0]


def test_story_merges_routine_retrainings_and_stays_short() -> None:
    events = []
    for day in range(1, 61):
        events.append(_event(day, "retrain_triggered", None, None, "schedule: nightly"))
        events.append(_event(day, "gate_failed", None, None, "AUC 0.66 < 0.70"))

    text = story(_summary([], events, final_champion=None), events)

    lines = text.splitlines()
    assert 5 <= len(lines) <= 15
    assert "Days 1-60: the schedule triggered 60 retrainings; every candidate failed the gate." in lines


def test_story_of_many_distinct_moments_is_capped() -> None:
    events = [_event(day, "rollback", "1", "champion", f"production rollback {day}") for day in range(1, 40, 2)]

    lines = story(_summary([], events, final_champion=None), events).splitlines()

    assert len(lines) <= 15
    assert "timeline.csv" in lines[-4]


def test_story_tells_a_canary_rollback_and_a_shadow_rejection() -> None:
    events = [
        _event(1, "promoted", "1", "champion", "first champion"),
        _event(3, "retrain_triggered", None, None, "performance_decay: AUC fell to 0.71"),
        _event(3, "gate_passed", None, None, "passed"),
        _event(3, "registered", "2", "challenger", "version 2"),
        _event(3, "shadow_started", "2", "shadow", "shadow"),
        _event(6, "shadow_rejected", "2", "shadow", "prediction correlation 0.42 < 0.8"),
        _event(8, "retrain_triggered", None, None, "manual: launched by hand"),
        _event(8, "gate_passed", None, None, "passed"),
        _event(8, "registered", "3", "challenger", "version 3"),
        _event(9, "canary_started", "3", "canary", "canary at 5%"),
        _event(10, "alert", "3", "canary", "P2: canary rolled back"),
        _event(10, "rollback", "3", "canary", "canary rollback: error ratio 2.3 > 1.5"),
    ]

    lines = story(_summary([], events), events).splitlines()

    assert any(line.startswith("Days 3-6: performance decay (AUC fell to 0.71)") for line in lines)
    assert any("v2 passed the gate and was rejected in shadow on day 6" in line for line in lines)
    canary = next(line for line in lines if line.startswith("Days 8-10: a manual launch triggered retraining"))
    assert "reached the canary (5%) and was rolled back on day 10 (error ratio 2.3 > 1.5); P2 alert" in canary
    assert not any(line.startswith("Day 10: production") for line in lines)


# --------------------------------------------------------------------------------------------------------------------
# the whole report


def test_write_report_writes_every_file_and_returns_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "run" / "out"

    summary = write_report(
        out,
        scenario="drift_then_rollback",
        spec_name="delivery_delay",
        seed=7,
        days=eventful_days(),
        events=eventful_events(),
        final_champion="1",
        auc_threshold=0.7,
        started="2026-03-01T10:00:00+00:00",
        finished="2026-03-01T10:04:00+00:00",
        wall_seconds=240.5,
        peak_rss_mb=None,
    )

    assert summary["files"] == list(REPORT_FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == summary
    assert (out / "story.txt").read_text(encoding="utf-8") == summary["story"]
    assert "rolled back" in summary["story"]
    assert len(pd.read_csv(out / "timeline.csv")) == len(eventful_events())
    for name in ("auc.png", "psi.png", "traffic.png"):
        _assert_png(out / name)
