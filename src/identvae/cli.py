"""The ``identvae`` command: inspect what the workflow wrote and what it can run."""

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


def cmd_cost(args: argparse.Namespace) -> int:
    import pandas as pd

    from identvae.compute_cost import compute_cost, write_compute_cost
    from identvae.tables import format_frame

    if args.no_write:
        table = compute_cost(args.results_dir)
        if table.empty:
            print(f"error: no Snakemake benchmark files under {args.results_dir}", file=sys.stderr)
            return 1
        written = []
    else:
        table, written = write_compute_cost(args.results_dir, args.out)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(format_frame(table, "%.2f").to_string(index=False))
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    from identvae.experiments import registry

    print("| experiment | paper | spec | reproduces | method | figures |")
    print("|---|---|---|---|---|---|")
    for exp in registry.EXPERIMENTS.values():
        figures = ", ".join(f"`{f}`" for f in registry.FIGURES[exp.name])
        print(
            f"| `{exp.name}` | {exp.paper} | {exp.spec_section} | {exp.reproduces} "
            f"| {exp.method} | {figures} |"
        )
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from identvae.report.snapshot import write_snapshot

    path = write_snapshot(args.results_dir, args.out, args.command)
    print(f"wrote {path}")
    return 0


def cmd_screenshot(args: argparse.Namespace) -> int:
    from identvae.report.screenshot import screenshot

    try:
        path = screenshot(args.page, args.out)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
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
    cost = sub.add_parser(
        "cost",
        help="compute cost per rule from Snakemake's benchmark files: jobs, runs, time, memory",
    )
    cost.add_argument("results_dir", help="e.g. results")
    cost.add_argument(
        "--out",
        help="write <OUT>.csv and <OUT>.md (default: RESULTS_DIR/tables/compute_cost)",
    )
    cost.add_argument("--no-write", action="store_true", help="print the table only")
    cost.set_defaults(func=cmd_cost)
    experiments = sub.add_parser(
        "experiments", help="every registered experiment: paper, spec section, figures"
    )
    experiments.set_defaults(func=cmd_experiments)
    snapshot = sub.add_parser(
        "snapshot",
        help="a finished run's scorecard under a provenance header, for docs/scorecard.md",
    )
    snapshot.add_argument("results_dir", help="e.g. results")
    snapshot.add_argument("--out", default="docs/scorecard.md", help="default: docs/scorecard.md")
    snapshot.add_argument(
        "--command",
        default="snakemake --cores all",
        help="the command that made the run, as the header should name it",
    )
    snapshot.set_defaults(func=cmd_snapshot)
    shot = sub.add_parser(
        "screenshot", help="the top of the report in headless Chromium, as a PNG (the README's)"
    )
    shot.add_argument("page", nargs="?", default="results/report/index.html")
    shot.add_argument("--out", default="docs/report.png", help="default: docs/report.png")
    shot.set_defaults(func=cmd_screenshot)
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
