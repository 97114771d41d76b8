"""The deployment state machine: which registry operations move a model from one role to the next.

Model roles are MLflow registry aliases (`champion`, `previous_champion`, `challenger`, `shadow`, `canary`,
named in `platform_assets.keys`); the canary's traffic share and step are tags on the registered model.
This module only PLANS: `plan` turns a `DeploymentState` (what the aliases and tags say now) and an action
into a `Transition` holding an ordered tuple of `AliasMove`s. Another module applies those moves to the
registry one by one and records the transition as a materialization of the model's `deployment` asset.
`apply_moves` simulates the registry after a sequence of moves, for the tests and for crash analysis.
Nothing here touches a registry, a file or Dagster.

Actions (`ACTIONS`) and what they do:

- ``start_shadow(version)``: the version (usually the challenger) enters shadow. Moves: set model tag
  `shadow_started_version`; set alias `shadow` (last, so a crash leaves nothing half-done). Invalid
  when a shadow or a canary is already running (one experiment at a time), without a version, for the
  champion itself, or with no champion at all (there is nothing to shadow; a first deployment is
  ``promote(version)``).
- ``start_canary``: the shadow version becomes the canary at ``steps[0]`` percent. Moves: set alias
  `canary`; set model tags `canary_weight` = str(steps[0]) and `canary_step` = "0"; delete alias
  `shadow`. Invalid without a shadow or with a canary already running.
- ``advance_canary``: the canary moves to the next step. Moves: set `canary_weight`, set `canary_step`.
  Invalid without a canary or at the last step (promote it instead).
- ``promote``: the canary becomes champion and the champion becomes previous_champion; the version
  displaced from previous_champion is tagged `deployment_status=archived`. Moves: tag the displaced
  version archived; set `previous_champion` = old champion; set `champion` = canary; reset the canary
  tags (`canary_weight` = "0.0", delete `canary_step`); delete `challenger` if it points at the promoted
  version; delete alias `canary`. With no champion at all (the first deployment), ``promote(version)``
  makes that version champion directly (and clears `challenger` if it pointed there). Otherwise
  invalid without a canary.
- ``rollback_canary``: the canary is removed. Moves: tag it `deployment_status=rolled_back`; reset the
  canary tags; delete `challenger` if it points at the canary; delete alias `canary`. Invalid without
  a canary.
- ``rollback_production``: previous_champion returns as champion. Moves: tag the bad champion
  `deployment_status=rolled_back`; set `champion` = previous_champion; delete alias `previous_champion`.
  A running canary is left alone. Invalid without a previous_champion.
- ``reject``: the shadow (or, with no shadow, the challenger) is dropped. Moves: tag it
  `deployment_status=rejected`; delete `shadow` and `challenger` where they point at it. Invalid when
  neither exists, or when that version is the running canary or the champion (roll those back instead).

The `version` argument of `plan` is required by ``start_shadow`` and the first ``promote``; for the
other actions it is optional and, when given, must name the version the action concerns (the shadow,
the canary, the champion being rolled back, the version being rejected), so a stale request fails
instead of acting on whatever holds the role now.

Crash safety. The moves are ordered so that a crash between any two of them leaves `champion` on a
loadable version: it only ever changes in one `set_alias` from one registered version to another, never
through a deletion. A version tag that names a version about to leave every role (archived, rolled
back, rejected) is written FIRST, while the state still names that version, so that a resumed plan can
still find it; the alias deletion that ends an experiment comes LAST, so every partial state still
shows which transition was under way.

Resume. Planning the same action again on the state a crash left behind (any prefix of the moves)
completes the transition and reaches the same final state instead of doing it twice: moves whose effect
the state already shows are left out, and the partial states are recognised (`shadow == canary`: a
start_canary part-way; `champion == canary`: a promote after the champion moved, which must not make
the new champion its own previous_champion; `champion == previous_champion`: a promote or a
rollback_production part-way; an advance part-way still shows its old step, since the step tag moves
last). Version tags are not part of the state, so a resume writes them again (setting a tag is
idempotent). While a partial state is recognised, only the actions that finish it are valid. A
transition that completed cannot always be told apart from a new request (a finished advance looks like
the next step), so the caller records the transition it asked for before planning again.

An invalid action raises `InvalidTransitionError` (naming the action, the state, why, and the actions
valid now) and plans nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from platform_assets.keys import (
    ALIAS_CANARY,
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    ALIAS_PREVIOUS_CHAMPION,
    ALIAS_SHADOW,
)

__all__ = [
    "ACTIONS",
    "STATUS_ARCHIVED",
    "STATUS_REJECTED",
    "STATUS_ROLLED_BACK",
    "TAG_CANARY_STEP",
    "TAG_CANARY_WEIGHT",
    "TAG_DEPLOYMENT_STATUS",
    "TAG_SHADOW_STARTED_VERSION",
    "AliasMove",
    "DeploymentState",
    "InvalidTransitionError",
    "Transition",
    "apply_moves",
    "plan",
    "valid_actions",
]

ACTIONS = (
    "start_shadow",
    "start_canary",
    "advance_canary",
    "promote",
    "rollback_canary",
    "rollback_production",
    "reject",
)

# Registered-model tags: the serving router reads the canary's weight from here.
TAG_CANARY_WEIGHT = "canary_weight"
TAG_CANARY_STEP = "canary_step"
TAG_SHADOW_STARTED_VERSION = "shadow_started_version"
# Model-version tag: how a version left the deployment path.
TAG_DEPLOYMENT_STATUS = "deployment_status"
STATUS_ARCHIVED = "archived"
STATUS_ROLLED_BACK = "rolled_back"
STATUS_REJECTED = "rejected"

MoveKind = Literal["set_alias", "delete_alias", "set_model_tag", "delete_model_tag", "set_version_tag"]

# Each alias maps onto the state field of the same role.
_ALIAS_FIELDS: dict[str, str] = {
    ALIAS_CHAMPION: "champion",
    ALIAS_PREVIOUS_CHAMPION: "previous_champion",
    ALIAS_CHALLENGER: "challenger",
    ALIAS_SHADOW: "shadow",
    ALIAS_CANARY: "canary",
}
# The weight written when a canary ends; str(0.0) keeps the tag's format that of str(float(step)).
_NO_WEIGHT = str(0.0)
# Stands for "some version the caller would name" when valid_actions asks whether an action that needs
# a version could be planned; it never equals a real version string.
_ANY_VERSION = "<version>"


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DeploymentState:
    """What the registry says now: the version behind each role alias and the canary's tags."""

    champion: str | None = None
    previous_champion: str | None = None
    challenger: str | None = None
    shadow: str | None = None
    canary: str | None = None
    canary_weight: float = 0.0  # percent of traffic on the canary
    canary_step: int | None = None  # index into the spec's canary steps

    def __post_init__(self) -> None:
        if not (math.isfinite(self.canary_weight) and 0.0 <= self.canary_weight <= 100.0):
            raise ValueError(f"canary_weight is a percentage in [0, 100], got {self.canary_weight!r}")
        if self.canary_step is not None and self.canary_step < 0:
            raise ValueError(f"canary_step is an index into the canary steps, got {self.canary_step!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentState:
        """Build a state from `to_dict` output or from raw registry values (versions and tags as strings).

        Missing keys take their defaults; unknown keys raise ValueError, since a misspelt role would
        otherwise silently read as "no version".
        """
        names = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown deployment state keys {unknown}; expected some of {sorted(names)}")
        values: dict[str, Any] = {}
        for role in _ALIAS_FIELDS.values():
            if data.get(role) is not None:
                # MLflow versions are strings; a JSON round trip or a caller may hand over an int.
                values[role] = str(data[role])
        if data.get("canary_weight") is not None:
            values["canary_weight"] = float(data["canary_weight"])
        if data.get("canary_step") is not None:
            values["canary_step"] = int(data["canary_step"])
        return cls(**values)

    def describe(self) -> str:
        """The state in one line, for error messages and run metadata."""
        roles = ", ".join(f"{role}={getattr(self, role) or '-'}" for role in _ALIAS_FIELDS.values())
        step = "-" if self.canary_step is None else str(self.canary_step)
        return f"{roles}, canary_weight={self.canary_weight:g}%, canary_step={step}"


@dataclass(frozen=True)
class AliasMove:
    """One registry operation: set or delete an alias, a registered-model tag, or set a version tag."""

    kind: MoveKind
    name: str  # alias or tag name
    value: str | None = None  # the version for an alias; the tag value for a tag
    version: str | None = None  # the model version a set_version_tag applies to

    def __post_init__(self) -> None:
        if self.kind in ("set_alias", "set_model_tag") and self.value is None:
            raise ValueError(f"{self.kind} {self.name!r} needs a value")
        if self.kind in ("delete_alias", "delete_model_tag") and self.value is not None:
            raise ValueError(f"{self.kind} {self.name!r} takes no value, got {self.value!r}")
        if self.kind == "set_version_tag" and (self.version is None or self.value is None):
            raise ValueError(f"set_version_tag {self.name!r} needs a version and a value")
        if self.kind != "set_version_tag" and self.version is not None:
            raise ValueError(f"{self.kind} {self.name!r} does not apply to a version, got version {self.version!r}")

    def describe(self) -> str:
        if self.kind == "set_alias":
            return f"set alias {self.name} -> version {self.value}"
        if self.kind == "delete_alias":
            return f"delete alias {self.name}"
        if self.kind == "set_model_tag":
            return f"set model tag {self.name}={self.value}"
        if self.kind == "delete_model_tag":
            return f"delete model tag {self.name}"
        return f"set tag {self.name}={self.value} on version {self.version}"


@dataclass(frozen=True)
class Transition:
    """A planned action: the state before and after, and the registry operations between them, in order."""

    action: str
    version: str | None  # the version the action concerns (None when a resume no longer shows it)
    before: DeploymentState
    after: DeploymentState
    moves: tuple[AliasMove, ...]  # apply in this order; any prefix leaves champion loadable
    archived: str | None  # the version displaced from previous_champion, tagged archived

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "version": self.version,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "moves": [{**asdict(move), "description": move.describe()} for move in self.moves],
            "archived": self.archived,
        }


