"""The Population Stability Index: zero against itself, hand-computed values, unseen categories, NaN bins."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from platform_assets.monitoring.psi import psi_categorical, psi_from_counts, psi_numeric, quantile_edges

pytestmark = pytest.mark.unit

EPS = 1e-4


def _term(current: float, reference: float) -> float:
    return (current - reference) * math.log(current / reference)


def test_quantile_edges_are_interior_and_deduplicated() -> None:
    reference = np.arange(1.0, 101.0)
    edges = quantile_edges(reference, bins=4)
    np.testing.assert_allclose(edges, np.quantile(reference, [0.25, 0.5, 0.75]))
    # 60% of the reference is 0: the edges at the 10%..50% quantiles collapse into one.
    heavy = np.r_[np.zeros(60), np.arange(1.0, 41.0)]
    edges = quantile_edges(heavy, bins=10)
    assert edges[0] == 0.0
    assert len(edges) == len(np.unique(edges)) == 5
    assert np.all(np.diff(edges) > 0)
    # NaNs are ignored; nothing finite or one bin means no interior edges.
    np.testing.assert_allclose(quantile_edges(np.r_[reference, np.nan], bins=4), quantile_edges(reference, bins=4))
    assert len(quantile_edges(np.array([np.nan, np.nan]))) == 0
    assert len(quantile_edges(reference, bins=1)) == 0
    with pytest.raises(ValueError, match="bins"):
        quantile_edges(reference, bins=0)


def test_psi_of_a_sample_against_itself_is_zero() -> None:
    rng = np.random.default_rng(0)
    sample = rng.normal(size=5_000)
    sample[::50] = np.nan
    assert psi_numeric(sample, sample) == 0.0
    assert psi_numeric(sample, rng.permutation(sample)) == 0.0
    categories = list(rng.choice(["a", "b", "c", None], size=1_000))
    assert psi_categorical(categories, categories) == 0.0
    assert psi_from_counts(np.array([3, 0, 7]), np.array([30, 0, 70])) == 0.0


def test_psi_numeric_matches_a_hand_computed_shift() -> None:
    # Two bins split at the reference median 2.5: reference (2, 2), current (3, 1); the NaN bin is empty on
    # both sides and adds 0.
    expected = _term(0.75, 0.5) + _term(0.25, 0.5)
    assert psi_numeric(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0, 4.0]), bins=2) == pytest.approx(
        expected
    )
    assert expected == pytest.approx(0.25 * (math.log(1.5) + math.log(2.0)))


def test_psi_numeric_counts_nans_in_their_own_bin() -> None:
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    current = np.array([1.0, 4.0, np.nan, np.nan])
    # Bins (-inf, 2.5], (2.5, inf), NaN: reference (.5, .5, 0 -> eps), current (.25, .25, .5).
    expected = 2 * _term(0.25, 0.5) + _term(0.5, EPS)
    assert psi_numeric(reference, current, bins=2, eps=EPS) == pytest.approx(expected)


def test_psi_numeric_bins_are_fixed_on_the_reference() -> None:
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    # Everything beyond the reference's range falls in its outermost bins, whatever the current spread.
    far = np.array([100.0, 200.0, 300.0, 1e9])
    expected = _term(EPS, 0.5) + _term(1.0, 0.5)
    assert psi_numeric(reference, far, bins=2, eps=EPS) == pytest.approx(expected)
    assert psi_numeric(reference, np.array([np.inf, -np.inf]), bins=2) == pytest.approx(0.0)


def test_psi_grows_with_the_shift_and_is_symmetric_ish() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=20_000)
    values = [psi_numeric(reference, rng.normal(loc=shift, size=20_000)) for shift in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert values[0] < 0.01
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    # A one-standard-deviation shift is a major shift on the usual reading (> 0.25).
    assert values[-1] > 0.25
    shifted = rng.normal(loc=0.5, size=20_000)
    forward, backward = psi_numeric(reference, shifted), psi_numeric(shifted, reference)
    assert forward > 0 and backward > 0
    assert 0.5 < forward / backward < 2.0


def test_psi_categorical_hand_computed_with_unseen_values() -> None:
    reference = ["a", "a", "b", "b"]
    current = ["a", "b", "c", "c"]
    # Bins a, b, unseen: reference (.5, .5, 0 -> eps), current (.25, .25, .5).
    expected = 2 * _term(0.25, 0.5) + _term(0.5, EPS)
    assert psi_categorical(reference, current, eps=EPS) == pytest.approx(expected)
    # Unseen values count: swapping them for a seen category lowers PSI.
    assert psi_categorical(reference, ["a", "b", "a", "b"]) < psi_categorical(reference, current)
    # A category missing from the current sample counts too.
    assert psi_categorical(reference, ["a", "a", "a", "a"]) == pytest.approx(_term(1.0, 0.5) + _term(EPS, 0.5))


def test_psi_categorical_treats_missing_values_as_one_category() -> None:
    reference = ["a", None, "a", float("nan")]
    assert psi_categorical(reference, [float("nan"), "a", None, "a"]) == 0.0
    assert psi_categorical([1, 2, 2, 3], np.array([1, 2, 2, 3])) == 0.0


def test_psi_from_counts_matches_the_formula_and_validates() -> None:
    reference = np.array([10, 20, 30, 40])
    current = np.array([40, 30, 20, 10])
    r, c = reference / 100, current / 100
    assert psi_from_counts(reference, current) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    # With the same bins the formula is symmetric.
    assert psi_from_counts(reference, current) == pytest.approx(psi_from_counts(current, reference))
    with pytest.raises(ValueError, match="same bins"):
        psi_from_counts(np.array([1, 2]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="non-negative"):
        psi_from_counts(np.array([1, -2]), np.array([1, 2]))
    with pytest.raises(ValueError, match="at least one value"):
        psi_from_counts(np.array([0, 0]), np.array([1, 2]))
    with pytest.raises(ValueError, match="both sides"):
        psi_numeric(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="both sides"):
        psi_categorical(["a"], [])
