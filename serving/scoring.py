"""The one scoring code path: a LightGBM booster plus the fixed feature encoding, for a request or a batch.

Defines `Scorer`. Evaluation measures latency through it (`serving.probe`), and the serving process answers
requests with it, so what the quality gate measured is what production runs. The encoding is the training one:
`platform_assets.training.train.to_model_frame` (categoricals to codes over the categories fixed from the train
split, everything else to float64), which `score_frame` applies to a batch and `score_row` reproduces for one
request with dict lookups, because building a one-row DataFrame per request costs several times the prediction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from platform_assets.training.train import category_label, to_model_frame

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["Scorer"]

_NAN = float("nan")


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


class Scorer:
    """Probabilities of the positive class from a booster, for one request (`score_row`) or a batch
    (`score_frame`); both encode exactly as training did, so they agree to the last bit."""

    def __init__(
        self,
        booster: lgb.Booster,
        features: Sequence[str],
        categorical: Sequence[str],
        categories: Mapping[str, Sequence[str]],
    ) -> None:
        features = list(features)
        if booster.feature_name() != features:
            raise ValueError(
                f"the booster was trained on features {booster.feature_name()}, not {features}; score with the "
                "feature list (and order) of the spec the model was trained from"
            )
        unknown = [name for name in categorical if name not in features]
        if unknown:
            raise ValueError(f"categorical feature(s) {unknown} are not among the features {features}")
        absent = [name for name in categorical if name not in categories]
        if absent:
            raise ValueError(f"no categories given for categorical feature(s) {absent}")
        self.booster = booster
        self.features: tuple[str, ...] = tuple(features)
        # Kept in feature order: the order LightGBM stores `pandas_categorical` in.
        self.categorical: tuple[str, ...] = tuple(name for name in features if name in set(categorical))
        self.categories: dict[str, list[str]] = {name: list(categories[name]) for name in self.categorical}
        stored = booster.pandas_categorical
        if stored is not None and [list(values) for values in stored] != list(self.categories.values()):
            # A mismatch would make score_row (our codes) and a DataFrame predict (LightGBM's codes) disagree.
            raise ValueError(
                f"the categories given ({self.categories}) differ from those the booster was trained with "
                f"({stored}); use Scorer.from_booster to read them from the model"
            )
        # One (position, name, codes) entry per feature; `codes` is None for a numeric feature. Codes are floats so
        # a row is filled without conversion, and the lookup is a plain dict: one hash per categorical per request.
        self._plan: tuple[tuple[int, str, dict[str, float] | None], ...] = tuple(
            (
                index,
                name,
                {label: float(code) for code, label in enumerate(self.categories[name])}
                if name in self.categories
                else None,
            )
            for index, name in enumerate(self.features)
        )

    @classmethod
    def from_booster(cls, booster: lgb.Booster, features: Sequence[str], categorical: Sequence[str]) -> Scorer:
        """A scorer whose categories are the ones saved in the model (`pandas_categorical`, which survives
        `save_model` / `lgb.Booster(model_file=...)`), paired with the categorical features in feature order."""
        stored = booster.pandas_categorical
        ordered = [name for name in features if name in set(categorical)]
        if ordered and (stored is None or len(stored) != len(ordered)):
            raise ValueError(
                f"the booster stores categories for {0 if stored is None else len(stored)} feature(s), but "
                f"{len(ordered)} are categorical ({ordered}); was it trained on a frame from to_model_frame?"
            )
        categories = {
            name: [str(value) for value in values] for name, values in zip(ordered, stored or [], strict=True)
        }
        return cls(booster, features, categorical, categories)

    def score_row(self, features: Mapping[str, Any]) -> float:
        """The probability for one request, a mapping from feature name to value.

        A categorical value outside the training categories, and any None or NaN, is missing (NaN), as LightGBM
        treats it in training. A feature absent from the mapping is an error, since it is a malformed request
        rather than a missing value.
        """
        row = np.empty((1, len(self._plan)), dtype=np.float64)
        values = row[0]
        for index, name, codes in self._plan:
            try:
                value = features[name]
            except KeyError:
                raise ValueError(
                    f"the request has no value for feature {name!r}; send null for a missing value"
                ) from None
            if codes is None:
                if value is None:
                    values[index] = _NAN
                    continue
                try:
                    values[index] = float(value)
                except (TypeError, ValueError):
                    if not _is_missing(value):
                        raise ValueError(f"feature {name!r} must be a number, got {value!r}") from None
                    values[index] = _NAN
            else:
                if isinstance(value, str):
                    code = codes.get(value)
                else:
                    # Rare: a non-string value is matched by its label, the rule `to_model_frame` applies to a batch.
                    label = category_label(value)
                    code = None if label is None else codes.get(label)
                values[index] = _NAN if code is None else code
        # One row gains nothing from OpenMP threads, and on a busy machine their barrier stalls for whole scheduler
        # slices (one-row p99 18-20 ms with every core against 4.5 ms with one); parallelism comes from requests.
        return float(self.booster.predict(row, num_threads=1)[0])

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The probabilities for every row of `frame` (which must hold the feature columns), as float64."""
        model_frame = to_model_frame(frame, self.features, self.categorical, self.categories)
        matrix = np.empty((len(model_frame), len(self.features)), dtype=np.float64)
        for index, name in enumerate(self.features):
            column = model_frame[name]
            if name in self.categories:
                codes = column.cat.codes.to_numpy().astype(np.float64)
                codes[codes < 0] = _NAN  # pandas codes an unseen or missing value as -1
                matrix[:, index] = codes
            else:
                matrix[:, index] = column.to_numpy()
        return np.asarray(self.booster.predict(matrix), dtype=np.float64)
