"""Fig. 4 stand-in (ivae_nonsens): causal discovery with NonSENS, nonlinear ICA by the iVAE and
by TCL, on the simulated six-region "hippo6" SEM whose true graph is known (docs/papers/ivae.md
section 8).

Every pair of observed variables is one fit of each method (the segment label as u); at the end
of a fit its recovered disturbances n̂ are tested against the two variables (four HSIC tests at
α/4) and the bivariate rule decides x_i → x_j, x_j → x_i, no edge or undecided. The graph of one
method, data seed and model seed is the union of its pairs' decided edges (pairwise: indirect
effects may appear as edges, the paper's remark on Fig. 4). The oracle applies the same tests to
the true disturbances. The paper's claims, translated: the two graphs overlap substantially, and
the iVAE's wrong edges are mostly indirect effects while TCL's are not.

The user-data experiment (``ivae_nonsens_user``) uses this module's functions on a CSV or NPZ."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis import graphs, phrases
from identvae.analysis.runs import ok_runs
from identvae.claims import Claim, Condition, Measured, NoData, Runs, Threshold
from identvae.data import sem
from identvae.experiments import registry
from identvae.experiments.inputs import ExperimentData
from identvae.experiments.ivae import common
from identvae.figures.causal_graph import plot_graphs
from identvae.metrics.independence import P_KEYS, decision_reason

EXPERIMENT = "ivae_nonsens"
TITLE = "iVAE Fig. 4 stand-in: NonSENS on the simulated hippo6 SEM"
#: The iVAE-family models NonSENS knows, ours first: the claims' NonSENS-iVAE is the first of
#: these in the sweep (see :func:`claims_ivae`).
IVAE_METHODS = ("ivae_elbo_whitened", "ivae_whitened", "ivae")
#: The exact-likelihood flow (beyond the paper): one joint fit of every variable per seed.
FLOW = "flow"
METHODS = (*IVAE_METHODS, "tcl", FLOW)
ORACLE = "oracle"
LABELS = {
    FLOW: "NonSENS-flow: iVAE model, exact likelihood (ours)",
    "ivae_elbo_whitened": "NonSENS-iVAE, ELBO fits (ours)",
    "ivae": "NonSENS-iVAE",
    "ivae_whitened": "NonSENS-iVAE, whitened x (ours)",
    "tcl": "NonSENS-TCL",
    ORACLE: "oracle (true n)",
}
#: Edge classes drawn blue (consistent with the true graph's causal order).
FEASIBLE = ("direct", "indirect")
#: "overlap substantially", read as a Jaccard index of the two edge sets of at least this.
SUBSTANTIAL_OVERLAP = 0.5


@dataclass(frozen=True)
class Context:
    """The causal data's nodes, its true (or reference) graph and how it was made. A user's
    file is read only when its names or edges are first asked for."""

    data: dict
    alpha: float
    within_segments: bool
    permutations: int
    max_points: int

    @cached_property
    def _graph(self) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...] | None]:
        if self.data["source"] == "hippo6":
            extra = (sem.EXTRA_EDGE,) if self.data.get("extra_edge") else ()
            return sem.HIPPO6_NODES, sem.HIPPO6_EDGES + extra
        read = sem.read_causal_file(self.data["path"], self.data.get("edges"))
        return read.names, None if read.edges is None else tuple(map(tuple, read.edges))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._graph[0])

    @property
    def true_edges(self) -> tuple[tuple[int, int], ...] | None:
        return self._graph[1]

    @property
    def n_nodes(self) -> int:
        return len(self.names)

    @property
    def description(self) -> str:
        data = self.data
        if data["source"] == "hippo6":
            return (
                f"the simulated hippo6 SEM ({data.get('mechanism', 'nonadditive')} mechanisms, "
                f"{data['n_segments']} segments of {data['segment_size']} points, "
                f"segment-modulated {data['noise']} disturbances)"
            )
        reference = f" (reference graph {data['edges']})" if data.get("edges") else ""
        return f"the file {data['path']}{reference}"


def context(settings: dict) -> Context:
    tests = settings["nonsens"]
    return Context(
        dict(settings["data"]),
        float(tests["alpha"]),
        bool(tests["within_segments"]),
        int(tests["permutations"]),
        int(tests["max_points"]),
    )


# --- graphs from the pair fits --------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    """One estimated graph: a method (or the oracle), its seeds, its edges and its pairs."""

    method: str
    data_seed: int
    model_seed: int | None  # None for the oracle (it depends on the data only)
    edges: tuple[tuple[int, int], ...]
    pairs: int  # pairs with a decision
    missing_pairs: int  # pair fits that did not finish (counted as undecided)
    mcc_median: float


def _decisions(rows: pd.DataFrame, column: str) -> list[tuple[int, int, str]]:
    return [(*sem.parse_pair(p), d) for p, d in zip(rows["pair"], rows[column], strict=True)]


def pair_rows(summary: pd.DataFrame, n_nodes: int) -> pd.DataFrame:
    """One row per pair fit: a joint fit's run (pair "joint") becomes one row per pair of its
    ``pair_tests`` (the run's other columns repeated, its MCC that of the whole fit); a joint run
    that did not finish becomes every pair, without tests."""
    if "pair" not in summary or not (summary["pair"] == sem.JOINT).any():
        return summary
    rows = []
    for _, run in summary.iterrows():
        if run["pair"] != sem.JOINT:
            rows.append(run.to_dict())
            continue
        tested = run.get("pair_tests")
        if isinstance(tested, str):
            rows += [run.to_dict() | result for result in json.loads(tested)]
        else:
            rows += [run.to_dict() | {"pair": pair} for pair in sem.all_pairs(n_nodes)]
    return pd.DataFrame(rows).drop(columns=["pair_tests"], errors="ignore")


def estimated_graphs(summary: pd.DataFrame, n_nodes: int) -> list[Graph]:
    """Every method's graph per (data seed, model seed), then the oracle's per data seed."""
    summary = pair_rows(summary, n_nodes)
    out = []
    for (model, dseed, mseed), cell in summary.groupby(["model", "data_seed", "model_seed"]):
        ok = ok_runs(cell)
        mcc = ok["mcc"].to_numpy(float)
        out.append(
            Graph(
                str(model),
                int(dseed),
                int(mseed),
                tuple(graphs.pairwise_edges(_decisions(ok, "decision"))),
                len(ok),
                len(cell) - len(ok),
                float(np.median(mcc)) if np.isfinite(mcc).any() else np.nan,
            )
        )
    if "oracle_decision" in summary:
        for dseed, cell in summary.groupby("data_seed"):
            first = cell.dropna(subset=["oracle_decision"]).drop_duplicates("pair")
            edges = graphs.pairwise_edges(_decisions(first, "oracle_decision"))
            out.append(Graph(ORACLE, int(dseed), None, tuple(edges), len(first), 0, np.nan))
    return out


def claims_ivae(methods) -> str | None:
    """The iVAE-family model the claims judge among ``methods`` (ours first), or None."""
    return next((m for m in IVAE_METHODS if m in set(methods)), None)


def _partner(method: str, methods) -> str | None:
    """The graph a method's overlap is measured with (the paper compares the iVAE with TCL):
    TCL for an iVAE model, the claims' iVAE for TCL."""
    if method in IVAE_METHODS:
        return "tcl"
    return claims_ivae(methods) if method == "tcl" else None


def _edge_text(edges, names) -> str:
    return "; ".join(f"{names[a]}→{names[b]}" for a, b in edges) or "(none)"


def scores_table(summary: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """One row per estimated graph: its edges, their classes and its scores against the truth,
    and its overlap with the other method's graph of the same seeds."""
    found = estimated_graphs(summary, ctx.n_nodes)
    by_seeds = {(g.method, g.data_seed, g.model_seed): g for g in found}
    rows = []
    for g in found:
        row = {
            "method": g.method,
            "data_seed": g.data_seed,
            "model_seed": g.model_seed,
            "pairs_decided": g.pairs,
            "pairs_missing": g.missing_pairs,
            "edges": _edge_text(g.edges, ctx.names),
            "mcc_median": g.mcc_median,
        }
        if ctx.true_edges is not None:
            row |= graphs.graph_scores(g.edges, ctx.true_edges, ctx.n_nodes)
            classes = [graphs.classify_edge(e, ctx.true_edges, ctx.n_nodes) for e in g.edges]
            row["infeasible_edges"] = _edge_text(
                [e for e, c in zip(g.edges, classes, strict=True) if c not in FEASIBLE],
                ctx.names,
            )
        other = _partner(g.method, {f.method for f in found})
        partner = by_seeds.get((other, g.data_seed, g.model_seed))
        row["overlap_with_other"] = (
            graphs.edge_overlap(g.edges, partner.edges) if partner else np.nan
        )
        rows.append(row)
    return pd.DataFrame(rows)


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    return scores_table(data.summary, ctx)


def _reason(run: pd.Series, ctx: Context) -> str:
    """Why the pair's decision is what it is (from its four p-values), or why it has none."""
    if run["status"] != "ok":
        return f"the fit did not finish ({run['status']}): counted as undecided"
    p = np.array([run.get(k, np.nan) for k in P_KEYS], dtype=float)
    if not np.isfinite(p).all():
        return "no tests recorded"
    return decision_reason(p.reshape(2, 2), ctx.alpha, ctx.permutations)


def pair_table(summary: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The edge list of every pair fit: the pair by name, its four p-values, the decision and
    why (:func:`identvae.metrics.independence.decision_reason`), the edge it gives, the fit's
    MCC against the pair's true disturbances where they are known and (with a reference graph)
    the edge's class."""
    rows = []
    for _, run in pair_rows(summary, ctx.n_nodes).iterrows():
        i, j = sem.parse_pair(run["pair"])
        edge = {"forward": (i, j), "backward": (j, i)}.get(run.get("decision"))
        row = {
            "model": run["model"],
            "data_seed": run["data_seed"],
            "model_seed": run["model_seed"],
            "status": run["status"],
            "x1": ctx.names[i],
            "x2": ctx.names[j],
            **{k: run.get(k, np.nan) for k in P_KEYS},
            "decision": run.get("decision"),
            "reason": _reason(run, ctx),
            "edge": "" if edge is None else f"{ctx.names[edge[0]]}→{ctx.names[edge[1]]}",
            "mcc": run.get("mcc", np.nan),
        }
        if ctx.true_edges is not None and edge is not None:
            row["edge_class"] = graphs.classify_edge(edge, ctx.true_edges, ctx.n_nodes)
        rows.append(row)
    return pd.DataFrame(rows)


def drawn_edges(found: list[Graph], method: str, ctx: Context) -> list[tuple]:
    """(a, b, share of the method's graphs with the edge, feasible) for every edge found."""
    mine = [g for g in found if g.method == method]
    counts: dict[tuple[int, int], int] = {}
    for g in mine:
        for e in g.edges:
            counts[e] = counts.get(e, 0) + 1
    out = []
    for (a, b), k in sorted(counts.items()):
        feasible = (
            ctx.true_edges is None
            or graphs.classify_edge((a, b), ctx.true_edges, ctx.n_nodes) in FEASIBLE
        )
        out.append((a, b, k / len(mine), feasible))
    return out


def figure(data: ExperimentData, ctx: Context) -> Figure:
    return draw(data, ctx, TITLE)


def draw(data: ExperimentData, ctx: Context, title: str) -> Figure:
    """The graphs of each method (and the oracle, and the truth) side by side."""
    found = estimated_graphs(data.summary, ctx.n_nodes)
    panels = [
        (LABELS[m], drawn_edges(found, m, ctx))
        for m in (*METHODS, ORACLE)
        if any(g.method == m for g in found)
    ]
    if ctx.true_edges is not None:
        panels.append(("true graph", [(a, b, 1.0, True) for a, b in ctx.true_edges]))
    return plot_graphs(panels, ctx.names, title)


def _mean_score(table: pd.DataFrame, method: str, column: str) -> str:
    values = table.loc[table["method"] == method, column].to_numpy(float)
    values = values[np.isfinite(values)]
    if not values.size:
        return "n/a"
    return f"{values.mean():.2f} ± {values.std():.2f}"


def caption(data: ExperimentData, ctx: Context) -> str:
    return describe(data, ctx, EXPERIMENT)


def describe(data: ExperimentData, ctx: Context, experiment: str) -> str:
    """The caption of a NonSENS experiment."""
    summary = data.summary
    scores = scores_table(summary, ctx)
    test = (
        f"HSIC tests (Gaussian kernels, median bandwidth, {ctx.permutations} permutations "
        f"{'within segments' if ctx.within_segments else 'over all points (pooled)'}, at most "
        f"{ctx.max_points} points per test), each at α/4 = {ctx.alpha / 4:g}"
    )
    methods = [m for m in (*METHODS, ORACLE) if (scores["method"] == m).any()]
    if ctx.true_edges is not None:
        score_text = "; ".join(
            f"{LABELS[m]}: F1 {_mean_score(scores, m, 'f1')}, SHD {_mean_score(scores, m, 'shd')}"
            for m in methods
        )
        colours = (
            "Blue edges are feasible (a directed path in the true graph: direct or indirect "
            "effects), red ones are not; the rightmost panel is the true graph."
        )
    else:
        score_text = "no reference graph, so no scores"
        colours = "Without a reference graph every edge is drawn blue."
    fits = f"every pair of the {ctx.n_nodes} variables is one fit of each method"
    if FLOW in methods:
        fits = (
            f"every pair of the {ctx.n_nodes} variables is one fit of the iVAE and of TCL, and "
            f"the flow (the iVAE's model by exact likelihood, ours) is one fit of all "
            f"{ctx.n_nodes} variables, each matched to the component it depends on most (HSIC)"
        )
    text = (
        f"NonSENS graphs on {ctx.description}: {fits} (segment label as u); each pair's "
        f"recovered disturbances are tested against the pair by {test}; a graph is the union "
        "of the pairs' decided edges. Edge width and opacity: the share of the method's graphs "
        "(over data and model seeds) with the edge. "
        f"{colours} Scores over graphs (mean ± std): {score_text}. "
        f"{common.seed_counts(summary)}; one graph per data and model seed. "
        f"{phrases.accounting(summary['status'], 'their pairs count as undecided')} "
        f"Oracle: the same tests on the true disturbances. {common.TCL_PROTOCOL}"
    )
    return phrases.experiment_caption(experiment, registry.get(experiment).spec_section, text)


# --- claims ------------------------------------------------------------------------------------


def _groups(summary: pd.DataFrame) -> dict[str, Runs]:
    return {
        LABELS[m]: Runs(len(ok_runs(cell)), len(cell))
        for m, cell in summary.groupby("model")
        if m in LABELS
    }


def overlap(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """The median Jaccard index of the iVAE's and TCL's graphs of the same seeds."""
    scores = scores_table(data.summary, ctx)
    model = claims_ivae(scores["method"])
    values = scores.loc[scores["method"] == model, "overlap_with_other"].to_numpy(float)
    values = values[np.isfinite(values)]
    used = _groups(data.summary)
    if not values.size:
        return NoData("no seeds with both an iVAE and a TCL graph", used)
    med = float(np.median(values))
    return Measured(
        med,
        f"Jaccard {med:.2f} (median over {values.size} seed pairs)",
        f"Jaccard index of the edge sets of {LABELS[model]} and NonSENS-TCL per seed pair: "
        f"{', '.join(f'{v:.2f}' for v in values)}",
        groups=used,
    )


def _indirect_share(scores: pd.DataFrame, method: str) -> tuple[float, int]:
    """The share of the method's wrong (not direct) edges that are indirect, pooled over its
    graphs, and the number of wrong edges."""
    cell = scores[scores["method"] == method]
    wrong = int((cell["n_indirect"] + cell["n_reversed"] + cell["n_spurious"]).sum())
    return (float(cell["n_indirect"].sum()) / wrong if wrong else np.nan), wrong


def indirect_errors(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """The iVAE's share of indirect effects among its wrong edges; holds "tcl_not" when TCL's
    share is below one half (its wrong edges are not mostly indirect)."""
    used = _groups(data.summary)
    if ctx.true_edges is None:
        return NoData("no true graph to class the edges against", used)
    scores = scores_table(data.summary, ctx)
    model = claims_ivae(scores["method"])
    ivae, n_ivae = _indirect_share(scores, model)
    tcl, n_tcl = _indirect_share(scores, "tcl")
    if not n_ivae:
        return NoData("the iVAE's graphs have no wrong edge to class", used)
    tcl_text = f"TCL {tcl:.2f} of {n_tcl}" if n_tcl else "TCL has no wrong edge"
    return Measured(
        ivae,
        f"iVAE {ivae:.2f} of {n_ivae} wrong edges indirect; {tcl_text}",
        f"indirect share of wrong edges (pooled over graphs): {LABELS[model]} {ivae:.3f} "
        f"({n_ivae} wrong); {tcl_text}",
        groups=used,
        holds={"tcl_not": bool(n_tcl) and tcl < 0.5},
    )


def oracle_scores(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """The oracle's graph scores (the test code's check), reported."""
    scores = scores_table(data.summary, ctx)
    used = _groups(data.summary)
    if ctx.true_edges is None or not (scores["method"] == ORACLE).any():
        return NoData("no oracle graph or no true graph", used)
    parts = {k: _mean_score(scores, ORACLE, k) for k in ("precision", "recall", "f1", "shd")}
    text = ", ".join(f"{k} {v}" for k, v in parts.items())
    return Measured(np.nan, text, f"oracle graphs (true disturbances): {text}", groups=used)


def method_scores(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """Each method's F1, SHD and median pair-fit MCC, reported."""
    scores = scores_table(data.summary, ctx)
    used = _groups(data.summary)
    if scores.empty:
        return NoData("no graph", used)
    columns = ("f1", "shd", "mcc_median") if ctx.true_edges is not None else ("mcc_median",)
    text = "; ".join(
        f"{LABELS[m]}: " + ", ".join(f"{c} {_mean_score(scores, m, c)}" for c in columns)
        for m in METHODS
        if (scores["method"] == m).any()
    )
    return Measured(np.nan, text, text, groups=used)


CLAIMS = (
    Claim(
        "iVAE.fig4.overlap",
        EXPERIMENT,
        "The graphs of NonSENS-iVAE and NonSENS-TCL overlap substantially (read here: a Jaccard "
        f"index of their edge sets of at least {SUBSTANTIAL_OVERLAP}).",
        "substantial overlap",
        overlap,
        Threshold(
            "the median Jaccard index of the two graphs",
            reproduced=SUBSTANTIAL_OVERLAP,
            partly=SUBSTANTIAL_OVERLAP / 2,
        ),
    ),
    Claim(
        "iVAE.fig4.indirect",
        EXPERIMENT,
        "The iVAE's wrong edges are mostly indirect effects (over half), TCL's are not.",
        "iVAE's errors indirect; TCL's not",
        indirect_errors,
        Threshold(
            "the share of indirect effects among the iVAE's wrong edges",
            reproduced=0.5,
            partly=0.25,
            conditions=(Condition("tcl_not", "TCL's share is below one half", "demote"),),
        ),
    ),
    Claim(
        "iVAE.fig4.oracle",
        EXPERIMENT,
        "The oracle (the tests on the true disturbances) recovers the pairwise graph: a check "
        "of the test code, not a claim of the paper.",
        "no claim (a check)",
        oracle_scores,
        threshold=None,
    ),
    Claim(
        "iVAE.fig4.scores",
        EXPERIMENT,
        "Each method's graph scores and the MCC of its pair fits against the true "
        "disturbances (the paper, on real data, has neither).",
        "no claim",
        method_scores,
        threshold=None,
    ),
)
