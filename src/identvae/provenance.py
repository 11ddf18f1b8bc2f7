"""Provenance of a figure: which function drew it, from which inputs (with their hashes), under
which settings and which version of the code, so that a figure found on disk can be traced back
without the workflow.

The figure rule writes one record per figure beside it (``results/figures/<fig>.provenance.json``,
see :func:`figure_record`); the HTML report reads them. Nothing here imports torch or matplotlib:
library versions are read from the installed distributions' metadata."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import identvae
from identvae.io import read_json, write_json

#: the record's layout version: bump it when a key changes meaning
SCHEMA_VERSION = 1
#: the distributions whose versions every record names (None when not installed)
LIBRARIES = ("snakemake", "torch", "numpy", "pandas", "matplotlib")
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """A file as a record names it: its path (as given), its size and its SHA-256."""
    return {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": sha256_file(path)}


def _git(source: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(source), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def code_version(source: str | os.PathLike | None = None) -> dict[str, Any]:
    """The version of the code in ``source`` (default: where the identvae package is imported
    from): the git commit and whether tracked files differ from it (``dirty``) when ``source``
    lies in a git checkout, and always identvae's package version. ``commit`` is None outside a
    git checkout (an installed package), where the package version is the answer."""
    source = Path(identvae.__file__).parent if source is None else Path(source)
    version = {"identvae": identvae.__version__, "commit": None, "dirty": None}
    commit = _git(source, "rev-parse", "HEAD")
    if commit:
        status = _git(source, "status", "--porcelain", "--untracked-files=no")
        version |= {"commit": commit, "dirty": None if status is None else bool(status)}
    return version


def describe_version(version: Mapping[str, Any]) -> str:
    """A code version in one line: ``git 1a2b3c4d (uncommitted changes)`` or ``identvae 0.1.0``."""
    if version.get("commit"):
        text = f"git {version['commit'][:12]}"
        if version.get("dirty"):
            text += " (with uncommitted changes)"
        return f"{text}, identvae {version.get('identvae')}"
    return f"identvae {version.get('identvae')} (not a git checkout)"


def library_versions() -> dict[str, str | None]:
    """Python's and the main libraries' versions, from the installed distributions."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def figure_record(
    *,
    figure: str,
    experiment: str,
    reproduces: str,
    module: str,
    draw: str,
    caption: str,
    inputs: Mapping[str, str | os.PathLike],
    outputs: Mapping[str, str | os.PathLike],
    preset: str,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The provenance record of one figure. ``module``, ``draw`` and ``caption``: the module
    and the names of its functions that drew the figure and wrote its caption; ``inputs`` and
    ``outputs``: files by name (each recorded with its SHA-256, outputs so that a copy can be
    checked against the record); ``settings``: the experiment's merged, validated settings."""
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "figure": figure,
        "experiment": experiment,
        "reproduces": reproduces,
        "drawn_by": f"{module}.{draw}",
        "caption_by": f"{module}.{caption}",
        "inputs": {name: file_record(path) for name, path in inputs.items()},
        "outputs": {name: file_record(path) for name, path in outputs.items()},
        "preset": preset,
        "settings": dict(settings),
    }
    record |= {"code_version": code_version(), "created": now(), "versions": library_versions()}
    return record


def write_record(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Write a record as JSON (atomically: a temporary name, then renamed)."""
    write_json(path, dict(record))


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """A record written by :func:`write_record`; an :class:`identvae.io.ArtifactError` names
    the file when it is missing or corrupt."""
    return read_json(path)


def check_files(record: Mapping[str, Any], base: str | os.PathLike = ".") -> list[str]:
    """The recorded inputs and outputs whose file (relative to ``base``) is missing or no
    longer has the recorded hash; empty when the figure still matches its record."""
    changed = []
    for kind in ("inputs", "outputs"):
        for name, entry in record.get(kind, {}).items():
            path = Path(base) / entry["path"]
            if not path.exists() or sha256_file(path) != entry["sha256"]:
                changed.append(f"{kind}.{name}: {entry['path']}")
    return changed
