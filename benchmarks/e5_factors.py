"""Which Sprites factor did each finished E5 run learn? Per run, the |Pearson correlation| of
each factor (x, y, scale, hue) with the latent it is matched to (the matching of the MCC), on the
run's training images, and per dataset how far each factor moves the sprite in pixels.

    python benchmarks/e5_factors.py RESULTS_DIR

RESULTS_DIR is a workflow directory's ``results/etg_sprites`` with its ``pictures.npz`` (the
``pictures`` rule keeps each run's factor × latent |correlation| matrix there, for the
traversal's labels; this script only reads it). "mean" is the MCC of the posterior means over
the training images (the batch MCC of the checks averages over batches of 512 validation images
instead). The spread is the factor's standard deviation in pixels at the rendered resolution
(position: the sprite's centre; scale: its size), for reading the scale column: a factor that
moves the sprite by a fraction of a pixel is hard to see."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from identvae.data import datasets
from identvae.data.sprites import FACTOR_NAMES
from identvae.metrics.mcc import matching

PIXEL_FACTORS = ("x", "y", "scale")  # factors measured in image widths


def matched_correlations(correlation: np.ndarray) -> np.ndarray:
    """|corr| of each source with its matched latent (the MCC's matching), [n_sources]."""
    rows, cols = matching(correlation)
    out = np.zeros(len(correlation))
    out[rows] = correlation[rows, cols]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    with np.load(args.results / "pictures.npz") as pictures:
        correlations = {
            key.removesuffix("/correlation"): pictures[key]
            for key in pictures.files
            if key.endswith("/correlation")
        }
        skipped = list(pictures["skipped"])
    if not correlations:
        raise SystemExit(f"{args.results}/pictures.npz has no correlations: rerun its rule")
    print(f"{'run':28s} " + " ".join(f"{f:>6s}" for f in FACTOR_NAMES) + "   mean")
    for run_id, correlation in sorted(correlations.items()):
        per_factor = matched_correlations(correlation)
        cells = " ".join(f"{v:6.2f}" for v in per_factor)
        print(f"{run_id:28s} {cells} {per_factor.mean():6.3f}")
    for path in sorted((args.results / "data").glob("*.npz")):
        ds = datasets.load(path)
        std = ds.sources[ds.split == 0].std(axis=0)
        resolution = int(np.asarray(ds.mixing_params["resolution"]))
        px = ", ".join(
            f"{name} {std[i] * resolution:.2f} px"
            for i, name in enumerate(FACTOR_NAMES)
            if name in PIXEL_FACTORS
        )
        where = f"{path.stem} at {resolution} x {resolution}"
        print(f"{where}: factor sd {px}; hue sd {std[3]:.3f}")
    if skipped:
        print("not finished (no weights):", ", ".join(skipped))


if __name__ == "__main__":
    main()