class InvalidTransitionError(ValueError):
    """An action the state does not allow; the message names the action, the state, why, and what is valid."""

    def __init__(
        self, action: str, state: DeploymentState, reason: str, valid: Sequence[str], version: str | None = None
    ) -> None:
        self.action = action
        self.state = state
        self.reason = reason
        self.valid = tuple(valid)
        subject = f" (version {version})" if version is not None else ""
        super().__init__(
            f"cannot {action}{subject}: {reason}. Current state: {state.describe()}. "
            f"Valid now: {', '.join(self.valid) or 'none'}."
        )


class _Invalid(Exception):
    """Raised inside the planners with the reason; `plan` turns it into InvalidTransitionError."""


# ------------------------------------------------------------------------------------------- simulation


def apply_moves(state: DeploymentState, moves: Sequence[AliasMove]) -> DeploymentState:
    """The state the registry would show after `moves`, applied in order to `state` (a pure simulation).

    Version tags and model tags other than the canary's are not part of the state and change nothing.
    """
    for move in moves:
        if move.kind in ("set_alias", "delete_alias"):
            if move.name not in _ALIAS_FIELDS:
                raise ValueError(f"unknown alias {move.name!r}; expected one of {sorted(_ALIAS_FIELDS)}")
            state = replace(state, **{_ALIAS_FIELDS[move.name]: move.value})
        elif move.kind == "set_model_tag" and move.name == TAG_CANARY_WEIGHT:
            state = replace(state, canary_weight=float(move.value or 0.0))
        elif move.kind == "set_model_tag" and move.name == TAG_CANARY_STEP:
            state = replace(state, canary_step=int(move.value or 0))
        elif move.kind == "delete_model_tag" and move.name == TAG_CANARY_WEIGHT:
            # The router reads a missing weight as no canary traffic.
            state = replace(state, canary_weight=0.0)
        elif move.kind == "delete_model_tag" and move.name == TAG_CANARY_STEP:
            state = replace(state, canary_step=None)
    return state


