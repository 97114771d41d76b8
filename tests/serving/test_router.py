"""The traffic router, the roles it reads and the request contract, with real models and a real registry.

Two small LightGBM models are trained on synthetic deliveries; registry-driven tests register them in an embedded
SQLite MLflow under a temporary directory. Covered: the stable A/B hash and the canary share; the same unit on the
same side across routers, and a salt change moving units; a shadow that raises, hangs or fails to load leaves every
response identical to a champion-only run and is itself logged or alerted; refresh picks up a changed alias without a
restart and keeps the previous champion (with a P2 alert) when a new version cannot be loaded; and the contract
refuses bad requests naming each field.

The helpers at the top (`training_rows`, `train_scorers`, `log_versions`, `request_rows`) are also used by
`tests/serving/test_app.py`.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd
import pytest
from pydantic import ValidationError

from platform_assets.features.compute import compute_features
from platform_assets.keys import ALIAS_CANARY, ALIAS_CHAMPION, ALIAS_SHADOW
from platform_assets.spec import ModelSpec
from platform_assets.training.assets import PIP_REQUIREMENTS
from platform_assets.training.dataset import TrainingSet, split_by_time
from platform_assets.training.train import to_model_frame, train_candidate
from resources.alerting import AlertingResource
from resources.mlflow_registry import MlflowResource
from resources.synthetic_deliveries import LABEL_COLUMNS, generate_deliveries
from serving.contract import request_model
from serving.prediction_log import PredictionLogWriter, read_predictions
from serving.roles import (
    TAG_AB_SALT,
    TAG_CANARY_WEIGHT,
    TAG_SHADOW_SAMPLE_RATE,
    Roles,
    ServingDefaults,
    assign,
    read_roles,
    unit_bucket,
)
from serving.router import NoChampionError, PredictionRequest, Router, ScoringError
from serving.scoring import Scorer
from serving.server import registry_loader, registry_roles

pytestmark = pytest.mark.unit

LABEL = "is_delayed"

# --------------------------------------------------------------------------------------- shared helpers


def training_rows(spec: ModelSpec, days: int = 6, rows: int = 1_000) -> TrainingSet:
    """Features and labels of a few synthetic days, split by time as training does."""
    parts = []
    for offset in range(days):
        records = generate_deliveries(dt.date(2026, 1, 1) + dt.timedelta(days=offset), seed=7, rows=rows)
        features = compute_features(spec, records.drop(columns=list(LABEL_COLUMNS)))
        parts.append(features.merge(records[["tracking_id", LABEL]], on="tracking_id", validate="one_to_one"))
    frame = pd.concat(parts, ignore_index=True)
    return split_by_time(frame, event_time="event_time", validation_days=2, test_days=2, label=LABEL)


# Two configurations, so the two versions score differently and a test can tell which one answered. One thread:
# OpenMP training of a tiny model on a busy 2-core machine spins at its barriers and takes a minute instead of 0.3 s.
_VERSION_PARAMS: tuple[dict[str, Any], ...] = (
    {"objective": "binary", "learning_rate": 0.1, "num_leaves": 15, "n_estimators": 60, "num_threads": 1},
    {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "n_estimators": 120, "num_threads": 1},
)


def train_boosters(spec: ModelSpec, data: TrainingSet) -> list[lgb.Booster]:
    boosters = []
    for params in _VERSION_PARAMS:
        trained = train_candidate(
            data.train,
            data.validation,
            features=spec.features.names,
            categorical=spec.features.categorical,
            label=LABEL,
            base_params=params,
            trials=1,
            timeout_seconds=60,
            seed=42,
        )
        boosters.append(trained.booster)
    return boosters


def scorer_of(spec: ModelSpec, booster: lgb.Booster) -> Scorer:
    """A scorer as the service builds one."""
    return Scorer.from_booster(booster, spec.features.names, spec.features.categorical)


def log_versions(mlflow: MlflowResource, spec: ModelSpec, boosters: list[lgb.Booster], data: TrainingSet) -> list[str]:
    """Log each booster to MLflow and register it as a version of the spec's model; returns the versions."""
    versions = []
    for index, booster in enumerate(boosters):
        categories = {
            name: [str(value) for value in values]
            for name, values in zip(spec.features.categorical, booster.pandas_categorical, strict=True)
        }
        example = to_model_frame(data.train.head(5), spec.features.names, spec.features.categorical, categories)
        with mlflow.run(spec.name, f"test-version-{index + 1}"):
            info = mlflow.log_lightgbm(booster, example, PIP_REQUIREMENTS)
        versions.append(str(mlflow.register(spec.name, info.model_uri, tags={"test": "serving"}).version))
    return versions


