"""The continuous-training assets of one model: `training_set` and `candidate_model`.

`training_set` joins the spec's window of features with their delayed labels and splits it by time;
`candidate_model` searches LightGBM hyperparameters inside the spec's budget and logs the winner to
MLflow. Both carry a code version, so a change to the training code or the training section of the
spec retrains by itself (see `sensors.conditions.training_code_changed`).
"""

import datetime as dt
import hashlib
import inspect
from importlib.metadata import version

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import Field

from platform_assets.features.assets import feature_code_version
from platform_assets.keys import (
    CANDIDATE_MODEL,
    CURRENT,
    FEATURES,
    LABELS,
    TAG_TRIGGER,
    TRAINING_SET,
    Stage,
    asset_key,
    group_name,
)
from platform_assets.spec import ModelSpec
from platform_assets.training import dataset, train
from platform_assets.training.dataset import TrainingSetError, check_training_frame, split_by_time, window_days
from platform_assets.training.train import to_model_frame, train_candidate
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from sensors.conditions import candidate_needed, training_code_changed

__all__ = [
    "PIP_REQUIREMENTS",
    "SearchBudgetConfig",
    "TrainingWindowConfig",
    "build_training_assets",
    "labelled_days",
    "load_training_set",
]

# Pinned to what trained the model, so MLflow need not infer them (seconds in a subprocess). LightGBM's version comes
# from its distribution's metadata: importing it here would cost every process that loads the code location seconds.
PIP_REQUIREMENTS = [
    f"lightgbm=={version('lightgbm')}",
    f"numpy=={np.__version__}",
    f"pandas=={pd.__version__}",
]


class TrainingWindowConfig(dg.Config):
    """Overrides for a run launched by hand (the UI's launchpad)."""

    window_end: str | None = Field(
        default=None, description="last event day of the window (YYYY-MM-DD); default: the latest labelled day"
    )
    window_days: int | None = Field(default=None, ge=3, description="days in the window; default: the spec's")


class SearchBudgetConfig(dg.Config):
    """Overrides of the hyperparameter-search budget for a run launched by hand."""

    hpo_trials: int | None = Field(default=None, ge=1, description="default: the spec's training.hpo.trials")
    hpo_timeout_seconds: float | None = Field(default=None, gt=0, description="default: training.hpo.timeout_seconds")


def training_code_version(spec: ModelSpec) -> str:
    """Changes with the training code, the training section of the spec, or the features."""
    digest = hashlib.sha256()
    for module in (dataset, train):
        digest.update(inspect.getsource(module).encode())
    digest.update(spec.training.model_dump_json().encode())
    digest.update(feature_code_version(spec).encode())
    return digest.hexdigest()[:12]


def labelled_days(lake: LakeResource, model: str) -> list[str]:
    """Event days that have both features and labels in the lake, oldest first."""
    return sorted(set(lake.partitions(model, FEATURES)) & set(lake.partitions(model, LABELS)))


def _labelled_features(lake: LakeResource, spec: ModelSpec, days: list[str]) -> pa.Table:
    """The features of `days` joined with their labels, in DuckDB, ordered by event time and entity id.

    The order makes the training set, and so the model, the same on every run over the same data (a join's row
    order is otherwise up to DuckDB's threads). Arrow, not pandas: the splits are written from it as they are.
    """
    model, source = spec.name, spec.source
    entity = source.entity_id_column
    con = lake.connect()
    try:
        return con.sql(
            f'SELECT f.*, l."{source.label_column}" '
            f"FROM {lake.scan_sql(model, FEATURES, days)} AS f "
            f'JOIN {lake.scan_sql(model, LABELS, days)} AS l USING ("{entity}") '
            f'ORDER BY f."{source.event_time_column}", f."{entity}"'
        ).to_arrow_table()
    finally:
        con.close()


def _data_version(lake: LakeResource, spec: ModelSpec, days: list[str]) -> str:
    """A fingerprint of the training set's inputs: the bytes of every features and labels partition it joins.

    The same inputs give the same (ordered) training set, so this names it; hashing the files costs a fraction of
    hashing a million-row frame.
    """
    digest = hashlib.sha256(spec.source.label_column.encode())
    for name in (FEATURES, LABELS):
        for day in days:
            digest.update(f"{name}/{day}".encode())
            with lake.existing_partition_path(spec.name, name, day).open("rb") as data:
                digest.update(hashlib.file_digest(data, "sha256").digest())
    return digest.hexdigest()[:16]


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """A split as Arrow, without pandas' dtype metadata, so readers get the plain NumPy-backed dtypes."""
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)


