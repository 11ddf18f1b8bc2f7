"""User data files for the iVAE: a good file loads with its labels remapped, and every bad file is
refused with its path and its problem named."""

import re
import subprocess
import sys

import numpy as np
import pytest

from identvae.data import datasets
from identvae.data.segments import check_user_file, load_user_file
from identvae.io import ArtifactError

VALUES = np.array([7, -3, 100, 4, 0])  # any integers, deliberately unsorted
N_PER, D, LATENT = 20, 4, 2


def good_arrays(seed=0):
    rng = np.random.default_rng(seed)
    u = rng.permutation(np.repeat(VALUES, N_PER))
    return {
        "x": rng.standard_normal((len(u), D)),
        "u": u,
        "s": rng.standard_normal((len(u), LATENT)),
    }


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_a_good_file_loads_with_labels_remapped_in_sorted_order(tmp_path):
    arrays = good_arrays()
    path = write(tmp_path / "good.npz", **arrays)
    summary = check_user_file(path, latent_dim=LATENT, learned_prior_mean=True)
    assert summary == {"n_samples": 100, "obs_dim": D, "n_segments": 5, "has_sources": True}
    data = load_user_file(path, latent_dim=LATENT, learned_prior_mean=True)
    rank = {-3: 0, 0: 1, 4: 2, 7: 3, 100: 4}
    assert data.labels.dtype == np.int64
    assert data.labels.tolist() == [rank[v] for v in arrays["u"].tolist()]
    assert data.mixing_params["segment_values"].tolist() == [-3, 0, 4, 7, 100]
    assert np.array_equal(data.observations, arrays["x"].astype(np.float32))
    assert np.array_equal(data.sources, arrays["s"].astype(np.float32))
    assert data.observations.dtype == np.float32 and data.sources.dtype == np.float32
    assert np.all(data.split == 0) and data.mixing_name == "user_file"
    assert data.config == {"path": str(path), "n_segments": 5, "obs_dim": D, "has_sources": True}


def test_a_file_without_sources_has_empty_sources_and_round_trips(tmp_path):
    arrays = good_arrays()
    path = write(tmp_path / "nos.npz", x=arrays["x"], u=arrays["u"])
    assert not check_user_file(path, latent_dim=LATENT, learned_prior_mean=False)["has_sources"]
    data = load_user_file(path, latent_dim=LATENT, learned_prior_mean=False)
    assert data.sources.shape == (100, 0) and data.config["has_sources"] is False
    datasets.save(data, tmp_path / "saved.npz")
    back = datasets.load(tmp_path / "saved.npz")
    assert back.sources.shape == (100, 0)
    assert np.array_equal(back.labels, data.labels)
    assert np.array_equal(back.observations, data.observations)
    assert np.array_equal(back.mixing_params["segment_values"], [-3, 0, 4, 7, 100])
    assert back.config == data.config and back.mixing_name == "user_file"


def test_integer_valued_float_labels_and_extra_arrays_are_accepted(tmp_path):
    arrays = good_arrays()
    path = write(tmp_path / "f.npz", x=arrays["x"], u=arrays["u"].astype(float), names=np.ones(3))
    data = load_user_file(path, latent_dim=LATENT, learned_prior_mean=True)
    assert data.mixing_params["segment_values"].tolist() == [-3, 0, 4, 7, 100]


@pytest.mark.parametrize(
    ("latent_dim", "learned", "needed"), [(2, True, 5), (2, False, 3), (4, False, 5), (3, True, 7)]
)
def test_the_segment_count_needed_is_n_k_plus_one(tmp_path, latent_dim, learned, needed):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10 * needed, 8))
    enough = write(tmp_path / "enough.npz", x=x, u=np.repeat(np.arange(needed), 10))
    assert check_user_file(enough, latent_dim=latent_dim, learned_prior_mean=learned)
    few = write(
        tmp_path / "few.npz", x=x, u=np.repeat(np.arange(needed - 1), 10).tolist() + [0] * 10
    )
    message = f"{needed - 1} distinct segments.*needs.*= {needed}"
    with pytest.raises(ArtifactError, match=message):
        check_user_file(few, latent_dim=latent_dim, learned_prior_mean=learned)


