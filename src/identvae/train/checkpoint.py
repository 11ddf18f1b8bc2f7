"""Files a training job reloads: its own resumable checkpoint, and a run's model.pt.

A checkpoint holds everything the ensemble trainer needs to continue exactly where it stopped:
the stacked weights and Adam state of the runs still training, every run's generators, history,
early-stopping state and best weights. It is written to a temporary name and renamed into place, so
a job killed while saving leaves the previous checkpoint intact. It carries a fingerprint of the
chunk's settings: a checkpoint from different settings is never resumed.

Both files are loaded with ``weights_only=True`` (no pickled code runs), and a corrupt one fails
with an error that names its path."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from identvae.io import ArtifactError, atomic_path

FORMAT = 2  # 2: the stack (per-run lr, schedule state, optimiser under "opt")


def fingerprint(settings: Any) -> str:
    """A stable hash of JSON-serialisable settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], settings_hash: str) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"format": FORMAT, "fingerprint": settings_hash, **state}, tmp)


def _load(path: Path, what: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"missing {what}: {path}") from None
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ArtifactError(f"corrupt {what} {path}: {type(err).__name__}: {err}") from None


def load_checkpoint(path: str | os.PathLike, settings_hash: str) -> dict[str, Any] | None:
    """The saved state, or None when there is none or it belongs to other settings."""
    path = Path(path)
    if not path.exists():
        return None
    state = _load(path, "training checkpoint (delete it to restart the chunk from scratch)")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ArtifactError(
            f"training checkpoint {path} has an unknown format; delete it to restart the chunk"
        )
    if state["fingerprint"] != settings_hash:
        return None
    return state


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A run's model.pt: its weights at the selected check, as a state dict."""
    path = Path(path)
    state = _load(path, "model file")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"model file {path} does not hold a state dict of tensors")
    return state
