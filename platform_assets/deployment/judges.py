"""The shadow gate and the canary gate: may a shadow become a canary, may a canary move on?

This module defines the two automated judges of continuous deployment and the records they use:

- `ShadowEvidence` and `shadow_gate`: after a shadow has scored a sample of live requests beside the
  champion, decide "proceed" (start the canary), "reject" or "wait" (too little evidence yet).
- `CanaryEvidence` and `canary_gate`: at each canary step, decide "promote" (advance to the next step,
  or make the canary champion at the last one), "hold" (stay at this step) or "rollback".
- `Verdict`: the decision, every rule's outcome in words (the deciding one first) and one table row per
  rule, renderable as Markdown for a run's metadata.

The thresholds come from the spec's `deployment:` section (`platform_assets.spec.ShadowSpec` and
`CanarySpec`). The statistics are the platform's own: the shadow's AUC is compared with the champion's by
DeLong's covariance of the two AUCs on the same labelled requests (`evaluation.metrics.delong_auc_covariance`,
O(n log n), so a week of shadow traffic is judged within a sensor tick); the canary's AUC with production's by
the sum of the two samples' DeLong variances;
prediction drift by `platform_assets.monitoring.psi.psi_numeric`. The sensors that read the prediction
log and the labels build the evidence; the deployment asset turns a verdict into a transition of
`platform_assets.deployment.state` (proceed -> start_canary, reject -> reject, promote -> advance_canary
or promote at the last step, rollback -> rollback_canary). Nothing here reads a log or touches a registry.

Every statistical rule acts only on evidence that is confidently bad, so noise in a small sample cannot
flip a decision; too little evidence waits or holds, never proceeds or promotes. Deterministic for a seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from platform_assets.evaluation.metrics import delong_auc_covariance, validate_scores
from platform_assets.monitoring.psi import psi_numeric
from platform_assets.spec import CanarySpec, ShadowSpec

# scipy.stats is imported in the functions that use it: it takes over a second to import, and every process that loads
# the code location (each run, the code server, the CLI) would pay for it.

__all__ = [
    "CANARY_DECISIONS",
    "MAX_SHADOW_ERROR_RATE",
    "PSI_BINS",
    "SHADOW_CONFIDENCE",
    "SHADOW_DECISIONS",
    "CanaryEvidence",
    "ShadowEvidence",
    "Verdict",
    "canary_gate",
    "error_test_level",
    "shadow_gate",
]

SHADOW_DECISIONS = ("proceed", "reject", "wait")
CANARY_DECISIONS = ("promote", "hold", "rollback")

# The shadow spec has no confidence of its own; the AUC comparison uses the conventional 95%.
SHADOW_CONFIDENCE = 0.95
# A shadow that fails (errors or times out) on more than 1% of its requests cannot serve.
MAX_SHADOW_ERROR_RATE = 0.01
# Bins of the prediction PSI, on production's score quantiles.
PSI_BINS = 10
_PSI_MIN_PER_BIN = 10  # production scores per PSI bin before the canary's prediction PSI is judged

# Outcomes of one rule (a table row).
_PASS = "pass"
_NOT_JUDGED = "not judged"


# ------------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Verdict:
    """A gate's decision, each rule's outcome in words (the deciding one first) and one table row per rule."""

    decision: str  # shadow: "proceed" | "reject" | "wait"; canary: "promote" | "hold" | "rollback"
    reasons: tuple[str, ...]
    checks: tuple[dict[str, Any], ...]  # rule, value, threshold, outcome

    def to_markdown(self) -> str:
        lines = [f"**Decision: {self.decision}**", ""]
        lines.extend(f"- {reason}" for reason in self.reasons)
        lines.extend(["", "| rule | value | threshold | outcome |", "| --- | --- | --- | --- |"])
        for check in self.checks:
            cells = (check["rule"], _display(check["value"]), check["threshold"], check["outcome"])
            lines.append("| " + " | ".join(_cell(str(cell)) for cell in cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: numpy numbers become Python numbers, non-finite ones None."""
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "checks": [{key: _json_value(value) for key, value in check.items()} for check in self.checks],
        }


