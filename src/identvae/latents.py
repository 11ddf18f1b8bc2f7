"""Run directories -> one experiment's latents file (results/<exp>/latents.npz), for figures
that draw latents (the iVAE's Fig. 1), or its pictures file (results/<exp>/pictures.npz), for
figures that show what an image model learned (E5).

Each run's selected weights (model.pt, loaded with ``weights_only=True``) are put back into its
method and read on its training data: the posterior means and one posterior sample per point,
drawn from a generator seeded by the run's model seed, so the file is the same every time. The
datasets' sources, observations and labels are stored once per dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from identvae.data import datasets
from identvae.io import ArtifactError, atomic_path, read_json
from identvae.methods.base import Method, Part
from identvae.train.chunk import METHOD_SECTIONS, method
from identvae.train.data import stack_part
from identvae.train.ensemble import run_generators


@dataclass(frozen=True)
class LoadedRun:
    """A finished run put back together: its config and dataset, its method with the selected
    weights as an ensemble of one ([1, ...]), its training part and evaluation generator."""

    config: dict
    dataset: datasets.Dataset
    method: Method
    params: dict[str, torch.Tensor]
    part: Part
    generator: torch.Generator

    @property
    def data(self) -> torch.Tensor:
        """The run's index into the part (it is the part's only dataset)."""
        return torch.zeros(1, dtype=torch.long)


def load_run(run_dir: str | Path) -> LoadedRun:
    """Read a run directory; an unreadable weights file raises ArtifactError naming it."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    dataset = datasets.load(config["data"]["path"])
    try:
        state = torch.load(run_dir / "model.pt", weights_only=True)
    except (OSError, RuntimeError) as err:
        raise ArtifactError(f"unreadable weights {run_dir / 'model.pt'}: {err}") from None
    spec = {"experiment": config["experiment"], "chunk": config["chunk"]}
    spec |= {"data": config["data"], "model": config["model"], "train": config["train"]}
    spec |= {k: config[k] for k in METHOD_SECTIONS if k in config}
    if config["model"].get("method") == "tcl" and "tcl" not in config:
        raise ArtifactError(
            f"{run_dir / 'config.json'}: a TCL run written before run configs kept the tcl "
            "section cannot be rebuilt; train its chunk again"
        )
    return LoadedRun(
        config,
        dataset,
        method(spec, {config["run_id"]: dataset}),
        {k: v[None] for k, v in state.items()},
        stack_part([dataset], "train", torch.device("cpu")),
        run_generators(config["model_seed"])[1],
    )


def run_latents(run_dir: str | Path) -> tuple[dict, datasets.Dataset, dict[str, np.ndarray]]:
    """One finished run's config, dataset and latents (``mean``, ``sample`` [N, n]) on its
    training data."""
    run = load_run(run_dir)
    latents = run.method.latents(run.params, run.part, run.data, [run.generator])
    return run.config, run.dataset, {k: v[0] for k, v in latents.items()}


def finished_runs(runs_dir: str | Path, run_ids: list[str]) -> tuple[list[str], list[str]]:
    """The run ids that finished ok, and ``id:status`` of the others (a diverged run has no
    weights to read)."""
    ok, skipped = [], []
    for run_id in run_ids:
        status = read_json(Path(runs_dir) / run_id / "final.json")["status"]
        if status == "ok":
            ok.append(run_id)
        else:
            skipped.append(f"{run_id}:{status}")
    return ok, skipped


def write_latents(runs_dir: str | Path, run_ids: list[str], path: str | Path) -> None:
    """The latents of every finished run (a run that diverged has no weights to read: it is
    listed under ``skipped`` with its status) and each dataset's data, in one NPZ."""
    arrays: dict[str, np.ndarray] = {}
    finished, skipped = finished_runs(runs_dir, run_ids)
    for run_id in finished:
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


#: Images shown per run and values per latent in a traversal (``write_pictures``).
SHOWN_IMAGES = 8
TRAVERSAL_STEPS = 9


def write_pictures(runs_dir: str | Path, run_ids: list[str], path: str | Path) -> None:
    """What every finished run of an image model learned (its method's ``pictures``: images,
    reconstructions, a latent traversal, each factor's |correlation| with each latent) under
    ``<run_id>/...``, with the skipped runs, in one NPZ."""
    arrays: dict[str, np.ndarray] = {}
    finished, skipped = finished_runs(runs_dir, run_ids)
    for run_id in finished:
        run = load_run(Path(runs_dir) / run_id)
        shown = run.method.pictures(run.params, run.part, run.data, SHOWN_IMAGES, TRAVERSAL_STEPS)
        arrays |= {f"{run_id}/{k}": v for k, v in shown.items()}
    arrays["skipped"] = np.array(skipped, dtype=str)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
