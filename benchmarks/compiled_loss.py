"""Does ``torch.compile`` speed up the ensemble's loss and its backward on the CPU?

The E1 VAE of "Embrace the Gap" (see ``benchmarks/train_throughput.py``) at K runs: the method's
loss (``EtgVAE.loss``) and its backward, eager against ``torch.compile(..., dynamic=False)``
(inductor, the default backend), on the same minibatch. The compile time of the first call is
printed separately; the step times are medians of ``--repeats`` interleaved rounds.

    python benchmarks/compiled_loss.py
    python benchmarks/compiled_loss.py --k 100 --steps 200
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from identvae.methods.base import Batch
from identvae.methods.etg_vae import EtgVAE
from identvae.metrics.elbo_gap import GapSettings
from identvae.models.vae import VAEConfig, init_vae
from identvae.train.ensemble import run_generators

MODEL = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", n_layers=2, hidden_factor=10)
METHOD = EtgVAE(MODEL, 64, GapSettings(points=1, elbo_samples=2, is_samples=1, newton_steps=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=25, help="runs in the ensemble")
    parser.add_argument("--steps", type=int, default=300, help="timed calls per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    k = args.k
    params = {
        key: v.requires_grad_()
        for key, v in init_vae(MODEL, [run_generators(r)[0] for r in range(k)]).items()
    }
    gen = torch.Generator().manual_seed(0)
    batch = Batch(x=torch.randn(k, 64, 3, generator=gen), noise=torch.randn(k, 64, 3), labels=None)
    settings = {"gamma2": torch.full((k,), 1e4), "beta": torch.ones(k)}
    compiled = torch.compile(METHOD.loss, dynamic=False)

    def forward_backward(loss_fn) -> None:
        loss_fn(params, batch, settings).sum().backward()

    t0 = time.perf_counter()
    forward_backward(compiled)
    print(f"torch {torch.__version__}, K = {k}, {args.threads} thread(s)")
    print(f"first compiled call (compilation): {time.perf_counter() - t0:.1f} s")
    sides = {"eager": METHOD.loss, "compiled": compiled}
    times = {name: [] for name in sides}
    for fn in sides.values():  # warm-up
        for _ in range(20):
            forward_backward(fn)
    for _ in range(args.repeats):
        for name, fn in sides.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                forward_backward(fn)
            times[name].append((time.perf_counter() - t0) / args.steps * 1e3)
    eager, comp = (statistics.median(times[n]) for n in ("eager", "compiled"))
    print(f"loss + backward, ms per call: eager {eager:.3f}, compiled {comp:.3f}")
    print(f"compiled / eager: {comp / eager:.2f}")


if __name__ == "__main__":
    main()
