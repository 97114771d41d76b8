"""The model spec: one YAML file per model, validated by pydantic.

A spec declares everything the platform needs to run one model's lifecycle: where batches come from,
the schema and validation rules that guard the door, the feature definition, the training window and
search budget, the quality gate, and the automation cadence. `platform_assets.definitions` builds one
set of assets, checks, sensors and schedules per spec, keyed under `spec.name`.

A bad spec fails loading with one `SpecError` whose message names the file, the field and what is
expected, so `mlplatform validate-spec FILE` can print it as it is.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from resources.synthetic_deliveries import CORRUPTIONS, SCENARIO_KINDS, ScenarioWindow

__all__ = [
    "DEFAULT_SPECS_DIR",
    "METRIC_BOUNDS",
    "REPLAYABLE_SOURCES",
    "DemoSpec",
    "FeatureColumn",
    "ModelSpec",
    "SpecError",
    "load_spec",
    "load_specs",
    "resolve_import",
]

DEFAULT_SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"

# Metrics the evaluation suite produces, with the range a threshold on each may take.
METRIC_BOUNDS: dict[str, tuple[float, float]] = {
    "auc_roc": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "log_loss": (0.0, float("inf")),
    "brier": (0.0, 1.0),
    "calibration_ece": (0.0, 1.0),
    "p99_latency_ms": (0.0, float("inf")),
    "peak_memory_mb": (0.0, float("inf")),
}

FeatureDtype = Literal["float", "int", "str", "bool"]
_PANDERA_DTYPES: dict[str, Any] = {"float": float, "int": int, "str": str, "bool": bool}
_CRON = re.compile(r"^\S+ \S+ \S+ \S+ \S+$")


class SpecError(ValueError):
    """A model spec that cannot be used; the message names the file, the field and the fix."""


def resolve_import(path: str) -> Any:
    """Resolve `package.module:attribute` to the object it names, or raise ValueError saying why."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected an import path of the form 'package.module:name', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} ({exc})") from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from exc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------- source


class ScenarioSpec(_Strict):
    """A stretch of event dates during which the synthetic feed injects a production problem."""

    kind: Literal[SCENARIO_KINDS]  # type: ignore[valid-type]
    start: dt.date
    end: dt.date | None = None
    corruptions: list[Literal[CORRUPTIONS]] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _window(self) -> ScenarioSpec:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.kind == "gradual_drift" and self.end is None:
            raise ValueError("a gradual_drift scenario needs an end date (the day the drift is complete)")
        if self.corruptions is not None and self.kind != "corrupt_batch":
            raise ValueError("corruptions only apply to a corrupt_batch scenario")
        return self

    def window(self) -> ScenarioWindow:
        extra = {"corruptions": tuple(self.corruptions)} if self.corruptions is not None else {}
        return ScenarioWindow(kind=self.kind, start=self.start, end=self.end, **extra)


class SyntheticSourceSpec(_Strict):
    """The synthetic delivery feed: deterministic for a seed and a date."""

    seed: int = 7
    rows_per_day: int = Field(default=5_000, gt=0, le=10_000_000)
    scenarios: list[ScenarioSpec] = Field(default_factory=list)


class FilesSourceSpec(_Strict):
    """A user's own data: Parquet or CSV files matched by globs, split into days by a date column."""

    paths: list[str] = Field(min_length=1, description="globs, relative to the spec file or absolute")
    format: Literal["parquet", "csv"] = "parquet"


class SourceSpec(_Strict):
    kind: Literal["synthetic_deliveries", "files"]
    start_date: dt.date
    event_time_column: str = "event_time"
    entity_id_column: str = "tracking_id"
    label_column: str = "is_delayed"
    outcome_columns: list[str] = Field(
        default_factory=list, description="further outcome columns that arrive with the label"
    )
    label_delay_days: int = Field(default=2, ge=0, le=365)
    synthetic: SyntheticSourceSpec | None = None
    files: FilesSourceSpec | None = None

    @model_validator(mode="after")
    def _kind_settings(self) -> SourceSpec:
        if self.kind == "synthetic_deliveries":
            if self.files is not None:
                raise ValueError("a synthetic_deliveries source takes no 'files' section")
            if self.synthetic is None:
                object.__setattr__(self, "synthetic", SyntheticSourceSpec())
        if self.kind == "files":
            if self.files is None:
                raise ValueError("a files source needs a 'files' section with 'paths'")
            if self.synthetic is not None:
                raise ValueError("a files source takes no 'synthetic' section")
        return self

    @property
    def label_columns(self) -> list[str]:
        return [self.label_column, *self.outcome_columns]


