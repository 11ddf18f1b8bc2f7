"""Nonstationary SEM data for NonSENS: the hippo6 simulation (z-scoring, segment scales of the
disturbances, monotone and additive mechanisms, seeds, the extra edge), user files (CSV, NPZ,
edge lists, every refusal), the pair helpers and the pair Dataset."""

import csv
import re
import subprocess
import sys

import numpy as np
import pytest

from identvae.data import datasets
from identvae.data.sem import (
    EXTRA_EDGE,
    HIPPO6_EDGES,
    HIPPO6_NODES,
    PAIR_PATTERN,
    PHI_NAMES,
    CausalData,
    all_pairs,
    causal_data,
    check_causal_file,
    draw_disturbances,
    draw_hippo6,
    draw_mechanisms,
    format_pair,
    node_value,
    pair_dataset,
    parse_pair,
    read_causal_file,
    sem_settings,
    simulate_hippo6,
)
from identvae.io import ArtifactError

SMALL = {"source": "hippo6", "n_segments": 10, "segment_size": 300}
D = len(HIPPO6_NODES)


# --- written out here, independently of the module ---------------------------------------------


def lrelu(x):
    return np.maximum(x, 0.2 * x)


PHI = {
    "tanh": np.tanh,
    "lrelu": lrelu,
    "swish": lambda x: x / (1 + np.exp(-x)),
}


def parent_sum(mech, j, x):
    """pre_j = sum_p w_jp phi_jp(x_p) over the true parents of j (those of mech.edges)."""
    pre = np.zeros(len(x))
    for p, child in mech.edges:
        if child == j:
            pre += mech.weights[j, p] * PHI[PHI_NAMES[mech.phis[j, p]]](x[:, p])
    return pre


def standardise(x):
    return (x - x.mean(0)) / x.std(0)


# --- the simulation ----------------------------------------------------------------------------


