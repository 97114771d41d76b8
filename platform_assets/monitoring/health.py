"""Production health: the seed's automated rollback conditions, judged on the champion's recent traffic.

`production_health` reads a prediction-log frame (`serving.prediction_log.read_predictions`), keeps the rows the
champion version actually served, and judges four conditions of `HealthSpec`, each over its own window of event
time ending at `as_of` (never the wall clock, so a replayed or delayed log is judged as it happened):

- error_rate: requests with an error / requests;
- p99_latency_ms: the 99th percentile of latency_ms;
- prediction_null_rate: requests without an error whose score is null or NaN / requests without an error;
- input_psi: the largest PSI of a feature against the drift reference profile's bins (`drift.bin_counts`).

A condition breaches when its value exceeds its threshold. A window with fewer than `HealthSpec.min_requests`
requests is "not judged" rather than judged on noise. The production-health sensor rolls back on any breach.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from platform_assets.monitoring.drift import ReferenceProfile, bin_counts, critical_psi
from platform_assets.monitoring.psi import psi_from_counts
from platform_assets.spec import HealthRule, HealthSpec

__all__ = ["CONDITIONS", "LOG_COLUMNS", "HealthCheck", "HealthResult", "production_health"]

_ROWS_PER_BIN = 10  # input_psi is judged on at least this many requests per reference bin
_LOOKS = 100  # how much stricter than a daily drift report a health window's PSI critical value is
_DRAWS = 5_000  # no-drift draws behind a health critical value (cached per window size)
CONDITIONS: tuple[str, ...] = ("error_rate", "p99_latency_ms", "prediction_null_rate", "input_psi")
# The prediction-log columns the conditions read (besides the features, for input_psi).
LOG_COLUMNS: tuple[str, ...] = ("event_time", "model_version", "role", "served", "score", "latency_ms", "error")

HealthVerdict = Literal["breach", "ok", "not judged"]


@dataclass(frozen=True)
class HealthCheck:
    """One rollback condition over its window."""

    condition: str  # one of CONDITIONS
    value: float | None  # None when not judged
    threshold: float
    window_minutes: float
    requests: int  # champion requests in the window
    verdict: HealthVerdict
    reason: str


@dataclass(frozen=True)
class HealthResult:
    """Every condition for one champion version at one point of event time."""

    version: str
    as_of: pd.Timestamp  # the event time the windows end at (UTC)
    checks: tuple[HealthCheck, ...]

    @property
    def breaches(self) -> tuple[HealthCheck, ...]:
        return tuple(check for check in self.checks if check.verdict == "breach")

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "as_of": self.as_of.isoformat(),
            "breaches": [check.condition for check in self.breaches],
            "checks": [
                {
                    **asdict(check),
                    "value": None if check.value is None or not np.isfinite(check.value) else float(check.value),
                    "threshold": float(check.threshold),
                    "window_minutes": float(check.window_minutes),
                    "requests": int(check.requests),
                }
                for check in self.checks
            ],
        }

    def to_markdown(self) -> str:
        if self.breaches:
            summary = f"Version {self.version} at {self.as_of.isoformat()}: **breach** of " + ", ".join(
                check.condition for check in self.breaches
            )
        else:
            summary = f"Version {self.version} at {self.as_of.isoformat()}: no breach"
        lines = [
            summary + ".",
            "",
            "| condition | value | threshold | window | requests | verdict | reason |",
            "|---|--:|--:|--:|--:|---|---|",
        ]
        for check in self.checks:
            verdict = f"**{check.verdict}**" if check.verdict == "breach" else check.verdict
            lines.append(
                f"| {check.condition} | {'-' if check.value is None else _value(check.condition, check.value)} "
                f"| {check.threshold:g} | {check.window_minutes:g} min | {check.requests:,} | {verdict} "
                f"| {check.reason} |"
            )
        return "\n".join(lines)


def _value(condition: str, value: float) -> str:
    return f"{value:.1f}" if condition == "p99_latency_ms" else f"{value:.3f}"


def _utc(moment: pd.Timestamp) -> pd.Timestamp:
    moment = pd.Timestamp(moment)
    return moment.tz_localize("UTC") if moment.tz is None else moment.tz_convert("UTC")


def _check(
    condition: str,
    rule: HealthRule,
    requests: int,
    value: float | None,
    *,
    judged_on: int,
    min_requests: int,
    what: str = "requests",
    note: str = "",
) -> HealthCheck:
    """A verdict on `value`, computed from `judged_on` rows of the `requests` in the window."""
    window = f"over the last {rule.window_minutes:g} min ({requests:,} requests)"
    if judged_on < min_requests or value is None:
        reason = (
            f"{condition} not judged: {judged_on:,} {what} in the last {rule.window_minutes:g} min "
            f"< min_requests {min_requests:,}"
        )
        return HealthCheck(condition, None, rule.threshold, rule.window_minutes, requests, "not judged", reason)
    shown = _value(condition, value) + (f" ({note})" if note else "")
    if value > rule.threshold:
        verdict: HealthVerdict = "breach"
        reason = f"{condition} {shown} {window} > {rule.threshold:g}"
    else:
        verdict = "ok"
        reason = f"{condition} {shown} {window} <= {rule.threshold:g}"
    return HealthCheck(condition, float(value), rule.threshold, rule.window_minutes, requests, verdict, reason)


def _not_judged(condition: str, rule: HealthRule, requests: int, why: str) -> HealthCheck:
    reason = f"{condition} not judged: {why}"
    return HealthCheck(condition, None, rule.threshold, rule.window_minutes, requests, "not judged", reason)


def _window(rows: pd.DataFrame, event_time: pd.Series, as_of: pd.Timestamp, minutes: float) -> pd.DataFrame:
    start = as_of - pd.Timedelta(minutes=minutes)
    return rows[(event_time > start) & (event_time <= as_of)]


def _is(column: pd.Series, value: object) -> pd.Series:
    """column == value as plain booleans (a null is not equal to anything)."""
    return column.eq(value).fillna(False).astype(bool)


def _has_error(errors: pd.Series) -> pd.Series:
    return errors.notna() & (errors.astype(str).str.strip() != "")


def _input_psi(
    window: pd.DataFrame,
    rule: HealthRule,
    min_requests: int,
    profile: ReferenceProfile | None,
    features: Sequence[str],
    critical_quantile: float,
) -> HealthCheck:
    requests = len(window)
    if profile is None:
        return _not_judged("input_psi", rule, requests, "no reference profile to compare with")
    judged = [name for name in features if name in profile.columns]
    if not judged:
        return _not_judged(
            "input_psi", rule, requests, f"none of the features {list(features)} is in the reference profile"
        )
    # PSI over fewer than ten requests a bin is mostly empty bins: not evidence of anything.
    needed = max(min_requests, _ROWS_PER_BIN * max(len(profile.columns[name].counts) for name in judged))
    if requests < needed:
        return _check("input_psi", rule, requests, None, judged_on=requests, min_requests=needed)
    missing = [name for name in judged if name not in window.columns]
    if missing:
        raise ValueError(
            f"the prediction log lacks feature column(s) {missing} that the reference profile has; it has "
            f"{[str(c) for c in window.columns]}"
        )
    psi, critical = {}, {}
    for name in judged:
        reference = np.asarray(profile.columns[name].counts, dtype=np.float64)
        psi[name] = psi_from_counts(reference, bin_counts(profile.columns[name], window[name]))
        # A 30-minute window holds tens of requests, whose PSI against the reference is large by chance alone (about
        # bins / requests): only a PSI beyond what a window of this size reaches without drift counts.
        critical[name] = _critical(tuple(profile.columns[name].counts), requests, critical_quantile)
    worst = max(psi, key=lambda name: psi[name] - max(rule.threshold, critical[name]))
    check = _check("input_psi", rule, requests, psi[worst], judged_on=requests, min_requests=min_requests, note=worst)
    if check.verdict == "breach" and psi[worst] <= critical[worst]:
        reason = (
            f"input_psi {psi[worst]:.3f} ({worst}) over the last {rule.window_minutes:g} min ({requests:,} requests) "
            f"> {rule.threshold:g}, but within the no-drift critical value {critical[worst]:.3f} at this window's size"
        )
        return replace(check, verdict="ok", reason=reason)
    return check


@functools.lru_cache(maxsize=4096)
def _critical(counts: tuple[float, ...], requests: int, quantile: float) -> float:
    """The no-drift critical PSI of a health window. The sensor looks every few minutes at overlapping windows, so a
    day holds hundreds of looks: the spec's per-look quantile is tightened a hundredfold (0.99 -> 0.9999), or input
    noise alone would roll a healthy champion back every few days."""
    tightened = 1.0 - (1.0 - quantile) / _LOOKS
    return critical_psi(np.asarray(counts, dtype=np.float64), requests, tightened, draws=_DRAWS)


def production_health(
    log: pd.DataFrame,
    spec: HealthSpec,
    *,
    version: str,
    as_of: pd.Timestamp,
    profile: ReferenceProfile | None,
    features: Sequence[str],
    critical_quantile: float = 0.99,
) -> HealthResult:
    """Judge the rollback conditions on the rows `version` served as champion, over windows ending at `as_of`.

    Each condition looks at rows with as_of - window < event_time <= as_of (event time; a naive `as_of` or
    event_time is taken as UTC). input_psi is "not judged" without a profile, and skips features the profile
    lacks; it breaches only beyond the PSI that `critical_quantile` of no-drift windows of its size stay below
    (`drift.critical_psi`), as the drift report judges a day. Raises ValueError when the log lacks one of the
    columns the conditions read.
    """
    missing = [name for name in LOG_COLUMNS if name not in log.columns]
    if missing:
        raise ValueError(
            f"the prediction log lacks column(s) {missing}; it has {[str(c) for c in log.columns]}. "
            "Read it with serving.prediction_log.read_predictions."
        )
    as_of = _utc(as_of)
    champion = log[
        _is(log["model_version"].astype(str), str(version)) & _is(log["role"], "champion") & _is(log["served"], True)
    ]
    event_time = pd.to_datetime(champion["event_time"], utc=True)
    min_requests = spec.min_requests

    # error_rate: every request counts.
    window = _window(champion, event_time, as_of, spec.error_rate.window_minutes)
    errors = int(_has_error(window["error"]).sum())
    error_rate = _check(
        "error_rate",
        spec.error_rate,
        len(window),
        errors / len(window) if len(window) else None,
        judged_on=len(window),
        min_requests=min_requests,
    )

    # p99_latency_ms: over the requests that recorded a latency.
    window = _window(champion, event_time, as_of, spec.p99_latency_ms.window_minutes)
    latency = pd.to_numeric(window["latency_ms"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    latency = latency[np.isfinite(latency)]
    p99 = _check(
        "p99_latency_ms",
        spec.p99_latency_ms,
        len(window),
        float(np.percentile(latency, 99)) if len(latency) else None,
        judged_on=len(latency),
        min_requests=min_requests,
        what="requests with a latency",
    )

    # prediction_null_rate: of the requests that did not fail, how many came back without a score.
    window = _window(champion, event_time, as_of, spec.prediction_null_rate.window_minutes)
    answered = window[~_has_error(window["error"])]
    nulls = int(pd.to_numeric(answered["score"], errors="coerce").isna().sum())
    null_rate = _check(
        "prediction_null_rate",
        spec.prediction_null_rate,
        len(window),
        nulls / len(answered) if len(answered) else None,
        judged_on=len(answered),
        min_requests=min_requests,
        what="requests without an error",
    )

    window = _window(champion, event_time, as_of, spec.input_psi.window_minutes)
    input_psi = _input_psi(window, spec.input_psi, min_requests, profile, features, critical_quantile)
    return HealthResult(str(version), as_of, (error_rate, p99, null_rate, input_psi))
