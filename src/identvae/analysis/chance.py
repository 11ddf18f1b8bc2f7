"""The batch MCC a model with no information would score, for an experiment's settings: every
batch-MCC figure marks it and E1's claim shows it."""

from __future__ import annotations

from identvae.metrics.mcc import chance_mcc


def settings_chance_mcc(settings: dict, n: int | None = None) -> float:
    """:func:`~identvae.metrics.mcc.chance_mcc` at the experiment's latent dimension (or ``n``)
    and its metric batch size (``settings`` are validated, schema defaults filled in)."""
    n = settings["model"]["latent_dim"] if n is None else n
    return chance_mcc(int(n), settings["train"]["metric_batch_size"])