def request_rows(spec: ModelSpec, frame: pd.DataFrame, count: int) -> list[dict[str, Any]]:
    """`count` requests' features (cycling through `frame`), as JSON would carry them: NaN becomes None."""
    records = frame[spec.features.names].to_dict("records")
    rows = []
    for index in range(count):
        record = records[index % len(records)]
        rows.append(
            {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in record.items()}
        )
    return rows


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data(spec: ModelSpec) -> TrainingSet:
    return training_rows(spec)


@pytest.fixture(scope="module")
def boosters(spec: ModelSpec, data: TrainingSet) -> list[lgb.Booster]:
    return train_boosters(spec, data)


@pytest.fixture(scope="module")
def scorers(spec: ModelSpec, boosters: list[lgb.Booster]) -> dict[str, Scorer]:
    return {str(index + 1): scorer_of(spec, booster) for index, booster in enumerate(boosters)}


@pytest.fixture(scope="module")
def rows(spec: ModelSpec, data: TrainingSet) -> list[dict[str, Any]]:
    return request_rows(spec, data.test, 400)


class RolesHolder:
    """A roles source the test changes at will (what the registry is in production)."""

    def __init__(self, **roles: Any) -> None:
        self.roles = make_roles(**roles)

    def set(self, **roles: Any) -> None:
        self.roles = make_roles(**roles)

    def __call__(self) -> Roles:
        return self.roles


def make_roles(
    champion: str | None = "1",
    canary: str | None = None,
    shadow: str | None = None,
    canary_weight: float = 0.0,
    shadow_sample_rate: float = 0.0,
    ab_salt: str = "ab-test",
) -> Roles:
    return Roles(champion, canary, shadow, canary_weight, shadow_sample_rate, ab_salt)


class RaisingScorer(Scorer):
    """A shadow model that fails on every request."""

    def __init__(self) -> None:  # no booster: it never scores
        self.calls = 0

    def score_row(self, features: Mapping[str, Any]) -> float:
        self.calls += 1
        raise RuntimeError("shadow model exploded")


