"""The reporting side of a lifecycle simulation: turns what the engine recorded into files a person reads.

`simulation.engine` records `TimelineEvent`s (one per decision) and `DailyRecord`s (one per simulated day), both
defined in `simulation.events`. The plain functions here (no Dagster, no global matplotlib state: figures are drawn
on `matplotlib.figure.Figure` with the Agg canvas) turn them into, inside the run's output directory:

- `timeline.csv`: the events, one row each, columns `TIMELINE_COLUMNS` (`write_timeline`);
- `summary.json`: counts, retraining triggers, champions, rollbacks, alerts, realised AUC, load (`summarize`,
  `write_summary`);
- `auc.png`, `psi.png`, `traffic.png`: realised AUC with the decisions marked, drift per critical feature, and the
  share of served traffic per model version (`plot_auc`, `plot_psi`, `plot_traffic`);
- `story.txt`: a short plain-English narrative derived from the events (`story`).

`write_report` writes all six and returns the summary.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from simulation.events import EVENT_KINDS, TIMELINE_COLUMNS, DailyRecord, TimelineEvent

__all__ = [
    "AUC_PLOT_FILE",
    "MARKED_EVENT_KINDS",
    "PSI_PLOT_FILE",
    "REPORT_FILES",
    "STORY_FILE",
    "SUMMARY_FILE",
    "TIMELINE_FILE",
    "TRAFFIC_PLOT_FILE",
    "plot_auc",
    "plot_psi",
    "plot_traffic",
    "story",
    "summarize",
    "write_report",
    "write_summary",
    "write_timeline",
]

TIMELINE_FILE = "timeline.csv"
SUMMARY_FILE = "summary.json"
AUC_PLOT_FILE = "auc.png"
PSI_PLOT_FILE = "psi.png"
TRAFFIC_PLOT_FILE = "traffic.png"
STORY_FILE = "story.txt"
REPORT_FILES: tuple[str, ...] = (
    TIMELINE_FILE,
    SUMMARY_FILE,
    AUC_PLOT_FILE,
    PSI_PLOT_FILE,
    TRAFFIC_PLOT_FILE,
    STORY_FILE,
)

# The decisions worth seeing against realised AUC, each with its own colour and marker (legend by kind, so a busy
# run stays legible). tab:gray is left out: it draws the gate threshold.
MARKED_EVENT_KINDS: dict[str, tuple[str, str]] = {
    "retrain_triggered": ("tab:blue", "v"),
    "gate_failed": ("tab:brown", "X"),
    "registered": ("tab:cyan", "o"),
    "shadow_started": ("tab:purple", "s"),
    "canary_started": ("tab:orange", "^"),
    "promoted": ("tab:green", "*"),
    "rollback": ("tab:red", "D"),
    "check_failed": ("tab:olive", "P"),
    "alert": ("tab:pink", "h"),
}

# The alerting resource's severities (resources.alerting.Severity), repeated here so that reporting does not import
# the resource layer; always present in the summary, zeros included, so its keys stay stable.
_SEVERITIES: tuple[str, ...] = ("P1", "P2", "P3", "info")

_FIGSIZE = (10.0, 4.0)
_DPI = 100
_MAX_STORY_BODY = 11  # story lines between the opening and the three closing ones (5-15 lines in all)
_MAX_DETAIL = 90  # characters of an event's detail quoted in the story


# --------------------------------------------------------------------------------------------------------------------
# timeline and summary


def write_timeline(events: Sequence[TimelineEvent], path: Path) -> None:
    """Write the events to `path` as CSV: header `TIMELINE_COLUMNS`, one row per event in the given order, empty
    cells for None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(TIMELINE_COLUMNS))
        writer.writeheader()
        for event in events:
            row = event.to_row()
            writer.writerow({column: "" if row[column] is None else row[column] for column in TIMELINE_COLUMNS})


