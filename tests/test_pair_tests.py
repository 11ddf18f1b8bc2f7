"""NonSENS's oracle: the bivariate tests on a pair dataset's true disturbances orient a true
edge of the hippo6 SEM, call two independent roots unconnected, and say nothing without true
disturbances or without tests."""

import dataclasses
import json

import numpy as np
import pytest

from identvae.data import sem
from identvae.methods.pair_tests import PairTests, oracle

TESTS = PairTests(permutations=199, max_points=1000)


def pair(text):
    config = {"source": "hippo6", "n_segments": 20, "segment_size": 250, "pair": text}
    return sem.pair_dataset(config, 3)


@pytest.mark.parametrize(
    "text, decision",
    [("0-2", "forward"), ("2-3", "forward"), ("0-1", "no_edge")],  # PRc→ERc, ERc→CA3DG, roots
)
def test_the_oracle_orients_true_edges_and_separates_independent_roots(text, decision):
    result = oracle(TESTS, pair(text))
    assert result["oracle_decision"] == decision, result
    assert set(result) == {f"oracle_{k}" for k in ("p_x1_n1", "p_x1_n2", "p_x2_n1", "p_x2_n2")} | {
        "oracle_decision"
    }
    assert result == oracle(TESTS, pair(text))  # seeded by the dataset


def test_the_oracle_needs_tests_and_true_disturbances():
    ds = pair("0-2")
    assert oracle(None, ds) == {}
    no_truth = dataclasses.replace(ds, sources=np.zeros((len(ds.sources), 0), np.float32))
    assert oracle(TESTS, no_truth) == {}


def test_a_joint_fit_matches_each_variable_to_its_own_component_then_tests_every_pair():
    """The known answer: n̂ = the true disturbances in shuffled column order. The matching must
    undo the shuffle, and the pairs of true edges and of the two roots are then decided as the
    oracle decides them."""
    ds = sem.pair_dataset(
        {"source": "hippo6", "n_segments": 20, "segment_size": 250, "pair": sem.JOINT}, 3
    )
    assert ds.observations.shape[1] == 6 and ds.config["obs_dim"] == 6
    shuffle = np.array([3, 5, 0, 1, 4, 2])  # n̂_k = n_shuffle[k]
    result = TESTS.run_joint(ds.observations, ds.sources[:, shuffle], ds.labels, seed=7)
    own = [int(k) for k in result["components"].split()]
    assert [int(shuffle[k]) for k in own] == list(range(6))
    tested = {r["pair"]: r for r in json.loads(result["pair_tests"])}
    assert list(tested) == sem.all_pairs(6)
    for text, decision in (("0-2", "forward"), ("2-3", "forward"), ("0-1", "no_edge")):
        assert tested[text]["decision"] == decision, tested[text]
    assert set(tested["0-2"]) == {"pair", "p_x1_n1", "p_x1_n2", "p_x2_n1", "p_x2_n2", "decision"}
    assert result == TESTS.run_joint(ds.observations, ds.sources[:, shuffle], ds.labels, seed=7)
