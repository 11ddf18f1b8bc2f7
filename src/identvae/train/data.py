"""A chunk's datasets stacked for training: each split part as one tensor [datasets, N, ...] on
the device, indexed per run by its dataset index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from identvae.data.datasets import SPLIT_NAMES, Dataset
from identvae.methods.base import Part


def stack_part(datasets: Sequence[Dataset], name: str, dev: torch.device) -> Part:
    """Part ``name`` of every dataset. Observations keep uint8 (images, converted per minibatch by
    the method) and are float32 otherwise; labels, when the datasets carry them, are int64."""
    masks = [ds.split == SPLIT_NAMES.index(name) for ds in datasets]
    sizes = {int(m.sum()) for m in masks}
    if len(sizes) != 1:
        raise ValueError(f"datasets of one ensemble must have equal {name} sizes, got {sizes}")
    obs = np.stack([ds.observations[m] for ds, m in zip(datasets, masks, strict=True)])
    dtype = torch.uint8 if obs.dtype == np.uint8 else torch.float32
    sources = np.stack([ds.sources[m] for ds, m in zip(datasets, masks, strict=True)])
    labels = None
    if any(ds.labels is not None for ds in datasets):
        if not all(ds.labels is not None for ds in datasets):
            raise ValueError("either all datasets of one ensemble carry labels or none does")
        labels = np.stack([ds.labels[m] for ds, m in zip(datasets, masks, strict=True)])
        labels = torch.as_tensor(labels, dtype=torch.long).to(dev)
    return Part(
        torch.as_tensor(obs, dtype=dtype).to(dev),
        torch.as_tensor(sources, dtype=torch.float32).to(dev),
        labels,
    )