def _tracked(move: AliasMove) -> bool:
    """Whether the move's effect shows in a DeploymentState (so a resume can tell it already happened)."""
    if move.kind in ("set_alias", "delete_alias"):
        return True
    return move.kind in ("set_model_tag", "delete_model_tag") and move.name in (TAG_CANARY_WEIGHT, TAG_CANARY_STEP)


def _without_done(state: DeploymentState, moves: Sequence[AliasMove]) -> tuple[AliasMove, ...]:
    """Drop the tracked moves whose effect the state already shows at their point in the sequence.

    This is what makes a resumed plan finish a transition instead of repeating it. Untracked moves
    (version tags, `shadow_started_version`) cannot be checked and are kept; writing a tag twice is harmless.
    """
    kept: list[AliasMove] = []
    for move in moves:
        following = apply_moves(state, [move])
        if _tracked(move) and following == state:
            continue
        kept.append(move)
        state = following
    return tuple(kept)


# ------------------------------------------------------------------------------------------------ moves


def _set_alias(alias: str, version: str) -> AliasMove:
    return AliasMove("set_alias", alias, version)


def _delete_alias(alias: str) -> AliasMove:
    return AliasMove("delete_alias", alias)


def _status(version: str, status: str) -> AliasMove:
    return AliasMove("set_version_tag", TAG_DEPLOYMENT_STATUS, status, version)


