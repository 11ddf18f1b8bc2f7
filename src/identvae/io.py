"""Artifact I/O: every file is written to a temporary name and renamed into place, so a crash
never leaves a half-written artifact, and every read names the path when the file is bad."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class ArtifactError(RuntimeError):
    """A missing, corrupt or mismatched artifact; the message names the path."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` keeps the extension for writers that infer the format from the name
    (matplotlib, numpy)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, marker = _temporary_name(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=marker + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o644)  # mkstemp makes files owner-only; results are meant to be shared
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; only if the block succeeds does it take the
    place of ``path`` (a directory already there is replaced whole, not merged).

    What an earlier write to ``path`` left when its process was killed is removed first, so
    one writer per directory at a time, as Snakemake runs its jobs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(path)
    prefix, marker = _temporary_name(path)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=marker, dir=path.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes directories owner-only; results are meant to be shared
    try:
        yield tmp
        if path.exists():  # a directory cannot be renamed onto a full one: move the old aside
            old = path.with_name(f"{prefix}old{marker}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_artifact(path: str | os.PathLike) -> None:
    """Remove the file ``path`` and any temporary an interrupted :func:`atomic_path` write to
    it left behind (a process killed between creating the temporary and renaming it cannot
    clean up)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    _remove_temporaries(path)


def _remove_temporaries(path: Path) -> None:
    """Remove what interrupted :func:`atomic_path` or :func:`atomic_dir` writes to ``path``
    left beside it."""
    prefix, marker = _temporary_name(path)
    # the random part has no dot, so "x=1" does not take what a write of "x=1.5" has in hand
    own = re.compile(f"{re.escape(prefix)}[^.]+{re.escape(marker)}(\\..*)?")
    for stale in path.parent.glob(f"{glob.escape(prefix)}*{marker}*"):
        if not own.fullmatch(stale.name):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _temporary_name(path: Path) -> tuple[str, str]:
    """How :func:`atomic_path` and :func:`atomic_dir` name the temporary of ``path``: this
    prefix, a random part (tempfile's: letters, digits, underscores), this marker, then the
    writer's suffix."""
    return f".{path.name}.", ".tmp"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null so the file stays standard JSON (a run's
    ``status`` says why a metric is missing)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: Any) -> None:
    text = json.dumps(
        _finite_or_none(json.loads(json.dumps(data, default=_json_default))), indent=2
    )
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"missing file: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"corrupt JSON file {path}: {err}") from None


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
