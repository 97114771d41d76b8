"""The training set: a labelled feature frame checked, then split by event time into train, validation and test.

Defines `TrainingSetError` (a frame that cannot be trained on, with a message saying what is wrong, where and what
to do), `check_training_frame` (the refusals, run before any training time is spent), `window_days` (the event days
of a training window) and `split_by_time`, which builds the frozen `TrainingSet` that `train.train_candidate` fits
on (train), searches and early-stops on (validation) and that evaluation scores (test).

The split is by event date, never random: rows of one day are strongly correlated (same weather, same carrier
incidents), so a random split would leak each test day into training and overstate quality. Holding out the most
recent days instead measures what matters in production: how well a model trained on the past ranks tomorrow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "TrainingSet",
    "TrainingSetError",
    "check_training_frame",
    "split_by_time",
    "window_days",
]

# How many offending names or values a message lists before it abbreviates.
_SHOWN = 5


class TrainingSetError(ValueError):
    """A frame that cannot be trained on; the message says what is wrong, where, and what to do."""


@dataclass(frozen=True)
class TrainingSet:
    """A labelled frame split by event date: the oldest days train, the next validate, the most recent test.

    Each split keeps every column of the input frame (entity id, event time, features, label) in input order.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    window_start: dt.date
    window_end: dt.date
    train_days: tuple[dt.date, ...]
    validation_days: tuple[dt.date, ...]
    test_days: tuple[dt.date, ...]
    # Kept so `summary` can report positive rates without being told the label again.
    label: str

    def summary(self) -> dict[str, Any]:
        """Rows, positive rate and event days of each split, as plain JSON-serialisable values."""
        splits: dict[str, dict[str, Any]] = {}
        for name, frame, days in (
            ("train", self.train, self.train_days),
            ("validation", self.validation, self.validation_days),
            ("test", self.test, self.test_days),
        ):
            rows = len(frame)
            splits[name] = {
                "rows": rows,
                "positive_rate": float(frame[self.label].mean()) if rows else None,
                "days": [day.isoformat() for day in days],
            }
        return {
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "label": self.label,
            "splits": splits,
        }


