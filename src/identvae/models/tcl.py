"""Time-contrastive learning (TCL, Hyvärinen & Morioka 2016) as an ensemble of R runs: the
baseline of the iVAE paper's Fig. 3 and its NonSENS causal discovery (docs/papers/ivae.md section
3).

Observations are PCA-whitened with each run's own training data (fixed parameters), then a
feature MLP: hidden layers of maxout units (``pieces`` linear pieces each, the maximum taken),
and a final feature layer with an absolute value. A linear multinomial-logistic head maps the
features to the logits of the M segments; the loss is the cross-entropy of the segment label.
TCL's features recover functions of the sources (squared or absolute values), up to a linear
mixing that FastICA undoes (``identvae.methods.tcl``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from identvae.models.ensemble import Params, init_mlp

#: The parameters fixed at initialisation: the PCA whitening of each run's data.
WHITENING = ("white.mean", "white.matrix")
HEAD = ("head.weight", "head.bias")


@dataclass(frozen=True)
class TCLConfig:
    """The architecture shared by all runs of one ensemble."""

    obs_dim: int
    n_features: int
    n_segments: int
    hidden: tuple[int, ...]  # widths of the maxout layers (the paper's: 2d, 2d)
    pieces: int = 2

    def __post_init__(self) -> None:
        if self.pieces < 1:
            raise ValueError(f"maxout needs at least one piece, got {self.pieces}")
        if self.n_segments < 2:
            raise ValueError(f"TCL classifies segments: needs at least 2, got {self.n_segments}")

    @property
    def n_layers(self) -> int:
        """Linear layers of the feature MLP (the maxout layers and the feature layer)."""
        return len(self.hidden) + 1


def whitening(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA whitening of observations x [N, d]: (mean [d], matrix [d, d]) such that
    ``(x - mean) @ matrix`` has identity covariance (eigenvectors scaled by 1/sqrt(eigenvalue);
    float64; a zero-variance direction is refused)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(0)
    values, vectors = np.linalg.eigh(np.cov(x - mean, rowvar=False).reshape(x.shape[1], -1))
    if values.min() <= 1e-12 * max(values.max(), 1e-300):
        raise ValueError(
            f"PCA whitening: the observations' covariance is singular (eigenvalues {values})"
        )
    return mean, vectors / np.sqrt(values)


def init_tcl(
    cfg: TCLConfig, generators: list[torch.Generator], observations: list[np.ndarray]
) -> Params:
    """Initial parameters of R runs: the whitening of each run's observations [N, d] (run r
    from observations[r]) and PyTorch's default Linear init for every layer, from generator r."""
    means, matrices = zip(*(whitening(x) for x in observations), strict=True)
    params: Params = {
        "white.mean": torch.tensor(np.stack(means)[:, None, :], dtype=torch.float32),
        "white.matrix": torch.tensor(np.stack(matrices), dtype=torch.float32),
    }
    widths = [cfg.obs_dim, *cfg.hidden]
    for i, (fan_in, width) in enumerate(zip(widths, [*cfg.hidden, cfg.n_features], strict=True)):
        out = width * cfg.pieces if i < len(cfg.hidden) else width
        layer = init_mlp("layer", [fan_in, out], generators, init="torch_default")
        params[f"feat.{i}.weight"] = layer["layer.0.weight"]
        params[f"feat.{i}.bias"] = layer["layer.0.bias"]
    head = init_mlp("head", [cfg.n_features, cfg.n_segments], generators, init="torch_default")
    params["head.weight"], params["head.bias"] = head["head.0.weight"], head["head.0.bias"]
    return params


def maxout(h: torch.Tensor, pieces: int) -> torch.Tensor:
    """[..., units * pieces] -> [..., units]: the maximum over each unit's consecutive pieces."""
    return h.unflatten(-1, (-1, pieces)).amax(-1)


def features(cfg: TCLConfig, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Features [R, B, n] of observations x [R, B, d]."""
    h = torch.bmm(x - params["white.mean"], params["white.matrix"])
    for i in range(cfg.n_layers):
        h = torch.baddbmm(params[f"feat.{i}.bias"], h, params[f"feat.{i}.weight"])
        h = maxout(h, cfg.pieces) if i < len(cfg.hidden) else h.abs()
    return h


def logits(params: Params, feats: torch.Tensor) -> torch.Tensor:
    """Segment logits [R, B, M] of features [R, B, n] (the multinomial logistic regression)."""
    return torch.baddbmm(params["head.bias"], feats, params["head.weight"])


def cross_entropy(cfg: TCLConfig, params: Params, x: torch.Tensor, labels: torch.Tensor):
    """Per-run mean cross-entropy [R] of the segment labels [R, B] given x [R, B, d]."""
    out = logits(params, features(cfg, params, x))
    losses = F.cross_entropy(out.flatten(0, 1), labels.flatten(), reduction="none")
    return losses.view(labels.shape).mean(-1)


def init_param_names(cfg: TCLConfig) -> list[str]:
    """The parameter names in :func:`init_tcl`'s order (the order a stack's tensors have)."""
    layers = [f"feat.{i}.{kind}" for i in range(cfg.n_layers) for kind in ("weight", "bias")]
    return [*WHITENING, *layers, *HEAD]
