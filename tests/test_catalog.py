"""The parse-time catalog of figures agrees with the experiment modules, and every experiment the
config schema knows has a module with the full contract."""

import pytest
import yaml
from helpers import ROOT

from identvae.experiments import catalog, load

SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
SCHEMA_EXPERIMENTS = sorted(SCHEMA["properties"]["experiments"]["properties"])


def test_the_schema_and_the_catalog_name_the_same_experiments():
    assert SCHEMA_EXPERIMENTS == sorted(catalog.FIGURES)


@pytest.mark.parametrize("name", SCHEMA_EXPERIMENTS)
def test_each_experiment_module_has_the_contract(name):
    module = load(name)
    assert module.EXPERIMENT == name
    assert set(module.FIGURES) == set(catalog.FIGURES[name])
    for draw, describe in module.FIGURES.values():
        assert callable(draw) and callable(describe)
    for attr in ("table", "extras", "claims"):
        assert callable(getattr(module, attr)), attr


def test_figures_map_back_to_their_experiment():
    for name, figures in catalog.FIGURES.items():
        for fig in figures:
            assert catalog.figure_experiment(fig) == name
    with pytest.raises(KeyError, match="nope"):
        catalog.figure_experiment("nope")


def test_an_unknown_experiment_module_is_named():
    with pytest.raises(KeyError, match="etg_nope"):
        load("etg_nope")
