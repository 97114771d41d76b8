"""Names defined once: asset names, lake datasets, groups, check names and run tags.

Every model's assets live under its spec name (`delivery_delay/features`), and its groups are named
`<model>_<stage>` so the UI shows each model's lifecycle stage by stage.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

__all__ = [
    "ALIAS_CANARY",
    "ALIAS_CHALLENGER",
    "ALIAS_CHAMPION",
    "ALIAS_PREVIOUS_CHAMPION",
    "ALIAS_SHADOW",
    "CANDIDATE_MODEL",
    "CURRENT",
    "DEPLOYMENT",
    "DRIFT_REPORT",
    "EVALUATION_REPORT",
    "FEATURES",
    "FEATURE_CONTRACT_CHECK",
    "GATE_DECISION",
    "GATE_PASSED_CHECK",
    "LABELS",
    "LABEL_CONTRACT_CHECK",
    "PERFORMANCE_REPORT",
    "PREDICTIONS",
    "QUARANTINE",
    "RAW_BATCH",
    "REFERENCE_STATISTICS",
    "REFERENCE_STATISTICS_FILE",
    "REGISTERED_MODEL",
    "TAG_REASON",
    "TAG_TRIGGER",
    "TRAINING_SET",
    "VALIDATED_BATCH",
    "Stage",
    "asset_key",
    "daily_partitions",
    "group_name",
    "partition_day",
]

# Assets (also the lake dataset each one writes).
RAW_BATCH = "raw_batch"
VALIDATED_BATCH = "validated_batch"
REFERENCE_STATISTICS = "reference_statistics"
FEATURES = "features"
LABELS = "labels"
TRAINING_SET = "training_set"
CANDIDATE_MODEL = "candidate_model"
EVALUATION_REPORT = "evaluation_report"
GATE_DECISION = "gate_decision"
REGISTERED_MODEL = "registered_model"
DEPLOYMENT = "deployment"
DRIFT_REPORT = "drift_report"
PERFORMANCE_REPORT = "performance_report"
PREDICTIONS = "predictions"  # the prediction log (lake dataset written by the serving process)

# Lake datasets that are not assets.
QUARANTINE = "quarantine"  # batches that failed a blocking check, kept for inspection
REFERENCE_STATISTICS_FILE = "reference_statistics.json"
CURRENT = "current.json"  # the pointer document of an unpartitioned asset's latest good output

# Checks beside the validation rule families (see platform_assets.data.validation.RULE_FAMILIES).
FEATURE_CONTRACT_CHECK = "feature_contract"
LABEL_CONTRACT_CHECK = "label_contract"
GATE_PASSED_CHECK = "gate_passed"

# Registry aliases: a model version's role.
ALIAS_CHALLENGER = "challenger"
ALIAS_SHADOW = "shadow"
ALIAS_CANARY = "canary"
ALIAS_CHAMPION = "champion"
ALIAS_PREVIOUS_CHAMPION = "previous_champion"

# Run tags every trigger sets.
TAG_TRIGGER = "trigger"
TAG_REASON = "reason"


class Stage:
    DATA = "data"
    FEATURES = "features"
    TRAINING = "training"
    EVALUATION = "evaluation"
    REGISTRY = "registry"
    DEPLOYMENT = "deployment"
    MONITORING = "monitoring"


def asset_key(model: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([model, name])


def group_name(model: str, stage: str) -> str:
    return f"{model}_{stage}"


def daily_partitions(start_date: dt.date) -> dg.DailyPartitionsDefinition:
    """Daily partitions by event date (UTC), from the model's first day to the last complete day."""
    return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def partition_day(partition_key: str) -> dt.date:
    return dt.date.fromisoformat(partition_key)
