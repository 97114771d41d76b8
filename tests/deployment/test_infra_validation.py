"""The integration test's latency judgement: one round within the SLA passes, a miss in every round fails."""

from __future__ import annotations

import pytest

from platform_assets.deployment.infra_validation import latency_verdict

pytestmark = pytest.mark.unit


def test_a_round_within_the_sla_passes_even_after_a_noisy_one() -> None:
    noisy = [5.0] * 98 + [80.0, 90.0]
    quiet = [5.0] * 99 + [12.0]
    assert latency_verdict([quiet], 50.0) is None
    assert latency_verdict([noisy, quiet], 50.0) is None


def test_a_miss_in_every_round_fails_and_names_each_rounds_p99() -> None:
    slow = [60.0] * 100
    verdict = latency_verdict([slow, [70.0] * 100, [65.0] * 100], 50.0)
    assert verdict == "p99 latency over HTTP exceeds the SLA of 50.0 ms in each of 3 rounds (60.0, 70.0, 65.0 ms)"
