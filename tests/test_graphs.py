"""Tests for graphs built from pairwise decisions and their scores, on hand-made graphs whose
answers are worked out by hand, and a smoke test of the graph figure."""

import math

import numpy as np
import pytest

from identvae.analysis.graphs import (
    classify_edge,
    descendants,
    edge_overlap,
    graph_scores,
    pairwise_edges,
    reachability,
    structural_hamming_distance,
)

CHAIN = [(0, 1), (1, 2)]  # 0 → 1 → 2
#: The spec's hippo6 truth: PRc, PHc, ERc, CA3DG, CA1, Sub.
HIPPO = [(0, 2), (1, 2), (2, 3), (2, 4), (3, 4), (4, 5)]


def test_pairwise_edges_union_of_decided_pairs():
    decisions = [
        (0, 1, "forward"),
        (1, 2, "backward"),
        (0, 2, "no_edge"),
        (2, 3, "undecided"),
        (3, 4, "forward"),
    ]
    assert pairwise_edges(decisions) == [(0, 1), (2, 1), (3, 4)]
    assert pairwise_edges([]) == []
    with pytest.raises(ValueError, match="unknown decision"):
        pairwise_edges([(0, 1, "sideways")])


def test_reachability_and_descendants():
    reach = reachability(HIPPO, 6)
    assert reach[0, 5] and reach[1, 3] and reach[3, 5]
    assert not reach[5, 0] and not reach[0, 1] and not reach[4, 3] and not reach[0, 0]
    assert descendants(HIPPO, 6) == [
        frozenset({2, 3, 4, 5}),
        frozenset({2, 3, 4, 5}),
        frozenset({3, 4, 5}),
        frozenset({4, 5}),
        frozenset({5}),
        frozenset(),
    ]
    # a path against the index order: 3 → 2 → 1 → 0
    assert descendants([(3, 2), (2, 1), (1, 0)], 4)[3] == frozenset({0, 1, 2})


def test_classify_edge_on_a_chain():
    assert classify_edge((0, 1), CHAIN, 3) == "direct"
    assert classify_edge((0, 2), CHAIN, 3) == "indirect"  # 0 → 1 → 2, no edge 0 → 2
    assert classify_edge((1, 0), CHAIN, 3) == "reversed"
    assert classify_edge((2, 0), CHAIN, 3) == "spurious"  # backwards along a path, no edge
    with pytest.raises(ValueError, match="out of range"):
        classify_edge((0, 3), CHAIN, 3)


def test_classify_edge_siblings_are_spurious():
    # CA3DG and CA1 both descend from ERc, but 3 → 4 is true; 5 → 3 and 0 → 1 are spurious
    assert classify_edge((3, 4), HIPPO, 6) == "direct"
    assert classify_edge((0, 1), HIPPO, 6) == "spurious"
    assert classify_edge((5, 3), HIPPO, 6) == "spurious"
    assert classify_edge((0, 5), HIPPO, 6) == "indirect"


def test_graph_scores_by_hand_on_a_chain():
    # truth 0 → 1 → 2; estimate 0 → 1 (direct), 0 → 2 (indirect), 2 → 1 (reversed)
    scores = graph_scores([(0, 1), (0, 2), (2, 1)], CHAIN, 3)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))  # 0.4
    # the extra 0 → 2 and the reversed 1 → 2 differ; 0 → 1 agrees
    assert scores["shd"] == 2
    expected_counts = dict(n_edges=3, n_true=2, n_direct=1, n_indirect=1, n_reversed=1)
    assert {k: scores[k] for k in expected_counts} == expected_counts
    assert scores["n_spurious"] == 0 and scores["n_missing"] == 0


