"""Bad config fails at parse time, before any job, with the offending key named."""

import copy

import pytest
import yaml
from helpers import ROOT, run_snakemake
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from identvae.config import ConfigError, check_config

SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")
E1 = "etg_moebius_gamma"


def load(name="config/config.yaml"):
    return yaml.safe_load((ROOT / name).read_text())


def validated(cfg):
    validate(cfg, SCHEMA)
    return cfg


@pytest.mark.parametrize("preset", ["config/config.yaml", "config/presets/paper.yaml"])
def test_shipped_configs_validate(preset):
    cfg = load()
    if preset != "config/config.yaml":  # presets are merged on top of the default
        for name, exp in load(preset)["experiments"].items():
            for key, value in exp.items():
                if isinstance(value, dict):
                    cfg["experiments"][name][key] |= value
                else:
                    cfg["experiments"][name][key] = value
    check_config(validated(cfg))


def test_defaults_are_filled_in():
    cfg = load()
    del cfg["experiments"][E1]["train"]["patience"]
    assert validated(cfg)["experiments"][E1]["train"]["patience"] == 5


def test_no_default_for_the_decoder_variance_so_older_chunk_specs_are_unchanged():
    """A filled-in model.decoder_variance would change every existing training job's params
    and so retrain everything; unset means fixed."""
    model = validated(load())["experiments"][E1]["model"]
    assert "decoder_variance" not in model


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["experiments"][E1]["train"].update(gama2=3.0), "gama2"),
        (lambda c: c["experiments"][E1]["train"].update(lr="fast"), "'fast' is not of type"),
        (lambda c: c["experiments"].update(etg_mobius_gamma={}), "etg_mobius_gamma"),
        (lambda c: c["experiments"][E1]["sweep"].update(gamma2=[1.0e4, -1.0]), "-1.0"),
        (lambda c: c["experiments"][E1]["sweep"].update(model_seed=[]), "model_seed"),
        (lambda c: c["experiments"][E1]["sweep"].update(gamma2=["1e4"]), "'1e4' is not of type"),
        (lambda c: c.update(device="tpu"), "tpu"),
    ],
)
def test_schema_rejects_bad_values_naming_them(mutate, expected):
    cfg = copy.deepcopy(load())
    mutate(cfg)
    with pytest.raises(WorkflowError, match=expected) as err:
        validate(cfg, SCHEMA)
    assert "Failed validating" in str(err.value)


def test_check_config_names_keys_the_schema_cannot_check():
    cfg = validated(load())
    cfg["experiments"][E1]["data"]["split"] = [0.7, 0.2, 0.2]
    with pytest.raises(ConfigError, match=rf"experiments\.{E1}\.data\.split"):
        check_config(cfg)
    cfg = validated(load())
    for exp in cfg["experiments"].values():
        exp["enabled"] = False
    with pytest.raises(ConfigError, match="no experiment is enabled"):
        check_config(cfg)
    cfg = validated(load())
    cfg["experiments"]["etg_gap_ima"]["model"]["latent_dim"] = 2
    with pytest.raises(ConfigError, match=r"experiments\.etg_gap_ima\.model\.latent_dim"):
        check_config(cfg)
    cfg = validated(load())
    cfg["experiments"]["etg_gap_ima"]["model"]["prior"] = "uniform"
    with pytest.raises(ConfigError, match=r"experiments\.etg_gap_ima\.model\.prior"):
        check_config(cfg)


def test_check_config_names_the_sweep_value_of_a_bad_variant():
    """A structural sweep value is checked like the setting it overrides, and the error says
    which sweep value it was."""
    cfg = validated(load())
    cfg["experiments"]["etg_gap_ima"]["sweep"]["prior"] = ["gaussian", "uniform"]
    with pytest.raises(
        ConfigError, match=r"experiments\.etg_gap_ima \(with sweep prior='uniform'\)\.model\.prior"
    ):
        check_config(cfg)
    cfg = validated(load())
    cfg["experiments"]["etg_gap_ima"]["sweep"]["decoder_variance"] = ["learned"]
    with pytest.raises(ConfigError, match=r"decoder_variance = 'learned'"):
        check_config(cfg)


def test_snakemake_refuses_a_typo_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"experiments:\n  {E1}:\n    train:\n      patiense: 3\n")
    proc = run_snakemake(tmp_path, bad, "-n", "--cores", "1")
    assert proc.returncode != 0
    assert "patiense" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def _ivae(mutate):
    cfg = load()
    exp = cfg["experiments"]["ivae_fig2a"]
    mutate(exp)
    return validated(cfg)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda e: e["model"].update(latent_dim=4), "ivae_fig2a.model.latent_dim"),
        (lambda e: e["data"].update(obs_dim=3), "ivae_fig2a.data.n_sources"),
        (lambda e: e["model"].update(decoder="bernoulli"), "ivae_fig2a.model.decoder"),
        (lambda e: e.update(train={"batch_size": 50000}), "ivae_fig2a.train.batch_size"),
        (lambda e: e["data"].update(source="file"), "ivae_fig2a.data.path"),
        (lambda e: e["sweep"].update(model=["ivea"]), "ivea"),
        (lambda e: e["sweep"].update(model=["ivae", "flow"]), "ivae_fig2a.sweep.model"),
    ],
    ids=["latent-dim", "n-above-d", "decoder", "batch", "no-path", "unknown-model", "flow"],
)
def test_bad_ivae_settings_are_refused_naming_the_key(mutate, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("_fig2a", "_fig2a.*")):
        check_config(_ivae(mutate))


def test_an_ivae_typo_fails_schema_validation():
    cfg = load()
    cfg["experiments"]["ivae_fig2a"]["model"]["hiden"] = 10
    with pytest.raises(WorkflowError, match="hiden"):
        validate(cfg, SCHEMA)


def test_a_missing_user_file_is_refused_naming_it(tmp_path):
    missing = tmp_path / "nowhere.npz"
    cfg = _ivae(lambda e: e["data"].update(source="file", path=str(missing)))
    with pytest.raises(ConfigError, match="nowhere.npz"):
        check_config(cfg)