# ---------------------------------------------------------------------------------------------- schema


class RangeRule(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("a range needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class ShiftRule(_Strict):
    """Flag a batch whose column mean lies more than `max_std` reference standard deviations away."""

    columns: list[str] = Field(default_factory=list)
    max_std: float = Field(default=3.0, gt=0)


class ValidationRules(_Strict):
    """The data-validation stage of CI, one family per asset check."""

    not_null: list[str] = Field(default_factory=list)
    ranges: dict[str, RangeRule] = Field(default_factory=dict)
    allowed: dict[str, list[str | int]] = Field(default_factory=dict)
    unique: list[str] = Field(default_factory=list)
    max_null_fraction: dict[str, float] = Field(default_factory=dict)
    shift: ShiftRule = Field(default_factory=ShiftRule)

    @field_validator("max_null_fraction")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        for column, fraction in value.items():
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"{column}: a null fraction must lie in [0, 1], got {fraction}")
        return value

    def referenced_columns(self) -> dict[str, list[str]]:
        """Each rule's field path mapped to the columns it names, for the schema cross-check."""
        return {
            "not_null": list(self.not_null),
            "ranges": list(self.ranges),
            "allowed": list(self.allowed),
            "unique": list(self.unique),
            "max_null_fraction": list(self.max_null_fraction),
            "shift.columns": list(self.shift.columns),
        }


class SchemaSpec(_Strict):
    """The batch schema: a strict pandera DataFrameModel by import path, or inline column types."""

    model: str | None = Field(default=None, description="'package.module:DataFrameModel'")
    columns: dict[str, Literal["float", "int", "str", "bool", "datetime"]] | None = None
    rules: ValidationRules = Field(default_factory=ValidationRules)

    @model_validator(mode="after")
    def _one_source(self) -> SchemaSpec:
        if (self.model is None) == (self.columns is None):
            raise ValueError("give exactly one of 'model' (an import path) or 'columns' (inline types)")
        return self

    @field_validator("model")
    @classmethod
    def _model_resolves(cls, value: str | None) -> str | None:
        if value is None:
            return value
        target = resolve_import(value)
        if not (isinstance(target, type) and issubclass(target, pa.DataFrameModel)):
            raise ValueError(f"{value!r} is not a pandera DataFrameModel class")
        if not target.to_schema().strict:
            raise ValueError(f"{value!r} must be strict (class Config: strict = True) so extra columns fail")
        return value


# -------------------------------------------------------------------------------------------- features


class FeatureColumn(_Strict):
    name: str
    dtype: FeatureDtype
    description: str = ""


class FeaturesSpec(_Strict):
    """One feature definition shared by training and serving."""

    sql: str | None = Field(default=None, description="DuckDB SQL over the relation `batch`")
    function: str | None = Field(default=None, description="'package.module:callable' (DataFrame -> DataFrame)")
    columns: list[FeatureColumn] = Field(min_length=1)
    categorical: list[str] = Field(default_factory=list)
    critical: list[str] = Field(default_factory=list, description="features watched for drift")

    @model_validator(mode="after")
    def _definition(self) -> FeaturesSpec:
        if (self.sql is None) == (self.function is None):
            raise ValueError("give exactly one of 'sql' or 'function'")
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"feature names repeat: {duplicates}")
        for field_name in ("categorical", "critical"):
            unknown = [name for name in getattr(self, field_name) if name not in names]
            if unknown:
                raise ValueError(f"{field_name} names {unknown}, which are not in features.columns")
        return self

    @field_validator("function")
    @classmethod
    def _function_resolves(cls, value: str | None) -> str | None:
        if value is not None and not callable(resolve_import(value)):
            raise ValueError(f"{value!r} is not callable")
        return value

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


# ---------------------------------------------------------------------------------- training and gate


class HpoSpec(_Strict):
    trials: int = Field(default=20, ge=1, le=10_000)
    timeout_seconds: float = Field(default=120.0, gt=0)


