"""What a simulation records: timeline events (one per decision) and the daily measurements behind the plots.

The engine (`simulation.engine`) appends `TimelineEvent`s as the real sensors, schedules, automation and runs take
their decisions, and `DailyRecord`s for each simulated day; `simulation.report` turns both into `timeline.csv`,
`summary.json`, the PNG plots and the story.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EVENT_KINDS", "TIMELINE_COLUMNS", "DailyRecord", "TimelineEvent"]

# Every kind of timeline row, in the order a model's life usually meets them.
EVENT_KINDS: tuple[str, ...] = (
    "scenario",  # the scenario strikes: the world shifts, a batch arrives damaged, code ships, a fault starts
    "check_failed",  # a blocking data/label/feature check failed on a landed batch (detail: the check and the day)
    "drift_detected",  # a day's drift report flagged a critical feature or the output
    "retrain_triggered",  # a retraining run started (detail: trigger and reason: schedule, data_drift, ...)
    "gate_passed",  # the quality gate passed a candidate
    "gate_failed",  # the quality gate stopped a candidate (detail: the failed rules)
    "registered",  # a candidate was registered as a new model version (the challenger)
    "shadow_started",
    "shadow_rejected",
    "canary_started",
    "canary_step",  # the canary moved to the next traffic step (detail: the weight)
    "hold",  # a shadow or canary gate held (waits for evidence or a rule asks to wait), recorded once per step
    "promoted",  # a version became champion
    "rollback",  # a canary rollback or a production rollback (detail: which, and why)
    "alert",  # an alert sent through the alerting resource (detail: severity and title)
)

TIMELINE_COLUMNS: tuple[str, ...] = ("day", "time", "event", "model_version", "role", "detail")


@dataclass(frozen=True)
class TimelineEvent:
    """One decision: simulated day number (1-based), event time (ISO, UTC), kind, the model version and role it
    concerns (None when none does) and a sentence saying what and why."""

    day: int
    time: str
    event: str
    model_version: str | None
    role: str | None
    detail: str

    def __post_init__(self) -> None:
        if self.event not in EVENT_KINDS:
            raise ValueError(f"unknown timeline event {self.event!r}; expected one of {EVENT_KINDS}")

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DailyRecord:
    """What one simulated day measured.

    - `auc`: realised AUC of the day's served predictions against their true outcomes (None without both classes);
    - `auc_by_version`: the same per served model version;
    - `psi`: the day's drift report, PSI per critical feature (and `prediction` for the output) when judged;
    - `psi_threshold`: the drift threshold per column, as the report states it;
    - `traffic`: served requests per model version;
    - `requests`, `errors`: served requests and those that failed to score.
    """

    day: int
    date: str
    auc: float | None = None
    auc_by_version: dict[str, float] = field(default_factory=dict)
    psi: dict[str, float] = field(default_factory=dict)
    psi_threshold: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
