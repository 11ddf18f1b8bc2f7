"""The ``identvae`` command: inspect what the workflow wrote."""

from __future__ import annotations

import argparse
import sys

from identvae.io import ArtifactError

KEY_COLUMNS = [
    "run_id",
    "status",
    "selected_epoch",
    "epochs_trained",
    "mcc_batch",
    "mcc_full",
    "cima_batch",
    "val_neg_elbo",
]


def cmd_runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from identvae.summary import list_runs

    table = list_runs(args.experiment_dir)
    if table.empty:
        print(f"no runs under {args.experiment_dir}/runs")
        return 0
    if args.sort:
        if args.sort not in table.columns:
            print(
                f"error: no column {args.sort!r}; columns: {list(table.columns)}", file=sys.stderr
            )
            return 2
        table = table.sort_values(args.sort)
    columns = [c for c in KEY_COLUMNS if c in table.columns] + [
        c for c in args.columns if c in table.columns and c not in KEY_COLUMNS
    ]
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    counts = table["status"].value_counts().to_dict()
    print(f"\n{len(table)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="identvae", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    runs = sub.add_parser("runs", help="one line per run of an experiment: id, status, metrics")
    runs.add_argument("experiment_dir", help="e.g. results/etg_moebius_gamma")
    runs.add_argument("--sort", help="sort by this column")
    runs.add_argument(
        "--columns", nargs="*", default=[], help="extra columns to show (e.g. gamma2_mle)"
    )
    runs.set_defaults(func=cmd_runs)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ArtifactError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