def summarize(
    scenario: str,
    spec_name: str,
    seed: int,
    days: Sequence[DailyRecord],
    events: Sequence[TimelineEvent],
    *,
    final_champion: str | None,
    started: str,
    finished: str,
    wall_seconds: float,
    peak_rss_mb: float | None,
) -> dict[str, Any]:
    """A JSON-ready summary of one simulated run. Keys (stable, snake_case):

    - `scenario`, `model` (the spec's name), `seed`;
    - `first_date`, `last_date` (ISO dates of the first and last simulated day, None without days), `n_days`;
    - `started`, `finished` (wall-clock ISO times of the run), `wall_seconds`, `peak_rss_mb` (None when unmeasured);
    - `event_counts`: events per kind, every kind of `EVENT_KINDS` present in that order, zeros included;
    - `retrainings_by_trigger`: `retrain_triggered` events per trigger, the trigger being the text of the detail
      before its first ':' (e.g. `schedule`, `data_drift`; `unknown` when the detail has no such prefix);
    - `champions`: model versions in order of promotion (`promoted` events; a version promoted twice shows twice);
    - `final_champion`: the champion at the end of the run, as the caller states it (None when there is none);
    - `rollbacks`: one dict per `rollback` event: `day`, `model_version`, `role`, `scope` (`production`, `canary` or
      `unknown`, read from the detail, else from the role) and `detail`;
    - `alerts_by_severity`: alerts per severity (the detail's text before its first ':'); P1, P2, P3 and info always
      present, then any other severity met, `unknown` for a detail without one;
    - `realised_auc`: `first`, `first_day`, `first_date` (first day with a value), `last`, `last_day`, `last_date`,
      `min`, `min_day`, `min_date` (the first day reaching the minimum), `mean`, `days_with_value`; values None and
      `days_with_value` 0 when no day had a realised AUC;
    - `requests`, `errors`: totals over the days; `error_rate`: errors / requests (None without requests).
    """
    ordered = sorted(days, key=lambda record: record.day)
    kinds = Counter(event.event for event in events)
    triggers = Counter(_prefix(event.detail) for event in events if event.event == "retrain_triggered")
    severities = Counter(_prefix(event.detail) for event in events if event.event == "alert")
    requests = sum(record.requests for record in ordered)
    errors = sum(record.errors for record in ordered)
    return {
        "scenario": scenario,
        "model": spec_name,
        "seed": seed,
        "first_date": ordered[0].date if ordered else None,
        "last_date": ordered[-1].date if ordered else None,
        "n_days": len(ordered),
        "started": started,
        "finished": finished,
        "event_counts": {kind: kinds.get(kind, 0) for kind in EVENT_KINDS},
        "retrainings_by_trigger": dict(triggers),
        "champions": [event.model_version for event in events if event.event == "promoted"],
        "final_champion": final_champion,
        "rollbacks": [
            {
                "day": event.day,
                "model_version": event.model_version,
                "role": event.role,
                "scope": _rollback_scope(event),
                "detail": event.detail,
            }
            for event in events
            if event.event == "rollback"
        ],
        "alerts_by_severity": {
            **{severity: severities.get(severity, 0) for severity in _SEVERITIES},
            **{severity: n for severity, n in severities.items() if severity not in _SEVERITIES},
        },
        "realised_auc": _auc_summary(ordered),
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "wall_seconds": wall_seconds,
        "peak_rss_mb": peak_rss_mb,
    }


