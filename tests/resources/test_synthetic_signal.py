"""Model-quality tests: the synthetic data carries a learnable signal, scenarios break it.

A LightGBM classifier trained on clean days must clear the platform's quality
gates with margin; after a ``sudden_shift`` (or at the end of a ``gradual_drift``)
the pre-shift model must clearly fail them, a PSI monitor must see the covariate
shift, and a model retrained on post-shift days must clear the gates again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from resources.synthetic_deliveries import (
    CARRIERS,
    FEATURE_COLUMNS,
    REGIONS,
    SERVICE_LEVELS,
    ScenarioWindow,
    generate_deliveries,
)

pytestmark = pytest.mark.model_quality

SEED = 7
ROWS = 5_000
START = dt.date(2024, 1, 1)  # a Monday
SHIFT_DAY = START + dt.timedelta(days=14)
SUDDEN = (ScenarioWindow("sudden_shift", SHIFT_DAY),)
DRIFT_END = SHIFT_DAY + dt.timedelta(days=20)
GRADUAL = (ScenarioWindow("gradual_drift", SHIFT_DAY, DRIFT_END),)

# The platform's promotion gates.
GATES = {"auc": 0.88, "f1": 0.80, "precision": 0.78, "recall": 0.75}
MAX_ECE = 0.05
# "With margin": the generator must beat the gates by this much on clean data.
MARGIN = 0.02

CATEGORIES = {
    "carrier_code": list(CARRIERS),
    "service_level": list(SERVICE_LEVELS),
    "origin_region": list(REGIONS),
}


def _days(offset: int, count: int) -> list[dt.date]:
    return [START + dt.timedelta(days=offset + i) for i in range(count)]


def _frame(days: Sequence[dt.date], scenarios: Sequence[ScenarioWindow] = ()) -> pd.DataFrame:
    return pd.concat(
        [generate_deliveries(day, seed=SEED, rows=ROWS, scenarios=scenarios) for day in days],
        ignore_index=True,
    )


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    features = frame[list(FEATURE_COLUMNS)].copy()
    for column, categories in CATEGORIES.items():
        features[column] = pd.Categorical(features[column], categories=categories)
    return features


def _train(days: Sequence[dt.date], valid_day: dt.date, scenarios: Sequence[ScenarioWindow] = ()) -> lgb.LGBMClassifier:
    train, valid = _frame(days, scenarios), _frame([valid_day], scenarios)
    model = lgb.LGBMClassifier(
        n_estimators=300, num_leaves=31, learning_rate=0.05, random_state=SEED, n_jobs=2, verbose=-1
    )
    model.fit(
        _features(train),
        train["is_delayed"],
        eval_X=(_features(valid),),
        eval_y=(valid["is_delayed"],),
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    return model


def _ece(y_true: np.ndarray, y_prob: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    index = np.minimum((y_prob * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            error += mask.mean() * abs(y_true[mask].mean() - y_prob[mask].mean())
    return float(error)


def _metrics(model: lgb.LGBMClassifier, frame: pd.DataFrame) -> dict[str, float]:
    y_true = frame["is_delayed"].to_numpy()
    y_prob = model.predict_proba(_features(frame))[:, 1]
    y_pred = (y_prob >= 0.5).astype(int)
    return {
        "auc": roc_auc_score(y_true, y_prob),
        "f1": f1_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred),
        "recall": recall_score(y_true, y_pred),
        "ece": _ece(y_true, y_prob),
    }


def _psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index with decile bins of the reference."""
    ref, cur = reference.dropna().to_numpy(), current.dropna().to_numpy()
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    ref_share = np.clip(np.histogram(ref, edges)[0] / len(ref), 1e-4, None)
    cur_share = np.clip(np.histogram(cur, edges)[0] / len(cur), 1e-4, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def _category_psi(reference: pd.Series, current: pd.Series) -> float:
    ref = reference.value_counts(normalize=True)
    cur = current.value_counts(normalize=True).reindex(ref.index.union(current.unique()), fill_value=0)
    ref = ref.reindex(cur.index, fill_value=0)
    ref_share, cur_share = np.clip(ref.to_numpy(), 1e-4, None), np.clip(cur.to_numpy(), 1e-4, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def _assert_clears_gates(metrics: dict[str, float]) -> None:
    for name, gate in GATES.items():
        assert metrics[name] >= gate + MARGIN, (name, metrics)
    assert metrics["ece"] <= MAX_ECE - MARGIN, metrics


def _assert_fails_gates(metrics: dict[str, float]) -> None:
    # "Clearly below": AUC well under 0.85 (and F1 under its gate too).
    assert metrics["auc"] < 0.82, metrics
    assert metrics["f1"] < GATES["f1"], metrics


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    """Ten clean training days (Jan 1-10)."""
    return _frame(_days(0, 10))


@pytest.fixture(scope="module")
def baseline_model() -> lgb.LGBMClassifier:
    return _train(_days(0, 10), START + dt.timedelta(days=10))


def test_positive_rate_is_balanced_enough(reference: pd.DataFrame) -> None:
    assert 0.35 <= reference["is_delayed"].mean() <= 0.50


@pytest.mark.parametrize("offset", [11, 14], ids=["fri-sat", "mon-tue"])
def test_clean_model_clears_gates_with_margin(baseline_model: lgb.LGBMClassifier, offset: int) -> None:
    metrics = _metrics(baseline_model, _frame(_days(offset, 2)))
    _assert_clears_gates(metrics)


def test_clean_days_are_stable_for_psi(reference: pd.DataFrame) -> None:
    later = _frame(_days(14, 2))
    for column in ("weight_kg", "distance_km", "weather_severity"):
        assert _psi(reference[column], later[column]) < 0.1, column
    assert _category_psi(reference["carrier_code"], later["carrier_code"]) < 0.1


def test_sudden_shift_is_visible_to_psi(reference: pd.DataFrame) -> None:
    shifted = _frame(_days(15, 2), SUDDEN)
    psi = {c: _psi(reference[c], shifted[c]) for c in ("distance_km", "weather_severity")}
    assert max(psi.values()) > 0.25, psi
    assert min(psi.values()) > 0.25, psi  # both critical numeric features move
    assert _category_psi(reference["carrier_code"], shifted["carrier_code"]) > 0.1


def test_pre_shift_model_fails_after_sudden_shift(baseline_model: lgb.LGBMClassifier) -> None:
    _assert_fails_gates(_metrics(baseline_model, _frame(_days(15, 2), SUDDEN)))


def test_retraining_after_shift_recovers() -> None:
    model = _train(_days(14, 10), START + dt.timedelta(days=24), SUDDEN)
    _assert_clears_gates(_metrics(model, _frame(_days(25, 2), SUDDEN)))


def test_gradual_drift_degrades_progressively(baseline_model: lgb.LGBMClassifier) -> None:
    clean = _metrics(baseline_model, _frame(_days(14, 2)))
    mid = _metrics(baseline_model, _frame([SHIFT_DAY + dt.timedelta(days=10)], GRADUAL))
    end = _metrics(baseline_model, _frame([DRIFT_END], GRADUAL))
    after = _metrics(baseline_model, _frame([DRIFT_END + dt.timedelta(days=3)], GRADUAL))
    assert end["auc"] < mid["auc"] < clean["auc"]
    assert 0.78 < mid["auc"] < 0.92, mid  # somewhere in between
    _assert_fails_gates(end)
    _assert_fails_gates(after)  # stays shifted after the ramp
