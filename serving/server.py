"""Wiring of the prediction service to the real registry, lake and alert log, and running it under uvicorn.

Defines `build_service`, which loads a spec and assembles `serving.app.create_app` around a `serving.router.Router`
whose roles come from the MLflow registry (`serving.roles.read_roles`), whose versions are loaded as
`Scorer.from_booster(MlflowResource.load_booster(...))` (the one scoring path evaluation measured), whose
predictions go to the lake (`serving.prediction_log.PredictionLogWriter`) and whose alerts go to the alert log; and
`run`, which serves it with uvicorn (`mlplatform serve` calls it). uvicorn turns SIGTERM and SIGINT into a graceful
shutdown, which closes the router and so flushes the prediction log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from platform_assets.spec import ModelSpec, load_spec
from resources.alerting import AlertingResource
from resources.mlflow_registry import MlflowResource
from serving.app import create_app
from serving.prediction_log import PredictionLogWriter
from serving.roles import Roles, ServingDefaults, read_roles
from serving.router import Router
from serving.scoring import Scorer

__all__ = ["build_service", "registry_loader", "registry_roles", "run"]

_LOGGER = logging.getLogger(__name__)


def registry_loader(mlflow: MlflowResource, spec: ModelSpec) -> Callable[[str], Scorer]:
    """Loads a registered version of the spec's model as a `Scorer` over the spec's features."""

    def load(version: str) -> Scorer:
        model_version = mlflow.client().get_model_version(spec.name, version)
        booster = mlflow.load_booster(spec.name, model_version)
        # Refuses a booster trained on other features than the spec's, so a wrong version fails at load, not per
        # request.
        return Scorer.from_booster(booster, spec.features.names, spec.features.categorical)

    return load


def registry_roles(mlflow: MlflowResource, spec: ModelSpec) -> Callable[[], Roles]:
    """Reads the spec's model roles from the registry, with the spec's deployment defaults."""
    defaults = ServingDefaults.from_spec(spec)
    return lambda: read_roles(mlflow, spec.name, defaults)


def build_service(
    spec_path: str | Path,
    lake_root: str | Path = "var/lake",
    mlflow_root: str | Path = "var/mlflow",
    tracking_uri: str | None = None,
    alerts_log: str | Path = "var/alerts.jsonl",
) -> tuple[FastAPI, Router]:
    """The app and its router for the spec at `spec_path`.

    The registry is the embedded one under `mlflow_root` unless `tracking_uri` names another. The roles are read
    (and the versions loaded) once here, so the service is ready as soon as it listens if a champion exists.
    """
    spec = load_spec(spec_path)
    mlflow = MlflowResource(root=str(mlflow_root), tracking_uri=tracking_uri)
    alerts = AlertingResource(log_path=str(alerts_log))
    log = PredictionLogWriter.from_spec(spec, lake_root)
    router = Router(
        spec,
        loader=registry_loader(mlflow, spec),
        roles_source=registry_roles(mlflow, spec),
        log=log,
        alerts=alerts,
    )
    router.refresh()
    status = router.status()
    (_LOGGER.info if status.ready else _LOGGER.warning)("%s: %s", spec.name, status.reason)
    return create_app(spec, router, spec.deployment.serving.refresh_seconds), router


def run(
    spec_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    lake_root: str | Path = "var/lake",
    mlflow_root: str | Path = "var/mlflow",
    tracking_uri: str | None = None,
    alerts_log: str | Path = "var/alerts.jsonl",
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve the spec's model until SIGTERM or SIGINT. Binds to loopback unless `host` says otherwise; the access log
    is off by default because at hundreds of requests a second it costs more than the prediction."""
    import uvicorn  # here, so importing this module for build_service does not need the server

    app, router = build_service(spec_path, lake_root, mlflow_root, tracking_uri, alerts_log)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
    finally:
        router.close()  # already closed by the lifespan on a clean stop; this covers a failed start (port in use)
