"""The shadow gate and the canary gate: each rule's outcome, too little evidence, and robustness to noise."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

from platform_assets.deployment.judges import (
    CANARY_DECISIONS,
    SHADOW_DECISIONS,
    CanaryEvidence,
    ShadowEvidence,
    Verdict,
    canary_gate,
    error_test_level,
    shadow_gate,
)
from platform_assets.spec import CanarySpec, ShadowSpec

pytestmark = pytest.mark.unit

SHADOW = ShadowSpec()  # min_days 7, min_requests 1,000, min_labelled 200, correlation 0.8, drop 0.01, p99 50
CANARY = CanarySpec()  # min_requests 500, min_labelled 200, dwell 24h, ratio 1.5, p99 200, PSI 0.25, drop 0.01

SHADOW_RULES = [
    "shadow days",
    "shadow requests",
    "score correlation",
    "shadow p99 latency (ms)",
    "AUC shadow - champion",
    "shadow failure rate",
]
CANARY_RULES = [
    "error rate",
    "canary p99 latency (ms)",
    "prediction PSI",
    "AUC canary - production",
    "canary requests",
    "hours at step",
    "labelled requests",
]


def _labelled(rng: np.random.Generator, scores: np.ndarray) -> np.ndarray:
    """Labels drawn from calibrated scores: the model's AUC is about 0.7."""
    return (rng.random(len(scores)) < scores).astype(float)


def _outcomes(verdict: Verdict) -> dict[str, str]:
    return {check["rule"]: check["outcome"] for check in verdict.checks}


# ------------------------------------------------------------------------------------------------ shadow


def shadow_evidence(seed: int = 0, labelled: int = 400, **overrides: Any) -> ShadowEvidence:
    rng = np.random.default_rng(seed)
    champion = rng.beta(2, 5, 3_000)
    shadow = np.clip(champion + rng.normal(0, 0.02, len(champion)), 0, 1)
    labels = _labelled(rng, champion[:labelled])
    values: dict[str, Any] = {
        "days": 8.0,
        "requests": 3_000,
        "champion_scores": champion,
        "shadow_scores": shadow,
        "labels": labels,
        "champion_labelled_scores": champion[:labelled],
        "shadow_labelled_scores": shadow[:labelled],
        "shadow_p99_ms": 30.0,
        "shadow_errors": 2,
        "shadow_timeouts": 1,
    }
    values.update(overrides)
    return ShadowEvidence(**values)


def test_shadow_proceeds_on_good_evidence() -> None:
    verdict = shadow_gate(shadow_evidence(), SHADOW)
    assert verdict.decision == "proceed"
    assert [check["rule"] for check in verdict.checks] == SHADOW_RULES
    assert set(_outcomes(verdict).values()) == {"pass"}
    assert verdict.reasons[0].startswith("proceed")
    assert len(verdict.reasons) == len(SHADOW_RULES) + 1


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"days": 3.5}, "3.5 of 7 days (3.5 more needed)"),
        ({"requests": 600}, "600 of 1,000 requests (400 more needed)"),
        ({"shadow_p99_ms": float("nan")}, "not measured yet"),
    ],
)
def test_shadow_waits_for_evidence_and_says_what_is_missing(overrides: dict[str, Any], missing: str) -> None:
    verdict = shadow_gate(shadow_evidence(**overrides), SHADOW)
    assert verdict.decision == "wait"
    assert verdict.reasons[0].startswith("wait: ")
    assert missing in verdict.reasons[0]


def test_shadow_waits_even_when_a_rule_would_reject() -> None:
    verdict = shadow_gate(shadow_evidence(days=2.0, shadow_p99_ms=90.0), SHADOW)
    assert verdict.decision == "wait"
    assert "5.0 more needed" in verdict.reasons[0] and "provisional" in verdict.reasons[0]
    assert _outcomes(verdict)["shadow p99 latency (ms)"] == "reject"


