import colorsys

import numpy as np
import pytest
import torch

from identvae.data import datasets
from identvae.data.sprites import (
    TRIANGLE_RADIUS,
    draw_factors,
    draw_sprites_dataset,
    hsv_to_rgb,
    render,
)

CONFIG = {"n_samples": 60, "resolution": 16, "split": [0.7, 0.2, 0.1]}


@pytest.fixture(scope="module")
def drawn():
    """200 sprites from the paper's factor distribution, rendered at 32 x 32."""
    factors, _, _ = draw_factors(200, np.random.default_rng(11))
    images = render(torch.as_tensor(factors), 32).numpy()
    return factors, images


def coverage(images: np.ndarray) -> np.ndarray:
    """Per-pixel coverage [N, H, W] in [0, 1]: HSV value 1, so the largest channel is the
    coverage times 255."""
    return images.max(axis=1).astype(np.float64) / 255.0


def hue_of(rgb: np.ndarray) -> np.ndarray:
    """Hue in [0, 1) of RGB rows [N, 3] (the HSV hexcone)."""
    r, g, b = rgb.T
    hi, lo = rgb.max(1), rgb.min(1)
    delta = np.where(hi > lo, hi - lo, 1.0)
    h = np.where(
        hi == r, (g - b) / delta, np.where(hi == g, 2.0 + (b - r) / delta, 4.0 + (r - g) / delta)
    )
    return (h / 6.0) % 1.0


def circular_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % 1.0
    return np.minimum(d, 1.0 - d)


def supersampled_coverage(factors: np.ndarray, resolution: int, s: int) -> np.ndarray:
    """Reference: the fraction of s x s sample points per pixel inside the triangle (point in
    triangle by three edge tests), independent of the renderer's analytic formula."""
    radius = factors[:, 2] * TRIANGLE_RADIUS
    angles = np.pi / 2 + 2 * np.pi / 3 * np.arange(3)
    vx = factors[:, :1] + radius[:, None] * np.cos(angles)  # [N, 3], y up
    vy = factors[:, 1:2] + radius[:, None] * np.sin(angles)
    grid = (np.arange(resolution * s) + 0.5) / (resolution * s)
    px = grid[None, None, :]
    py = (1.0 - grid)[None, :, None]  # row 0 at the top: y near 1
    inside = np.ones((len(factors), resolution * s, resolution * s), dtype=bool)
    for k in range(3):  # vertices counter-clockwise: inside is left of every edge
        ax, ay = vx[:, k, None, None], vy[:, k, None, None]
        bx, by = vx[:, (k + 1) % 3, None, None], vy[:, (k + 1) % 3, None, None]
        inside &= (bx - ax) * (py - ay) - (by - ay) * (px - ax) >= 0
    blocks = inside.reshape(len(factors), resolution, s, resolution, s)
    return blocks.mean(axis=(2, 4))


def test_centroid_tracks_position(drawn):
    factors, images = drawn
    w = coverage(images)
    res = w.shape[-1]
    centre = (np.arange(res) + 0.5) / res
    mass = w.sum((1, 2))
    cx = (w.sum(1) * centre).sum(1) / mass
    cy = 1.0 - (w.sum(2) * centre).sum(1) / mass  # y grows upwards, row 0 is the top
    for est, true in ((cx, factors[:, 0]), (cy, factors[:, 1])):
        assert np.corrcoef(est, true)[0, 1] > 0.99
        slope, intercept = np.polyfit(true, est, 1)
        assert abs(slope - 1.0) < 0.02 and abs(intercept) < 0.01
        # exact area coverage: the weighted centroid is the triangle's centroid
        assert np.abs(est - true).max() < 0.2 / res


def test_area_tracks_scale(drawn):
    factors, images = drawn
    side = np.sqrt(coverage(images).mean((1, 2)))  # Spriteworld: area = scale^2
    assert np.corrcoef(side, factors[:, 2])[0, 1] > 0.98
    assert np.abs(side - factors[:, 2]).max() < 0.003