def write_summary(summary: dict[str, Any], path: Path) -> None:
    """Write the summary as JSON (indent 2, keys in their given order, a final newline). Raises ValueError on NaN or
    infinity, which are not JSON: the summary should hold None for a missing number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = json.dumps(summary, indent=2, sort_keys=False, allow_nan=False)
    except ValueError as error:
        raise ValueError(
            f"summary for {path} holds NaN or infinity ({error}); use None for a missing number"
        ) from error
    path.write_text(text + "\n", encoding="utf-8")


def _prefix(detail: str) -> str:
    """The identifier a detail starts with, before its first ':' ("data_drift: ..." -> "data_drift")."""
    head = detail.split(":", 1)[0].strip()
    return head if head and not any(char.isspace() for char in head) else "unknown"


def _rollback_scope(event: TimelineEvent) -> str:
    text = event.detail.lower()
    if "production" in text:
        return "production"
    if "canary" in text or event.role == "canary":
        return "canary"
    if event.role == "champion":
        return "production"
    return "unknown"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _auc_summary(ordered: Sequence[DailyRecord]) -> dict[str, Any]:
    measured = [(record, value) for record in ordered if (value := _finite(record.auc)) is not None]
    if not measured:
        keys = ("first", "first_day", "first_date", "last", "last_day", "last_date", "min", "min_day", "min_date")
        return {**dict.fromkeys(keys), "mean": None, "days_with_value": 0}
    (first, first_value), (last, last_value) = measured[0], measured[-1]
    lowest, lowest_value = min(measured, key=lambda pair: pair[1])
    return {
        "first": first_value,
        "first_day": first.day,
        "first_date": first.date,
        "last": last_value,
        "last_day": last.day,
        "last_date": last.date,
        "min": lowest_value,
        "min_day": lowest.day,
        "min_date": lowest.date,
        "mean": sum(value for _, value in measured) / len(measured),
        "days_with_value": len(measured),
    }


# --------------------------------------------------------------------------------------------------------------------
# plots


def plot_auc(
    days: Sequence[DailyRecord], events: Sequence[TimelineEvent], path: Path, *, threshold: float | None
) -> Path:
    """Realised AUC per day (gaps where None) with the gate's AUC threshold dashed when given, above a strip with
    one row per kind of `MARKED_EVENT_KINDS` present, a marker on each day such a decision was taken (legend by
    kind); promotions and rollbacks also draw a faint vertical line across the AUC, since they change what serves."""
    ordered = sorted(days, key=lambda record: record.day)
    figure = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax, strip = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    ax.set_title("Realised AUC and the decisions taken")
    ax.set_ylabel("realised AUC")
    ax.grid(True, axis="y", alpha=0.3)
    x = [record.day for record in ordered]
    y = [_nan_if_none(_finite(record.auc)) for record in ordered]
    values = [value for value in y if not math.isnan(value)]
    if values:
        ax.plot(x, y, color="black", marker="o", markersize=3, linewidth=1.2, label="realised AUC")
    else:
        note = "no data" if not ordered and not events else "no realised AUC"
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", color="tab:gray")
    if threshold is not None:
        ax.axhline(threshold, color="tab:gray", linestyle="--", linewidth=1, label=f"gate threshold ({threshold:g})")

    marked = [event for event in events if event.event in MARKED_EVENT_KINDS]
    present = [kind for kind in MARKED_EVENT_KINDS if any(event.event == kind for event in marked)]
    for row, kind in enumerate(present):
        colour, marker = MARKED_EVENT_KINDS[kind]
        kind_days = sorted({event.day for event in marked if event.event == kind})
        label = kind.replace("_", " ")
        strip.plot(kind_days, [row] * len(kind_days), linestyle="none", marker=marker, color=colour, label=label)
        if kind in ("promoted", "rollback"):
            for day in kind_days:
                ax.axvline(day, color=colour, linewidth=1, alpha=0.35)
    strip.set_yticks(range(len(present)), [kind.replace("_", " ") for kind in present], fontsize=7)
    strip.set_ylim(len(present) - 0.5 if present else 0.5, -0.5)  # first kind on top
    strip.grid(True, axis="x", alpha=0.3)
    if not present:
        strip.text(0.5, 0.5, "no decisions", transform=strip.transAxes, ha="center", va="center", color="tab:gray")
    ax.tick_params(axis="x", labelbottom=False)
    _day_axis(strip, ordered, [*x, *(event.day for event in marked)])

    handles = [*ax.get_legend_handles_labels()[0], *strip.get_legend_handles_labels()[0]]
    if len(handles) > 1:
        figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    return _save(figure, path)


def plot_psi(days: Sequence[DailyRecord], path: Path) -> Path:
    """PSI per critical feature (and `prediction`) per day, one line per column, each column's threshold dashed in
    the same colour, or one grey dashed line when every threshold is the same."""
    ordered = sorted(days, key=lambda record: record.day)
    figure, ax = _new_axes("Drift: PSI per critical feature and the output", "PSI")
    columns = _columns(ordered)
    colours = _colours(len(columns))
    x = [record.day for record in ordered]
    for column, colour in zip(columns, colours, strict=True):
        y = [_nan_if_none(_finite(record.psi.get(column))) for record in ordered]
        if any(not math.isnan(value) for value in y):
            ax.plot(x, y, color=colour, marker="o", markersize=3, linewidth=1.2, label=column)

    thresholds = {value for record in ordered for value in record.psi_threshold.values() if _finite(value) is not None}
    if len(thresholds) == 1:
        value = thresholds.pop()
        ax.axhline(value, color="tab:gray", linestyle="--", linewidth=1, label=f"threshold ({value:g})")
    elif thresholds:
        for column, colour in zip(columns, colours, strict=True):
            y = [_nan_if_none(_finite(record.psi_threshold.get(column))) for record in ordered]
            ax.plot(x, y, color=colour, linestyle="--", linewidth=1, alpha=0.8, drawstyle="steps-mid")
        ax.plot([], [], color="tab:gray", linestyle="--", linewidth=1, label="threshold (dashed, same colour)")

    if not ax.lines:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="tab:gray")
    else:
        ax.set_ylim(bottom=0)
    _day_axis(ax, ordered, x)
    return _finish(figure, ax, path)


def plot_traffic(days: Sequence[DailyRecord], path: Path) -> Path:
    """Share of served requests per model version per day, as stacked bars in percent (100 on days with traffic)."""
    ordered = sorted(days, key=lambda record: record.day)
    figure, ax = _new_axes("Served traffic by model version", "share of served requests (%)")
    versions = sorted({version for record in ordered for version in record.traffic}, key=_version_order)
    totals = [sum(max(count, 0) for count in record.traffic.values()) for record in ordered]
    x = [record.day for record in ordered]
    bottom = [0.0] * len(ordered)
    if any(totals):
        for version, colour in zip(versions, _colours(len(versions)), strict=True):
            shares = [
                100.0 * max(record.traffic.get(version, 0), 0) / total if total else 0.0
                for record, total in zip(ordered, totals, strict=True)
            ]
            ax.bar(x, shares, width=0.8, bottom=bottom, color=colour, label=_version_label(version))
            bottom = [base + share for base, share in zip(bottom, shares, strict=True)]
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="tab:gray")
    ax.set_ylim(0, 100)
    _day_axis(ax, ordered, x)
    return _finish(figure, ax, path)


def _new_axes(title: str, ylabel: str) -> tuple[Figure, Axes]:
    # A Figure with its own Agg canvas: no pyplot, no global backend switch, nothing kept alive after saving.
    figure = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    return figure, ax


def _finish(figure: Figure, ax: Axes, path: Path) -> Path:
    handles, _ = ax.get_legend_handles_labels()
    if len(handles) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=_DPI)
    return path


def _day_axis(ax: Axes, ordered: Sequence[DailyRecord], xs: Iterable[int]) -> None:
    """Integer day ticks labelled with the simulated date and the day number (readable from 7 to 90+ days)."""
    xs = list(xs)
    to_date = _date_of(ordered)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True, min_n_ticks=1))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: _tick_label(value, to_date)))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("simulated date (day number)")
    if xs:
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)


def _tick_label(value: float, to_date: Callable[[int], str | None]) -> str:
    if abs(value - round(value)) > 1e-6:
        return ""
    day = round(value)
    date = to_date(day)
    return f"{date}\nday {day}" if date else f"day {day}"


def _date_of(ordered: Sequence[DailyRecord]) -> Callable[[int], str | None]:
    """Day number -> ISO date, from the records, extrapolated from the first parsable one for other days."""
    known = {record.day: record.date for record in ordered}
    anchor: tuple[int, dt.date] | None = None
    for record in ordered:
        try:
            anchor = (record.day, dt.date.fromisoformat(record.date))
            break
        except ValueError:
            continue

    def to_date(day: int) -> str | None:
        if day in known:
            return known[day]
        if anchor is None:
            return None
        return (anchor[1] + dt.timedelta(days=day - anchor[0])).isoformat()

    return to_date


def _columns(ordered: Sequence[DailyRecord]) -> list[str]:
    """PSI columns in first-seen order, the model's output (`prediction`) last."""
    seen: dict[str, None] = {}
    for record in ordered:
        seen.update(dict.fromkeys(record.psi))
        seen.update(dict.fromkeys(record.psi_threshold))
    columns = [column for column in seen if column != "prediction"]
    return [*columns, "prediction"] if "prediction" in seen else columns