def test_shapes_and_z_scoring_over_all_points():
    data = simulate_hippo6(SMALL, 0)
    assert data.x.shape == (3000, D) and data.x.dtype == np.float64
    assert data.disturbances.shape == (3000, D) and data.disturbances.dtype == np.float64
    assert data.segments.dtype == np.int64
    np.testing.assert_array_equal(data.segments, np.repeat(np.arange(10), 300))
    assert data.names == HIPPO6_NODES and data.edges == HIPPO6_EDGES
    np.testing.assert_allclose(data.x.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(data.x.std(0), 1, atol=1e-12)
    # z-scored over all points, not per segment: the segments keep their own scales
    per_segment = np.array([data.x[data.segments == k].std(0) for k in range(10)])
    assert (per_segment.max(0) / per_segment.min(0) > 1.5).all()


def test_x_is_the_z_scored_sem_of_the_true_disturbances():
    draw = draw_hippo6(SMALL, 1)
    data = simulate_hippo6(SMALL, 1)
    np.testing.assert_array_equal(data.disturbances, draw.disturbances)
    np.testing.assert_allclose(data.x, standardise(draw.x_raw), atol=1e-12)
    mech = draw.mechanisms
    for j in range(D):  # non-additive: x_j = lrelu(c_j lrelu(n_j + pre_j) + pre_j)
        pre = parent_sum(mech, j, draw.x_raw)
        expected = lrelu(mech.scales[j] * lrelu(draw.disturbances[:, j] + pre) + pre)
        np.testing.assert_allclose(draw.x_raw[:, j], expected, atol=1e-12)


def test_disturbances_follow_their_segment_stds():
    draw = draw_hippo6(SMALL | {"segment_size": 500}, 2)
    assert draw.sigmas.shape == (10, D)
    assert (draw.sigmas >= 0.5).all() and (draw.sigmas <= 3.0).all()
    assert draw.sigmas.max() - draw.sigmas.min() > 1.5
    eps = draw.disturbances / draw.sigmas[draw.segments]
    per_segment = np.array([eps[draw.segments == k].std(0) for k in range(10)])
    np.testing.assert_allclose(per_segment, 1.0, atol=0.25)
    np.testing.assert_allclose(eps.std(0), 1.0, atol=0.05)
    np.testing.assert_allclose(eps.mean(0), 0.0, atol=0.05)


@pytest.mark.parametrize(("noise", "low", "high"), [("laplace", 2.0, 4.5), ("gaussian", -0.4, 0.4)])
def test_the_noise_kind_sets_the_tails(noise, low, high):
    draw = draw_hippo6(SMALL | {"segment_size": 1000, "noise": noise}, 3)
    eps = (draw.disturbances / draw.sigmas[draw.segments]).ravel()
    excess_kurtosis = np.mean(eps**4) / np.mean(eps**2) ** 2 - 3  # Laplace 3, Gaussian 0
    assert low < excess_kurtosis < high


def test_mechanism_parameters_lie_in_their_ranges():
    signs, phis = set(), set()
    for seed in range(6):
        mech = draw_hippo6(SMALL, seed).mechanisms
        on_edge = np.zeros((D, D), dtype=bool)
        for p, j in HIPPO6_EDGES:
            on_edge[j, p] = True
        w = mech.weights[on_edge]
        assert ((np.abs(w) >= 0.5) & (np.abs(w) <= 1.5)).all()
        assert (mech.weights[~on_edge] == 0).all() and (mech.phis[~on_edge] == -1).all()
        assert ((mech.scales >= 0.5) & (mech.scales <= 2.0)).all()
        signs |= set(np.sign(w).tolist())
        phis |= set(mech.phis[on_edge].tolist())
    assert signs == {-1.0, 1.0} and phis == {0, 1, 2}


@pytest.mark.parametrize("mechanism", ["nonadditive", "additive"])
def test_each_node_is_strictly_increasing_in_its_disturbance(mechanism):
    grid = np.linspace(-12, 12, 2001)
    rng = np.random.default_rng(0)
    for seed in range(4):
        mech = draw_hippo6(SMALL | {"mechanism": mechanism}, seed).mechanisms
        for j in range(D):
            for _ in range(5):  # parents fixed at random values
                x = np.tile(rng.normal(0, 3, size=D), (len(grid), 1))
                assert (np.diff(node_value(mech, j, grid, x)) > 0).all(), (seed, j)


def test_a_root_depends_only_on_its_disturbance():
    draw = draw_hippo6(SMALL, 4)
    mech, n = draw.mechanisms, draw.disturbances
    rng = np.random.default_rng(1)
    others = rng.normal(0, 3, size=(len(n), D))
    for root in (0, 1):
        np.testing.assert_array_equal(
            node_value(mech, root, n[:, root], others),
            node_value(mech, root, n[:, root], np.zeros_like(others)),
        )
        np.testing.assert_array_equal(
            draw.x_raw[:, root], node_value(mech, root, n[:, root], others)
        )
    # and a child does depend on its parents (the check above can fail)
    changed = node_value(mech, 2, n[:, 2], others) - node_value(mech, 2, n[:, 2], 0 * others)
    assert np.abs(changed).max() > 0.1


def test_the_additive_residual_is_the_disturbance():
    draw = draw_hippo6(SMALL | {"mechanism": "additive"}, 5)
    for j in range(D):
        residual = draw.x_raw[:, j] - parent_sum(draw.mechanisms, j, draw.x_raw)
        np.testing.assert_allclose(residual, draw.disturbances[:, j], atol=1e-12)


def test_the_mechanisms_and_the_noise_have_their_own_spawned_streams():
    """The stream layout is part of the data's definition: stream 0 of the seed's spawn draws
    the mechanisms, stream 1 the disturbances."""
    draw = draw_hippo6(SMALL | {"extra_edge": True}, 11)
    mech_q, noise_q = np.random.SeedSequence(11).spawn(2)
    mech = draw_mechanisms(np.random.default_rng(mech_q), extra_edge=True)
    np.testing.assert_array_equal(draw.mechanisms.weights, mech.weights)
    np.testing.assert_array_equal(draw.mechanisms.scales, mech.scales)
    n, _, sigmas = draw_disturbances(10, 300, D, np.random.default_rng(noise_q))
    np.testing.assert_array_equal(draw.disturbances, n)
    np.testing.assert_array_equal(draw.sigmas, sigmas)


def test_causal_data_checks_its_shapes_and_is_read_only():
    data = simulate_hippo6(SMALL, 0)
    for array in (data.x, data.segments, data.disturbances):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    with pytest.raises(ValueError, match="disagree"):
        CausalData(x=np.zeros((4, 2)), segments=np.zeros(4, np.int64), names=("a",))
    with pytest.raises(ValueError, match="disturbances"):
        CausalData(np.zeros((4, 2)), np.zeros(4, np.int64), ("a", "b"), None, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="edge"):
        CausalData(np.zeros((4, 2)), np.zeros(4, np.int64), ("a", "b"), ((0, 2),))


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    a, b, c = (simulate_hippo6(SMALL, seed) for seed in (7, 7, 8))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.disturbances, b.disturbances)
    assert not np.allclose(a.x, c.x)
    assert not np.allclose(
        draw_hippo6(SMALL, 7).mechanisms.weights, draw_hippo6(SMALL, 8).mechanisms.weights
    )


