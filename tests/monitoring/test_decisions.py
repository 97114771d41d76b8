"""The monitoring sensors' decisions as plain functions: drift, decay, rollout, the gates' actions and health.

Reports are written by hand in the shape the drift and performance assets write to the lake, states are
`DeploymentState`s and verdicts are `Verdict`s, so every branch (act, skip and why, cooldown and its boundary, the
run key) is pinned without a lake, a registry or Dagster.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from platform_assets.deployment.judges import Verdict
from platform_assets.deployment.state import DeploymentState
from platform_assets.monitoring.decisions import (
    Decision,
    canary_action,
    decay_decision,
    drift_decision,
    health_decision,
    in_cooldown,
    rollout_decision,
    shadow_action,
)
from platform_assets.monitoring.drift import SCORE_COLUMN
from platform_assets.monitoring.health import HealthCheck, HealthResult, HealthVerdict
from platform_assets.spec import PerformanceSpec

pytestmark = pytest.mark.unit

DAY = "2026-01-10"
DAY_END = "2026-01-11T00:00:00+00:00"  # a day's report speaks for the whole day: its event time is the day's end
PERFORMANCE = PerformanceSpec(min_auc=0.88, max_decay=0.02, min_labelled=200)
STEPS = (5.0, 15.0, 30.0, 100.0)


# ------------------------------------------------------------------------------------------------ drift


def _column(name: str, verdict: str = "stable", *, critical: bool = True, psi: float = 0.05) -> dict[str, Any]:
    threshold = 0.10 if name == SCORE_COLUMN else 0.20
    return {
        "column": name,
        "kind": "score" if name == SCORE_COLUMN else "numeric",
        "critical": critical,
        "rows": 1_000,
        "psi": psi,
        "critical_value": 0.031,
        "threshold": threshold,
        "verdict": verdict,
        "reason": f"PSI {psi}",
    }


def _drift_report(*columns: dict[str, Any], day: str = DAY, judged: bool = True) -> dict[str, Any]:
    return {"day": day, "judged": judged, "columns": list(columns)}


def test_drift_not_judged_or_too_small_never_retrains() -> None:
    no_reference = {"day": DAY, "judged": False, "columns": []}  # what the asset writes before a reference exists
    too_small = _drift_report(
        {**_column("weight_kg"), "psi": None, "critical_value": None, "verdict": "too small"}, judged=False
    )
    for report in (no_reference, too_small):
        decision = drift_decision(report, last_trigger=None, cooldown_hours=24)
        assert decision == Decision(False, f"drift on {DAY} not judged (too few rows or no reference yet)")


def test_drift_stable_day_does_not_retrain() -> None:
    report = _drift_report(_column("weight_kg"), _column("carrier_code"), _column(SCORE_COLUMN))
    decision = drift_decision(report, last_trigger=None, cooldown_hours=24)
    assert not decision.act and decision.key is None
    assert decision.reason == f"no drift on a critical feature or the output on {DAY}"


def test_drift_on_a_non_critical_feature_is_ignored() -> None:
    report = _drift_report(_column("weight_kg"), _column("day_of_week", "drift", critical=False, psi=3.2))
    decision = drift_decision(report, last_trigger=None, cooldown_hours=24)
    assert not decision.act
    assert decision.reason == f"no drift on a critical feature or the output on {DAY}"


def test_drift_on_a_critical_feature_retrains_and_names_it() -> None:
    report = _drift_report(
        _column("weight_kg", "drift", psi=0.4123),
        _column("carrier_code"),
        _column("day_of_week", "drift", critical=False, psi=3.2),
    )
    decision = drift_decision(report, last_trigger=None, cooldown_hours=24)
    assert decision == Decision(
        True,
        f"data drift on {DAY}: weight_kg PSI 0.412 > 0.2 (no-drift critical value 0.031)",
        key=f"drift:{DAY}",
    )
    assert "day_of_week" not in decision.reason
    assert decision.action is None and decision.version is None  # a retraining, not a deployment


def test_drift_on_the_output_retrains() -> None:
    report = _drift_report(_column("weight_kg"), _column(SCORE_COLUMN, "drift", psi=0.25))
    decision = drift_decision(report, last_trigger=None, cooldown_hours=24)
    assert decision.act and decision.key == f"drift:{DAY}"
    assert f"{SCORE_COLUMN} PSI 0.250 > 0.1" in decision.reason


def test_drift_every_drifted_critical_column_is_named() -> None:
    report = _drift_report(_column("weight_kg", "drift", psi=0.5), _column("distance_km", "drift", psi=0.3))
    reason = drift_decision(report, last_trigger=None, cooldown_hours=24).reason
    assert "weight_kg PSI 0.500" in reason and "distance_km PSI 0.300" in reason


@pytest.mark.parametrize(
    ("last_trigger", "cooldown_hours", "act"),
    [
        (None, 24, True),
        # The previous day triggered: its event time is this day's start, exactly 24 h before this day's end.
        ("2026-01-10T00:00:00+00:00", 24, True),  # the boundary: elapsed == cooldown is out of the cooldown
        ("2026-01-10T00:00:01+00:00", 24, False),  # one second short of it
        ("2026-01-10T00:00:00+00:00", 25, False),
        (DAY_END, 24, False),  # the same day again (a re-materialized report)
        (DAY_END, 0, True),  # no cooldown at all
        ("2026-01-05T00:00:00+00:00", 24, True),
    ],
)
def test_drift_cooldown_is_in_event_time(last_trigger: str | None, cooldown_hours: float, act: bool) -> None:
    report = _drift_report(_column("weight_kg", "drift", psi=0.5))
    decision = drift_decision(report, last_trigger=last_trigger, cooldown_hours=cooldown_hours)
    assert decision.act is act
    if act:
        assert decision.key == f"drift:{DAY}"
    else:
        assert decision.key is None
        assert decision.reason.startswith(f"drift on {DAY} (weight_kg PSI 0.500")
        assert f"in cooldown: the last trigger was {_hours(last_trigger, DAY_END):.1f} h earlier" in decision.reason
        assert f"(cooldown {cooldown_hours:g} h)" in decision.reason


def _hours(earlier: str | None, later: str) -> float:
    assert earlier is not None
    return (pd.Timestamp(later) - pd.Timestamp(earlier)).total_seconds() / 3600


def test_drift_key_names_the_day() -> None:
    """One run per drifted day: the key is the day's, so the same day never starts two runs."""
    days = [f"2026-01-{d:02d}" for d in range(1, 29)]
    keys = [
        drift_decision(
            _drift_report(_column("weight_kg", "drift", psi=0.5), day=d), last_trigger=None, cooldown_hours=0
        ).key
        for d in days
    ]
    assert keys == [f"drift:{d}" for d in days]
    repeated = drift_decision(
        _drift_report(_column("weight_kg", "drift", psi=0.9)), last_trigger=None, cooldown_hours=0
    )
    assert repeated.key == f"drift:{DAY}"


