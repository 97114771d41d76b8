"""The quality gate: may a candidate model replace the champion? Plain functions and frozen records.

This module defines the gate's decision (`decide`), the paired bootstrap it uses to compare a candidate
with the champion on the same test rows (`paired_bootstrap`), and the records that explain a decision:
`RuleVerdict` (one row of the decision table), `Comparison` (one metric compared with the champion),
`ChampionEvidence` (what the caller knows about the champion) and `GateDecision` (the outcome, renderable
as Markdown for a run's metadata and as a JSON-serialisable dict).

The rules come from a spec's `gate:` section (`platform_assets.spec.GateSpec`: a `MetricRule` per metric
and a `ChampionComparisonSpec`); the metric values come from `platform_assets.evaluation.metrics`. The
caller (the gate asset) scores the candidate and, when a champion exists, the champion on the same test
rows, then hands both here. Nothing here touches a registry, a file or Dagster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from platform_assets.evaluation.metrics import (
    PREDICTION_METRICS,
    metric_value,
    resampled_metric_differences,
    validate_scores,
)
from platform_assets.spec import ChampionComparisonSpec, MetricRule

__all__ = [
    "METRIC_DIRECTIONS",
    "VERDICTS",
    "ChampionEvidence",
    "Comparison",
    "GateDecision",
    "RuleVerdict",
    "comparison_verdict",
    "decide",
    "paired_bootstrap",
]

# Which way is better for every metric a gate rule may name (the keys of `spec.METRIC_BOUNDS`): the
# prediction metrics, plus the serving costs, where less is better.
METRIC_DIRECTIONS: dict[str, Literal["higher", "lower"]] = {
    **PREDICTION_METRICS,
    "p99_latency_ms": "lower",
    "peak_memory_mb": "lower",
}

VERDICTS = (
    "regression beyond margin",
    "possible regression",
    "equal within noise",
    "improvement within noise",
    "improvement",
)

# A point difference smaller than this share of the margin reads as "no difference" rather than as an
# improvement: the margin is the size of change the spec's owner cares about, so a tenth of it is noise
# for the purpose of the report (two runs of the same model differ by about that much).
_NEGLIGIBLE_SHARE_OF_MARGIN = 0.1
# Row indices drawn per step of the bootstrap: about a million keeps each step's arrays at a few MB (memory
# stays bounded however many resamples a spec asks for) while steps stay few enough that the Python loop
# costs nothing; 1,000 resamples of 15,000 rows take 15 steps.
_BOOTSTRAP_CHUNK_ELEMENTS = 1_000_000


# ------------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class RuleVerdict:
    """One row of the decision table: a rule, the value it judged, and why it passed or failed."""

    rule: str  # e.g. "auc_roc >= 0.88", "auc_roc vs champion (bootstrap 95% CI)"
    metric: str
    value: float | None  # the judged value; for the bootstrap rule, the point difference candidate - champion
    threshold: str  # the threshold in words
    passed: bool
    detail: str  # why, in words: "missing metric", "0.861 < 0.88", "CI [...] straddles 0: equal within noise"


@dataclass(frozen=True, eq=False)  # arrays make field-wise equality ambiguous, so records compare by identity
class ChampionEvidence:
    """The champion as the gate sees it: its registry version, and its scores on the candidate's test rows.

    The point rule reads `metrics`; the bootstrap reads the probabilities, so both must describe the same rows.
    """

    version: str
    metrics: Mapping[str, float]  # the champion scored on the same test rows as the candidate
    y_true: np.ndarray  # the shared test rows' labels
    candidate_prob: np.ndarray
    champion_prob: np.ndarray


@dataclass(frozen=True)
class Comparison:
    """One prediction metric, candidate against champion on the shared rows, with a paired bootstrap CI."""

    metric: str
    candidate: float
    champion: float
    difference: float  # candidate - champion
    ci_low: float
    ci_high: float
    confidence: float
    margin: float  # in metric units: max_relative_regression * |champion|
    verdict: str  # one of VERDICTS, sign-aware (for lower-is-better metrics a negative difference improves)


@dataclass(frozen=True)
class GateDecision:
    """The gate's outcome: passed only if every verdict passed, with the table that explains it."""

    passed: bool
    verdicts: tuple[RuleVerdict, ...]
    comparisons: tuple[Comparison, ...]
    reasons: tuple[str, ...]  # one per failed rule; empty when passed
    champion_version: str | None
    note: str  # what the decision was based on, e.g. "no champion: the absolute rules alone decide"

    def to_markdown(self) -> str:
        """The decision as Markdown: the rule table, the comparisons table, then the note and any reasons."""
        lines = [
            f"**Quality gate: {'PASS' if self.passed else 'FAIL'}**",
            "",
            "| rule | value | threshold | verdict | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        for verdict in self.verdicts:
            cells = [
                verdict.rule,
                "missing" if verdict.value is None else _number(verdict.value),
                verdict.threshold,
                "PASS" if verdict.passed else "FAIL",
                verdict.detail,
            ]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        if self.comparisons:
            lines += [
                "",
                "| metric | candidate | champion | difference | CI | margin | verdict |",
                "| --- | --- | --- | --- | --- | --- | --- |",
            ]
            for comparison in self.comparisons:
                interval = f"{comparison.confidence:.0%} [{comparison.ci_low:+.4g}, {comparison.ci_high:+.4g}]"
                cells = [
                    comparison.metric,
                    _number(comparison.candidate),
                    _number(comparison.champion),
                    f"{comparison.difference:+.4g}",
                    interval,
                    f"{comparison.margin:.4g}",
                    comparison.verdict,
                ]
                lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines += ["", self.note]
        if self.reasons:
            lines += ["", "Failed:", *(f"- {reason}" for reason in self.reasons)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; non-finite floats become None so strict JSON parsers accept it."""
        return _json_safe(
            {
                "passed": self.passed,
                "verdicts": [asdict(verdict) for verdict in self.verdicts],
                "comparisons": [asdict(comparison) for comparison in self.comparisons],
                "reasons": list(self.reasons),
                "champion_version": self.champion_version,
                "note": self.note,
            }
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _cell(text: str) -> str:
    # A pipe would split the Markdown cell.
    return text.replace("|", "\\|")


def _number(value: float) -> str:
    # Six significant digits keep 0.87996 from printing as the 0.88 threshold it fails; large values
    # (latencies, memory) read better with separators than in exponent form.
    return f"{value:,.1f}" if abs(value) >= 1e5 else f"{value:.6g}"


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


# ------------------------------------------------------------------------------------------------ bootstrap


def paired_bootstrap(
    y_true: np.ndarray,
    candidate_prob: np.ndarray,
    champion_prob: np.ndarray,
    metric: str,
    *,
    resamples: int,
    confidence: float,
    seed: int = 0,
    threshold: float = 0.5,
) -> tuple[float, float, float]:
    """Candidate minus champion on `metric`: the point difference on all rows and a percentile bootstrap CI.

    Each resample draws the test ROWS with replacement and scores both models on the same draw, so the
    interval reflects the difference between the models rather than the noise each has on its own (the two
    are strongly correlated on shared rows). Returns (difference, ci_low, ci_high); deterministic for a seed.
    Resamples in which the metric is undefined (AUC on a draw with one class, possible only on tiny test sets)
    are left out; if every resample is undefined, ValueError.
    """
    if metric not in PREDICTION_METRICS:
        raise ValueError(f"cannot bootstrap {metric!r}: expected one of {sorted(PREDICTION_METRICS)}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    y, candidate = validate_scores(y_true, candidate_prob)
    _, champion = validate_scores(y_true, champion_prob)
    difference = metric_value(metric, y, candidate, threshold) - metric_value(metric, y, champion, threshold)

    rows = len(y)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _BOOTSTRAP_CHUNK_ELEMENTS // rows))
    # int32 indices halve the memory traffic of the index arrays; fine below 2**31 rows.
    index_dtype = np.int32 if rows < 2**31 else np.int64
    differences = []
    for start in range(0, resamples, chunk):
        draws = rng.integers(0, rows, size=(min(chunk, resamples - start), rows), dtype=index_dtype)
        differences.append(resampled_metric_differences(metric, y, candidate, champion, draws, threshold))
    resampled = np.concatenate(differences)
    resampled = resampled[np.isfinite(resampled)]
    if len(resampled) == 0:
        raise ValueError(f"{metric} is undefined on every resample of {rows} rows (one class per draw)")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return float(difference), float(low), float(high)


def comparison_verdict(
    difference: float, ci_low: float, ci_high: float, margin: float, direction: Literal["higher", "lower"]
) -> str:
    """Name what a paired interval says about candidate - champion, given the tolerated margin.

    The interval is first turned into a gain (positive favours the candidate), then, in order:
    "regression beyond margin" when the whole interval lies below -margin (the only failing verdict);
    "possible regression" when it reaches below -margin; "improvement" when it lies entirely above 0;
    "improvement within noise" when the point gain is more than negligible but the interval contains 0;
    otherwise "equal within noise" (the gain is ~0 or a loss no larger than the margin).
    """
    if direction == "higher":
        gain, low, high = difference, ci_low, ci_high
    else:
        gain, low, high = -difference, -ci_high, -ci_low
    if high < -margin:
        return "regression beyond margin"
    if low < -margin:
        return "possible regression"
    if low > 0:
        return "improvement"
    if gain > max(_NEGLIGIBLE_SHARE_OF_MARGIN * margin, 1e-12):
        return "improvement within noise"
    return "equal within noise"


def _interval_detail(comparison: Comparison, direction: Literal["higher", "lower"]) -> str:
    """The bootstrap verdict in words, naming the interval and how it sits against 0 and the margin."""
    interval = f"CI [{comparison.ci_low:+.4g}, {comparison.ci_high:+.4g}]"
    bound = f"{-comparison.margin:+.4g}" if direction == "higher" else f"{comparison.margin:+.4g}"
    verdict = comparison.verdict
    if verdict == "regression beyond margin":
        return f"{interval} lies entirely beyond the margin {bound}: {verdict}"
    if verdict == "possible regression":
        return f"{interval} reaches beyond the margin {bound} but not entirely: {verdict}"
    if verdict == "improvement":
        return f"{interval} lies entirely on the improving side of 0: {verdict}"
    if comparison.ci_low <= 0.0 <= comparison.ci_high:
        return f"{interval} straddles 0: {verdict}"
    return f"{interval} excludes 0 but stays within the margin {bound}: {verdict} (a loss smaller than the margin)"


# ------------------------------------------------------------------------------------------------- rules


def _finite(value: Any) -> float | None:
    """The value as a float, or None when it is absent, not a number, NaN or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _absolute_verdicts(metric: str, rule: MetricRule, value: float | None) -> list[RuleVerdict]:
    verdicts = []
    for bound, symbol, opposite in (("min", ">=", "<"), ("max", "<=", ">")):
        threshold = getattr(rule, bound)
        if threshold is None:
            continue
        text = f"{symbol} {threshold:g}"
        if value is None:
            verdicts.append(RuleVerdict(f"{metric} {text}", metric, None, text, False, "missing metric"))
            continue
        passed = value >= threshold if bound == "min" else value <= threshold
        relation = symbol if passed else opposite
        detail = f"{_number(value)} {relation} {threshold:g}"
        verdicts.append(RuleVerdict(f"{metric} {text}", metric, value, text, passed, detail))
    return verdicts


def _point_verdict(metric: str, value: float | None, champion: ChampionEvidence, share: float) -> RuleVerdict:
    """The seed's rule: the candidate may fall at most `share` (relative) behind the champion's value."""
    direction = _direction(metric)
    side = "below" if direction == "higher" else "above"
    rule = f"{metric} vs champion (point, <= {_percent(share)} {side})"
    champion_value = _finite(champion.metrics.get(metric))
    if champion_value is None:
        return RuleVerdict(
            rule,
            metric,
            value,
            "champion value unavailable",
            False,
            f"champion version {champion.version} has no finite {metric} to compare with",
        )
    if direction == "higher":
        bound = champion_value * (1.0 - share)
        threshold = f">= {_number(bound)} (champion {_number(champion_value)} - {_percent(share)})"
    else:
        bound = champion_value * (1.0 + share)
        threshold = f"<= {_number(bound)} (champion {_number(champion_value)} + {_percent(share)})"
    if value is None:
        return RuleVerdict(rule, metric, None, threshold, False, "missing metric")
    passed = value >= bound if direction == "higher" else value <= bound
    if passed:
        detail = f"{_number(value)} is within {_percent(share)} of champion version {champion.version}"
    else:
        relation = "<" if direction == "higher" else ">"
        detail = (
            f"{_number(value)} {relation} {_number(bound)}: more than {_percent(share)} {side} champion "
            f"version {champion.version} ({_number(champion_value)})"
        )
    return RuleVerdict(rule, metric, value, threshold, passed, detail)


def _bootstrap_verdict(
    metric: str, champion: ChampionEvidence, spec: ChampionComparisonSpec, seed: int, threshold: float
) -> tuple[RuleVerdict, Comparison]:
    """The statistical rule: fail only when the whole paired CI shows a regression beyond the margin."""
    direction = _direction(metric)
    candidate_value = metric_value(metric, champion.y_true, champion.candidate_prob, threshold)
    champion_value = metric_value(metric, champion.y_true, champion.champion_prob, threshold)
    difference, low, high = paired_bootstrap(
        champion.y_true,
        champion.candidate_prob,
        champion.champion_prob,
        metric,
        resamples=spec.bootstrap_resamples,
        confidence=spec.confidence,
        seed=seed,
        threshold=threshold,
    )
    margin = spec.max_relative_regression * abs(champion_value)
    comparison = Comparison(
        metric=metric,
        candidate=candidate_value,
        champion=champion_value,
        difference=difference,
        ci_low=low,
        ci_high=high,
        confidence=spec.confidence,
        margin=margin,
        verdict=comparison_verdict(difference, low, high, margin, direction),
    )
    if direction == "higher":
        text = f"CI upper bound >= {-margin:+.4g} ({_percent(spec.max_relative_regression)} of champion)"
    else:
        text = f"CI lower bound <= {margin:+.4g} ({_percent(spec.max_relative_regression)} of champion)"
    verdict = RuleVerdict(
        rule=f"{metric} vs champion (bootstrap {_percent(spec.confidence)} CI)",
        metric=metric,
        value=difference,
        threshold=text,
        passed=comparison.verdict != "regression beyond margin",
        detail=_interval_detail(comparison, direction),
    )
    return verdict, comparison


def _direction(metric: str) -> Literal["higher", "lower"]:
    try:
        return METRIC_DIRECTIONS[metric]
    except KeyError:
        raise ValueError(
            f"cannot compare {metric!r} with the champion: no known direction; expected one of "
            f"{sorted(METRIC_DIRECTIONS)}"
        ) from None


def decide(
    candidate: Mapping[str, float],
    rules: Mapping[str, MetricRule],
    comparison: ChampionComparisonSpec,
    champion: ChampionEvidence | None = None,
    seed: int = 0,
    *,
    threshold: float = 0.5,
) -> GateDecision:
    """Decide whether the candidate passes the quality gate.

    The rules, applied to each `rules` entry in order:

    1. The rule's metric must be present in `candidate` and finite; otherwise every check of that rule
       fails with "missing metric".
    2. `min`: value >= min. `max`: value <= max.
    3. With `compare_to_champion: true` and a champion given:
       a. The point rule (the seed's): a higher-is-better metric fails if candidate < champion *
          (1 - max_relative_regression); a lower-is-better one fails if candidate > champion *
          (1 + max_relative_regression). The champion's value comes from `champion.metrics`; if it is
          missing there, the rule fails and says so.
       b. For prediction metrics only, the statistical rule: a paired bootstrap CI of candidate - champion
          on the shared test rows (`comparison.confidence`, `comparison.bootstrap_resamples`, `seed`), with
          margin = max_relative_regression * |champion value|. It fails only when the whole interval shows a
          regression beyond the margin (higher-is-better: ci_high < -margin; lower-is-better: ci_low >
          margin). A `Comparison` with its verdict is reported either way. Serving metrics (p99_latency_ms,
          peak_memory_mb) have no per-row predictions to resample and get the point rule alone.
    4. With no champion, the absolute rules alone decide, and the note says so.
    5. The gate passes only if every verdict passed; `reasons` lists each failed verdict.

    Both steps of rule 3 apply, so a candidate must be neither clearly worse beyond the margin (3b) nor
    worse on the point estimate by more than the seed's tolerance (3a). `threshold` is the probability cut
    for F1, precision and recall in the bootstrap. Deterministic for a seed.
    """
    verdicts: list[RuleVerdict] = []
    comparisons: list[Comparison] = []
    compared = False
    for metric, rule in rules.items():
        value = _finite(candidate.get(metric))
        verdicts.extend(_absolute_verdicts(metric, rule, value))
        if not rule.compare_to_champion or champion is None:
            continue
        compared = True
        verdicts.append(_point_verdict(metric, value, champion, comparison.max_relative_regression))
        if metric not in PREDICTION_METRICS:
            continue
        if value is None:
            verdicts.append(
                RuleVerdict(
                    f"{metric} vs champion (bootstrap {_percent(comparison.confidence)} CI)",
                    metric,
                    None,
                    "candidate value required",
                    False,
                    "missing metric",
                )
            )
            continue
        verdict, result = _bootstrap_verdict(metric, champion, comparison, seed, threshold)
        verdicts.append(verdict)
        comparisons.append(result)

    if champion is None:
        note = "no champion: the absolute rules alone decide"
    elif not compared:
        note = (
            f"champion version {champion.version} given, but no rule compares to the champion: "
            "the absolute rules alone decide"
        )
    else:
        note = f"compared with champion version {champion.version} on {len(champion.y_true):,} shared test rows"
    reasons = tuple(f"{verdict.rule}: {verdict.detail}" for verdict in verdicts if not verdict.passed)
    return GateDecision(
        passed=all(verdict.passed for verdict in verdicts),
        verdicts=tuple(verdicts),
        comparisons=tuple(comparisons),
        reasons=reasons,
        champion_version=None if champion is None else champion.version,
        note=note,
    )
