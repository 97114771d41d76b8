"""The deployment state as the registry holds it: read it, and apply a planned transition to it.

Roles are aliases on the registered model; the canary's weight and step are model tags; a version's
fate (archived, rolled back, rejected) is a version tag. `apply_transition` performs the planned
moves one by one in the order `state.plan` chose, so that `champion` names a loadable version after
every single move; `on_move` lets a test stop the process between two moves.
"""

from __future__ import annotations

from collections.abc import Callable

from platform_assets.deployment.state import (
    TAG_CANARY_STEP,
    TAG_CANARY_WEIGHT,
    AliasMove,
    DeploymentState,
    Transition,
)
from platform_assets.keys import ALIAS_CANARY, ALIAS_CHALLENGER, ALIAS_CHAMPION, ALIAS_PREVIOUS_CHAMPION, ALIAS_SHADOW
from resources.mlflow_registry import MlflowResource

__all__ = ["apply_transition", "read_state"]


def read_state(mlflow: MlflowResource, model: str) -> DeploymentState:
    """The roles and canary settings the registry holds now (an empty state for an unknown model)."""
    from mlflow.exceptions import MlflowException  # mlflow is imported where used (see resources.mlflow_registry)

    client = mlflow.client()
    try:
        registered = client.get_registered_model(model)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return DeploymentState()
        raise
    aliases = {alias: str(version) for alias, version in (registered.aliases or {}).items()}
    tags = registered.tags or {}
    step = tags.get(TAG_CANARY_STEP)
    return DeploymentState(
        champion=aliases.get(ALIAS_CHAMPION),
        previous_champion=aliases.get(ALIAS_PREVIOUS_CHAMPION),
        challenger=aliases.get(ALIAS_CHALLENGER),
        shadow=aliases.get(ALIAS_SHADOW),
        canary=aliases.get(ALIAS_CANARY),
        canary_weight=float(tags.get(TAG_CANARY_WEIGHT, 0) or 0),
        canary_step=int(step) if step not in (None, "") else None,
    )


def _apply(mlflow: MlflowResource, model: str, move: AliasMove) -> None:
    from mlflow.exceptions import MlflowException

    client = mlflow.client()
    if move.kind == "set_alias":
        client.set_registered_model_alias(model, move.name, str(move.value))
    elif move.kind == "delete_alias":
        mlflow.delete_alias(model, move.name)
    elif move.kind == "set_model_tag":
        client.set_registered_model_tag(model, move.name, str(move.value))
    elif move.kind == "delete_model_tag":
        try:
            client.delete_registered_model_tag(model, move.name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    elif move.kind == "set_version_tag":
        client.set_model_version_tag(model, str(move.version), move.name, str(move.value))
    else:  # pragma: no cover - the planner only emits the kinds above
        raise ValueError(f"unknown registry move {move.kind!r}")


def apply_transition(
    mlflow: MlflowResource,
    model: str,
    transition: Transition,
    on_move: Callable[[int, AliasMove], None] | None = None,
) -> DeploymentState:
    """Perform the transition's moves in order and return the state the registry then holds."""
    for index, move in enumerate(transition.moves):
        _apply(mlflow, model, move)
        if on_move is not None:
            on_move(index, move)
    return read_state(mlflow, model)
