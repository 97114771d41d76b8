"""What the monitoring sensors decide, as plain functions over reports, states and verdicts.

Each function answers one sensor's question for one tick and says why in a sentence, which the sensor turns into a
`RunRequest` (with `trigger` and `reason` tags and a run key naming the event) or a `SkipReason`:

- `drift_decision`: does this day's drift report start a retraining run?
- `decay_decision`: does this day's performance report (the champion's realised AUC) start one?
- `rollout_decision`: what should happen to a newly registered challenger (first deployment, shadow, or waiting for
  a person's approval)?
- `shadow_action` / `canary_action`: which deployment action a shadow or canary verdict asks for;
- `health_decision`: does a production-health result roll the champion back?

Cooldowns are in event time (the days and timestamps of the data), so a replay behaves like the days themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from platform_assets.deployment.judges import Verdict
from platform_assets.deployment.state import DeploymentState
from platform_assets.keys import ALIAS_CHAMPION
from platform_assets.monitoring.health import HealthResult
from platform_assets.spec import PerformanceSpec

__all__ = [
    "Decision",
    "canary_action",
    "decay_decision",
    "drift_decision",
    "health_decision",
    "in_cooldown",
    "rollout_decision",
    "shadow_action",
]


@dataclass(frozen=True)
class Decision:
    """Act or not, why, and (when acting) the event's key: one event never starts two runs."""

    act: bool
    reason: str
    key: str | None = None
    action: str | None = None  # the deployment action, for deployment decisions
    version: str | None = None


def in_cooldown(last: str | None, now: pd.Timestamp, hours: float) -> str | None:
    """Why `now` is still within the cooldown of the last trigger at `last` (ISO event time), or None.

    Either side of it: a report for an earlier day that arrives late (labels re-landed) is as close to the last
    trigger as a later one, and must not start a second retraining for the same episode.
    """
    if last is None or hours <= 0:
        return None
    elapsed = (now - pd.Timestamp(last)).total_seconds() / 3600
    if abs(elapsed) < hours:
        when = "earlier" if elapsed >= 0 else "later"
        return f"in cooldown: the last trigger was {abs(elapsed):.1f} h {when} in event time (cooldown {hours:g} h)"
    return None


def _day_end(day: str) -> pd.Timestamp:
    """The end of an event day (UTC): a day's report speaks for the whole day."""
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)


def drift_decision(report: Mapping[str, Any], *, last_trigger: str | None, cooldown_hours: float) -> Decision:
    """Retrain when a critical feature or the output drifted on this day (beyond threshold and critical value)."""
    day = str(report["day"])
    if not report.get("judged", False):
        return Decision(False, f"drift on {day} not judged (too few rows or no reference yet)")
    drifted = [column for column in report.get("columns", []) if column["critical"] and column["verdict"] == "drift"]
    if not drifted:
        return Decision(False, f"no drift on a critical feature or the output on {day}")
    cooling = in_cooldown(last_trigger, _day_end(day), cooldown_hours)
    described = "; ".join(
        f"{column['column']} PSI {column['psi']:.3f} > {column['threshold']:g} "
        f"(no-drift critical value {column['critical_value']:.3f})"
        for column in drifted
    )
    if cooling:
        return Decision(False, f"drift on {day} ({described}), but {cooling}")
    return Decision(True, f"data drift on {day}: {described}", key=f"drift:{day}")


def decay_decision(
    report: Mapping[str, Any],
    *,
    champion: str | None,
    spec: PerformanceSpec,
    last_trigger: str | None,
    cooldown_hours: float,
) -> Decision:
    """Retrain when the champion's realised AUC is below the spec minimum, or decayed from its training AUC."""
    day = str(report["day"])
    if champion is None:
        return Decision(False, "no champion serves, so no realised performance to judge")
    group = next(
        (g for g in report.get("groups", []) if g["role"] == ALIAS_CHAMPION and str(g["model_version"]) == champion),
        None,
    )
    if group is None or not group.get("judged") or group.get("auc") is None:
        why = group["reason"] if group else "no labelled predictions of the champion yet"
        return Decision(False, f"champion v{champion} on the window ending {day}: {why}")
    auc = float(group["auc"])
    training = group.get("training_auc")
    labelled = int(group["labelled"])
    reason = None
    if auc < spec.min_auc:
        reason = f"realised AUC {auc:.4f} < minimum {spec.min_auc:g} ({labelled:,} labelled predictions)"
    elif training is not None and float(training) - auc > spec.max_decay:
        reason = (
            f"realised AUC {auc:.4f} is {float(training) - auc:.4f} below the training AUC {float(training):.4f} "
            f"(allowed decay {spec.max_decay:g}; {labelled:,} labelled predictions)"
        )
    if reason is None:
        return Decision(False, f"champion v{champion} holds up on the window ending {day}: realised AUC {auc:.4f}")
    cooling = in_cooldown(last_trigger, _day_end(day), cooldown_hours)
    if cooling:
        return Decision(False, f"performance decay of v{champion} ({reason}), but {cooling}")
    return Decision(
        True,
        f"performance decay of champion v{champion} on the window ending {day}: {reason}",
        key=f"decay:{champion}:{day}",
    )