@dataclass(frozen=True, eq=False)  # eq=False: arrays do not compare as booleans
class ShadowEvidence:
    """What the shadow has shown so far, read from the prediction log and the labels."""

    days: float
    requests: int  # requests sampled for the shadow
    champion_scores: np.ndarray  # paired with shadow_scores: the same requests, in the same order
    shadow_scores: np.ndarray
    labels: np.ndarray | None  # 0/1 for the labelled subset, aligned with the next two; None if none yet
    champion_labelled_scores: np.ndarray | None
    shadow_labelled_scores: np.ndarray | None
    shadow_p99_ms: float
    shadow_errors: int
    shadow_timeouts: int


@dataclass(frozen=True, eq=False)
class CanaryEvidence:
    """What the current canary step has shown, beside production (the champion's share) over the same time."""

    hours_at_step: float
    canary_requests: int
    canary_errors: int
    canary_p99_ms: float
    canary_scores: np.ndarray
    production_requests: int
    production_errors: int
    production_scores: np.ndarray
    canary_labels: np.ndarray | None  # 0/1, aligned with canary_labelled_scores; None if none yet
    canary_labelled_scores: np.ndarray | None
    production_labels: np.ndarray | None
    production_labelled_scores: np.ndarray | None


@dataclass(frozen=True)
class _Check:
    """One rule's outcome: a table row plus the sentence that explains it."""

    rule: str
    value: float | int | None
    threshold: str
    outcome: str
    reason: str

    def row(self) -> dict[str, Any]:
        return {"rule": self.rule, "value": self.value, "threshold": self.threshold, "outcome": self.outcome}


def _verdict(decision: str, deciding: str | None, checks: Sequence[_Check], skip: Sequence[_Check] = ()) -> Verdict:
    """The verdict with `deciding` first, then every other check's reason in rule order."""
    rest = [check.reason for check in checks if check not in skip and check.reason != deciding]
    reasons = ([deciding] if deciding else []) + rest
    return Verdict(decision=decision, reasons=tuple(reasons), checks=tuple(check.row() for check in checks))


# ------------------------------------------------------------------------------------------------ shadow


def shadow_gate(evidence: ShadowEvidence, spec: ShadowSpec, *, seed: int = 0) -> Verdict:
    """Judge a shadow: "proceed" to a canary, "reject" it, or "wait" for more evidence.

    The rules, in order:

    1. Evidence: until ``days >= min_days`` and ``requests >= min_requests`` the decision is "wait", and the
       reason says how much of each is missing (the other rules are still reported, as provisional).
    2. Agreement: the Pearson correlation of the paired champion and shadow scores (the same requests;
       pairs with a missing score are left out) must be >= ``min_correlation``; a shadow whose scores are
       constant, or fewer than two pairs, rejects. Constant champion scores leave it not judged. A low
       correlation is excused when the AUC rule (3) has judged the shadow on its labels and passed it.
    3. Latency: shadow p99 must be <= ``latency_p99_ms`` (the serving SLA); no measurement yet waits.
    4. AUC: with at least ``min_labelled`` labelled requests of both classes, DeLong's interval for the
       paired shadow - champion AUC on those requests (95%); reject only when the interval's upper end lies below
       ``-max_auc_drop``, i.e. the shadow is confidently worse by more than the margin. With fewer labels the
       rule is "not judged (n labelled)" and does not block.
    5. Failures: (errors + timeouts) / requests must be <= 1% (a timed-out score is a failed one).

    "wait" comes first, then "reject" (the first failing rule decides), else "proceed".
    """
    champion, shadow = _paired_finite(evidence.champion_scores, evidence.shadow_scores)
    _non_negative(
        requests=evidence.requests, shadow_errors=evidence.shadow_errors, shadow_timeouts=evidence.shadow_timeouts
    )
    correlation = _correlation_check(champion, shadow, spec.min_correlation)
    auc = _shadow_auc_check(evidence, spec, seed)
    if correlation.outcome == "reject" and correlation.value is not None and auc.outcome == _PASS:
        # After the world changed, a model of the new world disagrees with the old champion by design: the labels,
        # not agreement with the model being replaced, say whether the shadow is worse.
        correlation = _Check(
            correlation.rule,
            correlation.value,
            correlation.threshold,
            _PASS,
            correlation.reason + ", but the labels show the shadow no worse",
        )
    checks = [
        _enough("shadow days", float(evidence.days), spec.min_days, "days", "wait"),
        _enough("shadow requests", evidence.requests, spec.min_requests, "requests", "wait"),
        correlation,
        _shadow_latency_check(evidence.shadow_p99_ms, spec.latency_p99_ms),
        auc,
        _shadow_failure_check(evidence),
    ]
    waiting = [check for check in checks if check.outcome == "wait"]
    if waiting:
        summary = "wait: " + "; ".join(check.reason for check in waiting) + " (the other rules are provisional)"
        return _verdict("wait", summary, checks, skip=waiting)
    failing = [check for check in checks if check.outcome == "reject"]
    if failing:
        return _verdict("reject", failing[0].reason, checks)
    return _verdict("proceed", "proceed: every rule passed on enough evidence", checks)


