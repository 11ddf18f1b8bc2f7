"""Tests for the MCC metrics: invariances, the matching step, batching and edge cases."""

import math

import numpy as np
import pytest

from identvae.metrics.mcc import (
    abs_correlation,
    batch_mcc,
    chance_mcc,
    matching,
    mcc,
    mcc_from_abs_correlation,
    split_batches,
)

METHODS = ["pearson", "spearman"]


@pytest.fixture
def sources() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1000, 4))


@pytest.mark.parametrize("method", METHODS)
def test_identical_latents_score_one(sources, method):
    assert mcc(sources, sources, method) == pytest.approx(1.0, abs=1e-12)
    assert batch_mcc(sources, sources, 64, method) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_permutation_scale_sign_shift_invariance(sources, method):
    perm = [2, 0, 3, 1]
    scale = np.array([3.0, -0.5, -7.0, 0.01])
    latents = sources[:, perm] * scale + np.array([1.0, -2.0, 100.0, 0.3])
    assert mcc(sources, latents, method) == pytest.approx(1.0, abs=1e-12)
    assert batch_mcc(sources, latents, 50, method) == pytest.approx(1.0, abs=1e-12)


def test_monotone_transform_spearman_one_pearson_below(sources):
    latents = np.column_stack(
        [sources[:, 0] ** 3, np.exp(sources[:, 1]), -np.exp(2 * sources[:, 2]), sources[:, 3]]
    )
    assert mcc(sources, latents, "spearman") == pytest.approx(1.0, abs=1e-12)
    assert mcc(sources, latents, "pearson") < 0.95


@pytest.mark.parametrize("method", METHODS)
def test_independent_noise_large_n_near_zero(method):
    rng = np.random.default_rng(1)
    s, z = rng.standard_normal((2, 20000, 3))
    assert 0 <= mcc(s, z, method) < 0.05


def test_hand_computed_matching_picks_off_diagonal():
    # Mutually orthogonal, zero-mean +-1 columns.
    s1 = np.array([1.0, -1, 1, -1])
    s2 = np.array([1.0, 1, -1, -1])
    s3 = np.array([1.0, -1, -1, 1])
    sources = np.column_stack([s1, s2])
    latents = np.column_stack([s2, s1 + s3])
    # corr(s1, s1 + s3) = 4 / (2 * sqrt(8)) = 1/sqrt(2); all other cross terms vanish.
    expected = np.array([[0.0, 1 / math.sqrt(2)], [1.0, 0.0]])
    np.testing.assert_allclose(abs_correlation(sources, latents), expected, atol=1e-12)
    assert mcc(sources, latents) == pytest.approx((1 + 1 / math.sqrt(2)) / 2, abs=1e-12)


def test_matching_is_optimal_not_greedy():
    # Greedy would take 0.9 then 0.0 (mean 0.45); the optimum is 0.8 + 0.7.
    c = np.array([[0.9, 0.8], [0.7, 0.0]])
    assert mcc_from_abs_correlation(c) == pytest.approx(0.75)
    assert isinstance(mcc_from_abs_correlation(c), float)


@pytest.mark.parametrize("method", METHODS)
def test_leading_run_axis_matches_separate_calls(method):
    rng = np.random.default_rng(2)
    s = rng.standard_normal((3, 300, 3))
    z = s @ rng.standard_normal((3, 3, 3)) + 0.5 * rng.standard_normal((3, 300, 3))
    c = abs_correlation(s, z, method)
    full = mcc(s, z, method)
    batch = batch_mcc(s, z, 64, method)
    assert c.shape == (3, 3, 3) and full.shape == (3,) and batch.shape == (3,)
    for r in range(3):
        np.testing.assert_allclose(c[r], abs_correlation(s[r], z[r], method), atol=1e-12)
        assert full[r] == pytest.approx(mcc(s[r], z[r], method), abs=1e-12)
        assert batch[r] == pytest.approx(batch_mcc(s[r], z[r], 64, method), abs=1e-12)


