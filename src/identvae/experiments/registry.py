"""Every experiment of the workflow, what it reproduces and what it draws, in one light module.

Imported at workflow parse time (no torch, no matplotlib): the Snakefile's targets, the figure
rule's inputs and the config schema's experiment list come from here, and tests check the
README's experiment table and each experiment module against it. Adding an experiment means a
config block, a module in ``experiments/<paper>/`` and one :class:`Experiment` entry below.

A figure declares what it reads (:data:`INPUT_KINDS`): ``summary`` (one row per run),
``histories`` (one row per run and check, for curves over training), ``latents`` (per-run
latents, where the experiment writes them), ``pictures`` (images, reconstructions and latent
traversals of an image model's runs), or another experiment's summary as
``summary:<experiment>``."""

from __future__ import annotations

from dataclasses import dataclass, field

PAPERS: dict[str, str] = {
    "etg": "Embrace the Gap: VAEs Perform Independent Mechanism Analysis (NeurIPS 2022)",
    "ivae": "Variational Autoencoders and Nonlinear ICA: A Unifying Framework (AISTATS 2020)",
}
#: Where the project's docs describe each paper's experiments (the sections that an
#: experiment's ``spec_section`` names), relative to the repository.
SPECS: dict[str, str] = {"etg": "docs/papers/embrace-the-gap.md", "ivae": "docs/papers/ivae.md"}
INPUT_KINDS = ("summary", "histories", "latents", "pictures")
#: Inputs only figures read (made from the runs' weights; tables and claims never need them).
FIGURE_ONLY = ("latents", "pictures")
#: The training methods (identvae.train.chunk.METHOD_PLUGINS builds each from a chunk spec).
METHODS = ("etg_vae", "ivae", "tcl", "flow")


@dataclass(frozen=True)
class FigureEntry:
    """One figure: its file name, the module's drawing and caption functions, and its inputs."""

    name: str
    draw: str = "figure"
    caption: str = "caption"
    inputs: tuple[str, ...] = ("summary",)

    def __post_init__(self) -> None:
        for kind in self.inputs:
            base, _, other = kind.partition(":")
            if base not in INPUT_KINDS or (other and base != "summary"):
                raise ValueError(
                    f"figure {self.name!r}: unknown input {kind!r}; known: {INPUT_KINDS} "
                    "or 'summary:<experiment>'"
                )