def _correlation_check(champion: np.ndarray, shadow: np.ndarray, minimum: float) -> _Check:
    rule, threshold = "score correlation", f">= {minimum:g}"
    if len(shadow) < 2:
        reason = f"score correlation undefined: only {len(shadow)} paired score(s)"
        return _Check(rule, None, threshold, "reject", reason)
    if np.ptp(shadow) == 0:
        reason = "score correlation undefined: the shadow scores are constant, so they rank nothing"
        return _Check(rule, None, threshold, "reject", reason)
    if np.ptp(champion) == 0:
        reason = "score correlation not judged: the champion scores are constant"
        return _Check(rule, None, threshold, _NOT_JUDGED, reason)
    value = float(np.corrcoef(champion, shadow)[0, 1])
    outcome = _PASS if value >= minimum else "reject"
    relation = ">=" if outcome == _PASS else "<"
    reason = f"score correlation {value:.3f} {relation} {minimum:g} over {len(shadow):,} paired requests"
    return _Check(rule, value, threshold, outcome, reason)


def _shadow_latency_check(p99_ms: float, limit_ms: float) -> _Check:
    rule, threshold = "shadow p99 latency (ms)", f"<= {limit_ms:g}"
    if not math.isfinite(p99_ms):
        return _Check(rule, None, threshold, "wait", "shadow p99 latency not measured yet")
    outcome = _PASS if p99_ms <= limit_ms else "reject"
    relation = "<=" if outcome == _PASS else ">"
    reason = f"shadow p99 latency {p99_ms:.1f} ms {relation} the {limit_ms:g} ms SLA"
    return _Check(rule, p99_ms, threshold, outcome, reason)


def _shadow_auc_check(evidence: ShadowEvidence, spec: ShadowSpec, seed: int) -> _Check:
    from scipy.stats import norm

    rule = "AUC shadow - champion"
    threshold = f"{SHADOW_CONFIDENCE:.0%} CI upper end >= {-spec.max_auc_drop:+g}"
    labelled = _labelled(
        evidence.labels,
        {
            "champion_labelled_scores": evidence.champion_labelled_scores,
            "shadow_labelled_scores": evidence.shadow_labelled_scores,
        },
    )
    if labelled is None or len(labelled[0]) < spec.min_labelled:
        count = 0 if labelled is None else len(labelled[0])
        reason = f"AUC not judged ({count:,} labelled, needs {spec.min_labelled:,}); it does not block"
        return _Check(rule, None, threshold, _NOT_JUDGED, reason)
    y, (champion, shadow) = labelled
    if y.min() == y.max():
        reason = f"AUC not judged ({len(y):,} labelled, all of one class); it does not block"
        return _Check(rule, None, threshold, _NOT_JUDGED, reason)
    # DeLong's covariance of the two AUCs on the same requests: O(n log n), where a bootstrap costs O(1,000 n) and
    # took most of a minute on a week of labelled shadow traffic, far over a sensor tick.
    aucs, covariance = delong_auc_covariance(y, shadow, champion)
    difference = float(aucs[0] - aucs[1])
    spread = math.sqrt(max(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1], 0.0))
    z = float(norm.ppf(0.5 + SHADOW_CONFIDENCE / 2))
    low, high = difference - z * spread, difference + z * spread
    interval = f"{difference:+.4f}, {SHADOW_CONFIDENCE:.0%} CI [{low:+.4f}, {high:+.4f}] on {len(y):,} labelled"
    if high < -spec.max_auc_drop:
        reason = f"AUC shadow - champion {interval}: confidently worse by more than {spec.max_auc_drop:g}"
        return _Check(rule, difference, threshold, "reject", reason)
    reason = f"AUC shadow - champion {interval}: not confidently worse than -{spec.max_auc_drop:g}"
    return _Check(rule, difference, threshold, _PASS, reason)


