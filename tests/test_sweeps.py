import pytest

from identvae import sweeps

EXP = {
    "data": {"n_samples": 100},
    "model": {"prior": "uniform"},
    "train": {"lr": 1e-3, "gamma2": 1e4, "beta": 1.0},
    "sweep": {"gamma2": [10.0, 1e4], "model_seed": [1, 2, 3], "data_seed": [1]},
    "runs_per_job": 4,
}


def test_format_value_is_readable_and_file_safe():
    assert sweeps.format_value(10000.0) == "1e4"
    assert sweeps.format_value(1e-4) == "1e-4"
    assert sweeps.format_value(10.0) == "10"
    assert sweeps.format_value(0.5) == "0.5"
    assert sweeps.format_value(3) == "3"


def test_runs_are_the_cartesian_product_with_readable_ids():
    runs = sweeps.expand_runs("etg_e", EXP)
    assert len(runs) == 6
    assert runs[0]["run_id"] == "gamma2=10_seed=1"
    assert runs[-1]["run_id"] == "gamma2=1e4_seed=3"
    assert {r["data_id"] for r in runs} == {"seed=1"}
    assert all(r["beta"] == 1.0 for r in runs)  # unswept values come from train


def test_chunks_cover_every_run_once():
    chunks = sweeps.chunk_ids("etg_e", EXP)
    assert chunks == ["chunk000", "chunk001"]
    ids = [r["run_id"] for c in chunks for r in sweeps.chunk_runs("etg_e", EXP, c)]
    assert sorted(ids) == sorted(r["run_id"] for r in sweeps.expand_runs("etg_e", EXP))
    spec = sweeps.chunk_spec("etg_e", EXP, "chunk001")
    assert len(spec["runs"]) == 2 and "gamma2" not in spec["train"]


def test_bad_sweeps_name_the_key():
    with pytest.raises(ValueError, match=r"e\.sweep\.model_seed is empty"):
        sweeps.expand_runs("etg_e", EXP | {"sweep": {"model_seed": []}})
    with pytest.raises(ValueError, match="duplicate run ids"):
        sweeps.expand_runs("etg_e", EXP | {"sweep": {"model_seed": [1, 1]}})
    with pytest.raises(ValueError, match="unknown keys"):
        sweeps.expand_runs("etg_e", EXP | {"sweep": {"lr": [1.0]}})


ABLATION = {
    "data": {"n_samples": 100, "n_sources": 3, "mixing": "moebius"},
    "model": {"prior": "uniform", "latent_dim": 3},
    "train": {"lr": 1e-4, "gamma2": 1e5, "beta": 1.0},
    "sweep": {"prior": ["uniform", "gaussian"], "dim": [2, 5], "model_seed": [1, 2, 3]},
    "runs_per_job": 2,
}


def test_structural_keys_give_each_variant_its_own_chunks_and_settings():
    """The dimension changes the architecture (a chunk per value); the prior is mixable: the runs
    of one dimension share chunks, which list their priors and say prior: per_run."""
    runs = sweeps.expand_runs("etg_e", ABLATION)
    assert len(runs) == 12
    assert runs[0]["run_id"] == "prior=uniform_dim=2_seed=1"
    assert runs[0]["variant"] == {"prior": "uniform", "dim": 2}
    chunks = sweeps.chunk_ids("etg_e", ABLATION)
    assert len(chunks) == 6  # 2 dimensions of 6 runs, cut into chunks of at most 2
    seen, priors_of_chunks = [], []
    for chunk in chunks:
        spec = sweeps.chunk_spec("etg_e", ABLATION, chunk)
        dims = {r["variant"]["dim"] for r in spec["runs"]}
        assert len(dims) == 1, "a chunk mixes architectures"
        assert spec["model"]["latent_dim"] == spec["data"]["n_sources"] == dims.pop()
        priors = list(dict.fromkeys(r["variant"]["prior"] for r in spec["runs"]))
        if len(priors) == 1:  # a plain chunk: its prior is the model's, as before
            assert spec["model"]["prior"] == priors[0] and "priors" not in spec["model"]
        else:
            assert spec["model"]["prior"] == sweeps.PER_RUN
            assert spec["model"]["priors"] == priors
        priors_of_chunks.append(priors)
        for run in spec["runs"]:  # each run's config gets its own prior back
            assert sweeps.run_sections(spec, run)["model"]["prior"] == run["variant"]["prior"]
            assert "priors" not in sweeps.run_sections(spec, run)["model"]
        seen += [r["run_id"] for r in spec["runs"]]
    assert ["uniform", "gaussian"] in priors_of_chunks  # seed 3's pair shares a chunk
    assert sorted(seen) == sorted(r["run_id"] for r in runs)
    assert ABLATION["model"] == {"prior": "uniform", "latent_dim": 3}  # not modified in place