@dataclass(frozen=True)
class Experiment:
    """One experiment: a config block of the same name, a module and its figures."""

    name: str
    paper: str
    reproduces: str  # the paper figure or table it regenerates
    spec_section: str
    method: str  # the method (training loop plug-in) its runs use
    module: str  # under identvae.experiments
    figures: tuple[FigureEntry, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise ValueError(f"experiment {self.name!r}: unknown paper {self.paper!r}")
        if self.method not in METHODS:
            raise ValueError(f"experiment {self.name!r}: unknown method {self.method!r}")
        if not self.name.startswith(f"{self.paper}_"):
            raise ValueError(f"experiment {self.name!r}: its name must start with {self.paper}_")

    @property
    def module_path(self) -> str:
        return f"identvae.experiments.{self.module}"


def _one(name: str, **kw) -> tuple[FigureEntry, ...]:
    return (FigureEntry(name, **kw),)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "etg_moebius_gamma",
            "etg",
            "E1: MCC and decoder c_IMA against log10 γ² (Möbius mixing)",
            "E1",
            "etg_vae",
            "etg.moebius_gamma",
            _one("etg_moebius_gamma"),
        ),
        Experiment(
            "etg_moebius_linear",
            "etg",
            "E2: MCC against the IMA violation of a linear map after the Möbius mixing",
            "E2",
            "etg_vae",
            "etg.moebius_linear",
            _one("etg_moebius_linear"),
        ),
        Experiment(
            "etg_mlp_self_consistency",
            "etg",
            "E3: self-consistency of the encoder variances and the mean; γ² against γ²_MLE",
            "E3",
            "etg_vae",
            "etg.mlp_self_consistency",
            (
                FigureEntry(
                    "etg_mlp_self_consistency",
                    draw="figure_self_consistency",
                    caption="caption_self_consistency",
                ),
                FigureEntry(
                    "etg_mlp_gamma_mle", draw="figure_gamma2_mle", caption="caption_gamma2_mle"
                ),
            ),
        ),
        Experiment(
            "etg_gap_triangular",
            "etg",
            "E4: the ELBO gap for an IMA-violating mixing (triangular MLP)",
            "E4",
            "etg_vae",
            "etg.gap_triangular",
            _one("etg_gap_triangular"),
        ),
        Experiment(
            "etg_gap_ima",
            "etg",
            "E4: the ELBO gap for an IMA-class mixing",
            "E4",
            "etg_vae",
            "etg.gap_ima",
            _one("etg_gap_ima"),
        ),
        Experiment(
            "etg_sprites",
            "etg",
            "E5: MCC and decoder c_IMA over training and against γ² (Sprites images)",
            "E5",
            "etg_vae",
            "etg.sprites",
            (
                FigureEntry(
                    "etg_sprites_training",
                    draw="figure_training",
                    caption="caption_training",
                    inputs=("summary", "histories"),
                ),
                FigureEntry("etg_sprites_gamma", draw="figure_gamma", caption="caption_gamma"),
                FigureEntry(
                    "etg_sprites_reconstructions",
                    draw="figure_reconstructions",
                    caption="caption_reconstructions",
                    inputs=("summary", "pictures"),
                ),
                FigureEntry(
                    "etg_sprites_traversal",
                    draw="figure_traversal",
                    caption="caption_traversal",
                    inputs=("summary", "pictures"),
                ),
            ),
        ),
        Experiment(
            "etg_arflow",
            "etg",
            "E6: MCC against the binned C_IMA of an affine-coupling flow mixing",
            "E6",
            "etg_vae",
            "etg.arflow",
            _one("etg_arflow"),
        ),
        Experiment(
            "etg_prior_ablation",
            "etg",
            "E6: table of MCC per prior and latent dimension",
            "E6",
            "etg_vae",
            "etg.prior_ablation",
            _one("etg_prior_ablation"),
        ),
        Experiment(
            "etg_decoder_variance",
            "etg",
            "E6: the γ² a learned or MLE decoder variance reaches, and its MCC",
            "E6",
            "etg_vae",
            "etg.decoder_variance",
            _one("etg_decoder_variance"),
        ),
        Experiment(
            "ivae_fig1",
            "ivae",
            "Fig. 1: sources, observations and iVAE / VAE posterior samples of 2-D segment data",
            "5, Fig. 1",
            "ivae",
            "ivae.fig1",
            _one("ivae_fig1", inputs=("summary", "latents")),
        ),
        Experiment(
            "ivae_fig2a",
            "ivae",
            "Fig. 2a: MCC over training of the iVAE and its baselines",
            "5, Fig. 2a",
            "ivae",
            "ivae.fig2a",
            (
                FigureEntry("ivae_fig2a", inputs=("summary", "histories")),
                FigureEntry("ivae_fig2a_mixing", draw="figure_mixing", caption="caption_mixing"),
            ),
        ),
        Experiment(
            "ivae_fig2b",
            "ivae",
            "Fig. 2b: final MCC against the latent dimension n (d = 5)",
            "5, Fig. 2b",
            "ivae",
            "ivae.fig2b",
            _one("ivae_fig2b"),
        ),
        Experiment(
            "ivae_discrete",
            "ivae",
            "Supplement: discrete (Bernoulli) observations, iVAE against VAE",
            "5, discrete",
            "ivae",
            "ivae.discrete",
            _one("ivae_discrete", inputs=("summary", "histories")),
        ),
        Experiment(
            "ivae_model_selection",
            "ivae",
            "Supplement: the final ELBO against MCC over a hyperparameter grid",
            "5, model selection",
            "ivae",
            "ivae.model_selection",
            _one("ivae_model_selection"),
        ),
        Experiment(
            "ivae_fig3a",
            "ivae",
            "Fig. 3a: final MCC of the iVAE and TCL against the number of segments M",
            "5, Fig. 3a",
            "ivae",
            "ivae.fig3a",
            _one("ivae_fig3a"),
        ),
        Experiment(
            "ivae_fig3b",
            "ivae",
            "Fig. 3b: staircase data: MCC of the iVAE and TCL, TCL's segment accuracy",
            "5, Fig. 3b",
            "ivae",
            "ivae.fig3b",
            _one("ivae_fig3b"),
        ),
        Experiment(
            "ivae_nonsens",
            "ivae",
            "Fig. 4 stand-in: NonSENS graphs with the iVAE and TCL on the simulated hippo6 SEM",
            "8, Fig. 4",
            "ivae",
            "ivae.nonsens",
            _one("ivae_nonsens"),
        ),
        Experiment(
            "ivae_user_data",
            "ivae",
            "Your data: the iVAE and its baselines on a user's NPZ file",
            "5, user data",
            "ivae",
            "ivae.user_data",
            _one("ivae_user_data", inputs=("summary", "histories")),
        ),
        Experiment(
            "ivae_nonsens_user",
            "ivae",
            "Your causal data: NonSENS with the iVAE and TCL on a user's CSV or NPZ",
            "8, user data",
            "ivae",
            "ivae.nonsens_user",
            _one("ivae_nonsens_user"),
        ),
    ]
}

FIGURES: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in exp.figures) for name, exp in EXPERIMENTS.items()
}


def get(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise KeyError(f"unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}") from None


def figure_entry(figure: str) -> tuple[Experiment, FigureEntry]:
    """The experiment that draws ``figure``, and the figure's entry."""
    for exp in EXPERIMENTS.values():
        for entry in exp.figures:
            if entry.name == figure:
                return exp, entry
    raise KeyError(f"unknown figure {figure!r}")


def figure_experiment(figure: str) -> str:
    """The name of the experiment that draws ``figure``."""
    return figure_entry(figure)[0].name


def figure_input_paths(figure: str) -> dict[str, str]:
    """The files a figure reads, keyed by :func:`input_key` (relative to the workflow
    directory)."""
    exp, entry = figure_entry(figure)
    paths = {}
    for kind in entry.inputs:
        base, _, other = kind.partition(":")
        paths[input_key(kind)] = artifact_path(other or exp.name, base)
    return paths


def experiment_input_paths(experiment: str) -> dict[str, str]:
    """The files an experiment's table and claims read: its summary, and the histories and other
    summaries its figures declare (not latents or pictures), keyed like
    :func:`figure_input_paths`."""
    paths = {"summary": artifact_path(experiment, "summary")}
    for entry in get(experiment).figures:
        paths |= {
            key: path
            for key, path in figure_input_paths(entry.name).items()
            if key not in map(input_key, FIGURE_ONLY)
        }
    return paths


def input_key(kind: str) -> str:
    """The Snakemake input name of an input kind: ``summary:etg_x`` -> ``summary__etg_x``."""
    return kind.replace(":", "__")


def artifact_path(experiment: str, kind: str) -> str:
    """Where the workflow writes an experiment's ``summary``, ``histories``, ``latents`` or
    ``pictures``."""
    files = {
        "summary": "summary.csv",
        "histories": "histories.csv",
        "latents": "latents.npz",
        "pictures": "pictures.npz",
    }
    return f"results/{experiment}/{files[kind]}"