@pytest.mark.parametrize(
    ("last", "now", "hours", "cooling"),
    [
        (None, "2026-01-10T12:00:00+00:00", 24, False),
        ("2026-01-10T00:00:00+00:00", "2026-01-10T12:00:00+00:00", 0, False),
        ("2026-01-10T00:00:00+00:00", "2026-01-10T12:00:00+00:00", 24, True),
        ("2026-01-10T00:00:00+00:00", "2026-01-11T00:00:00+00:00", 24, False),
        ("2026-01-10T00:00:00+00:00", "2026-01-10T00:00:00+00:00", 24, True),
        ("2026-01-10T00:00:00+00:00", "2026-01-10T00:59:59+00:00", 1, True),
        ("2026-01-10T00:00:00+00:00", "2026-01-10T01:00:00+00:00", 1, False),
        # A report for an earlier day arriving late is as close to the trigger as a later one.
        ("2026-01-10T00:00:00+00:00", "2026-01-09T12:00:00+00:00", 24, True),
        ("2026-01-10T00:00:00+00:00", "2026-01-09T00:00:00+00:00", 24, False),
    ],
)
def test_in_cooldown(last: str | None, now: str, hours: float, cooling: bool) -> None:
    reason = in_cooldown(last, pd.Timestamp(now), hours)
    assert (reason is not None) is cooling
    if cooling:
        assert reason is not None and reason.startswith("in cooldown: ")


# ------------------------------------------------------------------------------------------------ decay


def _group(
    version: str = "3",
    role: str = "champion",
    *,
    auc: float | None = 0.93,
    training_auc: float | None = 0.94,
    labelled: int = 1_200,
    judged: bool = True,
    reason: str = "judged on 1,200 labelled predictions",
) -> dict[str, Any]:
    return {
        "model_version": version,
        "role": role,
        "labelled": labelled,
        "auc": auc,
        "judged": judged,
        "reason": reason,
        "training_auc": training_auc,
        "decay": None if auc is None or training_auc is None else training_auc - auc,
    }


