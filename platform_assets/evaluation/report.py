"""The evidently classification report that the evaluation asset saves as HTML beside its metrics.

The candidate's predictions on the test window are the current dataset; the champion's predictions
on the same rows, when there is a champion, are the reference, so the report shows the two side by
side.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["save_classification_report"]


def _dataset(frame: pd.DataFrame, target: str, probability: str, categorical: Sequence[str]) -> Any:
    from evidently import BinaryClassification, DataDefinition, Dataset

    definition = DataDefinition(
        classification=[BinaryClassification(target=target, prediction_probas=probability)],
        categorical_columns=list(categorical),
    )
    return Dataset.from_pandas(frame, data_definition=definition)


def save_classification_report(
    path: Path,
    y_true: np.ndarray,
    candidate_prob: np.ndarray,
    slices: pd.DataFrame,
    champion_prob: np.ndarray | None = None,
) -> Path:
    """Write the report to `path` (written under a temporary name, then moved into place)."""
    # evidently takes seconds to import; every process that loads the code location (each run, each sensor tick of
    # `dagster dev`) would pay for it, while only the evaluation needs it.
    from evidently import Report
    from evidently.presets import ClassificationPreset

    columns = list(slices.columns)
    current = slices.assign(target=np.asarray(y_true, dtype=int), prediction=candidate_prob)
    reference = None
    if champion_prob is not None:
        reference = _dataset(current.assign(prediction=champion_prob), "target", "prediction", columns)
    snapshot = Report([ClassificationPreset()]).run(_dataset(current, "target", "prediction", columns), reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".tmp-{path.name}")
    snapshot.save_html(str(staging))
    staging.replace(path)
    return path
