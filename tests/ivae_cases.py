"""Small iVAE-family training cases shared by the invariant and resume tests."""

from identvae.data.segments import generate_segments
from identvae.methods.ivae import DECODER_VARIANCE, WEIGHT_KEYS, WHITEN, IVAEMethod
from identvae.models.ivae import IVAEConfig
from identvae.train.ensemble import RunSpec, TrainConfig

SEGMENTS = {"n_segments": 5, "segment_size": 40, "n_sources": 2, "obs_dim": 2}
IVAE_TRAIN = TrainConfig(lr=1e-2, batch_size=32, max_epochs=6, val_every=1, patience=1000)


def ivae_data() -> dict:
    return {f"seed={s}": generate_segments(SEGMENTS, s) for s in (1, 2)}


def ivae_method(prior: str = "conditional", check_points: int | None = None) -> IVAEMethod:
    model = IVAEConfig(obs_dim=2, latent_dim=2, n_segments=5, prior=prior, hidden=16)
    return IVAEMethod(model, dataset_size=200, lr_patience=0, check_points=check_points)


def weights(a, b, c, d) -> dict[str, float]:
    return dict(zip(WEIGHT_KEYS, (float(a), float(b), float(c), float(d)), strict=True))


def protocol(variance: float, whiten: bool) -> dict[str, float]:
    """A run's own decoder variance and whether it sees whitened observations."""
    return {DECODER_VARIANCE: variance, WHITEN: float(whiten)}


def ivae_runs() -> list[RunSpec]:
    """Runs that differ in weights, decoder variance, whitening, learning rate, data and seed,
    and one that diverges (an absurd learning rate)."""
    return [
        RunSpec("ivae", "seed=1", 11, weights(100, 1, 0, 10) | protocol(0.3, True), lr=1e-2),
        RunSpec("elbo", "seed=2", 12, weights(1, 1, 1, 1) | protocol(0.1, False), lr=3e-3),
        RunSpec("tc", "seed=1", 13, weights(1000, 1, 15, 1) | protocol(0.05, True), lr=1e-2),
        RunSpec("bad", "seed=1", 14, weights(1, 1, 1, 1) | protocol(0.1, False), lr=1e30),
    ]


def tcl_method(tests: bool = True):
    """TCL on the same data, with a short head-only phase, a decay inside training and (by
    default) NonSENS's pair tests at the end."""
    from identvae.methods.pair_tests import PairTests
    from identvae.methods.tcl import TCLMethod
    from identvae.models.tcl import TCLConfig

    model = TCLConfig(obs_dim=2, n_features=2, n_segments=5, hidden=(4, 4))
    pair_tests = PairTests(permutations=19, max_points=100) if tests else None
    return TCLMethod(model, head_steps=10, decay_steps=20, pair_tests=pair_tests)


def tcl_runs() -> list[RunSpec]:
    """Runs that differ in learning rate, data and seed, and one that diverges."""
    return [
        RunSpec("a", "seed=1", 21, lr=1e-2),
        RunSpec("b", "seed=2", 22, lr=3e-2),
        RunSpec("c", "seed=1", 23, lr=1e-2),
        RunSpec("bad", "seed=1", 24, lr=1e30),
    ]


def flow_method():
    """The exact-likelihood flow on the same data (zuko's spline flow, small), two restarts per
    run, the rate annealed, the pair tests at the end."""
    from identvae.methods.flow import FlowConfig, FlowMethod
    from identvae.methods.pair_tests import PairTests

    model = FlowConfig(dim=2, n_segments=5, transforms=2, hidden=(8, 8))
    tests = PairTests(permutations=19, max_points=100)
    return FlowMethod(model, restarts=2, anneal_epochs=6, pair_tests=tests)


def flow_runs() -> list[RunSpec]:
    """Runs that differ in learning rate, data and seed, and one that diverges."""
    return [
        RunSpec("a", "seed=1", 31, lr=1e-2),
        RunSpec("b", "seed=2", 32, lr=3e-3),
        RunSpec("c", "seed=1", 33, lr=1e-2),
        RunSpec("bad", "seed=1", 34, lr=1e30),
    ]
