"""Tests for the IMA contrast: closed forms, invariances, singular cases and batching."""

import math

import numpy as np
import pytest
import torch

from identvae.metrics.ima import batch_mean_cima, global_cima, local_cima


def random_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_orthogonal_columns_give_zero():
    rng = np.random.default_rng(0)
    for _ in range(10):
        square = random_orthogonal(rng, 4) @ np.diag(rng.uniform(0.1, 10, 4))
        tall = random_orthogonal(rng, 6)[:, :3] * rng.uniform(0.1, 10, 3)
        assert abs(local_cima(torch.tensor(square)).item()) < 1e-6
        assert abs(local_cima(torch.tensor(tall)).item()) < 1e-6


@pytest.mark.parametrize("t", [-3.0, -0.5, 0.1, 1.0, 2.0, 10.0])
def test_shear_closed_form(t):
    J = torch.tensor([[1.0, t], [0.0, 1.0]], dtype=torch.float64)
    assert local_cima(J).item() == pytest.approx(0.5 * math.log(1 + t**2), abs=1e-12)


@pytest.mark.parametrize("theta", [0.1, 0.7, math.pi / 3, 2.5, 3.0])
@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (0.2, 5.0), (3.0, 0.01)])
def test_angle_closed_form(theta, a, b):
    J = torch.tensor([[a, b * math.cos(theta)], [0.0, b * math.sin(theta)]], dtype=torch.float64)
    expected = -math.log(abs(math.sin(theta)))
    assert local_cima(J).item() == pytest.approx(expected, abs=1e-10)
    # Same two columns embedded in 3-D and rotated: unchanged.
    Q = random_orthogonal(np.random.default_rng(1), 3)
    tall = torch.tensor(Q) @ torch.cat([J, torch.zeros(1, 2, dtype=torch.float64)])
    assert local_cima(tall).item() == pytest.approx(expected, abs=1e-10)


def test_nonnegative_on_random_matrices():
    J = torch.randn(2000, 5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    c = local_cima(J)
    assert c.shape == (2000,)
    assert torch.all(c >= -1e-12)
    assert torch.all(c > 1e-8)  # random columns are essentially never orthogonal


def test_invariance_to_column_scaling_and_left_rotation():
    rng = np.random.default_rng(2)
    J = rng.standard_normal((4, 3))
    base = local_cima(J).item()
    scaled = J * np.array([-5.0, 0.01, 300.0])
    rotated = random_orthogonal(rng, 4) @ J
    assert local_cima(scaled).item() == pytest.approx(base, abs=1e-10)
    assert local_cima(rotated).item() == pytest.approx(base, abs=1e-10)


def test_matches_slogdet_formula_on_random_input():
    J = torch.randn(50, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    logdet = torch.linalg.slogdet(J.mT @ J).logabsdet
    direct = torch.linalg.vector_norm(J, dim=-2).log().sum(-1) - 0.5 * logdet
    torch.testing.assert_close(local_cima(J), direct, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize(
    "J",
    [
        [[1.0, 2.0], [2.0, 4.0]],  # dependent columns
        [[1.0, 0.0], [0.0, 0.0]],  # zero column
        [[1.0, 3.0], [2.0, 6.0], [-1.0, -3.0]],  # tall, rank 1
        [[0.0, 0.0], [0.0, 0.0]],
    ],
)
def test_singular_gives_plus_inf(J):
    c = local_cima(torch.tensor(J))
    assert torch.isposinf(c)


def _rotation_and_identity() -> tuple[torch.Tensor, torch.Tensor]:
    eye = torch.eye(2, dtype=torch.float64)
    # Rotation by 90 degrees times diag(2, 1): columns (0, 2) and (-1, 0), orthogonal.
    rot = torch.tensor([[0.0, -1.0], [2.0, 0.0]], dtype=torch.float64)
    return eye, rot


# Mean of the two is 1/2 [[1, -1], [2, 1]]: column norms sqrt(5)/2, sqrt(2)/2, det 3/4,
# so c_IMA = log(sqrt(5)/2) + log(sqrt(2)/2) - log(3/4) = 1/2 log(10/9).
HAND_VALUE = 0.5 * math.log(10 / 9)


def test_batch_mean_cima_differs_from_global_cima():
    eye, rot = _rotation_and_identity()
    J = torch.stack([eye, rot, eye, rot])
    assert global_cima(J).item() == pytest.approx(0.0, abs=1e-12)
    assert batch_mean_cima(J, batch_size=2).item() == pytest.approx(HAND_VALUE, abs=1e-12)


def test_batch_mean_cima_batching_rule():
    eye, rot = _rotation_and_identity()
    # Tail of one (a zero Jacobian, which would give +inf) is skipped.
    J = torch.stack([eye, rot, eye, rot, torch.zeros(2, 2, dtype=torch.float64)])
    assert batch_mean_cima(J, batch_size=2).item() == pytest.approx(HAND_VALUE, abs=1e-12)
    # Tail of two is kept: batches [I, R, I, R] -> HAND_VALUE and [I, I] -> 0.
    J = torch.stack([eye, rot, eye, rot, eye, eye])
    assert batch_mean_cima(J, batch_size=4).item() == pytest.approx(HAND_VALUE / 2, abs=1e-12)


def test_leading_dims():
    J = torch.randn(3, 2, 10, 4, 3, generator=torch.Generator().manual_seed(4))
    local = local_cima(J)
    assert local.shape == (3, 2, 10)
    assert global_cima(J).shape == (3, 2)
    assert batch_mean_cima(J, batch_size=4).shape == (3, 2)
    for i in range(3):
        for j in range(2):
            for k in range(10):
                assert local[i, j, k].item() == pytest.approx(local_cima(J[i, j, k]).item())
            assert global_cima(J)[i, j].item() == pytest.approx(local[i, j].mean().item())
            expected = batch_mean_cima(J[i, j], batch_size=4).item()
            assert batch_mean_cima(J, batch_size=4)[i, j].item() == pytest.approx(expected)


def test_numpy_and_float32_input():
    J = np.random.default_rng(5).standard_normal((8, 3, 3)).astype(np.float32)
    out = global_cima(J)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    expected = global_cima(torch.tensor(J, dtype=torch.float64))
    assert out.item() == pytest.approx(expected.item(), abs=1e-12)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        local_cima(torch.zeros(2, 3))  # d < n
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        global_cima(torch.zeros(3, 3))  # no sample axis


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    J = torch.randn(3, 64, 4, 3, generator=torch.Generator().manual_seed(6))
    for fn in (global_cima, lambda x: batch_mean_cima(x, 16)):
        gpu = fn(J.cuda())
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), fn(J))