def test_graph_scores_by_hand_on_hippo6():
    estimate = [(0, 2), (2, 1), (2, 5), (4, 3), (5, 0)]
    # 0 → 2 direct; 2 → 1 reversed; 2 → 5 indirect; 4 → 3 reversed; 5 → 0 spurious
    # found in neither direction: 2 → 3, 2 → 4 and 4 → 5
    scores = graph_scores(estimate, HIPPO, 6)
    assert scores["n_direct"] == 1 and scores["n_reversed"] == 2
    assert scores["n_indirect"] == 1 and scores["n_spurious"] == 1
    assert scores["n_missing"] == 3
    assert scores["precision"] == pytest.approx(1 / 5)
    assert scores["recall"] == pytest.approx(1 / 6)
    # 2 reversed + 2 extra (2 → 5, 5 → 0) + 3 missing
    assert scores["shd"] == 7


def test_graph_scores_edge_cases():
    empty = graph_scores([], CHAIN, 3)
    assert math.isnan(empty["precision"]) and math.isnan(empty["f1"])
    assert empty["recall"] == 0.0 and empty["shd"] == 2 and empty["n_missing"] == 2
    wrong = graph_scores([(2, 0)], CHAIN, 3)
    assert wrong["precision"] == 0.0 and wrong["recall"] == 0.0 and wrong["f1"] == 0.0
    assert wrong["shd"] == 3
    perfect = graph_scores(CHAIN, CHAIN, 3)
    assert perfect["f1"] == 1.0 and perfect["shd"] == 0
    no_truth = graph_scores([(0, 1)], [], 3)
    assert math.isnan(no_truth["recall"]) and math.isnan(no_truth["f1"])
    assert no_truth["precision"] == 0.0 and no_truth["n_spurious"] == 1


@pytest.mark.parametrize(
    ("estimated", "truth", "shd"),
    [
        ([], [], 0),
        ([(0, 1)], [(1, 0)], 1),  # reversed counts once, not as one missing plus one extra
        ([(0, 1), (1, 0)], [(0, 1)], 1),  # both directions where one is true
        ([(0, 1), (1, 2), (2, 3)], [(1, 0), (2, 3), (0, 3)], 3),
    ],
)
def test_structural_hamming_distance_known_cases(estimated, truth, shd):
    assert structural_hamming_distance(estimated, truth) == shd
    assert structural_hamming_distance(truth, estimated) == shd


def test_edge_overlap_is_the_directed_jaccard_index():
    assert edge_overlap([(0, 1), (1, 2)], [(0, 1), (2, 3)]) == pytest.approx(1 / 3)
    assert edge_overlap([(0, 1)], [(1, 0)]) == 0.0  # direction matters
    assert edge_overlap(CHAIN, CHAIN[::-1]) == 1.0
    assert math.isnan(edge_overlap([], []))


def test_plot_graphs_draws_one_axes_per_panel_with_arrows():
    from matplotlib.patches import FancyArrowPatch

    from identvae.figures.causal_graph import plot_graphs
    from identvae.figures.style import plt

    names = ["PRc", "PHc", "ERc", "CA3DG", "CA1", "Sub"]
    panels = [
        ("iVAE", [(0, 2, 1.0, True), (2, 5, 0.5, True), (5, 4, 0.2, False)]),
        ("TCL", [(1, 2, 0.8, True)]),
    ]
    fig = plot_graphs(panels, names, "graphs")
    try:
        axes = fig.axes
        assert len(axes) == 2
        arrows = [sum(isinstance(p, FancyArrowPatch) for p in ax.patches) for ax in axes]
        assert arrows == [3, 1]
        assert [t.get_text() for t in axes[0].texts] == names
        widths = sorted(
            p.get_linewidth() for p in axes[0].patches if isinstance(p, FancyArrowPatch)
        )
        assert widths[0] < widths[1] < widths[2]
        fig.canvas.draw()
        assert np.isfinite(fig.get_size_inches()).all()
        with pytest.raises(ValueError, match="weight"):
            plot_graphs([("bad", [(0, 1, 0.0, True)])], names, "bad")
    finally:
        plt.close("all")
