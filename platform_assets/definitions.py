"""The single entry point of the code location: one set of definitions per model spec.

`dagster dev` loads `defs`, which reads every spec under `specs/` when Dagster loads the location
(not at import), builds each model's assets, checks, schedules and sensors under its own key
prefix, and binds the resources. Tests call `build_definitions` with their own specs and resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from platform_assets.data.assets import build_data_assets
from platform_assets.deployment.assets import build_deployment_assets
from platform_assets.evaluation.assets import build_evaluation_assets
from platform_assets.features.assets import build_feature_assets
from platform_assets.monitoring.assets import build_monitoring_assets
from platform_assets.registry.assets import build_registry_assets
from platform_assets.spec import ModelSpec, load_specs
from platform_assets.training.assets import build_training_assets
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from sensors import build_triggers

__all__ = ["build_definitions", "build_model_definitions", "default_resources", "defs"]


def default_resources() -> dict[str, Any]:
    """Embedded defaults: everything under `var/` in the working directory."""
    return {
        "lake": LakeResource(root="var/lake"),
        "source": DataSourceResource(),
        "mlflow": MlflowResource(root="var/mlflow"),
        "alerts": AlertingResource(log_path="var/alerts.jsonl"),
    }


def build_model_definitions(spec: ModelSpec) -> dg.Definitions:
    """Everything one model needs, keyed under its name."""
    assets = [
        *build_data_assets(spec),
        *build_feature_assets(spec),
        *build_training_assets(spec),
        *build_evaluation_assets(spec),
        *build_registry_assets(spec),
        *build_deployment_assets(spec),
        *build_monitoring_assets(spec),
    ]
    return dg.Definitions.merge(dg.Definitions(assets=assets), build_triggers(spec))


def build_definitions(specs: Sequence[ModelSpec], resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    # Steps run in the run's own process: the default executor starts one more process per step, each importing the
    # whole code location again, which costs more than most of the platform's steps.
    return dg.Definitions.merge(
        *(build_model_definitions(spec) for spec in specs),
        dg.Definitions(
            resources=dict(resources) if resources is not None else default_resources(),
            executor=dg.in_process_executor,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_specs())