def test_mechanisms_do_not_change_with_segment_size_or_count():
    base = draw_hippo6(SMALL, 9)
    for change in ({"segment_size": 77}, {"n_segments": 4}, {"noise": "gaussian"}):
        other = draw_hippo6(SMALL | change, 9)
        for field in ("weights", "phis", "scales"):
            np.testing.assert_array_equal(
                getattr(other.mechanisms, field), getattr(base.mechanisms, field)
            )
    sized = draw_hippo6(SMALL | {"segment_size": 77}, 9)
    np.testing.assert_array_equal(sized.sigmas, base.sigmas)


def test_the_extra_edge_adds_erc_to_sub():
    base, extra = (draw_hippo6(SMALL | {"extra_edge": flag}, 10) for flag in (False, True))
    sub, erc = EXTRA_EDGE[1], EXTRA_EDGE[0]
    assert EXTRA_EDGE not in base.mechanisms.edges and EXTRA_EDGE in extra.mechanisms.edges
    assert simulate_hippo6(SMALL | {"extra_edge": True}, 10).edges == (*HIPPO6_EDGES, EXTRA_EDGE)
    assert base.mechanisms.weights[sub, erc] == 0 and extra.mechanisms.weights[sub, erc] != 0
    # every other mechanism, and so every other node, is unchanged
    others = np.ones((D, D), dtype=bool)
    others[sub, erc] = False
    np.testing.assert_array_equal(base.mechanisms.weights[others], extra.mechanisms.weights[others])
    np.testing.assert_array_equal(base.x_raw[:, :sub], extra.x_raw[:, :sub])
    # Sub now moves with ERc when its other parent CA1 is fixed
    grid = np.linspace(-3, 3, 50)
    x = np.zeros((50, D))
    x[:, erc] = grid
    n_sub = np.full(50, 0.3)
    assert np.ptp(node_value(base.mechanisms, sub, n_sub, x)) == 0
    assert np.ptp(node_value(extra.mechanisms, sub, n_sub, x)) > 0.05


