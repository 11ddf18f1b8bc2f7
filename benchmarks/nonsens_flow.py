"""How good must the nonlinear-ICA fit be, and can any estimator reach it on the Fig. 4 stand-in?
NonSENS on hippo6 with the disturbances recovered by an exact-likelihood nonlinear ICA, next to
the iVAE and the oracle, one joint fit of all variables or one fit per pair.

    python benchmarks/nonsens_flow.py [--seeds 1 2] [--segments 40] [--points 250]
                                      [--estimators flow ivae] [--procedures joint pairwise]
                                      [--epochs 100] [--restarts 3] [--permutations 300]
                                      [--samples 1] [--passes 2]

Estimators, all trained by the workflow's trainer, all seeing the segment label as u with the
same conditional prior (a Gaussian with a variance per segment and component):
- ``flow``: the workflow's ``flow`` method (``identvae.methods.flow``): an invertible map
  n̂ = g(x), zuko's neural spline flow (``--transforms`` autoregressive rational-quadratic
  transforms, two hidden layers of 64, the columns in a random order of each restart's own;
  ``--passes 2``: coupling transforms instead, each half of the columns a function of the other),
  trained by the exact log-likelihood log p(g(x) | u) + log |det ∂g/∂x| (Adam at the quick
  preset's rate, 1e-3, cosine-annealed to 0 over the epochs, and its batches of 256: both read
  from ``config/config.yaml``); ``--restarts`` flows side by side, the one of the lowest negative
  log-likelihood reported.
- ``ivae``: the workflow's NonSENS iVAE protocol ``ivae_elbo_whitened`` (plain ELBO on whitened
  x, decoder variance 0.01, constant lr 1e-3, batches of 64); n̂ is the encoder mean;
  ``--restarts`` runs side by side, the one of the lowest negative ELBO kept.
- ``ivae_iw``: the same model (the workflow's iVAE networks) trained by the importance-weighted
  bound of ``--samples`` posterior draws per point (Burda et al.'s IWAE bound; 1 is the ELBO),
  which approaches log p(x|u) as the draws grow and with it weakens the ELBO's pull towards the
  IMA class: x as simulated (z-scored, not whitened), decoder variance 1e-3, Adam from 3e-3
  cosine-annealed to 0 over the epochs, batches of 128 (the settings of our best joint ELBO
  fits); ``--restarts`` runs side by side, the one of the highest bound kept; also prints the
  decoder's C_IMA at n̂.

Procedures:
- ``pairwise``: the workflow's (the spec's choice): one 2-d fit per pair, the four tests on its n̂.
- ``joint``: one fit on all d variables. Its reduced form x = f(n) is the SEM's own, so the model
  is well specified, where a pair whose effect has a parent outside the pair is not. Each n̂
  component is matched to the variable it depends on most (Hungarian matching of the HSIC
  statistics x_i vs n̂_k, no ground truth), then every pair is tested on its two matched
  components.

Joint fits print every restart's loss. Prints per data seed and setting the Spearman MCC of n̂
against the true disturbances (joint: the matched d components; pairwise: the median over
pairs), the graph's directed F1,
precision and recall against the true graph, its edges by class, the F1 of its transitive
reduction, the fit time and the edges; then the oracle (the tests on the true disturbances) and
the median F1 over seeds."""

from __future__ import annotations

import argparse
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from identvae.analysis import graphs
from identvae.data import sem
from identvae.data.datasets import Dataset
from identvae.methods.base import Batch, Params, Settings
from identvae.methods.flow import FlowConfig, FlowMethod
from identvae.methods.ivae import DECODER_VARIANCE, WEIGHT_KEYS, WHITEN, IVAEMethod
from identvae.methods.pair_tests import match_components
from identvae.metrics.ima import local_cima
from identvae.metrics.independence import bivariate_tests
from identvae.metrics.mcc import abs_correlation, matching, mcc
from identvae.metrics.mixing import evenly_spaced
from identvae.models import ivae
from identvae.models.ivae import IVAEConfig
from identvae.train.data import stack_part
from identvae.train.ensemble import RunSpec, TrainConfig, train_ensemble
from identvae.train.optim import RowCosine


def flow_train(epochs: int) -> TrainConfig:
    """The loop of the workflow's NonSENS flow fits (``experiments.ivae_nonsens.flow`` of
    ``config/config.yaml``: learning rate, batch size) for ``epochs`` epochs, no early stop."""
    config = yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())
    flow = config["experiments"]["ivae_nonsens"]["flow"]
    return TrainConfig(flow["lr"], flow["batch_size"], epochs, epochs, 10**9)