def rollout_decision(state: DeploymentState, *, require_approval: bool, closed: Sequence[str] = ()) -> Decision:
    """What a registered challenger needs next: to become the first champion, enter shadow, or wait.

    `closed` lists versions whose rollout already ended (rejected, rolled back, archived): never restarted by itself.
    """
    version = state.challenger
    if version is None:
        return Decision(False, "no challenger waiting")
    if version in closed:
        return Decision(False, f"challenger v{version} was already rejected or rolled back")
    if version in (state.champion, state.shadow, state.canary):
        return Decision(False, f"challenger v{version} is already deployed ({state.describe()})")
    if state.champion is None:
        return Decision(
            True,
            f"first deployment: challenger v{version} becomes champion",
            key=f"first:{version}",
            action="promote",
            version=version,
        )
    if state.shadow is not None or state.canary is not None:
        return Decision(False, f"challenger v{version} waits: one experiment at a time ({state.describe()})")
    if require_approval:
        return Decision(
            False,
            f"challenger v{version} waits for approval (deployment.serving.require_approval): launch "
            f"the deployment job with action start_shadow and version {version}",
        )
    return Decision(
        True,
        f"challenger v{version} passed the gate: shadow after the integration test",
        key=f"shadow:{version}",
        action="start_shadow",
        version=version,
    )


def shadow_action(verdict: Verdict, version: str) -> Decision:
    if verdict.decision == "proceed":
        return Decision(
            True,
            "; ".join(verdict.reasons),
            key=f"shadow-gate:{version}:proceed",
            action="start_canary",
            version=version,
        )
    if verdict.decision == "reject":
        return Decision(
            True, "; ".join(verdict.reasons), key=f"shadow-gate:{version}:reject", action="reject", version=version
        )
    return Decision(False, "shadow gate waits: " + "; ".join(verdict.reasons))


def canary_action(verdict: Verdict, state: DeploymentState, steps: Sequence[float]) -> Decision:
    version, step = state.canary, state.canary_step
    assert version is not None and step is not None
    where = f"v{version} at {steps[step]:g}%"
    if verdict.decision == "promote":
        action = "promote" if step == len(steps) - 1 else "advance_canary"
        return Decision(
            True,
            f"canary gate promotes {where}: " + "; ".join(verdict.reasons),
            key=f"canary:{version}:{step}:{action}",
            action=action,
            version=version,
        )
    if verdict.decision == "rollback":
        return Decision(
            True,
            f"canary gate rolls back {where}: " + "; ".join(verdict.reasons),
            key=f"canary:{version}:{step}:rollback",
            action="rollback_canary",
            version=version,
        )
    return Decision(False, f"canary gate holds {where}: " + "; ".join(verdict.reasons))


def health_decision(
    result: HealthResult, state: DeploymentState, *, last_rollback: str | None, cooldown_minutes: float
) -> Decision:
    """Roll the champion back when any of the seed's conditions is breached."""
    breaches = result.breaches
    if not breaches:
        judged = [check.condition for check in result.checks if check.verdict != "not judged"]
        return Decision(False, f"champion v{result.version} healthy ({', '.join(judged) or 'nothing judged yet'})")
    described = "; ".join(check.reason for check in breaches)
    if state.previous_champion is None:
        return Decision(False, f"champion v{result.version} breaches {described}, but there is no previous champion")
    cooling = in_cooldown(last_rollback, result.as_of, cooldown_minutes / 60)
    if cooling:
        return Decision(False, f"champion v{result.version} breaches {described}, but {cooling}")
    return Decision(
        True,
        f"production health: {described}",
        key=f"health:{result.version}:{result.as_of.isoformat()}",
        action="rollback_production",
        version=result.version,
    )
