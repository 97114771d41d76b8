"""The quality gate on its own: absolute rules, the champion comparison, the bootstrap and its coverage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from platform_assets.evaluation.gate import (
    METRIC_DIRECTIONS,
    VERDICTS,
    ChampionEvidence,
    GateDecision,
    comparison_verdict,
    decide,
    paired_bootstrap,
)
from platform_assets.evaluation.metrics import PREDICTION_METRICS, classification_metrics
from platform_assets.spec import METRIC_BOUNDS, ChampionComparisonSpec, GateSpec, MetricRule, ModelSpec

pytestmark = pytest.mark.unit

# The seed's thresholds, as a spec's gate section states them.
SEED_GATE = GateSpec.model_validate(
    {
        "rules": {
            "auc_roc": {"min": 0.88, "compare_to_champion": True},
            "f1": {"min": 0.80},
            "precision": {"min": 0.78},
            "recall": {"min": 0.75},
            "calibration_ece": {"max": 0.05},
            "p99_latency_ms": {"max": 50},
            "peak_memory_mb": {"max": 512},
        }
    }
)
GOOD = {
    "auc_roc": 0.91,
    "f1": 0.82,
    "precision": 0.80,
    "recall": 0.77,
    "calibration_ece": 0.03,
    "p99_latency_ms": 20.0,
    "peak_memory_mb": 300.0,
}
COMPARE = ChampionComparisonSpec(max_relative_regression=0.01, confidence=0.95, bootstrap_resamples=1_000)
AUC_ONLY = {"auc_roc": MetricRule(min=0.80, compare_to_champion=True)}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _two_models(
    n: int, seed: int, candidate_noise: float, champion_noise: float, mu: float = 2.2, prevalence: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two models' probabilities on the same rows.

    A latent score x = mu * y + N(0, 1) is shared; each model sees it through its own independent noise of
    the given standard deviation, so within a class its score is N(mu * y, 1 + noise^2) and its population
    AUC is Phi(mu / sqrt(2 (1 + noise^2))). The sigmoid makes probabilities without changing any AUC.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    latent = mu * y + rng.normal(size=n)
    candidate = _sigmoid(latent + candidate_noise * rng.normal(size=n))
    champion = _sigmoid(latent + champion_noise * rng.normal(size=n))
    return y, candidate, champion


def _population_auc(mu: float, noise: float) -> float:
    return 0.5 * (1.0 + math.erf(mu / math.sqrt(2.0 * (1.0 + noise**2)) / math.sqrt(2.0)))


def _evidence(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray, version: str = "3") -> ChampionEvidence:
    return ChampionEvidence(version, classification_metrics(y, champion), y, candidate, champion)


def _decide_auc(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray) -> GateDecision:
    return decide(classification_metrics(y, candidate), AUC_ONLY, COMPARE, _evidence(y, candidate, champion))


def _verdict(decision: GateDecision, rule_start: str) -> object:
    (verdict,) = [verdict for verdict in decision.verdicts if verdict.rule.startswith(rule_start)]
    return verdict


# ---------------------------------------------------------------------------------------- absolute rules


def test_no_champion_absolute_rules_alone_decide() -> None:
    decision = decide(GOOD, SEED_GATE.rules, SEED_GATE.champion)
    assert decision.passed
    assert decision.reasons == ()
    assert decision.comparisons == ()
    assert decision.champion_version is None
    assert decision.note == "no champion: the absolute rules alone decide"
    assert [verdict.rule for verdict in decision.verdicts] == [
        "auc_roc >= 0.88",
        "f1 >= 0.8",
        "precision >= 0.78",
        "recall >= 0.75",
        "calibration_ece <= 0.05",
        "p99_latency_ms <= 50",
        "peak_memory_mb <= 512",
    ]


def test_a_min_rule_fails_below_its_threshold() -> None:
    decision = decide(GOOD | {"auc_roc": 0.861}, SEED_GATE.rules, SEED_GATE.champion)
    assert not decision.passed
    verdict = _verdict(decision, "auc_roc >=")
    assert not verdict.passed
    assert verdict.detail == "0.861 < 0.88"
    assert decision.reasons == ("auc_roc >= 0.88: 0.861 < 0.88",)


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf"), "n/a"])
def test_a_missing_or_non_finite_metric_fails(missing: object) -> None:
    candidate = {key: value for key, value in GOOD.items() if key != "f1"}
    if missing is not None:
        candidate["f1"] = missing  # type: ignore[assignment]
    decision = decide(candidate, SEED_GATE.rules, SEED_GATE.champion)
    assert not decision.passed
    verdict = _verdict(decision, "f1 >=")
    assert (verdict.passed, verdict.value, verdict.detail) == (False, None, "missing metric")
    assert decision.reasons == ("f1 >= 0.8: missing metric",)


@pytest.mark.parametrize(
    ("metric", "value", "passed", "detail"),
    [
        ("calibration_ece", 0.06, False, "0.06 > 0.05"),
        ("calibration_ece", 0.05, True, "0.05 <= 0.05"),
        ("p99_latency_ms", 51.0, False, "51 > 50"),
        ("p99_latency_ms", 50.0, True, "50 <= 50"),
        ("peak_memory_mb", 600.0, False, "600 > 512"),
        ("peak_memory_mb", 511.9, True, "511.9 <= 512"),
    ],
)
def test_max_rules_on_calibration_latency_and_memory(metric: str, value: float, passed: bool, detail: str) -> None:
    decision = decide(GOOD | {metric: value}, SEED_GATE.rules, SEED_GATE.champion)
    verdict = _verdict(decision, f"{metric} <=")
    assert (verdict.passed, verdict.detail) == (passed, detail)
    assert decision.passed is passed


def test_a_rule_with_min_and_max_checks_both() -> None:
    rules = {"brier": MetricRule(min=0.01, max=0.2)}
    decision = decide({"brier": 0.25}, rules, COMPARE)
    assert [(verdict.rule, verdict.passed) for verdict in decision.verdicts] == [
        ("brier >= 0.01", True),
        ("brier <= 0.2", False),
    ]


def test_a_champion_with_no_comparing_rule_changes_nothing() -> None:
    y, candidate, champion = _two_models(500, seed=1, candidate_noise=0.5, champion_noise=0.5)
    rules = {"f1": MetricRule(min=0.1)}
    decision = decide(classification_metrics(y, candidate), rules, COMPARE, _evidence(y, candidate, champion))
    assert decision.comparisons == ()
    assert "no rule compares to the champion: the absolute rules alone decide" in decision.note


# ----------------------------------------------------------------------------------------- the champion


def test_a_better_candidate_passes_as_an_improvement() -> None:
    y, candidate, champion = _two_models(5_000, seed=1, candidate_noise=0.5, champion_noise=1.0)
    decision = _decide_auc(y, candidate, champion)
    assert decision.passed
    (comparison,) = decision.comparisons
    assert comparison.verdict == "improvement"
    assert 0 < comparison.ci_low < comparison.difference < comparison.ci_high
    assert comparison.difference == pytest.approx(comparison.candidate - comparison.champion)
    assert decision.champion_version == "3"
    assert decision.note == "compared with champion version 3 on 5,000 shared test rows"


def test_a_worse_candidate_fails_as_a_regression_beyond_the_margin() -> None:
    y, candidate, champion = _two_models(5_000, seed=1, candidate_noise=1.0, champion_noise=0.5)
    decision = _decide_auc(y, candidate, champion)
    assert not decision.passed
    (comparison,) = decision.comparisons
    assert comparison.verdict == "regression beyond margin"
    assert comparison.ci_high < -comparison.margin
    assert comparison.margin == pytest.approx(0.01 * comparison.champion)
    statistical = _verdict(decision, "auc_roc vs champion (bootstrap 95% CI)")
    assert not statistical.passed
    assert "lies entirely beyond the margin" in statistical.detail
    assert not _verdict(decision, "auc_roc vs champion (point").passed
    assert len(decision.reasons) == 2


def test_the_same_model_with_tiny_noise_is_equal_within_noise() -> None:
    y, _, champion = _two_models(5_000, seed=2, candidate_noise=0.5, champion_noise=0.5)
    candidate = np.clip(champion + np.random.default_rng(0).normal(scale=1e-3, size=len(y)), 0.0, 1.0)
    decision = _decide_auc(y, candidate, champion)
    assert decision.passed
    (comparison,) = decision.comparisons
    assert comparison.verdict == "equal within noise"
    assert comparison.ci_low <= 0 <= comparison.ci_high
    assert "straddles 0: equal within noise" in _verdict(decision, "auc_roc vs champion (bootstrap").detail


def test_a_small_unproven_gain_is_an_improvement_within_noise() -> None:
    y, candidate, champion = _two_models(1_500, seed=0, candidate_noise=0.9, champion_noise=1.0)
    decision = _decide_auc(y, candidate, champion)
    (comparison,) = decision.comparisons
    assert comparison.difference > 0
    assert -comparison.margin <= comparison.ci_low <= 0 <= comparison.ci_high
    assert comparison.verdict == "improvement within noise"
    assert decision.passed


def test_a_possible_regression_passes_the_statistical_rule_but_the_point_rule_still_applies() -> None:
    y, candidate, champion = _two_models(1_500, seed=0, candidate_noise=1.0, champion_noise=0.9)
    decision = _decide_auc(y, candidate, champion)
    (comparison,) = decision.comparisons
    assert comparison.verdict == "possible regression"
    assert comparison.ci_low < -comparison.margin < comparison.ci_high
    assert _verdict(decision, "auc_roc vs champion (bootstrap").passed
    # The point estimate is more than 1% below the champion, so the seed's rule fails the gate.
    assert comparison.difference < -comparison.margin
    assert not _verdict(decision, "auc_roc vs champion (point").passed
    assert not decision.passed


def test_a_lower_is_better_metric_reads_a_negative_difference_as_an_improvement() -> None:
    y, candidate, champion = _two_models(5_000, seed=3, candidate_noise=0.3, champion_noise=1.5)
    rules = {"log_loss": MetricRule(max=1.0, compare_to_champion=True)}
    decision = decide(classification_metrics(y, candidate), rules, COMPARE, _evidence(y, candidate, champion))
    (comparison,) = decision.comparisons
    assert comparison.difference < 0
    assert comparison.verdict == "improvement"
    assert decision.passed
    worse = decide(classification_metrics(y, champion), rules, COMPARE, _evidence(y, champion, candidate))
    assert worse.comparisons[0].verdict == "regression beyond margin"
    assert worse.comparisons[0].ci_low > worse.comparisons[0].margin
    assert not worse.passed


def test_the_seeds_one_percent_point_rule() -> None:
    # Candidate and champion probabilities are identical, so the bootstrap sees no difference: only the
    # point rule on the reported metrics decides.
    y, _, prob = _two_models(1_000, seed=4, candidate_noise=0.5, champion_noise=0.5)
    champion = ChampionEvidence("7", {"auc_roc": 0.90}, y, prob, prob)
    for value, passed in [(0.95, True), (0.8911, True), (0.8909, False), (0.85, False)]:
        decision = decide({"auc_roc": value}, AUC_ONLY, COMPARE, champion)
        point = _verdict(decision, "auc_roc vs champion (point, <= 1% below)")
        assert point.passed is passed, value
        assert decision.passed is passed
        assert decision.comparisons[0].verdict == "equal within noise"
        assert decision.comparisons[0].difference == 0.0
    failed = _verdict(decide({"auc_roc": 0.85}, AUC_ONLY, COMPARE, champion), "auc_roc vs champion (point")
    assert failed.detail == "0.85 < 0.891: more than 1% below champion version 7 (0.9)"


def test_serving_metrics_compare_to_the_champion_by_the_point_rule_alone() -> None:
    y, _, prob = _two_models(200, seed=5, candidate_noise=0.5, champion_noise=0.5)
    rules = {
        "p99_latency_ms": MetricRule(max=50, compare_to_champion=True),
        "peak_memory_mb": MetricRule(max=512, compare_to_champion=True),
    }
    champion = ChampionEvidence("2", {"p99_latency_ms": 40.0, "peak_memory_mb": 300.0}, y, prob, prob)
    decision = decide({"p99_latency_ms": 40.3, "peak_memory_mb": 310.0}, rules, COMPARE, champion)
    assert decision.comparisons == ()
    assert _verdict(decision, "p99_latency_ms vs champion (point, <= 1% above)").passed
    memory = _verdict(decision, "peak_memory_mb vs champion (point, <= 1% above)")
    assert not memory.passed
    assert memory.detail == "310 > 303: more than 1% above champion version 2 (300)"
    assert decision.reasons == (f"{memory.rule}: {memory.detail}",)


def test_a_champion_without_the_metric_fails_the_comparison_clearly() -> None:
    y, _, prob = _two_models(200, seed=5, candidate_noise=0.5, champion_noise=0.5)
    rules = {"p99_latency_ms": MetricRule(max=50, compare_to_champion=True)}
    decision = decide({"p99_latency_ms": 30.0}, rules, COMPARE, ChampionEvidence("2", {}, y, prob, prob))
    assert not decision.passed
    assert decision.reasons == (
        "p99_latency_ms vs champion (point, <= 1% above): champion version 2 has no finite p99_latency_ms to "
        "compare with",
    )


def test_a_missing_candidate_metric_fails_the_champion_rules_too() -> None:
    y, candidate, champion = _two_models(500, seed=6, candidate_noise=0.5, champion_noise=0.5)
    decision = decide({}, AUC_ONLY, COMPARE, _evidence(y, candidate, champion))
    assert not decision.passed
    assert all(verdict.detail == "missing metric" for verdict in decision.verdicts)
    assert len(decision.verdicts) == 3


@pytest.mark.parametrize(
    ("difference", "low", "high", "direction", "expected"),
    [
        (-0.05, -0.07, -0.03, "higher", "regression beyond margin"),
        (-0.005, -0.02, 0.01, "higher", "possible regression"),
        (0.0, -0.005, 0.005, "higher", "equal within noise"),
        (-0.004, -0.008, -0.001, "higher", "equal within noise"),  # a loss, but inside the margin
        (0.0005, -0.004, 0.005, "higher", "equal within noise"),  # a gain too small to name
        (0.004, -0.002, 0.01, "higher", "improvement within noise"),
        (0.02, 0.01, 0.03, "higher", "improvement"),
        (0.05, 0.03, 0.07, "lower", "regression beyond margin"),
        (0.005, -0.01, 0.02, "lower", "possible regression"),
        (-0.004, -0.01, 0.002, "lower", "improvement within noise"),
        (-0.02, -0.03, -0.01, "lower", "improvement"),
    ],
)
def test_comparison_verdicts_are_sign_aware(
    difference: float, low: float, high: float, direction: str, expected: str
) -> None:
    assert comparison_verdict(difference, low, high, 0.01, direction) == expected  # type: ignore[arg-type]
    assert expected in VERDICTS


# ------------------------------------------------------------------------------------------- reporting


def test_markdown_and_dict_carry_every_rule(spec: ModelSpec) -> None:
    y, candidate, champion = _two_models(2_000, seed=7, candidate_noise=0.5, champion_noise=0.6)
    metrics = classification_metrics(y, candidate) | {"p99_latency_ms": 12.0}  # no peak_memory_mb
    evidence = _evidence(y, candidate, champion, version="12")
    decision = decide(metrics, spec.gate.rules, spec.gate.champion, evidence, seed=spec.training.seed)
    markdown = decision.to_markdown()
    assert len(decision.verdicts) >= len(spec.gate.rules)
    for verdict in decision.verdicts:
        assert verdict.rule in markdown
    assert {verdict.metric for verdict in decision.verdicts} == set(spec.gate.rules)
    assert "| rule | value | threshold | verdict | detail |" in markdown
    assert "| metric | candidate | champion | difference | CI | margin | verdict |" in markdown
    assert "FAIL" in markdown and "missing metric" in markdown
    assert decision.note in markdown
    assert all(reason in markdown for reason in decision.reasons)
    as_dict = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert as_dict["passed"] is decision.passed
    assert len(as_dict["verdicts"]) == len(decision.verdicts)
    assert as_dict["comparisons"][0]["metric"] == "auc_roc"
    assert as_dict["champion_version"] == "12"


def test_the_decision_is_deterministic_for_a_seed() -> None:
    y, candidate, champion = _two_models(1_000, seed=8, candidate_noise=0.8, champion_noise=1.0)
    evidence = _evidence(y, candidate, champion)
    metrics = classification_metrics(y, candidate)
    first = decide(metrics, AUC_ONLY, COMPARE, evidence, seed=1)
    assert decide(metrics, AUC_ONLY, COMPARE, evidence, seed=1) == first
    other = decide(metrics, AUC_ONLY, COMPARE, evidence, seed=2)
    assert other.comparisons[0].ci_low != first.comparisons[0].ci_low
    assert other.comparisons[0].difference == first.comparisons[0].difference


def test_every_gate_metric_has_a_direction() -> None:
    assert set(METRIC_DIRECTIONS) == set(METRIC_BOUNDS)


# ------------------------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("metric", sorted(PREDICTION_METRICS))
def test_a_model_against_itself_gives_zeros(metric: str) -> None:
    y, prob, _ = _two_models(800, seed=9, candidate_noise=0.5, champion_noise=0.5)
    assert paired_bootstrap(y, prob, prob, metric, resamples=200, confidence=0.95, seed=3) == (0.0, 0.0, 0.0)


def test_the_point_difference_is_the_difference_on_all_rows() -> None:
    y, candidate, champion = _two_models(800, seed=10, candidate_noise=0.5, champion_noise=1.0)
    difference, low, high = paired_bootstrap(y, candidate, champion, "auc_roc", resamples=300, confidence=0.9)
    expected = classification_metrics(y, candidate)["auc_roc"] - classification_metrics(y, champion)["auc_roc"]
    assert difference == pytest.approx(expected, abs=1e-12)
    assert low < difference < high


def test_pairing_narrows_the_interval() -> None:
    # Two models that share most of their signal: the paired interval is far narrower than the spread of
    # either model's own AUC, because resampling moves both models together.
    y, candidate, champion = _two_models(2_000, seed=11, candidate_noise=0.2, champion_noise=0.25)
    _, low, high = paired_bootstrap(y, candidate, champion, "auc_roc", resamples=300, confidence=0.95)
    _, own_low, own_high = paired_bootstrap(
        y, candidate, np.full(len(y), 0.5), "auc_roc", resamples=300, confidence=0.95
    )
    assert (high - low) < 0.5 * (own_high - own_low)


def test_bootstrap_rejects_bad_arguments() -> None:
    y, candidate, champion = _two_models(100, seed=12, candidate_noise=0.5, champion_noise=0.5)
    with pytest.raises(ValueError, match="cannot bootstrap 'p99_latency_ms'"):
        paired_bootstrap(y, candidate, champion, "p99_latency_ms", resamples=100, confidence=0.9)
    with pytest.raises(ValueError, match="y_true has 100 rows but y_prob has 99"):
        paired_bootstrap(y, candidate, champion[:99], "auc_roc", resamples=100, confidence=0.9)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(y, candidate, champion, "auc_roc", resamples=100, confidence=1.5)


def test_bootstrap_interval_covers_the_true_difference_at_its_nominal_rate() -> None:
    """200 test sets drawn from a population whose AUC difference is known exactly.

    Both models follow the binormal setup of `_two_models`, whose population AUCs have a closed form, so
    the truth needs no simulation. A 90% interval should cover it in about 90% of test sets; 0.82-0.97
    allows for the 200 repetitions' own noise (a standard error of about 0.02) and the percentile
    bootstrap's slight under-coverage at modest n.
    """
    mu, candidate_noise, champion_noise = 1.5, 0.5, 1.0
    truth = _population_auc(mu, candidate_noise) - _population_auc(mu, champion_noise)
    repetitions, covered = 200, 0
    for repetition in range(repetitions):
        y, candidate, champion = _two_models(
            400, seed=1_000 + repetition, candidate_noise=candidate_noise, champion_noise=champion_noise, mu=mu
        )
        _, low, high = paired_bootstrap(
            y, candidate, champion, "auc_roc", resamples=200, confidence=0.90, seed=repetition
        )
        covered += low <= truth <= high
    assert 0.82 <= covered / repetitions <= 0.97
