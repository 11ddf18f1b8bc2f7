"""Segment-modulated iVAE data: well-conditioned matrices, the mixing MLP and its inverse, the
sources' segment statistics, staircase and Bernoulli data, seeds, and the dataset file."""

import subprocess
import sys

import numpy as np
import pytest

from identvae.data import datasets
from identvae.data.segments import (
    apply_segment_mixing,
    condition_threshold,
    draw_segment_mixing,
    draw_segment_sources,
    generate_segments,
    segment_mixing_jacobian,
    well_conditioned_matrix,
)

# small draws keep the tests fast; the threshold's estimate is still within a few percentiles
BASE = {"n_segments": 6, "segment_size": 200, "n_sources": 3, "obs_dim": 3, "condition_draws": 2000}


def fresh_unit_column_matrices(rng, count, n_in, n_out, staircase=False):
    """Written out here, independently of the module: U(-1, 1) entries, unit-norm columns;
    staircase: column 1 is e1 and row 1 is e1 too (for n_out > 2)."""
    A = rng.uniform(-1, 1, size=(count, n_in, n_out))
    if staircase:
        A[:, 1:, 0] = 0
        A[:, 0, 0] = 1
        if n_out > 2:
            A[:, 0, 1:] = 0
    return A / np.sqrt((A**2).sum(axis=1, keepdims=True))


def xtanh(x):
    return np.tanh(x) + 0.1 * x


def xtanh_inverse(y, iters=200):
    """Bisection: xtanh is strictly increasing with slope >= 0.1, so |x| <= 10 (|y| + 1)."""
    lo, hi = -10 * (np.abs(y) + 1), 10 * (np.abs(y) + 1)
    for _ in range(iters):
        mid = (lo + hi) / 2
        above = xtanh(mid) > y
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return (lo + hi) / 2


def inv(A):
    """The inverse of a stored (float32) matrix, in float64."""
    return np.linalg.inv(np.asarray(A, dtype=np.float64))


def lrelu_inverse(y):
    return np.where(y > 0, y, y / 0.2)


def nearest_mean_accuracy(x, labels):
    """A 1-D nearest-segment-mean classifier, fitted and scored on the same points."""
    means = np.array([x[labels == k].mean() for k in range(labels.max() + 1)])
    return float((np.abs(x[:, None] - means[None]).argmin(1) == labels).mean())


# --- condition thresholds and matrices ---------------------------------------------------------


@pytest.mark.parametrize(("n_in", "n_out"), [(5, 5), (2, 5), (3, 3)])
@pytest.mark.parametrize("quantile", [25.0, 50.0])
@pytest.mark.parametrize("staircase", [False, True])
def test_threshold_is_the_quantile_of_fresh_draws(n_in, n_out, quantile, staircase):
    rng = np.random.default_rng(0)
    threshold = condition_threshold(n_in, n_out, rng, quantile=quantile, staircase=staircase)
    fresh = fresh_unit_column_matrices(np.random.default_rng(99), 4000, n_in, n_out, staircase)
    fresh = np.linalg.cond(fresh)
    if staircase and n_in == 2 and n_out > 2:  # every such matrix has cond 2 (ties)
        assert threshold == pytest.approx(2.0)
        return
    # sd of the fraction ~ 0.008 (4000 fresh draws, 10^4 for the threshold): 4.5 sd
    assert abs((fresh <= threshold).mean() - quantile / 100) < 0.035


def test_threshold_depends_only_on_its_generator():
    a = condition_threshold(5, 5, np.random.default_rng(1), draws=500)
    condition_threshold(4, 6, np.random.default_rng(2), draws=500)  # another call in between
    b = condition_threshold(5, 5, np.random.default_rng(1), draws=500)
    c = condition_threshold(5, 5, np.random.default_rng(3), draws=500)
    assert a == b and a != c


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("n_in", "n_out"), [(5, 5), (2, 5)])
def test_matrix_has_unit_columns_and_meets_the_threshold(seed, n_in, n_out):
    rng = np.random.default_rng(seed)
    threshold = condition_threshold(n_in, n_out, rng, draws=1000)
    A = well_conditioned_matrix(n_in, n_out, rng, threshold)
    assert A.shape == (n_in, n_out)
    assert np.allclose(np.linalg.norm(A, axis=0), 1.0)
    assert np.linalg.cond(A) <= threshold
    assert threshold > 1.0


def test_matrix_gives_up_with_a_clear_error():
    with pytest.raises(RuntimeError, match="50 draws"):
        well_conditioned_matrix(3, 3, np.random.default_rng(0), threshold=1.0, max_tries=50)
    with pytest.raises(ValueError, match="at least 1"):
        well_conditioned_matrix(3, 3, np.random.default_rng(0), threshold=0.5)


