"""Sprites images (experiment E5): one anti-aliased triangle per RGB image on a black background.

What is rendered
    Each image shows one triangle: the regular (equilateral) triangle of Spriteworld's
    ``"triangle"`` shape, orientation fixed with a vertex pointing up and the opposite side
    horizontal. Its centre (centroid = circumcentre) is at ``(x, y)`` in the unit square and its
    area is ``scale**2`` of the image area (Spriteworld normalises its shapes to area 1 and then
    scales them linearly by ``scale``), so the circumradius is ``scale * sqrt(4 / (3 sqrt 3))``
    (about ``0.877 scale``), the side ``1.52 scale`` and the height ``1.32 scale``. Its colour is
    HSV(hue, 1, 1), converted to RGB and multiplied by the pixel's coverage. Pixel values are in
    [0, 1], stored as uint8 (``round(255 * value)``). The factors (x, y, scale, hue) are the
    sources; each is ``offset + width * Beta(a_k, b_k)`` (see :func:`draw_factors`).

Coordinate convention (Spriteworld's)
    ``x`` grows to the right and ``y`` grows **upwards**: ``(0, 0)`` is the lower-left corner of
    the image and ``(1, 1)`` the upper-right. In the stored array ``[C, H, W]`` row 0 is the top
    of the image (``y`` near 1) and column 0 is the left (``x`` near 0): pixel ``(row i, col j)``
    covers ``x`` in ``[j / W, (j + 1) / W]`` and ``y`` in ``[1 - (i + 1) / H, 1 - i / H]``. So a
    larger ``y`` moves the triangle towards row 0, and the triangle's apex points towards row 0.

Anti-aliasing: exact analytic area coverage
    Each pixel's value is the exact fraction of its square covered by the triangle (no sampling).
    In pixel units, with ``Y`` the downward row coordinate, the triangle between the apex row
    ``Y_a`` and the base row ``Y_b`` is the interval ``[x_l(Y), x_r(Y)]`` whose ends move linearly
    with slope ``-+1/sqrt 3``. The covered length within column ``[j, j + 1]`` is
    ``clamp(x_r - j, 0, 1) - clamp(x_l - j, 0, 1)``, and the integral over the pixel's rows of
    ``clamp(a + b Y, 0, 1)`` has the closed form ``(G(a + b Y_hi) - G(a + b Y_lo)) / b`` with
    ``G(t) = c (t - c / 2)``, ``c = clamp(t, 0, 1)``. Pixels cut by an edge therefore get partial,
    intermediate values. The work is done only inside a window around each triangle (the
    triangle's bounding box plus a margin, one window size for the whole call), the rest of the
    image being exactly 0.

Rendering is vectorised over the images (loops only over chunks of images, to bound memory),
runs on the device of the factor tensor, and gives bit-identical images whatever the chunk size
(every pixel is computed by the same element-wise operations from its own image's factors)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from identvae.data.datasets import Dataset, draw_split

#: The data config's ``mixing`` of Sprites datasets (the renderer is the "mixing").
MIXING = "sprites"
FACTOR_NAMES = ("x", "y", "scale", "hue")
# factor = offset + width * Beta(a, b), per factor in FACTOR_NAMES order (the paper's ranges)
FACTOR_OFFSET = np.array([0.2, 0.2, 0.11, 0.0])
FACTOR_WIDTH = np.array([0.55, 0.55, 0.09, 1.0])
BETA_PARAM_RANGE = (2.0, 15.0)  # a_k, b_k ~ U(2, 15), drawn once per dataset
# circumradius of Spriteworld's unit-area regular triangle (its vertices lie at radius 1 before
# the shape is divided by sqrt(area), area = 3 sqrt(3) / 4)
TRIANGLE_RADIUS = math.sqrt(4.0 / (3.0 * math.sqrt(3.0)))
DEFAULT_CHUNK = 4096  # images per chunk; the float work per chunk stays a few tens of MB
RESOLUTION_MULTIPLE = 16  # the conv encoder halves the image four times

_SQRT3 = math.sqrt(3.0)


def hsv_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] of HSV(hue, 1, 1): [N] -> [N, 3] (hue taken modulo 1)."""
    k = torch.stack([hue * 6.0 + 5.0, hue * 6.0 + 3.0, hue * 6.0 + 1.0], dim=-1) % 6.0
    return 1.0 - torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


