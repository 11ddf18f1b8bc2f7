import numpy as np
import pytest
import torch
from helpers import e1_data

from identvae.data import datasets
from identvae.data.mixings import mixing_function, mixing_jacobian, moebius_params
from identvae.io import ArtifactError
from identvae.metrics.ima import local_cima

E1_DATA = e1_data(2000)


def test_moebius_jacobian_is_conformal_at_random_points():
    params = moebius_params(3, np.random.default_rng(0))
    f = mixing_function("moebius", params)
    s = torch.rand(500, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) - 0.5
    jac = mixing_jacobian(f, s)
    assert jac.shape == (500, 3, 3)
    cima = local_cima(jac)
    assert cima.abs().max() < 1e-9
    # conformal: J^T J is a multiple of the identity at every point
    gram = jac.transpose(-1, -2) @ jac
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(gram / scale[:, None, None], eye.expand(500, 3, 3), atol=1e-10)


def test_moebius_jacobian_matches_finite_differences():
    params = moebius_params(3, np.random.default_rng(3))
    f = mixing_function("moebius", params)
    s = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    jac = mixing_jacobian(f, s[None])[0]
    h = 1e-6
    for k in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[k] = h
        fd = (f(s + e) - f(s - e)) / (2 * h)
        assert torch.allclose(jac[:, k], fd, atol=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_moebius_pole_lies_outside_the_source_cube(seed):
    params = moebius_params(3, np.random.default_rng(seed))
    assert np.all(np.abs(params["a"]) > 0.5)
    assert np.allclose(params["A"] @ params["A"].T, np.eye(3))


def test_generate_is_deterministic_and_centred():
    a, b = datasets.generate(E1_DATA, 7), datasets.generate(E1_DATA, 7)
    c = datasets.generate(E1_DATA, 8)
    assert np.array_equal(a.observations, b.observations)
    assert np.array_equal(a.split, b.split)
    assert not np.allclose(a.observations, c.observations)
    assert np.abs(a.observations.mean(0)).max() < 1e-5
    assert a.sources.min() >= -0.5 and a.sources.max() <= 0.5
    counts = np.bincount(a.split)
    assert counts.tolist() == [1400, 400, 200]


def test_observations_are_the_stored_mixing_of_the_sources():
    data = datasets.generate(E1_DATA, 3)
    f = mixing_function(data.mixing_name, data.mixing_params)
    x = f(torch.as_tensor(data.sources, dtype=torch.float64)).numpy()
    assert np.allclose(x, data.observations, atol=1e-5)


def test_mixing_does_not_depend_on_sample_count():
    small = datasets.generate(E1_DATA, 5)
    large = datasets.generate(E1_DATA | {"n_samples": 4000}, 5)
    assert np.array_equal(small.mixing_params["A"], large.mixing_params["A"])


def test_save_load_round_trip(tmp_path):
    data = datasets.generate(E1_DATA, 1)
    path = tmp_path / "seed=1.npz"
    datasets.save(data, path)
    back = datasets.load(path)
    assert np.array_equal(back.observations, data.observations)
    assert np.array_equal(back.mixing_params["A"], data.mixing_params["A"])
    assert back.config == data.config and back.seed == 1
    assert back.labels is None


def test_corrupt_and_missing_dataset_files_name_the_path(tmp_path):
    data = datasets.generate(E1_DATA, 1)
    path = tmp_path / "d.npz"
    datasets.save(data, path)
    raw = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArtifactError, match="truncated.npz"):
        datasets.load(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ArtifactError, match="garbage.npz"):
        datasets.load(garbage)
    with pytest.raises(ArtifactError, match="absent.npz"):
        datasets.load(tmp_path / "absent.npz")
