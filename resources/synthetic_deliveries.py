"""Deterministic synthetic parcel-delivery data for the delivery-delay classifier.

Domain model
------------
Every row is one parcel handed to a carrier on one *event day* (``event_time`` is
the pickup scan, naive timestamps meaning UTC). The outcome is how late the parcel
arrives against its promised delivery time (``delay_minutes``; negative = early),
and the classification target ``is_delayed`` is ``delay_minutes > 30``.

Lateness is the sum of interpretable effects plus noise, so a tree model can learn
it but has to combine many features to do so well:

* **distance** - longer line-hauls leave more room for missed connections; tighter
  service levels (express) suffer more per kilometre than economy, which has slack.
* **weather** - mild weather barely matters, storms hurt super-linearly, and they
  hurt long routes most (weather x distance interaction).
* **carrier** - each carrier has its own network reliability.
* **service level** - express promises are tight, economy promises are padded.
* **pickup hour** - late-afternoon pickups miss the evening line-haul cutoff;
  overnight pickups wait for the morning sort.
* **weekend** - reduced sorting shifts on Saturday and especially Sunday.
* **weight / package count** - heavy parcels need freight handling, multi-piece
  shipments wait for their last piece.
* **origin region** - hub proximity (central is fastest) and local road networks.

All of this is parameterised by a :class:`_World`. The scenarios move the world:

* ``sudden_shift``: from its start day the world is the *shifted* world: storm
  season (more severe weather), new long-haul contracts (longer distances, heavier
  parcels), volume moving away from the biggest carrier (carrier mix) - a covariate
  shift a PSI monitor sees - and a concept change: the biggest carrier's reliability
  collapses (labour strike), a small carrier becomes the most reliable one, weather
  hurts much more, economy parcels are now consolidated through the central hub
  (long dwell) and central stops being the fast region. A model trained before the
  shift ranks parcels badly afterwards; a model retrained afterwards learns the new
  world just as well as the old one could learn the old.
* ``gradual_drift``: every world parameter interpolates linearly from the normal to
  the shifted world between ``start`` and ``end``, and stays shifted after ``end``.
* ``new_category``: a new carrier (:data:`NEW_CARRIER`) takes a substantial share of
  the volume, with poor reliability; everything else is normal.
* ``corrupt_batch``: only the *delivered batch* (:func:`delivery_batch`) is damaged
  (nulls, out-of-range values, schema defects ...); the clean records and labels
  are untouched, as in real life where the ingestion path, not the world, breaks.

Determinism: every random stream is derived from
``SeedSequence([seed, day.toordinal(), <stream tag>])``, and each feature has its
own stream, so scenarios change distributions by transforming the *same* underlying
draws (common random numbers) instead of reshuffling everything.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------- #
# Public constants
# --------------------------------------------------------------------------- #

BASELINE_CARRIERS: tuple[str, ...] = ("UPS", "FDX", "USPS", "DHL", "ONT")
NEW_CARRIER: str = "LSO"
CARRIERS: tuple[str, ...] = (*BASELINE_CARRIERS, NEW_CARRIER)
SERVICE_LEVELS: tuple[str, ...] = ("express", "standard", "economy")
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")

LABEL_COLUMNS: tuple[str, ...] = ("is_delayed", "delay_minutes")
FEATURE_COLUMNS: tuple[str, ...] = (
    "carrier_code",
    "service_level",
    "origin_region",
    "weight_kg",
    "distance_km",
    "package_count",
    "hour_of_day",
    "day_of_week",
    "weather_severity",
)
BATCH_COLUMNS: tuple[str, ...] = ("tracking_id", "event_time", *FEATURE_COLUMNS)
CATEGORICAL_COLUMNS: tuple[str, ...] = ("carrier_code", "service_level", "origin_region")

CORRUPTIONS: tuple[str, ...] = (
    "null_ids",
    "out_of_range_weights",
    "unknown_carriers",
    "duplicate_ids",
    "missing_column",
    "extra_column",
    "wrong_types",
    "excess_weather_nulls",
)
SCENARIO_KINDS: tuple[str, ...] = (
    "none",
    "gradual_drift",
    "sudden_shift",
    "new_category",
    "corrupt_batch",
)

#: A parcel counts as delayed when it arrives more than this many minutes late.
DELAY_THRESHOLD_MINUTES: float = 30.0
#: Hard physical bounds of ``weight_kg`` in a clean batch (the contract's range).
WEIGHT_RANGE_KG: tuple[float, float] = (0.01, 1000.0)
#: Bounds of ``weather_severity`` (a 0 = calm ... 5 = severe storm index).
WEATHER_RANGE: tuple[float, float] = (0.0, 5.0)
#: Share of the volume the new carrier takes in the ``new_category`` scenario.
NEW_CARRIER_SHARE: float = 0.22
#: Share of rows hit by each row-level corruption.
CORRUPTION_FRACTION: float = 0.03
#: Share of rows with a null ``weather_severity`` under ``excess_weather_nulls``.
EXCESS_WEATHER_NULL_FRACTION: float = 0.20
#: Carrier codes injected by ``unknown_carriers`` (none of them is in CARRIERS).
UNKNOWN_CARRIER_CODES: tuple[str, ...] = ("XXX", "ups", "N/A")

# Sensor / integration gaps in clean data: the *true* value still drives the
# outcome, only the recorded feature is missing (the model must cope with NaN).
_DISTANCE_NULL_RATE = 0.003
_WEATHER_NULL_RATE = 0.015

# Stream tags for SeedSequence: fixed forever, so adding a stream never
# changes the draws of existing ones.
_TAG_TIME, _TAG_CARRIER, _TAG_SERVICE, _TAG_REGION = 1, 2, 3, 4
_TAG_WEIGHT, _TAG_DISTANCE, _TAG_PACKAGES, _TAG_WEATHER = 5, 6, 7, 8
_TAG_NOISE, _TAG_NULLS, _TAG_CORRUPT = 9, 10, 11

# Pickup-hour profile (relative volume per UTC hour): quiet nights, a morning
# peak when business shippers hand over, a larger late-afternoon peak when the
# daily e-commerce batch is collected.
# fmt: off
_HOUR_PROFILE = np.array(
    [0.4, 0.3, 0.3, 0.3, 0.4, 0.7, 1.2, 2.2, 3.6, 5.0, 5.6, 5.0,
     4.2, 4.0, 4.6, 5.8, 6.4, 5.6, 4.0, 2.8, 2.0, 1.4, 0.9, 0.6],
    dtype=np.float64,
)
# fmt: on
_HOUR_CDF = np.cumsum(_HOUR_PROFILE) / _HOUR_PROFILE.sum()

_SERVICE_SHARES = np.array([0.20, 0.55, 0.25])
_REGION_SHARES = np.array([0.18, 0.22, 0.24, 0.16, 0.20])
# Regional climate: northern storms are more frequent, the south is mild.
_REGION_CLIMATE = np.array([0.7, -0.2, 0.3, 0.2, 0.0])


# --------------------------------------------------------------------------- #
# Scenarios
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ScenarioWindow:
    """A period during which a scenario shapes the generated data.

    ``end`` is inclusive; ``None`` means open-ended. For ``gradual_drift`` the
    ``end`` is mandatory and marks the end of the ramp: the world stays fully
    shifted afterwards. ``corruptions`` is only used by ``corrupt_batch``.
    """

    kind: str
    start: datetime.date
    end: datetime.date | None = None
    corruptions: tuple[str, ...] = CORRUPTIONS

    def __post_init__(self) -> None:
        if self.kind not in SCENARIO_KINDS:
            raise ValueError(f"unknown scenario kind {self.kind!r}; expected one of {SCENARIO_KINDS}")
        object.__setattr__(self, "start", _as_date(self.start, "start"))
        if self.end is not None:
            object.__setattr__(self, "end", _as_date(self.end, "end"))
            if self.end < self.start:
                raise ValueError(f"scenario end {self.end} is before its start {self.start}")
        if self.kind == "gradual_drift":
            if self.end is None:
                raise ValueError("gradual_drift needs an end date (the end of the ramp)")
            if self.end == self.start:
                raise ValueError("gradual_drift needs end > start; use sudden_shift for an abrupt change")
        if isinstance(self.corruptions, str):
            # A bare string would otherwise be iterated character by character.
            raise ValueError("corruptions must be a sequence of names, not a string")
        names = tuple(dict.fromkeys(self.corruptions))  # de-duplicate, keep order
        unknown = [name for name in names if name not in CORRUPTIONS]
        if unknown:
            raise ValueError(f"unknown corruptions {unknown}; expected names from {CORRUPTIONS}")
        if self.kind == "corrupt_batch" and not names:
            raise ValueError("corrupt_batch needs at least one corruption")
        object.__setattr__(self, "corruptions", names)

    def affects(self, day: datetime.date) -> bool:
        """Whether this window shapes ``day`` (gradual drift persists after ``end``)."""
        if day < self.start:
            return False
        if self.end is None or self.kind == "gradual_drift":
            return True
        return day <= self.end

    def shift_intensity(self, day: datetime.date) -> float:
        """How far ``day`` is moved towards the shifted world (0 = normal, 1 = shifted)."""
        if not self.affects(day):
            return 0.0
        if self.kind == "sudden_shift":
            return 1.0
        if self.kind == "gradual_drift":
            assert self.end is not None  # guaranteed by __post_init__
            span = (self.end - self.start).days
            return min(1.0, (day - self.start).days / span)
        return 0.0


def _as_date(value: object, name: str) -> datetime.date:
    # datetime is a subclass of date but does not compare with it; normalise.
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    raise ValueError(f"scenario {name} must be a datetime.date, got {type(value).__name__}")


def active_scenario(day: datetime.date, scenarios: Sequence[ScenarioWindow]) -> ScenarioWindow | None:
    """The scenario window shaping ``day``, or ``None`` for a normal day.

    A window shapes a day from its ``start`` through its inclusive ``end``
    (``gradual_drift`` keeps shaping the days after its ramp ends). If several
    windows shape the day, the one that started most recently wins (ties: the
    later one in ``scenarios``). Windows of kind ``"none"`` are explicit
    "normal" markers and are returned like any other window. Note that the
    generators *compose* all windows shaping a day (e.g. a corrupt batch during
    a shift is both shifted and corrupted); this function only names the
    most recent one, e.g. for logging.
    """
    day = _as_date(day, "day")
    best: ScenarioWindow | None = None
    for window in scenarios:
        if window.affects(day) and (best is None or window.start >= best.start):
            best = window
    return best


# --------------------------------------------------------------------------- #
# World parameters
# --------------------------------------------------------------------------- #


# eq=False: the fields hold numpy arrays, which have no scalar equality.
@dataclass(frozen=True, eq=False)
class _World:
    """Every distribution and outcome parameter; scenarios blend between worlds."""

    carrier_shares: np.ndarray  # over CARRIERS (NEW_CARRIER is 0 in baseline)
    carrier_delay: np.ndarray  # minutes, over CARRIERS
    distance_log_median: float  # log(km)
    distance_log_sigma: float
    weight_log_mu: float  # log(kg)
    weather_shift: float  # added to every region's climate
    base_delay: float  # minutes
    service_delay: np.ndarray  # minutes, over SERVICE_LEVELS
    distance_coef: np.ndarray  # minutes per 100 km, over SERVICE_LEVELS
    weather_coef: float  # minutes per severity**1.5
    weather_distance_coef: float  # minutes per (severity x 100 km)
    region_delay: np.ndarray  # minutes, over REGIONS
    weekend_delay: np.ndarray  # minutes for (Saturday, Sunday)
    cutoff_delay: float  # minutes for pickups after the line-haul cutoff (16-19h)
    night_delay: float  # minutes for overnight pickups (20-5h)
    heavy_delay: float  # minutes for freight-handled parcels (> 30 kg)
    weight_coef: float  # minutes per log1p(kg)
    package_coef: float  # minutes per extra package
    noise_sd: float  # minutes of unexplained variation

    def blend(self, other: _World, alpha: float) -> _World:
        """Linear interpolation ``(1 - alpha) * self + alpha * other``."""
        if alpha <= 0.0:
            return self
        if alpha >= 1.0:
            return other
        values = {
            name: (1.0 - alpha) * getattr(self, name) + alpha * getattr(other, name)
            for name in (f.name for f in fields(self))
        }
        return _World(**values)

    def with_new_carrier(self, share: float) -> _World:
        """The same world where NEW_CARRIER takes ``share`` of the volume."""
        shares = self.carrier_shares.copy()
        new = CARRIERS.index(NEW_CARRIER)
        shares[new] = 0.0
        shares *= (1.0 - share) / shares.sum()
        shares[new] = share
        return replace(self, carrier_shares=shares)


_NORMAL_WORLD = _World(
    #                       UPS   FDX   USPS  DHL   ONT   LSO
    carrier_shares=np.array([0.34, 0.26, 0.20, 0.12, 0.08, 0.00]),
    carrier_delay=np.array([-6.0, 0.0, 14.0, 6.0, 22.0, 34.0]),
    distance_log_median=float(np.log(180.0)),
    distance_log_sigma=0.85,
    weight_log_mu=float(np.log(2.2)),
    weather_shift=0.0,
    base_delay=-17.0,
    #                      express standard economy
    service_delay=np.array([10.0, 0.0, -20.0]),
    distance_coef=np.array([10.0, 7.0, 5.0]),
    weather_coef=5.0,
    weather_distance_coef=2.0,
    #                      north south east west central
    region_delay=np.array([6.0, 0.0, 3.0, 5.0, -9.0]),
    weekend_delay=np.array([9.0, 13.0]),
    cutoff_delay=16.0,
    night_delay=8.0,
    heavy_delay=18.0,
    weight_coef=3.0,
    package_coef=5.0,
    noise_sd=12.0,
)

_SHIFTED_WORLD = _World(
    # Volume leaves the striking carrier for the one that added capacity.
    carrier_shares=np.array([0.20, 0.26, 0.20, 0.12, 0.22, 0.00]),
    # UPS strike: from the most to the least reliable; ONT's new capacity makes
    # it the best; the others are unchanged.
    carrier_delay=np.array([48.0, 0.0, 14.0, 6.0, -14.0, 34.0]),
    distance_log_median=float(np.log(340.0)),
    distance_log_sigma=0.85,
    weight_log_mu=float(np.log(3.0)),
    weather_shift=0.8,
    base_delay=-72.0,
    # Economy is consolidated through the central hub (long dwell) while
    # express gets dedicated capacity.
    service_delay=np.array([-6.0, 0.0, 22.0]),
    distance_coef=np.array([6.0, 7.0, 5.0]),
    weather_coef=10.0,
    weather_distance_coef=3.0,
    # The consolidation hub is congested, so central becomes the slow region.
    region_delay=np.array([6.0, 0.0, 3.0, 5.0, 14.0]),
    # Seven-day sorting shifts to cope with the backlog.
    weekend_delay=np.array([0.0, 2.0]),
    cutoff_delay=16.0,
    night_delay=8.0,
    heavy_delay=18.0,
    weight_coef=3.0,
    package_coef=5.0,
    noise_sd=20.0,
)


def _world_for(day: datetime.date, scenarios: Sequence[ScenarioWindow]) -> _World:
    alpha = max((w.shift_intensity(day) for w in scenarios), default=0.0)
    world = _NORMAL_WORLD.blend(_SHIFTED_WORLD, alpha)
    if any(w.kind == "new_category" and w.affects(day) for w in scenarios):
        world = world.with_new_carrier(NEW_CARRIER_SHARE)
    return world


# --------------------------------------------------------------------------- #
# Generation
# --------------------------------------------------------------------------- #


def _rng(seed: int, day: datetime.date, tag: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, day.toordinal(), tag]))


def _validate(day: datetime.date, seed: int, rows: int) -> datetime.date:
    day = _as_date(day, "day")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 0:
        raise ValueError(f"rows must be a non-negative integer, got {rows!r}")
    return day


def _tracking_ids(day: datetime.date, seed: int, rows: int) -> np.ndarray:
    """``TRK<yyyymmdd>-<seed>-<index>`` as an object array, built without a row loop.

    The day and the seed make ids unique across days and seeds; the index
    (in pickup order) makes them unique within a day. Characters are written
    straight into a UCS-4 code-point buffer, ~3x faster than ``np.strings`` ops.
    """
    prefix = f"TRK{day:%Y%m%d}-{seed}-"
    width = max(7, len(str(max(rows - 1, 0))))
    index_type = np.uint32 if rows <= 2**32 else np.uint64
    powers = (10 ** np.arange(width - 1, -1, -1)).astype(index_type)
    digits = (np.arange(rows, dtype=index_type)[:, None] // powers) % 10 + ord("0")
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8).astype(np.uint32)
    buf = np.concatenate([np.broadcast_to(head, (rows, len(head))), digits.astype(np.uint32)], axis=1)
    return buf.view(f"<U{len(prefix) + width}").reshape(rows).astype(object)


def _pick(u: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Inverse-CDF categorical draw: the same ``u`` maps to nearby categories
    when the shares move a little (keeps drifted data comparable)."""
    cdf = np.cumsum(shares) / shares.sum()
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(shares) - 1)