def _performance_report(*groups: dict[str, Any], day: str = DAY) -> dict[str, Any]:
    return {"day": day, "window": ["2026-01-04", day], "groups": list(groups)}


def _decay(report: dict[str, Any], champion: str | None = "3", last_trigger: str | None = None) -> Decision:
    return decay_decision(report, champion=champion, spec=PERFORMANCE, last_trigger=last_trigger, cooldown_hours=24)


def test_decay_without_a_champion_does_nothing() -> None:
    decision = _decay(_performance_report(_group(auc=0.5)), champion=None)
    assert decision == Decision(False, "no champion serves, so no realised performance to judge")


def test_decay_not_judged_says_why() -> None:
    few = _group(auc=None, labelled=50, judged=False, reason="only 50 labelled predictions (< 200)")
    assert _decay(_performance_report(few)) == Decision(
        False, f"champion v3 on the window ending {DAY}: only 50 labelled predictions (< 200)"
    )
    # Other versions and roles do not speak for the champion.
    others = _performance_report(_group("2", auc=0.5), _group("3", "shadow", auc=0.5))
    assert _decay(others) == Decision(
        False, f"champion v3 on the window ending {DAY}: no labelled predictions of the champion yet"
    )
    assert _decay(_performance_report()).reason.endswith("no labelled predictions of the champion yet")


def test_decay_below_the_minimum_auc_retrains() -> None:
    decision = _decay(_performance_report(_group(auc=0.8512, training_auc=None, labelled=1_234)))
    assert decision == Decision(
        True,
        f"performance decay of champion v3 on the window ending {DAY}: realised AUC 0.8512 < minimum 0.88 "
        "(1,234 labelled predictions)",
        key=f"decay:3:{DAY}",
    )


def test_decay_beyond_max_decay_from_the_training_auc_retrains() -> None:
    decision = _decay(_performance_report(_group(auc=0.905, training_auc=0.95)))
    assert decision.act and decision.key == f"decay:3:{DAY}"
    assert "realised AUC 0.9050 is 0.0450 below the training AUC 0.9500 (allowed decay 0.02" in decision.reason


@pytest.mark.parametrize(
    ("auc", "training_auc"),
    [(0.93, 0.94), (0.92, 0.94), (0.88, None), (0.93, None)],  # 0.92: decay exactly 0.02 is allowed
)
def test_decay_a_champion_that_holds_up_is_left_alone(auc: float, training_auc: float | None) -> None:
    decision = _decay(_performance_report(_group(auc=auc, training_auc=training_auc)))
    assert decision == Decision(False, f"champion v3 holds up on the window ending {DAY}: realised AUC {auc:.4f}")


def test_decay_cooldown() -> None:
    report = _performance_report(_group(auc=0.80))
    cooling = _decay(report, last_trigger="2026-01-10T06:00:00+00:00")
    assert not cooling.act and cooling.key is None
    assert cooling.reason.startswith("performance decay of v3 (realised AUC 0.8000 < minimum 0.88")
    assert "in cooldown: the last trigger was 18.0 h earlier in event time (cooldown 24 h)" in cooling.reason
    assert _decay(report, last_trigger="2026-01-10T00:00:00+00:00").act  # exactly 24 h before the day's end
    # The key names the champion: a new champion decaying on the same day is a new event.
    assert _decay(_performance_report(_group("4", auc=0.8)), champion="4").key == f"decay:4:{DAY}"


# ---------------------------------------------------------------------------------------------- rollout


def test_rollout_without_a_challenger_waits() -> None:
    decision = rollout_decision(DeploymentState(champion="1"), require_approval=False)
    assert decision == Decision(False, "no challenger waiting")


@pytest.mark.parametrize("require_approval", [False, True])
def test_rollout_first_deployment_promotes_without_approval(require_approval: bool) -> None:
    decision = rollout_decision(DeploymentState(challenger="1"), require_approval=require_approval)
    assert decision == Decision(
        True, "first deployment: challenger v1 becomes champion", key="first:1", action="promote", version="1"
    )


def test_rollout_a_new_challenger_enters_shadow() -> None:
    decision = rollout_decision(DeploymentState(champion="1", challenger="2"), require_approval=False)
    assert decision == Decision(
        True,
        "challenger v2 passed the gate: shadow after the integration test",
        key="shadow:2",
        action="start_shadow",
        version="2",
    )