def _weight(steps: Sequence[float], index: int) -> str:
    return str(float(steps[index]))


def _end_canary(state: DeploymentState, version: str) -> list[AliasMove]:
    """Reset the canary's tags, drop `challenger` if it still names the version, and delete `canary` last.

    The alias deletion comes last so that every partial state still shows the canary being ended.
    """
    moves = [AliasMove("set_model_tag", TAG_CANARY_WEIGHT, _NO_WEIGHT), AliasMove("delete_model_tag", TAG_CANARY_STEP)]
    if state.challenger == version:
        # The challenger's journey ends here; a challenger registered since is left alone.
        moves.append(_delete_alias(ALIAS_CHALLENGER))
    moves.append(_delete_alias(ALIAS_CANARY))
    return moves


# ---------------------------------------------------------------------------------------------- planners
# Each planner returns (the version concerned, the full move list from this state, the archived version)
# or raises _Invalid with the reason. Moves already done are dropped afterwards by `_without_done`.

_Planned = tuple[str | None, list[AliasMove], str | None]


def _start_shadow(state: DeploymentState, steps: Sequence[float], version: str | None) -> _Planned:
    if version is None:
        hint = f" (the challenger is version {state.challenger})" if state.challenger else ""
        raise _Invalid(f"start_shadow needs the version to shadow{hint}")
    if state.canary is not None:
        raise _Invalid(f"a canary (version {state.canary}) is running; one experiment at a time")
    if state.shadow is not None:
        raise _Invalid(f"version {state.shadow} is already in shadow; one experiment at a time")
    if state.champion is None:
        raise _Invalid("there is no champion to shadow; a first deployment is promote(version)")
    if version == state.champion:
        raise _Invalid(f"version {version} is the champion; a shadow must be a different version")
    # The alias comes last, as the commit: a crash before it leaves the state as it was, and planning again
    # simply starts over (the tag is rewritten with the same value).
    moves = [AliasMove("set_model_tag", TAG_SHADOW_STARTED_VERSION, version), _set_alias(ALIAS_SHADOW, version)]
    return version, moves, None


def _start_canary(state: DeploymentState, steps: Sequence[float], version: str | None) -> _Planned:
    if state.shadow is None:
        raise _Invalid("there is no shadow to start a canary with")
    if state.canary is not None and state.canary != state.shadow:
        raise _Invalid(f"a canary (version {state.canary}) is already running")
    if version is not None and version != state.shadow:
        raise _Invalid(f"version {version} is not the shadow (version {state.shadow})")
    new = state.shadow
    moves = [
        _set_alias(ALIAS_CANARY, new),
        AliasMove("set_model_tag", TAG_CANARY_WEIGHT, _weight(steps, 0)),
        AliasMove("set_model_tag", TAG_CANARY_STEP, "0"),
        # Last: until the shadow alias goes, the partial state (shadow == canary) says what was under way.
        _delete_alias(ALIAS_SHADOW),
    ]
    return new, moves, None


