"""Your own causal data end to end: a CSV with a header, numeric columns and a segment column,
plus a reference edge list, named in the config, runs NonSENS with the iVAE and TCL on every
pair and the flow on all variables at once, and writes the edge list (decisions and p-values
per pair) and the drawn graphs; a bad file is refused when the workflow is parsed, naming the
file and the problem, before any job."""

import csv

import pandas as pd
import pytest
import yaml
from helpers import ROOT, run_snakemake

from identvae.data import sem

pytestmark = pytest.mark.workflow
EXP = "ivae_nonsens_user"
NAMES = ("left", "middle", "right")


def user_csv(path, problem=None):
    """Three variables of a small hippo6 draw (PRc, ERc, CA1) under names of our own."""
    data = sem.simulate_hippo6({"n_segments": 5, "segment_size": 60}, 4)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["segment", *NAMES])
        for t, (label, row) in enumerate(zip(data.segments, data.x[:, [0, 2, 4]], strict=True)):
            cells = [f"{v:.6f}" for v in row]
            if problem == "text" and t == 9:
                cells[1] = "n/a"
            writer.writerow([int(label) * 7 + 1, *cells])  # any integer labels
    return path


def edge_list(path, rows):
    path.write_text("source,target\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


def overlay(tmp_path, data_path, edges_path):
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    experiments = {name: {"enabled": False} for name in config["experiments"]}
    experiments[EXP] = {
        "enabled": True,
        "data": {"source": "causal_file", "path": str(data_path), "edges": str(edges_path)},
        "model": {"latent_dim": 2, "hidden": 16},
        "train": {"max_epochs": 2, "val_every": 1},
        "tcl": {"steps": 40, "head_steps": 10, "batch_size": 64, "checks": 1},
        "flow": {"epochs": 2, "transforms": 1, "hidden": [8], "restarts": 2, "checks": 1},
        "nonsens": {"permutations": 49, "max_points": 200},
        "sweep": {"model": ["ivae", "tcl", "flow"], "pair": "all", "model_seed": [1]},
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"progress": False, "experiments": experiments}))
    return path


def test_a_user_csv_runs_end_to_end(tmp_path):
    data = user_csv(tmp_path / "mine.csv")
    edges = edge_list(tmp_path / "edges.csv", [("left", "middle"), ("middle", "right")])
    targets = [f"results/figures/{EXP}.png", f"results/tables/{EXP}.csv"]
    proc = run_snakemake(tmp_path, overlay(tmp_path, data, edges), "--cores", "2", *targets)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = pd.read_csv(tmp_path / "results" / EXP / "summary.csv")
    # every pair for the iVAE and TCL, one fit of all three variables for the flow
    assert sorted(summary["pair"].unique()) == ["0-1", "0-2", "1-2", "joint"]
    assert sorted(summary["model"]) == ["flow"] + ["ivae"] * 3 + ["tcl"] * 3
    assert (summary["status"] == "ok").all()
    pairwise = summary[summary["model"] != "flow"]
    for key in ("p_x1_n1", "p_x1_n2", "p_x2_n1", "p_x2_n2"):
        assert pairwise[key].between(0, 1).all(), key
    flow = summary[summary["model"] == "flow"].iloc[0]
    assert sorted(flow["components"].split()) == ["0", "1", "2"]  # a one-to-one matching
    assert summary["mcc"].isna().all()  # a user's file has no true disturbances
    table = pd.read_csv(tmp_path / "results" / "tables" / f"{EXP}.csv")
    assert set(table["x1"]) | set(table["x2"]) == set(NAMES)  # the edge list names the nodes
    assert set(table["decision"]) <= {"forward", "backward", "no_edge", "undecided"}
    assert (table["model"] == "flow").sum() == 3  # the joint fit's three pairs, each tested
    caption = (tmp_path / "results/figures" / f"{EXP}.caption.md").read_text()
    assert str(data) in caption and str(edges) in caption


@pytest.mark.parametrize(
    "problem, needle, key",
    [
        ("text", "'n/a' is not a number", "data.path"),
        ("edge", "'elsewhere'", "data.edges"),
    ],
)
def test_a_bad_causal_file_is_refused_before_any_job(tmp_path, problem, needle, key):
    data = user_csv(tmp_path / "broken.csv", problem)
    rows = [("left", "middle")] + ([("middle", "elsewhere")] if problem == "edge" else [])
    edges = edge_list(tmp_path / "edges.csv", rows)
    proc = run_snakemake(tmp_path, overlay(tmp_path, data, edges), "--cores", "2")
    assert proc.returncode != 0
    assert needle in proc.stderr and key in proc.stderr, proc.stderr[-2000:]
    named = data if problem == "text" else edges
    assert str(named) in proc.stderr
    assert not (tmp_path / "results").exists()  # nothing started
