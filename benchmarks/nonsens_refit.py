"""NonSENS's tests again on finished pair fits, at other test settings: does a different number
of points per test, permutation count or permutation scheme turn the fitted disturbances into a
better graph? The fits are not redone: each pair run's selected weights are read back
(identvae.latents) and its posterior means n̂ tested against the pair, as at the end of a fit.
The oracle rows test the true disturbances of the same pairs.

    python benchmarks/nonsens_refit.py RESULTS_DIR [--model ivae_elbo_whitened]
                                       [--max-points 100 200 400 1000] [--permutations 300]
                                       [--pooled]

RESULTS_DIR is a workflow directory's ``results/ivae_nonsens`` after a run of the hippo6
stand-in (its true graph scores the graphs). Prints, per setting and data seed, the directed-edge
F1 of the graph and its edges by class (direct, indirect, reversed, spurious)."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from identvae.analysis import graphs
from identvae.data import sem
from identvae.latents import run_latents
from identvae.metrics.independence import bivariate_tests

Fit = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x, n̂, segments, true n


def read_fits(results: Path, model: str) -> dict[tuple[int, tuple[int, int]], Fit]:
    """(data seed, pair) -> the pair's observations, n̂ (posterior means), segments and true
    disturbances, for every finished pair run of ``model``."""
    fits = {}
    for run_dir in sorted(results.glob(f"runs/model={model}_pair=*")):
        config, ds, latents = run_latents(run_dir)
        pair = tuple(int(v) for v in ds.mixing_params["pair"])
        fits[(int(config["data_seed"]), pair)] = (
            ds.observations.astype(np.float64),
            latents["mean"].astype(np.float64),
            ds.labels,
            ds.sources.astype(np.float64),
        )
    if not fits:
        raise SystemExit(f"no finished pair runs of model {model!r} under {results}/runs")
    return fits


def graph_of(fits: dict, data_seed: int, oracle: bool, **tests) -> list[tuple[int, int]]:
    decisions = []
    for (seed, pair), (x, n_hat, segments, n_true) in fits.items():
        if seed != data_seed:
            continue
        rng = np.random.default_rng([data_seed, *pair])
        result = bivariate_tests(x, n_true if oracle else n_hat, segments, rng=rng, **tests)
        decisions.append((*pair, result["decision"]))
    return graphs.pairwise_edges(decisions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--model", default="ivae_elbo_whitened")
    parser.add_argument("--max-points", type=int, nargs="+", default=[100, 200, 400, 1000])
    parser.add_argument("--permutations", type=int, nargs="+", default=[300])
    parser.add_argument("--pooled", action="store_true", help="permute over all points")
    args = parser.parse_args()
    fits = read_fits(args.results, args.model)
    seeds = sorted({seed for seed, _ in fits})
    print(f"{args.model}: {len(fits)} pair fits, data seeds {seeds}; F1 (direct/indirect/rev/spur)")
    settings = itertools.product((False, True), args.max_points, args.permutations)
    for oracle, max_points, permutations in settings:
        cells = []
        for seed in seeds:
            edges = graph_of(
                fits,
                seed,
                oracle,
                max_points=max_points,
                permutations=permutations,
                within_segments=not args.pooled,
            )
            s = graphs.graph_scores(edges, sem.HIPPO6_EDGES, len(sem.HIPPO6_NODES))
            counts = f"{s['n_direct']}/{s['n_indirect']}/{s['n_reversed']}/{s['n_spurious']}"
            cells.append(f"seed {seed}: F1 {s['f1']:.2f} ({counts})")
        who = "oracle" if oracle else "fits  "
        print(f"{who} points {max_points:5d} perms {permutations:4d}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