# --- the mixing --------------------------------------------------------------------------------


def test_mixing_shapes_unit_columns_and_conditioning():
    params = draw_segment_mixing(3, 5, np.random.default_rng(0), draws=1000)
    shapes = [params[f"A{i}"].shape for i in range(3)]
    assert shapes == [(3, 5), (5, 5), (5, 5)] and "A3" not in params
    for i in range(3):
        A = params[f"A{i}"]
        assert np.allclose(np.linalg.norm(A, axis=0), 1.0)
        assert np.linalg.cond(A) <= params["condition_thresholds"][i]
    assert np.array_equal(params["A1"], params["A2"])  # one square matrix repeated by default
    fresh = draw_segment_mixing(3, 5, np.random.default_rng(0), repeat_matrix=False, draws=1000)
    assert [fresh[f"A{i}"].shape for i in range(3)] == shapes
    assert not np.allclose(fresh["A1"], fresh["A2"])  # the option: a fresh matrix per layer


def test_repeat_matrix_reuses_one_matrix():
    square = draw_segment_mixing(4, 4, np.random.default_rng(0), repeat_matrix=True, draws=500)
    assert np.array_equal(square["A0"], square["A1"]) and np.array_equal(square["A0"], square["A2"])
    under = draw_segment_mixing(2, 4, np.random.default_rng(0), repeat_matrix=True, draws=500)
    assert under["A0"].shape == (2, 4) and under["A1"].shape == (4, 4)
    assert np.array_equal(under["A1"], under["A2"])


@pytest.mark.parametrize(("n", "d"), [(4, 4), (2, 5), (2, 2)])
def test_staircase_matrices_pass_the_first_coordinate(n, d):
    params = draw_segment_mixing(n, d, np.random.default_rng(1), staircase=True, draws=500)
    for i in range(3):
        A = params[f"A{i}"]
        e1 = np.zeros(A.shape[0])
        e1[0] = 1
        assert np.array_equal(A[:, 0], e1)
        if d > 2:
            assert np.all(A[0, 1:] == 0)
        assert np.allclose(np.linalg.norm(A, axis=0), 1.0)


def test_one_layer_is_linear_whatever_the_activation():
    params = draw_segment_mixing(3, 4, np.random.default_rng(2), n_layers=1, draws=500)
    s = np.random.default_rng(3).standard_normal((50, 3))
    for activation in ("xtanh", "lrelu", "none"):
        assert np.allclose(apply_segment_mixing(s, params, activation), s @ params["A0"])


@pytest.mark.parametrize(
    ("activation", "inverse"), [("xtanh", xtanh_inverse), ("lrelu", lrelu_inverse)]
)
def test_square_mixing_is_invertible(activation, inverse):
    data = generate_segments(BASE | {"activation": activation, "n_sources": 4, "obs_dim": 4}, 0)
    s = data.sources.astype(np.float64)
    x = apply_segment_mixing(s, data.mixing_params, activation)
    assert np.allclose(x, data.observations, rtol=1e-5, atol=1e-5)
    h = x @ inv(data.mixing_params["A2"])
    h = inverse(h) @ inv(data.mixing_params["A1"])
    h = inverse(h) @ inv(data.mixing_params["A0"])
    assert np.allclose(h, s, atol=1e-8)


def test_undercomplete_mixing_is_injective():
    data = generate_segments(BASE | {"n_sources": 2, "obs_dim": 5}, 1)
    assert data.sources.shape == (1200, 2) and data.observations.shape == (1200, 5)
    s = data.sources.astype(np.float64)
    h = apply_segment_mixing(s, data.mixing_params) @ inv(data.mixing_params["A2"])
    h = xtanh_inverse(h) @ inv(data.mixing_params["A1"])
    h = xtanh_inverse(h)
    back, *_ = np.linalg.lstsq(
        data.mixing_params["A0"].T.astype(np.float64), h.T, rcond=None
    )  # h = s A0
    assert np.allclose(back.T, s, atol=1e-8)


def test_more_sources_than_observations_is_refused():
    with pytest.raises(ValueError, match="n_sources"):
        generate_segments(BASE | {"n_sources": 4, "obs_dim": 3}, 0)


# --- sources -----------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", ["gaussian", "laplace"])
def test_stds_are_standard_deviations_and_segments_are_blocks(noise):
    M, L, n = 8, 4000, 3
    s, labels, means, stds = draw_segment_sources(M, L, n, np.random.default_rng(0), noise=noise)
    assert s.shape == (M * L, n) and labels.dtype == np.int64
    assert np.array_equal(labels, np.repeat(np.arange(M), L))
    assert stds.min() >= 0.5 and stds.max() <= 3.0
    sample = np.stack([s[labels == k].std(0) for k in range(M)])
    # relative sd of a sample std: sqrt((kurtosis - 1) / 4L) = 1.1% (gaussian), 1.8% (laplace)
    assert np.abs(sample / stds - 1).max() < 0.08


