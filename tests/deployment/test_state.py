"""The deployment state machine: each transition's moves, invalid actions, crash safety and resume."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from platform_assets.deployment.state import (
    ACTIONS,
    AliasMove,
    DeploymentState,
    InvalidTransitionError,
    Transition,
    apply_moves,
    plan,
    valid_actions,
)

pytestmark = pytest.mark.unit

STEPS = (5.0, 15.0, 30.0, 100.0)

EMPTY = DeploymentState()
FIRST_CHALLENGER = DeploymentState(challenger="1")
STEADY = DeploymentState(champion="3", previous_champion="2", challenger="5")
SHADOWING = replace(STEADY, shadow="5")
CANARY = [replace(STEADY, canary="5", canary_weight=weight, canary_step=step) for step, weight in enumerate(STEPS)]

# Realistic states the sweep below plans every action from (with every version below).
STATES = {
    "empty": EMPTY,
    "first_challenger": FIRST_CHALLENGER,
    "steady": STEADY,
    "steady_no_previous": DeploymentState(champion="3", challenger="5"),
    "champion_only": DeploymentState(champion="3"),
    "shadowing": SHADOWING,
    "shadow_with_newer_challenger": replace(SHADOWING, challenger="6"),
    **{f"canary_step_{step}": state for step, state in enumerate(CANARY)},
    "canary_with_newer_challenger": replace(CANARY[1], challenger="6"),
    "canary_no_previous": DeploymentState(champion="3", challenger="5", canary="5", canary_weight=30.0, canary_step=2),
    "canary_of_previous_champion": DeploymentState(
        champion="3", previous_champion="2", canary="2", canary_weight=5.0, canary_step=0
    ),
}
VERSIONS = (None, "1", "2", "3", "5", "6", "9")


def _set(alias: str, version: str) -> AliasMove:
    return AliasMove("set_alias", alias, version)


def _delete(alias: str) -> AliasMove:
    return AliasMove("delete_alias", alias)


def _tag(name: str, value: str) -> AliasMove:
    return AliasMove("set_model_tag", name, value)


def _status(version: str, status: str) -> AliasMove:
    return AliasMove("set_version_tag", "deployment_status", status, version)


RESET_CANARY = [_tag("canary_weight", "0.0"), AliasMove("delete_model_tag", "canary_step")]


def _tracked(moves: tuple[AliasMove, ...] | list[AliasMove]) -> list[AliasMove]:
    """The moves whose effect shows in a DeploymentState."""
    return [
        move
        for move in moves
        if move.kind in ("set_alias", "delete_alias") or move.name in ("canary_weight", "canary_step")
    ]


def _untracked(moves: tuple[AliasMove, ...] | list[AliasMove]) -> set[AliasMove]:
    return set(moves) - set(_tracked(moves))


def _valid_transitions() -> list[tuple[str, str, str | None, Transition]]:
    """Every (state, action, version) of the sweep that plans, with its transition."""
    found = []
    for name, state in STATES.items():
        for action in ACTIONS:
            for version in VERSIONS:
                try:
                    transition = plan(state, action, steps=STEPS, version=version)
                except InvalidTransitionError:
                    continue
                found.append((name, action, version, transition))
    return found


VALID = _valid_transitions()
VALID_IDS = [f"{name}-{action}-{version}" for name, action, version, _ in VALID]


# ------------------------------------------------------------------------------------------ transitions


@pytest.mark.parametrize(
    ("before", "action", "version", "moves", "after", "archived"),
    [
        pytest.param(
            STEADY,
            "start_shadow",
            "5",
            [_tag("shadow_started_version", "5"), _set("shadow", "5")],
            SHADOWING,
            None,
            id="start_shadow",
        ),
        pytest.param(
            SHADOWING,
            "start_canary",
            None,
            [_set("canary", "5"), _tag("canary_weight", "5.0"), _tag("canary_step", "0"), _delete("shadow")],
            CANARY[0],
            None,
            id="start_canary",
        ),
        pytest.param(
            CANARY[0],
            "advance_canary",
            None,
            [_tag("canary_weight", "15.0"), _tag("canary_step", "1")],
            CANARY[1],
            None,
            id="advance_canary_first",
        ),
        pytest.param(
            CANARY[2],
            "advance_canary",
            "5",
            [_tag("canary_weight", "100.0"), _tag("canary_step", "3")],
            CANARY[3],
            None,
            id="advance_canary_to_full",
        ),
        pytest.param(
            CANARY[3],
            "promote",
            None,
            [
                _status("2", "archived"),
                _set("previous_champion", "3"),
                _set("champion", "5"),
                *RESET_CANARY,
                _delete("challenger"),
                _delete("canary"),
            ],
            DeploymentState(champion="5", previous_champion="3"),
            "2",
            id="promote",
        ),
        pytest.param(
            CANARY[1],
            "promote",
            "5",
            [
                _status("2", "archived"),
                _set("previous_champion", "3"),
                _set("champion", "5"),
                *RESET_CANARY,
                _delete("challenger"),
                _delete("canary"),
            ],
            DeploymentState(champion="5", previous_champion="3"),
            "2",
            id="promote_from_a_middle_step",
        ),
        pytest.param(
            STATES["canary_no_previous"],
            "promote",
            None,
            [
                _set("previous_champion", "3"),
                _set("champion", "5"),
                *RESET_CANARY,
                _delete("challenger"),
                _delete("canary"),
            ],
            DeploymentState(champion="5", previous_champion="3"),
            None,
            id="promote_nothing_to_archive",
        ),
        pytest.param(
            STATES["canary_with_newer_challenger"],
            "promote",
            None,
            [
                _status("2", "archived"),
                _set("previous_champion", "3"),
                _set("champion", "5"),
                *RESET_CANARY,
                _delete("canary"),
            ],
            DeploymentState(champion="5", previous_champion="3", challenger="6"),
            "2",
            id="promote_keeps_a_newer_challenger",
        ),
        pytest.param(
            STATES["canary_of_previous_champion"],
            "promote",
            None,
            [_set("previous_champion", "3"), _set("champion", "2"), *RESET_CANARY, _delete("canary")],
            DeploymentState(champion="2", previous_champion="3"),
            None,
            id="promote_previous_champion_is_not_archived",
        ),
        pytest.param(
            FIRST_CHALLENGER,
            "promote",
            "1",
            [_set("champion", "1"), _delete("challenger")],
            DeploymentState(champion="1"),
            None,
            id="first_deployment",
        ),
        pytest.param(
            EMPTY,
            "promote",
            "1",
            [_set("champion", "1")],
            DeploymentState(champion="1"),
            None,
            id="first_deployment_bare",
        ),
        pytest.param(
            CANARY[1],
            "rollback_canary",
            None,
            [_status("5", "rolled_back"), *RESET_CANARY, _delete("challenger"), _delete("canary")],
            DeploymentState(champion="3", previous_champion="2"),
            None,
            id="rollback_canary",
        ),
        pytest.param(
            STEADY,
            "rollback_production",
            None,
            [_status("3", "rolled_back"), _set("champion", "2"), _delete("previous_champion")],
            DeploymentState(champion="2", challenger="5"),
            None,
            id="rollback_production",
        ),
        pytest.param(
            CANARY[1],
            "rollback_production",
            "3",
            [_status("3", "rolled_back"), _set("champion", "2"), _delete("previous_champion")],
            replace(CANARY[1], champion="2", previous_champion=None),
            None,
            id="rollback_production_leaves_the_canary",
        ),
        pytest.param(
            SHADOWING,
            "reject",
            None,
            [_status("5", "rejected"), _delete("shadow"), _delete("challenger")],
            DeploymentState(champion="3", previous_champion="2"),
            None,
            id="reject_shadow",
        ),
        pytest.param(
            STATES["shadow_with_newer_challenger"],
            "reject",
            None,
            [_status("5", "rejected"), _delete("shadow")],
            DeploymentState(champion="3", previous_champion="2", challenger="6"),
            None,
            id="reject_shadow_keeps_newer_challenger",
        ),
        pytest.param(
            STEADY,
            "reject",
            None,
            [_status("5", "rejected"), _delete("challenger")],
            DeploymentState(champion="3", previous_champion="2"),
            None,
            id="reject_challenger",
        ),
    ],
)
def test_valid_transition(
    before: DeploymentState,
    action: str,
    version: str | None,
    moves: list[AliasMove],
    after: DeploymentState,
    archived: str | None,
) -> None:
    transition = plan(before, action, steps=STEPS, version=version)
    assert transition.action == action
    assert transition.before == before
    assert list(transition.moves) == moves
    assert transition.after == after
    assert apply_moves(before, transition.moves) == after
    assert transition.archived == archived


def test_transition_names_its_version() -> None:
    assert plan(CANARY[3], "promote", steps=STEPS).version == "5"
    assert plan(STEADY, "rollback_production", steps=STEPS).version == "3"
    assert plan(SHADOWING, "reject", steps=STEPS).version == "5"


@pytest.mark.parametrize(
    ("state", "action", "version", "why"),
    [
        pytest.param(SHADOWING, "start_shadow", "6", "version 5 is already in shadow", id="shadow_running"),
        pytest.param(CANARY[0], "start_shadow", "6", "a canary (version 5) is running", id="canary_running"),
        pytest.param(STEADY, "start_shadow", None, "needs the version to shadow", id="shadow_without_version"),
        pytest.param(STEADY, "start_shadow", "3", "version 3 is the champion", id="shadow_the_champion"),
        pytest.param(FIRST_CHALLENGER, "start_shadow", "1", "no champion to shadow", id="shadow_without_champion"),
        pytest.param(STEADY, "start_canary", None, "no shadow", id="canary_without_shadow"),
        pytest.param(SHADOWING, "start_canary", "7", "version 7 is not the shadow", id="canary_wrong_version"),
        pytest.param(STEADY, "advance_canary", None, "no canary to advance", id="advance_without_canary"),
        pytest.param(CANARY[3], "advance_canary", None, "at the last step", id="advance_past_the_end"),
        pytest.param(STEADY, "promote", None, "no canary to promote", id="promote_without_canary"),
        pytest.param(CANARY[1], "promote", "9", "version 9 is not the canary", id="promote_wrong_version"),
        pytest.param(EMPTY, "promote", None, "first deployment needs the version", id="first_without_version"),
        pytest.param(STEADY, "rollback_canary", None, "no canary to roll back", id="rollback_without_canary"),
        pytest.param(CANARY[1], "rollback_canary", "3", "version 3 is not the canary", id="rollback_wrong_canary"),
        pytest.param(EMPTY, "rollback_production", None, "no champion", id="rollback_without_champion"),
        pytest.param(
            DeploymentState(champion="3"),
            "rollback_production",
            None,
            "no previous champion",
            id="nothing_to_return_to",
        ),
        pytest.param(STEADY, "rollback_production", "2", "version 2 is not the champion", id="rollback_wrong_champion"),
        pytest.param(
            DeploymentState(champion="3"), "reject", None, "neither a shadow nor a challenger", id="reject_none"
        ),
        pytest.param(CANARY[1], "reject", None, "running canary", id="reject_the_canary"),
        pytest.param(STEADY, "reject", "9", "neither the shadow", id="reject_unknown_version"),
        pytest.param(STEADY, "deploy", None, "unknown action", id="unknown_action"),
        pytest.param(
            replace(CANARY[0], shadow="5"), "rollback_canary", None, "start_canary was interrupted", id="interrupted"
        ),
    ],
)
def test_invalid_transition_raises_with_a_clear_message(
    state: DeploymentState, action: str, version: str | None, why: str
) -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        plan(state, action, steps=STEPS, version=version)
    error = caught.value
    message = str(error)
    assert message.startswith(f"cannot {action}")
    assert why in message
    assert state.describe() in message
    assert error.action == action
    assert error.state == state
    assert error.valid == tuple(valid_actions(state, STEPS))
    assert f"Valid now: {', '.join(error.valid) or 'none'}." in message


def test_bad_steps_are_a_value_error_not_a_transition_error() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        plan(SHADOWING, "start_canary", steps=[50, 10])
    with pytest.raises(ValueError, match="non-empty"):
        valid_actions(STEADY, [])


# ---------------------------------------------------------------------------------- crash-safety sweep


def test_the_sweep_covers_every_action() -> None:
    assert {action for _, action, _, _ in VALID} == set(ACTIONS)
    assert len(VALID) > 40


@pytest.mark.parametrize(("name", "action", "version", "transition"), VALID, ids=VALID_IDS)
def test_champion_stays_valid_at_every_prefix(
    name: str, action: str, version: str | None, transition: Transition
) -> None:
    before, after = transition.before, transition.after
    for k in range(len(transition.moves) + 1):
        champion = apply_moves(before, transition.moves[:k]).champion
        assert champion in (before.champion, after.champion), f"prefix {k}"
        if before.champion is not None:
            assert champion is not None, f"prefix {k} leaves no champion"
    assert apply_moves(before, transition.moves) == after


@pytest.mark.parametrize(("name", "action", "version", "transition"), VALID, ids=VALID_IDS)
def test_planning_again_after_a_crash_completes_the_same_transition(
    name: str, action: str, version: str | None, transition: Transition
) -> None:
    for k in range(len(transition.moves)):
        done = transition.moves[:k]
        partial = apply_moves(transition.before, done)
        resumed = plan(partial, action, steps=STEPS, version=version)
        assert resumed.after == transition.after, f"prefix {k}"
        # Nothing that shows in the state is done twice or left undone; version tags may be written again.
        assert _tracked(list(done) + list(resumed.moves)) == _tracked(transition.moves), f"prefix {k}"
        assert _untracked(transition.moves) <= _untracked(list(done) + list(resumed.moves)), f"prefix {k}"
        for j in range(len(resumed.moves) + 1):
            champion = apply_moves(partial, resumed.moves[:j]).champion
            assert champion in (transition.before.champion, transition.after.champion)
        if action == "promote":
            assert _set("previous_champion", transition.after.champion or "") not in resumed.moves


# A finished advance is indistinguishable from a request for the next step (documented), so it is left out.
@pytest.mark.parametrize(
    ("name", "action", "version", "transition"),
    [case for case in VALID if case[1] != "advance_canary"],
    ids=[case_id for case_id, case in zip(VALID_IDS, VALID, strict=True) if case[1] != "advance_canary"],
)
def test_a_completed_transition_is_not_done_twice(
    name: str, action: str, version: str | None, transition: Transition
) -> None:
    try:
        again = plan(transition.after, action, steps=STEPS, version=transition.version)
    except InvalidTransitionError:
        return
    assert _tracked(again.moves) == []


def test_promote_resumed_after_the_champion_moved_only_cleans_up() -> None:
    transition = plan(CANARY[3], "promote", steps=STEPS)
    champion_moved = transition.moves.index(_set("champion", "5")) + 1
    partial = apply_moves(CANARY[3], transition.moves[:champion_moved])
    assert partial.champion == partial.canary == "5"
    assert partial.previous_champion == "3"
    resumed = plan(partial, "promote", steps=STEPS)
    assert list(resumed.moves) == [*RESET_CANARY, _delete("challenger"), _delete("canary")]
    assert resumed.after == DeploymentState(champion="5", previous_champion="3")
    assert resumed.archived is None
    # Only finishing the promote is allowed in that state.
    assert valid_actions(partial, STEPS) == ["promote"]


def test_interrupted_start_canary_allows_only_finishing_it() -> None:
    transition = plan(SHADOWING, "start_canary", steps=STEPS)
    partial = apply_moves(SHADOWING, transition.moves[:1])
    assert partial.shadow == partial.canary == "5"
    assert valid_actions(partial, STEPS) == ["start_canary"]


# -------------------------------------------------------------------------------------------- lifecycle


def test_archived_version_on_the_second_promotion() -> None:
    """Three versions in turn: the third promotion archives the first version, the one it displaces."""
    state = plan(FIRST_CHALLENGER, "promote", steps=STEPS, version="1").after
    archived = []
    for version in ("2", "3"):
        state = replace(state, challenger=version)  # registration sets the challenger alias
        state = plan(state, "start_shadow", steps=STEPS, version=version).after
        state = plan(state, "start_canary", steps=STEPS).after
        for _ in STEPS[1:]:
            state = plan(state, "advance_canary", steps=STEPS).after
        assert valid_actions(state, STEPS)[:2] == ["promote", "rollback_canary"]
        promotion = plan(state, "promote", steps=STEPS)
        archived.append(promotion.archived)
        state = promotion.after
    assert archived == [None, "1"]
    assert _status("1", "archived") in promotion.moves
    assert state == DeploymentState(champion="3", previous_champion="2")
    # Production rollback returns to version 2 and tags 3; a second one has nowhere to go.
    rollback = plan(state, "rollback_production", steps=STEPS)
    assert rollback.after == DeploymentState(champion="2")
    assert _status("3", "rolled_back") in rollback.moves
    assert "rollback_production" not in valid_actions(rollback.after, STEPS)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (EMPTY, ["promote"]),
        (FIRST_CHALLENGER, ["promote", "reject"]),
        (STEADY, ["start_shadow", "rollback_production", "reject"]),
        (DeploymentState(champion="3"), ["start_shadow"]),
        (SHADOWING, ["start_canary", "rollback_production", "reject"]),
        (CANARY[0], ["advance_canary", "promote", "rollback_canary", "rollback_production"]),
        (CANARY[3], ["promote", "rollback_canary", "rollback_production"]),
        (
            STATES["canary_with_newer_challenger"],
            ["advance_canary", "promote", "rollback_canary", "rollback_production", "reject"],
        ),
    ],
)
def test_valid_actions(state: DeploymentState, expected: list[str]) -> None:
    assert valid_actions(state, STEPS) == expected


@pytest.mark.parametrize("name", list(STATES))
def test_valid_actions_agree_with_plan(name: str) -> None:
    state = STATES[name]
    valid = valid_actions(state, STEPS)
    for action in ACTIONS:
        plannable = False
        for version in VERSIONS:
            try:
                plan(state, action, steps=STEPS, version=version)
            except InvalidTransitionError:
                continue
            plannable = True
        assert plannable == (action in valid), action


# ---------------------------------------------------------------------------------------------- records


def test_state_round_trips_and_reads_registry_values() -> None:
    for state in STATES.values():
        assert DeploymentState.from_dict(state.to_dict()) == state
        assert DeploymentState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    raw = {"champion": 3, "canary": "5", "canary_weight": "15.0", "canary_step": "1"}
    assert DeploymentState.from_dict(raw) == DeploymentState(
        champion="3", canary="5", canary_weight=15.0, canary_step=1
    )
    with pytest.raises(ValueError, match="unknown deployment state keys"):
        DeploymentState.from_dict({"champoin": "3"})
    with pytest.raises(ValueError, match="percentage"):
        DeploymentState(canary_weight=150.0)


def test_transition_to_dict_is_json() -> None:
    record = plan(CANARY[3], "promote", steps=STEPS).to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["archived"] == "2"
    assert record["after"]["champion"] == "5"
    assert record["moves"][0]["description"] == "set tag deployment_status=archived on version 2"


def test_move_descriptions_and_validation() -> None:
    assert _set("champion", "5").describe() == "set alias champion -> version 5"
    assert _delete("canary").describe() == "delete alias canary"
    assert _tag("canary_weight", "5.0").describe() == "set model tag canary_weight=5.0"
    assert AliasMove("delete_model_tag", "canary_step").describe() == "delete model tag canary_step"
    with pytest.raises(ValueError, match="needs a value"):
        AliasMove("set_alias", "champion")
    with pytest.raises(ValueError, match="needs a version"):
        AliasMove("set_version_tag", "deployment_status", "archived")
    with pytest.raises(ValueError, match="unknown alias"):
        apply_moves(EMPTY, [_set("king", "1")])