def test_settings_defaults_and_bad_values_name_the_key():
    s = sem_settings({"unrelated": 1})
    assert s == {
        "n_segments": 40,
        "segment_size": 500,
        "mechanism": "nonadditive",
        "extra_edge": False,
        "noise": "laplace",
    }
    bad = [
        ("n_segments", 2),
        ("n_segments", 3.5),
        ("n_segments", True),
        ("segment_size", 1),
        ("mechanism", "linear"),
        ("extra_edge", "yes"),
        ("noise", "uniform"),
    ]
    for key, value in bad:
        with pytest.raises(ValueError, match=rf"{key}.*{re.escape(repr(value))}"):
            sem_settings({key: value})
    assert sem_settings({"n_segments": 3, "segment_size": 2})["n_segments"] == 3
    with pytest.raises(ValueError, match="seed"):
        simulate_hippo6(SMALL, -1)


# --- user files --------------------------------------------------------------------------------

LABELS = [7, -3, 100, 4]  # any integers, deliberately unsorted
RANK = {-3: 0, 4: 1, 7: 2, 100: 3}


def user_table(seed=0, per=5):
    rng = np.random.default_rng(seed)
    segment = rng.permutation(np.repeat(LABELS, per))
    return rng.normal(size=(len(segment), 3)), segment


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_csv(path, seed=0):
    """Columns a, segment, b, c: the segment column need not come last."""
    x, segment = user_table(seed)
    rows = [[x[t, 0], segment[t], x[t, 1], x[t, 2]] for t in range(len(x))]
    return write_csv(path, ["a", "segment", "b", "c"], rows), x, segment


def test_a_csv_file_round_trips_with_names_remapped_labels_and_edges(tmp_path):
    path, x, segment = good_csv(tmp_path / "data.csv")
    edges = write_csv(tmp_path / "edges.csv", ["source", "target"], [["a", "c"], ["c", "b"]])
    data = read_causal_file(path, edges)
    assert data.names == ("a", "b", "c")
    np.testing.assert_array_equal(data.segments, [RANK[v] for v in segment])
    np.testing.assert_allclose(data.x, standardise(x), atol=1e-12)
    assert data.edges == ((0, 2), (2, 1)) and data.disturbances is None
    assert read_causal_file(path).edges is None
    assert check_causal_file(path, edges) == {
        "n_variables": 3,
        "names": ["a", "b", "c"],
        "n_segments": 4,
        "n_points": 20,
    }


@pytest.mark.parametrize("with_names", [True, False])
def test_an_npz_file_round_trips(tmp_path, with_names):
    x, segment = user_table(1)
    arrays = {"X": x, "segment": segment}
    if with_names:
        arrays["names"] = np.array(["PRc", "ERc", "CA1"])
    np.savez(tmp_path / "data.npz", **arrays)
    data = causal_data({"source": "causal_file", "path": str(tmp_path / "data.npz")}, 0)
    assert data.names == (("PRc", "ERc", "CA1") if with_names else ("x1", "x2", "x3"))
    np.testing.assert_array_equal(data.segments, [RANK[v] for v in segment])
    np.testing.assert_allclose(data.x, standardise(x), atol=1e-12)


def csv_case(header, rows):
    return lambda path: write_csv(path.with_suffix(".csv"), header, rows)


def npz_case(**arrays):
    def write(path):
        np.savez(path.with_suffix(".npz"), **arrays)
        return path.with_suffix(".npz")

    return write


def rows_of(n_segments=3, per=3, columns=2, seed=0):
    rng = np.random.default_rng(seed)
    return [[*rng.normal(size=columns), k] for k in range(n_segments) for _ in range(per)]


def garbage(suffix):
    def write(path):
        path = path.with_suffix(suffix)
        path.write_bytes(b"\xff\xfe\x00garbage\x9c")
        return path

    return write