def _colours(n: int) -> list[Any]:
    palette = colormaps["tab10" if n <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(n)]


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def _version_order(version: str) -> tuple[int, int, str]:
    digits = version.removeprefix("v")
    return (0, int(digits), version) if digits.isdigit() else (1, 0, version)


def _version_label(version: str | None) -> str:
    if version is None:
        return "an unknown version"
    return version if version.startswith("v") else f"v{version}"


# --------------------------------------------------------------------------------------------------------------------
# story


@dataclass
class _Episode:
    """One candidate's way from a retraining trigger (when recorded) to its last decision."""

    start: int
    trigger: str | None = None
    reason: str = ""
    drift: str = ""
    end: int = 0
    gate: str | None = None  # "passed" or "failed"
    gate_detail: str = ""
    version: str | None = None
    registered: bool = False
    shadow_start: int | None = None
    shadow_end: int | None = None
    shadow_rejected: tuple[int, str] | None = None
    canary_start: int | None = None
    canary_weights: list[float] = field(default_factory=list)
    holds: int = 0
    promoted: int | None = None
    canary_rollback: tuple[int, str] | None = None

    def touch(self, day: int) -> None:
        self.end = max(self.end, day)

    @property
    def routine(self) -> str | None:
        """The outcome of an episode that merges with its like neighbours, None for one worth a line of its own."""
        if self.gate == "failed":
            return "failed"
        if self.gate is None and self.version is None:
            return "undecided"
        if self.version is not None and self.shadow_start is None and self.canary_start is None and not self.promoted:
            return "registered"
        return None


