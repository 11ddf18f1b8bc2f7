"""How well can any classifier tell the segments of a hippo6 pair apart? The ceiling of TCL's
segment accuracy on NonSENS's pair fits.

    python benchmarks/tcl_ceiling.py [--segments 5 10 40] [--points 250] [--seeds 1 2]

TCL learns features by classifying the segment of each point. In the hippo6 SEM the segments
change only the scale of the disturbances, so a single point says little about its segment. The
Bayes classifier that knows the true disturbances n and their segment scales (Laplace with
standard deviation sigma[u, k]) picks argmax_u sum_k log p(n_k | u) over the k of a pair (or of
all six variables); its accuracy bounds what TCL can reach on the pair's observations, which are
an invertible function of more than these disturbances. Prints, per setting and data seed, the
chance level 1/M, the mean and the lowest ceiling over the 15 pairs, and the ceiling with all
six disturbances."""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from identvae.data import sem


def bayes_accuracy(n: np.ndarray, segments: np.ndarray, sigmas: np.ndarray) -> float:
    """Accuracy of argmax_u sum_k log Laplace(n_k; std sigmas[u, k]) over points n [T, k] whose
    segment is ``segments`` [T] (equal segment priors, as in the simulation)."""
    scale = sigmas / np.sqrt(2.0)  # Laplace scale b of standard deviation sigma
    log_lik = -(np.abs(n[:, None, :]) / scale[None] + np.log(2.0 * scale[None])).sum(-1)
    return float((log_lik.argmax(1) == segments).mean())


def ceilings(segments: int, points: int, seed: int) -> tuple[list[float], float]:
    """The Bayes accuracy of each of the 15 pairs and of all six disturbances, one draw."""
    draw = sem.draw_hippo6(
        {"n_segments": segments, "segment_size": points, "noise": "laplace"}, seed
    )
    n, labels, sigmas = draw.disturbances, draw.segments, draw.sigmas
    pairs = [
        bayes_accuracy(n[:, list(p)], labels, sigmas[:, list(p)])
        for p in itertools.combinations(range(n.shape[1]), 2)
    ]
    return pairs, bayes_accuracy(n, labels, sigmas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, nargs="+", default=[5, 10, 40])
    parser.add_argument("--points", type=int, nargs="+", default=[250])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print("segments points seed  chance  pair mean  pair min  all six  (Bayes accuracy)")
    for m, points, seed in itertools.product(args.segments, args.points, args.seeds):
        pairs, everything = ceilings(m, points, seed)
        print(
            f"{m:8d} {points:6d} {seed:4d}  {1 / m:6.3f}  {np.mean(pairs):9.3f} "
            f"{np.min(pairs):9.3f} {everything:8.3f}"
        )


if __name__ == "__main__":
    main()