class TrainingSpec(_Strict):
    window_days: int = Field(default=28, ge=3)
    validation_days: int = Field(default=3, ge=1)
    test_days: int = Field(default=3, ge=1)
    min_rows: int = Field(default=1_000, ge=10)
    seed: int = 42
    params: dict[str, Any] = Field(default_factory=dict, description="LightGBM base parameters")
    hpo: HpoSpec = Field(default_factory=HpoSpec)

    @model_validator(mode="after")
    def _split_fits(self) -> TrainingSpec:
        if self.validation_days + self.test_days >= self.window_days:
            raise ValueError(
                f"validation_days + test_days ({self.validation_days + self.test_days}) must leave "
                f"training days inside window_days ({self.window_days})"
            )
        return self


class EvaluationSpec(_Strict):
    """How candidates are evaluated on the test window."""

    slices: list[str] = Field(default_factory=list, description="features to slice metrics by; default: categoricals")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="probability above which a prediction is positive")
    latency_sample_rows: int = Field(default=2_000, ge=100, le=100_000)
    evidently_report: bool = Field(
        default=True,
        description="save evidently's classification report (HTML, seconds each) beside every evaluation's metrics",
    )


class MetricRule(_Strict):
    min: float | None = None
    max: float | None = None
    compare_to_champion: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> MetricRule:
        if self.min is None and self.max is None:
            raise ValueError("a gate rule needs 'min', 'max' or both")
        return self


class ChampionComparisonSpec(_Strict):
    max_relative_regression: float = Field(default=0.01, ge=0, le=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    bootstrap_resamples: int = Field(default=1_000, ge=100, le=100_000)


class GateSpec(_Strict):
    rules: dict[str, MetricRule] = Field(min_length=1)
    champion: ChampionComparisonSpec = Field(default_factory=ChampionComparisonSpec)

    @field_validator("rules")
    @classmethod
    def _known_metrics(cls, value: dict[str, MetricRule]) -> dict[str, MetricRule]:
        for metric, rule in value.items():
            if metric not in METRIC_BOUNDS:
                raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(METRIC_BOUNDS)}")
            low, high = METRIC_BOUNDS[metric]
            for bound in ("min", "max"):
                threshold = getattr(rule, bound)
                if threshold is not None and not low <= threshold <= high:
                    raise ValueError(
                        f"{metric}.{bound}={threshold} is out of range; expected a value in [{low}, {high}]"
                    )
        return value


# ---------------------------------------------------------------------------------------- deployment


class ShadowSpec(_Strict):
    """Shadow mode: a sampled share of requests scored by the shadow version, logged, never returned."""

    sample_rate: float = Field(default=0.2, ge=0, le=1)
    timeout_ms: float = Field(default=100.0, gt=0, description="a shadow score slower than this is dropped and logged")
    min_days: int = Field(default=7, ge=0, description="days of shadow traffic before the shadow gate judges")
    min_requests: int = Field(default=1_000, ge=1)
    min_labelled: int = Field(default=200, ge=1, description="labelled shadow requests needed to compare AUC")
    min_correlation: float = Field(default=0.8, ge=-1, le=1, description="shadow vs champion score correlation")
    max_auc_drop: float = Field(default=0.01, ge=0, le=1, description="shadow AUC may trail the champion by this much")
    latency_p99_ms: float = Field(default=50.0, gt=0, description="the serving SLA the shadow must meet")


class CanarySpec(_Strict):
    """The canary rollout: traffic steps and the automated gate's rules (the seed's, plus evidence)."""

    steps: list[float] = Field(default_factory=lambda: [5.0, 15.0, 30.0, 100.0])
    min_requests: int = Field(default=500, ge=1, description="canary requests per step before the gate promotes")
    min_labelled: int = Field(default=200, ge=1, description="labelled canary requests before AUC is compared")
    dwell_hours: float = Field(default=24.0, ge=0, description="minimum time at a step")
    max_error_ratio: float = Field(default=1.5, gt=1, description="rollback if canary error rate > this x production")
    max_p99_ms: float = Field(default=200.0, gt=0, description="rollback if canary p99 latency exceeds this")
    max_prediction_psi: float = Field(default=0.25, gt=0, description="hold if canary score PSI exceeds this")
    max_auc_drop: float = Field(default=0.01, ge=0, le=1, description="rollback if canary AUC < production AUC - this")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="confidence of the tests behind each rule")

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        if not value or value[-1] != 100:
            raise ValueError(f"canary steps must end at 100 (percent), got {value}")
        if any(not 0 < step <= 100 for step in value) or sorted(set(value)) != value:
            raise ValueError(f"canary steps must increase strictly within (0, 100], got {value}")
        return value


