"""NonSENS's bivariate independence tests at the end of a pair fit (docs/papers/ivae.md section 8).

A NonSENS fit is one run of nonlinear ICA (the iVAE or TCL) on two observed variables with the
segment label as u; its recovered disturbances n̂ are tested against the two observed variables
(``identvae.metrics.independence.bivariate_tests``), and the four p-values and the decision go
into the run's final metrics. The oracle runs the same tests on the true disturbances of the
pair, once per dataset, to validate the test code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from identvae.data.datasets import Dataset
from identvae.metrics.independence import bivariate_tests


@dataclass(frozen=True)
class PairTests:
    """The tests' settings (the experiment's ``nonsens`` section)."""

    alpha: float = 0.05
    permutations: int = 500
    max_points: int = 1000
    within_segments: bool = True

    @classmethod
    def from_settings(cls, nonsens: Mapping[str, Any] | None) -> PairTests | None:
        """None when the experiment has no ``nonsens`` section (no tests are run)."""
        if nonsens is None:
            return None
        return cls(
            alpha=float(nonsens["alpha"]),
            permutations=int(nonsens["permutations"]),
            max_points=int(nonsens["max_points"]),
            within_segments=bool(nonsens["within_segments"]),
        )

    def run(self, x: np.ndarray, n_hat: np.ndarray, segments: np.ndarray, seed: int) -> dict:
        """The four p-values and the decision for one pair fit."""
        return bivariate_tests(
            np.asarray(x, dtype=np.float64),
            np.asarray(n_hat, dtype=np.float64),
            np.asarray(segments),
            alpha=self.alpha,
            permutations=self.permutations,
            max_points=self.max_points,
            within_segments=self.within_segments,
            rng=np.random.default_rng(seed),
        )


def seed_for_tests(generator: torch.Generator) -> int:
    """A seed for a run's tests, drawn from its evaluation generator."""
    return int(torch.randint(2**62, (1,), generator=generator))


def fit_tests(
    tests: PairTests,
    x: torch.Tensor,
    n_hat: np.ndarray,
    labels: torch.Tensor,
    generators: Sequence[torch.Generator],
) -> list[dict[str, Any]]:
    """Each run's tests: x [R, N, 2] and labels [R, N] as stored, n_hat [R, N, 2]."""
    x, labels = x.float().cpu().numpy(), labels.cpu().numpy()
    return [
        tests.run(x[r], n_hat[r], labels[r], seed_for_tests(g)) for r, g in enumerate(generators)
    ]


def oracle(tests: PairTests | None, ds: Dataset) -> dict[str, Any]:
    """The tests on the true disturbances of a pair dataset (its ``sources``), prefixed
    ``oracle_``; empty without tests or without true disturbances (a user's file)."""
    if tests is None or ds.sources.shape[1] != 2 or ds.labels is None:
        return {}
    result = tests.run(ds.observations, ds.sources, ds.labels, seed=ds.seed)
    return {f"oracle_{k}": v for k, v in result.items()}
