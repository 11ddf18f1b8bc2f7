"""TCL (time-contrastive learning): its pieces behave as the spec says, its optimiser equals
torch's SGD, its two phases hold, and on data with a known answer TCL + FastICA recovers the
(squared) sources while the same network trained on shuffled labels does not."""

import copy
import json

import numpy as np
import pytest
import torch

from identvae import latents, sweeps
from identvae.data import datasets
from identvae.data.segments import generate_segments
from identvae.io import ArtifactError
from identvae.methods.tcl import TCLMethod
from identvae.models import tcl
from identvae.models.tcl import TCLConfig
from identvae.train import chunk
from identvae.train.ensemble import RunSpec, TrainConfig, train_ensemble
from identvae.train.optim import RowSGD

OPTS = {"device": "cpu", "progress": False}


def test_maxout_takes_the_maximum_of_each_units_pieces():
    h = torch.tensor([[1.0, 5.0, -2.0, -3.0, 0.5, 0.25]])
    assert torch.equal(tcl.maxout(h, 2), torch.tensor([[5.0, -2.0, 0.5]]))
    assert torch.equal(tcl.maxout(h, 3), torch.tensor([[5.0, 0.5]]))


def test_whitening_gives_identity_covariance_and_refuses_a_singular_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0, 0, 0.2]])
    mean, matrix = tcl.whitening(x + 7.0)
    white = (x + 7.0 - mean) @ matrix
    np.testing.assert_allclose(np.cov(white, rowvar=False), np.eye(3), atol=1e-10)
    with pytest.raises(ValueError, match="singular"):
        tcl.whitening(np.c_[x[:, :2], x[:, 0] + x[:, 1]])


def _model(d=3, m=4):
    return TCLConfig(obs_dim=d, n_features=d, n_segments=m, hidden=(2 * d, 2 * d))


def test_features_are_absolute_values_of_the_last_layer_and_follow_the_whitening():
    cfg = _model()
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    xs = [np.random.default_rng(s).standard_normal((100, 3)) * 4 + 1 for s in (1, 2)]
    params = tcl.init_tcl(cfg, gens, xs)
    assert list(params) == tcl.init_param_names(cfg)
    assert params["feat.0.weight"].shape == (2, 3, 12)  # 6 maxout units of 2 pieces
    assert params["feat.2.weight"].shape == (2, 6, 3)  # the feature layer: no pieces
    x = torch.tensor(np.stack(xs), dtype=torch.float32)
    feats = tcl.features(cfg, params, x)
    assert feats.shape == (2, 100, 3) and (feats >= 0).all()
    # by hand for run 0: whiten, maxout, maxout, abs
    p = {k: v[0].double() for k, v in params.items()}
    h = (torch.tensor(xs[0]) - p["white.mean"]) @ p["white.matrix"]
    for i in range(2):
        h = (h @ p[f"feat.{i}.weight"] + p[f"feat.{i}.bias"]).view(100, 6, 2).max(-1).values
    h = (h @ p["feat.2.weight"] + p["feat.2.bias"]).abs()
    torch.testing.assert_close(feats[0].double(), h, rtol=1e-4, atol=1e-5)


def test_row_sgd_equals_torch_sgd_with_momentum_and_weight_decay():
    torch.manual_seed(0)
    w0 = torch.randn(3, 4, 2)
    target = torch.randn(3, 4, 2)
    mine = w0.clone().requires_grad_()
    ref = w0.clone().requires_grad_()
    ours = RowSGD([mine], torch.full((3,), 0.05), momentum=0.9, weight_decay=1e-2)
    theirs = torch.optim.SGD([ref], lr=0.05, momentum=0.9, weight_decay=1e-2)
    for _ in range(6):
        for p, opt in ((mine, ours), (ref, theirs)):
            opt.zero_grad()
            ((p - target) ** 2).sum().backward()
            opt.step()
    torch.testing.assert_close(mine, ref, rtol=1e-6, atol=1e-7)


