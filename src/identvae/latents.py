"""Run directories -> one experiment's latents file (results/<exp>/latents.npz), for figures
that draw latents (the iVAE's Fig. 1).

Each run's selected weights (model.pt, loaded with ``weights_only=True``) are put back into its
method and read on its training data: the posterior means and one posterior sample per point,
drawn from a generator seeded by the run's model seed, so the file is the same every time. The
datasets' sources, observations and labels are stored once per dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from identvae.data import datasets
from identvae.io import ArtifactError, atomic_path, read_json
from identvae.train.chunk import method
from identvae.train.data import stack_part
from identvae.train.ensemble import run_generators


def run_latents(run_dir: str | Path) -> tuple[dict, datasets.Dataset, dict[str, np.ndarray]]:
    """One finished run's config, dataset and latents (``mean``, ``sample`` [N, n]) on its
    training data; an unreadable weights file raises ArtifactError naming it."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    dataset = datasets.load(config["data"]["path"])
    try:
        state = torch.load(run_dir / "model.pt", weights_only=True)
    except (OSError, RuntimeError) as err:
        raise ArtifactError(f"unreadable weights {run_dir / 'model.pt'}: {err}") from None
    spec = {"experiment": config["experiment"], "chunk": config["chunk"]}
    spec |= {"data": config["data"], "model": config["model"], "train": config["train"]}
    plug_in = method(spec, {config["run_id"]: dataset})
    params = {k: v[None] for k, v in state.items()}
    part = stack_part([dataset], "train", torch.device("cpu"))
    generator = run_generators(config["model_seed"])[1]
    latents = plug_in.latents(params, part, torch.zeros(1, dtype=torch.long), [generator])
    return config, dataset, {k: v[0] for k, v in latents.items()}


def write_latents(runs_dir: str | Path, run_ids: list[str], path: str | Path) -> None:
    """The latents of every finished run (a run that diverged has no weights to read: it is
    listed under ``skipped`` with its status) and each dataset's data, in one NPZ."""
    arrays: dict[str, np.ndarray] = {}
    skipped = []
    for run_id in run_ids:
        final = read_json(Path(runs_dir) / run_id / "final.json")
        if final["status"] != "ok":
            skipped.append(f"{run_id}:{final['status']}")
            continue
        config, ds, latents = run_latents(Path(runs_dir) / run_id)
        data_id = Path(config["data"]["path"]).stem
        arrays |= {f"{run_id}/{k}": v for k, v in latents.items()}
        arrays[f"{run_id}/data_id"] = np.array(data_id)
        if f"data/{data_id}/sources" not in arrays:
            train = ds.split == 0
            arrays[f"data/{data_id}/sources"] = ds.sources[train]
            arrays[f"data/{data_id}/observations"] = ds.observations[train]
            if ds.labels is not None:
                arrays[f"data/{data_id}/labels"] = ds.labels[train]
    arrays["skipped"] = np.array(skipped, dtype=str)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