def test_shared_sources_broadcast_over_runs(sources):
    latents = np.stack([sources, sources[:, ::-1]])
    np.testing.assert_allclose(mcc(sources, latents), [1.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_constant_latent_column_is_finite(sources, method):
    latents = sources.copy()
    latents[:, 1] = 0.1  # constant, with a value whose mean is not exact in floating point
    c = abs_correlation(sources, latents, method)
    assert np.all(np.isfinite(c))
    np.testing.assert_array_equal(c[:, 1], 0.0)
    assert mcc(sources, latents, method) == pytest.approx(0.75, abs=1e-12)
    assert np.isfinite(batch_mcc(sources, latents, 64, method))


def test_rectangular_more_latents_than_sources(sources):
    rng = np.random.default_rng(3)
    latents = np.column_stack([rng.standard_normal(1000), sources[:, [2, 0, 1]]])
    assert abs_correlation(sources[:, :3], latents).shape == (3, 4)
    assert mcc(sources[:, :3], latents) == pytest.approx(1.0, abs=1e-12)


def test_rectangular_fewer_latents_mean_over_matches():
    c = np.array([[0.2, 0.1], [0.9, 0.3], [0.0, 0.6], [0.4, 0.5]])  # n_s=4, n_z=2
    assert mcc_from_abs_correlation(c) == pytest.approx((0.9 + 0.6) / 2)


@pytest.mark.parametrize("method", METHODS)
def test_nan_latents_give_nan_without_killing_other_runs(method):
    rng = np.random.default_rng(4)
    s = rng.standard_normal((2, 200, 3))
    z = s.copy()
    z[1, 17, 0] = np.nan
    full = mcc(s, z, method)
    batch = batch_mcc(s, z, 64, method)
    assert full[0] == pytest.approx(1.0, abs=1e-12) and np.isnan(full[1])
    assert batch[0] == pytest.approx(1.0, abs=1e-12) and np.isnan(batch[1])
    assert np.isnan(mcc(s[1], z[1], method))


def test_chance_level_between_bounds_and_above_full_set_noise():
    chance = chance_mcc(3, batch_size=64)
    rng = np.random.default_rng(5)
    s, z = rng.standard_normal((2, 20000, 3))
    assert 0.05 < chance < 0.4
    assert chance > mcc(s, z)


def test_split_batches_rule():
    assert split_batches(128, 64) == (2, 0)
    assert split_batches(129, 64) == (2, 0)  # a final batch of 1 is skipped
    assert split_batches(130, 64) == (2, 2)
    assert split_batches(10, 64) == (0, 10)


def test_batch_mcc_uses_consecutive_batches_and_skips_singleton_tail():
    rng = np.random.default_rng(6)
    s = rng.standard_normal((130, 2))
    z = s + rng.standard_normal((130, 2))
    blocks = [slice(0, 64), slice(64, 128), slice(128, 130)]
    expected = np.mean([mcc(s[b], z[b]) for b in blocks])
    assert batch_mcc(s, z, 64) == pytest.approx(expected, abs=1e-12)
    # With 129 samples the last batch has one sample and is dropped, so the score is 1,
    # not the 2/3 that including an all-zero-correlation batch would give.
    assert batch_mcc(s[:129], s[:129], 64) == pytest.approx(1.0, abs=1e-12)


def test_mismatched_shapes_raise_with_shapes():
    with pytest.raises(ValueError, match=r"\(100, 3\).*\(99, 3\)"):
        mcc(np.zeros((100, 3)), np.zeros((99, 3)))
    with pytest.raises(ValueError, match=r"\(100,\)"):
        mcc(np.zeros(100), np.zeros((100, 3)))
    with pytest.raises(ValueError, match=r"\(2, 100, 3\).*\(3, 100, 3\)"):
        batch_mcc(np.zeros((2, 100, 3)), np.zeros((3, 100, 3)))
    with pytest.raises(ValueError, match="method"):
        mcc(np.zeros((100, 3)), np.zeros((100, 3)), method="kendall")


def test_matching_pairs_each_source_with_the_latent_of_its_permutation():
    perm = [2, 0, 3, 1]  # source i is latent perm[i]
    c = np.full((4, 4), 0.1)
    c[np.arange(4), perm] = [0.9, 0.6, 0.8, 0.3]
    c[0, 0] = 0.95  # source 0's largest entry: a greedy pick would take latent 0 from source 1
    rows, cols = matching(c)
    assert list(rows) == [0, 1, 2, 3] and list(cols) == perm
    assert mcc_from_abs_correlation(c) == pytest.approx(np.mean([0.9, 0.6, 0.8, 0.3]))
