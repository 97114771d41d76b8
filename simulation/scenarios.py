"""The scenarios a simulation replays: what production does to a model, and when.

A scenario is data, not code paths: windows of the synthetic feed's world (`resources.synthetic_deliveries`: a sudden
shift, a gradual drift, a corrupt batch), a code change shipped on a given day (a spec whose training section
changed, as a commit would), and faults switched on in the serving path of a model version (an error spike on the
champion at a given time, or a skew on the canary once it reaches a given step). Everything else (which checks
fail, what retrains, what the gates decide, what rolls back) is left to the platform.

`onset` is the day the scenario strikes: by default a few days after the model's first champion and its monitoring
reference can exist (`default_onset`), so that what follows is the platform reacting, not the platform starting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from platform_assets.spec import ModelSpec
from resources.source import ScenarioConfig
from simulation.traffic import Fault

__all__ = [
    "SCENARIOS",
    "CodeChange",
    "FaultPlan",
    "Scenario",
    "build_scenario",
    "default_onset",
]


@dataclass(frozen=True)
class CodeChange:
    """A new version of the model's code shipped at the start of `day` (1-based): the spec as it becomes."""

    day: int
    describe: str
    change: Callable[[ModelSpec], ModelSpec]


@dataclass(frozen=True)
class FaultPlan:
    """A fault in the serving path of one version.

    `role` picks the version: the champion when the fault starts (`at_day`/`at_time`, lasting `hours`), or the canary
    when it reaches canary step `at_step` (0-based, staying on until the canary leaves).
    """

    fault: Fault
    role: str
    at_day: int | None = None
    at_time: dt.time = dt.time(10, 0)
    hours: float = 4.0
    at_step: int | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    onset: int
    windows: list[ScenarioConfig] = field(default_factory=list)
    code_changes: list[CodeChange] = field(default_factory=list)
    faults: list[FaultPlan] = field(default_factory=list)


def default_onset(spec: ModelSpec) -> int:
    """The first day (1-based) on which a scenario should strike: the first champion has been trained (on a full
    training window of labelled days) and the monitoring reference window has landed, plus two days of ordinary
    operation."""
    # The retrain schedule waits for a full training window of labelled days (sensors.training).
    first_model = spec.training.window_days + max(spec.source.label_delay_days, 1) + 1
    return max(first_model, spec.reference.days + 1) + 2


def _day(start: dt.date, day: int) -> str:
    return (start + dt.timedelta(days=day - 1)).isoformat()


def _steady(spec: ModelSpec, start: dt.date, onset: int, days: int) -> Scenario:
    return Scenario("steady", "Nothing happens to the world: only the schedules should act.", onset)


def _sudden_shift(spec: ModelSpec, start: dt.date, onset: int, days: int) -> Scenario:
    return Scenario(
        "sudden_shift",
        f"From day {onset} the world shifts at once: storm season, longer hauls, a carrier strike.",
        onset,
        windows=[ScenarioConfig(kind="sudden_shift", start=_day(start, onset))],
    )


def _gradual_drift(spec: ModelSpec, start: dt.date, onset: int, days: int) -> Scenario:
    ramp = max((days - onset) * 2 // 3, 2)
    return Scenario(
        "gradual_drift",
        f"From day {onset} the world drifts linearly into the shifted world over {ramp} days.",
        onset,
        windows=[
            ScenarioConfig(kind="gradual_drift", start=_day(start, onset), end=_day(start, min(onset + ramp, days)))
        ],
    )


def _corrupt_batch(spec: ModelSpec, start: dt.date, onset: int, days: int) -> Scenario:
    return Scenario(
        "corrupt_batch",
        f"The batch of day {onset} arrives damaged (unknown carriers, out-of-range weights, duplicate ids); the "
        "world itself is fine.",
        onset,
        windows=[
            ScenarioConfig(
                kind="corrupt_batch",
                start=_day(start, onset),
                end=_day(start, onset),
                corruptions=["unknown_carriers", "out_of_range_weights", "duplicate_ids"],
            )
        ],
    )


def _crippled_training(spec: ModelSpec) -> ModelSpec:
    """A training change that looks harmless and is not: tiny trees, a learning rate a hundred times smaller and
    no search, so the model barely learns."""
    training = spec.training.model_copy(
        update={
            "params": {**spec.training.params, "learning_rate": 0.0005, "num_leaves": 2, "n_estimators": 20},
            "hpo": spec.training.hpo.model_copy(update={"trials": 1}),
        }
    )
    return spec.model_copy(update={"training": training})


def _bad_candidate(spec: ModelSpec, start: dt.date, onset: int, days: int) -> Scenario:
    return Scenario(
        "bad_candidate",
        f"On day {onset} a change to the training code ships (learning rate 0.0005, two leaves, no search); the "
        "retraining it starts produces a candidate that would regress.",
        onset,
        code_changes=[
            CodeChange(onset, "training params changed: learning_rate 0.0005, num_leaves 2", _crippled_training)
        ],
    )


def _bad_canary(spec: ModelSpec, start: dt.date, onset: int, days: int) -> Scenario:
    steps = spec.deployment.canary.steps
    step = 1 if len(steps) > 2 else 0
    return Scenario(
        "bad_canary",
        f"The next model passes the gate and its shadow, but from the {steps[step]:g}% canary step the feature "
        "service it calls times out on one request in five.",
        onset,
        faults=[
            FaultPlan(
                Fault(kind="errors", rate=0.2, description="the canary's feature lookups time out"),
                role="canary",
                at_step=step,
            )
        ],
    )


def _incident(spec: ModelSpec, start: dt.date, onset: int, days: int) -> Scenario:
    return Scenario(
        "incident",
        f"On day {onset} at 10:00 the champion's scoring starts failing one request in four for four hours "
        "(a bad node).",
        onset,
        faults=[
            FaultPlan(
                Fault(kind="errors", rate=0.25, description="scoring node unhealthy"),
                role="champion",
                at_day=onset,
                at_time=dt.time(10, 0),
                hours=4.0,
            )
        ],
    )


SCENARIOS: dict[str, Callable[[ModelSpec, dt.date, int, int], Scenario]] = {
    "steady": _steady,
    "sudden_shift": _sudden_shift,
    "gradual_drift": _gradual_drift,
    "corrupt_batch": _corrupt_batch,
    "bad_candidate": _bad_candidate,
    "bad_canary": _bad_canary,
    "incident": _incident,
}


def build_scenario(name: str, spec: ModelSpec, *, start: dt.date, days: int, onset: int | None = None) -> Scenario:
    """The scenario `name` for `spec`, striking on day `onset` (default: `default_onset`)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    onset = default_onset(spec) if onset is None else onset
    if name != "steady" and not 1 <= onset <= days:
        raise ValueError(f"the scenario strikes on day {onset}, outside the {days} simulated days")
    if name in ("sudden_shift", "gradual_drift", "corrupt_batch") and spec.source.kind != "synthetic_deliveries":
        raise ValueError(
            f"scenario {name} changes the synthetic feed's world; {spec.name}'s source is {spec.source.kind!r} "
            "(use steady, bad_candidate, bad_canary or incident)"
        )
    return SCENARIOS[name](spec, start, onset, days)
