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
    runs = sweeps.expand_runs("e", EXP)
    assert len(runs) == 6
    assert runs[0]["run_id"] == "gamma2=10_seed=1"
    assert runs[-1]["run_id"] == "gamma2=1e4_seed=3"
    assert {r["data_id"] for r in runs} == {"seed=1"}
    assert all(r["beta"] == 1.0 for r in runs)  # unswept values come from train


def test_chunks_cover_every_run_once():
    chunks = sweeps.chunk_ids("e", EXP)
    assert chunks == ["chunk000", "chunk001"]
    ids = [r["run_id"] for c in chunks for r in sweeps.chunk_runs("e", EXP, c)]
    assert sorted(ids) == sorted(r["run_id"] for r in sweeps.expand_runs("e", EXP))
    spec = sweeps.chunk_spec("e", EXP, "chunk001")
    assert len(spec["runs"]) == 2 and "gamma2" not in spec["train"]


def test_bad_sweeps_name_the_key():
    with pytest.raises(ValueError, match=r"e\.sweep\.model_seed is empty"):
        sweeps.expand_runs("e", EXP | {"sweep": {"model_seed": []}})
    with pytest.raises(ValueError, match="duplicate run ids"):
        sweeps.expand_runs("e", EXP | {"sweep": {"model_seed": [1, 1]}})
    with pytest.raises(ValueError, match="unknown keys"):
        sweeps.expand_runs("e", EXP | {"sweep": {"lr": [1.0]}})