class ServingSpec(_Strict):
    """The prediction service's settings for this model."""

    ab_salt: str = Field(default="ab-2026", min_length=1, description="salt of the stable unit hash (A/B groups)")
    flush_seconds: float = Field(default=1.0, gt=0, le=60, description="prediction-log flush window")
    refresh_seconds: float = Field(default=10.0, gt=0, description="how often roles are re-read from the registry")
    latency_sla_ms: float = Field(default=50.0, gt=0)
    require_approval: bool = Field(default=False, description="a person approves before a challenger enters shadow")


class DeploymentSpec(_Strict):
    shadow: ShadowSpec = Field(default_factory=ShadowSpec)
    canary: CanarySpec = Field(default_factory=CanarySpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)


# ---------------------------------------------------------------------------------------- automation


class ReferenceSpec(_Strict):
    """The window whose statistics the shift check (and drift monitoring) compare against."""

    start: dt.date | None = Field(default=None, description="defaults to source.start_date")
    days: int = Field(default=14, ge=1, le=366)


class TriggersSpec(_Strict):
    ingest_cron: str = "30 0 * * *"
    retrain_cron: str = "0 2 * * *"
    features_max_lag_hours: float = Field(default=36.0, gt=0)
    automation_interval_seconds: int = Field(default=30, ge=5)

    @field_validator("ingest_cron", "retrain_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _CRON.match(value.strip()):
            raise ValueError(f"expected a five-field cron expression such as '0 2 * * *', got {value!r}")
        return value.strip()


# ---------------------------------------------------------------------------------------- monitoring


class DriftSpec(_Strict):
    """Input and prediction drift: PSI against the reference, judged beside its no-drift critical value."""

    bins: int = Field(
        default=10, ge=2, le=100, description="quantile bins of each numeric feature, fixed on the reference"
    )
    feature_psi: float = Field(default=0.20, gt=0, description="PSI above which a critical feature has drifted")
    output_psi: float = Field(default=0.10, gt=0, description="PSI above which the prediction scores have drifted")
    critical_quantile: float = Field(
        default=0.99, gt=0.5, lt=1, description="quantile of the PSI expected with no drift at the window's size"
    )
    min_rows: int = Field(default=200, ge=10, description="fewer rows in a window: too small to judge")
    evidently_sample_rows: int = Field(default=5_000, ge=100, description="rows per side of the evidently HTML report")
    evidently_report: Literal["always", "on_drift", "never"] = Field(
        default="on_drift",
        description="when a day's drift report links an evidently HTML report (seconds each): every day, only on days "
        "a critical feature or the output drifted, or never",
    )


class PerformanceSpec(_Strict):
    """Realised performance on predictions whose labels have arrived (the seed's decay trigger)."""

    window_days: int = Field(default=7, ge=1, description="event days of labelled predictions judged together")
    min_auc: float = Field(default=0.88, ge=0, le=1, description="retrain when realised AUC falls below this")
    max_decay: float = Field(default=0.02, ge=0, le=1, description="retrain when AUC falls this far below training AUC")
    min_labelled: int = Field(default=200, ge=10, description="labelled predictions (with both classes) to judge")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="of the A/B difference's interval")


class HealthRule(_Strict):
    """One rollback condition on the champion: the value over the last `window_minutes` exceeds `threshold`."""

    threshold: float = Field(ge=0)
    window_minutes: float = Field(gt=0)


class HealthSpec(_Strict):
    """The seed's automated rollback conditions, checked on the champion's recent traffic (event time)."""

    error_rate: HealthRule = Field(default_factory=lambda: HealthRule(threshold=0.05, window_minutes=10))
    p99_latency_ms: HealthRule = Field(default_factory=lambda: HealthRule(threshold=500, window_minutes=5))
    prediction_null_rate: HealthRule = Field(default_factory=lambda: HealthRule(threshold=0.01, window_minutes=5))
    input_psi: HealthRule = Field(default_factory=lambda: HealthRule(threshold=0.30, window_minutes=30))
    min_requests: int = Field(default=20, ge=1, description="fewer requests in a window: that condition is not judged")
    cooldown_minutes: float = Field(default=60, ge=0, description="no second rollback within this time")