def _simulate(day: datetime.date, seed: int, rows: int, world: _World) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Features (as recorded) and the true delay in minutes, one entry per parcel."""
    n = rows

    # Pickup times: hour from the daily profile, uniform within the hour,
    # sorted so that the id index follows pickup order.
    rng = _rng(seed, day, _TAG_TIME)
    hours = np.searchsorted(_HOUR_CDF, rng.random(n), side="right").clip(0, 23)
    seconds = np.sort(hours * 3600 + rng.integers(0, 3600, size=n))
    hour = seconds // 3600
    event_time = np.datetime64(day, "ns") + seconds.astype("timedelta64[s]")
    weekday = np.full(n, day.weekday(), dtype=np.int64)

    carrier = _pick(_rng(seed, day, _TAG_CARRIER).random(n), world.carrier_shares)
    service = _pick(_rng(seed, day, _TAG_SERVICE).random(n), _SERVICE_SHARES)
    region = _pick(_rng(seed, day, _TAG_REGION).random(n), _REGION_SHARES)

    # Parcel weights are roughly log-normal (documents to pallets); economy
    # carries heavier, cheaper-to-ship goods.
    rng = _rng(seed, day, _TAG_WEIGHT)
    log_weight = world.weight_log_mu + 1.05 * rng.standard_normal(n) + 0.35 * (service == 2)
    weight = np.clip(np.exp(log_weight), *WEIGHT_RANGE_KG).round(3)

    rng = _rng(seed, day, _TAG_DISTANCE)
    distance = np.exp(world.distance_log_median + world.distance_log_sigma * rng.standard_normal(n))
    distance = np.clip(distance, 1.0, 4500.0).round(1)

    package_count = 1 + _rng(seed, day, _TAG_PACKAGES).poisson(0.45, size=n)

    # Weather: regional climate + a small regional anomaly for the day + local
    # (gamma-distributed, right-skewed) conditions along the route.
    rng = _rng(seed, day, _TAG_WEATHER)
    anomaly = 0.15 * rng.standard_normal(len(REGIONS))
    level = _REGION_CLIMATE + anomaly + world.weather_shift
    weather = np.clip(level[region] + rng.gamma(2.0, 0.5, size=n), *WEATHER_RANGE).round(2)

    # --- outcome ---------------------------------------------------------- #
    w = world
    dist100 = distance / 100.0
    is_cutoff = (hour >= 16) & (hour <= 19)
    is_night = (hour >= 20) | (hour <= 5)
    # Every parcel of the day shares its weekday, so the weekend effect is a scalar.
    weekend = 0.0 if day.weekday() < 5 else float(w.weekend_delay[day.weekday() - 5])
    delay = (
        w.base_delay
        + w.carrier_delay[carrier]
        + w.service_delay[service]
        + w.distance_coef[service] * dist100
        + w.weather_coef * weather**1.5
        + w.weather_distance_coef * weather * dist100
        + w.region_delay[region]
        + weekend
        + w.cutoff_delay * is_cutoff
        + w.night_delay * is_night
        + w.heavy_delay * (weight > 30.0)
        + w.weight_coef * np.log1p(weight)
        + w.package_coef * (package_count - 1)
        + w.noise_sd * _rng(seed, day, _TAG_NOISE).standard_normal(n)
    )

    # Recording gaps (after the outcome: the truth still drove the delay).
    rng = _rng(seed, day, _TAG_NULLS)
    distance_rec = np.where(rng.random(n) < _DISTANCE_NULL_RATE, np.nan, distance)
    weather_rec = np.where(rng.random(n) < _WEATHER_NULL_RATE, np.nan, weather)

    features = {
        "tracking_id": _tracking_ids(day, seed, n),
        "event_time": event_time,
        "carrier_code": np.asarray(CARRIERS, dtype=object)[carrier],
        "service_level": np.asarray(SERVICE_LEVELS, dtype=object)[service],
        "origin_region": np.asarray(REGIONS, dtype=object)[region],
        "weight_kg": weight.astype(np.float64),
        "distance_km": distance_rec.astype(np.float64),
        "package_count": package_count.astype(np.int64),
        "hour_of_day": hour.astype(np.int64),
        "day_of_week": weekday,
        "weather_severity": weather_rec.astype(np.float64),
    }
    return features, delay.round(1)


def generate_deliveries(
    day: datetime.date,
    *,
    seed: int,
    rows: int,
    scenarios: Sequence[ScenarioWindow] = (),
) -> pd.DataFrame:
    """The complete, clean records of one event day, outcomes included.

    Columns: :data:`BATCH_COLUMNS` followed by ``is_delayed`` and
    ``delay_minutes``. Scenario drift shapes the data; corruption never does.
    """
    day = _validate(day, seed, rows)
    features, delay = _simulate(day, int(seed), int(rows), _world_for(day, scenarios))
    frame = pd.DataFrame(features)
    frame["is_delayed"] = (delay > DELAY_THRESHOLD_MINUTES).astype(np.int64)
    frame["delay_minutes"] = delay.astype(np.float64)
    return frame


def delivery_batch(
    day: datetime.date,
    *,
    seed: int,
    rows: int,
    scenarios: Sequence[ScenarioWindow] = (),
) -> pd.DataFrame:
    """What lands at the door for ``day``: the features without labels.

    If one or more ``corrupt_batch`` windows cover the day, each of their
    corruptions is applied (deterministically, a few percent of rows each).
    """
    frame = generate_deliveries(day, seed=seed, rows=rows, scenarios=scenarios)
    frame = frame.drop(columns=list(LABEL_COLUMNS))
    day = _as_date(day, "day")
    requested = {
        name
        for window in scenarios
        if window.kind == "corrupt_batch" and window.affects(day)
        for name in window.corruptions
    }
    if requested:
        frame = _corrupt(frame, day, int(seed), requested)
    return frame


def delivery_labels(
    day: datetime.date,
    *,
    seed: int,
    rows: int,
    scenarios: Sequence[ScenarioWindow] = (),
) -> pd.DataFrame:
    """The (later arriving) outcomes of ``day``'s parcels; always clean.

    Columns: ``tracking_id``, ``event_time``, ``is_delayed``, ``delay_minutes``.
    """
    frame = generate_deliveries(day, seed=seed, rows=rows, scenarios=scenarios)
    return frame[["tracking_id", "event_time", *LABEL_COLUMNS]].copy()


# --------------------------------------------------------------------------- #
# Corruption
# --------------------------------------------------------------------------- #

# Row-level defects first, schema-level ones last: duplicate ids are copied
# before ids are nulled (so duplicates are real ids), and columns are only
# dropped / retyped after the row defects have been placed.
_APPLY_ORDER: tuple[str, ...] = (
    "duplicate_ids",
    "null_ids",
    "out_of_range_weights",
    "unknown_carriers",
    "excess_weather_nulls",
    "wrong_types",
    "extra_column",
    "missing_column",
)


def _corrupt(frame: pd.DataFrame, day: datetime.date, seed: int, names: set[str]) -> pd.DataFrame:
    frame = frame.copy()
    n = len(frame)
    count = min(n, max(1, round(CORRUPTION_FRACTION * n))) if n else 0
    for name in _APPLY_ORDER:
        if name not in names:
            continue
        # One stream per corruption: each defect lands on the same rows whether
        # or not the other corruptions are applied too.
        rng = _rng(seed, day, _TAG_CORRUPT * 100 + CORRUPTIONS.index(name))
        rows = rng.choice(n, size=count, replace=False) if count else np.empty(0, np.int64)
        if name == "duplicate_ids" and n >= 2:
            # Overwrite some rows' ids with the id of a row that keeps its own,
            # so every overwritten id really occurs (at least) twice.
            targets = rows[: min(count, n // 2)]
            keep = np.ones(n, dtype=bool)
            keep[targets] = False
            pool = np.flatnonzero(keep)
            sources = pool[rng.integers(0, len(pool), size=len(targets))]
            ids = frame["tracking_id"].to_numpy(copy=True)
            ids[targets] = ids[sources]
            frame["tracking_id"] = ids
        elif name == "null_ids":
            ids = frame["tracking_id"].to_numpy(copy=True)
            ids[rows] = None
            frame["tracking_id"] = ids
        elif name == "out_of_range_weights":
            weights = frame["weight_kg"].to_numpy(copy=True)
            negative = rng.random(len(rows)) < 0.5
            weights[rows] = np.where(
                negative,
                -rng.uniform(0.1, 50.0, size=len(rows)),
                rng.uniform(1000.5, 25_000.0, size=len(rows)),
            ).round(3)
            frame["weight_kg"] = weights
        elif name == "unknown_carriers":
            carriers = frame["carrier_code"].to_numpy(copy=True)
            codes = np.asarray(UNKNOWN_CARRIER_CODES, dtype=object)
            carriers[rows] = codes[rng.integers(0, len(codes), size=len(rows))]
            frame["carrier_code"] = carriers
        elif name == "excess_weather_nulls":
            weather = frame["weather_severity"].to_numpy(copy=True)
            weather[rng.random(n) < EXCESS_WEATHER_NULL_FRACTION] = np.nan
            frame["weather_severity"] = weather
        elif name == "wrong_types":
            # An upstream exporter that writes zero-padded text hours, e.g. "07".
            text = np.asarray([f"{hour:02d}" for hour in range(24)], dtype=object)
            frame["hour_of_day"] = text[frame["hour_of_day"].to_numpy()]
        elif name == "extra_column":
            frame["debug_flag"] = rng.random(n) < 0.5
        elif name == "missing_column":
            frame = frame.drop(columns=["distance_km"])
    return frame
