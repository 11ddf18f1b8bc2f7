"""The reshaped house gives the numbers the code gave before it: every summary of the smoke
preset, and the quick preset's E1, equal the summaries recorded by the old code
(tests/data/before_house, see its README), every column but the wall time.

The old code differentiated by autograd, so these runs take ``train.gradients: autograd``; the
default hand-written gradient equals it to float32 round-off (tests/test_vae_grad.py), not
bitwise, and the runs it trains are not those recorded."""

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import ROOT, run_snakemake

from identvae.experiments import registry

BEFORE = ROOT / "tests/data/before_house"
E1 = "etg_moebius_gamma"
pytestmark = pytest.mark.workflow


#: Experiments compared more loosely than float64 round-off, and why.
RTOL = {
    # Its priors now share ensembles (one per dimension, not one per prior): a run trained with
    # others equals it trained alone to float32 round-off (tests/test_ensemble.py), here 1e-8.
    "etg_prior_ablation": 1e-6,
}


def by_autograd(experiments) -> dict:
    """A config layer that trains the VAE experiments among ``experiments`` by autograd."""
    names = [n for n in experiments if registry.get(n).method == "etg_vae"]
    return {"experiments": {n: {"train": {"gradients": "autograd"}} for n in names}}


@pytest.fixture(scope="module")
def smoke_by_autograd(tmp_path_factory):
    """The smoke preset's results/ of the recorded experiments, every VAE trained by autograd
    as the old code was (the experiments added since are off)."""
    workdir = tmp_path_factory.mktemp("smoke_autograd")
    smoke = yaml.safe_load((ROOT / "config/presets/smoke.yaml").read_text())
    recorded = {p.stem for p in (BEFORE / "smoke").glob("*.csv")}
    layer_config = by_autograd(recorded)
    for name in set(smoke["experiments"]) - recorded:
        layer_config["experiments"][name] = {"enabled": False}
    layer = workdir / "autograd.yaml"
    layer.write_text(yaml.safe_dump(layer_config))
    proc = run_snakemake(workdir, ROOT / "config/presets/smoke.yaml", str(layer), "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir / "results"


def assert_same_summary(
    new: pd.DataFrame, old: pd.DataFrame, where: str, rtol: float = 1e-12
) -> None:
    """Same runs, same columns, same values (exactly for text, to ``rtol``, by default float64
    round-off, for numbers); ``wall_time_s`` is the one column allowed to differ."""
    new, old = (t.sort_values("run_id", ignore_index=True) for t in (new, old))
    missing = sorted(set(old.columns) - set(new.columns))
    assert not missing, f"{where}: columns gone: {missing}"
    assert new["run_id"].tolist() == old["run_id"].tolist(), where
    for column in old.columns:
        if column == "wall_time_s":
            continue
        a, b = new[column], old[column]
        if pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(a):
            np.testing.assert_allclose(
                a.to_numpy(float),
                b.to_numpy(float),
                rtol=rtol,
                atol=0,
                err_msg=f"{where}.{column}",
            )
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), f"{where}.{column}"


@pytest.mark.parametrize("path", sorted((BEFORE / "smoke").glob("*.csv")), ids=lambda p: p.stem)
def test_the_smoke_preset_gives_the_recorded_summaries(smoke_by_autograd, path):
    new = pd.read_csv(smoke_by_autograd / path.stem / "summary.csv")
    rtol = RTOL.get(path.stem, 1e-12)
    assert_same_summary(new, pd.read_csv(path), f"smoke {path.stem}", rtol)


def test_the_quick_preset_e1_gives_the_recorded_summary(tmp_path):
    """About 2.5 minutes on 2 cores: the quick preset's 25 E1 runs, every other experiment off."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    only_e1 = {"experiments": {n: {"enabled": False} for n in config["experiments"] if n != E1}}
    only_e1["experiments"][E1] = by_autograd([E1])["experiments"][E1]
    (tmp_path / "e1only.yaml").write_text(yaml.safe_dump(only_e1))
    proc = run_snakemake(
        tmp_path, tmp_path / "e1only.yaml", "--cores", "2", f"results/{E1}/summary.csv"
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    new = pd.read_csv(tmp_path / "results" / E1 / "summary.csv")
    assert_same_summary(new, pd.read_csv(BEFORE / "quick" / f"{E1}.csv"), "quick E1")


def test_the_comparison_catches_a_changed_metric():
    old = pd.read_csv(BEFORE / "quick" / f"{E1}.csv")
    new = old.copy()
    new.loc[3, "mcc_batch"] += 1e-9
    with pytest.raises(AssertionError, match="mcc_batch"):
        assert_same_summary(new, old, "quick E1")
    assert_same_summary(old.assign(wall_time_s=0.0), old, "quick E1")