def test_colour_hue_tracks_hue(drawn):
    factors, images = drawn
    full = images.max(axis=1) == 255
    assert full.sum((1, 2)).min() > 0
    rgb = np.stack([images[i][:, full[i]].mean(1) for i in range(len(images))]) / 255.0
    diff = circular_diff(hue_of(rgb), factors[:, 3])
    assert diff.mean() < 0.02 and diff.max() < 0.01
    # colours are saturated: a fully covered pixel has one channel at 255 and one at 0
    assert np.all(rgb.min(1) < 1e-9) and np.all(rgb.max(1) == 1.0)


def test_hsv_to_rgb_matches_colorsys():
    hues = np.linspace(0.0, 1.0, 37)
    ours = hsv_to_rgb(torch.as_tensor(hues)).numpy()
    ref = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in hues])
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_edges_are_antialiased(drawn):
    _, images = drawn
    peak = images.max(axis=1)
    partial = (peak > 0) & (peak < 255)
    assert partial.any(axis=(1, 2)).all()
    # many partial pixels per image: every edge is smoothed, not just a few pixels
    assert partial.sum((1, 2)).min() >= 10


def test_coverage_is_exact_area_against_supersampling():
    factors = np.array(
        [
            [0.5, 0.5, 0.2, 0.0],
            [0.23, 0.71, 0.113, 0.3],
            [0.61, 0.37, 0.157, 0.7],
            [0.03, 0.95, 0.2, 0.5],  # partly out of the frame (clipped by the image border)
        ]
    )
    ours = coverage(render(torch.as_tensor(factors), 16).numpy())
    ref = supersampled_coverage(factors, 16, 32)
    assert np.abs(ours - ref).mean() < 0.003
    assert np.abs(ours - ref).max() < 0.05