def _shadow_failure_check(evidence: ShadowEvidence) -> _Check:
    rule, threshold = "shadow failure rate", f"<= {MAX_SHADOW_ERROR_RATE:.0%}"
    failures = evidence.shadow_errors + evidence.shadow_timeouts
    if evidence.requests == 0:
        return _Check(rule, None, threshold, _NOT_JUDGED, "shadow failure rate not judged: no requests yet")
    rate = failures / evidence.requests
    outcome = _PASS if rate <= MAX_SHADOW_ERROR_RATE else "reject"
    relation = "<=" if outcome == _PASS else ">"
    reason = (
        f"shadow failure rate {rate:.2%} ({evidence.shadow_errors:,} errors + {evidence.shadow_timeouts:,} "
        f"timeouts of {evidence.requests:,}) {relation} {MAX_SHADOW_ERROR_RATE:.0%}"
    )
    return _Check(rule, rate, threshold, outcome, reason)


# ------------------------------------------------------------------------------------------------ canary


def canary_gate(
    evidence: CanaryEvidence, spec: CanarySpec, *, seed: int = 0, concurrent_production: bool = True
) -> Verdict:
    """Judge a canary step: "promote" (advance, or promote at the last step), "hold" or "rollback".

    The seed's rules, in the seed's order, each acting only on confident evidence:

    1. Error rate: roll back when the canary's error rate exceeds ``max_error_ratio`` x production's, and a
       one-sided test says so: given k = canary + production errors, canary errors ~ Binomial(k, p0) with
       p0 = r n_c / (r n_c + n_p) when the canary's rate is exactly r times production's; roll back when
       P(X >= canary errors) is below the test's level (`error_test_level`). That level is 1 - confidence
       once the canary has ``min_requests`` requests, and far smaller before: the gate looks at a step again
       and again as evidence accumulates, and a fixed 5% on every early look would sooner or later roll
       back a healthy canary on a handful of errors. A canary failing badly still rolls back within its
       first requests, as its p-value is tiny. No errors on either side passes.
    2. Latency: roll back when canary p99 > ``max_p99_ms``; judged only from ``min_requests`` canary requests.
    3. Prediction drift: hold when the PSI of canary scores against production scores (bins on production's
       quantiles) exceeds ``max_prediction_psi``: the canary predicts differently and labels must tell.
    4. AUC: with ``min_labelled`` labelled requests of both classes on each side, DeLong's variance of each
       side's AUC, summed (two different request sets, so independent); roll back when the upper end of the interval of
       canary - production AUC at ``confidence`` lies below ``-max_auc_drop``. Otherwise not judged.
    5. Evidence: hold when the canary has fewer than ``min_requests`` requests, has spent fewer than
       ``dwell_hours`` at the step, or either side has fewer than ``min_labelled`` labels. Any rule not
       judged (no production traffic to compare with, no latency yet, one class among the labels) also
       holds: too little evidence never promotes.
    6. Else promote.

    Any rollback outranks a hold (a confident regression is not excused by a drift hold); the first rule
    in the order above with the final decision gives the deciding reason. A prediction-drift hold ends once the
    AUC rule has judged the step on its labels and passed it: the labels have told.

    `concurrent_production=False` is the last step (100%), where no champion traffic runs beside the canary and
    production is the champion's own earlier window: comparing scores or AUC across time would read any change in
    the world as the canary's fault, so prediction drift, AUC and labels are not judged there (they were, against
    live traffic, at every earlier step); errors, latency, requests and dwell still are.
    """
    _non_negative(
        canary_requests=evidence.canary_requests,
        canary_errors=evidence.canary_errors,
        production_requests=evidence.production_requests,
        production_errors=evidence.production_errors,
    )
    if evidence.canary_errors > evidence.canary_requests or evidence.production_errors > evidence.production_requests:
        raise ValueError(
            f"errors cannot exceed requests: canary {evidence.canary_errors}/{evidence.canary_requests}, "
            f"production {evidence.production_errors}/{evidence.production_requests}"
        )
    canary_labelled = _labelled(evidence.canary_labels, {"canary_labelled_scores": evidence.canary_labelled_scores})
    production_labelled = _labelled(
        evidence.production_labels, {"production_labelled_scores": evidence.production_labelled_scores}
    )
    canary_count = 0 if canary_labelled is None else len(canary_labelled[0])
    production_count = 0 if production_labelled is None else len(production_labelled[0])
    if concurrent_production:
        psi = _psi_check(evidence, spec)
        auc = _canary_auc_check(canary_labelled, production_labelled, spec, seed)
        labels = _labels_check(canary_count, production_count, spec.min_labelled)
        if psi.outcome == "hold" and auc.outcome == _PASS:
            psi = _Check(
                psi.rule, psi.value, psi.threshold, _PASS, psi.reason + ", but the labels show the canary no worse"
            )
    else:
        why = "not judged at the last step: no live champion traffic to compare with (judged at the earlier steps)"
        psi = _Check("prediction PSI", None, f"<= {spec.max_prediction_psi:g}", _PASS, f"prediction PSI {why}")
        auc = _Check("AUC canary - production", None, "-", _PASS, f"AUC {why}")
        labels = _Check("labelled requests", None, "-", _PASS, f"labelled requests {why}")
    checks = [
        _error_rate_check(evidence, spec),
        _canary_latency_check(evidence, spec),
        psi,
        auc,
        _enough("canary requests", evidence.canary_requests, spec.min_requests, "requests", "hold"),
        _enough("hours at step", float(evidence.hours_at_step), spec.dwell_hours, "hours", "hold"),
        labels,
    ]
    rollbacks = [check for check in checks if check.outcome == "rollback"]
    if rollbacks:
        return _verdict("rollback", rollbacks[0].reason, checks)
    holds = [check for check in checks if check.outcome == "hold"]
    unjudged = [check for check in checks if check.outcome == _NOT_JUDGED]
    if holds or unjudged:
        deciding = (holds or unjudged)[0].reason
        return _verdict("hold", deciding, checks)
    return _verdict("promote", "promote: every rule passed on enough evidence", checks)