class MonitoringSpec(_Strict):
    drift: DriftSpec = Field(default_factory=DriftSpec)
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    health: HealthSpec = Field(default_factory=HealthSpec)
    retrain_cooldown_hours: float = Field(
        default=24, ge=0, description="a drift or decay sensor starts no second retraining within this time"
    )
    monitor_interval_seconds: int = Field(default=60, ge=5, description="drift, decay and shadow sensors")
    canary_interval_seconds: int = Field(default=3_600, ge=5, description="the canary sensor (seed: hourly)")
    health_interval_seconds: int = Field(default=300, ge=5, description="the production-health sensor (seed: 5 min)")
    max_model_age_days: float = Field(default=30, gt=0, description="freshness of the registered model")
    report_max_lag_hours: float = Field(default=36, gt=0, description="freshness of the monitoring reports")


# ------------------------------------------------------------------------------------------------------ demo

# Source kinds the platform can replay day by day on a simulated clock (the demo feed's requirement): the
# synthetic feed generates any day, a files source re-reads any day its files hold.
REPLAYABLE_SOURCES: frozenset[str] = frozenset({"synthetic_deliveries", "files"})


class DemoSpec(_Strict):
    """The live demo: a feed that replays the source on a simulated clock, one event day at a time.

    Each simulated day lands the next day's batch, fetches the labels whose `source.label_delay_days` have passed on
    the simulated clock, and serves the day's traffic through the champion; while no model exists the feed asks once
    for a first model on the labelled days at hand. The warm-up days land back to back, as fast as their runs
    finish; then one day every `seconds_per_day`. Off by default: a user's own spec runs on its schedules alone.
    """

    feed: bool = Field(
        default=False,
        description="run the demo feed (the sensor <model>_demo_feed and the job <model>_demo_traffic)",
    )
    seconds_per_day: int = Field(
        default=60, ge=10, description="wall-clock seconds per simulated day once the warm-up has landed"
    )
    start: dt.date | None = Field(
        default=None, description="first event day the feed lands; default: source.start_date"
    )
    end: dt.date | None = Field(
        default=None,
        description="last event day the feed lands; default: none (it stops at the day before the source's clock)",
    )
    warmup_days: int | None = Field(
        default=None,
        ge=1,
        le=31,
        description=(
            "event days landed back to back before the steady pace; default: enough labelled days for a first model "
            "(training.validation_days + training.test_days + source.label_delay_days, at least one day of delay)"
        ),
    )

    @model_validator(mode="after")
    def _window(self) -> DemoSpec:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


# ------------------------------------------------------------------------------------------------ spec