def test_row_sgd_keeps_rows_apart_freezes_then_decays():
    a = torch.ones(2, 3, requires_grad=True)
    head = torch.ones(2, 3, requires_grad=True)
    opt = RowSGD(
        [a, head],
        torch.tensor([0.1, 0.0]),
        momentum=0.0,
        frozen=[True, False],
        frozen_steps=2,
        decay_steps=2,
        decay_factor=0.5,
    )
    history = []
    for _ in range(6):
        opt.zero_grad()
        (a.sum() + head.sum()).backward()  # every gradient is 1
        opt.step()
        history.append((a[0, 0].item(), head[0, 0].item()))
    # rates per step: 0.1 (frozen phase) x2, then 0.1, 0.1, 0.05, 0.05
    assert history[1] == pytest.approx((1.0, 0.8))  # a fixed in the first phase
    assert history[3] == pytest.approx((0.8, 0.6))
    assert history[5] == pytest.approx((0.7, 0.5))
    assert torch.equal(a[1], torch.ones(3)) and torch.equal(head[1], torch.ones(3))  # lr 0
    assert [opt.rate_factor(t) for t in (1, 2, 3, 4, 5, 7)] == [1, 1, 1, 1, 0.5, 0.25]


def segment_data(layers: int, seeds=(1,), shuffle=False, segments=10) -> dict:
    config = {"n_segments": segments, "segment_size": 200, "n_sources": 3, "obs_dim": 3}
    out = {}
    for s in seeds:
        ds = generate_segments(config | {"mixing_layers": layers, "condition_draws": 500}, s)
        if shuffle:  # the labels no longer say anything about the data
            ds = copy.copy(ds)
            ds.labels = np.random.default_rng(s).permutation(ds.labels)
        out[f"seed={s}"] = ds
    return out


def test_the_head_trains_alone_first_then_everything():
    data = segment_data(1)
    method = TCLMethod(_model(m=10), head_steps=16)  # 2000 points, batch 250: 8 steps/epoch
    run = RunSpec("a", "seed=1", 1)
    start = method.init_params([torch.Generator().manual_seed(0)], [data["seed=1"]], [{}])
    trained = []
    for epochs in (2, 3):
        cfg = TrainConfig(lr=0.05, batch_size=250, max_epochs=epochs, val_every=epochs, patience=9)
        trained.append(train_ensemble(method, cfg, [run], data, **OPTS)[0].state)
    # run_generators(1) draws the initial weights: compare with a fresh init from the same seed
    from identvae.train.ensemble import run_generators

    init = method.init_params([run_generators(1)[0]], [data["seed=1"]], [{}])
    assert set(start) == set(init)
    after_head, after_all = trained
    for name in init:
        moved = not torch.equal(after_head[name], init[name][0])
        assert moved == (name in tcl.HEAD), name  # 16 steps: only the head moved
    assert not torch.equal(after_all["feat.0.weight"], init["feat.0.weight"][0])
    assert torch.equal(after_all["white.matrix"], init["white.matrix"][0])  # never trained


def test_tcl_and_fastica_recover_variance_modulated_sources_through_a_linear_mixing():
    """The known answer: with a linear mixing TCL's features are the sources' squares up to a
    linear map, which FastICA undoes; shuffled labels (no information) must fail."""
    method = TCLMethod(_model(m=20), head_steps=100, decay_steps=10**5)
    # lr 0.05 (the paper's 0.01 needs more steps than a unit test should take): 3200 steps
    cfg = TrainConfig(lr=0.05, batch_size=256, max_epochs=200, val_every=200, patience=10**6)
    runs = [RunSpec(f"r{s}", f"seed={s}", s) for s in (1, 2)]
    real = train_ensemble(method, cfg, runs, segment_data(1, (1, 2), segments=20), **OPTS)
    shuffled = train_ensemble(method, cfg, runs, segment_data(1, (1, 2), True, 20), **OPTS)
    for good, bad in zip(real, shuffled, strict=True):
        assert good.best["mcc_ica"] > 0.85, good.best
        assert good.best["accuracy"] > 0.12  # chance 0.05
        assert bad.best["mcc"] < good.best["mcc"] - 0.25, (bad.best, good.best)


