"""Which figures each experiment draws, importable at workflow parse time (no matplotlib, no
torch). Each experiment module's ``FIGURES`` must have exactly these keys (a test checks)."""

from __future__ import annotations

FIGURES: dict[str, tuple[str, ...]] = {
    "etg_moebius_gamma": ("etg_moebius_gamma",),
    "etg_moebius_linear": ("etg_moebius_linear",),
    "etg_mlp_self_consistency": ("etg_mlp_self_consistency", "etg_mlp_gamma_mle"),
    "etg_gap_triangular": ("etg_gap_triangular",),
    "etg_gap_ima": ("etg_gap_ima",),
    "etg_arflow": ("etg_arflow",),
    "etg_prior_ablation": ("etg_prior_ablation",),
    "etg_decoder_variance": ("etg_decoder_variance",),
}


def figure_experiment(figure: str) -> str:
    """The experiment whose summary a figure is drawn from."""
    for experiment, figures in FIGURES.items():
        if figure in figures:
            return experiment
    raise KeyError(f"unknown figure {figure!r}")
