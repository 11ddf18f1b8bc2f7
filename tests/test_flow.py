"""The exact-likelihood flow (``identvae.methods.flow``): its likelihood is a density (it
integrates to one), and on data with a known answer (segment-modulated sources through an
invertible nonlinear mixing) it recovers the sources, while the same flow trained on shuffled
segment labels (no information about the sources) does not."""

import copy

import numpy as np
import pytest
import torch

from identvae.data.segments import generate_segments
from identvae.methods.flow import FlowConfig, FlowMethod
from identvae.train.ensemble import RunSpec, TrainConfig, train_ensemble

OPTS = {"device": "cpu", "progress": False}


def test_the_likelihood_of_one_segment_integrates_to_one():
    method = FlowMethod(FlowConfig(dim=2, n_segments=3, transforms=2, hidden=(8,)))
    params = method.init_params([torch.Generator().manual_seed(0)], [None], [{}])
    params["log_std"] = params["log_std"] + torch.tensor([0.3, -0.2])  # not the base density
    grid = torch.linspace(-12, 12, 601)
    x = torch.cartesian_prod(grid, grid)[None]  # [1, N, 2]
    _, log_p = method._call(params, x, torch.full((1, len(x[0])), 1))
    mass = float(log_p.exp().sum() * (grid[1] - grid[0]) ** 2)
    assert abs(mass - 1.0) < 0.02, mass


def segment_data(shuffle: bool) -> dict:
    config = {"n_segments": 10, "segment_size": 200, "n_sources": 2, "obs_dim": 2}
    ds = generate_segments(config | {"mixing_layers": 2, "condition_draws": 500}, 3)
    if shuffle:  # the labels no longer say anything about the data
        ds = copy.copy(ds)
        ds.labels = np.random.default_rng(3).permutation(ds.labels)
    return {"seed=3": ds}


def test_the_flow_recovers_segment_modulated_sources_and_shuffled_labels_do_not():
    method = FlowMethod(
        FlowConfig(dim=2, n_segments=10, transforms=2, hidden=(16, 16)),
        restarts=2,
        anneal_epochs=25,
    )
    cfg = TrainConfig(lr=3e-3, batch_size=128, max_epochs=25, val_every=25, patience=10**6)
    runs = [RunSpec("a", "seed=3", 1)]
    (good,) = train_ensemble(method, cfg, runs, segment_data(False), **OPTS)
    (bad,) = train_ensemble(method, cfg, runs, segment_data(True), **OPTS)
    assert good.best["mcc_spearman"] > 0.9, good.best
    assert bad.best["mcc_spearman"] < good.best["mcc_spearman"] - 0.05, (bad.best, good.best)
    # the reported restart is the one of the lowest negative log-likelihood
    restarts = [float(v) for v in good.best["nll_restarts"].split()]
    assert good.best["nll"] == pytest.approx(min(restarts), abs=1e-4)


@pytest.mark.parametrize(("passes", "zeros"), [(None, 6), (2, 8)])
def test_passes_chooses_autoregressive_or_coupling_transforms(passes, zeros):
    """One transform in 4-d: autoregressive, each n̂ column depends on the columns before it in
    the transform's order and itself (6 of 16 Jacobian entries are zero); coupling, the first
    half on itself alone, elementwise, and the second half elementwise on itself given the
    first (8 zeros)."""
    method = FlowMethod(FlowConfig(dim=4, n_segments=2, transforms=1, hidden=(8,), passes=passes))
    params = method.init_params([torch.Generator().manual_seed(0)], [None], [{}])
    u = torch.zeros(1, 1, dtype=torch.long)

    def n_hat(x):
        return method._call(params, x[None, None], u)[0][0, 0, 0]

    jacobian = torch.func.jacrev(n_hat)(torch.randn(4, generator=torch.Generator().manual_seed(1)))
    assert int((jacobian == 0).sum()) == zeros, jacobian


def test_the_checkpoint_fingerprint_names_passes_only_when_set():
    """Flows fitted before ``passes`` existed keep their fingerprint, so they still resume."""
    assert "passes" not in FlowMethod(FlowConfig(dim=2, n_segments=2)).config()["model"]
    coupling = FlowMethod(FlowConfig(dim=2, n_segments=2, passes=2)).config()["model"]
    assert coupling["passes"] == 2