def test_only_the_papers_mixable_keys_share_chunks():
    """The iVAE's prior comes from its named model and stays structural; the decoder-variance
    mode of EtG changes the method, so each mode keeps its own chunks."""
    modes = ABLATION | {"sweep": {"decoder_variance": ["learned", "mle"], "model_seed": [1, 2]}}
    specs = [sweeps.chunk_spec("etg_e", modes, c) for c in sweeps.chunk_ids("etg_e", modes)]
    assert [s["model"]["decoder_variance"] for s in specs] == ["learned", "mle"]
    assert sweeps.PAPER_SWEEPS["ivae"].mixable == ()


def test_a_dimension_sweep_names_its_datasets_and_their_settings():
    assert sweeps.data_ids("etg_e", ABLATION) == ["dim=2_seed=0", "dim=5_seed=0"]
    assert sweeps.data_seed("dim=5_seed=7") == 7 and sweeps.data_seed("seed=7") == 7
    assert sweeps.data_config("etg_e", ABLATION, "dim=5_seed=0")["n_sources"] == 5
    with pytest.raises(KeyError, match="dim=4_seed=0"):
        sweeps.data_config("etg_e", ABLATION, "dim=4_seed=0")
    # the prior does not change the data, so it is not part of the data id
    only_prior = ABLATION | {"sweep": {"prior": ["uniform", "gaussian"], "model_seed": [1]}}
    assert sweeps.data_ids("etg_e", only_prior) == ["seed=0"]


def test_sweeps_without_structural_keys_keep_their_chunk_specs():
    """Existing experiments' chunk specs (their Snakemake params) do not change."""
    spec = sweeps.chunk_spec("etg_e", EXP, "chunk000")
    assert all("variant" not in r for r in spec["runs"])
    assert spec["data"] == EXP["data"] and spec["model"] == EXP["model"]
    assert sweeps.variants("etg_e", EXP) == [({}, EXP)]


def test_structural_values_are_read_back_from_settings_swept_or_not():
    settings = sweeps.apply_variant(ABLATION, {"prior": "laplace", "dim": 5})
    assert sweeps.structural_values("etg_e", settings) == {
        "prior": "laplace",
        "dim": 5,
        "decoder_variance": "fixed",  # unset means fixed
    }
    assert sweeps.structural_values("etg_e", ABLATION)["dim"] == 3


IVAE = {
    "data": {"n_segments": 10, "segment_size": 20, "n_sources": 3, "obs_dim": 3},
    "model": {"latent_dim": 3, "prior": "conditional", "hidden": 100, "n_layers": 3},
    "train": {"lr": 1e-2},
    "models": {
        "ivae": {"prior": "conditional", "weights": [100, 1, 0, 10]},
        "ivae_elbo": {"prior": "conditional", "weights": [1, 1, 1, 1]},
        "vae": {"prior": "standard", "weights": [1000, 1, 1, 1]},
    },
    "sweep": {"model": ["ivae", "vae", "ivae_elbo"], "lr": [1e-2, 1e-3], "model_seed": [1]},
    "runs_per_job": 10,
}


