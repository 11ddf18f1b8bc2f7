"""Shared test setup: the E1 data config and the real snakemake command."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

#: The devices the training invariants are checked on: the CPU, and CUDA where PyTorch sees a GPU
#: (skipped elsewhere, CI included).
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


def e1_data(n_samples: int) -> dict:
    """E1's data settings (Möbius mixing of uniform sources) at a test-sized sample count."""
    return {
        "mixing": "moebius",
        "sources": "uniform",
        "n_sources": 3,
        "n_samples": n_samples,
        "split": [0.7, 0.2, 0.1],
        "center": True,
    }


def run_snakemake(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    """This repository's workflow, run in ``workdir`` with ``configfile`` merged on top."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    command += ["--directory", str(workdir), "--configfile", str(configfile), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


def workflow_config(*presets: Path) -> dict:
    """The config the workflow would run with: config/config.yaml with ``presets`` merged on top,
    validated against the schema (defaults filled in) and checked; returns the enabled
    experiments' settings by name."""
    import yaml
    from snakemake.utils import update_config, validate

    from identvae.config import check_config

    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for preset in presets:
        update_config(config, yaml.safe_load(Path(preset).read_text()))
    validate(config, str(ROOT / "workflow/schemas/config.schema.yaml"))
    return check_config(config)


def schema_defaults(section: str, **values) -> dict:
    """One section (data, model, train) of an experiment as a validated config carries it: the
    config schema's defaults, then ``values``."""
    import yaml

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["$defs"]["vae_experiment"]["properties"][section]["properties"]
    return {k: p["default"] for k, p in props.items() if "default" in p} | values


def vae_training(model, **train):
    """The VAE method of ``model`` and the loop settings, from a train section with the schema's
    defaults and ``train``."""
    from identvae.methods.etg_vae import EtgVAE
    from identvae.train.ensemble import TrainConfig

    settings = schema_defaults("train", **train)
    return EtgVAE.from_settings(model, settings), TrainConfig.from_settings(settings)


def vae_run(run_id: str, data_id: str, model_seed: int, gamma2: float, beta: float = 1.0):
    """A VAE run: its per-run settings are gamma2 and beta."""
    from identvae.train.ensemble import RunSpec

    return RunSpec(run_id, data_id, model_seed, {"gamma2": gamma2, "beta": beta})


#: E5 at test size: 16 x 16 Sprites images (the smallest the conv network takes).
SPRITES_RESOLUTION = 16


def sprites_data(n_samples: int) -> dict:
    """E5's data settings (Sprites images) at a test-sized sample count and resolution."""
    return {
        "mixing": "sprites",
        "sources": "beta",
        "n_sources": 4,
        "resolution": SPRITES_RESOLUTION,
        "n_samples": n_samples,
        "split": [0.7, 0.2, 0.1],
    }


def sprites_model():
    """E5's model: the conv VAE with a learned Beta prior, at the test resolution."""
    from identvae.models.vae import VAEConfig

    side = SPRITES_RESOLUTION
    return VAEConfig(
        obs_dim=3 * side * side,
        latent_dim=4,
        prior="beta",
        beta_learned=True,
        network="conv",
        resolution=side,
    )


def die_mid_write(path: Path, directory: bool = False) -> None:
    """Start writing ``path`` through :func:`identvae.io.atomic_path` (``directory``:
    :func:`identvae.io.atomic_dir`) in a process that dies inside the write, as a killed job
    does: it leaves its temporary behind."""
    writer = "atomic_dir(sys.argv[1])" if directory else "atomic_path(sys.argv[1], sys.argv[2])"
    write = "(tmp / 'config.json').write_text('{')" if directory else "tmp.write_bytes(b'half')"
    code = (
        "import os, sys\n"
        "from identvae.io import atomic_dir, atomic_path\n"
        f"with {writer} as tmp:\n"
        f"    {write}\n"
        "    os._exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), path.suffix], capture_output=True, timeout=60
    )
    assert done.returncode == 3, done.stderr.decode()  # died inside the write, not before