def test_orientation_and_convention():
    f = torch.tensor([[0.5, 0.3, 0.2, 0.0], [0.5, 0.7, 0.2, 0.0], [0.3, 0.5, 0.2, 0.0]])
    w = coverage(render(f, 32).numpy())
    rows = np.nonzero(w.sum(2)[0])[0]
    width = w[0].sum(1)
    # the apex points up (towards row 0): the covered width grows down the rows
    assert width[rows[0]] < width[rows[len(rows) // 2]] < width[rows[-2]]
    # larger y -> nearer the top; smaller x -> nearer the left
    row_mean = (w.sum(2) * np.arange(32)).sum(1) / w.sum((1, 2))
    col_mean = (w.sum(1) * np.arange(32)).sum(1) / w.sum((1, 2))
    assert row_mean[1] < row_mean[0] and col_mean[2] < col_mean[0]
    # the background is exactly black
    assert (w[:, :, :4] == 0).all() and (w[:, :2] == 0).all()


def test_chunked_render_equals_render_at_once(drawn):
    factors, images = drawn
    f = torch.as_tensor(factors)
    at_once = render(f, 32, chunk_size=len(factors))
    assert torch.equal(render(f, 32, chunk_size=7), at_once)
    assert torch.equal(render(f, 32), at_once)
    assert np.array_equal(at_once.numpy(), images)
    # an image does not depend on the other images of its call (a tiny sprite first)
    tiny = torch.tensor([[0.5, 0.5, 0.01, 0.2]], dtype=torch.float64)
    assert torch.equal(render(torch.cat([tiny, f]), 32, chunk_size=16)[1:], at_once)
    assert torch.equal(render(f[5:6], 32), at_once[5:6])
    # float32 factors give the same shape and dtype
    small = render(f.float(), 32)
    assert small.shape == (200, 3, 32, 32) and small.dtype == torch.uint8


def test_same_seed_same_dataset_different_seed_different():
    one, two = draw_sprites_dataset(CONFIG, 3), draw_sprites_dataset(CONFIG, 3)
    for a, b in (
        (one.observations, two.observations),
        (one.sources, two.sources),
        (one.split, two.split),
        (one.mixing_params["beta_a"], two.mixing_params["beta_a"]),
    ):
        assert np.array_equal(a, b)
    other = draw_sprites_dataset(CONFIG, 4)
    assert not np.array_equal(one.observations, other.observations)
    assert not np.array_equal(one.mixing_params["beta_b"], other.mixing_params["beta_b"])


def test_dataset_fields_and_round_trip(tmp_path):
    data = draw_sprites_dataset(CONFIG, 5)
    assert data.sources.shape == (60, 4) and data.sources.dtype == np.float32
    assert data.observations.shape == (60, 3, 16, 16) and data.observations.dtype == np.uint8
    assert data.mixing_name == "sprites" and data.seed == 5
    assert np.bincount(data.split, minlength=3).tolist() == [42, 12, 6]
    # the images are the sources rendered
    rendered = render(torch.as_tensor(data.sources.astype(np.float64)), 16).numpy()
    assert np.abs(rendered.astype(int) - data.observations).max() <= 1
    datasets.save(data, tmp_path / "sprites.npz")
    back = datasets.load(tmp_path / "sprites.npz")
    assert np.array_equal(back.observations, data.observations)
    assert back.observations.dtype == np.uint8
    assert np.array_equal(back.sources, data.sources) and np.array_equal(back.split, data.split)
    assert back.mixing_name == "sprites" and back.seed == 5 and back.config == CONFIG
    assert back.mixing_params.keys() == data.mixing_params.keys()
    for key, value in data.mixing_params.items():
        assert np.array_equal(back.mixing_params[key], value)
    assert int(back.mixing_params["resolution"]) == 16


def test_beta_parameters_and_factor_ranges():
    factors, a, b = draw_factors(20000, np.random.default_rng(2))
    assert a.shape == b.shape == (4,) and factors.shape == (20000, 4)
    assert np.all((a >= 2) & (a <= 15)) and np.all((b >= 2) & (b <= 15))
    low = np.array([0.2, 0.2, 0.11, 0.0])
    high = np.array([0.75, 0.75, 0.2, 1.0])
    assert np.all(factors >= low) and np.all(factors <= high)
    # each factor is offset + width * Beta(a_k, b_k): its mean matches a_k / (a_k + b_k)
    unit = (factors - low) / (high - low)
    np.testing.assert_allclose(unit.mean(0), a / (a + b), atol=0.005)
    # independent factors
    corr = np.corrcoef(unit.T)
    assert np.abs(corr - np.eye(4)).max() < 0.05
    # the draw order: a then b then the Beta draws, all from the one stream
    rng = np.random.default_rng(2)
    a2, b2 = rng.uniform(2, 15, 4), rng.uniform(2, 15, 4)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    np.testing.assert_allclose(unit[:3], rng.beta(a2, b2, size=(3, 4)), atol=1e-12)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"n_samples": None}, "n_samples"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": -5}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"resolution": None}, "resolution"),
        ({"resolution": 0}, "resolution"),
        ({"resolution": 40}, "resolution"),
        ({"split": [0.5, 0.5]}, "split"),
        ({"split": [0.7, 0.4, 0.1]}, "split"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(change, key):
    config = dict(CONFIG)
    for k, v in change.items():
        if v is None:
            del config[k]
        else:
            config[k] = v
    with pytest.raises(ValueError, match=key):
        draw_sprites_dataset(config, 0)


def test_render_refuses_bad_input():
    with pytest.raises(ValueError, match="shape"):
        render(torch.zeros(3, 3), 16)
    with pytest.raises(ValueError, match="resolution"):
        render(torch.zeros(3, 4), 0)
    with pytest.raises(ValueError, match="finite"):
        render(torch.full((1, 4), float("nan")), 16)
    assert render(torch.zeros(0, 4), 16).shape == (0, 3, 16, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_render_matches_cpu(drawn):
    factors, images = drawn
    on_gpu = render(torch.as_tensor(factors, device="cuda"), 32)
    assert on_gpu.device.type == "cuda"
    diff = np.abs(on_gpu.cpu().numpy().astype(int) - images)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