def _ramp_integral(t: torch.Tensor) -> torch.Tensor:
    """G(t) = integral of clamp(s, 0, 1) ds from 0 to t (0, t^2/2, t - 1/2); reuses ``t``."""
    c = t.clamp(0.0, 1.0)
    return t.sub_(c, alpha=0.5).mul_(c)


def _window_size(max_radius: float, resolution: int) -> tuple[int, int]:
    """(rows, cols) of the window that holds any triangle of circumradius <= max_radius pixels:
    its height 1.5 R and width sqrt(3) R can straddle one more pixel than their length, and one
    pixel more of margin guards against rounding."""
    rows = math.ceil(1.5 * max_radius) + 2
    cols = math.ceil(_SQRT3 * max_radius) + 2
    return min(rows, resolution), min(cols, resolution)


def _render_chunk(
    factors: torch.Tensor, resolution: int, rows: int, cols: int, out: torch.Tensor
) -> None:
    """Render factors [n, 4] (float64) into out [n, 3, H, W] (uint8, zeros)."""
    n, device = len(factors), factors.device
    x, y, scale, hue = factors.unbind(1)
    px = x * resolution  # centre column coordinate (pixel units)
    radius = scale.clamp_min(0.0) * (TRIANGLE_RADIUS * resolution)
    y_apex = (1.0 - y) * resolution - radius  # downward row coordinate of the apex
    y_base = y_apex + 1.5 * radius
    # window origins: the window holds the triangle's bounding box and stays inside the image
    row0 = torch.floor(y_apex).clamp(0, resolution - rows)
    col0 = torch.floor(px - 0.5 * _SQRT3 * radius).clamp(0, resolution - cols)

    # per window row: the part [lo, hi] of the pixel row [i, i + 1] the triangle spans, and the
    # right/left edge's column relative to the window origin at lo and hi (float64, cheap)
    r_idx = torch.arange(rows, device=device, dtype=torch.float64)
    top = row0[:, None] + r_idx  # [n, rows]
    lo = torch.minimum(torch.maximum(y_apex[:, None], top), top + 1.0)
    hi = torch.minimum(torch.maximum(y_base[:, None], top), top + 1.0)
    centre = (px - col0)[:, None]
    d_lo = (lo - y_apex[:, None]) / _SQRT3
    d_hi = (hi - y_apex[:, None]) / _SQRT3
    edges = torch.stack([centre + d_hi, centre + d_lo, centre - d_hi, centre - d_lo])
    # per pixel (float32): t = edge column - pixel column, four [n, rows, cols] terms
    c_idx = torch.arange(cols, device=device, dtype=torch.float32)
    t = edges.to(torch.float32)[..., None] - c_idx  # [4, n, rows, cols]
    g = _ramp_integral(t)
    # coverage = sqrt3 * (G(r_hi) - G(r_lo) + G(l_hi) - G(l_lo))
    cover = ((g[0] - g[1]) + (g[2] - g[3])).mul_(_SQRT3).clamp_(0.0, 1.0)

    colour = (hsv_to_rgb(hue) * 255.0).to(torch.float32)  # [n, 3]
    values = (cover[:, None] * colour[:, :, None, None]).round_().to(torch.uint8)
    # scatter each window into its image: flat offset of (row0 + r, col0 + c) in the image
    base = (row0 * resolution + col0).to(torch.int64)
    offset = (
        torch.arange(rows, device=device)[:, None] * resolution + torch.arange(cols, device=device)
    ).reshape(-1)
    index = (base[:, None] + offset).unsqueeze(1).expand(n, 3, rows * cols)
    out.view(n, 3, resolution * resolution).scatter_(2, index, values.reshape(n, 3, rows * cols))


