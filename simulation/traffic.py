"""Production traffic for the simulation and the live demo: a day's requests served through the real router.

- `day_requests` turns one event day of the source (`DataSourceResource.traffic`: the records as production saw
  them) into prediction requests: the spec's features computed by the same feature definition training uses, the
  entity id as request and A/B unit id, and the record's event time.
- `serve` sends a slice of them through `serving.router.Router` (champion, canary by the stable unit hash, the
  sampled shadow) and counts what was served and what failed; every request lands in the prediction log.
- `FaultInjector` is the seam through which a scenario breaks a model version in production: it wraps the router's
  loader so that, while a fault is switched on, the version's scorer fails a share of its requests (`errors`) or
  receives skewed features (`skew`, e.g. a unit bug in the serving path). The model itself stays the real one.
- `build_router` assembles the router the way `mlplatform serve` does (registry roles, registry loader, lake log).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.features.compute import compute_features
from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from serving.prediction_log import PredictionLogWriter
from serving.router import NoChampionError, Router, ScoringError
from serving.scoring import Scorer
from serving.server import registry_loader, registry_roles

__all__ = ["Fault", "FaultInjector", "Served", "build_router", "day_requests", "serve"]


@dataclass(frozen=True)
class Fault:
    """What goes wrong with a version in production.

    `errors`: every request in `1 / rate` fails to score (deterministic, in request order).
    `skew`: the version receives features multiplied by `skew[name]` (a serving-path unit bug); it still answers.
    """

    kind: str
    rate: float = 1.0
    skew: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("errors", "skew"):
            raise ValueError(f"unknown fault kind {self.kind!r}; expected 'errors' or 'skew'")
        if not 0.0 < self.rate <= 1.0:
            raise ValueError(f"a fault's rate lies in (0, 1], got {self.rate}")
        if self.kind == "skew" and not self.skew:
            raise ValueError("a skew fault names at least one feature and its factor")


class FaultInjector:
    """The faults switched on per model version; thread-safe."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def switch_on(self, version: str, fault: Fault) -> None:
        with self._lock:
            self._faults[str(version)] = fault

    def switch_off(self, version: str) -> None:
        with self._lock:
            self._faults.pop(str(version), None)

    def fault(self, version: str) -> Fault | None:
        return self._faults.get(str(version))

    def wrap(self, loader: Callable[[str], Scorer]) -> Callable[[str], Any]:
        """A loader whose scorers obey the faults switched on for their version."""
        return lambda version: _FaultyScorer(loader(version), str(version), self)


class _FaultyScorer:
    """A real scorer that fails or receives skewed features while its version has a fault switched on."""

    def __init__(self, inner: Scorer, version: str, injector: FaultInjector) -> None:
        self.inner = inner
        self.version = version
        self._injector = injector
        self._calls = 0
        self._lock = threading.Lock()

    def score_row(self, features: Mapping[str, Any]) -> float:
        fault = self._injector.fault(self.version)
        if fault is None:
            return self.inner.score_row(features)
        if fault.kind == "skew":
            skewed = dict(features)
            for name, factor in fault.skew.items():
                value = skewed.get(name)
                if value is not None and not (isinstance(value, float) and np.isnan(value)):
                    skewed[name] = float(value) * factor
            return self.inner.score_row(skewed)
        with self._lock:
            self._calls += 1
            calls = self._calls
        period = max(round(1.0 / fault.rate), 1)
        if calls % period == 0:
            raise RuntimeError(f"injected fault: {fault.description or 'scoring failed'}")
        return self.inner.score_row(features)


def day_requests(spec: ModelSpec, source: DataSourceResource, day: dt.date) -> pd.DataFrame:
    """The day's requests in event-time order: entity id, event time and the spec's features."""
    records = source.traffic(spec, day)
    features = compute_features(spec, records)
    columns = [spec.source.entity_id_column, spec.source.event_time_column, *spec.features.names]
    frame = features[columns].sort_values(
        [spec.source.event_time_column, spec.source.entity_id_column], kind="stable", ignore_index=True
    )
    frame[spec.source.event_time_column] = pd.to_datetime(frame[spec.source.event_time_column], utc=True)
    return frame


@dataclass
class Served:
    """What a slice of traffic did: requests answered per (version, role), failures, and requests nobody served."""

    by_version: dict[tuple[str, str], int] = field(default_factory=dict)
    errors: int = 0
    unserved: int = 0

    @property
    def requests(self) -> int:
        return sum(self.by_version.values())

    def add(self, other: Served) -> None:
        for key, count in other.by_version.items():
            self.by_version[key] = self.by_version.get(key, 0) + count
        self.errors += other.errors
        self.unserved += other.unserved


def serve(router: Router, spec: ModelSpec, requests: pd.DataFrame) -> Served:
    """Send each request through the router, in order; a request no champion can answer is counted, not raised."""
    served = Served()
    if requests.empty:
        return served
    if not router.status().ready:
        served.unserved = len(requests)
        return served
    entity, event_time = spec.source.entity_id_column, spec.source.event_time_column
    ids = requests[entity].astype(str).tolist()
    times = requests[event_time].tolist()
    features = requests[list(spec.features.names)].astype(object).where(requests[list(spec.features.names)].notna())
    for request_id, when, row in zip(ids, times, features.to_dict("records"), strict=True):
        try:
            prediction = router.predict(request_id, row, unit_id=request_id, event_time=when.to_pydatetime())
        except ScoringError as error:
            key = (error.model_version, error.role)
            served.errors += 1
        except NoChampionError:
            served.unserved += 1
            continue
        else:
            key = (prediction.model_version, prediction.role)
        served.by_version[key] = served.by_version.get(key, 0) + 1
    return served


def build_router(
    spec: ModelSpec,
    *,
    lake_root: str,
    mlflow: MlflowResource,
    alerts: AlertingResource | None,
    faults: FaultInjector | None = None,
    seed: int = 0,
) -> Router:
    """The router `mlplatform serve` runs, over the same registry and lake, with an explicitly flushed log.

    The log writer runs no background thread: the caller flushes it when a slice of traffic is done, so what the
    sensors read is exactly the traffic up to that point. The shadow queue is large enough that a slice never
    drops shadow requests (a real service drops them under overload; the simulation must be reproducible).
    """
    loader = registry_loader(mlflow, spec)
    log = PredictionLogWriter.from_spec(spec, lake_root, start=False)
    return Router(
        spec,
        loader=faults.wrap(loader) if faults is not None else loader,
        roles_source=registry_roles(mlflow, spec),
        log=log,
        alerts=alerts,
        seed=seed,
        shadow_queue_size=1_000_000,
    )