def window_days(end: dt.date, days: int) -> list[dt.date]:
    """The `days` consecutive event days ending at `end` (inclusive), oldest first."""
    if days < 1:
        raise ValueError(f"a training window needs at least one day, got days={days}")
    return [end - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def _shown(items: Sequence[Any]) -> str:
    listed = ", ".join(repr(item) for item in items[:_SHOWN])
    return f"[{listed}, ... {len(items) - _SHOWN} more]" if len(items) > _SHOWN else f"[{listed}]"


def check_training_frame(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    label: str,
    min_rows: int,
    where: str = "the training frame",
) -> None:
    """Raise TrainingSetError unless `frame` can be trained on: all features present and not all null, labels
    present, non-null, in {0, 1}, at least `min_rows` of them and both classes.

    `where` names the frame in messages (e.g. "the validation split (2026-01-26..2026-01-28)").
    """
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise TrainingSetError(
            f"{where} is missing feature column(s) {_shown(missing)}; it has {_shown(list(frame.columns))}. "
            "Recompute the features with the spec's feature definition, or drop the names from features.columns."
        )
    if label not in frame.columns:
        raise TrainingSetError(
            f"{where} has no label column {label!r}; join the labels (source.label_column) onto the features "
            "before training."
        )
    empty = [name for name in features if frame[name].isna().all()] if len(frame) else []
    if empty:
        raise TrainingSetError(
            f"feature column(s) {_shown(empty)} are entirely null in {where} ({len(frame)} rows); check the "
            "upstream batches and the feature definition for these days, or remove the feature from the spec."
        )
    labels = frame[label]
    nulls = int(labels.isna().sum())
    if nulls:
        raise TrainingSetError(
            f"label column {label!r} has {nulls} null value(s) in {where}; train only on days whose labels have "
            "arrived (source.label_delay_days) and drop unlabelled rows."
        )
    invalid = ~labels.isin([0, 1])
    if invalid.any():
        values = list(dict.fromkeys(labels[invalid].tolist()))
        raise TrainingSetError(
            f"label column {label!r} in {where} must hold 0 or 1, found {_shown(values)} in {int(invalid.sum())} "
            "row(s); map the outcome to a binary label (1 = positive) before training."
        )
    if len(frame) < min_rows:
        raise TrainingSetError(
            f"{where} has {len(frame)} labelled row(s), fewer than the {min_rows} required (training.min_rows); "
            "widen training.window_days, wait for more labelled days, or lower training.min_rows."
        )
    classes = sorted({int(value) for value in labels.unique()})
    if len(classes) < 2:
        raise TrainingSetError(
            f"label column {label!r} has a single class ({classes[0]}) in {where}; a classifier needs both "
            "0 and 1. Check the label join, or widen the window until both outcomes occur."
        )


def _span(days: Sequence[dt.date]) -> str:
    return f"{days[0].isoformat()}..{days[-1].isoformat()}" if days else "no days"


def _midnights(days: Sequence[dt.date], like: pd.Series) -> list[pd.Timestamp]:
    """`days` as midnights in the zone of `like` (a normalized datetime column), comparable with its values."""
    return [pd.Timestamp(day).tz_localize(like.dt.tz) for day in days]


def split_by_time(
    frame: pd.DataFrame,
    *,
    event_time: str,
    validation_days: int,
    test_days: int,
    label: str,
) -> TrainingSet:
    """Split `frame` by event date: the most recent `test_days` distinct dates are the test split, the
    `validation_days` dates before them the validation split, and every earlier date the train split.

    Distinct dates present in the data count, not calendar days, so a day without rows does not empty a split.
    Rows keep their input order within a split, so a deterministic input order gives a deterministic model.
    """
    if validation_days < 1 or test_days < 1:
        raise ValueError(f"validation_days and test_days must be at least 1, got {validation_days} and {test_days}")
    if event_time not in frame.columns:
        raise TrainingSetError(
            f"the training frame has no event time column {event_time!r} (source.event_time_column); the time "
            f"split needs it. Columns: {_shown(list(frame.columns))}."
        )
    if label not in frame.columns:
        raise TrainingSetError(
            f"the training frame has no label column {label!r}; join the labels onto the features before splitting."
        )
    times = pd.to_datetime(frame[event_time])
    if times.isna().any():
        raise TrainingSetError(
            f"event time column {event_time!r} has {int(times.isna().sum())} null value(s); every row needs an "
            "event time to be placed in a split. Drop or repair those rows upstream."
        )
    # Midnights (in the column's own zone) rather than `datetime.date` objects: the same days, vectorised.
    midnights = times.dt.normalize()
    days = [stamp.date() for stamp in sorted(midnights.unique())]
    needed = validation_days + test_days + 1
    if len(days) < needed:
        raise TrainingSetError(
            f"the training frame covers {len(days)} distinct event day(s) ({_span(days)}), but "
            f"validation_days={validation_days} + test_days={test_days} leave no day to train on; it needs at "
            f"least {needed}. Widen the window or shorten training.validation_days / training.test_days."
        )
    test = tuple(days[-test_days:])
    validation = tuple(days[-(test_days + validation_days) : -test_days])
    train = tuple(days[: -(test_days + validation_days)])
    parts: dict[str, pd.DataFrame] = {}
    for name, split_days in (("train", train), ("validation", validation), ("test", test)):
        part = frame.loc[midnights.isin(_midnights(split_days, midnights)).to_numpy()].reset_index(drop=True)
        classes = part[label].dropna().unique().tolist()
        if len(classes) < 2:
            found = f"only class {classes[0]!r}" if classes else "no labels"
            raise TrainingSetError(
                f"the {name} split ({_span(split_days)}, {len(part)} rows) has {found} in {label!r}; training, "
                "early stopping and AUC need both classes in every split. Widen the window or lengthen the split."
            )
        parts[name] = part
    return TrainingSet(
        train=parts["train"],
        validation=parts["validation"],
        test=parts["test"],
        window_start=days[0],
        window_end=days[-1],
        train_days=train,
        validation_days=validation,
        test_days=test,
        label=label,
    )
