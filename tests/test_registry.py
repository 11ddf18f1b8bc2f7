"""Every registered experiment's module keeps the contract the workflow scripts rely on:
``EXPERIMENT``, a frozen ``Context`` built by ``context(settings)``, ``table``, each registered
figure's draw and caption functions taking ``(data, ctx)``, and declarative ``CLAIMS``; and the
whole contract runs on the smoke preset's recorded summaries."""

from __future__ import annotations

import dataclasses
import inspect

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml
from helpers import ROOT
from matplotlib.figure import Figure
from snakemake.utils import update_config, validate

from identvae.claims import VERDICTS, Claim, ClaimResult, judge_all
from identvae.experiments import load, registry
from identvae.experiments.inputs import ExperimentData

SCHEMA_PATH = ROOT / "workflow/schemas/config.schema.yaml"
RECORDED = ROOT / "tests/data/before_house/smoke"


def smoke_settings() -> dict[str, dict]:
    """Each experiment's block of the smoke preset, validated with the schema defaults filled
    in, as the workflow passes it to the scripts."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "config/presets/smoke.yaml").read_text()))
    validate(config, str(SCHEMA_PATH))
    return config["experiments"]


SETTINGS = smoke_settings()


def test_the_smoke_preset_runs_every_registered_experiment():
    assert sorted(SETTINGS) == sorted(registry.EXPERIMENTS)


@pytest.mark.parametrize("name", sorted(registry.EXPERIMENTS))
def test_each_experiment_module_has_the_contract(name):
    module = load(name)
    assert module.EXPERIMENT == name
    ctx = module.context(SETTINGS[name])
    assert dataclasses.is_dataclass(ctx) and type(ctx).__dataclass_params__.frozen
    functions = [module.table]
    for entry in registry.get(name).figures:
        functions += [getattr(module, entry.draw), getattr(module, entry.caption)]
    for fn in functions:
        assert list(inspect.signature(fn).parameters) == ["data", "ctx"], fn.__name__
    assert isinstance(module.CLAIMS, tuple) and module.CLAIMS
    assert all(isinstance(c, Claim) and c.experiment == name for c in module.CLAIMS)
    ids = [c.claim_id for c in module.CLAIMS]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", sorted(p.stem for p in RECORDED.glob("*.csv")))
def test_the_contract_runs_on_recorded_summaries(name):
    """On the summaries recorded before the reshaping (an experiment added since has none: the
    smoke run of the workflow tests exercises its contract end to end)."""
    module = load(name)
    ctx = module.context(SETTINGS[name])
    data = ExperimentData.from_paths({"summary": RECORDED / f"{name}.csv"})
    table = module.table(data, ctx)
    assert isinstance(table, pd.DataFrame) and len(table)
    for entry in registry.get(name).figures:
        fig = getattr(module, entry.draw)(data, ctx)
        assert isinstance(fig, Figure)
        plt.close(fig)
        caption = getattr(module, entry.caption)(data, ctx)
        assert caption.startswith(f"{name} ({registry.get(name).spec_section}): ")
    results = judge_all(module.CLAIMS, data, ctx)
    assert [r.claim_id for r in results] == [c.claim_id for c in module.CLAIMS]
    assert all(isinstance(r, ClaimResult) and r.verdict in VERDICTS for r in results)


def test_claim_ids_are_unique_across_experiments():
    ids = [c.claim_id for name in registry.EXPERIMENTS for c in load(name).CLAIMS]
    assert len(set(ids)) == len(ids)


def test_figures_map_back_to_their_experiment():
    for name, figures in registry.FIGURES.items():
        for fig in figures:
            assert registry.figure_experiment(fig) == name
    with pytest.raises(KeyError, match="nope"):
        registry.figure_experiment("nope")


def test_an_unknown_experiment_module_is_named():
    with pytest.raises(KeyError, match="etg_nope"):
        load("etg_nope")