def tcl_experiment() -> dict:
    """An iVAE experiment at test size that sweeps the iVAE and TCL."""
    return {
        "data": {"n_segments": 10, "segment_size": 100, "n_sources": 3, "obs_dim": 3},
        "model": {"latent_dim": 3, "prior": "conditional", "prior_mean": "zero", "hidden": 8,
                  "n_layers": 2, "activation": "xtanh", "slope": 0.1, "decoder": "gaussian",
                  "decoder_variance": 0.1},
        "models": {
            "ivae": {"prior": "conditional", "weights": [100, 1, 0, 10]},
            "tcl": {"method": "tcl"},
        },
        "tcl": {
            "steps": 100, "head_steps": 10, "batch_size": 64, "lr": 0.01, "momentum": 0.9,
            "weight_decay": 1e-4, "decay_steps": 50, "decay_factor": 0.1, "hidden_factor": 2,
            "maxout_layers": 2, "pieces": 2, "checks": 2,
        },
        "train": {"lr": 0.01, "batch_size": 64, "max_epochs": 20, "val_every": 1,
                  "patience": 1000, "lr_factor": 0.1, "lr_patience": 0},
        "sweep": {"model": ["ivae", "tcl"], "model_seed": [1, 2]},
        "runs_per_job": 10,
    }  # fmt: skip


def test_a_tcl_model_of_an_ivae_experiment_gets_its_own_chunks_and_training():
    exp = tcl_experiment()
    ids = sweeps.chunk_ids("ivae_fig3a", exp)
    specs = [sweeps.chunk_spec("ivae_fig3a", exp, c) for c in ids]
    assert len(specs) == 2  # the method is structural: one chunk per method
    ivae_spec, tcl_spec = specs
    assert "tcl" not in ivae_spec and "method" not in ivae_spec["model"]
    assert tcl_spec["model"]["method"] == "tcl" and tcl_spec["tcl"] == exp["tcl"]
    loaded = {"seed=0": generate_segments(exp["data"] | {"condition_draws": 100}, 0)}
    built = chunk.method(tcl_spec, loaded)
    assert isinstance(built, TCLMethod) and built.model.hidden == (6, 6)
    assert built.head_steps == 10 and built.decay_steps == 50
    cfg = chunk.train_config(tcl_spec, loaded)
    # 1000 points at batch 64: 16 steps per epoch, 100 steps -> 7 epochs, checked twice
    assert (cfg.max_epochs, cfg.val_every, cfg.batch_size, cfg.lr) == (7, 3, 64, 0.01)
    assert not isinstance(chunk.method(ivae_spec, loaded), TCLMethod)
    wide = tcl_spec | {"tcl": exp["tcl"] | {"min_width": 16}}
    assert chunk.method(wide, loaded).model.hidden == (16, 16)  # max(2 d, min_width)
    narrow = tcl_spec | {"tcl": exp["tcl"] | {"min_width": 4}}
    assert chunk.method(narrow, loaded).model.hidden == (6, 6)


def test_a_finished_tcl_run_is_read_back_from_its_directory_alone(tmp_path, monkeypatch):
    exp = tcl_experiment()
    exp["tcl"] |= {"steps": 20, "head_steps": 5}
    tcl_spec = sweeps.chunk_spec("ivae_fig3a", exp, sweeps.chunk_ids("ivae_fig3a", exp)[1])
    monkeypatch.chdir(tmp_path)
    data_ids = {run["data_id"] for run in tcl_spec["runs"]}
    paths = {}
    for data_id in data_ids:
        paths[data_id] = f"{data_id}.npz"
        ds = generate_segments(exp["data"] | {"condition_draws": 100}, sweeps.data_seed(data_id))
        datasets.save(ds, paths[data_id])
    chunk.run_chunk(tcl_spec, paths, "runs", "manifest.json", device="cpu", progress=False)
    run_dir = tmp_path / "runs" / tcl_spec["runs"][0]["run_id"]
    run = latents.load_run(run_dir)
    assert isinstance(run.method, TCLMethod) and run.method.head_steps == 5
    _, ds, found = latents.run_latents(run_dir)
    assert found["mean"].shape == (len(ds.observations), exp["model"]["latent_dim"])
    # a run directory written before its config kept the tcl section is refused by name
    config = json.loads((run_dir / "config.json").read_text())
    del config["tcl"]
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="config.json: a TCL run"):
        latents.load_run(run_dir)