def _advance_canary(state: DeploymentState, steps: Sequence[float], version: str | None) -> _Planned:
    if state.canary is None:
        raise _Invalid("there is no canary to advance")
    if version is not None and version != state.canary:
        raise _Invalid(f"version {version} is not the canary (version {state.canary})")
    step = state.canary_step
    if step is None or step >= len(steps):
        raise _Invalid(f"the canary's step {step} is not an index into the steps {list(steps)}")
    if step == len(steps) - 1:
        raise _Invalid(f"the canary is at the last step ({steps[step]:g}%); promote or roll it back")
    # The step tag moves last, so an advance interrupted after the weight still names the old step and
    # targets the same next step; the weight move then drops out as done.
    target = step + 1
    moves = [
        AliasMove("set_model_tag", TAG_CANARY_WEIGHT, _weight(steps, target)),
        AliasMove("set_model_tag", TAG_CANARY_STEP, str(target)),
    ]
    return state.canary, moves, None


def _promote(state: DeploymentState, steps: Sequence[float], version: str | None) -> _Planned:
    if state.canary is not None:
        new = state.canary
        if version is not None and version != new:
            raise _Invalid(f"version {version} is not the canary (version {new}); promote promotes the canary")
        if state.champion == new:
            # The champion already moved: only the cleanup is left. previous_champion already holds the
            # old champion and must not be pointed at the new one.
            return new, _end_canary(state, new), None
        old = state.champion
        displaced = state.previous_champion
        moves: list[AliasMove] = []
        archived = None
        if old is not None and displaced is not None and displaced not in (old, new):
            # First, while previous_champion still names it: a resume after the next move could not find it.
            archived = displaced
            moves.append(_status(displaced, STATUS_ARCHIVED))
        if old is not None:
            moves.append(_set_alias(ALIAS_PREVIOUS_CHAMPION, old))
        moves.append(_set_alias(ALIAS_CHAMPION, new))
        moves.extend(_end_canary(state, new))
        return new, moves, archived
    if state.champion is None:
        if version is None:
            raise _Invalid("a first deployment needs the version to make champion")
        moves = [_set_alias(ALIAS_CHAMPION, version)]
        if state.challenger == version:
            moves.append(_delete_alias(ALIAS_CHALLENGER))
        return version, moves, None
    if version is not None and version == state.champion and state.challenger == version:
        # A first deployment interrupted after the champion was set: finish its cleanup.
        return version, [_delete_alias(ALIAS_CHALLENGER)], None
    raise _Invalid(f"there is no canary to promote (the champion is version {state.champion})")


def _rollback_canary(state: DeploymentState, steps: Sequence[float], version: str | None) -> _Planned:
    if state.canary is None:
        raise _Invalid("there is no canary to roll back")
    if version is not None and version != state.canary:
        raise _Invalid(f"version {version} is not the canary (version {state.canary})")
    bad = state.canary
    return bad, [_status(bad, STATUS_ROLLED_BACK), *_end_canary(state, bad)], None


def _rollback_production(state: DeploymentState, steps: Sequence[float], version: str | None) -> _Planned:
    if state.champion is None:
        raise _Invalid("there is no champion to roll back")
    if state.previous_champion is None:
        raise _Invalid(f"there is no previous champion to return to from version {state.champion}")
    if state.canary is not None and state.canary == state.previous_champion:
        # Returning to the version under canary would leave it champion and canary at once.
        raise _Invalid(
            f"the canary is version {state.canary}, the previous champion; roll the canary back or promote it"
        )
    if state.champion == state.previous_champion:
        # Interrupted after the champion returned: the bad version was tagged first, so only the alias is left.
        return version, [_delete_alias(ALIAS_PREVIOUS_CHAMPION)], None
    bad = state.champion
    if version is not None and version != bad:
        raise _Invalid(f"version {version} is not the champion (version {bad}) and cannot be rolled back")
    moves = [
        _status(bad, STATUS_ROLLED_BACK),
        _set_alias(ALIAS_CHAMPION, state.previous_champion),
        _delete_alias(ALIAS_PREVIOUS_CHAMPION),
    ]
    return bad, moves, None