def bad_files():
    """name -> (how to write the file into a path, a word the message must contain)."""
    g = good_arrays()
    x, u, s = g["x"], g["u"], g["s"]

    def npz(**arrays):
        return lambda p: np.savez(p, **arrays)

    def with_value(a, value):
        a = a.copy()
        a[3, 1] = value
        return a

    def raw(content):
        return lambda p: p.write_bytes(content)

    def npy(p):
        with open(p, "wb") as f:
            np.save(f, x)

    def object_x(p):
        np.savez(p, x=np.array([[1.0, "a"]], dtype=object), u=u)

    def one_point_segment(p):
        np.savez(p, x=np.vstack([x, x[:1]]), u=np.append(u, 555))

    return {
        "missing": (None, "no such file"),
        "garbage": (raw(b"definitely not a zip archive"), "not an NPZ file"),
        "truncated": (
            lambda p: (np.savez(p, **g), p.write_bytes(p.read_bytes()[:300])),
            "readable",
        ),
        "npy": (npy, ".npy"),
        "object_array": (object_x, "readable"),
        "no_x": (npz(u=u, s=s), "'x'"),
        "no_u": (npz(x=x, s=s), "'u'"),
        "capital_keys": (npz(X=x, segment=u), "'x'"),
        "x_1d": (npz(x=x[:, 0], u=u), "x must be 2-D"),
        "x_3d": (npz(x=x[:, :, None], u=u), "x must be 2-D"),
        "x_strings": (npz(x=x.astype(str), u=u), "real"),
        "x_nan": (npz(x=with_value(x, np.nan), u=u), "NaN"),
        "x_inf": (npz(x=with_value(x, np.inf), u=u), "NaN or inf"),
        "x_too_large": (npz(x=with_value(x, 1e300), u=u), "float32"),
        "u_2d": (npz(x=x, u=u[:, None]), "u must be 1-D"),
        "u_fractional": (npz(x=x, u=u + 0.5), "integer-valued"),
        "u_strings": (npz(x=x, u=u.astype(str)), "integer-valued"),
        "lengths_differ": (npz(x=x, u=u[:-1]), "100 rows but u has 99"),
        "s_rows": (npz(x=x, u=u, s=s[:-1]), "s (true sources)"),
        "s_1d": (npz(x=x, u=u, s=s[:, 0]), "s (true sources)"),
        "s_nan": (npz(x=x, u=u, s=with_value(s, np.nan)), "s contains NaN"),
        "d_below_latent": (npz(x=x[:, :1], u=u), "fewer than latent_dim = 2"),
        "too_few_segments": (npz(x=x, u=np.where(u == 7, 4, u)), "4 distinct segments"),
        "one_point_segment": (one_point_segment, "[555] have fewer than 2 points"),
    }


BAD = bad_files()


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("reader", [check_user_file, load_user_file])
def test_bad_files_are_refused_with_path_and_problem(tmp_path, case, reader):
    make, problem = BAD[case]
    path = tmp_path / f"{case}.npz"
    if make is not None:
        make(path)
    with pytest.raises(ArtifactError) as err:
        reader(path, latent_dim=LATENT, learned_prior_mean=True)
    assert str(path) in str(err.value)
    assert re.search(re.escape(problem), str(err.value)), str(err.value)


def test_a_bad_latent_dim_is_a_value_error(tmp_path):
    path = write(tmp_path / "good.npz", **good_arrays())
    with pytest.raises(ValueError, match="latent_dim"):
        check_user_file(path, latent_dim=0, learned_prior_mean=True)


def test_checking_a_file_imports_neither_torch_nor_scipy(tmp_path):
    path = write(tmp_path / "good.npz", **good_arrays())
    code = (
        "import sys; from identvae.data.segments import check_user_file; "
        f"check_user_file({str(path)!r}, latent_dim=2, learned_prior_mean=True); "
        "sys.exit('torch' in sys.modules or 'scipy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