@dataclass
class _Line:
    day: int
    priority: int  # 0 for what must be told, 2 for what may be left to timeline.csv
    text: str


def story(summary: dict[str, Any], events: Sequence[TimelineEvent]) -> str:
    """A short plain-English narrative (5-15 lines) of the run, derived from the events in order and the summary of
    `summarize`: the opening (model, scenario, dates), then in day order the scenario's strikes, one line per
    candidate's way through gate, shadow and canary (consecutive routine outcomes merged), production rollbacks,
    failed checks and drift no retraining answered ("Nothing needed a decision: ..." when the platform took none),
    then the alerts, the final champion and the realised AUC at the end against its minimum. Past 11 such lines the
    least critical are left to `timeline.csv`."""
    body = _story_lines(events)
    if all(event.event == "scenario" for event in events):
        quiet = "no blocking check failed, no drift was flagged, no model was retrained and no alert was sent"
        after = max((event.day for event in events), default=0) + 1
        body.append(_Line(after, 0, f"Nothing needed a decision: {quiet}."))
    if len(body) > _MAX_STORY_BODY:
        kept = sorted(body, key=lambda line: (line.priority, line.day))[: _MAX_STORY_BODY - 1]
        left_out = len(body) - len(kept)
        body = [*sorted(kept, key=lambda line: line.day)]
        body.append(_Line(0, 0, f"{left_out} more, less critical moments are in {TIMELINE_FILE}."))
    closing = [_alerts_line(summary), _champion_line(summary), _auc_line(summary)]
    return "\n".join([_opening(summary), *(line.text for line in body), *closing]) + "\n"


def _opening(summary: dict[str, Any]) -> str:
    n = summary["n_days"]
    head = f"{summary['model']}, scenario '{summary['scenario']}', seed {summary['seed']}"
    if not n:
        return f"{head}: no simulated day was recorded."
    span = summary["first_date"] if n == 1 else f"{summary['first_date']} to {summary['last_date']}"
    return f"{head}: {n} simulated day{'s' if n != 1 else ''}, {span}."


def _alerts_line(summary: dict[str, Any]) -> str:
    sent = {severity: n for severity, n in summary["alerts_by_severity"].items() if n}
    if not sent:
        return "No alert was sent."
    return "Alerts sent: " + ", ".join(f"{n} {severity}" for severity, n in sent.items()) + "."


def _champion_line(summary: dict[str, Any]) -> str:
    champion = summary["final_champion"]
    return f"Final champion: {_version_label(champion)}." if champion else "No model was champion at the end."


def _auc_line(summary: dict[str, Any]) -> str:
    auc = summary["realised_auc"]
    if not auc["days_with_value"]:
        return "No realised AUC was measured (no day had outcomes of both classes)."
    head = f"Realised AUC ended at {auc['last']:.3f} on day {auc['last_day']}"
    if auc["min_day"] == auc["last_day"] or auc["min"] == auc["last"]:
        return f"{head}, its lowest (mean {auc['mean']:.3f} over {_n(auc['days_with_value'], 'day')})."
    return f"{head}, against a minimum of {auc['min']:.3f} on day {auc['min_day']} (mean {auc['mean']:.3f})."