def test_centred_means_are_zero_and_uncentred_means_match():
    M, L, n = 10, 2000, 2
    s, labels, means, stds = draw_segment_sources(M, L, n, np.random.default_rng(1))
    assert np.all(means == 0)
    sample = np.stack([s[labels == k].mean(0) for k in range(M)])
    assert np.all(np.abs(sample) < 5 * stds / np.sqrt(L))
    s, labels, means, stds = draw_segment_sources(M, L, n, np.random.default_rng(1), centered=False)
    assert np.all(np.abs(means) < 5) and means.std() > 1  # U(-5, 5): sd 2.9
    sample = np.stack([s[labels == k].mean(0) for k in range(M)])
    assert np.all(np.abs(sample - means) < 5 * stds / np.sqrt(L))


@pytest.mark.parametrize(("noise", "kurtosis"), [("gaussian", 0.0), ("laplace", 3.0)])
def test_noise_has_unit_variance_and_its_shape(noise, kurtosis):
    s, labels, means, stds = draw_segment_sources(
        8, 4000, 2, np.random.default_rng(2), noise=noise, centered=False
    )
    eps = ((s - means[labels]) / stds[labels]).ravel()
    assert abs(eps.var() - 1) < 0.05  # sd ~0.0125 for laplace at 64000 points
    excess = (eps**4).mean() / eps.var() ** 2 - 3
    assert abs(excess - kurtosis) < 1.0


def test_staircase_sources_step_source_zero_only():
    M = 7
    s, labels, means, stds = draw_segment_sources(
        M, 10, 3, np.random.default_rng(3), staircase=True
    )
    assert sorted(means[:, 0]) == [3.0 * k for k in range(M)]
    assert not np.array_equal(means[:, 0], 3.0 * np.arange(M))  # in random order
    assert np.all(means[:, 1:] == 0)
    assert stds[:, 0].std() > 0.1  # the variance modulation stays
    s, labels, means, stds = draw_segment_sources(
        M, 10, 3, np.random.default_rng(3), staircase=True, centered=False
    )
    assert sorted(means[:, 0]) == [3.0 * k for k in range(M)]
    assert np.all(np.abs(means[:, 1:]) < 1) and means[:, 1:].std() > 0.1  # U(-1, 1)


@pytest.mark.parametrize("d", [3, 5])
def test_staircase_observation_zero_reveals_the_segment(d):
    config = BASE | {"n_segments": 10, "segment_size": 500, "obs_dim": d}
    stair = generate_segments(config | {"staircase": True}, 0)
    s0 = stair.sources[:, 0].astype(np.float64)
    assert np.allclose(stair.observations[:, 0], xtanh(xtanh(s0)), atol=1e-5)  # s0 alone
    # sigma up to 3 against steps of 3 leaves overlap, so well above chance (0.1), not ~1
    assert nearest_mean_accuracy(stair.observations[:, 0], stair.labels) > 0.4
    for j in range(1, d):
        assert nearest_mean_accuracy(stair.observations[:, j], stair.labels) < 0.2
    plain = generate_segments(config, 0)
    assert nearest_mean_accuracy(plain.observations[:, 0], plain.labels) < 0.2


# --- datasets ----------------------------------------------------------------------------------


def test_dataset_fields():
    data = generate_segments(BASE, 4)
    assert data.sources.dtype == np.float32 and data.observations.dtype == np.float32
    assert data.observations.shape == (1200, 3) and data.labels.dtype == np.int64
    assert np.all(data.split == 0) and data.mixing_name == "segment_mlp"
    assert data.config["n_segments"] == 6 and data.config == BASE and data.seed == 4
    assert data.mixing_params["segment_means"].shape == (6, 3)
    assert data.mixing_params["segment_stds"].shape == (6, 3)
    centred = data.sources - data.mixing_params["segment_means"][data.labels]
    assert np.allclose(
        [centred[data.labels == k].std(0) for k in range(6)],
        data.mixing_params["segment_stds"],
        rtol=0.25,  # 200 points per segment: sd of a sample std 5%
    )


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = generate_segments(BASE, 5), generate_segments(BASE, 5), generate_segments(BASE, 6)
    assert np.array_equal(a.observations, b.observations)
    assert np.array_equal(a.sources, b.sources) and np.array_equal(a.labels, b.labels)
    assert not np.allclose(a.observations, c.observations)
    assert not np.allclose(a.mixing_params["A0"], c.mixing_params["A0"])


