"""Time one training job of the workflow as the workflow runs it (``run_chunk``: datasets read
from their files, the runs stacked, checks, run directories written) for a few epochs, and
project the job's whole training time.

Two steps, because a job's settings take their defaults from the workflow's config schema, which
Snakemake validates; the second step needs only identvae and its numeric packages (a GPU machine
without Snakemake will do):

    python benchmarks/job_time.py spec etg_sprites config/presets/paper.yaml > job.json
    python benchmarks/job_time.py run job.json --epochs 4 --device cuda

``spec`` writes the first chunk's job spec and the data settings it reads. ``run`` generates the
data (timed), then trains the job three times, each with one check, at the end: 1 epoch to warm
up (untimed), 1 epoch, and ``--epochs`` epochs. Per epoch = (t_E - t_1) / (E - 1); a
check costs at most t_1 - per epoch (that also holds the job's fixed costs, so the projection
errs long). Projected = t_E + (max_epochs - E) x per epoch + (checks - 1) x check, with the job's
own max_epochs and val_every: what a job that never stops early would take.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def write_spec(experiment: str, presets: list[Path]) -> None:
    import yaml
    from snakemake.utils import update_config, validate

    from identvae import sweeps
    from identvae.config import check_config

    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for preset in presets:
        update_config(config, yaml.safe_load(preset.read_text()))
    validate(config, str(ROOT / "workflow/schemas/config.schema.yaml"))
    exp = check_config(config)[experiment]
    chunk = sweeps.chunk_ids(experiment, exp)[0]
    spec = sweeps.chunk_spec(experiment, exp, chunk)
    data = {
        data_id: {"config": sweeps.data_config(experiment, exp, data_id), "seed": seed}
        for data_id, seed in ((r["data_id"], r["data_seed"]) for r in spec["runs"])
    }
    json.dump({"spec": spec, "data": data}, sys.stdout, indent=1)


def train_for(
    spec: dict, paths: dict, epochs: int, device: str, threads: int, workdir: Path, label: str = ""
) -> float:
    from identvae.train.chunk import run_chunk

    short = copy.deepcopy(spec)
    short["train"] |= {"max_epochs": epochs, "val_every": epochs}
    out = workdir / f"epochs{epochs}"
    t0 = time.perf_counter()
    results = run_chunk(
        short, paths, out / "runs", out / "manifest.json", device, threads, progress=False
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    statuses = sorted({r.status for r in results})
    print(f"  {epochs} epoch(s){label}: {elapsed:.1f} s, run statuses {statuses}", flush=True)
    return elapsed


def time_job(job: Path, epochs: int, device: str, threads: int) -> None:
    from identvae.data import datasets
    from identvae.train.ensemble import resolve_device

    loaded = json.loads(job.read_text())
    spec = loaded["spec"]
    dev = str(resolve_device(device))
    name = f"{spec['experiment']}/{spec['chunk']}"
    runs = len(spec["runs"])
    print(f"{name}: {runs} runs, device {dev}, {threads} thread(s), torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        paths = {}
        for data_id, d in loaded["data"].items():
            paths[data_id] = str(workdir / f"{data_id}.npz")
            datasets.save(datasets.generate(d["config"], d["seed"]), paths[data_id])
        print(f"  data: {len(paths)} dataset(s) in {time.perf_counter() - t0:.1f} s", flush=True)
        train_for(spec, paths, 1, dev, threads, workdir / "warm-up", " to warm up")
        t_1 = train_for(spec, paths, 1, dev, threads, workdir)
        t_e = train_for(spec, paths, epochs, dev, threads, workdir)
    per_epoch = (t_e - t_1) / (epochs - 1)
    check = max(t_1 - per_epoch, 0.0)
    max_epochs, val_every = spec["train"]["max_epochs"], spec["train"]["val_every"]
    checks = math.ceil(max_epochs / val_every)
    projected = t_e + (max_epochs - epochs) * per_epoch + (checks - 1) * check
    print(
        f"per epoch {per_epoch:.2f} s, a check (and fixed costs) <= {check:.1f} s; "
        f"projected: {max_epochs} epochs, {checks} checks: {projected / 60:.1f} min"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    spec = steps.add_parser("spec", help="write a job spec (needs Snakemake)")
    spec.add_argument("experiment")
    spec.add_argument("presets", type=Path, nargs="*", help="config files merged on top")
    run = steps.add_parser("run", help="time the job of a spec file")
    run.add_argument("job", type=Path)
    run.add_argument("--epochs", type=int, default=4, help="epochs of the longer timing (>= 2)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:0, ...")
    run.add_argument("--threads", type=int, default=1, help="CPU threads (workflow jobs: 1)")
    args = parser.parse_args()
    if args.step == "spec":
        write_spec(args.experiment, args.presets)
    else:
        if args.epochs < 2:
            parser.error(f"--epochs must be at least 2, got {args.epochs}")
        time_job(args.job, args.epochs, args.device, args.threads)


if __name__ == "__main__":
    main()
