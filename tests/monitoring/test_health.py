"""Production health: each rollback condition breached, ok and not judged on prediction logs built by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from platform_assets.monitoring.drift import ReferenceProfile, build_reference_profile
from platform_assets.monitoring.health import HealthCheck, HealthResult, production_health
from platform_assets.spec import HealthSpec

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2026-02-01 12:00", tz="UTC")
VERSION = "3"
FEATURES = ["weight_kg", "carrier_code"]
SPEC = HealthSpec()  # error 0.05 / 10 min, p99 500 ms / 5 min, nulls 0.01 / 5 min, input PSI 0.30 / 30 min, 20 requests


def requests(
    n: int,
    *,
    within: tuple[float, float] = (4.0, 0.0),
    version: str = VERSION,
    role: str = "champion",
    served: bool | None = True,
    error: str | None = None,
    score: float | None = 0.3,
    latency: float = 20.0,
    weight_mean: float = 10.0,
    carrier: str | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """n prediction-log rows with event times spread over (as_of - within[0] min, as_of - within[1] min]."""
    rng = np.random.default_rng(seed)
    earliest, latest = within
    minutes_ago = np.linspace(latest, earliest, n, endpoint=False) if n else np.array([])
    return pd.DataFrame(
        {
            "request_id": [f"r{seed}-{i}" for i in range(n)],
            "unit_id": [f"u{i}" for i in range(n)],
            "event_time": AS_OF - pd.to_timedelta(minutes_ago, unit="min"),
            "model_name": "delivery_delay",
            "model_version": version,
            "role": role,
            "served": served,
            "weight_kg": rng.normal(weight_mean, 2.0, n),
            "carrier_code": carrier if carrier is not None else rng.choice(["UPS", "FDX", "DHL"], n),
            "score": pd.Series([score] * n, dtype="float64"),  # None is stored as NaN, as in the Parquet log
            "latency_ms": latency,
            "error": error,
        }
    )


def log_of(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    rng = np.random.default_rng(42)
    reference = pd.DataFrame(
        {"weight_kg": rng.normal(10.0, 2.0, 20_000), "carrier_code": rng.choice(["UPS", "FDX", "DHL"], 20_000)}
    )
    return build_reference_profile(reference, numeric=["weight_kg"], categorical=["carrier_code"], bins=10)


def check(result: HealthResult, condition: str) -> HealthCheck:
    return next(c for c in result.checks if c.condition == condition)


def health(
    log: pd.DataFrame,
    profile: ReferenceProfile | None = None,
    *,
    spec: HealthSpec = SPEC,
    as_of: pd.Timestamp = AS_OF,
    features: list[str] = FEATURES,
) -> HealthResult:
    return production_health(log, spec, version=VERSION, as_of=as_of, profile=profile, features=features)


def test_healthy_traffic_is_ok_on_every_condition(profile: ReferenceProfile) -> None:
    result = health(requests(400), profile)
    assert [c.condition for c in result.checks] == [
        "error_rate",
        "p99_latency_ms",
        "prediction_null_rate",
        "input_psi",
    ]
    assert [c.verdict for c in result.checks] == ["ok"] * 4
    assert result.breaches == ()
    assert check(result, "error_rate").value == 0.0 and check(result, "p99_latency_ms").value == 20.0
    input_psi = check(result, "input_psi").value
    assert input_psi is not None and input_psi < 0.3
    assert result.version == VERSION and result.as_of == AS_OF


def test_error_rate_breach_and_ok() -> None:
    log = log_of(requests(90), requests(10, error="model failed", seed=1))
    error_rate = check(health(log), "error_rate")
    assert error_rate.verdict == "breach" and error_rate.value == pytest.approx(0.1) and error_rate.requests == 100
    assert error_rate.reason == "error_rate 0.100 over the last 10 min (100 requests) > 0.05"
    # An empty or blank error string is no error.
    blank = check(health(log_of(requests(90), requests(5, error=""), requests(5, error="  "))), "error_rate")
    assert blank.verdict == "ok" and blank.value == 0.0
    assert blank.reason == "error_rate 0.000 over the last 10 min (100 requests) <= 0.05"


def test_p99_latency_breach_and_ok() -> None:
    # Of 100 latencies, the 99th percentile (linear) interpolates between the 99th and the 100th smallest.
    one_slow = log_of(requests(99), requests(1, latency=900.0, seed=1))
    ok = check(health(one_slow), "p99_latency_ms")
    assert ok.value == pytest.approx(np.percentile([20.0] * 99 + [900.0], 99)) == pytest.approx(28.8)
    assert ok.verdict == "ok"
    two_slow = check(health(log_of(requests(98), requests(2, latency=900.0, seed=1))), "p99_latency_ms")
    assert two_slow.verdict == "breach" and two_slow.value == pytest.approx(900.0)
    assert two_slow.reason == "p99_latency_ms 900.0 over the last 5 min (100 requests) > 500"


def test_prediction_null_rate_counts_only_requests_without_an_error() -> None:
    nulls = log_of(requests(97), requests(2, score=np.nan, seed=1), requests(1, score=None, seed=2))
    breach = check(health(nulls), "prediction_null_rate")
    assert breach.verdict == "breach" and breach.value == pytest.approx(0.03)
    # Failed requests have no score by nature: they count for error_rate, not here.
    failed = health(log_of(requests(50), requests(50, error="timeout", score=None, seed=1)))
    assert check(failed, "prediction_null_rate").verdict == "ok" and check(failed, "prediction_null_rate").value == 0
    assert check(failed, "error_rate").verdict == "breach"
    # With too few answered requests the rate is not judged.
    mostly_failed = check(health(log_of(requests(19), requests(81, error="x", seed=1))), "prediction_null_rate")
    assert mostly_failed.verdict == "not judged" and "19 requests without an error" in mostly_failed.reason


def test_input_psi_breach_names_the_feature(profile: ReferenceProfile) -> None:
    shifted = check(health(requests(400, weight_mean=14.0), profile), "input_psi")
    assert shifted.verdict == "breach" and shifted.value is not None and shifted.value > 0.3
    assert shifted.reason.startswith(f"input_psi {shifted.value:.3f} (weight_kg) over the last 30 min (400 requests)")
    one_carrier = check(health(requests(400, carrier="XPO"), profile), "input_psi")
    assert one_carrier.verdict == "breach" and "(carrier_code)" in one_carrier.reason


def test_input_psi_without_a_profile_or_profiled_features_is_not_judged(profile: ReferenceProfile) -> None:
    assert (
        check(health(requests(400)), "input_psi").reason == "input_psi not judged: no reference profile to compare with"
    )
    unknown = check(health(requests(400), profile, features=["volume_l"]), "input_psi")
    assert unknown.verdict == "not judged" and "volume_l" in unknown.reason
    # A feature the profile lacks is skipped; the others are judged.
    partly = check(health(requests(400, weight_mean=14.0), profile, features=["volume_l", "weight_kg"]), "input_psi")
    assert partly.verdict == "breach" and "(weight_kg)" in partly.reason
    with pytest.raises(ValueError, match=r"lacks feature column\(s\) \['weight_kg'\]"):
        health(requests(400).drop(columns="weight_kg"), profile)


def test_too_few_requests_are_not_judged(profile: ReferenceProfile) -> None:
    result = health(requests(19, error="boom", latency=5_000.0, score=None, weight_mean=30.0), profile)
    assert [c.verdict for c in result.checks] == ["not judged"] * 4
    assert all(c.value is None and c.requests == 19 for c in result.checks)
    assert (
        check(result, "error_rate").reason == "error_rate not judged: 19 requests in the last 10 min < min_requests 20"
    )
    assert result.breaches == ()
    # A lower minimum judges the same traffic.
    assert len(health(requests(19, error="boom"), spec=HealthSpec(min_requests=10)).breaches) == 1


def test_only_the_champions_served_rows_of_the_version_count() -> None:
    others = [
        requests(100, role="shadow", served=False, error="shadow failed", seed=1),
        requests(100, role="canary", error="canary failed", latency=2_000.0, seed=2),
        requests(100, version="2", error="old champion failed", seed=3),
        requests(100, served=False, error="not served", seed=4),
        requests(100, served=None, error="unknown", seed=5),
    ]
    result = health(log_of(requests(40), *others))
    assert all(c.requests == 40 for c in result.checks[:3])
    assert check(result, "error_rate").value == 0.0 and check(result, "p99_latency_ms").value == 20.0
    assert result.breaches == ()


def test_windows_are_in_event_time_and_open_at_the_start() -> None:
    good = requests(40, within=(9.0, 0.5))
    at_start = requests(10, within=(10.0, 10.0), error="at the window's start", seed=1)  # excluded: as_of - 10 min
    at_end = requests(1, within=(0.0, 0.0), error="at as_of", seed=2)  # included
    future = requests(10, within=(-1.0, -1.0), error="after as_of", seed=3)  # excluded
    at_start["event_time"] = AS_OF - pd.Timedelta(minutes=10)
    at_end["event_time"] = AS_OF
    future["event_time"] = AS_OF + pd.Timedelta(seconds=1)
    result = health(log_of(good, at_start, at_end, future))
    error_rate = check(result, "error_rate")
    assert error_rate.requests == 41 and error_rate.value == pytest.approx(1 / 41)
    # The same log judged an hour later holds nothing in the window; judged in another zone, the same instant.
    assert check(health(log_of(good, at_end), as_of=AS_OF + pd.Timedelta(hours=1)), "error_rate").requests == 0
    paris = AS_OF.tz_convert("Europe/Paris")
    assert check(health(log_of(good, at_end), as_of=paris), "error_rate").requests == 41
    naive = check(health(log_of(good, at_end), as_of=AS_OF.tz_localize(None)), "error_rate")
    assert naive.requests == 41


def test_each_condition_has_its_own_window() -> None:
    # Slow requests 7 minutes ago: inside the 10-minute error window, outside the 5-minute latency window.
    log = log_of(requests(50, within=(4.0, 0.0)), requests(50, within=(8.0, 6.0), latency=2_000.0, seed=1))
    result = health(log)
    assert check(result, "p99_latency_ms").requests == 50 and check(result, "p99_latency_ms").verdict == "ok"
    assert check(result, "error_rate").requests == 100
    assert check(result, "input_psi").requests == 100


def test_missing_log_columns_raise_and_an_empty_log_is_not_judged() -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['latency_ms'\]; it has \['request_id'"):
        health(requests(30).drop(columns="latency_ms"))
    # The frame read_predictions returns for a model with no predictions yet: object columns, no features.
    empty = pd.DataFrame(
        {
            name: pd.Series(dtype=object)
            for name in [
                "request_id",
                "unit_id",
                "event_time",
                "model_name",
                "model_version",
                "role",
                "served",
                "score",
                "latency_ms",
                "error",
            ]
        }
    )
    result = health(empty, build_reference_profile(requests(50), numeric=["weight_kg"], categorical=[], bins=5))
    assert [c.verdict for c in result.checks] == ["not judged"] * 4
    assert all(c.requests == 0 for c in result.checks)


def test_the_result_serialises(profile: ReferenceProfile) -> None:
    result = health(log_of(requests(90), requests(10, error="boom", seed=1)), profile)
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["version"] == VERSION and payload["as_of"] == "2026-02-01T12:00:00+00:00"
    assert payload["breaches"] == ["error_rate"]
    assert [c["condition"] for c in payload["checks"]] == [c.condition for c in result.checks]
    markdown = result.to_markdown()
    assert "**breach** of error_rate" in markdown and markdown.count("\n|") == 2 + 4
    quiet = health(requests(5))
    assert json.loads(json.dumps(quiet.to_dict(), allow_nan=False))["checks"][0]["value"] is None
    assert "no breach" in quiet.to_markdown()


def test_input_psi_is_not_fooled_by_small_windows(profile: ReferenceProfile) -> None:
    # 40 undrifted requests: too few for PSI over 11 bins (ten a bin), whatever PSI they happen to give.
    few = check(health(requests(40, seed=1), profile), "input_psi")
    assert few.verdict == "not judged" and "min_requests 110" in few.reason
    # 120 undrifted requests in each of 300 windows (a day of looks): none breaches.
    verdicts = [check(health(requests(120, seed=seed), profile), "input_psi") for seed in range(300)]
    assert all(c.verdict == "ok" for c in verdicts), [c.reason for c in verdicts if c.verdict != "ok"][:3]
    # A real shift in a window of the same size still breaches.
    assert check(health(requests(120, weight_mean=16.0), profile), "input_psi").verdict == "breach"