def test_shadow_rejected_for_low_correlation() -> None:
    rng = np.random.default_rng(5)
    unrelated = rng.beta(2, 5, 3_000)
    evidence = shadow_evidence(shadow_scores=unrelated, shadow_labelled_scores=unrelated[:400])
    verdict = shadow_gate(evidence, SHADOW)
    assert verdict.decision == "reject"
    assert verdict.reasons[0].startswith("score correlation")
    assert "< 0.8" in verdict.reasons[0]


def test_low_correlation_is_excused_when_the_labels_show_the_shadow_no_worse() -> None:
    # A model of a changed world disagrees with the old champion, and ranks the labelled requests as well.
    rng = np.random.default_rng(5)
    verdict = shadow_gate(shadow_evidence(shadow_scores=rng.beta(2, 5, 3_000)), SHADOW)
    assert verdict.decision == "proceed"
    assert any("but the labels show the shadow no worse" in reason for reason in verdict.reasons)


def test_shadow_with_constant_scores_is_rejected() -> None:
    verdict = shadow_gate(shadow_evidence(shadow_scores=np.full(3_000, 0.3)), SHADOW)
    assert verdict.decision == "reject"
    assert "constant" in verdict.reasons[0]


def test_shadow_rejected_for_latency() -> None:
    verdict = shadow_gate(shadow_evidence(shadow_p99_ms=72.0), SHADOW)
    assert verdict.decision == "reject"
    assert verdict.reasons[0] == "shadow p99 latency 72.0 ms > the 50 ms SLA"


def test_shadow_rejected_when_confidently_worse_on_auc() -> None:
    rng = np.random.default_rng(6)
    verdict = shadow_gate(shadow_evidence(shadow_labelled_scores=rng.random(400)), SHADOW)
    assert verdict.decision == "reject"
    assert verdict.reasons[0].startswith("AUC shadow - champion")
    assert "confidently worse" in verdict.reasons[0]
    assert _outcomes(verdict)["score correlation"] == "pass"


def test_shadow_auc_slightly_worse_within_noise_passes() -> None:
    evidence = shadow_evidence()
    verdict = shadow_gate(evidence, SHADOW)
    auc = next(check for check in verdict.checks if check["rule"] == "AUC shadow - champion")
    assert auc["outcome"] == "pass" and auc["value"] is not None


@pytest.mark.parametrize("labelled", [0, 50, 199])
def test_shadow_auc_with_too_few_labels_is_not_judged_and_does_not_block(labelled: int) -> None:
    rng = np.random.default_rng(7)
    # Even a shadow with random labelled scores proceeds: too few labels cannot show it.
    evidence = shadow_evidence(labelled=labelled, shadow_labelled_scores=rng.random(labelled))
    verdict = shadow_gate(evidence, SHADOW)
    assert verdict.decision == "proceed"
    assert _outcomes(verdict)["AUC shadow - champion"] == "not judged"
    assert any(f"AUC not judged ({labelled} labelled" in reason for reason in verdict.reasons)


def test_shadow_without_labels_proceeds() -> None:
    evidence = shadow_evidence(labels=None, champion_labelled_scores=None, shadow_labelled_scores=None)
    assert shadow_gate(evidence, SHADOW).decision == "proceed"


def test_shadow_rejected_for_failures() -> None:
    # 25 errors alone are 0.83%: within the limit; the timeouts count as failures too.
    assert shadow_gate(shadow_evidence(shadow_errors=25, shadow_timeouts=0), SHADOW).decision == "proceed"
    verdict = shadow_gate(shadow_evidence(shadow_errors=25, shadow_timeouts=10), SHADOW)
    assert verdict.decision == "reject"
    assert verdict.reasons[0] == "shadow failure rate 1.17% (25 errors + 10 timeouts of 3,000) > 1%"


def test_shadow_first_failing_rule_decides_and_all_are_reported() -> None:
    verdict = shadow_gate(shadow_evidence(shadow_p99_ms=90.0, shadow_errors=100), SHADOW)
    assert verdict.decision == "reject"
    assert verdict.reasons[0].startswith("shadow p99 latency")
    assert any(reason.startswith("shadow failure rate") for reason in verdict.reasons[1:])
    assert len(verdict.reasons) == len(SHADOW_RULES)


