"""One training chunk of a finished workflow, trained with torch's foreach Adam and then with
``FlatAdam`` (the VAE method's optimiser), one after the other: the wall time of each and
whether their run results are identical.

    python benchmarks/optimizer_chunk.py results/etg_moebius_gamma chunk000

Reads the experiment's ``settings.yaml`` and datasets from its results directory; writes the two
sets of run directories under a temporary directory (removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import yaml

from identvae import sweeps
from identvae.methods.etg_vae import EtgVAE
from identvae.train.chunk import run_chunk


def torch_adam(self, tensors, lr):  # noqa: ANN001 (EtgVAE.make_optimizer's signature)
    return torch.optim.Adam(tensors, lr=float(lr[0]), foreach=True)


def train(expdir: Path, chunk: str, out: Path) -> float:
    settings = yaml.safe_load((expdir / "settings.yaml").read_text())
    name, exp = settings["experiment"], settings["settings"]
    runs = sweeps.chunk_runs(name, exp, chunk)
    paths = {d: str(expdir / "data" / f"{d}.npz") for d in sorted({r["data_id"] for r in runs})}
    t0 = time.perf_counter()
    run_chunk(
        sweeps.chunk_spec(name, exp, chunk),
        paths,
        runs_dir=str(out / "runs"),
        manifest_path=str(out / "chunk.json"),
        device="cpu",
        threads=1,
        progress=False,
        checkpoint=None,
    )
    return time.perf_counter() - t0


def finals(out: Path) -> dict[str, dict]:
    """Each run's final.json without its wall time."""
    rows = {}
    for path in sorted((out / "runs").glob("*/final.json")):
        row = json.loads(path.read_text())
        row.pop("wall_time_s", None)
        for value in row.values():
            if isinstance(value, dict):
                value.pop("wall_time_s", None)
        rows[path.parent.name] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment_dir", type=Path, help="results/<experiment> of a finished run")
    parser.add_argument("chunk", help="e.g. chunk000")
    args = parser.parse_args()
    flat_optimizer = EtgVAE.make_optimizer
    with tempfile.TemporaryDirectory() as tmp:
        EtgVAE.make_optimizer = torch_adam
        t_torch = train(args.experiment_dir, args.chunk, Path(tmp) / "torch")
        EtgVAE.make_optimizer = flat_optimizer
        t_flat = train(args.experiment_dir, args.chunk, Path(tmp) / "flat")
        same = finals(Path(tmp) / "torch") == finals(Path(tmp) / "flat")
    print(
        f"{args.experiment_dir.name}/{args.chunk}: torch foreach Adam {t_torch:.1f} s, "
        f"FlatAdam {t_flat:.1f} s, ratio {t_torch / t_flat:.2f}, identical results: {same}"
    )


if __name__ == "__main__":
    main()