def test_rollout_under_require_approval_waits_for_a_launch() -> None:
    decision = rollout_decision(DeploymentState(champion="1", challenger="2"), require_approval=True)
    assert not decision.act and decision.key is None and decision.action is None
    assert decision.reason == (
        "challenger v2 waits for approval (deployment.serving.require_approval): launch the deployment job with "
        "action start_shadow and version 2"
    )


@pytest.mark.parametrize("require_approval", [False, True])
def test_rollout_never_restarts_a_closed_version(require_approval: bool) -> None:
    for state in (DeploymentState(champion="1", challenger="2"), DeploymentState(challenger="2")):
        decision = rollout_decision(state, require_approval=require_approval, closed=["2"])
        assert decision == Decision(False, "challenger v2 was already rejected or rolled back")
    other = rollout_decision(DeploymentState(champion="1", challenger="3"), require_approval=False, closed=["2"])
    assert other.act and other.version == "3"


@pytest.mark.parametrize(
    "state",
    [
        DeploymentState(champion="1", challenger="2", shadow="2"),
        DeploymentState(champion="1", challenger="2", canary="2", canary_weight=5.0, canary_step=0),
        DeploymentState(champion="2", challenger="2"),  # a first deployment interrupted before its cleanup
    ],
)
def test_rollout_an_already_deployed_challenger_is_left_alone(state: DeploymentState) -> None:
    decision = rollout_decision(state, require_approval=False)
    assert not decision.act
    assert decision.reason.startswith("challenger v2 is already deployed (")


@pytest.mark.parametrize(
    "state",
    [
        DeploymentState(champion="1", challenger="3", shadow="2"),
        DeploymentState(champion="1", challenger="3", canary="2", canary_weight=15.0, canary_step=1),
    ],
)
def test_rollout_one_experiment_at_a_time(state: DeploymentState) -> None:
    for require_approval in (False, True):
        decision = rollout_decision(state, require_approval=require_approval)
        assert not decision.act
        assert decision.reason.startswith("challenger v3 waits: one experiment at a time (")


# ------------------------------------------------------------------------------------------- the gates


def _verdict(decision: str, *reasons: str) -> Verdict:
    return Verdict(decision=decision, reasons=reasons or (f"{decision}: because",), checks=())


def test_shadow_proceed_starts_the_canary() -> None:
    decision = shadow_action(_verdict("proceed", "proceed: every rule passed", "score correlation 0.97"), "2")
    assert decision == Decision(
        True,
        "proceed: every rule passed; score correlation 0.97",
        key="shadow-gate:2:proceed",
        action="start_canary",
        version="2",
    )


def test_shadow_reject_rejects() -> None:
    decision = shadow_action(_verdict("reject", "shadow p99 latency 80.0 ms > the 50 ms SLA"), "2")
    assert decision == Decision(
        True, "shadow p99 latency 80.0 ms > the 50 ms SLA", key="shadow-gate:2:reject", action="reject", version="2"
    )


def test_shadow_wait_does_nothing() -> None:
    decision = shadow_action(_verdict("wait", "wait: shadow days: 2.0 of 7 days", "AUC not judged"), "2")
    assert decision == Decision(False, "shadow gate waits: wait: shadow days: 2.0 of 7 days; AUC not judged")


def _canary(step: int) -> DeploymentState:
    return DeploymentState(champion="1", canary="2", canary_weight=STEPS[step], canary_step=step)


@pytest.mark.parametrize(
    ("step", "action"), [(0, "advance_canary"), (1, "advance_canary"), (2, "advance_canary"), (3, "promote")]
)
def test_canary_promote_advances_and_promotes_at_the_last_step(step: int, action: str) -> None:
    decision = canary_action(_verdict("promote", "promote: every rule passed"), _canary(step), STEPS)
    assert decision == Decision(
        True,
        f"canary gate promotes v2 at {STEPS[step]:g}%: promote: every rule passed",
        key=f"canary:2:{step}:{action}",
        action=action,
        version="2",
    )


@pytest.mark.parametrize("step", range(len(STEPS)))
def test_canary_rollback_rolls_the_canary_back_at_any_step(step: int) -> None:
    decision = canary_action(_verdict("rollback", "error rate canary 50%"), _canary(step), STEPS)
    assert decision == Decision(
        True,
        f"canary gate rolls back v2 at {STEPS[step]:g}%: error rate canary 50%",
        key=f"canary:2:{step}:rollback",
        action="rollback_canary",
        version="2",
    )


