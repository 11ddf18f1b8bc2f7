"""The bivariate NonSENS rule on known disturbances: how often the true edges of the hippo6 SEM
are oriented correctly, against segments, points per segment and a leakage between the two
"recovered" disturbances (what an imperfect nonlinear-ICA fit would hand the tests), and the
points per test (a test on fewer points has less power against the leakage and against the
dependence that orients the edge).

    python benchmarks/nonsens_bench.py [--segments 5 20 40] [--points 100 250]
                                       [--leakage 0 0.1 0.2] [--max-points 1000] [--pooled]
                                       [--seeds 3]

For each setting and seed it draws hippo6 data, and for every true edge (a, b) of the graph
runs ``bivariate_tests`` on the pair (x_a, x_b) with n̂ = n M, M = [[1, ε], [ε, 1]] the leakage
ε mixing the true disturbances n of the pair, at most ``max_points`` points per test (a
subsample stratified over segments), permuting within segments (the workflow's default) or over
all points (``--pooled``). Prints the share of true edges oriented a → b, oriented b → a, and
undecided or no edge. ε = 0 is the oracle of the Fig. 4 stand-in."""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from identvae.data import sem
from identvae.metrics.independence import bivariate_tests


def oriented(
    segments: int,
    points: int,
    leakage: float,
    seed: int,
    permutations: int,
    max_points: int = 1000,
    within_segments: bool = True,
):
    """Counts of (right, reversed, other) decisions over the true edges of one hippo6 draw."""
    data = sem.simulate_hippo6({"n_segments": segments, "segment_size": points}, seed)
    mix = np.array([[1.0, leakage], [leakage, 1.0]])
    counts = np.zeros(3, dtype=int)
    rng = np.random.default_rng(seed)
    for a, b in data.edges:
        pair = [a, b]
        result = bivariate_tests(
            data.x[:, pair],
            data.disturbances[:, pair] @ mix,
            data.segments,
            permutations=permutations,
            max_points=max_points,
            within_segments=within_segments,
            rng=rng,
        )
        counts[{"forward": 0, "backward": 1}.get(result["decision"], 2)] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, nargs="+", default=[5, 20, 40])
    parser.add_argument("--points", type=int, nargs="+", default=[100, 250])
    parser.add_argument("--leakage", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    parser.add_argument("--max-points", type=int, nargs="+", default=[1000])
    parser.add_argument("--pooled", action="store_true", help="permute over all points")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--permutations", type=int, default=300)
    args = parser.parse_args()
    print("segments points leakage per-test  right reversed undecided  (share of true edges)")
    settings = itertools.product(args.segments, args.points, args.leakage, args.max_points)
    for m, points, eps, max_points in settings:
        total = sum(
            oriented(m, points, eps, seed, args.permutations, max_points, not args.pooled)
            for seed in range(1, args.seeds + 1)
        )
        share = total / total.sum()
        print(
            f"{m:8d} {points:6d} {eps:8.2f} {min(max_points, m * points):8d}  "
            f"{share[0]:5.2f} {share[1]:8.2f} {share[2]:9.2f}"
        )


if __name__ == "__main__":
    main()