class HangingScorer(Scorer):
    """A shadow model that answers long after the shadow timeout."""

    def __init__(self, inner: Scorer, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds

    def score_row(self, features: Mapping[str, Any]) -> float:
        time.sleep(self.seconds)
        return self.inner.score_row(features)


def make_router(
    spec: ModelSpec,
    scorers: Mapping[str, Scorer],
    roles: Callable[[], Roles],
    lake: Path,
    alerts: AlertingResource | None = None,
    **options: Any,
) -> Router:
    """A router whose loader looks versions up in `scorers` (an unknown version fails to load)."""

    def loader(version: str) -> Scorer:
        if version not in scorers:
            raise FileNotFoundError(f"no model file for version {version}")
        return scorers[version]

    log = PredictionLogWriter.from_spec(spec, lake)
    router = Router(spec, loader, roles, log, alerts=alerts, **options)
    router.refresh()
    return router


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def run_requests(router: Router, rows: list[dict[str, Any]], prefix: str = "r") -> list[tuple[float | None, str, str]]:
    """Send every row through `router`; (score, version, role) per request."""
    results = []
    for index, features in enumerate(rows):
        prediction = router.predict(f"{prefix}-{index}", features, unit_id=f"u-{index}")
        results.append((prediction.score, prediction.model_version, prediction.role))
    return results


# ------------------------------------------------------------------------------------------- A/B and canary


def test_unit_bucket_is_stable_uniform_and_salted() -> None:
    buckets = [unit_bucket(f"customer-{index}", "salt-a") for index in range(10_000)]
    assert all(0.0 <= bucket < 100.0 for bucket in buckets)
    assert buckets == [unit_bucket(f"customer-{index}", "salt-a") for index in range(10_000)]
    for weight in (5.0, 30.0, 50.0):
        share = sum(bucket < weight for bucket in buckets) / len(buckets)
        assert share == pytest.approx(weight / 100.0, abs=0.015)
    assert unit_bucket("customer-1", "salt-a") != unit_bucket("customer-1", "salt-b")


def test_treatment_share_converges_to_the_canary_weight() -> None:
    roles = make_roles(canary="2", canary_weight=15.0)
    rng = random.Random(3)
    by_unit = [assign(f"unit-{index}", roles, rng) for index in range(10_000)]
    anonymous = [assign(None, roles, rng) for _ in range(10_000)]
    assert by_unit.count("canary") / 10_000 == pytest.approx(0.15, abs=0.012)
    assert anonymous.count("canary") / 10_000 == pytest.approx(0.15, abs=0.012)
    # No canary alias, or a zero weight: everything goes to the champion.
    assert {assign(f"unit-{i}", make_roles(canary=None, canary_weight=50.0), rng) for i in range(200)} == {"champion"}
    assert {assign(f"unit-{i}", make_roles(canary="2", canary_weight=0.0), rng) for i in range(200)} == {"champion"}
    assert {assign(f"unit-{i}", make_roles(canary="2", canary_weight=100.0), rng) for i in range(200)} == {"canary"}


def test_router_sends_the_canary_share_to_the_canary_version(
    spec: ModelSpec, scorers: dict[str, Scorer], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    router = make_router(spec, scorers, RolesHolder(canary="2", canary_weight=25.0), tmp_path / "lake")
    requests = 4_000
    with router:
        results = [
            router.predict(f"r-{index}", rows[index % len(rows)], unit_id=None if index % 2 else f"u-{index}")
            for index in range(requests)
        ]
    canary = [p for p in results if p.role == "canary"]
    assert len(canary) / requests == pytest.approx(0.25, abs=0.03)
    for index, prediction in enumerate(results):
        expected = scorers[prediction.model_version].score_row(rows[index % len(rows)])
        assert prediction.score == expected
        assert prediction.model_version == ("2" if prediction.role == "canary" else "1")
    logged = read_predictions(tmp_path / "lake", spec.name)
    assert len(logged) == requests
    assert logged.groupby("role").size().to_dict() == {"canary": len(canary), "champion": requests - len(canary)}


def test_a_unit_stays_on_its_side_across_routers_and_a_new_salt_moves_units(
    spec: ModelSpec, scorers: dict[str, Scorer], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    weight, units = 30.0, 2_000
    first = make_router(spec, scorers, RolesHolder(canary="2", canary_weight=weight), tmp_path / "a", seed=1)
    second = make_router(spec, scorers, RolesHolder(canary="2", canary_weight=weight), tmp_path / "b", seed=99)
    salted = make_router(
        spec, scorers, RolesHolder(canary="2", canary_weight=weight, ab_salt="ab-next"), tmp_path / "c", seed=1
    )
    with first, second, salted:
        sides = [
            [router.predict(f"r-{i}", rows[i % len(rows)], unit_id=f"customer-{i}").role for i in range(units)]
            for router in (first, second, salted)
        ]
        # The same unit again, later, on the same router: same side.
        again = [first.predict(f"again-{i}", rows[0], unit_id=f"customer-{i}").role for i in range(units)]
    assert sides[0] == sides[1] == again
    moved = sum(a != b for a, b in zip(sides[0], sides[2], strict=True)) / units
    # Independent hashes per salt: a unit keeps its side with probability w^2 + (1-w)^2, so 1 - that moves.
    w = weight / 100.0
    assert moved == pytest.approx(1.0 - (w * w + (1 - w) * (1 - w)), abs=0.04)
    assert sides[2].count("canary") / units == pytest.approx(w, abs=0.04)


# ----------------------------------------------------------------------------------------- fault injection


def _champion_only(spec: ModelSpec, scorers: dict[str, Scorer], rows: list[dict[str, Any]], lake: Path) -> list[Any]:
    with make_router(spec, scorers, RolesHolder(), lake) as router:
        return run_requests(router, rows)


def test_a_raising_shadow_changes_no_response_and_is_logged(
    spec: ModelSpec, scorers: dict[str, Scorer], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    baseline = _champion_only(spec, scorers, rows, tmp_path / "baseline")
    broken = RaisingScorer()
    # A queue as long as the traffic: this test wants every shadow call made (load shedding has its own test).
    router = make_router(
        spec,
        {**scorers, "3": broken},
        RolesHolder(shadow="3", shadow_sample_rate=1.0),
        tmp_path / "lake",
        shadow_queue_size=len(rows),
    )
    with router:
        assert run_requests(router, rows) == baseline
    assert broken.calls == len(rows)
    logged = read_predictions(tmp_path / "lake", spec.name)
    served, shadow = logged[logged["served"]], logged[~logged["served"]]
    assert len(served) == len(rows) and set(served["role"]) == {"champion"}
    assert len(shadow) == len(rows) and set(shadow["role"]) == {"shadow"}
    assert set(shadow["model_version"]) == {"3"}
    assert shadow["score"].isna().all()
    assert shadow["error"].str.contains("RuntimeError: shadow model exploded").all()


def test_a_hanging_shadow_neither_delays_nor_changes_responses_and_threads_stay_bounded(
    spec: ModelSpec, scorers: dict[str, Scorer], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    baseline = _champion_only(spec, scorers, rows, tmp_path / "baseline")
    hang_seconds = 0.3
    threads_before = threading.active_count()
    router = make_router(
        spec,
        {**scorers, "3": HangingScorer(scorers["2"], hang_seconds)},
        RolesHolder(shadow="3", shadow_sample_rate=1.0),
        tmp_path / "lake",
        shadow_timeout_ms=20.0,
        shadow_workers=2,
        shadow_queue_size=4,
    )
    durations = []
    results = []
    with router:
        for index, features in enumerate(rows):
            started = time.perf_counter()
            prediction = router.predict(f"r-{index}", features, unit_id=f"u-{index}")
            durations.append(time.perf_counter() - started)
            results.append((prediction.score, prediction.model_version, prediction.role))
        # Two workers, a watchdog and the log's writer: no thread per hung call.
        assert threading.active_count() - threads_before <= 2 + 1 + 1
    assert results == baseline
    # Every request is sampled for the hanging shadow: had a response waited for it, every request would take at
    # least the hang. One request slowed by the machine (a busy CI host descheduled one for 0.6 s) is not that.
    waited = [seconds for seconds in durations if seconds >= hang_seconds]
    assert len(waited) <= 1, f"{len(waited)} of {len(durations)} requests took {hang_seconds * 1000:.0f} ms or more"
    assert statistics.median(durations) < hang_seconds / 10, f"median request {statistics.median(durations):.3f} s"
    shadow = read_predictions(tmp_path / "lake", spec.name).query("role == 'shadow'")
    # Every sampled request has exactly one shadow outcome, and none of them is a score.
    assert sorted(shadow["request_id"]) == sorted(f"r-{index}" for index in range(len(rows)))
    assert shadow["score"].isna().all()
    errors = shadow["error"]
    assert errors.str.startswith("shadow timed out").sum() >= 2
    assert (errors == "shadow queue full").sum() > len(rows) / 2
    assert errors.str.match(r"shadow timed out|shadow queue full|shadow did not finish|router closed").all()


def test_a_shadow_that_fails_to_load_changes_no_response_and_alerts(
    spec: ModelSpec, scorers: dict[str, Scorer], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    baseline = _champion_only(spec, scorers, rows, tmp_path / "baseline")
    alerts = AlertingResource(log_path=str(tmp_path / "alerts.jsonl"))
    roles = RolesHolder(shadow="7", shadow_sample_rate=1.0)  # version 7 has no model file
    router = make_router(spec, scorers, roles, tmp_path / "lake", alerts=alerts)
    with router:
        router.refresh()  # a second refresh does not alert again
        assert run_requests(router, rows) == baseline
        assert router.status().ready and router.status().shadow is None
    [alert] = alerts.read()
    assert alert["severity"] == "P2" and alert["model"] == spec.name
    assert "shadow version 7 failed to load" in alert["title"]
    assert "no model file for version 7" in alert["details"]["error"]
    shadow = read_predictions(tmp_path / "lake", spec.name).query("role == 'shadow'")
    assert len(shadow) == len(rows) and set(shadow["model_version"]) == {"7"}
    assert shadow["error"].str.contains("failed to load").all()


def test_no_champion_is_a_clear_error_and_a_scoring_failure_is_logged(
    spec: ModelSpec, scorers: dict[str, Scorer], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    with make_router(spec, scorers, RolesHolder(champion=None), tmp_path / "empty") as router:
        assert not router.status().ready
        with pytest.raises(NoChampionError, match="no champion"):
            router.predict("r-1", rows[0])
    with make_router(spec, {"1": RaisingScorer()}, RolesHolder(), tmp_path / "lake") as router:
        with pytest.raises(ScoringError, match="champion version 1 failed to score"):
            router.predict("r-1", rows[0])
        batch = router.predict_batch([PredictionRequest("r-2", rows[0]), {"request_id": "r-3", "features": rows[1]}])
        assert [(p.request_id, p.score, p.error is not None) for p in batch] == [
            ("r-2", None, True),
            ("r-3", None, True),
        ]
    logged = read_predictions(tmp_path / "lake", spec.name)
    assert list(logged["request_id"]) == ["r-1", "r-2", "r-3"]
    assert logged["served"].all() and logged["score"].isna().all()
    assert logged["error"].str.contains("shadow model exploded").all()


# ----------------------------------------------------------------------------------------- real registry


@pytest.fixture(scope="module")
def registry(
    spec: ModelSpec, boosters: list[lgb.Booster], data: TrainingSet, tmp_path_factory: pytest.TempPathFactory
) -> MlflowResource:
    mlflow = MlflowResource(root=str(tmp_path_factory.mktemp("mlflow")))
    assert log_versions(mlflow, spec, boosters, data) == ["1", "2"]
    return mlflow


def _clear_roles(mlflow: MlflowResource, model: str) -> None:
    for alias in (ALIAS_CHAMPION, ALIAS_CANARY, ALIAS_SHADOW):
        mlflow.delete_alias(model, alias)
    for tag in (TAG_CANARY_WEIGHT, TAG_SHADOW_SAMPLE_RATE, TAG_AB_SALT):
        mlflow.client().delete_registered_model_tag(model, tag)


def test_read_roles_reads_aliases_and_tags_with_spec_defaults(spec: ModelSpec, registry: MlflowResource) -> None:
    defaults = ServingDefaults.from_spec(spec)
    _clear_roles(registry, spec.name)
    assert read_roles(registry, "not_registered", defaults) == Roles(None, None, None, 0.0, 0.2, "ab-2026")
    registry.set_alias(spec.name, ALIAS_CHAMPION, "1")
    assert read_roles(registry, spec.name, defaults) == Roles("1", None, None, 0.0, 0.2, "ab-2026")
    registry.set_alias(spec.name, ALIAS_CANARY, "2")
    registry.set_alias(spec.name, ALIAS_SHADOW, "2")
    client = registry.client()
    client.set_registered_model_tag(spec.name, TAG_CANARY_WEIGHT, "15")
    client.set_registered_model_tag(spec.name, TAG_SHADOW_SAMPLE_RATE, "0.5")
    client.set_registered_model_tag(spec.name, TAG_AB_SALT, "spring")
    assert read_roles(registry, spec.name, defaults) == Roles("1", "2", "2", 15.0, 0.5, "spring")
    client.set_registered_model_tag(spec.name, TAG_CANARY_WEIGHT, "lots")
    with pytest.raises(ValueError, match="canary_weight"):
        read_roles(registry, spec.name, defaults)
    client.set_registered_model_tag(spec.name, TAG_CANARY_WEIGHT, "150")
    with pytest.raises(ValueError, match="canary_weight"):
        read_roles(registry, spec.name, defaults)
    _clear_roles(registry, spec.name)


def test_refresh_picks_up_a_changed_alias_without_restart(
    spec: ModelSpec, registry: MlflowResource, scorers: dict[str, Scorer], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    _clear_roles(registry, spec.name)
    registry.set_alias(spec.name, ALIAS_CHAMPION, "1")
    real_loader = registry_loader(registry, spec)
    loads: list[str] = []

    def loader(version: str) -> Scorer:
        loads.append(version)
        return real_loader(version)

    log = PredictionLogWriter.from_spec(spec, tmp_path / "lake")
    with Router(spec, loader, registry_roles(registry, spec), log) as router:
        router.refresh()
        first = router.predict("r-1", rows[0])
        assert (first.model_version, first.score) == ("1", scorers["1"].score_row(rows[0]))
        router.start_refreshing(0.05)
        registry.set_alias(spec.name, ALIAS_CHAMPION, "2")
        wait_for(lambda: router.status().champion == "2")
        second = router.predict("r-2", rows[0])
        assert (second.model_version, second.score) == ("2", scorers["2"].score_row(rows[0]))
        time.sleep(0.3)  # several more refreshes with the roles unchanged
        assert loads == ["1", "2"], "a version that keeps its role is not reloaded"
        # Tags too: a full canary weight sends everything to the canary on the next refresh.
        registry.set_alias(spec.name, ALIAS_CANARY, "1")
        registry.client().set_registered_model_tag(spec.name, TAG_CANARY_WEIGHT, "100")
        wait_for(lambda: router.status().canary == "1" and router.status().roles.canary_weight == 100.0)
        third = router.predict("r-3", rows[0], unit_id="anyone")
        assert (third.role, third.model_version) == ("canary", "1")
    # Version 1 left every role when version 2 became champion, so it was unloaded and comes back by a load.
    assert loads == ["1", "2", "1"]
    _clear_roles(registry, spec.name)


def test_a_version_that_fails_to_load_keeps_the_previous_champion_and_alerts(
    spec: ModelSpec,
    registry: MlflowResource,
    boosters: list[lgb.Booster],
    data: TrainingSet,
    scorers: dict[str, Scorer],
    rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    _clear_roles(registry, spec.name)
    [broken] = log_versions(registry, spec, boosters[:1], data)
    # Corrupt the registered version's model file in the artifact store, as a damaged store would.
    client = registry.client()
    source = client.get_model_version(spec.name, broken).source  # models:/<logged model id>
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    [model_file] = Path(urllib.parse.urlparse(location).path).rglob("model.lgb")
    model_file.write_text("this is not a LightGBM model\n", encoding="utf-8")
    registry.set_alias(spec.name, ALIAS_CHAMPION, "1")
    alerts = AlertingResource(log_path=str(tmp_path / "alerts.jsonl"))
    log = PredictionLogWriter.from_spec(spec, tmp_path / "lake")
    with Router(spec, registry_loader(registry, spec), registry_roles(registry, spec), log, alerts=alerts) as router:
        router.refresh()
        assert router.status().champion == "1"
        registry.set_alias(spec.name, ALIAS_CHAMPION, broken)
        router.refresh()
        router.refresh()
        status = router.status()
        assert status.ready and status.champion == "1"
        assert f"champion version {broken} failed to load" in status.reason
        prediction = router.predict("r-1", rows[0])
        assert (prediction.model_version, prediction.score) == ("1", scorers["1"].score_row(rows[0]))
    [alert] = alerts.read()
    assert alert["severity"] == "P2"
    assert f"champion version {broken} failed to load; version 1 keeps serving" in alert["title"]
    assert alert["details"]["version"] == broken and alert["details"]["kept_version"] == "1"
    assert "cannot be loaded" in alert["details"]["error"]
    _clear_roles(registry, spec.name)


# -------------------------------------------------------------------------------------------- contract


def _locations(error: ValidationError) -> dict[tuple[Any, ...], str]:
    return {tuple(item["loc"]): item["type"] for item in error.errors()}


def test_the_contract_accepts_a_good_request_and_fills_optional_features(
    spec: ModelSpec, rows: list[dict[str, Any]]
) -> None:
    model = request_model(spec)
    request = model.model_validate({"request_id": "r-1", "unit_id": "c-9", "features": rows[0]})
    assert request.features.model_dump() == rows[0]
    minimal = {"carrier_code": "UPS", "service_level": "express", "weight_kg": 2, "hour_of_day": 9, "day_of_week": 1}
    parsed = model.model_validate({"request_id": "r-2", "features": minimal}).features.model_dump()
    assert parsed["weight_kg"] == 2.0 and parsed["distance_km"] is None and set(parsed) == set(spec.features.names)


def test_the_contract_names_every_bad_field(spec: ModelSpec, rows: list[dict[str, Any]]) -> None:
    model = request_model(spec)
    features = dict(rows[0])
    del features["weight_kg"]  # not_null: required
    features["hour_of_day"] = "nine"  # wrong type
    features["day_of_week"] = 9  # out of range (0-6)
    features["carrier_code"] = "ACME"  # not an allowed carrier
    features["distance_km"] = -3.0  # below the range's min
    features["colour"] = "red"  # not a feature
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"request_id": "r-1", "features": features})
    assert _locations(caught.value) == {
        ("features", "weight_kg"): "missing",
        ("features", "hour_of_day"): "int_type",
        ("features", "day_of_week"): "less_than_equal",
        ("features", "carrier_code"): "literal_error",
        ("features", "distance_km"): "greater_than_equal",
        ("features", "colour"): "extra_forbidden",
    }
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"request_id": "r-1", "features": {**rows[0], "service_level": None}})
    assert _locations(caught.value) == {("features", "service_level"): "literal_error"}
