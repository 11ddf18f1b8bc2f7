"""Does the lowest negative log-likelihood pick the best flow fit? The workflow's ``flow`` method
fitted several times on one hippo6 draw (each fit its own seed, one restart), each fit scored as
the workflow scores it: its NLL per point, the MCC of n̂ against the true disturbances, and the
directed F1 of NonSENS's joint tests (``PairTests.run_joint``) against the true graph.

    python benchmarks/flow_restarts.py [--seeds 1 2] [--fits 6] [--epochs 100]
                                       [--segments 40] [--points 250]

The fits of one seed train side by side in one ensemble (so they take the time of --fits
restarts of one run). Prints one line per fit, sorted by NLL, then whether the lowest NLL was
also the highest MCC."""

from __future__ import annotations

import argparse
import json

from nonsens_flow import _dataset, _latents, flow_train

from identvae.analysis.graphs import graph_scores, pairwise_edges
from identvae.data import sem
from identvae.methods.flow import FlowConfig, FlowMethod
from identvae.methods.pair_tests import PairTests
from identvae.metrics.mcc import mcc
from identvae.train.ensemble import RunSpec, train_ensemble


def fits_of_seed(seed: int, args) -> list[tuple[float, float, dict]]:
    """(NLL, MCC, graph scores) of each fit of one hippo6 draw."""
    config = {"n_segments": args.segments, "segment_size": args.points}
    data = sem.simulate_hippo6(config, seed)
    d = data.x.shape[1]
    dataset = _dataset(data.x, data.segments, seed, sources=data.disturbances)
    method = FlowMethod(FlowConfig(d, data.n_segments), 1, anneal_epochs=args.epochs)
    train = flow_train(args.epochs)
    runs = [RunSpec(f"fit{k}", "data", 1000 * seed + k) for k in range(args.fits)]
    results = train_ensemble(method, train, runs, {"data": dataset}, progress=False)
    rows = []
    for result in results:
        n_hat = _latents(method, result, dataset)
        tested = PairTests(permutations=300).run_joint(data.x, n_hat, data.segments, seed=0)
        decisions = [
            (*sem.parse_pair(p["pair"]), p["decision"]) for p in json.loads(tested["pair_tests"])
        ]
        scores = graph_scores(pairwise_edges(decisions), data.edges, d)
        nll = float(result.history[-1]["nll"])
        rows.append((nll, float(mcc(data.disturbances, n_hat)), scores))
    return sorted(rows, key=lambda row: row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fits", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=100)  # the workflow's
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--points", type=int, default=250)
    args = parser.parse_args()
    for seed in args.seeds:
        rows = fits_of_seed(seed, args)
        for nll, fit_mcc, s in rows:
            print(
                f"data seed {seed}: NLL {nll:.4f}  MCC {fit_mcc:.3f}  F1 {s['f1']:.2f}  "
                f"edges direct/indirect/reversed/spurious {s['n_direct']}/{s['n_indirect']}/"
                f"{s['n_reversed']}/{s['n_spurious']}",
                flush=True,
            )
        best = max(rows, key=lambda row: row[1])
        print(f"data seed {seed}: lowest NLL is the highest MCC: {rows[0] is best}", flush=True)


if __name__ == "__main__":
    main()