def render(
    factors: torch.Tensor, resolution: int, *, chunk_size: int | None = None
) -> torch.Tensor:
    """Images of the sprites: factors [N, 4] (x, y, scale, hue; already in their ranges) ->
    uint8 [N, 3, resolution, resolution] on the factors' device (see the module docstring for the
    geometry, the coordinate convention and the exact-coverage anti-aliasing).

    ``chunk_size`` images are rendered at a time (default :data:`DEFAULT_CHUNK`); the result does
    not depend on it."""
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must have shape [N, 4] (x, y, scale, hue), got {factors.shape}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution <= 0:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    chunk = DEFAULT_CHUNK if chunk_size is None else chunk_size
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    f = factors.detach().to(torch.float64)
    if not bool(torch.isfinite(f).all()):
        raise ValueError("factors must be finite")
    n = len(f)
    out = torch.zeros(n, 3, resolution, resolution, dtype=torch.uint8, device=f.device)
    if n == 0:
        return out
    # one window size for the whole call (from the largest sprite), so chunks cannot differ
    max_radius = float(f[:, 2].clamp_min(0.0).max()) * TRIANGLE_RADIUS * resolution
    rows, cols = _window_size(max_radius, resolution)
    with torch.no_grad():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            _render_chunk(f[start:stop], resolution, rows, cols, out[start:stop])
    return out


def draw_factors(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw n sprites' factors: first the Beta parameters a [4] then b [4] ~ U(2, 15) (once),
    then B [n, 4] ~ Beta(a_k, b_k) per factor, mapped to x = 0.2 + 0.55 B, y = 0.2 + 0.55 B,
    scale = 0.11 + 0.09 B, hue = B. Returns (factors [n, 4] float64 in the order x, y, scale,
    hue; a; b)."""
    k = len(FACTOR_NAMES)
    a = rng.uniform(*BETA_PARAM_RANGE, size=k)
    b = rng.uniform(*BETA_PARAM_RANGE, size=k)
    unit = rng.beta(a, b, size=(n, k))
    return FACTOR_OFFSET + FACTOR_WIDTH * unit, a, b


def _positive_int(config: dict[str, Any], key: str) -> int:
    if key not in config:
        raise ValueError(f"sprites config lacks {key!r}")
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"sprites config {key!r} must be a positive int, got {value!r}")
    return int(value)


def _check_config(config: dict[str, Any]) -> tuple[int, int, list[float]]:
    n = _positive_int(config, "n_samples")
    resolution = _positive_int(config, "resolution")
    if resolution % RESOLUTION_MULTIPLE:
        raise ValueError(
            f"sprites config 'resolution' must be a multiple of {RESOLUTION_MULTIPLE} (the conv "
            f"encoder halves it 4 times), got {resolution!r}"
        )
    split = config.get("split")
    try:
        fractions = [float(v) for v in split]
    except TypeError:
        fractions = []
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(
            f"sprites config 'split' must be three non-negative fractions (train, val, test) "
            f"summing to 1, got {split!r}"
        )
    return n, resolution, fractions


def draw_sprites_dataset(config: dict[str, Any], seed: int) -> Dataset:
    """The Sprites dataset of a config (``n_samples``, ``resolution``, ``split``) and a data
    seed: independent streams (spawned from the seed) for the factors and for the split."""
    n, resolution, fractions = _check_config(config)
    factor_rng, split_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
    )
    factors, a, b = draw_factors(n, factor_rng)
    images = render(torch.as_tensor(factors), resolution).numpy()
    return Dataset(
        sources=factors.astype(np.float32),
        observations=images,
        split=draw_split(n, fractions, split_rng),
        mixing_name=MIXING,
        mixing_params={"beta_a": a, "beta_b": b, "resolution": np.array(resolution)},
        config=dict(config),
        seed=seed,
    )
