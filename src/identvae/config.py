"""Checks of the validated config that a JSON schema cannot express, run at parse time so that a
bad value fails before any job starts, with the key named."""

from __future__ import annotations

import math
from typing import Any

from identvae import sweeps
from identvae.experiments import registry


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key."""


def check_config(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the enabled experiments after checking each of them."""
    experiments = config.get("experiments") or {}
    unknown = sorted(set(experiments) - set(registry.EXPERIMENTS))
    if unknown:
        raise ConfigError(
            f"config: unknown experiment(s) {unknown} under 'experiments'; known: "
            f"{sorted(registry.EXPERIMENTS)} (src/identvae/experiments/registry.py)"
        )
    enabled = {name: exp for name, exp in experiments.items() if exp.get("enabled", True)}
    if not enabled:
        raise ConfigError("config: no experiment is enabled under 'experiments'")
    for name, exp in enabled.items():
        if name.startswith("ivae_"):
            _resolve_pairs(f"experiments.{name}", exp)
        try:
            settings = sweeps.variants(name, exp)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        for variant, variant_settings in settings:
            where = f"experiments.{name}"
            shown = {k: v for k, v in variant.items() if k in exp["sweep"]}  # not derived ones
            if shown:
                swept = ", ".join(f"{k}={v!r}" for k, v in shown.items())
                where += f" (with sweep {swept})"
            if name.startswith("ivae_"):
                _check_ivae_experiment(where, variant_settings)
            else:
                _check_experiment(where, variant_settings)
    return enabled


def _causal_info(where: str, data: dict[str, Any]) -> dict[str, Any]:
    """The variables and points of an experiment's causal data (NonSENS): the hippo6 SEM's
    settings checked, or the user's causal file read and checked, naming the key."""
    from identvae.data import sem
    from identvae.io import ArtifactError

    if data["source"] == "hippo6":
        try:
            settings = sem.sem_settings(data)
        except ValueError as err:
            raise ConfigError(f"{where}.data: {err}") from None
        points = settings["n_segments"] * settings["segment_size"]
        return {"n_variables": len(sem.HIPPO6_NODES), "n_points": points}
    if "path" not in data:
        raise ConfigError(f"{where}.data.path: source 'causal_file' needs the path of a CSV or NPZ")
    try:
        return sem.check_causal_file(data["path"], data.get("edges"))
    except (ArtifactError, ValueError) as err:
        key = "edges" if "edge list" in str(err) else "path"
        raise ConfigError(f"{where}.data.{key}: {err}") from None


def _resolve_pairs(where: str, exp: dict[str, Any]) -> None:
    """``sweep.pair: all`` becomes every pair of the causal data's variables (in place), and a
    named pair must exist; NonSENS experiments (causal data) must sweep pairs and have tests."""
    from identvae.data import sem

    causal = exp["data"]["source"] in sem.SOURCES
    swept = "pair" in exp["sweep"]
    if causal != swept:
        raise ConfigError(
            f"{where}: data.source = {exp['data']['source']!r} with"
            f"{'out' if causal else ''} sweep.pair; causal data (hippo6, causal_file) are fitted "
            "one pair of variables at a time (sweep pair), and only they are"
        )
    if not causal:
        return
    if "nonsens" not in exp:
        raise ConfigError(f"{where}.nonsens: a NonSENS experiment needs its tests' settings")
    n_variables = _causal_info(where, exp["data"])["n_variables"]
    pairs = exp["sweep"]["pair"]
    if pairs == "all":
        exp["sweep"]["pair"] = sem.all_pairs(n_variables)
        return
    for pair in pairs:
        try:
            i, j = sem.parse_pair(pair)
        except ValueError as err:
            raise ConfigError(f"{where}.sweep.pair: {err}") from None
        if j >= n_variables:
            raise ConfigError(
                f"{where}.sweep.pair: {pair!r} names variable {j}, but the data have "
                f"{n_variables} (indices 0..{n_variables - 1})"
            )


