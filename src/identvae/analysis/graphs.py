"""Directed graphs from pairwise NonSENS decisions, and their scores against a true DAG.

An edge is a tuple ``(a, b)`` of node indices meaning ``a → b``. Each estimated edge is classed as
direct (a true edge), reversed (its reverse is a true edge), indirect (no true edge, but a directed
path ``a ⇝ b`` in the truth: the pairwise rule is expected to report such effects) or spurious.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

Edge = tuple[int, int]

#: Classes of an estimated edge, in the order they are checked.
EDGE_CLASSES = ("direct", "reversed", "indirect", "spurious")


def _edge_set(edges: Iterable[Edge], n_nodes: int | None = None) -> set[Edge]:
    """The edges as a set of int pairs, checked to be in range and free of self-loops."""
    out: set[Edge] = set()
    for a, b in edges:
        a, b = int(a), int(b)
        if a == b:
            raise ValueError(f"self-loop {a} → {b} is not allowed")
        if n_nodes is not None and not (0 <= a < n_nodes and 0 <= b < n_nodes):
            raise ValueError(f"edge ({a}, {b}) is out of range for {n_nodes} nodes")
        out.add((a, b))
    return out


def pairwise_edges(decisions: Iterable[tuple[int, int, str]]) -> list[Edge]:
    """The sorted union of the edges decided by the bivariate rule on each pair ``(i, j)``.

    "forward" (x_i → x_j) gives ``(i, j)``, "backward" gives ``(j, i)``; "no_edge" and
    "undecided" give nothing."""
    edges: set[Edge] = set()
    for i, j, decision in decisions:
        if decision == "forward":
            edges.add((int(i), int(j)))
        elif decision == "backward":
            edges.add((int(j), int(i)))
        elif decision not in ("no_edge", "undecided"):
            raise ValueError(f"unknown decision {decision!r} for pair ({i}, {j})")
    return sorted(edges)


def reachability(edges: Iterable[Edge], n_nodes: int) -> np.ndarray:
    """Boolean matrix [n, n] with ``R[a, b]`` true iff a directed path of length >= 1 leads from
    ``a`` to ``b`` (the transitive closure, by Warshall's algorithm)."""
    reach = np.zeros((n_nodes, n_nodes), dtype=bool)
    for a, b in _edge_set(edges, n_nodes):
        reach[a, b] = True
    for k in range(n_nodes):
        # a ⇝ k and k ⇝ b give a ⇝ b
        reach |= reach[:, k : k + 1] & reach[k : k + 1, :]
    return reach


def descendants(edges: Iterable[Edge], n_nodes: int) -> list[frozenset[int]]:
    """For every node, the set of nodes reachable from it by a directed path (itself excluded
    unless it lies on a cycle)."""
    reach = reachability(edges, n_nodes)
    return [frozenset(int(b) for b in np.flatnonzero(row)) for row in reach]


def classify_edge(edge: Edge, true_edges: Iterable[Edge], n_nodes: int) -> str:
    """Class of the estimated ``edge`` against the true graph: one of :data:`EDGE_CLASSES`.

    direct: ``a → b`` is a true edge; reversed: ``b → a`` is; indirect: neither, but the truth has
    a directed path ``a ⇝ b``; spurious: anything else."""
    truth = _edge_set(true_edges, n_nodes)
    a, b = next(iter(_edge_set([edge], n_nodes)))
    if (a, b) in truth:
        return "direct"
    if (b, a) in truth:
        return "reversed"
    if reachability(truth, n_nodes)[a, b]:
        return "indirect"
    return "spurious"


def _pair_states(edges: set[Edge]) -> dict[frozenset[int], frozenset[Edge]]:
    """For every unordered node pair touched by ``edges``, the directed edges present on it."""
    states: dict[frozenset[int], set[Edge]] = {}
    for edge in edges:
        states.setdefault(frozenset(edge), set()).add(edge)
    return {pair: frozenset(e) for pair, e in states.items()}


def structural_hamming_distance(estimated: Iterable[Edge], true_edges: Iterable[Edge]) -> int:
    """Number of unordered node pairs whose edges differ between the two directed graphs, so a
    missing edge, an extra edge and a reversed edge each count 1."""
    est, truth = _pair_states(_edge_set(estimated)), _pair_states(_edge_set(true_edges))
    pairs = set(est) | set(truth)
    return sum(est.get(p, frozenset()) != truth.get(p, frozenset()) for p in pairs)


def _ratio(num: int, den: int) -> float:
    """``num / den``, NaN when ``den`` is 0."""
    return num / den if den else math.nan


def graph_scores(
    estimated: Iterable[Edge], true_edges: Iterable[Edge], n_nodes: int
) -> dict[str, float | int]:
    """Scores of an estimated directed graph against the true one.

    precision = direct / estimated edges (NaN with no estimated edge), recall = direct / true edges
    (NaN with no true edge), F1 their harmonic mean (NaN when either is NaN, 0 when both are 0),
    SHD (see :func:`structural_hamming_distance`), and the counts n_edges, n_true, n_direct,
    n_reversed, n_indirect, n_spurious and n_missing (true edges found in neither direction)."""
    est, truth = _edge_set(estimated, n_nodes), _edge_set(true_edges, n_nodes)
    classes = [classify_edge(e, truth, n_nodes) for e in sorted(est)]
    counts = {f"n_{c}": classes.count(c) for c in EDGE_CLASSES}
    precision = _ratio(counts["n_direct"], len(est))
    recall = _ratio(counts["n_direct"], len(truth))
    if math.isnan(precision) or math.isnan(recall):
        f1 = math.nan
    elif precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    missing = sum((a, b) not in est and (b, a) not in est for a, b in truth)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "shd": structural_hamming_distance(est, truth),
        "n_edges": len(est),
        "n_true": len(truth),
        **counts,
        "n_missing": missing,
    }


def edge_overlap(edges_a: Iterable[Edge], edges_b: Iterable[Edge]) -> float:
    """Jaccard index ``|A ∩ B| / |A ∪ B|`` of two directed edge sets (NaN when both are empty)."""
    a, b = _edge_set(edges_a), _edge_set(edges_b)
    return _ratio(len(a & b), len(a | b))
