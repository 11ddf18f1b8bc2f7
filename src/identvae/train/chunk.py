"""One training job: a chunk of runs in, one directory per run out.

Each run directory (results/<exp>/runs/<run_id>/) holds config.json (the resolved settings),
history.csv (one row per validation check), final.json (status and metrics at the selected check)
and model.pt (weights at the selected check). A directory is assembled under a temporary name and
renamed into place, so a run directory is either complete or absent."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

import identvae
from identvae import sweeps
from identvae.data import datasets, segments, sprites
from identvae.data.datasets import Dataset
from identvae.experiments import registry
from identvae.io import atomic_dir, remove_artifact, write_json
from identvae.methods import pair_tests
from identvae.methods.base import Method
from identvae.methods.etg_vae import PRIOR_CODE, EtgVAE
from identvae.methods.flow import FlowConfig, FlowMethod
from identvae.methods.ivae import DECODER_VARIANCE, WEIGHT_KEYS, WHITEN, IVAEMethod
from identvae.methods.pair_tests import PairTests
from identvae.methods.tcl import TCLMethod
from identvae.metrics.mixing import mixing_contrasts, segment_mixing_properties
from identvae.models.ivae import IVAEConfig
from identvae.models.tcl import TCLConfig
from identvae.models.vae import VAEConfig
from identvae.train.ensemble import RunResult, RunSpec, TrainConfig, resolve_device, train_ensemble


def model_config(spec: dict[str, Any], obs_dim: int) -> VAEConfig:
    """The VAE of a validated chunk spec (the schema fills every default). ``model.decoder`` may
    be "true_mixing": the decoder is then fixed to the true mixing of each run's dataset;
    ``model.network`` "conv" takes images of the data's ``resolution``."""
    m = spec["model"]
    decoder = m["decoder"]
    network = m.get("network", "mlp")  # no schema default, like decoder_variance
    return VAEConfig(
        obs_dim=obs_dim,
        latent_dim=m["latent_dim"],
        prior=m["prior"],
        n_layers=m["n_layers"],
        hidden_factor=m["hidden_factor"],
        beta_learned=m["beta_learned"],
        decoder=decoder,
        mixing=spec["data"]["mixing"] if decoder == "true_mixing" else None,
        # deliberately without a schema default: unset means "fixed" (see the schema)
        decoder_variance=m.get("decoder_variance", "fixed"),
        priors=tuple(m.get("priors", ())),  # with prior "per_run" (sweeps.chunk_spec)
        network=network,
        resolution=spec["data"].get("resolution") if network == "conv" else None,
    )


@dataclass(frozen=True)
class MethodPlugin:
    """How a registry method is built from a validated chunk spec and its loaded datasets, what
    each run passes it as per-run settings, and what each dataset reports about itself."""

    build: Callable[[dict[str, Any], dict[str, Dataset]], Method]
    run_settings: Callable[[dict[str, Any], dict[str, Any]], dict[str, float]]
    data_metrics: Callable[[dict[str, Any], Dataset], dict[str, Any]] = lambda spec, ds: {}
    #: the loop's settings, when they depend on the data (TCL counts steps, not epochs)
    train_config: Callable[[dict[str, Any], dict[str, Dataset]], TrainConfig] = (
        lambda spec, loaded: TrainConfig.from_settings(spec["train"])
    )


def etg_vae(spec: dict[str, Any], loaded: dict[str, Dataset]) -> EtgVAE:
    obs = next(iter(loaded.values())).observations
    obs_dim = int(np.prod(obs.shape[1:]))  # images [N, 3, H, W]: 3 H W
    return EtgVAE.from_settings(model_config(spec, obs_dim), spec["train"])


def _segment_count(spec: dict[str, Any], loaded: dict[str, Dataset]) -> int:
    """The one segment count of a chunk's datasets (the networks' one-hot u or head size)."""
    segments = {ds.config["n_segments"] for ds in loaded.values()}
    if len(segments) != 1:
        raise ValueError(f"{spec['experiment']}/{spec['chunk']}: datasets differ in segment count")
    return segments.pop()