def _check_ivae_experiment(where: str, exp: dict[str, Any]) -> None:
    """One iVAE experiment's settings (one variant of them). A user's data file is read and
    checked here, when the workflow is parsed, so a bad file stops it before any job."""
    data, model = exp["data"], exp["model"]
    if model.get("method") == "flow" and "pair" not in exp["sweep"]:
        raise ConfigError(
            f"{where}.sweep.model: a {{method: flow}} model fits causal data for NonSENS (every "
            "variable at once); this experiment has no causal data (sweep pair)"
        )
    if "pair" in exp["sweep"]:
        if model["latent_dim"] != 2:
            raise ConfigError(
                f"{where}.model.latent_dim = {model['latent_dim']}: a NonSENS fit recovers the "
                "two disturbances of one pair of variables (set 2)"
            )
        n_points = _causal_info(where, data)["n_points"]
    elif data["source"] == "file":
        from identvae.data.segments import check_user_file
        from identvae.io import ArtifactError

        if "path" not in data:
            raise ConfigError(f"{where}.data.path: source 'file' needs the path of an NPZ file")
        learned = model["prior_mean"] == "learned"
        try:
            info = check_user_file(
                data["path"], latent_dim=model["latent_dim"], learned_prior_mean=learned
            )
        except (ArtifactError, ValueError) as err:
            raise ConfigError(f"{where}.data.path: {err}") from None
        n_points = info["n_samples"]
    else:
        if model["latent_dim"] != data["n_sources"]:
            raise ConfigError(
                f"{where}.model.latent_dim = {model['latent_dim']} must equal data.n_sources = "
                f"{data['n_sources']} (sweep dim sets both)"
            )
        if data["n_sources"] > data["obs_dim"]:
            raise ConfigError(
                f"{where}.data.n_sources = {data['n_sources']} exceeds data.obs_dim = "
                f"{data['obs_dim']}: the mixing must be injective (n <= d)"
            )
        binary = data["observation"] == "bernoulli"
        if binary != (model["decoder"] == "bernoulli"):
            raise ConfigError(
                f"{where}.model.decoder = {model['decoder']!r} does not fit "
                f"data.observation = {data['observation']!r} (bernoulli data need the "
                "bernoulli decoder, continuous data the gaussian one)"
            )
        n_points = data["n_segments"] * data["segment_size"]
    if model["decoder"] == "bernoulli":
        models = exp.get("models", {})
        whitened = [m for m in exp["sweep"]["model"] if models.get(m, {}).get("whiten")]
        if whitened:
            raise ConfigError(
                f"{where}.models.{whitened[0]}.whiten: whitening is for continuous observations "
                "(a Gaussian decoder); binary ones are modelled as they are"
            )
    section = model.get("method") if model.get("method") in ("tcl", "flow") else "train"
    if exp[section]["batch_size"] > n_points:
        raise ConfigError(
            f"{where}.{section}.batch_size = {exp[section]['batch_size']} exceeds the "
            f"{n_points} points of the data"
        )


def _check_experiment(where: str, exp: dict[str, Any]) -> None:
    """One experiment's settings (one variant of them, when the sweep has structural keys)."""
    split = exp["data"]["split"]
    if not math.isclose(sum(split), 1.0, abs_tol=1e-6):
        raise ConfigError(f"{where}.data.split must sum to 1, got {split} (sum {sum(split)})")
    if exp["data"]["n_samples"] * split[1] < exp["train"]["metric_batch_size"]:
        raise ConfigError(
            f"{where}.data.n_samples = {exp['data']['n_samples']} leaves fewer validation "
            f"samples than one metric batch ({exp['train']['metric_batch_size']})"
        )
    model = exp["model"]
    if model.get("decoder") == "true_mixing":
        if model["prior"] not in ("gaussian", "laplace"):
            raise ConfigError(
                f"{where}.model.prior = {model['prior']!r}: a decoder fixed to the true "
                "mixing takes latents on the real line (gaussian or laplace prior)"
            )
        if model["latent_dim"] != exp["data"]["n_sources"]:
            raise ConfigError(
                f"{where}.model.latent_dim = {model['latent_dim']} must equal "
                f"data.n_sources = {exp['data']['n_sources']} when the decoder is the true "
                "mixing"
            )
        if model.get("decoder_variance", "fixed") != "fixed":
            raise ConfigError(
                f"{where}.model.decoder_variance = {model['decoder_variance']!r}: a decoder "
                "fixed to the true mixing is evaluated at its swept γ², so the decoder "
                "variance must be 'fixed'"
            )
    _check_images(where, exp)


#: Sprites images have four factors (x, y, scale, hue), each drawn from its own Beta.
SPRITES_FACTORS = 4


def _check_images(where: str, exp: dict[str, Any]) -> None:
    """Sprites data (E5) and the conv network go together, with a resolution and 4 factors."""
    data, model, train = exp["data"], exp["model"], exp["train"]
    sprites = data["mixing"] == "sprites"
    conv = model.get("network", "mlp") == "conv"
    if sprites != conv:
        raise ConfigError(
            f"{where}: data.mixing = {data['mixing']!r} with model.network = "
            f"{model.get('network', 'mlp')!r}; Sprites images need network 'conv' and the conv "
            "network needs Sprites images"
        )
    if sprites != (data["sources"] == "beta"):
        raise ConfigError(
            f"{where}.data.sources = {data['sources']!r}: Sprites data (mixing 'sprites') have "
            "sources 'beta' (a Beta per factor), and only they do"
        )
    if sprites != ("resolution" in data):
        need = "needs a resolution (the image side in pixels)" if sprites else "takes none"
        raise ConfigError(f"{where}.data.resolution: mixing {data['mixing']!r} {need}")
    if not sprites:
        return
    for key in ("n_sources", "latent_dim"):
        section = data if key == "n_sources" else model
        if section[key] != SPRITES_FACTORS:
            raise ConfigError(
                f"{where}.{'data' if section is data else 'model'}.{key} = {section[key]}: "
                f"Sprites images have {SPRITES_FACTORS} factors (x, y, scale, hue)"
            )
    if model.get("decoder") == "true_mixing":
        raise ConfigError(f"{where}.model.decoder: the conv network learns its decoder ('mlp')")
    points = train.get("check_points")
    n_val = math.floor(data["n_samples"] * data["split"][1])
    if points is not None and points > n_val:
        raise ConfigError(
            f"{where}.train.check_points = {points} is more than the {n_val} validation images "
            f"(data.n_samples x data.split[1])"
        )