@pytest.mark.parametrize(
    "change",
    [{"mixing_layers": 2}, {"activation": "lrelu"}, {"repeat_matrix": False}, {"obs_dim": 4}],
)
def test_sources_are_drawn_before_the_mixing(change):
    """The official order: the sources come first, so the mixing's settings leave them alone,
    while the sample count moves the whole draw (the mixing of a seed too)."""
    a, b = generate_segments(BASE, 7), generate_segments(BASE | change, 7)
    assert np.array_equal(a.sources, b.sources)
    assert np.array_equal(a.mixing_params["segment_stds"], b.mixing_params["segment_stds"])
    other = generate_segments(BASE | {"segment_size": 50}, 7)
    assert np.array_equal(other.mixing_params["segment_stds"], a.mixing_params["segment_stds"])
    assert not np.array_equal(other.mixing_params["A0"], a.mixing_params["A0"])


def test_observation_noise_is_gaussian_with_the_given_std():
    clean = generate_segments(BASE | {"segment_size": 2000}, 8)
    noisy = generate_segments(BASE | {"segment_size": 2000, "obs_noise_std": 0.1}, 8)
    assert np.array_equal(clean.sources, noisy.sources)
    diff = (noisy.observations - clean.observations).astype(np.float64)
    assert abs(diff.std() - 0.1) < 0.003 and abs(diff.mean()) < 0.003


def test_bernoulli_observations_track_the_logistic_of_the_linear_mixing():
    config = {
        "n_segments": 20,
        "segment_size": 300,
        "n_sources": 10,
        "obs_dim": 100,
        "observation": "bernoulli",
        "mixing_layers": 1,
        "condition_draws": 1000,
    }
    data = generate_segments(config, 0)
    assert data.mixing_name == "segment_bernoulli" and data.observations.dtype == np.float32
    assert set(np.unique(data.observations)) == {0.0, 1.0}
    p = 1 / (1 + np.exp(-(data.sources.astype(np.float64) @ data.mixing_params["A0"])))
    p, x = p.ravel(), data.observations.ravel()
    edges = np.quantile(p, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, 9)
    for k in range(10):
        pk, xk = p[bins == k], x[bins == k]
        assert (
            abs(xk.mean() - pk.mean()) < 5 * np.sqrt(pk.mean() * (1 - pk.mean()) / len(xk)) + 1e-3
        )
    with pytest.raises(ValueError, match="mixing_layers"):
        generate_segments(config | {"mixing_layers": 3}, 0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("activation", "relu"),
        ("noise", "uniform"),
        ("observation", "poisson"),
        ("obs_noise_std", -0.1),
        ("mixing_layers", 0),
        ("centered", "yes"),
        ("condition_quantile", 0.0),
        ("segment_size", 2.5),
    ],
)
def test_bad_settings_are_refused_by_name(key, value):
    with pytest.raises(ValueError, match=key):
        generate_segments(BASE | {key: value}, 0)


def test_dataset_round_trips_with_labels(tmp_path):
    data = generate_segments(BASE | {"centered": False}, 9)
    path = tmp_path / "seed=9.npz"
    datasets.save(data, path)
    back = datasets.load(path)
    assert np.array_equal(back.labels, data.labels) and back.labels.dtype == np.int64
    assert np.array_equal(back.observations, data.observations)
    assert np.array_equal(back.split, data.split)
    assert set(back.mixing_params) == set(data.mixing_params)
    for key, value in data.mixing_params.items():
        assert np.array_equal(back.mixing_params[key], value)
    assert back.config == data.config and back.mixing_name == "segment_mlp" and back.seed == 9


def test_importing_the_module_stays_light():
    code = (
        "import sys, identvae.data.segments; "
        "sys.exit('torch' in sys.modules or 'scipy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("activation", ["xtanh", "lrelu", "none"])
@pytest.mark.parametrize(("n", "d", "repeat"), [(4, 4, True), (2, 5, False)])
def test_mixing_jacobian_equals_central_differences(activation, n, d, repeat):
    config = BASE | {
        "n_sources": n,
        "obs_dim": d,
        "activation": activation,
        "repeat_matrix": repeat,
    }
    data = generate_segments(config, 3)
    s = data.sources[:20].astype(np.float64)
    jac = segment_mixing_jacobian(s, data.mixing_params, activation)
    step = 1e-6 * np.eye(n)
    diffs = [
        apply_segment_mixing(s + step[k], data.mixing_params, activation)
        - apply_segment_mixing(s - step[k], data.mixing_params, activation)
        for k in range(n)
    ]
    assert jac.shape == (20, d, n)
    assert np.allclose(jac, np.stack(diffs, -1) / 2e-6, atol=1e-7)