REFUSALS = {
    "missing": (lambda path: path.with_suffix(".csv"), "no such file"),
    "missing npz": (lambda path: path.with_suffix(".npz"), "no such file"),
    "unreadable csv": (garbage(".csv"), "cannot be read"),
    "not an npz": (garbage(".npz"), "not a readable NPZ"),
    "other suffix": (csv_case(["a", "b", "segment"], rows_of()), None),
    "no segment column": (csv_case(["a", "b", "c"], rows_of()), "no 'segment' column"),
    "not a number": (
        csv_case(["a", "b", "segment"], [*rows_of(), [1.0, "oops", 0]]),
        "column 'b', row 10: 'oops' is not a number",
    ),
    "empty cell": (
        csv_case(["a", "b", "segment"], [[1.0, "", 0], *rows_of()]),
        "column 'b', row 1",
    ),
    "nan": (csv_case(["a", "b", "segment"], [*rows_of(), ["nan", 1.0, 0]]), "column 'a'.*NaN"),
    "inf": (csv_case(["a", "b", "segment"], [*rows_of(), [1.0, "inf", 0]]), "column 'b'.*inf"),
    "one variable": (csv_case(["a", "segment"], rows_of(columns=1)), "1 variable"),
    "two segments": (csv_case(["a", "b", "segment"], rows_of(n_segments=2)), "2 segment"),
    "tiny segment": (
        csv_case(["a", "b", "segment"], [*rows_of(), [1.0, 2.0, 9]]),
        r"segment\(s\) \[9\] have fewer than 2 points",
    ),
    "duplicated names": (csv_case(["a", "a", "segment"], rows_of()), r"duplicated.*\['a'\]"),
    "non-integer labels": (
        csv_case(["a", "b", "segment"], [*rows_of(), [1.0, 2.0, 0.5]]),
        "labels must be integers",
    ),
    "constant column": (
        csv_case(["a", "b", "segment"], [[1.0, *r[1:]] for r in rows_of()]),
        r"constant column\(s\) \['a'\]",
    ),
    "ragged row": (csv_case(["a", "b", "segment"], [*rows_of(), [1.0, 0]]), "row 10 has 2 values"),
    "npz without X": (npz_case(segment=np.arange(9) % 3), r"missing array\(s\) \['X'\]"),
    "npz names": (
        npz_case(X=np.eye(9, 3), segment=np.arange(9) % 3, names=np.array(["a", "b"])),
        "names must be 3 strings",
    ),
    "npz one variable": (npz_case(X=np.arange(9.0)[:, None], segment=np.arange(9) % 3), "1 var"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_data_file_is_refused_naming_the_file_and_the_problem(tmp_path, case):
    write, problem = REFUSALS[case]
    path = write(tmp_path / "data")
    if problem is None:  # the "other suffix" case: a good CSV under another name
        path = path.rename(path.with_suffix(".tsv"))
        problem = "unknown suffix '.tsv'"
    with pytest.raises(ArtifactError, match=problem) as info:
        read_causal_file(path)
    assert str(info.value).startswith(f"causal data file {path}: ")
    with pytest.raises(ArtifactError):
        check_causal_file(path)


EDGE_REFUSALS = {
    "unknown node": ([["a", "CA9"]], r"unknown node 'CA9' \(known: \['a', 'b', 'c'\]\)"),
    "self-loop": ([["a", "c"], ["b", "b"]], "row 2: self-loop 'b'"),
    "one value": ([["a"]], "row 1 has 1 values"),
}


@pytest.mark.parametrize("case", [*EDGE_REFUSALS, "missing", "header"])
def test_a_bad_edge_list_is_refused_naming_it(tmp_path, case):
    data, _, _ = good_csv(tmp_path / "data.csv")
    edges = tmp_path / "edges.csv"
    if case == "header":
        write_csv(edges, ["from", "to"], [["a", "b"]])
        problem = "header must be 'source,target'"
    elif case == "missing":
        problem = "no such file"
    else:
        rows, problem = EDGE_REFUSALS[case]
        write_csv(edges, ["source", "target"], rows)
    with pytest.raises(ArtifactError, match=problem) as info:
        read_causal_file(data, edges)
    assert str(info.value).startswith(f"edge list file {edges}: ")


# --- pairs and the pair dataset ----------------------------------------------------------------


def test_pairs_parse_format_and_enumerate():
    assert parse_pair("0-2") == (0, 2) and parse_pair("3-12") == (3, 12)
    assert format_pair((0, 2)) == "0-2" and format_pair((np.int64(1), np.int64(5))) == "1-5"
    for text in ("2-0", "1-1", "01-2", "a-b", "1-2-3", "1_2", " 0-1"):
        with pytest.raises(ValueError, match="pair"):
            parse_pair(text)
    for pair in ((2, 1), (3, 3), (-1, 2), (0.0, 1)):
        with pytest.raises(ValueError, match="pair"):
            format_pair(pair)
    assert all_pairs(4) == ["0-1", "0-2", "0-3", "1-2", "1-3", "2-3"]
    assert len(all_pairs(6)) == 15 and all_pairs(1) == []
    assert all_pairs(12)[:3] == ["0-1", "0-2", "0-3"] and all_pairs(12)[10] == "0-11"
    assert all(re.fullmatch(PAIR_PATTERN, p) for p in all_pairs(12))
    assert [parse_pair(p) for p in all_pairs(3)] == [(0, 1), (0, 2), (1, 2)]


def test_the_pair_dataset_of_the_simulation_saves_and_loads(tmp_path):
    config = SMALL | {"pair": "1-4", "extra_edge": True}
    dataset = pair_dataset(config, 3)
    data = simulate_hippo6(config, 3)
    assert dataset.observations.dtype == np.float32 and dataset.sources.dtype == np.float32
    np.testing.assert_array_equal(dataset.observations, data.x[:, [1, 4]].astype(np.float32))
    np.testing.assert_array_equal(dataset.sources, data.disturbances[:, [1, 4]].astype(np.float32))
    np.testing.assert_array_equal(dataset.labels, data.segments)
    assert (dataset.split == 0).all() and dataset.mixing_name == "sem_pair"
    assert dataset.config == config | {"n_segments": 10, "obs_dim": 2} and dataset.seed == 3
    datasets.save(dataset, tmp_path / "pair.npz")
    loaded = datasets.load(tmp_path / "pair.npz")
    np.testing.assert_array_equal(loaded.observations, dataset.observations)
    np.testing.assert_array_equal(loaded.labels, dataset.labels)
    np.testing.assert_array_equal(loaded.mixing_params["pair"], [1, 4])
    np.testing.assert_array_equal(loaded.mixing_params["edges"], [*HIPPO6_EDGES, EXTRA_EDGE])
    assert loaded.mixing_params["names"].tolist() == list(HIPPO6_NODES)
    assert loaded.config == dataset.config


def test_the_pair_dataset_of_a_file_has_no_sources(tmp_path):
    path, x, _ = good_csv(tmp_path / "data.csv")
    config = {"source": "causal_file", "path": str(path), "pair": "0-2"}
    dataset = pair_dataset(config, 0)
    assert dataset.sources.shape == (20, 0)
    np.testing.assert_allclose(dataset.observations, standardise(x)[:, [0, 2]], atol=1e-6)
    assert dataset.mixing_params["edges"].shape == (0, 2)
    assert dataset.config == config | {"n_segments": 4, "obs_dim": 2}
    datasets.save(dataset, tmp_path / "pair.npz")
    assert datasets.load(tmp_path / "pair.npz").mixing_params["names"].tolist() == ["a", "b", "c"]
    edges = write_csv(tmp_path / "edges.csv", ["source", "target"], [["c", "a"]])
    with_edges = pair_dataset(config | {"edges": str(edges)}, 0)
    np.testing.assert_array_equal(with_edges.mixing_params["edges"], [[2, 0]])
    with pytest.raises(ValueError, match="pair '1-3'.*3 columns"):
        pair_dataset(config | {"pair": "1-3"}, 0)
    with pytest.raises(ValueError, match="source"):
        causal_data({"source": "fmri"}, 0)


def test_importing_the_module_stays_light():
    code = "import sys, identvae.data.sem; sys.exit(bool({'torch', 'pandas'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
