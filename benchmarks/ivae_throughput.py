"""Training throughput of the iVAE family: one plain model at a time against the ensemble.

Side by side in one process, for S optimisation steps (after warm-up) on the Fig. 2a setting
(n = d = 5, M = 40 segments, batch 64, hidden 100, 3 layers, xtanh):

- (a) baseline: one iVAE at a time as a reimplementation would write it: four ``nn.Sequential``
  MLPs, ``torch.optim.Adam``, a ``DataLoader`` over (x, one-hot u), the spec's weighted loss
  with the minibatch-weighted estimator; K runs cost K times one run (timed on
  ``--baseline-runs`` runs and extrapolated, said so in the output);
- (b) the ensemble: K runs at once through ``IVAEMethod.loss`` and ``RowAdam`` (per-run
  rates), all with the iVAE's weights (100, 1, 0, 10), so both compute the O(B²) q-hat terms
  for every run (runs with b = c = d, e.g. the plain ELBO or the VAE, skip them).

Prints ms per step, run-steps per second and the speedup at each K; the last line is
``speedup: X`` at the largest K."""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from identvae.data.segments import generate_segments
from identvae.methods.base import Batch
from identvae.methods.ivae import WEIGHT_KEYS, IVAEMethod
from identvae.models.ivae import IVAEConfig
from identvae.train.optim import RowAdam

M, L, N_SRC, HIDDEN, BATCH = 40, 250, 5, 100, 64


class XTanh(nn.Module):
    def forward(self, x):
        return torch.tanh(x) + 0.1 * x


def mlp(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, HIDDEN), XTanh(), nn.Linear(HIDDEN, HIDDEN), XTanh(),
        nn.Linear(HIDDEN, n_out),
    )  # fmt: skip


class PlainIVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.g, self.logv = mlp(N_SRC + M, N_SRC), mlp(N_SRC + M, N_SRC)
        self.f, self.logl = mlp(N_SRC, N_SRC), mlp(M, N_SRC)

    def loss(self, x, u, n_data, a=100.0, b=1.0, c=0.0, d=10.0):
        xu = torch.cat([x, u], 1)
        mean, logvar = self.g(xu), self.logv(xu)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)

        def log_normal(v, mu, lv):
            return -0.5 * (math.log(2 * math.pi) + lv + (v - mu) ** 2 * torch.exp(-lv))

        log_px = log_normal(x, self.f(z), torch.full_like(x, math.log(0.1))).sum(-1)
        log_qz = log_normal(z, mean, logvar).sum(-1)
        log_pz = log_normal(z, torch.zeros_like(z), self.logl(u)).sum(-1)
        pair = log_normal(z[:, None], mean[None], logvar[None])
        norm = math.log(len(x) * n_data)
        qz = torch.logsumexp(pair.sum(-1), 1) - norm
        qz_i = (torch.logsumexp(pair, 1) - norm).sum(-1)
        objective = a * log_px - b * (log_qz - qz) - c * (qz - qz_i) - d * (qz_i - log_pz)
        return -objective.mean()


def baseline_seconds(data, steps: int) -> float:
    x = torch.as_tensor(data.observations)
    u = nn.functional.one_hot(torch.as_tensor(data.labels), M).float()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, u), batch_size=BATCH, shuffle=True, drop_last=True
    )
    model = PlainIVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    done, start = 0, None
    while done < steps + 20:
        for xb, ub in loader:
            if done == 20:
                start = time.perf_counter()
            loss = model.loss(xb, ub, len(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == steps + 20:
                break
    return time.perf_counter() - start


def ensemble_seconds(data, runs: int, steps: int) -> float:
    cfg = IVAEConfig(obs_dim=N_SRC, latent_dim=N_SRC, n_segments=M, hidden=HIDDEN)
    method = IVAEMethod(cfg, dataset_size=len(data.labels))
    gens = [torch.Generator().manual_seed(r) for r in range(runs)]
    params = {k: v.requires_grad_() for k, v in method.init_params(gens, [], []).items()}
    opt = RowAdam(list(params.values()), torch.full((runs,), 1e-2, dtype=torch.float64))
    ivae_weights = (100.0, 1.0, 0.0, 10.0)
    settings = {k: torch.full((runs,), w) for k, w in zip(WEIGHT_KEYS, ivae_weights, strict=True)}
    x = torch.as_tensor(data.observations)
    labels = torch.as_tensor(data.labels)
    n = len(x)
    start = None
    for step in range(steps + 20):
        if step == 20:
            start = time.perf_counter()
        idx = torch.stack([torch.randint(0, n, (BATCH,), generator=g) for g in gens])
        batch = Batch(x[idx], torch.randn(runs, BATCH, N_SRC), labels[idx])
        loss = method.loss(params, batch, settings)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = generate_segments({"n_segments": M, "segment_size": L, "n_sources": N_SRC}, 1)
    base = statistics.median(baseline_seconds(data, args.steps) for _ in range(args.baseline_runs))
    per_step = 1000 * base / args.steps
    print(f"baseline, one plain iVAE at a time: {per_step:.2f} ms/step, "
          f"{args.steps / base:.0f} run-steps/s (median of {args.baseline_runs} runs; "
          "K runs extrapolated as K x one run)")  # fmt: skip
    speedup = math.nan
    for k in args.runs:
        ens = ensemble_seconds(data, k, args.steps)
        speedup = base * k / ens
        print(f"ensemble K={k:4d}: {1000 * ens / args.steps:.2f} ms/step, "
              f"{k * args.steps / ens:.0f} run-steps/s, {speedup:.1f}x the baseline")  # fmt: skip
    print(f"speedup: {speedup:.1f}")


if __name__ == "__main__":
    main()
