"""Write a user-style causal CSV (not hippo6) and its edge list, to try `ivae_nonsens_user` on
data with a known graph: five variables, V1→V2, V2→V3, V1→V4, V4→V5, V3→V5, Laplace
disturbances whose stds change per segment (U(0.5, 3), 40 segments × 250 points), non-additive
mechanisms strictly monotone in their disturbance.

    python benchmarks/causal_csv_sem5.py OUTDIR     # OUTDIR/sem5.csv, OUTDIR/sem5_edges.csv

then enable `ivae_nonsens_user` with `data: {path: OUTDIR/sem5.csv, edges: OUTDIR/sem5_edges.csv}`
(docs/your-data.md)."""

import sys
from pathlib import Path

import numpy as np

NAMES = ["V1", "V2", "V3", "V4", "V5"]
EDGES = [("V1", "V2"), ("V2", "V3"), ("V1", "V4"), ("V4", "V5"), ("V3", "V5")]


def lrelu(a: np.ndarray) -> np.ndarray:
    return np.where(a > 0, a, 0.2 * a)


def draw(
    seed: int = 7, segments: int = 40, per_segment: int = 250
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(segments), per_segment)
    scales = rng.uniform(0.5, 3.0, size=(segments, 5))
    n = rng.laplace(size=(len(u), 5)) / np.sqrt(2) * scales[u]
    x = np.zeros_like(n)
    x[:, 0] = lrelu(n[:, 0])
    x[:, 1] = lrelu(1.2 * lrelu(n[:, 1] + np.tanh(x[:, 0])) + np.tanh(x[:, 0]))
    x[:, 2] = lrelu(0.8 * lrelu(n[:, 2] - 0.9 * lrelu(x[:, 1])) - 0.9 * lrelu(x[:, 1]))
    x[:, 3] = lrelu(1.5 * lrelu(n[:, 3] + x[:, 0] / (1 + np.exp(-x[:, 0]))) + 0.7 * x[:, 0])
    x[:, 4] = lrelu(n[:, 4] + np.tanh(x[:, 3]) - 0.8 * np.tanh(x[:, 2]))
    return x, u


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    x, u = draw()
    rows = [",".join(NAMES + ["segment"])]
    rows += [",".join(f"{v:.6f}" for v in xt) + f",{ut}" for xt, ut in zip(x, u, strict=True)]
    (outdir / "sem5.csv").write_text("\n".join(rows) + "\n")
    edges = ["source,target"] + [f"{a},{b}" for a, b in EDGES]
    (outdir / "sem5_edges.csv").write_text("\n".join(edges) + "\n")
    print(f"wrote {outdir / 'sem5.csv'} ({len(u)} rows) and {outdir / 'sem5_edges.csv'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