def _dataset(
    x: np.ndarray, segments: np.ndarray, seed: int, sources: np.ndarray | None = None
) -> Dataset:
    """All points for training; without ``sources`` the trainer's checks skip the MCC."""
    t = len(x)
    return Dataset(
        np.zeros((t, 0), np.float32) if sources is None else sources.astype(np.float32),
        x.astype(np.float32),
        np.zeros(t, np.int8),  # all training (no held-out split)
        "file",
        {},
        {},
        seed,
        segments.astype(np.int64),
    )


def flow_fit(x: np.ndarray, segments: np.ndarray, seed: int, args) -> tuple[np.ndarray, list]:
    """n̂ [T, d] of the workflow's flow method (the restart of the lowest negative
    log-likelihood of ``args.restarts``, trained side by side) and every restart's NLL."""
    data = _dataset(x, segments, seed)
    segments_count = int(segments.max()) + 1
    config = FlowConfig(x.shape[1], segments_count, transforms=args.transforms, passes=args.passes)
    method = FlowMethod(config, args.restarts, anneal_epochs=args.epochs)
    train = flow_train(args.epochs)
    (result,) = train_ensemble(method, train, [RunSpec("fit", "data", seed)], {"data": data})
    n_hat = _latents(method, result, data)
    return n_hat, [float(v) for v in result.history[-1]["nll_restarts"].split()]


def ivae_fit(x: np.ndarray, segments: np.ndarray, seed: int, args) -> tuple[np.ndarray, list]:
    """n̂ [T, d]: encoder means of the workflow's NonSENS iVAE protocol (ivae_elbo_whitened),
    ``args.restarts`` runs trained side by side, the one of the lowest training loss (the
    negative ELBO) kept; and every run's loss."""
    t, d = x.shape
    data = _dataset(x, segments, seed)
    method = IVAEMethod(IVAEConfig(d, d, int(segments.max()) + 1), t, lr_patience=10**9)
    weights = dict.fromkeys(WEIGHT_KEYS, 1.0) | {DECODER_VARIANCE: 0.01, WHITEN: 1.0}
    runs = [RunSpec(f"r{r}", "data", 100 * seed + r, weights) for r in range(args.restarts)]
    train = TrainConfig(1e-3, 64, args.epochs, args.epochs, 10**9)
    results = train_ensemble(method, train, runs, {"data": data}, progress=False)
    losses = [float(r.history[-1]["train_loss"]) for r in results]
    best = results[int(np.argmin(losses))]
    return _latents(method, best, data), losses