class ModelSpec(_Strict):
    """One model's lifecycle, as declared in `specs/<name>.yaml`."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    description: str = ""
    owners: list[str] = Field(default_factory=lambda: ["team:ml-platform"])
    source: SourceSpec
    schema_: SchemaSpec = Field(alias="schema")
    features: FeaturesSpec
    reference: ReferenceSpec = Field(default_factory=ReferenceSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    gate: GateSpec
    deployment: DeploymentSpec = Field(default_factory=DeploymentSpec)
    triggers: TriggersSpec = Field(default_factory=TriggersSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    demo: DemoSpec = Field(default_factory=DemoSpec, description="the live demo feed (off unless asked for)")

    _path: Path | None = PrivateAttr(default=None)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def path(self) -> Path | None:
        """The YAML file the spec came from (None when built in code)."""
        return self._path

    def reference_window(self) -> list[dt.date]:
        """The event days whose statistics the shift check and drift monitoring compare against."""
        start = self.reference.start or self.source.start_date
        return [start + dt.timedelta(days=offset) for offset in range(self.reference.days)]

    @cached_property
    def batch_schema(self) -> pa.DataFrameSchema:
        """The strict pandera schema of a landed batch (types and column set only)."""
        if self.schema_.model is not None:
            return resolve_import(self.schema_.model).to_schema()
        inline = {"datetime": "datetime64[ns]", **_PANDERA_DTYPES}
        columns = {
            name: pa.Column(inline[dtype], nullable=True) for name, dtype in (self.schema_.columns or {}).items()
        }
        return pa.DataFrameSchema(columns, strict=True, name=f"{self.name}_batch")

    @cached_property
    def feature_function(self) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
        return resolve_import(self.features.function) if self.features.function else None

    @model_validator(mode="after")
    def _cross_references(self) -> ModelSpec:
        schema_columns = set(self.batch_schema.columns)
        source = self.source
        required = {
            "source.event_time_column": source.event_time_column,
            "source.entity_id_column": source.entity_id_column,
        }
        for field_path, column in required.items():
            if column not in schema_columns:
                raise _FieldError(field_path, f"column {column!r} is not in the schema {sorted(schema_columns)}")
        for field_path, columns in self.schema_.rules.referenced_columns().items():
            for column in columns:
                if column not in schema_columns:
                    raise _FieldError(
                        f"schema.rules.{field_path}",
                        f"column {column!r} is not in the schema; expected one of {sorted(schema_columns)}",
                    )
        for index, name in enumerate(self.evaluation.slices):
            if name not in self.features.names:
                raise _FieldError(
                    f"evaluation.slices[{index}]", f"{name!r} is not a feature; expected one of {self.features.names}"
                )
        self._check_feature_output(schema_columns)
        self._check_demo()
        return self

    @property
    def slice_features(self) -> list[str]:
        return self.evaluation.slices or list(self.features.categorical)

    def demo_start(self) -> dt.date:
        """The first event day the demo feed lands."""
        return self.demo.start or self.source.start_date

    def demo_warmup_days(self) -> int:
        """Days the demo lands back to back: by default, until the labelled days allow a first model's time split."""
        if self.demo.warmup_days is not None:
            return self.demo.warmup_days
        return self.training.validation_days + self.training.test_days + max(self.source.label_delay_days, 1)

    def _check_demo(self) -> None:
        """The feed replays the source day by day: the source must be replayable, and its days must exist."""
        demo, source = self.demo, self.source
        if demo.feed and source.kind not in REPLAYABLE_SOURCES:
            raise _FieldError(
                "demo.feed",
                f"the demo feed replays the source day by day, which a {source.kind!r} source cannot; use one of "
                f"{sorted(REPLAYABLE_SOURCES)} or set demo.feed to false",
            )
        for field_path, value in (("demo.start", demo.start), ("demo.end", demo.end)):
            if value is not None and value < source.start_date:
                raise _FieldError(
                    field_path, f"{value} is before source.start_date {source.start_date}; the source has no such day"
                )

    def _check_feature_output(self, schema_columns: set[str]) -> None:
        """Run the feature definition on an empty batch: every declared feature must come out of it."""
        from platform_assets.features.compute import compute_features, empty_batch

        try:
            produced = compute_features(self, empty_batch(self.batch_schema))
        except Exception as exc:
            where = "features.sql" if self.features.sql else "features.function"
            raise _FieldError(where, f"the feature definition fails on the schema's columns: {exc}") from exc
        for index, column in enumerate(self.features.columns):
            if column.name not in produced.columns:
                raise _FieldError(
                    f"features.columns[{index}].name",
                    f"feature {column.name!r} is not produced from the schema's columns; the feature "
                    f"definition yields {sorted(produced.columns)} and the schema has {sorted(schema_columns)}",
                )


class _FieldError(ValueError):
    """A cross-field error that knows the field path it concerns."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(message)
        self.field_path = field_path
        self.message = message


def _format_location(location: Sequence[Any]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts).replace("schema_", "schema") or "(top level)"


def _expected(error: Any) -> str:
    kind = error.get("type", "")
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return message.replace("Input should be", "expected")
    return message


def _parse(raw: Any, origin: str) -> ModelSpec:
    if not isinstance(raw, dict):
        raise SpecError(f"{origin}: (top level): expected a mapping of spec fields, got {type(raw).__name__}")
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, _FieldError):
                lines.append(f"{origin}: {cause.field_path}: {cause.message}")
            else:
                lines.append(f"{origin}: {_format_location(error['loc'])}: {_expected(error)}")
        raise SpecError("\n".join(lines)) from None


def load_spec(path: str | Path) -> ModelSpec:
    """Load and validate one spec file; raise SpecError naming the file and field on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the spec file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    spec = _parse(raw, str(path))
    spec._path = path.resolve()
    return spec


def load_specs(directory: str | Path = DEFAULT_SPECS_DIR) -> list[ModelSpec]:
    """Load every `*.yaml` spec in a directory, sorted by file name; names must be unique."""
    directory = Path(directory)
    specs = [load_spec(path) for path in sorted(directory.glob("*.yaml"))]
    seen: dict[str, Path | None] = {}
    for spec in specs:
        if spec.name in seen:
            raise SpecError(f"{spec.path}: name: {spec.name!r} is already used by {seen[spec.name]}")
        seen[spec.name] = spec.path
    return specs