def test_canary_hold_does_nothing() -> None:
    decision = canary_action(_verdict("hold", "canary requests: 50 of 500"), _canary(1), STEPS)
    assert decision == Decision(False, "canary gate holds v2 at 15%: canary requests: 50 of 500")


def test_canary_keys_differ_per_step_and_action() -> None:
    keys = {
        canary_action(_verdict(verdict), _canary(step), STEPS).key
        for step in range(len(STEPS))
        for verdict in ("promote", "rollback")
    }
    assert len(keys) == 2 * len(STEPS)


# ------------------------------------------------------------------------------------------------ health

AS_OF = pd.Timestamp("2026-02-01 12:00", tz="UTC")


def _check(condition: str, verdict: HealthVerdict, value: float | None = None, threshold: float = 0.05) -> HealthCheck:
    if verdict == "breach":
        reason = f"{condition} {value:.3f} over the last 10 min (200 requests) > {threshold:g}"
    else:
        reason = f"{condition} {verdict}"
    return HealthCheck(condition, value, threshold, 10.0, 200, verdict, reason)


def _health(*checks: HealthCheck, version: str = "2", as_of: pd.Timestamp = AS_OF) -> HealthResult:
    return HealthResult(version, as_of, checks)


def test_health_breach_rolls_production_back_and_names_the_condition() -> None:
    result = _health(_check("error_rate", "breach", 0.3125), _check("p99_latency_ms", "ok", 40.0, 500))
    decision = health_decision(
        result, DeploymentState(champion="2", previous_champion="1"), last_rollback=None, cooldown_minutes=60
    )
    assert decision == Decision(
        True,
        "production health: error_rate 0.312 over the last 10 min (200 requests) > 0.05",
        key=f"health:2:{AS_OF.isoformat()}",
        action="rollback_production",
        version="2",
    )


def test_health_every_breached_condition_is_named() -> None:
    result = _health(_check("error_rate", "breach", 0.2), _check("prediction_null_rate", "breach", 0.04, 0.01))
    decision = health_decision(
        result, DeploymentState(champion="2", previous_champion="1"), last_rollback=None, cooldown_minutes=60
    )
    assert decision.act
    assert "error_rate 0.200" in decision.reason and "prediction_null_rate 0.040" in decision.reason


def test_health_healthy_champion_says_what_was_judged() -> None:
    state = DeploymentState(champion="2", previous_champion="1")
    judged = _health(_check("error_rate", "ok", 0.01), _check("input_psi", "not judged"))
    assert health_decision(judged, state, last_rollback=None, cooldown_minutes=60) == Decision(
        False, "champion v2 healthy (error_rate)"
    )
    nothing = _health(_check("error_rate", "not judged"))
    assert health_decision(nothing, state, last_rollback=None, cooldown_minutes=60) == Decision(
        False, "champion v2 healthy (nothing judged yet)"
    )


def test_health_without_a_previous_champion_cannot_roll_back() -> None:
    result = _health(_check("error_rate", "breach", 0.3))
    decision = health_decision(result, DeploymentState(champion="2"), last_rollback=None, cooldown_minutes=60)
    assert not decision.act and decision.action is None
    assert decision.reason == (
        "champion v2 breaches error_rate 0.300 over the last 10 min (200 requests) > 0.05, "
        "but there is no previous champion"
    )


@pytest.mark.parametrize(("minutes_ago", "act"), [(30, False), (59, False), (60, True), (120, True)])
def test_health_cooldown_is_in_event_time(minutes_ago: int, act: bool) -> None:
    result = _health(_check("error_rate", "breach", 0.3))
    last = (AS_OF - pd.Timedelta(minutes=minutes_ago)).isoformat()
    decision = health_decision(
        result, DeploymentState(champion="2", previous_champion="1"), last_rollback=last, cooldown_minutes=60
    )
    assert decision.act is act
    if not act:
        assert f"in cooldown: the last trigger was {minutes_ago / 60:.1f} h earlier in event time" in decision.reason


def test_health_key_names_the_version_and_the_moment() -> None:
    state = DeploymentState(champion="2", previous_champion="1")
    later = AS_OF + pd.Timedelta(minutes=5)
    keys = {
        health_decision(
            _health(_check("error_rate", "breach", 0.3), as_of=t), state, last_rollback=None, cooldown_minutes=60
        ).key
        for t in (AS_OF, AS_OF, later)
    }
    assert keys == {f"health:2:{AS_OF.isoformat()}", f"health:2:{later.isoformat()}"}