def error_test_level(confidence: float, information: float) -> float:
    """The level of the canary's error-rate test after `information` (canary requests / min_requests).

    An O'Brien-Fleming-shaped spending curve, 2 (1 - Phi(z_{1-a/2} / sqrt(t))) with a = 1 - confidence: about
    1e-5 at t = 0.2, 0.002 at t = 0.4, 0.03 at t = 0.8 and exactly a from t = 1 on. Early looks thus need
    overwhelming evidence, and the spec's confidence applies as stated once the step has its requests.
    """
    from scipy.stats import norm

    alpha = 1.0 - confidence
    if information >= 1.0:
        return alpha
    if information <= 0.0:
        return 0.0
    return float(2.0 * norm.sf(norm.isf(alpha / 2.0) / math.sqrt(information)))


def _error_rate_check(evidence: CanaryEvidence, spec: CanarySpec) -> _Check:
    from scipy.stats import binomtest

    ratio = spec.max_error_ratio
    rule = "error rate"
    n_canary, n_production = evidence.canary_requests, evidence.production_requests
    errors_canary, errors_production = evidence.canary_errors, evidence.production_errors
    if n_canary == 0 or n_production == 0:
        missing = "canary" if n_canary == 0 else "production"
        reason = f"error rate not judged: no {missing} requests to compare"
        return _Check(rule, None, f"<= {ratio:g} x production", _NOT_JUDGED, reason)
    canary_rate = errors_canary / n_canary
    production_rate = errors_production / n_production
    threshold = f"<= {ratio:g} x production ({ratio * production_rate:.2%}), one-sided test"
    rates = (
        f"canary {canary_rate:.2%} ({errors_canary:,}/{n_canary:,}) vs production {production_rate:.2%} "
        f"({errors_production:,}/{n_production:,})"
    )
    if errors_canary + errors_production == 0:
        return _Check(rule, canary_rate, threshold, _PASS, f"error rate: no errors on either side ({rates})")
    # Conditional on the total, the canary's share of errors is binomial; p0 is its share when the canary
    # rate is exactly `ratio` times production's, the boundary of "no worse than allowed".
    p0 = ratio * n_canary / (ratio * n_canary + n_production)
    p_value = float(binomtest(errors_canary, errors_canary + errors_production, p0, alternative="greater").pvalue)
    level = error_test_level(spec.confidence, n_canary / spec.min_requests)
    test = f"P = {p_value:.3g} vs level {level:.3g}"
    if p_value < level:
        reason = f"error rate {rates}: significantly above {ratio:g}x production ({test})"
        return _Check(rule, canary_rate, threshold, "rollback", reason)
    reason = f"error rate {rates}: not significantly above {ratio:g}x production ({test})"
    return _Check(rule, canary_rate, threshold, _PASS, reason)