def _reject(state: DeploymentState, steps: Sequence[float], version: str | None) -> _Planned:
    if version is not None:
        if version not in (state.shadow, state.challenger):
            raise _Invalid(
                f"version {version} is neither the shadow ({state.shadow or '-'}) nor the challenger "
                f"({state.challenger or '-'})"
            )
        subject = version
    else:
        subject = state.shadow if state.shadow is not None else state.challenger
        if subject is None:
            raise _Invalid("there is neither a shadow nor a challenger to reject")
    if subject == state.canary:
        raise _Invalid(f"version {subject} is the running canary; roll the canary back instead")
    if subject == state.champion:
        raise _Invalid(f"version {subject} is the champion; roll production back instead")
    moves = [_status(subject, STATUS_REJECTED)]
    if state.shadow == subject:
        moves.append(_delete_alias(ALIAS_SHADOW))
    if state.challenger == subject:
        moves.append(_delete_alias(ALIAS_CHALLENGER))
    return subject, moves, None


_PLANNERS = {
    "start_shadow": _start_shadow,
    "start_canary": _start_canary,
    "advance_canary": _advance_canary,
    "promote": _promote,
    "rollback_canary": _rollback_canary,
    "rollback_production": _rollback_production,
    "reject": _reject,
}


def _interrupted(state: DeploymentState) -> tuple[str, frozenset[str]] | None:
    """A partial state only a crash leaves behind: what it means and the actions that may finish it."""
    if state.shadow is not None and state.shadow == state.canary:
        return (
            f"a start_canary was interrupted (version {state.shadow} is both shadow and canary); "
            "plan start_canary again to finish it",
            frozenset({"start_canary"}),
        )
    if state.champion is not None and state.champion == state.canary:
        return (
            f"a promote was interrupted (version {state.champion} is both champion and canary); "
            "plan promote again to finish it",
            frozenset({"promote"}),
        )
    if state.champion is not None and state.champion == state.previous_champion:
        return (
            f"a promote or rollback_production was interrupted (version {state.champion} is both champion and "
            "previous_champion); plan it again to finish it",
            frozenset({"promote", "rollback_production"}),
        )
    return None


def _check_steps(steps: Sequence[float]) -> None:
    # A bad steps list is a caller's bug (the spec validates its own), not an invalid transition.
    values = [float(step) for step in steps]
    if not values or any(not 0 < value <= 100 for value in values) or sorted(set(values)) != values:
        raise ValueError(f"canary steps must be a non-empty, strictly increasing list within (0, 100], got {steps}")


def _planned(state: DeploymentState, action: str, steps: Sequence[float], version: str | None) -> _Planned:
    """Run the action's planner, or raise _Invalid saying why it is not allowed now."""
    if action not in _PLANNERS:
        raise _Invalid(f"unknown action; expected one of {', '.join(ACTIONS)}")
    interrupted = _interrupted(state)
    if interrupted is not None and action not in interrupted[1]:
        raise _Invalid(interrupted[0])
    return _PLANNERS[action](state, steps, version)


# -------------------------------------------------------------------------------------------- public API


def valid_actions(state: DeploymentState, steps: Sequence[float]) -> list[str]:
    """The actions `plan` accepts in this state, in `ACTIONS` order.

    An action that needs a version (``start_shadow``, the first ``promote``) counts as valid when some
    version would be accepted: the challenger, else any new version.
    """
    _check_steps(steps)
    valid = []
    for action in ACTIONS:
        probe: str | None = None
        if action == "start_shadow":
            probe = state.challenger if state.challenger not in (None, state.champion) else _ANY_VERSION
        elif action == "promote" and state.canary is None:
            probe = state.champion or state.challenger or _ANY_VERSION
        try:
            _planned(state, action, steps, probe)
        except _Invalid:
            continue
        valid.append(action)
    return valid


def plan(state: DeploymentState, action: str, *, steps: Sequence[float], version: str | None = None) -> Transition:
    """Plan `action` from `state`: the ordered registry moves and the state they lead to.

    `steps` are the spec's canary steps (percent). `version` is required by start_shadow and by the first
    promote; elsewhere it is optional and must match the version the action concerns. Planning again on
    the state a crash left part-way through the same action completes it (see the module docstring).
    Raises InvalidTransitionError, planning nothing, when the state does not allow the action.
    """
    _check_steps(steps)
    try:
        subject, moves, archived = _planned(state, action, steps, version)
    except _Invalid as invalid:
        raise InvalidTransitionError(action, state, str(invalid), valid_actions(state, steps), version) from None
    remaining = _without_done(state, moves)
    return Transition(
        action=action,
        version=subject,
        before=state,
        after=apply_moves(state, remaining),
        moves=remaining,
        archived=archived,
    )
