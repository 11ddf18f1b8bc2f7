"""How far is hippo6's reduced form from the IMA class? Embrace the Gap: with a factorised
Gaussian posterior and a near-deterministic decoder, the ELBO is the log-likelihood minus the
decoder's local c_IMA, so an iVAE fitted by the ELBO pays the true mixing's C_IMA in nats per
point to fit the truth, and prefers a wrong unmixing with orthogonal columns when that costs less.

    python benchmarks/nonsens_cima.py [--seeds 1 2 3 4] [--segments 40] [--points 250]

For each data seed and each mechanism (non-additive, the default, and the additive control),
prints the global C_IMA (mean local c_IMA) of the map from the disturbances n to the z-scored
observations x, the map the fits must invert, over at most 5000 evenly spaced points; and the
same for the map of a pair (the 2 × 2 block of each true edge's cause and effect, the part a
pair fit sees). The Jacobians are central finite differences in float64 of
``identvae.data.sem.sem_forward``."""

from __future__ import annotations

import argparse

import numpy as np

from identvae.data import sem
from identvae.metrics.ima import local_cima
from identvae.metrics.mixing import evenly_spaced

STEP = 1e-6


def reduced_form_jacobians(draw: sem.Hippo6Draw, max_points: int = 5000) -> np.ndarray:
    """J [N, d, d] of n -> z-scored x at evenly spaced disturbances of the draw."""
    n = evenly_spaced(draw.disturbances, max_points)
    scale = draw.x_raw.std(axis=0)
    jac = np.empty((len(n), n.shape[1], n.shape[1]))
    for k in range(n.shape[1]):
        up, down = n.copy(), n.copy()
        up[:, k] += STEP
        down[:, k] -= STEP
        forward = sem.sem_forward(up, draw.mechanisms) - sem.sem_forward(down, draw.mechanisms)
        jac[:, :, k] = forward / (2 * STEP) / scale
    return jac


def contrasts(draw: sem.Hippo6Draw) -> tuple[float, float]:
    """(C_IMA of the whole reduced form, mean over the true edges of the pairs' C_IMA)."""
    jac = reduced_form_jacobians(draw)
    whole = float(local_cima(jac).mean())
    pairs = [
        float(local_cima(jac[:, [a, b]][:, :, [a, b]]).mean()) for a, b in draw.mechanisms.edges
    ]
    return whole, float(np.mean(pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--points", type=int, default=250)
    args = parser.parse_args()
    print("data seed | mechanism | C_IMA of n -> x (nats per point) | mean over true edges' pairs")
    for seed in args.seeds:
        for mechanism in ("nonadditive", "additive"):
            config = {
                "mechanism": mechanism,
                "n_segments": args.segments,
                "segment_size": args.points,
            }
            whole, pairs = contrasts(sem.draw_hippo6(config, seed))
            print(f"{seed} | {mechanism} | {whole:.2f} | {pairs:.2f}")


if __name__ == "__main__":
    main()