def test_shadow_evidence_is_validated() -> None:
    with pytest.raises(ValueError, match="equally long"):
        shadow_gate(shadow_evidence(shadow_scores=np.zeros(10)), SHADOW)
    with pytest.raises(ValueError, match="aligned"):
        shadow_gate(shadow_evidence(shadow_labelled_scores=None), SHADOW)
    with pytest.raises(ValueError, match="non-negative"):
        shadow_gate(shadow_evidence(shadow_errors=-1), SHADOW)


# ------------------------------------------------------------------------------------------------ canary


def canary_evidence(
    seed: int = 0,
    *,
    canary_requests: int = 2_000,
    production_requests: int = 20_000,
    canary_error_rate: float = 0.01,
    production_error_rate: float = 0.01,
    labelled: int | None = 400,
    **overrides: Any,
) -> CanaryEvidence:
    """A canary step drawn from the same distributions as production unless told otherwise."""
    rng = np.random.default_rng(seed)
    canary_scores = rng.beta(2, 5, canary_requests)
    production_scores = rng.beta(2, 5, min(production_requests, 5_000))
    values: dict[str, Any] = {
        "hours_at_step": 30.0,
        "canary_requests": canary_requests,
        "canary_errors": int(rng.binomial(canary_requests, canary_error_rate)),
        "canary_p99_ms": 80.0,
        "canary_scores": canary_scores,
        "production_requests": production_requests,
        "production_errors": int(rng.binomial(production_requests, production_error_rate)),
        "production_scores": production_scores,
        "canary_labels": None,
        "canary_labelled_scores": None,
        "production_labels": None,
        "production_labelled_scores": None,
    }
    if labelled is not None:
        values["canary_labels"] = _labelled(rng, canary_scores[:labelled])
        values["canary_labelled_scores"] = canary_scores[:labelled]
        values["production_labels"] = _labelled(rng, production_scores[:labelled])
        values["production_labelled_scores"] = production_scores[:labelled]
    values.update(overrides)
    return CanaryEvidence(**values)


def test_canary_promotes_on_good_evidence() -> None:
    verdict = canary_gate(canary_evidence(), CANARY)
    assert verdict.decision == "promote"
    assert [check["rule"] for check in verdict.checks] == CANARY_RULES
    assert set(_outcomes(verdict).values()) == {"pass"}
    assert verdict.reasons[0].startswith("promote")


def test_canary_rolls_back_on_a_significantly_higher_error_rate() -> None:
    evidence = canary_evidence(canary_errors=60, production_errors=200)  # 3% vs 1%
    verdict = canary_gate(evidence, CANARY)
    assert verdict.decision == "rollback"
    assert verdict.reasons[0].startswith("error rate canary 3.00% (60/2,000) vs production 1.00%")
    assert "significantly above 1.5x" in verdict.reasons[0]


def test_canary_error_ratio_within_noise_does_not_roll_back() -> None:
    # 0.4% vs 0.1% is a 4x ratio on paper, but 2 errors are no evidence of anything.
    evidence = canary_evidence(canary_errors=2, production_errors=20)
    verdict = canary_gate(evidence, CANARY)
    assert verdict.decision == "promote"
    assert "not significantly above" in " ".join(verdict.reasons)


def test_canary_with_no_errors_anywhere_passes_the_error_rule() -> None:
    verdict = canary_gate(canary_evidence(canary_errors=0, production_errors=0), CANARY)
    assert _outcomes(verdict)["error rate"] == "pass"
    assert any("no errors on either side" in reason for reason in verdict.reasons)


def test_canary_failing_badly_rolls_back_before_it_has_its_requests() -> None:
    evidence = canary_evidence(canary_requests=100, canary_errors=40, labelled=None)
    verdict = canary_gate(evidence, CANARY)
    assert verdict.decision == "rollback"
    assert verdict.reasons[0].startswith("error rate")


def test_canary_rolls_back_on_latency() -> None:
    verdict = canary_gate(canary_evidence(canary_p99_ms=350.0), CANARY)
    assert verdict.decision == "rollback"
    assert verdict.reasons[0] == "canary p99 latency 350.0 ms > 200 ms"