def importance_bound(
    cfg: IVAEConfig, params: Params, x: torch.Tensor, u: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """The importance-weighted bound per point [R, B]: log mean_k p(x|z_k) p(z_k|u) /
    q(z_k|x,u) with z_k = mean + std * eps[:, k] of q(z|x,u) (x [R, B, d], u one-hot
    [R, B, M], eps [R, K, B, n]); one draw is the ELBO."""
    runs, k, size = eps.shape[:3]
    mean, logvar = ivae.encode(cfg, params, x, u)
    z = mean[:, None] + torch.exp(0.5 * logvar[:, None]) * eps
    out = ivae.decode(cfg, params, z.reshape(runs, k * size, -1))
    x_k = x[:, None].expand(-1, k, -1, -1).reshape(runs, k * size, -1)
    log_px = ivae.log_likelihood(cfg, x_k, out).reshape(runs, k, size)
    p_mean, p_logvar = ivae.prior(cfg, params, u)
    log_pz = ivae.log_normal(z, p_mean[:, None], p_logvar[:, None]).sum(-1)
    log_qz = ivae.log_normal(z, mean[:, None], logvar[:, None]).sum(-1)
    return torch.logsumexp(log_px + log_pz - log_qz, dim=1) - math.log(k)


@dataclass(frozen=True)
class ImportanceWeightedIVAE(IVAEMethod):
    """The iVAE trained by the importance-weighted bound of ``samples`` draws per point
    (:func:`importance_bound`); the rate anneals to 0 over ``epochs`` (cosine)."""

    samples: int = 1
    epochs: int = 100

    def epoch_noise(self, generator: torch.Generator, n_train: int) -> torch.Tensor:
        return torch.randn(n_train, self.samples, self.model.latent_dim, generator=generator)

    def loss(self, params: Params, batch: Batch, settings: Settings) -> torch.Tensor:
        x = ivae.observe(params, batch.x.float())  # [R, B, d]
        u = ivae.one_hot(self.model, batch.labels)
        eps = batch.noise.transpose(1, 2)  # [R, K, B, n]
        return -importance_bound(self.model, params, x, u, eps).mean(-1)

    def lr_schedule(self) -> RowCosine:
        return RowCosine(self.epochs)


def train_ivae_iw(
    x: np.ndarray, segments: np.ndarray, seed: int, samples: int, epochs: int, restarts: int
):
    """The iVAE trained by the importance-weighted bound of ``samples`` draws, ``restarts``
    runs side by side: (its config, the method, the run of the lowest loss, the dataset, every
    run's loss)."""
    t, d = x.shape
    data = _dataset(x, segments, seed)
    config = IVAEConfig(d, d, int(segments.max()) + 1, decoder_variance=1e-3)
    method = ImportanceWeightedIVAE(config, t, samples=samples, epochs=epochs)
    runs = [RunSpec(f"r{r}", "data", 100 * seed + r) for r in range(restarts)]
    train = TrainConfig(3e-3, 128, epochs, epochs, 10**9)
    results = train_ensemble(method, train, runs, {"data": data}, progress=False)
    losses = [float(r.history[-1]["train_loss"]) for r in results]
    return config, method, results[int(np.argmin(losses))], data, losses


def ivae_iw_fit(x: np.ndarray, segments: np.ndarray, seed: int, args) -> tuple[np.ndarray, list]:
    """n̂ [T, d]: encoder means of the iVAE trained by the importance-weighted bound of
    ``args.samples`` draws, ``args.restarts`` runs side by side, the lowest loss kept."""
    config, method, best, data, losses = train_ivae_iw(
        x, segments, seed, args.samples, args.epochs, args.restarts
    )
    n_hat = _latents(method, best, data)
    cima = decoder_cima(config, best, n_hat)
    print(f"    ivae_iw, {args.samples} draws: decoder C_IMA {cima:.2f}", flush=True)
    return n_hat, losses


def decoder_cima(config: IVAEConfig, result, n_hat: np.ndarray, points: int = 3000) -> float:
    """The decoder's C_IMA in nats per point: the mean local c_IMA of its Jacobian at (at most
    ``points`` evenly spaced) n̂, to set against the true reduced form's
    (``benchmarks/nonsens_cima.py``): the ELBO pays it, the importance-weighted bound less."""
    z = torch.as_tensor(evenly_spaced(n_hat, points), dtype=torch.float32)
    jacobian = torch.func.vmap(torch.func.jacfwd(lambda v: ivae.decode(config, result.state, v)))
    return float(local_cima(jacobian(z)).mean())


def _latents(method, result, data: Dataset) -> np.ndarray:
    params = {k: v[None] for k, v in result.state.items()}
    part = stack_part([data], "train", torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    latents = method.latents(params, part, torch.zeros(1, dtype=torch.long), [generator])
    return latents["mean"][0].astype(np.float64)


ESTIMATORS = {"flow": flow_fit, "ivae": ivae_fit, "ivae_iw": ivae_iw_fit}


def reduced(edges: list[tuple[int, int]], n_nodes: int) -> list[tuple[int, int]]:
    """The edges not explained by a longer path: a → b is dropped when a ⇝ c ⇝ b for some other
    node c (the transitive reduction; it also drops a true edge that has a parallel path)."""
    reach = graphs.reachability(edges, n_nodes)
    return [
        (a, b)
        for a, b in edges
        if not any(reach[a, c] and reach[c, b] for c in range(n_nodes) if c not in (a, b))
    ]


def graph_from(decisions, data: sem.CausalData) -> tuple[dict, dict, list]:
    """Scores of the union of the decided edges, of its transitive reduction, and the edges."""
    d = data.x.shape[1]
    edges = graphs.pairwise_edges(decisions)
    scores = graphs.graph_scores(edges, data.edges, d)
    return scores, graphs.graph_scores(reduced(edges, d), data.edges, d), edges


def tests(x2, n2, data, pair, args) -> str:
    rng = np.random.default_rng(1000 * pair[0] + pair[1])
    out = bivariate_tests(x2, n2, data.segments, permutations=args.permutations, rng=rng)
    return str(out["decision"])


def run_setting(data: sem.CausalData, estimator: str, procedure: str, seed: int, args):
    """Spearman MCC, graph scores (union, reduced), edges, seconds and a remark, of one
    estimator and procedure on one draw."""
    x, n, d = data.x, data.disturbances, data.x.shape[1]
    pairs = list(itertools.combinations(range(d), 2))
    start = time.perf_counter()
    decisions = []
    if procedure == "joint":
        n_hat, losses = ESTIMATORS[estimator](x, data.segments, seed, args)
        fit_mcc = float(mcc(n, n_hat, method="spearman"))
        own = match_components(x, n_hat, data.segments, 1000, np.random.default_rng(0))
        truth = matching(abs_correlation(n, n_hat, method="spearman"))[1]
        agree = int((own == truth).sum())
        for i, j in pairs:
            n_pair = n_hat[:, [own[i], own[j]]]
            decisions.append((i, j, tests(x[:, [i, j]], n_pair, data, (i, j), args)))
        restarts = ", ".join(f"{loss:.3f}" for loss in losses)
        extra = f"matching right for {agree}/{d}; restarts' losses {restarts}"
    else:
        mccs = []
        for i, j in pairs:
            n_hat, _ = ESTIMATORS[estimator](x[:, [i, j]], data.segments, seed, args)
            mccs.append(float(mcc(n[:, [i, j]], n_hat, method="spearman")))
            decisions.append((i, j, tests(x[:, [i, j]], n_hat, data, (i, j), args)))
        fit_mcc, extra = float(np.median(mccs)), f"pair MCC min {min(mccs):.2f}"
    return fit_mcc, *graph_from(decisions, data), time.perf_counter() - start, extra


def f1_or_zero(scores: dict) -> float:
    """F1, and 0 for a graph without edges (its precision, hence F1, is undefined)."""
    return 0.0 if math.isnan(scores["f1"]) else float(scores["f1"])


def line(label, fit_mcc, scores, reduction, edges, names, seconds, extra) -> str:
    edge_text = ", ".join(f"{names[a]}→{names[b]}" for a, b in edges)
    kinds = ("direct", "indirect", "reversed", "spurious")
    classes = "/".join(str(scores[f"n_{c}"]) for c in kinds)
    return (
        f"{label:<28} MCC {fit_mcc:5.3f}  F1 {scores['f1']:.2f}  P {scores['precision']:.2f}  "
        f"R {scores['recall']:.2f}  edges d/i/r/s {classes}  reduced: F1 {reduction['f1']:.2f}  "
        f"{seconds:4.0f} s  {extra}\n{'':<32}{edge_text or '(no edge)'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--points", type=int, default=250)
    parser.add_argument("--estimators", nargs="+", default=["flow", "ivae"], choices=ESTIMATORS)
    parser.add_argument("--procedures", nargs="+", default=["joint", "pairwise"])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--transforms", type=int, default=4, help="flow: spline transforms")
    parser.add_argument(
        "--passes",
        type=int,
        default=None,
        help="flow: 2 for coupling transforms (default: autoregressive)",
    )
    parser.add_argument("--permutations", type=int, default=300)
    parser.add_argument(
        "--samples", type=int, default=1, help="ivae_iw: posterior draws of the bound per point"
    )
    parser.add_argument(
        "--restarts", type=int, default=3, help="fits per setting, lowest loss kept"
    )
    args = parser.parse_args()
    for procedure in args.procedures:
        if procedure not in ("joint", "pairwise"):
            parser.error(f"--procedures: unknown {procedure!r}; known: joint, pairwise")
    f1s: dict[str, list[float]] = {}
    config = {"source": "hippo6", "n_segments": args.segments, "segment_size": args.points}
    for seed in args.seeds:
        data = sem.causal_data(config | {"noise": "laplace"}, seed)
        print(f"data seed {seed}: hippo6, {args.segments} segments x {args.points} points")
        for estimator, procedure in itertools.product(args.estimators, args.procedures):
            label = f"{estimator} {procedure}"
            fit_mcc, *graph, seconds, extra = run_setting(data, estimator, procedure, seed, args)
            f1s.setdefault(label, []).append(f1_or_zero(graph[0]))
            f1s.setdefault(f"{label}, reduced", []).append(f1_or_zero(graph[1]))
            print("  " + line(label, fit_mcc, *graph, data.names, seconds, extra), flush=True)
        pairs = itertools.combinations(range(data.x.shape[1]), 2)
        oracle = [
            (i, j, tests(data.x[:, [i, j]], data.disturbances[:, [i, j]], data, (i, j), args))
            for i, j in pairs
        ]
        graph = graph_from(oracle, data)
        f1s.setdefault("oracle", []).append(f1_or_zero(graph[0]))
        f1s.setdefault("oracle, reduced", []).append(f1_or_zero(graph[1]))
        print("  " + line("oracle (true n)", 1.0, *graph, data.names, 0.0, ""), flush=True)
    for label, values in f1s.items():
        print(f"median F1 over seeds, {label}: {np.median(values):.2f} ({values})")


if __name__ == "__main__":
    main()
