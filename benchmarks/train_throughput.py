"""Training throughput of the ensemble trainer against one-network-at-a-time training.

What it measures, in one run, for the E1 model of "Embrace the Gap" (encoder MLP 3 -> 30 -> 6,
decoder 3 -> 30 -> 3, LeakyReLU(0.2), uniform prior with the sigmoid trick, Gaussian decoder with
gamma^2 = 1e4, batch 64, Adam lr 1e-3, one reparameterised sample) on E1 data (Moebius mixing of 3
uniform sources, 20000 samples, train part 70 %), for a fixed number of optimisation steps S:

(a) baseline: the straightforward reimplementation, one run at a time: a plain ``torch.nn.Module``
    of ``nn.Linear`` layers, ``torch.optim.Adam`` and a shuffling ``DataLoader(TensorDataset(x),
    batch_size=64)``; loop: batch -> forward -> loss -> zero_grad -> backward -> step. Only
    ``--baseline-runs`` runs are timed; the time for K runs is extrapolated as (median time per
    run) x K, and the output says so.
(b) ensemble: the library's path, K runs at once: parameters from ``identvae.models.vae.init_vae``
    stacked along a run axis, the loss ``identvae.models.vae.neg_elbo`` (through the trainer's
    VAE method ``identvae.methods.etg_vae.EtgVAE``), the method's optimiser (``FlatAdam``:
    torch's foreach Adam on one flat buffer) over the stacked parameters, and per-run
    minibatches gathered as the trainer does (one permutation and one noise draw per run per
    epoch). This is the inner step loop of ``identvae.train.ensemble.train_ensemble`` without
    validation and early stopping.

It prints per-run steps/s of (a) and (b) at K = 100, the ensemble's scaling over ``--ks``, the
achieved floating-point rate of an ensemble step at K = 100 as a fraction of the measured rate of a
large dense float32 matmul, and, as its last line, ``speedup: X`` = (baseline wall time for K runs)
/ (ensemble wall time for K runs).

Run it from the repository root (about 40 s on a 2-core CPU with the defaults; a slow spell of a
shared machine can stretch that several-fold):

    python benchmarks/train_throughput.py
    python benchmarks/train_throughput.py --steps 500 --ks 1 10 100 --threads 2 --device cpu

Timings are medians: ``--baseline-runs`` baseline runs and ``--repeats`` ensemble timings per K,
interleaved in rounds so that a slow spell of a shared machine hits both sides.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from identvae.data.datasets import generate
from identvae.methods.base import Part
from identvae.methods.etg_vae import EtgVAE
from identvae.metrics.elbo_gap import GapSettings
from identvae.models.vae import VAEConfig, init_vae
from identvae.train.ensemble import resolve_device, run_generators, train_epoch

DATA_CONFIG = {
    "mixing": "moebius",
    "sources": "uniform",
    "n_sources": 3,
    "n_samples": 20000,
    "split": [0.7, 0.2, 0.1],
    "center": True,
}
MODEL_CONFIG = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", n_layers=2, hidden_factor=10)
# the trainer's VAE method (its check and gap settings are unused here: no checks are timed)
METHOD = EtgVAE(
    MODEL_CONFIG, 64, GapSettings(points=1, elbo_samples=2, is_samples=1, newton_steps=0)
)
GAMMA2 = 1.0e4
BATCH = 64
LR = 1e-3
WARMUP_STEPS = 20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------------------------
# (a) the baseline: one plain nn.Module per run


class PlainVAE(nn.Module):
    """The E1 VAE written the usual way; the loss is the same math as ``neg_elbo``."""

    def __init__(self, d: int = 3, n: int = 3, hidden: int = 30, slope: float = 0.2):
        super().__init__()
        self.n = n
        act = nn.LeakyReLU(slope)
        self.encoder = nn.Sequential(nn.Linear(d, hidden), act, nn.Linear(hidden, 2 * n))
        self.decoder = nn.Sequential(nn.Linear(n, hidden), act, nn.Linear(hidden, d))

    def forward(self, x: torch.Tensor, gamma2: float, eps: torch.Tensor | None = None):
        h = self.encoder(x)
        mu, logvar = h[:, : self.n], h[:, self.n :]
        if eps is None:
            eps = torch.randn_like(mu)
        y = mu + torch.exp(0.5 * logvar) * eps
        log_q = (-0.5 * (eps * eps + logvar + math.log(2 * math.pi))).sum(-1)
        log_q = log_q - (F.logsigmoid(y) + F.logsigmoid(-y)).sum(-1)  # sigmoid trick
        z = torch.sigmoid(y)
        x_hat = self.decoder(z)
        d = x.shape[-1]
        log_lik = -0.5 * gamma2 * ((x - x_hat) ** 2).sum(-1) - 0.5 * d * math.log(
            2 * math.pi / gamma2
        )
        kl = log_q  # the uniform prior's log density on (0, 1) is 0
        return (-log_lik + kl).mean()


def train_baseline(x: torch.Tensor, steps: int, device: torch.device, seed: int) -> float:
    """Train one run for WARMUP_STEPS + steps steps; return the wall time of the last ``steps``."""
    torch.manual_seed(seed)
    model = PlainVAE().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(x), batch_size=BATCH, shuffle=True)
    done, t0 = 0, None
    while True:
        for (batch,) in loader:
            if done == WARMUP_STEPS:
                sync(device)
                t0 = time.perf_counter()
            if done == WARMUP_STEPS + steps:
                sync(device)
                return time.perf_counter() - t0
            batch = batch.to(device)
            loss = model(batch, GAMMA2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1


# --------------------------------------------------------------------------------------------
# (b) the ensemble: the library's functions, the trainer's inner loop


def train_ensemble_steps(x: torch.Tensor, k: int, steps: int, device: torch.device) -> float:
    """K runs at once with the trainer's own epoch function (``train_epoch``) for WARMUP_STEPS +
    steps steps; return the wall time of the last ``steps``. x: [N, d] on the CPU."""
    gens = [run_generators(1000 + r)[0] for r in range(k)]
    params = {key: v.to(device).requires_grad_() for key, v in init_vae(MODEL_CONFIG, gens).items()}
    opt = METHOD.make_optimizer(list(params.values()), torch.full((k,), LR, dtype=torch.float64))
    # one dataset shared by all runs: [datasets, N, d]
    train = Part(x[None].to(device), torch.zeros(1, x.shape[0], 3, device=device), None)
    data = torch.zeros(k, dtype=torch.long, device=device)
    settings = {
        "gamma2": torch.full((k,), GAMMA2, device=device),
        "beta": torch.ones(k, device=device),
    }
    per_epoch = math.ceil(train.size / BATCH)

    def run(n_steps: int) -> None:
        while n_steps > 0:
            done = min(n_steps, per_epoch)
            # .cpu(): the trainer reads the epoch's losses back once per epoch
            train_epoch(METHOD, params, opt, train, data, settings, gens, BATCH, done).cpu()
            n_steps -= done

    run(WARMUP_STEPS)
    sync(device)
    t0 = time.perf_counter()
    run(steps)
    sync(device)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# floating-point rates


def layer_shapes(cfg: VAEConfig) -> list[tuple[int, int]]:
    n, d, h = cfg.latent_dim, cfg.obs_dim, cfg.hidden
    return [(d, h), (h, 2 * n), (n, h), (h, d)]


def step_flops(k: int, batch: int = BATCH) -> float:
    """Forward matmuls 2*B*in*out per layer per run; backward counted as 2x forward -> 3x."""
    forward = sum(2 * batch * i * o for i, o in layer_shapes(MODEL_CONFIG))
    return 3.0 * forward * k


def matmul_gflops(device: torch.device, n: int = 2048, reps: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    sync(device)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=1000, help="timed steps per measurement")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 10, 100, 400], help="ensemble Ks")
    parser.add_argument("--k", type=int, default=100, help="K of the baseline comparison")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: cuda if available"
    )
    parser.add_argument("--baseline-runs", type=int, default=3, help="baseline runs timed")
    parser.add_argument("--repeats", type=int, default=3, help="timings per ensemble K (median)")
    args = parser.parse_args()
    if min(args.steps, args.k, args.baseline_runs, args.repeats, *args.ks) < 1:
        parser.error("--steps, --k, --ks, --baseline-runs and --repeats must be >= 1")

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ks = sorted(set(args.ks) | {args.k})
    steps = args.steps

    print(f"torch {torch.__version__}, python {platform.python_version()}, device {device}")
    print(f"threads: {torch.get_num_threads()} (torch.set_num_threads({args.threads}))")
    print(
        f"model: E1 VAE enc 3-30-6, dec 3-30-3, LeakyReLU(0.2), uniform prior (sigmoid trick), "
        f"gamma2={GAMMA2:g}, batch {BATCH}, Adam lr {LR:g}, 1 reparameterised sample"
    )
    dataset = generate(DATA_CONFIG, seed=1)
    _, x_np = dataset.part("train")
    x = torch.as_tensor(x_np, dtype=torch.float32)
    print(f"data: E1 (Moebius, 3 uniform sources), train part {x.shape[0]} x {x.shape[1]}")
    print(
        f"timing: {steps} steps per measurement after {WARMUP_STEPS} warm-up steps; "
        f"baseline {args.baseline_runs} runs, ensemble {args.repeats} timings per K, "
        f"interleaved in rounds; medians reported"
    )
    print()

    # Interleave baseline and ensemble measurements so that a slow spell of a shared machine
    # hits both sides rather than one.
    base_times: list[float] = []
    ens_times: dict[int, list[float]] = {k: [] for k in ks}
    for r in range(max(args.baseline_runs, args.repeats)):
        if r < args.baseline_runs:
            base_times.append(train_baseline(x, steps, device, seed=r))
        if r < args.repeats:
            for k in ks:
                ens_times[k].append(train_ensemble_steps(x, k, steps, device))
    ens = {k: statistics.median(v) for k, v in ens_times.items()}

    # (a) baseline
    per_run = statistics.median(base_times)
    base_rate = steps / per_run
    base_wall = per_run * args.k
    print("(a) baseline: one plain nn.Module at a time (DataLoader, torch.optim.Adam)")
    print(f"    {args.baseline_runs} runs timed: " + ", ".join(f"{t:.3f}s" for t in base_times))
    print(f"    per-run steps/s: {base_rate:.0f}  ({1e6 / base_rate:.0f} us per step)")
    print(
        f"    K={args.k} runs: EXTRAPOLATED from {args.baseline_runs} timed runs as "
        f"median {per_run:.3f}s x {args.k} = {base_wall:.2f}s"
    )

    # (b) ensemble at K
    t_k = ens[args.k]
    print(f"(b) ensemble: K={args.k} runs at once (the trainer's train_epoch, Adam foreach=True)")
    print("    timings: " + ", ".join(f"{t:.3f}s" for t in ens_times[args.k]))
    print(
        f"    per-run steps/s: {args.k * steps / t_k:.0f}  (each of the {args.k} runs advances "
        f"{steps / t_k:.0f} steps/s; {1e6 * t_k / (steps * args.k):.1f} us per run-step)"
    )
    print(f"    K={args.k} runs: measured {t_k:.2f}s")
    print()

    print("ensemble scaling (per-run steps/s = K x ensemble steps/s, comparable with (a)):")
    print(
        f"{'K':>5} {'wall s':>8} {'ms/step':>8} {'ens steps/s':>12} {'per-run steps/s':>16} "
        f"{'us/run-step':>12} {'vs (a)':>7}"
    )
    for k in ks:
        t = ens[k]
        rate = steps / t
        print(
            f"{k:>5} {t:>8.3f} {1e3 * t / steps:>8.3f} {rate:>12.0f} {k * rate:>16.0f} "
            f"{1e6 * t / (steps * k):>12.1f} {k * rate / base_rate:>6.1f}x"
        )
    print()

    # floating-point rate
    peak = matmul_gflops(device)
    flops = step_flops(args.k)
    achieved = flops * steps / t_k / 1e9
    print(
        "FLOPs per ensemble step, counted analytically: forward = 2*B*in*out per linear layer per "
        "run (layers 3x30, 30x6, 3x30, 30x3; B=64), backward = 2x forward, total = 3x forward; "
        "element-wise ops, the gather and Adam are not counted"
    )
    print(
        f"    K={args.k}: {flops / 1e6:.2f} MFLOP per step -> {achieved:.2f} GFLOP/s achieved; "
        f"dense 2048x2048 float32 matmul: {peak:.1f} GFLOP/s; "
        f"fraction {achieved / peak:.4f} ({100 * achieved / peak:.2f} %)"
    )
    print()
    print(
        f"speedup at K={args.k} = baseline {base_wall:.2f}s (extrapolated: {per_run:.3f}s x "
        f"{args.k}) / ensemble {t_k:.2f}s (measured)"
    )
    print(f"speedup: {base_wall / t_k:.1f}")


if __name__ == "__main__":
    main()
