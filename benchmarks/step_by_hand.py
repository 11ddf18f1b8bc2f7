"""One VAE training step with the hand-written gradient (train.gradients: manual) against the
same step by autograd, side by side, at several ensemble sizes.

Each measurement is S steps of the trainer's own ``train_step`` (loss, gradient, FlatAdam step)
on one fixed minibatch per run, after warm-up steps; the two ways alternate in rounds and the
median of the rounds is reported, so that a slow spell of a shared machine hits both. Before
timing, the script checks that the two ways give the same loss and gradients to float32
round-off.

It also counts the tensor operations of one loss and gradient each way (torch.profiler: top-level
aten operations, views and allocations left out) and times the checks' decoder Jacobian at 4000
points, torch.func.jacfwd against the forward mode written out (checked equal).

    python benchmarks/step_by_hand.py                  # E1's model, K = 1 5 25 100
    python benchmarks/step_by_hand.py --dim 10 --prior per_run --ks 9 30

The last line printed is ``speedup: <min>-<max>`` over the ensemble sizes."""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

from identvae.methods.base import Batch
from identvae.methods.etg_vae import PRIOR_CODE, EtgVAE
from identvae.metrics.elbo_gap import GapSettings
from identvae.models.vae import VAEConfig, decoder_jacobian, init_vae
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


#: What the operation count leaves out: views, reshapes and allocations, which do no arithmetic.
NOT_COUNTED = {
    "aten::view", "aten::transpose", "aten::slice", "aten::unsqueeze", "aten::as_strided",
    "aten::expand", "aten::select", "aten::t", "aten::alias", "aten::reshape",
    "aten::_unsafe_view", "aten::squeeze", "aten::detach", "aten::permute", "aten::empty",
    "aten::empty_strided", "aten::empty_like", "aten::resize_", "aten::lift_fresh",
    "aten::_reshape_alias", "aten::result_type",
}  # fmt: skip


def count_ops(args, runs: int, way: str, repeats: int = 10) -> float:
    """Tensor operations per loss and gradient (no optimiser step): the aten calls made from
    Python or from autograd's replay, not those nested inside another aten call."""
    method, params, batch, settings = setup(args, runs, way)

    def loss_and_gradient() -> None:
        if method.loss_and_grad(params, batch, settings) is None:
            method.loss(params, batch, settings).sum().backward()

    loss_and_gradient()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            loss_and_gradient()
    top = [
        e
        for e in prof.events()
        if e.name.startswith("aten::")
        and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))
        and e.name not in NOT_COUNTED
    ]
    return len(top) / repeats


def jacobian_ms(args, runs: int, points: int = 4000) -> tuple[float, float]:
    """The check's decoder Jacobian at ``points`` latents per run: jacfwd, then by hand (ms)."""
    method, params, _, _ = setup(args, runs, "manual")
    z = torch.rand(runs, points, args.dim, generator=torch.Generator().manual_seed(1))
    out = []
    for by_hand in (False, True):
        decoder_jacobian(method.model, params, z, by_hand)
        start = time.perf_counter()
        for _ in range(3):
            jac = decoder_jacobian(method.model, params, z, by_hand)
        out.append(((time.perf_counter() - start) / 3 * 1e3, jac))
    torch.testing.assert_close(out[1][1], out[0][1], rtol=1e-6, atol=1e-7)
    return out[0][0], out[1][0]


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
    runs = args.ks[len(args.ks) // 2]
    ops = {way: count_ops(args, runs, way) for way in ("autograd", "manual")}
    print(
        f"tensor operations per loss and gradient (K={runs}): autograd {ops['autograd']:.0f}, "
        f"by hand {ops['manual']:.0f}"
    )
    with torch.no_grad():
        jac_auto, jac_hand = jacobian_ms(args, runs)
    print(
        f"decoder Jacobian at 4000 points (K={runs}): jacfwd {jac_auto:.1f} ms, by hand "
        f"{jac_hand:.1f} ms"
    )
    print(f"speedup: {min(ratios):.2f}-{max(ratios):.2f}")


if __name__ == "__main__":
    main()