def _canary_latency_check(evidence: CanaryEvidence, spec: CanarySpec) -> _Check:
    rule, threshold = "canary p99 latency (ms)", f"<= {spec.max_p99_ms:g}"
    if evidence.canary_requests < spec.min_requests:
        # A p99 of a few hundred requests rests on its few slowest ones: too noisy to roll back on.
        reason = f"canary p99 latency not judged: {evidence.canary_requests:,} requests, needs {spec.min_requests:,}"
        return _Check(rule, _finite_or_none(evidence.canary_p99_ms), threshold, _NOT_JUDGED, reason)
    if not math.isfinite(evidence.canary_p99_ms):
        return _Check(rule, None, threshold, _NOT_JUDGED, "canary p99 latency not judged: not measured")
    outcome = _PASS if evidence.canary_p99_ms <= spec.max_p99_ms else "rollback"
    relation = "<=" if outcome == _PASS else ">"
    reason = f"canary p99 latency {evidence.canary_p99_ms:.1f} ms {relation} {spec.max_p99_ms:g} ms"
    return _Check(rule, evidence.canary_p99_ms, threshold, outcome, reason)


def _psi_check(evidence: CanaryEvidence, spec: CanarySpec) -> _Check:
    rule, threshold = "prediction PSI", f"<= {spec.max_prediction_psi:g}"
    canary = np.asarray(evidence.canary_scores, dtype=np.float64).ravel()
    production = np.asarray(evidence.production_scores, dtype=np.float64).ravel()
    if len(canary) == 0 or len(production) == 0:
        missing = "canary" if len(canary) == 0 else "production"
        return _Check(rule, None, threshold, _NOT_JUDGED, f"prediction PSI not judged: no {missing} scores")
    if len(canary) < spec.min_requests or len(production) < _PSI_MIN_PER_BIN * PSI_BINS:
        # PSI over a handful of scores is mostly empty bins: it would hold every young step on noise.
        return _Check(
            rule,
            None,
            threshold,
            _NOT_JUDGED,
            f"prediction PSI not judged: {len(canary):,} canary scores (needs {spec.min_requests:,}) and "
            f"{len(production):,} production scores (needs {_PSI_MIN_PER_BIN * PSI_BINS:,})",
        )
    value = psi_numeric(production, canary, bins=PSI_BINS)
    outcome = _PASS if value <= spec.max_prediction_psi else "hold"
    relation = "<=" if outcome == _PASS else ">"
    reason = (
        f"prediction PSI {value:.3f} {relation} {spec.max_prediction_psi:g} "
        f"({len(canary):,} canary vs {len(production):,} production scores)"
    )
    return _Check(rule, value, threshold, outcome, reason)


def _canary_auc_check(
    canary: tuple[np.ndarray, list[np.ndarray]] | None,
    production: tuple[np.ndarray, list[np.ndarray]] | None,
    spec: CanarySpec,
    seed: int,
) -> _Check:
    from scipy.stats import norm

    rule = "AUC canary - production"
    threshold = f"{spec.confidence:.0%} CI upper end >= {-spec.max_auc_drop:+g}"
    counts = [0 if side is None else len(side[0]) for side in (canary, production)]
    if canary is None or production is None or min(counts) < spec.min_labelled:
        reason = (
            f"AUC not judged ({counts[0]:,} canary and {counts[1]:,} production labelled, needs "
            f"{spec.min_labelled:,} each)"
        )
        return _Check(rule, None, threshold, _NOT_JUDGED, reason)
    (y_canary, (p_canary,)), (y_production, (p_production,)) = canary, production
    for name, y in (("canary", y_canary), ("production", y_production)):
        if y.min() == y.max():
            reason = f"AUC not judged: the {len(y):,} {name} labels are all of one class"
            return _Check(rule, None, threshold, _NOT_JUDGED, reason)
    # Two different request sets, so independent: the variance of the difference is the sum of DeLong's variances.
    (canary_auc,), (canary_variance,) = _auc_and_variance(y_canary, p_canary)
    (production_auc,), (production_variance,) = _auc_and_variance(y_production, p_production)
    difference = float(canary_auc - production_auc)
    spread = math.sqrt(max(canary_variance + production_variance, 0.0))
    z = float(norm.ppf(0.5 + spec.confidence / 2))
    low, high = difference - z * spread, difference + z * spread
    interval = (
        f"{difference:+.4f}, {spec.confidence:.0%} CI [{low:+.4f}, {high:+.4f}] "
        f"({counts[0]:,} canary, {counts[1]:,} production labelled)"
    )
    if high < -spec.max_auc_drop:
        reason = f"AUC canary - production {interval}: confidently worse by more than {spec.max_auc_drop:g}"
        return _Check(rule, difference, threshold, "rollback", reason)
    reason = f"AUC canary - production {interval}: not confidently worse than -{spec.max_auc_drop:g}"
    return _Check(rule, difference, threshold, _PASS, reason)


