"""The ensemble's training step with torch's foreach Adam against ``FlatAdam``, side by side.

The E1 model of "Embrace the Gap" (see ``benchmarks/train_throughput.py``) trained K runs at once
through the trainer's ``train_epoch``; the only difference between the two sides is the
optimiser: ``torch.optim.Adam(foreach=True)`` over the stacked tensors, or the method's
``FlatAdam`` (the same arithmetic on one flat buffer). Both sides start from the same weights
and see the same minibatches, and the script checks that they end bitwise equal. Timings are
medians of ``--repeats`` rounds, the two sides interleaved within each round so that a slow
spell of a shared machine hits both.

    python benchmarks/optimizer_step.py
    python benchmarks/optimizer_step.py --ks 1 25 100 --steps 400 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from identvae.data.datasets import generate
from identvae.methods.base import Part
from identvae.methods.etg_vae import EtgVAE
from identvae.metrics.elbo_gap import GapSettings
from identvae.models.vae import VAEConfig, init_vae
from identvae.train.ensemble import run_generators, train_epoch

DATA = {"mixing": "moebius", "sources": "uniform", "n_sources": 3, "n_samples": 20000}
DATA |= {"split": [0.7, 0.2, 0.1], "center": True}
MODEL = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", n_layers=2, hidden_factor=10)
METHOD = EtgVAE(MODEL, 64, GapSettings(points=1, elbo_samples=2, is_samples=1, newton_steps=0))
LR = 1e-3


def side(k: int, x: torch.Tensor, flat: bool):
    """A closure that trains ``steps`` more steps of K runs, and the parameters it trains."""
    params = {
        key: v.requires_grad_()
        for key, v in init_vae(MODEL, [run_generators(r)[0] for r in range(k)]).items()
    }
    tensors = list(params.values())
    if flat:
        opt = METHOD.make_optimizer(tensors, torch.full((k,), LR, dtype=torch.float64))
    else:
        opt = torch.optim.Adam(tensors, lr=LR, foreach=True)
    train = Part(x[None], torch.zeros(1, x.shape[0], 3), None)
    data = torch.zeros(k, dtype=torch.long)
    settings = {"gamma2": torch.full((k,), 1e4), "beta": torch.ones(k)}
    gens = [run_generators(100 + r)[0] for r in range(k)]

    def train_steps(steps: int) -> float:
        t0 = time.perf_counter()
        train_epoch(METHOD, params, opt, train, data, settings, gens, 64, steps).cpu()
        return time.perf_counter() - t0

    return train_steps, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 25, 100])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per round (≤ 218)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (median reported)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.as_tensor(generate(DATA, 1).part("train")[1])
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} steps per round")
    print(f"{'K':>5} {'foreach Adam ms/step':>21} {'FlatAdam ms/step':>17} {'ratio':>6}  equal")
    for k in args.ks:
        torch_side, torch_params = side(k, x, flat=False)
        flat_side, flat_params = side(k, x, flat=True)
        times = {"torch": [], "flat": []}
        for _ in range(args.repeats):
            times["torch"].append(torch_side(args.steps) / args.steps * 1e3)
            times["flat"].append(flat_side(args.steps) / args.steps * 1e3)
        same = all(torch.equal(torch_params[n], flat_params[n]) for n in torch_params)
        a, b = statistics.median(times["torch"]), statistics.median(times["flat"])
        print(f"{k:>5} {a:>21.3f} {b:>17.3f} {a / b:>6.2f}  {same}")


if __name__ == "__main__":
    main()