def test_ivae_models_that_share_a_prior_share_a_chunk_with_their_weights_and_rates():
    chunks = sweeps.chunk_ids("ivae_x", IVAE)
    assert len(chunks) == 2  # conditional (ivae, ivae_elbo) and standard (vae)
    specs = [sweeps.chunk_spec("ivae_x", IVAE, c) for c in chunks]
    by_prior = {s["model"]["prior"]: s for s in specs}
    conditional = by_prior["conditional"]
    assert {r["model"] for r in conditional["runs"]} == {"ivae", "ivae_elbo"}
    assert {r["lr"] for r in conditional["runs"]} == {1e-2, 1e-3}
    assert set(conditional["models"]) == {"ivae", "ivae_elbo"}  # only the chunk's models
    assert {r["model"] for r in by_prior["standard"]["runs"]} == {"vae"}
    assert conditional["runs"][0]["run_id"] == "model=ivae_lr=0.01"
    assert "gamma2" not in conditional["runs"][0]


def test_an_ivae_sweep_names_a_model_the_experiment_has():
    bad = IVAE | {"sweep": {"model": ["ivea"]}}
    with pytest.raises(ValueError, match=r"'ivea' is not one of the experiment's models"):
        sweeps.expand_runs("ivae_x", bad)
    with pytest.raises(ValueError, match="unknown keys"):
        sweeps.expand_runs("ivae_x", IVAE | {"sweep": {"model": ["ivae"], "gamma2": [1.0]}})


def test_ivae_structural_keys_change_the_architecture_per_chunk():
    grid = IVAE | {"sweep": {"model": ["ivae"], "hidden": [50, 200], "layers": [3, 4]}}
    specs = [sweeps.chunk_spec("ivae_x", grid, c) for c in sweeps.chunk_ids("ivae_x", grid)]
    assert sorted((s["model"]["hidden"], s["model"]["n_layers"]) for s in specs) == [
        (50, 3),
        (50, 4),
        (200, 3),
        (200, 4),
    ]
    settings = sweeps.apply_variant(grid, {"hidden": 50, "layers": 4, "prior": "standard"})
    assert sweeps.structural_values("ivae_x", settings) == {
        "prior": "standard",
        "dim": 3,
        "hidden": 50,
        "layers": 4,
        "segments": grid["data"]["n_segments"],
    }


NONSENS = {
    "data": {"source": "hippo6", "n_segments": 5, "segment_size": 60},
    "model": {"latent_dim": 2},
    "models": {
        "ivae": {"prior": "conditional", "weights": [1, 1, 1, 1]},
        "flow": {"method": "flow"},
    },
    "train": {"lr": 1e-3},
    "tcl": {"steps": 10},
    "flow": {"epochs": 3, "restarts": 2},
    "nonsens": {"alpha": 0.05},
    "sweep": {"model": ["ivae", "flow"], "pair": ["0-1", "0-2", "1-2"], "data_seed": [1, 2]},
    "runs_per_job": 10,
}  # fmt: skip


def test_a_joint_method_gets_one_run_per_seed_for_all_pairs_each_in_a_chunk_of_its_own():
    runs = sweeps.expand_runs("ivae_nonsens", NONSENS)
    flow = [r for r in runs if r["model"] == "flow"]
    assert [r["run_id"] for r in flow] == [
        "model=flow_pair=joint_dseed=1",
        "model=flow_pair=joint_dseed=2",
    ]
    assert [r["data_id"] for r in flow] == ["pair=joint_seed=1", "pair=joint_seed=2"]
    assert sum(r["model"] == "ivae" for r in runs) == 6  # 3 pairs x 2 data seeds
    assert sweeps.data_config("ivae_nonsens", NONSENS, "pair=joint_seed=1")["pair"] == "joint"
    chunks = [
        sweeps.chunk_runs("ivae_nonsens", NONSENS, c)
        for c in sweeps.chunk_ids("ivae_nonsens", NONSENS)
    ]
    # the 6 pair fits share a chunk (runs_per_job 10); each seed's joint fit is a job of its own
    assert [[r["run_id"] for r in c] for c in chunks][1:] == [
        ["model=flow_pair=joint_dseed=1"],
        ["model=flow_pair=joint_dseed=2"],
    ]
    assert [{r["model"] for r in c} for c in chunks][0] == {"ivae"}
    for chunk in ("chunk001", "chunk002"):
        spec = sweeps.chunk_spec("ivae_nonsens", NONSENS, chunk)
        assert spec["model"]["method"] == "flow" and spec["flow"] == NONSENS["flow"]
    assert "flow" not in sweeps.chunk_spec("ivae_nonsens", NONSENS, "chunk000")
