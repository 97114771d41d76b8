"""The seed's last CI stage: a model quality test on a sample.

Trains on a small slice of clean data with the platform's own trainer, scores it through the serving
scorer, probes latency and memory, and holds the result to the shipped spec's absolute gate rules.
A change to features, training or data generation that costs the model its quality fails CI here,
before any pipeline runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from platform_assets.evaluation.gate import decide
from platform_assets.evaluation.metrics import classification_metrics
from platform_assets.features.compute import compute_features
from platform_assets.spec import ModelSpec
from platform_assets.training.dataset import split_by_time
from platform_assets.training.train import train_candidate
from resources.synthetic_deliveries import delivery_batch, delivery_labels
from serving.probe import probe_scoring
from serving.scoring import Scorer

pytestmark = pytest.mark.model_quality

START = dt.date(2026, 1, 1)
DAYS = 10
ROWS = 2_000


def _sample(spec: ModelSpec) -> pd.DataFrame:
    frames = []
    for offset in range(DAYS):
        day = START + dt.timedelta(days=offset)
        features = compute_features(spec, delivery_batch(day, seed=spec.source.synthetic.seed, rows=ROWS))
        labels = delivery_labels(day, seed=spec.source.synthetic.seed, rows=ROWS)[["tracking_id", "is_delayed"]]
        frames.append(features.merge(labels, on="tracking_id"))
    return pd.concat(frames, ignore_index=True)


def test_a_model_trained_on_a_sample_passes_the_gates_absolute_rules(spec: ModelSpec, tmp_path: Path) -> None:
    splits = split_by_time(
        _sample(spec), event_time="event_time", validation_days=2, test_days=2, label=spec.source.label_column
    )
    trained = train_candidate(
        splits.train,
        splits.validation,
        features=spec.features.names,
        categorical=spec.features.categorical,
        label=spec.source.label_column,
        base_params=spec.training.params,
        trials=4,
        timeout_seconds=120,
        seed=spec.training.seed,
    )
    model_file = tmp_path / "model.txt"
    trained.booster.save_model(str(model_file))
    scorer = Scorer.from_booster(trained.booster, spec.features.names, spec.features.categorical)
    y_true = splits.test[spec.source.label_column].to_numpy()
    metrics = classification_metrics(y_true, scorer.score_frame(splits.test), spec.evaluation.threshold)
    sample = tmp_path / "sample.parquet"
    splits.test[spec.features.names].head(500).to_parquet(sample, index=False)
    probe = probe_scoring(model_file, spec.features.names, spec.features.categorical, sample, single_rows=500)
    metrics |= {"p99_latency_ms": probe.p99_ms, "peak_memory_mb": probe.peak_rss_mb}

    decision = decide(metrics, spec.gate.rules, spec.gate.champion, champion=None)
    assert decision.passed, decision.to_markdown()
    assert decision.champion_version is None
