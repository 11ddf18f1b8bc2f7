"""Rendering throughput of the Sprites images (E5): ``draw_factors`` then ``render``.

Renders ``--n`` images (default the paper's 60 000) at ``--resolution`` (default 64) on
``--device`` with ``--threads`` CPU threads and prints the wall time of each step, images per
second and the peak memory (the process's peak resident set; on CUDA also the peak allocated
device memory). The target: 60 000 images at 64 x 64 in under a minute on 2 CPU cores; the last
line says whether the run met it (only judged at that size and on the CPU)."""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from identvae.data.sprites import DEFAULT_CHUNK, draw_factors, render

TARGET_S = 60.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000, help="images to render")
    parser.add_argument("--resolution", type=int, default=64, help="image side in pixels")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:0, ...")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="images per chunk")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    start = time.perf_counter()
    factors, _, _ = draw_factors(args.n, np.random.default_rng(args.seed))
    f = torch.as_tensor(factors, device=device)
    _sync(device)
    t_draw = time.perf_counter() - start

    start = time.perf_counter()
    images = render(f, args.resolution, chunk_size=args.chunk_size)
    _sync(device)
    t_render = time.perf_counter() - start
    total = t_draw + t_render

    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    out_mib = images.numel() * images.element_size() / 2**20
    print(
        f"sprites render: {args.n} images, {args.resolution}x{args.resolution} RGB uint8, "
        f"device {device}, {torch.get_num_threads()} threads, chunk {args.chunk_size}"
    )
    print(f"  draw_factors: {t_draw:8.3f} s")
    print(f"  render:       {t_render:8.3f} s  ({args.n / t_render:,.0f} images/s)")
    print(f"  total:        {total:8.3f} s  ({args.n / total:,.0f} images/s)")
    print(f"  peak memory:  {peak_rss_mib:,.0f} MiB resident (the images: {out_mib:,.0f} MiB)")
    if device.type == "cuda":
        peak_dev = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"  peak device memory: {peak_dev:,.0f} MiB allocated")
    if args.n == 60000 and args.resolution == 64 and device.type == "cpu":
        verdict = "met" if total < TARGET_S else "NOT met"
        print(f"target (60000 images at 64x64 in < {TARGET_S:.0f} s): {verdict} ({total:.1f} s)")


if __name__ == "__main__":
    main()