def test_canary_latency_is_not_judged_on_few_requests() -> None:
    verdict = canary_gate(canary_evidence(canary_requests=300, canary_p99_ms=350.0), CANARY)
    assert verdict.decision == "hold"
    assert _outcomes(verdict)["canary p99 latency (ms)"] == "not judged"


def test_canary_holds_on_prediction_drift_until_the_labels_tell() -> None:
    rng = np.random.default_rng(3)
    drifted = rng.beta(5, 2, 2_000)
    verdict = canary_gate(canary_evidence(canary_scores=drifted, labelled=None), CANARY)
    assert verdict.decision == "hold"
    assert verdict.reasons[0].startswith("prediction PSI")
    assert "> 0.25" in verdict.reasons[0]
    # Labelled requests on both sides show the canary no worse: the scores differ, the ranking holds up.
    told = canary_gate(canary_evidence(canary_scores=drifted), CANARY)
    assert told.decision == "promote"
    assert _outcomes(told)["prediction PSI"] == "pass"
    assert any("but the labels show the canary no worse" in reason for reason in told.reasons)


def test_a_few_scores_are_not_prediction_drift() -> None:
    rng = np.random.default_rng(3)
    few = canary_gate(canary_evidence(canary_scores=rng.beta(5, 2, 30), labelled=None), CANARY)
    assert _outcomes(few)["prediction PSI"] == "not judged"


def test_the_last_step_judges_operations_not_a_comparison_across_time() -> None:
    rng = np.random.default_rng(4)
    # The world changed since the champion's window: scores and AUC differ, errors and latency are fine.
    evidence = canary_evidence(canary_scores=rng.beta(5, 2, 2_000), canary_labelled_scores=rng.random(400))
    assert canary_gate(evidence, CANARY).decision == "rollback"
    last = canary_gate(evidence, CANARY, concurrent_production=False)
    assert last.decision == "promote", last.reasons
    assert _outcomes(last)["AUC canary - production"] == "pass"
    broken = canary_evidence(canary_errors=300, production_errors=200)
    assert canary_gate(broken, CANARY, concurrent_production=False).decision == "rollback"


def test_canary_rolls_back_when_confidently_worse_on_auc() -> None:
    rng = np.random.default_rng(4)
    verdict = canary_gate(canary_evidence(canary_labelled_scores=rng.random(400)), CANARY)
    assert verdict.decision == "rollback"
    assert verdict.reasons[0].startswith("AUC canary - production")
    assert "confidently worse" in verdict.reasons[0]


def test_a_rollback_outranks_a_drift_hold() -> None:
    rng = np.random.default_rng(3)
    evidence = canary_evidence(
        canary_scores=rng.beta(5, 2, 2_000), canary_errors=100, production_errors=200, labelled=None
    )
    verdict = canary_gate(evidence, CANARY)
    assert _outcomes(verdict)["prediction PSI"] == "hold"
    assert verdict.decision == "rollback"
    assert verdict.reasons[0].startswith("error rate")


@pytest.mark.parametrize(
    ("overrides", "deciding"),
    [
        ({"canary_requests": 300}, "canary requests: 300 of 500 requests (200 more needed)"),
        ({"hours_at_step": 10.0}, "hours at step: 10.0 of 24 hours (14.0 more needed)"),
        ({"labelled": 150}, "labelled requests: 150 canary, 150 production labelled; needs 50 more canary and 50"),
        ({"labelled": None}, "labelled requests: 0 canary, 0 production labelled"),
    ],
)
def test_too_little_canary_evidence_holds(overrides: dict[str, Any], deciding: str) -> None:
    verdict = canary_gate(canary_evidence(**overrides), CANARY)
    assert verdict.decision == "hold"
    assert verdict.reasons[0].startswith(deciding)


