"""MLflow: experiment tracking and the model registry, as one thin `ConfigurableResource`.

Embedded by default: a SQLite database and a local artifact store under `var/mlflow`; point
`tracking_uri` at a tracking server to share a registry. Model roles are registry aliases
(`challenger`, `shadow`, `canary`, `champion`, `previous_champion`), never the deprecated stages.

dagster-mlflow's `mlflow_tracking` is an old-style resource (injected through
`required_resource_keys`) whose MLflow run is only ended by a job hook, so under `dg.materialize`
it stays RUNNING. `run()` below is a context manager instead: the MLflow run ends FINISHED when the
block completes and FAILED when it raises, however the asset is executed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

if TYPE_CHECKING:
    # Imported where used: mlflow takes seconds to import, and every process that loads the code location (each
    # run, the code server, the CLI) would pay it whether or not it touches the registry.
    import mlflow
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models.model import ModelInfo
    from mlflow.tracking import MlflowClient

__all__ = ["MlflowResource", "RegistryError"]


# (tracking URI, model) -> experiment id, for `MlflowResource.experiment_id`.
_EXPERIMENT_IDS: dict[tuple[str, str], str] = {}


class RegistryError(RuntimeError):
    """The registry holds something the platform cannot use (a missing or corrupt version)."""


class MlflowResource(dg.ConfigurableResource):
    """Tracking and registry; embedded SQLite under `root` unless `tracking_uri` is given."""

    root: str = "var/mlflow"
    tracking_uri: str | None = None

    # ----------------------------------------------------------------------------------- connection

    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        root = Path(self.root).absolute()
        root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{root / 'mlflow.db'}"

    def client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        uri = self.resolved_tracking_uri()
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def _activate(self) -> None:
        # The fluent API (start_run, log_model) reads process-wide settings; set them on every use so
        # several resources (tests, simulations) can live in one process one after the other.
        import mlflow

        uri = self.resolved_tracking_uri()
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)

    def experiment_id(self, model: str) -> str:
        """The model's experiment, created with its artifacts under `root` on first use.

        Remembered per tracking URI for the life of the process (the platform never deletes an experiment), which
        spares every run a registry round trip.
        """
        uri = self.resolved_tracking_uri()
        known = _EXPERIMENT_IDS.get((uri, model))
        if known is not None:
            return known
        client = self.client()
        experiment = client.get_experiment_by_name(model)
        if experiment is not None:
            identifier = experiment.experiment_id
        else:
            location = None if self.tracking_uri else (Path(self.root).absolute() / "artifacts" / model).as_uri()
            identifier = client.create_experiment(model, artifact_location=location)
        _EXPERIMENT_IDS[(uri, model)] = identifier
        return identifier

    @contextlib.contextmanager
    def run(self, model: str, run_name: str, tags: dict[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
        """An MLflow run that ends FINISHED, or FAILED if the block raises."""
        import mlflow

        self._activate()
        experiment_id = self.experiment_id(model)
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags or {}) as active:
            yield active

    def log_params(self, params: dict[str, Any]) -> None:
        """Log params to the active run (inside `run()`), before the model, so the logged model carries them."""
        import mlflow

        mlflow.log_params({key: str(value) for key, value in params.items()})

    def log_lightgbm(
        self,
        booster: Any,
        input_example: pd.DataFrame,
        pip_requirements: list[str],
        metrics: dict[str, float] | None = None,
    ) -> ModelInfo:
        """Log a LightGBM booster to the active run with its signature and an input example, then `metrics`,
        linked to both the run and the logged model in one batch.

        Explicit pip requirements spare MLflow its requirement inference (seconds in a subprocess). Metrics are
        logged after the model, with its id: logged before, MLflow would read the run's whole metric history back
        to link it to the model (several SQLite round trips per metric).
        The serving input is not validated through MLflow's pyfunc server: its JSON round trip turns
        categorical columns into plain strings, which a booster trained on pandas categories refuses.
        The platform serves boosters through `serving.scoring.Scorer`, which encodes categoricals
        with the categories saved in the model, and the pre-deployment integration test checks that.
        """
        import mlflow
        from mlflow.models import infer_signature

        signature = infer_signature(input_example, booster.predict(input_example))
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            validate_serving_input=False,
        )
        if metrics:
            mlflow.log_metrics({key: float(value) for key, value in metrics.items()}, model_id=info.model_id)
        return info

    def load_booster_uri(self, model_uri: str) -> Any:
        import mlflow

        self._activate()
        return mlflow.lightgbm.load_model(model_uri)

    def local_model_file(self, model_uri: str) -> Path:
        """The LightGBM model file of a logged model, as a local path (downloaded if remote)."""
        import mlflow

        self._activate()
        directory = Path(mlflow.artifacts.download_artifacts(model_uri))
        files = sorted(directory.rglob("model.lgb"))
        if not files:
            raise RegistryError(f"{model_uri} holds no LightGBM model file (looked in {directory})")
        return files[0]

    # -------------------------------------------------------------------------------------- registry

    def register(self, model: str, model_uri: str, tags: dict[str, str]) -> ModelVersion:
        """Register a logged model as a new version of `model`, with lineage tags."""
        from mlflow.exceptions import MlflowException

        self._activate()
        client = self.client()
        try:
            return client.create_model_version(model, source=model_uri, tags=tags)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        # The model's first version: its registered model does not exist yet.
        client.create_registered_model(model)
        return client.create_model_version(model, source=model_uri, tags=tags)

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(model, alias, version)

    def delete_alias(self, model: str, alias: str) -> None:
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):
            self.client().delete_registered_model_alias(model, alias)

    def version_by_alias(self, model: str, alias: str) -> ModelVersion | None:
        """The version behind an alias, or None when the alias (or the model) does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(model, alias)
        except MlflowException as error:
            # MLflow reports a missing model as RESOURCE_DOES_NOT_EXIST and a missing alias as
            # INVALID_PARAMETER_VALUE "... alias ... not found"; anything else is a real failure.
            missing_model = error.error_code == "RESOURCE_DOES_NOT_EXIST"
            missing_alias = error.error_code == "INVALID_PARAMETER_VALUE" and "not found" in error.message
            if missing_model or missing_alias:
                return None
            raise

    def load_booster(self, model: str, version: ModelVersion) -> Any:
        """Load a registered version's LightGBM booster; a broken entry raises RegistryError."""
        import mlflow

        self._activate()
        try:
            return mlflow.lightgbm.load_model(f"models:/{model}/{version.version}")
        except Exception as error:
            raise RegistryError(
                f"{model} version {version.version} (source {version.source}) cannot be loaded: {error}"
            ) from error
