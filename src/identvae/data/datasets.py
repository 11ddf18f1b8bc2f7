"""Datasets: generation from a config and a data seed, and the ``.npz`` file format.

One file holds everything an experiment needs about its data: sources (the ground truth the
metrics compare with), observations, the train/val/test split, optional segment labels (iVAE), and
the mixing's parameters so the exact mixing can be rebuilt."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from identvae.data.mixings import draw_mixing, mixing_function
from identvae.io import ArtifactError, atomic_path

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Dataset:
    sources: np.ndarray  # [N, n]
    observations: np.ndarray  # [N, d] (images later: [N, C, H, W])
    split: np.ndarray  # [N] int8: 0 train, 1 val, 2 test
    mixing_name: str
    mixing_params: dict[str, np.ndarray]
    config: dict[str, Any]
    seed: int
    labels: np.ndarray | None = None  # [N] segment labels, or None

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(sources, observations) of one split part."""
        mask = self.split == SPLIT_NAMES.index(name)
        return self.sources[mask], self.observations[mask]


def draw_sources(kind: str, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return rng.uniform(-0.5, 0.5, size=(size, n))
    if kind == "gaussian":
        return rng.standard_normal((size, n))
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size=(size, n))
    raise ValueError(f"unknown source distribution {kind!r}; known: uniform, gaussian, laplace")


def draw_split(size: int, fractions: list[float], rng: np.random.Generator) -> np.ndarray:
    """Random split into parts with the given fractions (train, val, test)."""
    counts = np.floor(np.asarray(fractions) * size).astype(int)
    counts[0] += size - counts.sum()
    split = np.repeat(np.arange(len(counts), dtype=np.int8), counts)
    return split[rng.permutation(size)]


def generate(config: dict[str, Any], seed: int) -> Dataset:
    """The dataset of a data config: one pair of causal data (NonSENS: ``source`` hippo6 or
    causal_file, with ``pair``), segment data (iVAE, with ``n_segments``), a user's file
    (``source: file``), Sprites images (``mixing: sprites``, E5), or sources through a mixing
    (Embrace the Gap, :func:`draw_dataset`)."""
    from identvae.data import segments, sem, sprites

    if config.get("source") in sem.SOURCES:  # one NonSENS pair of causal data
        return sem.pair_dataset(config, seed)
    if config.get("source") == "file":
        learned = config.get("prior_mean") == "learned"
        return segments.load_user_file(
            config["path"], latent_dim=config["latent_dim"], learned_prior_mean=learned
        )
    if "n_segments" in config:
        return segments.generate_segments(config, seed)
    if config.get("mixing") == sprites.MIXING:
        return sprites.draw_sprites_dataset(config, seed)
    return draw_dataset(config, seed)


def draw_dataset(config: dict[str, Any], seed: int) -> Dataset:
    """Generate a dataset. Independent streams for mixing, sources and split (spawned from the data
    seed) so the mixing does not change when only the sample count does. Optional
    ``config["mixing_options"]`` are the mixing's draw options (see ``mixings.draw_mixing``)."""
    mix_rng, src_rng, split_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    n = config["n_sources"]
    params = draw_mixing(config["mixing"], n, mix_rng, **(config.get("mixing_options") or {}))
    sources = draw_sources(config["sources"], n, config["n_samples"], src_rng)
    with torch.no_grad():
        x = mixing_function(config["mixing"], params)(torch.as_tensor(sources)).numpy()
    if config.get("center", True):
        params["center"] = x.mean(0)
        x = x - params["center"]
    return Dataset(
        sources=sources.astype(np.float32),
        observations=x.astype(np.float32),
        split=draw_split(config["n_samples"], config["split"], split_rng),
        mixing_name=config["mixing"],
        mixing_params=params,
        config=dict(config),
        seed=seed,
    )


def save(dataset: Dataset, path: str | Path) -> None:
    arrays = {
        "sources": dataset.sources,
        "observations": dataset.observations,
        "split": dataset.split,
        "meta": np.array(
            json.dumps(
                {"config": dataset.config, "seed": dataset.seed, "mixing": dataset.mixing_name}
            )
        ),
    }
    arrays |= {f"mixing/{k}": v for k, v in dataset.mixing_params.items()}
    if dataset.labels is not None:
        arrays["labels"] = dataset.labels
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def write(config: dict[str, Any], seed: int, path: str | Path, log: str | Path) -> Dataset:
    """Generate one dataset, save it (atomically) to ``path`` and say so in the ``log`` file.

    The workflow's dataset rule calls this inside Snakemake's own process, where several such
    jobs may run at once in threads: it writes nothing to the shared stdout or stderr, and an
    error reaches Snakemake, which names the rule and the file."""
    data = generate(config, seed)
    save(data, path)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(
        f"wrote {path}: {len(data.sources)} samples, mixing {data.mixing_name}, seed {seed}\n"
    )
    return data


def load(path: str | Path) -> Dataset:
    """Load a dataset file; a missing, truncated or malformed file raises ArtifactError."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise ArtifactError(f"missing dataset file: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ArtifactError(f"corrupt dataset file {path}: {err}") from None
    missing = {"sources", "observations", "split", "meta"} - arrays.keys()
    if missing:
        raise ArtifactError(f"dataset file {path} lacks arrays {sorted(missing)}")
    meta = json.loads(str(arrays["meta"]))
    n = len(arrays["sources"])
    if len(arrays["observations"]) != n or len(arrays["split"]) != n:
        raise ArtifactError(
            f"dataset file {path}: sources, observations and split differ in length"
        )
    return Dataset(
        sources=arrays["sources"],
        observations=arrays["observations"],
        split=arrays["split"],
        mixing_name=meta["mixing"],
        mixing_params={k[7:]: v for k, v in arrays.items() if k.startswith("mixing/")},
        config=meta["config"],
        seed=meta["seed"],
        labels=arrays.get("labels"),
    )
