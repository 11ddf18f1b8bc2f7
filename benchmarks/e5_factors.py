"""Which Sprites factor did each finished E5 run learn? Per run, the |Pearson correlation| of
each factor (x, y, scale, hue) with the latent it is matched to (the matching of the MCC), on the
run's training images, and per dataset how far each factor moves the sprite in pixels.

    python benchmarks/e5_factors.py RESULTS_DIR

RESULTS_DIR is a workflow directory's ``results/etg_sprites``. Each run's selected weights are
read back (identvae.latents) and its posterior means on the training images correlated with the
factors (the workflow's pictures.npz keeps the same matrix per run, for the traversal's labels);
"mean" is the MCC of those means (the batch MCC of the checks averages over batches of 512
validation images instead). The spread is the factor's standard deviation in pixels at the
rendered resolution (position: the sprite's centre; scale: its size), for reading the scale
column: a factor that moves the sprite by a fraction of a pixel is hard to see."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from identvae.data.sprites import FACTOR_NAMES
from identvae.latents import finished_runs, run_latents
from identvae.metrics.mcc import abs_correlation, matching

PIXEL_FACTORS = ("x", "y", "scale")  # factors measured in image widths


def matched_correlations(sources: np.ndarray, latents: np.ndarray) -> np.ndarray:
    """|corr| of each source with its matched latent (the MCC's matching), [n_sources]."""
    c = abs_correlation(sources, latents)
    rows, cols = matching(c)
    out = np.zeros(len(c))
    out[rows] = c[rows, cols]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    run_ids = sorted(p.name for p in (args.results / "runs").iterdir())
    done, skipped = finished_runs(args.results / "runs", run_ids)
    print(f"{'run':28s} " + " ".join(f"{f:>6s}" for f in FACTOR_NAMES) + "   mean")
    spreads = {}
    for run_id in done:
        config, ds, latents = run_latents(args.results / "runs" / run_id)
        train = ds.split == 0
        per_factor = matched_correlations(ds.sources[train], latents["mean"])
        cells = " ".join(f"{v:6.2f}" for v in per_factor)
        print(f"{run_id:28s} {cells} {per_factor.mean():6.3f}")
        resolution = int(np.asarray(ds.mixing_params["resolution"]))
        spreads[config["data_seed"]] = (ds.sources[train].std(axis=0), resolution)
    for seed, (std, resolution) in sorted(spreads.items()):
        px = ", ".join(
            f"{name} {std[i] * resolution:.2f} px"
            for i, name in enumerate(FACTOR_NAMES)
            if name in PIXEL_FACTORS
        )
        where = f"data seed {seed} at {resolution} x {resolution}"
        print(f"{where}: factor sd {px}; hue sd {std[3]:.3f}")
    if skipped:
        print("not finished (no weights):", ", ".join(skipped))


if __name__ == "__main__":
    main()
