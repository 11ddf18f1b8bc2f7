"""Do the iVAE's fits of hippo6 reach the data's likelihood, and is it the encoder that keeps
n̂ from the disturbances? The negative log-likelihood per point of the truth and of each fit,
next to the Spearman MCC of its n̂, on joint fits of all six variables.

    python benchmarks/nonsens_likelihood.py [--seeds 1 2] [--segments 40] [--points 250]
                                            [--samples 32] [--epochs 300] [--draws 1024]
                                            [--restarts 6]

Per data seed, in nats per point of the z-scored x given the segment u:
- the truth: -log p(x | u) = -sum_j log p(n_j | u) + log |det ∂x/∂n|, the disturbances' own
  Laplace density; and the same with a Gaussian of the true segment stds, the iVAE's prior
  family. The Jacobian is triangular (the columns are in topological order), so its log
  determinant is the sum of log ∂x_j/∂n_j, each a central finite difference in float64 of
  ``identvae.data.sem.node_value`` with the parents held fixed.
- the iVAE trained by the importance-weighted bound of ``--samples`` draws
  (``nonsens_flow.train_ivae_iw``, as ``nonsens_flow.py --estimators ivae_iw``): its
  final training loss, and -log p(x | u) of the trained model estimated with ``--draws``
  importance draws per point (an upper bound that tightens as the draws grow). MCC of n̂ as the
  encoder mean and as the posterior mode (the encoder mean refined by 500 Adam steps on the
  negative log joint density), so a poor encoder would show as the mode's MCC above the mean's.
- the workflow's flow (``nonsens_flow.flow_fit``): the lowest exact negative log-likelihood of
  ``--restarts``, and its n̂'s MCC.

The iVAE's density is that of its decoder mean blurred by its decoder variance (1e-3: a std of
0.03, small next to the columns' std of 1); the flow's and the truth's are of the noiseless x."""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from nonsens_flow import _latents, flow_fit, importance_bound, train_ivae_iw

from identvae.data import sem
from identvae.metrics.mcc import mcc
from identvae.models import ivae
from identvae.models.ivae import IVAEConfig

STEP = 1e-6


def truth_nll(draw: sem.Hippo6Draw) -> tuple[float, float]:
    """-log p(x | u) per point of the z-scored x under the true model: with the disturbances'
    Laplace density, and with a Gaussian of the same segment stds."""
    n, mech = draw.disturbances, draw.mechanisms
    log_det = np.zeros(len(n))
    for j, scale in enumerate(draw.x_raw.std(axis=0)):
        up = sem.node_value(mech, j, n[:, j] + STEP, draw.x_raw)
        down = sem.node_value(mech, j, n[:, j] - STEP, draw.x_raw)
        log_det += np.log((up - down) / (2 * STEP) / scale)
    std = draw.sigmas[draw.segments]
    laplace = -np.log(math.sqrt(2) * std) - math.sqrt(2) * np.abs(n) / std
    gauss = -0.5 * np.log(2 * math.pi * std**2) - 0.5 * (n / std) ** 2
    return float(-(laplace.sum(1) - log_det).mean()), float(-(gauss.sum(1) - log_det).mean())


def ivae_nll(config: IVAEConfig, params, x: torch.Tensor, labels: torch.Tensor, draws: int):
    """-log p(x | u) per point, estimated with ``draws`` importance draws from q(z | x, u)."""
    generator = torch.Generator().manual_seed(0)
    bounds = []
    with torch.no_grad():
        for start in range(0, len(x), 100):
            xb = x[None, start : start + 100]
            u = ivae.one_hot(config, labels[None, start : start + 100])
            shape = (1, draws, xb.shape[1], config.latent_dim)
            eps = torch.randn(shape, generator=generator)
            bounds.append(importance_bound(config, params, xb, u, eps)[0])
    return -float(torch.cat(bounds).mean())


def posterior_mode(config: IVAEConfig, params, x, labels, start: np.ndarray) -> np.ndarray:
    """argmax_z log p(x | z) + log p(z | u) per point, by Adam from ``start`` (encoder means)."""
    p_mean, p_logvar = ivae.prior_of_labels(config, params, labels[None])
    z = torch.tensor(start[None], dtype=torch.float32, requires_grad=True)
    optimiser = torch.optim.Adam([z], lr=1e-2)
    for _ in range(500):
        optimiser.zero_grad()
        out = ivae.decode(config, params, z)
        log_joint = ivae.log_likelihood(config, x[None], out)
        log_joint = log_joint + ivae.log_normal(z, p_mean, p_logvar).sum(-1)
        (-log_joint.sum()).backward()
        optimiser.step()
    return z.detach()[0].numpy().astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--points", type=int, default=250)
    parser.add_argument("--samples", type=int, default=32, help="iVAE: draws of its bound")
    parser.add_argument("--epochs", type=int, default=300, help="iVAE's epochs (flow: 100)")
    parser.add_argument("--draws", type=int, default=1024, help="draws of the NLL estimate")
    parser.add_argument("--restarts", type=int, default=6, help="flow: fits, lowest NLL kept")
    args = parser.parse_args()
    config = {"source": "hippo6", "n_segments": args.segments, "segment_size": args.points}
    config |= {"noise": "laplace"}
    for seed in args.seeds:
        draw, data = sem.draw_hippo6(config, seed), sem.causal_data(config, seed)
        x, n, segments = data.x, data.disturbances, data.segments
        laplace, gauss = truth_nll(draw)
        print(f"data seed {seed}: truth NLL {laplace:.3f} (Laplace), {gauss:.3f} (Gaussian)")

        start = time.perf_counter()
        model, method, result, dataset, (loss,) = train_ivae_iw(
            x, segments, seed, args.samples, args.epochs, restarts=1
        )
        params = {k: v[None] for k, v in result.state.items()}
        xt = torch.tensor(x, dtype=torch.float32)  # data.x is read-only
        labels = torch.tensor(segments, dtype=torch.long)
        mean = _latents(method, result, dataset)
        mode = posterior_mode(model, params, xt, labels, mean)
        print(
            f"  iVAE, {args.samples} draws, {args.epochs} epochs: training loss {loss:.3f}, "
            f"NLL ≤ {ivae_nll(model, params, xt, labels, args.draws):.3f} ({args.draws} draws); "
            f"MCC {mcc(n, mean, method='spearman'):.3f} (encoder mean), "
            f"{mcc(n, mode, method='spearman'):.3f} (posterior mode); "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )

        start = time.perf_counter()
        flow_args = argparse.Namespace(
            restarts=args.restarts, epochs=100, transforms=4, passes=None
        )
        n_hat, nlls = flow_fit(x, segments, seed, flow_args)
        print(
            f"  flow, best of {args.restarts}: NLL {min(nlls):.3f}; "
            f"MCC {mcc(n, n_hat, method='spearman'):.3f}; {time.perf_counter() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
