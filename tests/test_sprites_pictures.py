"""E5's pictures in the smoke run: each finished run's first training images, their
reconstructions and a latent traversal, recomputed here from the run's weights."""

import numpy as np
import pytest
import torch

from identvae.latents import SHOWN_IMAGES, TRAVERSAL_STEPS, load_run
from identvae.metrics.mcc import abs_correlation
from identvae.models import vae

pytestmark = pytest.mark.workflow
E5 = "etg_sprites"


def decode(run, z: np.ndarray) -> np.ndarray:
    """The run's decoder at latents z [B, n] as images [B, C, H, W] clipped to [0, 1]."""
    with torch.no_grad():
        x = vae.decode(run.method.model, run.params, torch.as_tensor(z)[None])
    return x[0].clamp(0, 1).reshape(len(z), *run.dataset.observations.shape[1:]).numpy()


def test_pictures_hold_each_runs_images_reconstructions_and_traversal(smoke, monkeypatch):
    monkeypatch.chdir(smoke.parent)  # runs name their data relative to the workflow directory
    runs_dir = smoke / E5 / "runs"
    with np.load(smoke / E5 / "pictures.npz") as pictures:
        assert pictures["skipped"].size == 0  # the smoke runs all finish
        run_ids = sorted({key.split("/")[0] for key in pictures if "/" in key})
        assert run_ids == sorted(p.name for p in runs_dir.iterdir())
        for run_id in run_ids:
            run = load_run(runs_dir / run_id)
            train = run.dataset.observations[run.dataset.split == 0]
            images = pictures[f"{run_id}/images"]
            np.testing.assert_allclose(images, train[:SHOWN_IMAGES] / 255.0, atol=1e-6)

            with torch.no_grad():
                x = vae.as_input(torch.as_tensor(train)[None]).float()
                mu, _ = vae.encode(run.method.model, run.params, x)
                means = vae.to_latent(run.method.model, mu)[0].numpy()
            np.testing.assert_allclose(
                pictures[f"{run_id}/reconstructions"],
                decode(run, means[:SHOWN_IMAGES]),
                atol=1e-5,
            )

            # each factor's |correlation| with each latent; the pictures encode in chunks, this
            # test in one call, and a nearly collapsed latent's tiny spread magnifies that
            # float32 round-off (up to 7e-5 seen)
            np.testing.assert_allclose(
                pictures[f"{run_id}/correlation"],
                abs_correlation(run.dataset.sources[run.dataset.split == 0], means),
                atol=1e-3,
            )

            values = pictures[f"{run_id}/traversal_values"]
            n = means.shape[1]
            assert values.shape == (n, TRAVERSAL_STEPS)
            low, high = np.quantile(means, [0.02, 0.98], axis=0)
            np.testing.assert_allclose(values[:, 0], low, rtol=1e-4)
            np.testing.assert_allclose(values[:, -1], high, rtol=1e-4)
            traversal = pictures[f"{run_id}/traversal"]
            for i in range(n):
                z = np.repeat(means[:1], TRAVERSAL_STEPS, axis=0)
                z[:, i] = values[i]
                np.testing.assert_allclose(traversal[i], decode(run, z), atol=1e-5)


def test_the_pictures_figures_are_made(smoke):
    for name in ("reconstructions", "traversal"):
        assert (smoke / "figures" / f"etg_sprites_{name}.png").stat().st_size > 0
        caption = (smoke / "figures" / f"etg_sprites_{name}.caption.md").read_text()
        assert "selected check" in caption
    caption = (smoke / "figures" / "etg_sprites_traversal.caption.md").read_text()
    assert "the factor the MCC's matching pairs with its latent" in caption