def _auc_and_variance(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    aucs, covariance = delong_auc_covariance(y, p)
    return aucs, np.diag(covariance)


def _labels_check(canary_count: int, production_count: int, minimum: int) -> _Check:
    rule, threshold = "labelled requests", f">= {minimum:,} on each side"
    value = min(canary_count, production_count)
    counts = f"{canary_count:,} canary, {production_count:,} production labelled"
    if value >= minimum:
        return _Check(rule, value, threshold, _PASS, f"labelled requests: {counts} (>= {minimum:,} each)")
    short = [
        f"{minimum - count:,} more {side}"
        for side, count in (("canary", canary_count), ("production", production_count))
        if count < minimum
    ]
    reason = f"labelled requests: {counts}; needs {' and '.join(short)} before AUC can be compared"
    return _Check(rule, value, threshold, "hold", reason)


# ------------------------------------------------------------------------------------------------ helpers


def _enough(rule: str, value: float, minimum: float, unit: str, shortfall: str) -> _Check:
    """An evidence rule: value >= minimum, else `shortfall` ("wait" or "hold") saying how much is missing."""
    if isinstance(value, np.integer):
        value = int(value)
    shown = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    if value >= minimum:
        return _Check(rule, value, f">= {minimum:,g}", _PASS, f"{rule}: {shown} (>= {minimum:,g} {unit})")
    missing = minimum - value
    more = f"{missing:,}" if isinstance(missing, int) else f"{missing:,.1f}"
    reason = f"{rule}: {shown} of {minimum:,g} {unit} ({more} more needed)"
    return _Check(rule, value, f">= {minimum:,g}", shortfall, reason)


def _paired_finite(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two paired score arrays with every pair that has a missing (non-finite) side left out."""
    a = np.asarray(first, dtype=np.float64).ravel()
    b = np.asarray(second, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores must be equally long, got {len(a)} and {len(b)}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _labelled(
    labels: np.ndarray | None, scores: dict[str, np.ndarray | None]
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Labels and their aligned score arrays, validated, with rows where any score is missing left out.

    None when there are no labels. A missing score (a timed-out request) drops the row rather than failing
    the gate; labels that are not 0/1 or scores outside [0, 1] are a caller's bug and raise ValueError.
    """
    if labels is None:
        return None
    y = np.asarray(labels, dtype=np.float64).ravel()
    arrays = []
    for name, values in scores.items():
        if values is None:
            raise ValueError(f"labels are given but {name} is None; they must be aligned with the labels")
        array = np.asarray(values, dtype=np.float64).ravel()
        if array.shape != y.shape:
            raise ValueError(f"{name} has {len(array)} rows but there are {len(y)} labels; they must be aligned")
        arrays.append(array)
    keep = np.isfinite(y)
    for array in arrays:
        keep &= np.isfinite(array)
    if not keep.any():
        return np.empty(0), [np.empty(0) for _ in arrays]
    y = y[keep]
    validated = [validate_scores(y, array[keep], both_classes=False)[1] for array in arrays]
    return y, validated


def _non_negative(**counts: int) -> None:
    negative = {name: count for name, count in counts.items() if count < 0}
    if negative:
        raise ValueError(f"counts must be non-negative, got {negative}")


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _display(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}" if math.isfinite(value) else "-"
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _cell(text: str) -> str:
    # A pipe would split the Markdown cell.
    return text.replace("|", "\\|")