def _story_lines(events: Sequence[TimelineEvent]) -> list[_Line]:
    episodes: list[_Episode] = []
    by_version: dict[str, _Episode] = {}
    champions: list[str] = []  # promotion chain, popped by production rollbacks
    lines: list[_Line] = []
    checks: list[TimelineEvent] = []
    drift_pending: list[TimelineEvent] = []  # drift since the last retraining, not yet answered by one
    drift_unanswered: list[TimelineEvent] = []
    alert_days = _alerts_by_day(events)

    def episode_of(event: TimelineEvent) -> _Episode:
        version = event.model_version
        if version is not None and version in by_version:
            return by_version[version]
        episode = _Episode(start=event.day, version=version, end=event.day)
        episodes.append(episode)
        if version is not None:
            by_version[version] = episode
        return episode

    for event in events:
        kind = event.event
        if kind == "retrain_triggered":
            trigger = _prefix(event.detail)
            reason = _after_colon(event.detail) if trigger != "unknown" else event.detail
            episode = _Episode(start=event.day, end=event.day, trigger=trigger, reason=reason)
            if "drift" in trigger and drift_pending:
                episode.drift = _drift_columns(drift_pending[-1].detail)
            else:
                drift_unanswered.extend(drift_pending)
            drift_pending = []
            episodes.append(episode)
        elif kind == "drift_detected":
            last = episodes[-1] if episodes else None
            if last is not None and last.start == event.day and "drift" in (last.trigger or "") and not last.drift:
                last.drift = _drift_columns(event.detail)  # recorded after the retraining it triggered
            else:
                drift_pending.append(event)
        elif kind == "check_failed":
            checks.append(event)
        elif kind in ("gate_passed", "gate_failed"):
            open_ = [e for e in episodes if e.trigger is not None and e.gate is None and e.version is None]
            episode = open_[-1] if open_ else _new_episode(episodes, event.day)
            episode.gate, episode.gate_detail = kind.removeprefix("gate_"), event.detail
            episode.touch(event.day)
        elif kind == "registered":
            candidates = [e for e in episodes if e.version is None and e.gate != "failed" and e.trigger is not None]
            if event.model_version in by_version or not candidates:
                episode = episode_of(event)
            else:
                episode = candidates[-1]
                episode.version = event.model_version
                if event.model_version is not None:
                    by_version[event.model_version] = episode
            episode.registered = True
            episode.touch(event.day)
        elif kind in ("shadow_started", "shadow_rejected", "canary_started", "canary_step", "hold", "promoted"):
            episode = episode_of(event)
            episode.touch(event.day)
            _follow(episode, event)
            if kind == "promoted" and event.model_version is not None:
                champions.append(event.model_version)
        elif kind == "rollback":
            episode = by_version.get(event.model_version or "")
            if _rollback_scope(event) == "canary" and episode is not None and episode.canary_start is not None:
                episode.canary_rollback = (event.day, event.detail)
                episode.touch(event.day)
            else:
                lines.append(_production_rollback(event, champions, alert_days.get(event.day, [])))
    drift_unanswered.extend(drift_pending)

    lines.extend(_episode_lines(episodes, alert_days))
    for day in sorted({event.day for event in events if event.event == "scenario"}):
        struck = "; ".join(_clip(e.detail) for e in events if e.event == "scenario" and e.day == day)
        lines.append(_Line(day, 0, f"Day {day}: the scenario struck ({struck})."))
    if checks:
        lines.append(_checks_line(checks))
    if drift_unanswered:
        days = sorted({event.day for event in drift_unanswered})
        lines.append(_Line(days[0], 1, f"{_days(days)}: drift was flagged without a retraining following it."))
    return sorted(lines, key=lambda line: line.day)


def _new_episode(episodes: list[_Episode], day: int) -> _Episode:
    episode = _Episode(start=day, end=day)
    episodes.append(episode)
    return episode


def _follow(episode: _Episode, event: TimelineEvent) -> None:
    kind, day = event.event, event.day
    if kind == "shadow_started":
        episode.shadow_start = day if episode.shadow_start is None else episode.shadow_start
    elif kind == "shadow_rejected":
        episode.shadow_rejected = (day, event.detail)
        episode.shadow_end = day
    elif kind in ("canary_started", "canary_step"):
        if kind == "canary_started":
            episode.canary_start = day if episode.canary_start is None else episode.canary_start
            if episode.shadow_start is not None and episode.shadow_end is None:
                episode.shadow_end = day
        weight = _weight(event.detail)
        if weight is not None and (not episode.canary_weights or episode.canary_weights[-1] != weight):
            episode.canary_weights.append(weight)
    elif kind == "hold" and (event.role == "canary" or (event.role is None and episode.canary_start is not None)):
        episode.holds += 1  # a canary step held; a shadow's waits are its normal course and are not counted
    elif kind == "promoted":
        episode.promoted = day
        if episode.shadow_start is not None and episode.shadow_end is None:
            episode.shadow_end = day


def _episode_lines(episodes: Sequence[_Episode], alert_days: dict[int, list[str]]) -> list[_Line]:
    lines: list[_Line] = []
    group: list[_Episode] = []

    def flush() -> None:
        if len(group) == 1:
            lines.append(_Line(group[0].start, 2, _episode_text(group[0], alert_days)))
        elif group:
            lines.append(_Line(group[0].start, 2, _routine_text(group)))
        group.clear()

    for episode in episodes:
        routine = episode.routine
        if routine is None:
            flush()
            priority = 0 if episode.promoted is not None or episode.canary_rollback else 1
            lines.append(_Line(episode.start, priority, _episode_text(episode, alert_days)))
        elif group and (group[-1].routine, group[-1].trigger) != (routine, episode.trigger):
            flush()
            group.append(episode)
        else:
            group.append(episode)
    flush()
    return lines


