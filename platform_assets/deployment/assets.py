"""The `deployment` asset: each materialization applies one deployment action to the registry.

Its history is the audit log of what served when: every materialization records the action, the
version, the state before and after, the ordered registry moves, the reason and the evidence. A
person launches it from the UI with config (manual promote, rollback, approval of a challenger);
the shadow, canary and production-health sensors request it with their evidence. An action that is
invalid for the current state fails with a message and changes nothing; a version enters shadow only
after the pre-deployment integration test served it correctly over HTTP.
"""

import json

import dagster as dg
import pandas as pd
from pydantic import Field

from platform_assets.deployment.infra_validation import validate_for_serving
from platform_assets.deployment.registry import apply_transition, read_state
from platform_assets.deployment.state import ACTIONS, plan
from platform_assets.keys import DEPLOYMENT, REGISTERED_MODEL, TAG_REASON, TAG_TRIGGER, Stage, asset_key, group_name
from platform_assets.metadata import markdown_table
from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource, Severity
from resources.mlflow_registry import MlflowResource

__all__ = ["ROLLBACK_SEVERITY", "DeploymentConfig", "as_of", "build_deployment_assets"]


class DeploymentConfig(dg.Config):
    """One deployment action, as the launchpad or a sensor asks for it."""

    action: str = Field(description=f"one of {', '.join(ACTIONS)}")
    version: str | None = Field(default=None, description="the version concerned (required for start_shadow)")
    reason: str = Field(default="launched by hand", description="why, in words; recorded in the audit log")
    evidence: str = Field(default="{}", description="JSON evidence behind the decision (from a gate or a sensor)")
    as_of: str | None = Field(
        default=None,
        description="event time the decision was taken at (ISO, UTC; sensors set it from the prediction log); "
        "default: now. The canary's dwell at a step counts from it.",
    )


# A rollback pages: production's champion is the P1 of the seed; a canary rolled back is a P2.
ROLLBACK_SEVERITY: dict[str, Severity] = {"rollback_production": "P1", "rollback_canary": "P2"}


def as_of(config: DeploymentConfig) -> str:
    """The event time of the decision (ISO, UTC): the config's, or now."""
    try:
        stamp = pd.Timestamp(config.as_of) if config.as_of else pd.Timestamp.now(tz="UTC")
    except ValueError as error:
        raise dg.Failure(f"deployment config 'as_of' is not an ISO timestamp: {config.as_of!r} ({error})") from error
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).isoformat()


def build_deployment_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    model = spec.name
    steps = spec.deployment.canary.steps

    @dg.asset(
        key=asset_key(model, DEPLOYMENT),
        deps=[asset_key(model, REGISTERED_MODEL)],
        kinds={"mlflow"},
        group_name=group_name(model, Stage.DEPLOYMENT),
        owners=spec.owners,
        description=(
            f"What serves {model}: champion, previous champion, shadow and canary (with its traffic step "
            f"among {steps}). Each materialization applies one action (start_shadow, start_canary, "
            "advance_canary, promote, rollback_canary, rollback_production, reject) and records the state "
            "before and after, the reason and the evidence: its history is the audit log of what served when."
        ),
    )
    def deployment(
        context: dg.AssetExecutionContext, config: DeploymentConfig, mlflow: MlflowResource, alerts: AlertingResource
    ) -> dg.MaterializeResult:
        try:
            evidence = json.loads(config.evidence or "{}")
        except json.JSONDecodeError as error:
            raise dg.Failure(f"{model}: deployment config 'evidence' is not valid JSON ({error})") from error
        decided_at = as_of(config)  # before anything moves: a bad timestamp changes nothing
        before = read_state(mlflow, model)
        # An invalid action raises InvalidTransitionError here, before anything is touched.
        transition = plan(before, config.action, steps=steps, version=config.version)
        metadata: dict[str, dg.RawMetadataValue] = {}
        if config.action == "start_shadow":
            report = validate_for_serving(spec, mlflow, str(transition.version))
            metadata["integration test"] = dg.MetadataValue.json(report)
        after = apply_transition(mlflow, model, transition)
        if after != transition.after:
            raise dg.Failure(
                f"{model}: after {config.action} the registry holds {after.describe()} but the plan expected "
                f"{transition.after.describe()}; another process changed the roles meanwhile"
            )
        context.log.info(
            f"{model}: {config.action} {transition.version or ''}: {before.describe()} -> {after.describe()}"
        )
        if config.action in ROLLBACK_SEVERITY:
            alerts.send(
                severity=ROLLBACK_SEVERITY[config.action],
                model=model,
                title=f"automated {config.action} of version {transition.version}: {config.reason}",
                details={"before": before.to_dict(), "after": after.to_dict(), "evidence": evidence},
            )
        moves = pd.DataFrame([{"#": i + 1, "move": move.describe()} for i, move in enumerate(transition.moves)])
        metadata |= {
            "action": config.action,
            "version": transition.version or "none",
            "reason": config.reason,
            "as of": decided_at,
            "trigger": context.run.tags.get(TAG_TRIGGER, "manual"),
            "trigger reason": context.run.tags.get(TAG_REASON, config.reason),
            "champion": after.champion or "none",
            "canary": after.canary or "none",
            "canary weight": float(after.canary_weight),
            "shadow": after.shadow or "none",
            "before": dg.MetadataValue.json(before.to_dict()),
            "after": dg.MetadataValue.json(after.to_dict()),
            "moves": dg.MetadataValue.md(markdown_table(moves)),
            "archived": transition.archived or "none",
            "evidence": dg.MetadataValue.json(evidence),
        }
        return dg.MaterializeResult(metadata=metadata)

    return [deployment]
