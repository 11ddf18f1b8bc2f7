"""Time one training step of the convolutional VAE (E5): R runs stacked as one ensemble (grouped
convolutions, torch.func.vmap, a loop over runs) against R plain ``nn.Module``s stepped one by one.

A step: encoder -> reparameterised sample -> decoder -> per-image squared error + Gaussian KL to
N(0, 1), mean over the batch, backward, torch.optim.Adam step. The methods are measured in
interleaved rounds (the machine is noisy); a method's per-step time is its median over the
rounds, and its fastest round is shown too.

    python benchmarks/conv_stacking.py --runs 10 --batch 64 --resolution 32 --steps 20
                                       [--device cuda] [--kernel-variants] [--cpu-variants]

``--kernel-variants`` adds the grouped ensemble under the trainer's deterministic kernels
(``identvae.train.ensemble.deterministic_kernels``), and so in full float32 too (TF32 off for
convolutions and matrix products), as the trainer runs it on CUDA. ``--cpu-variants`` adds the
plain models under bfloat16 autocast (where the CPU has no bfloat16 instructions it runs,
slowly, in emulation) and in the channels_last memory format; ``--compile`` adds them with
forward pass and loss under ``torch.compile`` (compiled during the untimed warm-up steps; give
it ``--warmup 3``: the first compiled step compiles).
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack
from functools import partial

import torch
import torch.nn as nn

from identvae.models.conv import (
    CHANNELS,
    DOWNSAMPLING,
    HIDDEN,
    KERNEL,
    PADDING,
    STRIDE,
    check_resolution,
    conv_decode,
    conv_encode,
    flat_size,
    init_conv_decoder,
    init_conv_encoder,
)
from identvae.train.ensemble import deterministic_kernels, full_float32

LATENTS = 4


def loss_of(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, x_hat: torch.Tensor):
    """Per-image squared error + KL(q || N(0, 1)), [..., B]."""
    sq_err = ((x - x_hat) ** 2).sum(-1)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
    return sq_err + kl


def ensemble_step(stacking: str, res: int, runs: int, batch: int, x: torch.Tensor):
    gens = [torch.Generator().manual_seed(r) for r in range(runs)]
    params = init_conv_encoder("enc", res, 2 * LATENTS, gens)
    params |= init_conv_decoder("dec", res, LATENTS, gens)
    params = {k: v.to(x.device).requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(list(params.values()), lr=1e-4)

    def step() -> None:
        h = conv_encode(params, "enc", res, x, stacking)
        mu, logvar = h[..., :LATENTS], h[..., LATENTS:]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_hat = conv_decode(params, "dec", res, z, stacking)
        loss = loss_of(x, mu, logvar, x_hat).mean(-1).sum()  # runs independent: sum of means
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def plain_model(res: int) -> tuple[nn.Module, nn.Module]:
    side = res // DOWNSAMPLING
    enc: list[nn.Module] = []
    for c_in in (3, CHANNELS, CHANNELS, CHANNELS):
        enc += [nn.Conv2d(c_in, CHANNELS, KERNEL, STRIDE, PADDING), nn.ReLU()]
    enc += [nn.Flatten(), nn.Linear(flat_size(res), HIDDEN), nn.ReLU()]
    enc += [nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * LATENTS)]
    dec: list[nn.Module] = [nn.Linear(LATENTS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN)]
    dec += [nn.ReLU(), nn.Linear(HIDDEN, flat_size(res)), nn.ReLU()]
    dec += [nn.Unflatten(1, (CHANNELS, side, side))]
    for i, c_out in enumerate((CHANNELS, CHANNELS, CHANNELS, 3)):
        dec.append(nn.ConvTranspose2d(CHANNELS, c_out, KERNEL, STRIDE, PADDING))
        if i < 3:
            dec.append(nn.ReLU())
    dec.append(nn.Flatten())
    return nn.Sequential(*enc), nn.Sequential(*dec)


def plain_step(
    res: int,
    runs: int,
    batch: int,
    x: torch.Tensor,
    bf16: bool = False,
    channels_last: bool = False,
    compiled: bool = False,
):
    """R plain models stepped one by one; optionally under bfloat16 autocast (the loss in
    float32), with weights and images in the channels_last memory format, or with the forward
    pass and loss under ``torch.compile`` (inductor; the backward is compiled with it, the
    optimizer step is not)."""
    torch.manual_seed(0)
    models = [plain_model(res) for _ in range(runs)]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for enc, dec in models:
        enc.to(x.device, memory_format=fmt)
        dec.to(x.device, memory_format=fmt)
    opts = [
        torch.optim.Adam(list(e.parameters()) + list(d.parameters()), lr=1e-4) for e, d in models
    ]
    images = [x[r].view(batch, 3, res, res).contiguous(memory_format=fmt) for r in range(runs)]

    def forward_loss(enc: nn.Module, dec: nn.Module, image: torch.Tensor, flat: torch.Tensor):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            h = enc(image)
            mu, logvar = h[:, :LATENTS].float(), h[:, LATENTS:].float()
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            x_hat = dec(z)
        return loss_of(flat, mu, logvar, x_hat.float()).mean()

    if compiled:
        forward_loss = torch.compile(forward_loss)

    def step() -> None:
        for r, ((enc, dec), opt) in enumerate(zip(models, opts, strict=True)):
            loss = forward_loss(enc, dec, images[r], x[r])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per method")
    ap.add_argument(
        "--rounds", type=int, default=10, help="interleaved rounds the steps split into"
    )
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps per method first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:0, ...")
    ap.add_argument(
        "--cpu-variants",
        action="store_true",
        help="also the plain models under bfloat16 autocast and in channels_last",
    )
    ap.add_argument(
        "--kernel-variants",
        action="store_true",
        help="also the grouped ensemble under the trainer's deterministic kernels, and in float32",
    )
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also the plain models with forward and loss under torch.compile (needs a C++ "
        "compiler; the compilation happens in the untimed warm-up steps)",
    )
    args = ap.parse_args()
    check_resolution(args.resolution)
    torch.set_num_threads(args.threads)
    res, runs, batch = args.resolution, args.runs, args.batch
    device = torch.device(args.device)
    x = torch.rand(runs, batch, 3 * res * res, generator=torch.Generator().manual_seed(1))
    x = x.to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    steps = {
        "ensemble, grouped conv": ensemble_step("grouped", res, runs, batch, x),
        "ensemble, torch.func.vmap": ensemble_step("vmap", res, runs, batch, x),
        "ensemble, loop over runs": ensemble_step("loop", res, runs, batch, x),
        f"plain nn.Module x {runs}": plain_step(res, runs, batch, x),
    }
    if args.cpu_variants:
        steps["plain, bf16 autocast"] = plain_step(res, runs, batch, x, bf16=True)
        steps["plain, channels_last"] = plain_step(res, runs, batch, x, channels_last=True)
        steps["plain, both"] = plain_step(res, runs, batch, x, bf16=True, channels_last=True)
    if args.compile:
        steps["plain, torch.compile"] = plain_step(res, runs, batch, x, compiled=True)
    # the global kernel settings each method is timed under, as context-manager factories
    # (none: PyTorch's defaults)
    settings = dict.fromkeys(steps, ())
    if args.kernel_variants:
        deterministic = partial(deterministic_kernels, device)
        for name, kernels in (
            ("grouped, deterministic", (deterministic,)),
            ("grouped, determ., float32", (deterministic, full_float32)),
        ):
            steps[name] = ensemble_step("grouped", res, runs, batch, x)
            settings[name] = kernels

    def under(name: str) -> ExitStack:
        stack = ExitStack()
        for kernels in settings[name]:
            stack.enter_context(kernels())
        return stack

    for name, step in steps.items():
        with under(name):
            for _ in range(args.warmup):
                step()
    sync()
    per_round = max(1, args.steps // args.rounds)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            with under(name):
                t0 = time.perf_counter()
                for _ in range(per_round):
                    step()
                sync()
            times[name].append((time.perf_counter() - t0) / per_round)

    print(
        f"runs {runs}, batch {batch}, resolution {res}, device {device}, threads {args.threads}, "
        f"{args.rounds} rounds x {per_round} steps per method (torch {torch.__version__})"
    )
    plain = times[f"plain nn.Module x {runs}"]
    print(
        f"{'method':28s} {'ms/step':>9s} {'min':>9s} {'max':>9s} {'images/s':>9s} "
        f"{'ratio':>7s} {'ratio of mins':>13s}"
    )
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:28s} {1e3 * med:9.1f} {1e3 * min(ts):9.1f} {1e3 * max(ts):9.1f} "
            f"{runs * batch / med:9.0f} {statistics.median(plain) / med:7.2f} "
            f"{min(plain) / min(ts):13.2f}"
        )
    print(
        "ms/step and images/s: median over the rounds; ratio: plain R-model time / this "
        "method's (> 1: the ensemble is faster), of the medians and of the fastest rounds"
    )


if __name__ == "__main__":
    main()
