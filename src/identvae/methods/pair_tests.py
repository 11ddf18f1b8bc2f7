"""NonSENS's bivariate independence tests at the end of a pair fit (docs/papers/ivae.md section 8).

A NonSENS fit is one run of nonlinear ICA (the iVAE or TCL) on two observed variables with the
segment label as u; its recovered disturbances n̂ are tested against the two observed variables
(``identvae.metrics.independence.bivariate_tests``), and the four p-values and the decision go
into the run's final metrics. A joint fit (all d variables at once, the reduced form x = f(n)
of the whole SEM) first matches each variable to its own recovered component (the one it
depends on most, no ground truth), then runs the same four tests on every pair of variables and
their matched components (``PairTests.run_joint``). The oracle runs the tests on the true
disturbances of the pair, once per dataset, to validate the test code."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from identvae.data import sem
from identvae.data.datasets import Dataset
from identvae.metrics.independence import bivariate_tests, hsic_test, subsample
from identvae.metrics.mcc import matching


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

    def run_joint(
        self, x: np.ndarray, n_hat: np.ndarray, segments: np.ndarray, seed: int
    ) -> dict[str, str]:
        """One joint fit's tests: ``components`` (variable i's matched component, space
        separated) and ``pair_tests``, a JSON list with every pair's "pair" ("i-j"), its four
        p-values and decision (pairs in the order of ``sem.all_pairs``)."""
        x, n_hat = np.asarray(x, dtype=np.float64), np.asarray(n_hat, dtype=np.float64)
        rng = np.random.default_rng(seed)
        own = match_components(x, n_hat, np.asarray(segments), self.max_points, rng)
        results = []
        for text in sem.all_pairs(x.shape[1]):
            i, j = sem.parse_pair(text)
            pair_seed = int(rng.integers(2**62))
            tested = self.run(x[:, [i, j]], n_hat[:, [own[i], own[j]]], segments, pair_seed)
            results.append({"pair": text, **tested})
        return {"components": " ".join(map(str, own)), "pair_tests": json.dumps(results)}


def match_components(
    x: np.ndarray, n_hat: np.ndarray, segments: np.ndarray, max_points: int, rng
) -> np.ndarray:
    """For each variable i [d], the component of n̂ it depends on most: the one-to-one matching
    that maximises the summed HSIC statistics of x_i and n̂_k (Hungarian, on one stratified
    subsample of at most ``max_points`` points). In an SEM's x = f(n), x_i depends on its own
    disturbance and on its ancestors'; a root depends on its own alone."""
    idx = subsample(segments, max_points, rng)
    d = x.shape[1]
    stat = np.array(
        [
            [hsic_test(x[idx, i], n_hat[idx, k], permutations=1, rng=rng)[0] for k in range(d)]
            for i in range(d)
        ]
    )
    rows, cols = matching(stat)
    return cols[np.argsort(rows)]


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