def ivae_config(spec: dict[str, Any], loaded: dict[str, Dataset]) -> IVAEConfig:
    """The iVAE-family architecture of a chunk: the model section, with the data's dimensions
    and segment count, and the prior of the chunk's models (one per chunk, see sweeps)."""
    first = next(iter(loaded.values()))
    m = spec["model"]
    prior_mean = m["prior_mean"]
    if prior_mean == "auto":  # a learned mean only where the segments move the sources' means
        prior_mean = "zero" if first.config.get("centered", True) else "learned"
    return IVAEConfig(
        obs_dim=first.observations.shape[1],
        latent_dim=m["latent_dim"],
        n_segments=_segment_count(spec, loaded),
        prior=m["prior"],
        prior_mean=prior_mean,
        hidden=m["hidden"],
        n_layers=m["n_layers"],
        activation=m["activation"],
        slope=m["slope"],
        decoder=m["decoder"],
        decoder_variance=m["decoder_variance"],
    )


def _train_size(loaded: dict[str, Dataset]) -> int:
    return {int((ds.split == 0).sum()) for ds in loaded.values()}.pop()


def ivae_method(spec: dict[str, Any], loaded: dict[str, Dataset]) -> IVAEMethod:
    train = spec["train"]
    return IVAEMethod(
        ivae_config(spec, loaded),
        dataset_size=_train_size(loaded),
        lr_factor=train["lr_factor"],
        lr_patience=train["lr_patience"],
        pair_tests=PairTests.from_settings(spec.get("nonsens")),
        check_points=train.get("check_points"),  # no schema default: unset means every point
    )


def tcl_method(spec: dict[str, Any], loaded: dict[str, Dataset]) -> TCLMethod:
    """TCL of a chunk spec: the architecture from the data and model sections, its training
    from the experiment's ``tcl`` section (sweeps.chunk_spec passes it to TCL chunks)."""
    first = next(iter(loaded.values()))
    t = spec["tcl"]
    d = first.observations.shape[1]
    return TCLMethod(
        TCLConfig(
            obs_dim=d,
            n_features=spec["model"]["latent_dim"],
            n_segments=_segment_count(spec, loaded),
            hidden=(max(t["hidden_factor"] * d, t.get("min_width", 1)),) * t["maxout_layers"],
            pieces=t["pieces"],
        ),
        head_steps=t["head_steps"],
        decay_steps=t["decay_steps"],
        decay_factor=t["decay_factor"],
        momentum=t["momentum"],
        weight_decay=t["weight_decay"],
        pair_tests=PairTests.from_settings(spec.get("nonsens")),
    )


