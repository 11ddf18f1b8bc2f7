"""Time-contrastive learning as a training method (see ``identvae.methods.base``).

Model: ``identvae.models.tcl``. Training (docs/papers/ivae.md section 3): SGD with momentum 0.9 and
weight decay 1e-4 at lr 0.01, decayed by 0.1 every ``decay_steps`` steps (50 000 in the paper);
the classification head is trained alone for the first ``head_steps`` steps, then everything.
The schedule is counted in steps inside the optimiser (``RowSGD``), so there is no per-epoch
schedule; the training job's epochs are just the count of steps the experiment asks for.

A check (on the full training set, the iVAE protocol) records the segment classification
accuracy and the MCC of the features against the squared sources, raw and after scikit-learn's
FastICA (each run's own FastICA, seeded from its evaluation generator); ``mcc`` is the better of
the two, as the spec says. The reported check is the last one."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning

from identvae.data.datasets import Dataset
from identvae.methods.base import Batch, Params, Part, Settings
from identvae.methods.pair_tests import PairTests, fit_tests
from identvae.metrics.mcc import mcc
from identvae.models import tcl
from identvae.models.tcl import TCLConfig
from identvae.train.optim import RowSGD


@dataclass(frozen=True)
class TCLMethod:
    """TCL: its architecture, its optimiser's settings and, for NonSENS, the pair tests."""

    model: TCLConfig
    head_steps: int = 0
    decay_steps: int = 50_000
    decay_factor: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    fastica_max_iter: int = 1000
    check_chunk: int = 8192
    pair_tests: PairTests | None = None

    train_metric = "train_loss"  # the cross-entropy (the same column as the iVAE's loss)
    selection_key = None  # the last check is reported
    check_part = "train"

    def config(self) -> dict[str, Any]:
        return asdict(self)

    def init_params(
        self,
        generators: Sequence[torch.Generator],
        datasets: Sequence[Dataset],
        settings: Sequence[Mapping[str, float]],
    ) -> Params:
        observations = [ds.part("train")[1] for ds in datasets]
        return tcl.init_tcl(self.model, list(generators), observations)

    def is_trainable(self, name: str) -> bool:
        return name not in tcl.WHITENING

    def epoch_noise(self, generator: torch.Generator, n_train: int) -> None:
        return None

    def loss(self, params: Params, batch: Batch, settings: Settings) -> torch.Tensor:
        return tcl.cross_entropy(self.model, params, batch.x.float(), batch.labels)

    def _features(self, params: Params, part: Part, data: torch.Tensor):
        """Features [R, N, n] and the predicted segment [R, N] over ``part``, in chunks."""
        feats, predicted = [], []
        for start in range(0, part.size, self.check_chunk):
            rows = part.rows(data, start, start + self.check_chunk)
            h = tcl.features(self.model, params, rows.x.float())
            feats.append(h)
            predicted.append(tcl.logits(params, h).argmax(-1))
        return torch.cat(feats, 1), torch.cat(predicted, 1)

    def _unmixed(self, feats: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """FastICA's estimate of the features' independent components [N, n] (one run)."""
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        ica = FastICA(
            whiten="unit-variance", max_iter=self.fastica_max_iter, random_state=seed, tol=1e-4
        )
        with warnings.catch_warnings():  # an unconverged FastICA is still an estimate
            warnings.simplefilter("ignore", ConvergenceWarning)
            return ica.fit_transform(feats.astype(np.float64))

    @torch.no_grad()
    def _outputs(self, params, part, data, generators) -> tuple[np.ndarray, ...]:
        feats, predicted = self._features(params, part, data)
        feats = feats.cpu().numpy()
        unmixed = np.stack([self._unmixed(f, g) for f, g in zip(feats, generators, strict=True)])
        return feats, unmixed, predicted

    def evaluate(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        """Segment accuracy; MCC of the raw and the FastICA features against s²."""
        feats, unmixed, predicted = self._outputs(params, part, data, generators)
        rows = part.rows(data)
        accuracy = (predicted == rows.labels).float().mean(-1).cpu().numpy()
        squared = rows.sources.cpu().numpy() ** 2
        out = []
        for r in range(len(generators)):
            raw, ica = _mcc(squared[r], feats[r]), _mcc(squared[r], unmixed[r])
            out.append(
                {
                    "mcc": float(np.nanmax([raw, ica])) if np.isfinite([raw, ica]).any() else raw,
                    "mcc_raw": raw,
                    "mcc_ica": ica,
                    "accuracy": float(accuracy[r]),
                }
            )
        return out

    def after_check(self, metrics: list[dict[str, float]], settings: Settings) -> Settings:
        return settings

    def training_settings(self, settings: Settings, epoch: int) -> Settings:
        return settings

    def selected_check_metrics(self, params, part, data, settings, generators):
        """NonSENS's tests of the observed pair against the FastICA-unmixed features."""
        if self.pair_tests is None:
            return [{} for _ in generators]
        _, unmixed, _ = self._outputs(params, part, data, generators)
        rows = part.rows(data)
        return fit_tests(self.pair_tests, rows.x, unmixed, rows.labels, generators)

    @torch.no_grad()
    def latents(
        self, params: Params, part: Part, data: torch.Tensor, generators: Sequence[torch.Generator]
    ) -> dict[str, np.ndarray]:
        """The FastICA-unmixed features as "mean" and the raw features as "sample" [R, N, n]
        (TCL has no posterior; these are its two estimates of the sources' functions)."""
        feats, unmixed, _ = self._outputs(params, part, data, generators)
        return {"mean": unmixed, "sample": feats}

    def _frozen(self, names: Sequence[str]) -> list[bool]:
        return [name not in tcl.HEAD for name in names if self.is_trainable(name)]

    def make_optimizer(self, tensors: list[torch.Tensor], lr: torch.Tensor) -> RowSGD:
        names = list(tcl.init_param_names(self.model))
        return RowSGD(
            tensors,
            lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            frozen=self._frozen(names),
            frozen_steps=self.head_steps,
            decay_steps=self.decay_steps,
            decay_factor=self.decay_factor,
        )

    def lr_schedule(self) -> None:
        return None


def _mcc(target: np.ndarray, latents: np.ndarray) -> float:
    """MCC, or NaN without true sources (a user's data file may have none)."""
    if target.shape[-1] == 0 or not np.isfinite(latents).all():
        return float("nan")
    return float(mcc(target, latents))