def test_no_production_traffic_to_compare_with_holds() -> None:
    # At the 100% step production has no traffic of its own; without its evidence nothing can be compared.
    evidence = canary_evidence(production_requests=0, production_errors=0)
    verdict = canary_gate(evidence, CANARY)
    assert verdict.decision == "hold"
    assert _outcomes(verdict)["error rate"] == "not judged"
    assert "error rate not judged: no production requests to compare" in verdict.reasons


def test_one_class_among_the_labels_holds() -> None:
    evidence = canary_evidence(canary_labels=np.zeros(400))
    verdict = canary_gate(evidence, CANARY)
    assert verdict.decision == "hold"
    assert "all of one class" in verdict.reasons[0]


def test_canary_evidence_is_validated() -> None:
    with pytest.raises(ValueError, match="cannot exceed"):
        canary_gate(canary_evidence(canary_errors=3_000), CANARY)
    with pytest.raises(ValueError, match="aligned"):
        canary_gate(canary_evidence(canary_labelled_scores=np.zeros(3)), CANARY)
    with pytest.raises(ValueError, match="0 and 1"):
        canary_gate(canary_evidence(canary_labels=np.full(400, 2.0)), CANARY)


# ---------------------------------------------------------------------------------------- noise and power


def test_error_test_level_spends_little_early_and_all_at_min_requests() -> None:
    assert error_test_level(0.95, 1.0) == pytest.approx(0.05)
    assert error_test_level(0.95, 3.0) == pytest.approx(0.05)
    assert error_test_level(0.95, 0.0) == 0.0
    levels = [error_test_level(0.95, t) for t in (0.1, 0.2, 0.4, 0.8, 1.0)]
    assert all(later > earlier for earlier, later in itertools.pairwise(levels))
    assert levels[1] < 1e-4


def test_identical_canary_and_production_with_small_samples_never_roll_back() -> None:
    decisions = set()
    for seed in range(300):
        evidence = canary_evidence(seed, canary_requests=200, production_requests=2_000, labelled=60)
        decisions.add(canary_gate(evidence, CANARY, seed=seed).decision)
    assert decisions == {"hold"}


def test_identical_canary_and_production_with_enough_evidence_rarely_roll_back() -> None:
    rollbacks = 0
    for seed in range(40):
        evidence = canary_evidence(seed, canary_requests=600, production_requests=6_000, labelled=250)
        rollbacks += canary_gate(evidence, CANARY, seed=seed).decision == "rollback"
    # Past min_requests and min_labelled each look is a test at the spec's 95% (one-sided 2.5% at the
    # margin's edge), and the truth (ratio 1, equal AUC) lies inside the allowed region: at most 5%.
    assert rollbacks <= 2


def test_a_truly_threefold_error_rate_with_plenty_of_requests_always_rolls_back() -> None:
    for seed in range(50):
        evidence = canary_evidence(
            seed,
            canary_requests=5_000,
            production_requests=20_000,
            canary_error_rate=0.03,
            production_error_rate=0.01,
            labelled=None,
        )
        verdict = canary_gate(evidence, CANARY, seed=seed)
        assert verdict.decision == "rollback", verdict.reasons[0]


# ----------------------------------------------------------------------------------------------- verdict


def test_verdict_renders_markdown_and_json() -> None:
    verdict = canary_gate(canary_evidence(canary_p99_ms=350.0), CANARY)
    markdown = verdict.to_markdown()
    assert markdown.startswith("**Decision: rollback**")
    assert "| rule | value | threshold | outcome |" in markdown
    for rule in CANARY_RULES:
        assert f"| {rule} |" in markdown
    record = verdict.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["decision"] in CANARY_DECISIONS
    assert shadow_gate(shadow_evidence(), SHADOW).decision in SHADOW_DECISIONS
    assert all(set(check) == {"rule", "value", "threshold", "outcome"} for check in verdict.checks)


def test_gates_are_deterministic_for_a_seed() -> None:
    evidence = canary_evidence()
    assert canary_gate(evidence, CANARY, seed=1) == canary_gate(evidence, CANARY, seed=1)
    shadow = shadow_evidence()
    assert shadow_gate(shadow, SHADOW, seed=1) == shadow_gate(shadow, SHADOW, seed=1)
