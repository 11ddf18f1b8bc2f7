"""Time NonSENS's HSIC permutation test (identvae.metrics.independence.hsic_test) and, when hyppo
is installed, hyppo's HSIC statistic and permutation test on the same data, side by side.

    python benchmarks/hsic_speed.py [--points 1000] [--permutations 500] [--repeats 10]

Prints the median seconds per test (ours: within segments and pooled) and hyppo's per statistic
and per test, and the p-values, so the two can be compared on one run of one machine. Set
OPENBLAS_NUM_THREADS=1 to time one core (the training jobs limit BLAS to their threads)."""

from __future__ import annotations

import argparse
import time

import numpy as np

from identvae.metrics.independence import hsic_test


def median_time(fn, repeats: int) -> float:
    fn()  # warm up (imports, JIT)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.points
    segments = np.repeat(np.arange(20), -(-n // 20))[:n]
    scale = rng.uniform(0.5, 3.0, 20)[segments]
    x = rng.laplace(size=n) * scale
    y = np.tanh(x) + rng.laplace(size=n) * scale
    print(f"{n} points, {args.permutations} permutations, median of {args.repeats}")
    for within in (True, False):
        seconds = median_time(
            lambda w=within: hsic_test(
                x, y, groups=segments, within_groups=w, permutations=args.permutations, rng=rng
            ),
            args.repeats,
        )
        _, p = hsic_test(x, y, groups=segments, within_groups=within, rng=rng)
        print(f"identvae hsic_test ({'within segments' if within else 'pooled'}): "
              f"{seconds:.3f} s per test, p = {p:.4f}")  # fmt: skip
    try:
        from hyppo.independence import Hsic
        from hyppo.tools import compute_kern, perm_test
    except ImportError:
        print("hyppo not installed: pip install hyppo to compare")
        return
    kx, ky = compute_kern(x[:, None], y[:, None], metric="gaussian")
    stat = Hsic(compute_kernel=None).statistic
    per_stat = median_time(lambda: stat(kx, ky), args.repeats)
    reps = max(1, args.permutations // 10)
    per_test = median_time(
        lambda: perm_test(stat, kx, ky, reps=reps, random_state=1), max(1, args.repeats // 5)
    )
    print(f"hyppo Hsic statistic: {per_stat:.4f} s; its permutation test: {per_test:.2f} s "
          f"for {reps} permutations ({per_test * args.permutations / reps:.1f} s scaled to "
          f"{args.permutations})")  # fmt: skip


if __name__ == "__main__":
    main()
