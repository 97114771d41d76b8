"""Model roles as the registry states them, and the stable A/B assignment of traffic between them.

Defines `Roles` (which version holds each role, and the deployment settings), `read_roles` (reads them from the
MLflow registry: the `champion`, `canary` and `shadow` aliases of the registered model named after the spec, and the
registered model's tags `canary_weight`, `shadow_sample_rate` and `ab_salt`), `ServingDefaults` (the spec's values
for tags that are not set), `ModelHandle` (a loaded version in a role) and the routing primitives `unit_bucket` and
`assign`. `serving.router.Router` polls a `Callable[[], Roles]` (in production `read_roles` bound to an
`MlflowResource`) so the registry stays the single source of truth: a rollout step is an alias or tag change, never
a serving restart.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Protocol

from platform_assets.keys import ALIAS_CANARY, ALIAS_CHAMPION, ALIAS_SHADOW
from platform_assets.spec import ModelSpec
from resources.mlflow_registry import MlflowResource
from serving.scoring import Scorer

__all__ = [
    "ROLE_CANARY",
    "ROLE_CHAMPION",
    "ROLE_SHADOW",
    "TAG_AB_SALT",
    "TAG_CANARY_WEIGHT",
    "TAG_SHADOW_SAMPLE_RATE",
    "ModelHandle",
    "RandomSource",
    "Roles",
    "ServingDefaults",
    "assign",
    "read_roles",
    "unit_bucket",
]

# Role names as they appear in the prediction log and the metrics: the registry aliases of the same name.
ROLE_CHAMPION = ALIAS_CHAMPION
ROLE_CANARY = ALIAS_CANARY
ROLE_SHADOW = ALIAS_SHADOW

# Registered-model tags holding the deployment settings (the deployment state machine writes them).
TAG_CANARY_WEIGHT = "canary_weight"  # percent of traffic (or of A/B units) sent to the canary, 0-100
TAG_SHADOW_SAMPLE_RATE = "shadow_sample_rate"  # fraction of requests also scored by the shadow, 0-1
TAG_AB_SALT = "ab_salt"  # salt of the unit hash; changing it reshuffles the A/B groups

_BUCKETS = 100.0
_HASH_SPAN = float(2**64)


class RandomSource(Protocol):
    """What `assign` needs from a random generator (`random.Random` satisfies it)."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class ServingDefaults:
    """Values for the deployment tags a registered model does not carry (taken from the spec)."""

    shadow_sample_rate: float
    ab_salt: str
    canary_weight: float = 0.0

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ServingDefaults:
        return cls(
            shadow_sample_rate=spec.deployment.shadow.sample_rate,
            ab_salt=spec.deployment.serving.ab_salt,
        )


@dataclass(frozen=True)
class Roles:
    """The version (as a string) holding each role, or None, and the routing settings that apply to them."""

    champion: str | None
    canary: str | None
    shadow: str | None
    canary_weight: float
    shadow_sample_rate: float
    ab_salt: str

    def __post_init__(self) -> None:
        # A bad value would silently route the wrong share of traffic; refuse it where it is read instead.
        if not 0.0 <= self.canary_weight <= 100.0:
            raise ValueError(f"canary_weight must be a percentage in [0, 100], got {self.canary_weight}")
        if not 0.0 <= self.shadow_sample_rate <= 1.0:
            raise ValueError(f"shadow_sample_rate must be a fraction in [0, 1], got {self.shadow_sample_rate}")
        if not self.ab_salt:
            raise ValueError("ab_salt must not be empty")


@dataclass(frozen=True)
class ModelHandle:
    """A loaded model version serving in a role."""

    version: str
    role: str
    scorer: Scorer


def _float_tag(tags: dict[str, str], name: str, default: float) -> float:
    raw = tags.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"registered-model tag {name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"registered-model tag {name}={raw!r} is not a finite number")
    return value


def read_roles(mlflow: MlflowResource, model: str, defaults: ServingDefaults) -> Roles:
    """The roles of registered model `model`: its aliases, and its deployment tags (or `defaults`).

    One `get_registered_model` call returns aliases and tags together, so the router never sees an alias from one
    moment and a weight from another. A model that is not registered yet has no roles (every alias None). A tag
    whose value is not a valid number or lies outside its range raises ValueError naming the tag: the router then
    keeps its current roles rather than guess a traffic split.
    """
    from mlflow.exceptions import MlflowException  # mlflow is imported where used (see resources.mlflow_registry)

    try:
        registered: Any = mlflow.client().get_registered_model(model)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return Roles(
            champion=None,
            canary=None,
            shadow=None,
            canary_weight=defaults.canary_weight,
            shadow_sample_rate=defaults.shadow_sample_rate,
            ab_salt=defaults.ab_salt,
        )
    aliases: dict[str, str] = {alias: str(version) for alias, version in (registered.aliases or {}).items()}
    tags: dict[str, str] = dict(registered.tags or {})
    salt = tags.get(TAG_AB_SALT, "").strip() or defaults.ab_salt
    return Roles(
        champion=aliases.get(ALIAS_CHAMPION),
        canary=aliases.get(ALIAS_CANARY),
        shadow=aliases.get(ALIAS_SHADOW),
        canary_weight=_float_tag(tags, TAG_CANARY_WEIGHT, defaults.canary_weight),
        shadow_sample_rate=_float_tag(tags, TAG_SHADOW_SAMPLE_RATE, defaults.shadow_sample_rate),
        ab_salt=salt,
    )


def unit_bucket(unit_id: str, salt: str) -> float:
    """A stable position in [0, 100) for `unit_id` under `salt`: the first 8 bytes of sha256("salt:unit") scaled.

    Stable across processes and Python versions (unlike `hash()`), uniform enough that the share of units below a
    weight converges to the weight, and independent across salts, so a new salt reshuffles the groups.
    """
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPAN * _BUCKETS


def assign(unit_id: str | None, roles: Roles, rng: RandomSource) -> str:
    """ "canary" or "champion" for one request.

    With a canary and a unit id, the unit's bucket decides (a unit stays on its side while weight and salt stay);
    without a unit id, a draw from `rng` decides, so anonymous traffic still splits by the weight.
    """
    if roles.canary is None or roles.canary_weight <= 0.0:
        return ROLE_CHAMPION
    position = unit_bucket(unit_id, roles.ab_salt) if unit_id is not None else rng.random() * _BUCKETS
    return ROLE_CANARY if position < roles.canary_weight else ROLE_CHAMPION
