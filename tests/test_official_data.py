"""The segment-data generator rebuilds the authors' own datasets bit for bit.

The official iVAE code caches its Fig. 2a dataset per data seed; the one for seed 1 is the
reference file ``../shared/reference/ivae-official-s1.npz`` (x, u, s). Where that file is at
hand the rebuilt arrays are compared with it; the SHA-256 of its arrays, written below from the
file (not from our code), lets the comparison run in a clone without it too."""

import hashlib

import numpy as np
import pytest
from helpers import ROOT

from identvae.data.segments import generate_segments, random_unit_column_matrices

REFERENCE = ROOT.parent / "shared" / "reference" / "ivae-official-s1.npz"
#: The official Fig. 2a setting: M = 40 segments of L = 1000 points, n = d = 5, three xtanh
#: layers of one repeated matrix, centred Gaussian sources.
FIG2A = {"n_segments": 40, "segment_size": 1000, "n_sources": 5, "obs_dim": 5}
#: sha256 of each array's bytes in the reference file (x, s float32 [40000, 5]; u int64).
REFERENCE_SHA256 = {
    "x": "b9dcbefc1f6bbd92536be6f014ffab77836fa2a283748e90af831360eaa3dea6",
    "u": "5af5dc8b3a1f608a07589e98b3ff81b33649017934ddb3a4dca479a8606c61b4",
    "s": "38f52ca0eaac50db07a0bc8c4d88e1db9fb15b92e8d0b6f55398f7cce9443e5a",
}


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def seed_one():
    data = generate_segments(FIG2A, 1)
    return {"x": data.observations, "u": data.labels, "s": data.sources}


def test_seed_one_hashes_to_the_authors_arrays(seed_one):
    assert seed_one["x"].dtype == seed_one["s"].dtype == np.float32
    assert seed_one["u"].dtype == np.int64
    assert {k: sha256(v) for k, v in seed_one.items()} == REFERENCE_SHA256


@pytest.mark.skipif(not REFERENCE.is_file(), reason=f"no reference file at {REFERENCE}")
def test_seed_one_equals_the_reference_file(seed_one):
    with np.load(REFERENCE) as ref:
        assert {k: sha256(ref[k]) for k in REFERENCE_SHA256} == REFERENCE_SHA256
        for key, value in seed_one.items():
            assert value.dtype == ref[key].dtype and np.array_equal(value, ref[key]), key


def test_another_seed_or_setting_is_another_dataset(seed_one):
    other = generate_segments(FIG2A, 2)
    assert sha256(other.observations) != REFERENCE_SHA256["x"]
    fresh = generate_segments(FIG2A | {"repeat_matrix": False}, 1)
    assert np.array_equal(fresh.sources, seed_one["s"])  # sources first, mixing after
    assert not np.array_equal(fresh.observations, seed_one["x"])


@pytest.mark.parametrize(("n_in", "n_out"), [(5, 5), (2, 5), (10, 100)])
def test_stacked_draws_equal_the_official_one_at_a_time_loop(n_in, n_out):
    """The threshold's 10^4 draws are made as one stacked array; the official code draws and
    normalises one matrix at a time, column by column in float32."""
    stacked = random_unit_column_matrices(50, n_in, n_out, np.random.RandomState(3))
    rng = np.random.RandomState(3)
    for k in range(50):
        A = rng.uniform(-1, 1, (n_in, n_out)).astype(np.float32)
        for i in range(n_out):
            A[:, i] /= np.sqrt((A[:, i] ** 2).sum())
        assert np.array_equal(stacked[k], A), k
