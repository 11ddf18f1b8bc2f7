"""Why do E1 runs at large γ² stop early? Evidence from one finished E1 results directory.

Per γ² of ``<results>/etg_moebius_gamma`` (summary.csv, histories.csv and the runs' weights):

- when runs stop (epochs trained) and which check is selected (its epoch);
- batch MCC at the selected check against the last check and against the best check;
- the check-to-check noise of the validation neg-ELBO: the spread of its residuals around a
  running median of 5 checks, against its trend (the median fall over the ``patience`` checks
  before a run stopped);
- how much of that noise is the estimator's own: the selected weights of every run
  re-evaluated with ``--repeats`` fresh posterior draws (the spread of val_neg_elbo over them),
  with 1 and with ``--samples`` samples per point.

    python benchmarks/e1_stopping.py benchmarks/out/paper-e1/results [--repeats 10]

It reads the run directories' config.json for the dataset path (relative to the workflow's
working directory, so run it there or give ``--workdir``). Prints one table per question."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from identvae.data import datasets
from identvae.io import read_json
from identvae.metrics.evaluate import evaluate_vae
from identvae.train.chunk import model_config
from identvae.train.data import stack_part

EXPERIMENT = "etg_moebius_gamma"


def stopping_table(summary: pd.DataFrame, histories: pd.DataFrame, patience: int) -> pd.DataFrame:
    rows = []
    for g2, runs in summary.groupby("gamma2"):
        hist = histories[histories["gamma2"] == g2]
        last = hist.sort_values("check").groupby("run_id").tail(1).set_index("run_id")
        best = hist.loc[hist.groupby("run_id")["mcc_batch"].idxmax()].set_index("run_id")
        runs = runs.set_index("run_id")
        noise, trend = [], []
        for _, h in hist.groupby("run_id"):
            v = h.sort_values("check")["val_neg_elbo"].to_numpy()
            if len(v) >= 7:
                smooth = pd.Series(v).rolling(5, center=True).median().to_numpy()
                noise.append(np.nanstd(v - smooth))
                # the fall of the smoothed curve over the last `patience` checks it has
                ok = np.isfinite(smooth)
                s = smooth[ok]
                if len(s) > patience:
                    trend.append(s[-patience - 1] - s[-1])
        rows.append(
            {
                "gamma2": g2,
                "runs": len(runs),
                "stopped_early": int(runs["stopped_early"].sum()),
                "epochs_trained_median": runs["epochs_trained"].median(),
                "epochs_trained_min": runs["epochs_trained"].min(),
                "epochs_trained_max": runs["epochs_trained"].max(),
                "selected_epoch_median": runs["selected_epoch"].median(),
                "mcc_selected_median": runs["mcc_batch"].median(),
                "mcc_last_median": last.loc[runs.index, "mcc_batch"].median(),
                "mcc_best_check_median": best.loc[runs.index, "mcc_batch"].median(),
                "val_elbo_noise_median": np.median(noise) if noise else np.nan,
                "val_elbo_trend_last_window_median": np.median(trend) if trend else np.nan,
            }
        )
    return pd.DataFrame(rows)


def estimator_noise(exp_dir: Path, summary: pd.DataFrame, repeats: int, samples: int):
    """The spread of val_neg_elbo over fresh posterior draws, same weights (selected check)."""
    rows = []
    cache: dict[str, datasets.Dataset] = {}
    for run in summary.itertuples():
        run_dir = exp_dir / "runs" / run.run_id
        config = read_json(run_dir / "config.json")
        path = config["data"]["path"]
        ds = cache.setdefault(path, datasets.load(path))
        state = torch.load(run_dir / "model.pt", weights_only=True)
        params = {k: v[None] for k, v in state.items()}
        spec = {"model": config["model"], "data": config["data"]}
        cfg = model_config(spec, ds.observations.shape[1])
        part = stack_part([ds], "val", torch.device("cpu"))
        one = torch.ones(1)
        g2 = torch.tensor([config["train"]["gamma2"]], dtype=torch.float32)
        spread = {}
        for k in (1, samples):
            values = [
                evaluate_vae(
                    cfg,
                    params,
                    part.x,
                    part.sources,
                    g2,
                    one,
                    [torch.Generator().manual_seed(1000 + i)],
                    64,
                    elbo_samples=k,
                )[0]["val_neg_elbo"]
                for i in range(repeats)
            ]
            spread[k] = float(np.std(values, ddof=1))
        rows.append({"gamma2": run.gamma2, "sd_1": spread[1], f"sd_{samples}": spread[samples]})
    return pd.DataFrame(rows).groupby("gamma2").median().reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--workdir", type=Path, help="where the dataset paths are relative to")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--gamma2", type=float, nargs="*", help="only these γ² (estimator part)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    exp_dir = args.results.resolve() / EXPERIMENT
    summary = pd.read_csv(exp_dir / "summary.csv")
    histories = pd.read_csv(exp_dir / "histories.csv")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print("== stopping and selection per γ² (medians over runs) ==")
    print(stopping_table(summary, histories, args.patience).to_string(index=False))
    os.chdir(args.workdir or args.results.resolve().parent)
    chosen = summary[summary["status"] == "ok"]
    if args.gamma2:
        chosen = chosen[chosen["gamma2"].isin(args.gamma2)]
    print("\n== estimator noise: sd of val_neg_elbo over fresh draws, selected weights ==")
    print(estimator_noise(exp_dir, chosen, args.repeats, args.samples).to_string(index=False))


if __name__ == "__main__":
    main()