def load_training_set(
    lake: LakeResource,
    spec: ModelSpec,
    splits: tuple[str, ...] = ("train", "validation", "test"),
    columns: list[str] | None = None,
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The current training set's pointer document and its `splits` (only `columns` of each, when given).

    Categorical features come back as pandas Categoricals.
    """
    pointer = lake.read_json(spec.name, TRAINING_SET, CURRENT)
    if pointer is None:
        raise dg.Failure(f"{spec.name}: no training set yet; materialize {spec.name}/{TRAINING_SET} first")
    tables = {
        split: lake.read_table(
            spec.name,
            TRAINING_SET,
            f"{pointer['version']}/{split}.parquet",
            columns=columns,
            categorical=spec.features.categorical,
        )
        for split in splits
    }
    return pointer, tables


def build_training_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    model = spec.name
    source, training = spec.source, spec.training
    code_version = training_code_version(spec)
    common = {
        "group_name": group_name(model, Stage.TRAINING),
        "owners": spec.owners,
        "code_version": code_version,
    }

    @dg.asset(
        key=asset_key(model, TRAINING_SET),
        deps=[asset_key(model, FEATURES), asset_key(model, LABELS)],
        automation_condition=training_code_changed(),
        kinds={"duckdb", "parquet"},
        description=(
            f"{model}'s training window ({training.window_days} days of features joined with their labels), "
            f"split by time: the most recent {training.test_days} labelled days are the test window, the "
            f"{training.validation_days} before them validation, the rest training. Never a random split."
        ),
        **common,
    )
    def training_set(
        context: dg.AssetExecutionContext, config: TrainingWindowConfig, lake: LakeResource
    ) -> dg.MaterializeResult:
        labelled = labelled_days(lake, model)
        if not labelled:
            raise TrainingSetError(
                f"{model}: no event day has both features and labels yet; land batches and wait "
                f"{source.label_delay_days} days for their labels"
            )
        end = dt.date.fromisoformat(config.window_end or labelled[-1])
        window = [day.isoformat() for day in window_days(end, config.window_days or training.window_days)]
        present = [day for day in window if day in labelled]
        if not present:
            raise TrainingSetError(f"{model}: no labelled day in the window {window[0]}..{window[-1]}")
        # A zero-copy pandas view of the Arrow result for the checks and the split.
        frame = _labelled_features(lake, spec, present).to_pandas(types_mapper=pd.ArrowDtype)
        check_training_frame(frame, features=spec.features.names, label=source.label_column, min_rows=training.min_rows)
        splits = split_by_time(
            frame,
            event_time=source.event_time_column,
            validation_days=training.validation_days,
            test_days=training.test_days,
            label=source.label_column,
        )
        version = _data_version(lake, spec, present)
        for name in ("train", "validation", "test"):
            lake.write_table(model, TRAINING_SET, f"{version}/{name}.parquet", _arrow(getattr(splits, name)))
        summary = splits.summary()
        lake.write_json(
            model,
            TRAINING_SET,
            CURRENT,
            {
                "version": version,
                "window": [window[0], window[-1]],
                "days": present,
                "missing_days": [day for day in window if day not in labelled],
                "summary": summary,
                "dagster_run_id": context.run.run_id,
            },
        )
        return dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                "data version": version,
                "window": f"{window[0]}..{window[-1]}",
                "labelled days": len(present),
                "missing days": ", ".join(day for day in window if day not in labelled) or "none",
                "dagster/row_count": len(frame),
                "splits": dg.MetadataValue.json(summary),
            },
        )

    @dg.asset(
        key=asset_key(model, CANDIDATE_MODEL),
        deps=[asset_key(model, TRAINING_SET)],
        automation_condition=candidate_needed(),
        kinds={"lightgbm", "optuna", "mlflow"},
        description=(
            f"A LightGBM candidate for {model}: Optuna searches {training.hpo.trials} trials (or "
            f"{training.hpo.timeout_seconds:.0f} s) with early stopping on the validation window; the winner "
            "is logged to MLflow with its signature, an input example and pinned requirements."
        ),
        **common,
    )
    def candidate_model(
        context: dg.AssetExecutionContext, config: SearchBudgetConfig, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        # Training needs neither the test split nor the ids and times.
        columns = [*spec.features.names, source.label_column]
        pointer, splits = load_training_set(lake, spec, splits=("train", "validation"), columns=columns)
        trials = config.hpo_trials or training.hpo.trials
        timeout = config.hpo_timeout_seconds or training.hpo.timeout_seconds
        tags = {
            "dagster_run_id": context.run.run_id,
            "training_data_version": pointer["version"],
            "code_version": code_version,
            TAG_TRIGGER: context.run.tags.get(TAG_TRIGGER, "manual"),
        }
        with mlflow.run(model, run_name=f"candidate-{context.run.run_id[:8]}", tags=tags) as active:
            trained = train_candidate(
                splits["train"],
                splits["validation"],
                features=spec.features.names,
                categorical=spec.features.categorical,
                label=source.label_column,
                base_params=training.params,
                trials=trials,
                timeout_seconds=timeout,
                seed=training.seed,
            )
            mlflow.log_params(trained.params)
            example = to_model_frame(
                splits["train"].head(5), spec.features.names, spec.features.categorical, trained.categories
            )
            metrics = {
                "validation_auc": trained.validation_auc,
                "best_iteration": trained.best_iteration,
                "trials": trained.trials,
                "search_seconds": trained.search_seconds,
            }
            info = mlflow.log_lightgbm(trained.booster, example, PIP_REQUIREMENTS, metrics)
        document = {
            "mlflow_run_id": active.info.run_id,
            "model_uri": info.model_uri,
            "training_set": pointer["version"],
            "window": pointer["window"],
            "days": pointer["days"],
            "validation_auc": trained.validation_auc,
            "params": {key: str(value) for key, value in trained.params.items()},
            "code_version": code_version,
            "dagster_run_id": context.run.run_id,
        }
        lake.write_json(model, CANDIDATE_MODEL, CURRENT, document)
        return dg.MaterializeResult(
            metadata={
                "validation_auc": trained.validation_auc,
                "best_iteration": trained.best_iteration,
                "trials": trained.trials,
                "search_seconds": trained.search_seconds,
                "mlflow run": active.info.run_id,
                "model uri": info.model_uri,
                "training set": pointer["version"],
                "params": dg.MetadataValue.json(document["params"]),
            }
        )

    return [training_set, candidate_model]
