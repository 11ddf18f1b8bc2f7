"""One VAE training step with the hand-written gradient (train.gradients: manual) against the
same step by autograd, side by side, at several ensemble sizes.

Each measurement is S steps of the trainer's own ``train_step`` (loss, gradient, FlatAdam step)
on one fixed minibatch per run, after warm-up steps; the two ways alternate in rounds and the
median of the rounds is reported, so that a slow spell of a shared machine hits both. Before timing, the script checks that the two ways give
the same loss and gradients to float32 round-off.

    python benchmarks/step_by_hand.py                  # E1's model, K = 1 5 25 100
    python benchmarks/step_by_hand.py --dim 10 --prior per_run --ks 9 30

The last line printed is ``speedup: <min>-<max>`` over the ensemble sizes."""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from identvae.methods.base import Batch
from identvae.methods.etg_vae import PRIOR_CODE, EtgVAE
from identvae.metrics.elbo_gap import GapSettings
from identvae.models.vae import VAEConfig, init_vae
from identvae.train.ensemble import train_step
from identvae.train.optim import FlatAdam

PER_RUN_PRIORS = ("uniform", "laplace", "gaussian")


def setup(args, runs: int, way: str):
    per_run = args.prior == "per_run"
    cfg = VAEConfig(
        obs_dim=args.dim,
        latent_dim=args.dim,
        prior=args.prior,
        priors=PER_RUN_PRIORS if per_run else (),
        n_layers=args.layers,
    )
    method = EtgVAE(cfg, 64, GapSettings(8, 4, 4, 2), gradients=way)
    gens = [torch.Generator().manual_seed(r) for r in range(runs)]
    params = {k: v.requires_grad_() for k, v in init_vae(cfg, gens).items()}
    data = torch.Generator().manual_seed(0)
    batch = Batch(
        0.3 * torch.randn(runs, args.batch, args.dim, generator=data),
        torch.randn(runs, args.batch, args.dim, generator=data),
        None,
    )
    settings = {"gamma2": torch.full((runs,), 1e4), "beta": torch.ones(runs)}
    if per_run:
        settings[PRIOR_CODE] = (torch.arange(runs) % len(PER_RUN_PRIORS)).float()
    return method, params, batch, settings


def check_agreement(args, runs: int) -> float:
    """The largest gradient difference of the two ways, relative to the gradient's scale."""
    worst = 0.0
    grads = {}
    for way in ("manual", "autograd"):
        method, params, batch, settings = setup(args, runs, way)
        by_hand = method.loss_and_grad(params, batch, settings)
        if by_hand is None:
            method.loss(params, batch, settings).sum().backward()
            grads[way] = {k: v.grad for k, v in params.items()}
        else:
            grads[way] = by_hand[1]
    for name, g in grads["autograd"].items():
        scale = float(g.abs().max()) or 1.0
        worst = max(worst, float((grads["manual"][name] - g).abs().max()) / scale)
    return worst


def time_way(args, runs: int, way: str) -> float:
    method, params, batch, settings = setup(args, runs, way)
    opt = FlatAdam(list(params.values()), lr=1e-3)
    for _ in range(args.warmup):
        train_step(method, params, opt, batch, settings)
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step(method, params, opt, batch, settings)
    return (time.perf_counter() - start) / args.steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 25, 100])
    parser.add_argument("--dim", type=int, default=3, help="observed = latent dimension")
    parser.add_argument("--prior", default="uniform", help="uniform | gaussian | laplace | per_run")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s); VAE {args.dim}-{args.dim * 10}-"
        f"{2 * args.dim} / {args.dim}-{args.dim * 10}-{args.dim}, {args.layers} layers, prior "
        f"{args.prior}, batch {args.batch}; {args.steps} steps per timing, {args.rounds} rounds"
    )
    ratios = []
    print("    K  autograd ms/step  manual ms/step  speedup  max grad diff (rel.)")
    for runs in args.ks:
        diff = check_agreement(args, runs)
        times = {"autograd": [], "manual": []}
        for _ in range(args.rounds):
            for way in times:
                times[way].append(time_way(args, runs, way))
        auto, manual = (statistics.median(times[w]) for w in ("autograd", "manual"))
        ratios.append(auto / manual)
        print(f"{runs:5d}  {auto:16.3f}  {manual:14.3f}  {auto / manual:7.2f}  {diff:.1e}")
    print(f"speedup: {min(ratios):.2f}-{max(ratios):.2f}")


if __name__ == "__main__":
    main()