def _episode_text(episode: _Episode, alert_days: dict[int, list[str]]) -> str:
    subject = _version_label(episode.version) if episode.version else "the candidate"
    clauses: list[str] = []
    if episode.gate == "failed":
        clauses.append(f"the candidate failed the gate ({_clip(episode.gate_detail)})")
    elif episode.gate == "passed":
        clauses.append(f"{subject} passed the gate")
    elif episode.trigger is not None and episode.version is None:
        clauses.append("no gate decision was recorded by the end")
    elif episode.registered:
        clauses.append(f"{subject} was registered")
    if episode.shadow_start is not None:
        if episode.shadow_rejected is not None:
            day, why = episode.shadow_rejected
            clauses.append(f"was rejected in shadow on day {day} ({_clip(why)})")
        elif episode.shadow_end is not None:
            clauses.append(f"shadowed {_n(episode.shadow_end - episode.shadow_start, 'day')}")
        else:
            clauses.append(f"was still in shadow at the end (since day {episode.shadow_start})")
    if episode.canary_start is not None:
        steps = " -> ".join(f"{weight:g}%" for weight in episode.canary_weights)
        held = f", {_n(episode.holds, 'hold')}" if episode.holds else ""
        steps = f" ({steps}{held})" if steps else (f" ({_n(episode.holds, 'hold')})" if episode.holds else "")
        if episode.canary_rollback is not None:
            day, why = episode.canary_rollback
            alerts = _alert_note(alert_days.get(day, []))
            why = _clip(_strip_rollback_prefix(why))
            clauses.append(f"reached the canary{steps} and was rolled back on day {day} ({why}){alerts}")
        elif episode.promoted is not None:
            clauses.append(f"went through the canary{steps}")
        else:
            last = f" at {episode.canary_weights[-1]:g}%" if episode.canary_weights else ""
            clauses.append(f"was still in the canary{last} at the end{steps}")
    if episode.promoted is not None:
        clauses.append(f"was promoted on day {episode.promoted}")
    if clauses and not clauses[0].startswith(("the candidate", "no gate", subject)):
        clauses[0] = f"{subject} {clauses[0]}"
    outcome = _join(clauses) if clauses else f"{subject} was recorded"
    when = _span(episode.start, episode.end)
    if episode.trigger is None:
        return f"{when}: {outcome}."
    return f"{when}: {_trigger_phrase(episode)} triggered retraining; {outcome}."


def _routine_text(group: Sequence[_Episode]) -> str:
    first = group[0]
    outcome = {
        "failed": "every candidate failed the gate",
        "undecided": "none reached a gate decision",
        "registered": "each candidate was registered and went no further",
    }[first.routine or "undecided"]
    cause = _trigger_phrase(first) if first.trigger is not None else "unrecorded triggers"
    return f"{_span(first.start, group[-1].end)}: {cause} triggered {len(group)} retrainings; {outcome}."


def _trigger_phrase(episode: _Episode) -> str:
    names = {
        "schedule": "the schedule",
        "manual": "a manual launch",
        "code_change": "a code change",
        "new_candidate": "a new candidate",
    }
    trigger = episode.trigger or "unknown"
    if "drift" in trigger:
        why = episode.drift or episode.reason
        return f"{trigger.replace('_', ' ')} ({_clip(why)})" if why else trigger.replace("_", " ")
    if trigger in names:
        return names[trigger]
    phrase = trigger.replace("_", " ")
    return f"{phrase} ({_clip(episode.reason)})" if episode.reason else phrase


def _production_rollback(event: TimelineEvent, champions: list[str], alerts: list[str]) -> _Line:
    """The line for a production rollback; moves the promotion chain back (the event's version is the bad one, the
    detail may name the one restored: "production rollback to v1: ...")."""
    named = _restored_version(event.detail)
    current = champions[-1] if champions else None
    previous = champions[-2] if len(champions) > 1 else None
    if named is not None:
        bad, restored = (event.model_version if event.model_version not in (None, named) else current), named
    elif event.model_version is not None and event.model_version != current and event.model_version == previous:
        bad, restored = current, previous  # the event names the version production went back to
    else:
        bad, restored = event.model_version or current, previous
    if champions and champions[-1] == bad:
        champions.pop()
    if restored is not None and (not champions or champions[-1] != restored):
        champions.append(restored)
    moved = f" from {_version_label(bad)}" if bad else ""
    moved += f" to {_version_label(restored)}" if restored else ""
    why = _clip(_strip_rollback_prefix(event.detail))
    return _Line(event.day, 0, f"Day {event.day}: production was rolled back{moved} ({why}){_alert_note(alerts)}.")