def tcl_train_config(spec: dict[str, Any], loaded: dict[str, Dataset]) -> TrainConfig:
    """TCL's ``steps`` at its batch size as whole epochs of the data (rounded up), checked
    ``checks`` times (the last epoch always)."""
    t = spec["tcl"]
    steps_per_epoch = math.ceil(_train_size(loaded) / t["batch_size"])
    epochs = max(1, math.ceil(t["steps"] / steps_per_epoch))
    return TrainConfig(
        lr=t["lr"],
        batch_size=t["batch_size"],
        max_epochs=epochs,
        val_every=max(1, epochs // t["checks"]),
        patience=epochs + 1,
    )


def etg_run_settings(spec: dict[str, Any], run: dict[str, Any]) -> dict[str, float]:
    """γ², β and, in a chunk of mixed priors, the index of the run's prior in model.priors."""
    settings = {"gamma2": run["gamma2"], "beta": run["beta"]}
    if spec["model"]["prior"] == sweeps.PER_RUN:
        settings[PRIOR_CODE] = float(spec["model"]["priors"].index(run["variant"]["prior"]))
    return settings


def ivae_run_settings(spec: dict[str, Any], run: dict[str, Any]) -> dict[str, float]:
    """The named model's objective weights, decoder variance (else the model section's) and
    whether it sees whitened observations."""
    named = spec["models"][run["model"]]
    return dict(zip(WEIGHT_KEYS, map(float, named["weights"]), strict=True)) | {
        DECODER_VARIANCE: float(named.get("decoder_variance", spec["model"]["decoder_variance"])),
        WHITEN: float(named.get("whiten", False)),
    }


def _mixing_contrasts(spec: dict[str, Any], ds: Dataset) -> dict[str, float]:
    if ds.mixing_name == sprites.MIXING:  # a renderer, not a mixing function to differentiate
        return {}
    return mixing_contrasts(ds.mixing_name, ds.mixing_params, ds.sources)


def _oracle_tests(spec: dict[str, Any], ds: Dataset) -> dict[str, Any]:
    """NonSENS's tests on a pair dataset's true disturbances (experiments with ``nonsens``)."""
    return pair_tests.oracle(PairTests.from_settings(spec.get("nonsens")), ds)


def flow_method(spec: dict[str, Any], loaded: dict[str, Dataset]) -> FlowMethod:
    """The exact-likelihood flow of a chunk spec: its dimension from the data (a NonSENS joint
    fit: every variable), its architecture and epochs from the experiment's ``flow`` section."""
    first = next(iter(loaded.values()))
    f = spec["flow"]
    model = FlowConfig(
        dim=first.observations.shape[1],
        n_segments=_segment_count(spec, loaded),
        transforms=f["transforms"],
        hidden=tuple(f["hidden"]),
        bins=f["bins"],
    )
    tests = PairTests.from_settings(spec.get("nonsens"))
    return FlowMethod(model, f["restarts"], anneal_epochs=f["epochs"], pair_tests=tests)


def flow_train_config(spec: dict[str, Any], loaded: dict[str, Dataset]) -> TrainConfig:
    """The flow's ``epochs`` at its batch size and rate, checked ``checks`` times."""
    f = spec["flow"]
    return TrainConfig(
        lr=f["lr"],
        batch_size=f["batch_size"],
        max_epochs=f["epochs"],
        val_every=max(1, f["epochs"] // f["checks"]),
        patience=f["epochs"] + 1,
    )


def _segment_data_metrics(spec: dict[str, Any], ds: Dataset) -> dict[str, Any]:
    """What the iVAE family's datasets report: how hard a drawn segment mixing is (its C_IMA,
    its matrices' conditioning), and NonSENS's oracle tests on a pair dataset."""
    if ds.mixing_name in segments.MIXING_NAMES:
        activation = segments.segment_settings(ds.config)["activation"]
        return segment_mixing_properties(
            ds.mixing_params, ds.sources, activation, observations=ds.observations
        )
    return _oracle_tests(spec, ds)


#: The chunk spec's sections beyond data, model and train that a method is built from.
METHOD_SECTIONS = ("tcl", "flow", "nonsens")

#: How each method of the registry plugs into a training job.
METHOD_PLUGINS = {
    "etg_vae": MethodPlugin(etg_vae, etg_run_settings, _mixing_contrasts),
    "ivae": MethodPlugin(ivae_method, ivae_run_settings, _segment_data_metrics),
    "tcl": MethodPlugin(tcl_method, lambda spec, run: {}, _oracle_tests, tcl_train_config),
    "flow": MethodPlugin(flow_method, lambda spec, run: {}, _oracle_tests, flow_train_config),
}


def plugin(spec: dict[str, Any]) -> MethodPlugin:
    """The plug-in of the method a chunk's experiment uses (its registry entry names it), or
    the one its named model picks (an iVAE experiment's ``method: tcl`` models)."""
    return METHOD_PLUGINS[spec["model"].get("method") or registry.get(spec["experiment"]).method]


def method(spec: dict[str, Any], loaded: dict[str, Dataset]) -> Method:
    """The training method of a validated chunk spec and its loaded datasets."""
    return plugin(spec).build(spec, loaded)


def train_config(spec: dict[str, Any], loaded: dict[str, Dataset]) -> TrainConfig:
    return plugin(spec).train_config(spec, loaded)


def write_run(
    run_dir: Path,
    config: dict[str, Any],
    result: RunResult,
    data_metrics: dict[str, float] | None = None,
) -> None:
    """Write one run directory atomically (:func:`identvae.io.atomic_dir`)."""
    with atomic_dir(run_dir) as tmp:
        write_json(tmp / "config.json", config)
        pd.DataFrame(result.history).to_csv(tmp / "history.csv", index=False)
        best = result.best or {}
        write_json(
            tmp / "final.json",
            {
                "run_id": result.spec.run_id,
                "status": result.status,
                "selected_epoch": best.get("epoch"),
                "epochs_trained": result.epochs_trained,
                "stopped_early": result.stopped_early,
                "metrics": {k: v for k, v in best.items() if k != "epoch"},
                # properties of the run's dataset (e.g. its mixing's C_IMA), known whatever the
                # run's status
                "data_metrics": data_metrics or {},
            },
        )
        torch.save(result.state or {}, tmp / "model.pt")


def run_chunk(
    spec: dict[str, Any],
    data_paths: dict[str, str],
    runs_dir: str | Path,
    manifest_path: str | Path,
    device: str = "auto",
    threads: int = 1,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every_s: float = 300.0,
) -> list[RunResult]:
    """Train the chunk's runs together and write their run directories, then the manifest.

    With ``checkpoint``, training resumes from that file if a killed job left one, and the file is
    removed once every run directory and the manifest are written."""
    torch.set_num_threads(threads)
    # NumPy's BLAS too (the NonSENS tests, FastICA): its default thread count oversubscribes
    # the cores a job was given (3-4x slower HSIC tests on a busy 2-core machine)
    threadpool_limits(limits=threads)
    loaded = {data_id: datasets.load(path) for data_id, path in data_paths.items()}
    plug = plugin(spec)
    runs = [
        RunSpec(r["run_id"], r["data_id"], r["model_seed"], plug.run_settings(spec, r), r.get("lr"))
        for r in spec["runs"]
    ]
    dev = resolve_device(device)
    results = train_ensemble(
        plug.build(spec, loaded),
        plug.train_config(spec, loaded),
        runs,
        loaded,
        device=str(dev),
        progress=progress,
        desc=f"{spec['experiment']}/{spec['chunk']} ({len(runs)} runs, {dev})",
        checkpoint=checkpoint,
        checkpoint_every_s=checkpoint_every_s,
    )
    data_metrics = {data_id: plug.data_metrics(spec, ds) for data_id, ds in loaded.items()}
    versions = {"identvae": identvae.__version__, "torch": torch.__version__}
    per_run_keys = sweeps.setting_columns(spec["experiment"], spec["runs"][0])
    for run, run_spec, result in zip(spec["runs"], runs, results, strict=True):
        sections = sweeps.run_sections(spec, run)
        # the prior code only indexes the chunk's priors; the run's prior is in its model section
        settings = {k: v for k, v in run_spec.settings.items() if k != PRIOR_CODE}
        data = sections["data"] | {"seed": run["data_seed"], "path": data_paths[run["data_id"]]}
        config = {
            "experiment": spec["experiment"],
            "run_id": run["run_id"],
            "chunk": spec["chunk"],
            "data": data,
            "model": sections["model"],
            "train": spec["train"] | settings,
            "model_seed": run["model_seed"],
            "data_seed": run["data_seed"],
            # the run's structural sweep values (prior, dim, ...); data and model above include them
            "variant": run.get("variant", {}),
            "device": str(dev),
            "versions": versions,
        }
        # what else the method is built from (TCL's training, NonSENS's tests): a run read
        # back (identvae.latents) rebuilds it from this file alone
        config |= {k: spec[k] for k in METHOD_SECTIONS if k in spec}
        extra = {k: run[k] for k in ("model", "lr", "pair") if k in per_run_keys and k in run}
        if extra:  # iVAE: the named model (its weights are in train) and the run's lr
            config["sweep_values"] = extra
        write_run(Path(runs_dir) / run["run_id"], config, result, data_metrics[run["data_id"]])
    write_json(
        manifest_path,
        {
            "experiment": spec["experiment"],
            "chunk": spec["chunk"],
            "runs": {r.spec.run_id: r.status for r in results},
        },
    )
    if checkpoint:
        remove_artifact(checkpoint)
    return results
