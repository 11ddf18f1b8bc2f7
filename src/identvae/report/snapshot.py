"""A committed snapshot of a run's scorecard (``docs/scorecard.md``): where the docs quote a
preset's numbers from, so that prose never carries numbers that go stale.

The snapshot is the run's ``results/scorecard.md`` under a provenance header: the code version
that drew the figures (from their provenance records), when the run ended, the machine, and the
wall time from the run's first artifact to its scorecard (file times). A snapshot can be stale;
a test checks that its claim ids are the registry's, so it is never silently incomplete."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

from identvae.io import ArtifactError, atomic_path
from identvae.provenance import describe_version, read_record

#: A claim id as the scorecard's table writes it: the first cell, in backticks.
_CLAIM_ROW = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def machine() -> str:
    """The machine in one line: CPU model, core count, operating system."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def snapshot_text(results: str | os.PathLike, command: str) -> str:
    """The snapshot of ``results`` (a finished run's directory): header, then its scorecard.
    ``command`` is what made the run, named in the header."""
    results = Path(results)
    scorecard = results / "scorecard.md"
    if not scorecard.is_file():
        raise ArtifactError(f"no scorecard at {scorecard}: run the workflow to its report first")
    records = sorted((results / "figures").glob("*.provenance.json"))
    if not records:
        raise ArtifactError(f"no figure provenance records under {results / 'figures'}")
    versions = {describe_version(read_record(p)["code_version"]) for p in records}
    files = [p for p in results.rglob("*") if p.is_file() and ".snakemake" not in p.parts]
    start = min(_mtime(p) for p in files)
    end = _mtime(scorecard)
    ended = datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds")
    header = [
        "<!-- Made by `identvae snapshot`: do not edit by hand; see docs/results.md. -->",
        "",
        "| | |",
        "|---|---|",
        f"| made by | `{command}` |",
        f"| code | {'; '.join(sorted(versions))} |",
        f"| run ended | {ended} |",
        f"| machine | {machine()} |",
        f"| wall time | {end - start:.0f} s, from the run's first artifact to its scorecard |",
        "",
    ]
    return "\n".join(header) + scorecard.read_text()


def write_snapshot(results: str | os.PathLike, out: str | os.PathLike, command: str) -> Path:
    """Write the snapshot of ``results`` to ``out`` (atomically)."""
    text = snapshot_text(results, command)
    with atomic_path(out, suffix=".md") as tmp:
        Path(tmp).write_text(text)
    return Path(out)


def claim_ids(text: str) -> list[str]:
    """The claim ids of a scorecard's (or a snapshot's) tables, in order."""
    return _CLAIM_ROW.findall(text)