def _restored_version(detail: str) -> str | None:
    match = re.search(r"\bto v?([\w.-]+)", detail.split(":", 1)[0])
    return match.group(1) if match else None


def _checks_line(checks: Sequence[TimelineEvent]) -> _Line:
    days = sorted({event.day for event in checks})
    if len(checks) == 1:
        return _Line(days[0], 1, f"Day {days[0]}: a blocking check failed ({_clip(checks[0].detail)}).")
    return _Line(
        days[0], 1, f"{_days(days)}: blocking checks failed {len(checks)} times (first: {_clip(checks[0].detail)})."
    )


def _alerts_by_day(events: Sequence[TimelineEvent]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for event in events:
        if event.event == "alert":
            out.setdefault(event.day, []).append(_prefix(event.detail))
    return out


def _alert_note(severities: Sequence[str]) -> str:
    if not severities:
        return ""
    counts = Counter(severities)
    return (
        "; " + ", ".join(f"{n} {s}" if n > 1 else s for s, n in counts.items()) + f" alert{'s' * (len(severities) > 1)}"
    )


def _weight(detail: str) -> float | None:
    """The traffic weight a canary event's detail states: a number with '%' first, else the first number."""
    match = re.search(r"(\d+(?:\.\d+)?)\s*%", detail) or re.search(r"(\d+(?:\.\d+)?)", detail)
    return float(match.group(1)) if match else None


def _drift_columns(detail: str) -> str:
    """A drift detail without its leading "drift on <date>:" (the story's line already gives the day)."""
    return re.sub(r"^\s*(data\s+)?drift on \d{4}-\d{2}-\d{2}\s*:\s*", "", detail) or detail


def _after_colon(detail: str) -> str:
    head, _, tail = detail.partition(":")
    return tail.strip() if tail and _prefix(detail) == head.strip() else ""


def _strip_rollback_prefix(detail: str) -> str:
    pattern = r"^\s*(rollback[_ ])?(production|canary)([_ ]rollback)?(\s+to\s+v?[\w.-]+)?\s*:\s*"
    stripped = re.sub(pattern, "", detail, flags=re.IGNORECASE)
    return stripped or detail


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3].rstrip() + "..."


def _join(clauses: Sequence[str]) -> str:
    return clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _span(start: int, end: int) -> str:
    return f"Day {start}" if end <= start else f"Days {start}-{end}"


def _days(days: Sequence[int]) -> str:
    """Sorted day numbers as 'Day 4' or 'Days 3-5, 9'."""
    ranges: list[tuple[int, int]] = []
    for day in days:
        if ranges and day == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
    return f"Day {text}" if len(days) == 1 else f"Days {text}"


# --------------------------------------------------------------------------------------------------------------------
# everything at once


def write_report(
    out_dir: Path,
    *,
    scenario: str,
    spec_name: str,
    seed: int,
    days: Sequence[DailyRecord],
    events: Sequence[TimelineEvent],
    final_champion: str | None,
    auc_threshold: float | None,
    started: str,
    finished: str,
    wall_seconds: float,
    peak_rss_mb: float | None,
) -> dict[str, Any]:
    """Write `REPORT_FILES` into `out_dir` (created if missing) and return the summary, with `files` (the names
    written) and `story` (the story's text) added, as `summary.json` also holds it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(
        scenario,
        spec_name,
        seed,
        days,
        events,
        final_champion=final_champion,
        started=started,
        finished=finished,
        wall_seconds=wall_seconds,
        peak_rss_mb=peak_rss_mb,
    )
    text = story(summary, events)
    write_timeline(events, out_dir / TIMELINE_FILE)
    plot_auc(days, events, out_dir / AUC_PLOT_FILE, threshold=auc_threshold)
    plot_psi(days, out_dir / PSI_PLOT_FILE)
    plot_traffic(days, out_dir / TRAFFIC_PLOT_FILE)
    (out_dir / STORY_FILE).write_text(text, encoding="utf-8")
    summary["files"] = list(REPORT_FILES)
    summary["story"] = text
    write_summary(summary, out_dir / SUMMARY_FILE)
    return summary
