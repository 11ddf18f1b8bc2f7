"""The workflow, its config and the README agree with the experiment registry: one config block
per registered experiment, no unregistered name accepted, and one README row per experiment."""

import copy
import re

import pytest
import yaml
from helpers import ROOT, workflow_config

from identvae.config import ConfigError, check_config
from identvae.experiments import registry

CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_the_default_config_has_a_block_for_every_registered_experiment():
    assert sorted(CONFIG["experiments"]) == sorted(registry.EXPERIMENTS)


@pytest.mark.parametrize("preset", ["smoke.yaml", "paper.yaml"])
def test_presets_override_registered_experiments_only_and_each_enabled_one(preset):
    """The smoke preset shrinks every experiment and the paper preset scales each to the paper,
    so each needs its override there."""
    path = ROOT / "config/presets" / preset
    named = yaml.safe_load(path.read_text())["experiments"]
    assert set(named) <= set(registry.EXPERIMENTS)
    missing = set(workflow_config(path)) - set(named)
    assert not missing, f"no override in config/presets/{preset} for {sorted(missing)}"


def test_an_unregistered_experiment_is_refused_with_its_name():
    config = copy.deepcopy(CONFIG)
    config["experiments"]["etg_mobius_gamma"] = config["experiments"]["etg_moebius_gamma"]
    with pytest.raises(ConfigError, match="etg_mobius_gamma.*registry"):
        check_config(config)


def _readme_rows() -> dict[str, tuple[str, set[str]]]:
    """The README's experiment table: name -> (spec section, figure names)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Experiments", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        rows[cells[0].strip("`")] = (cells[1], set(re.findall(r"`([^`]+)`", cells[2])))
    return rows


def test_the_readme_lists_every_experiment_with_its_spec_section_and_figures():
    rows = _readme_rows()
    assert sorted(rows) == sorted(registry.EXPERIMENTS)
    for name, (spec, figures) in rows.items():
        exp = registry.get(name)
        assert spec == exp.spec_section, name
        assert figures == set(registry.FIGURES[name]), name


def test_each_figure_reads_the_files_its_entry_declares():
    for name in registry.EXPERIMENTS:
        for fig in registry.FIGURES[name]:
            paths = registry.figure_input_paths(fig)
            assert paths["summary"] == f"results/{name}/summary.csv"


def test_an_unknown_input_kind_is_refused():
    with pytest.raises(ValueError, match="curves"):
        registry.FigureEntry("x", inputs=("summary", "curves"))
    entry = registry.FigureEntry("x", inputs=("summary", "histories", "summary:etg_arflow"))
    assert entry.inputs[-1] == "summary:etg_arflow"


def test_every_registered_method_can_be_built_from_a_chunk_spec():
    from identvae.train.chunk import METHOD_PLUGINS

    assert set(METHOD_PLUGINS) == set(registry.METHODS)
    assert {e.method for e in registry.EXPERIMENTS.values()} <= set(registry.METHODS)
