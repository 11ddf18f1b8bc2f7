"""E5 (etg_sprites): its config checks, the rescaled γ², and its claims on made-up runs with
known answers (each claim both reproduced and not)."""

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import ROOT
from snakemake.utils import validate

from identvae.claims import NOT_REPRODUCED, PARTLY, REPRODUCED, judge
from identvae.config import ConfigError, check_config
from identvae.experiments.etg import sprites
from identvae.experiments.inputs import ExperimentData

SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")
E5 = "etg_sprites"


def quick_config():
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["experiments"] = {E5: cfg["experiments"][E5]}
    return cfg


def checked(cfg):
    validate(cfg, SCHEMA)
    return check_config(cfg)


def test_the_quick_block_validates():
    assert E5 in checked(quick_config())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e["model"].update(network="mlp"), r"etg_sprites.*model\.network = 'mlp'"),
        (lambda e: e["data"].update(sources="uniform"), r"etg_sprites\.data\.sources = 'uniform'"),
        (
            lambda e: e["data"].pop("resolution"),
            r"etg_sprites\.data\.resolution: .*needs a resolution",
        ),
        (lambda e: e["data"].update(n_sources=3), r"etg_sprites\.data\.n_sources = 3"),
        (lambda e: e["model"].update(latent_dim=3), r"etg_sprites\.model\.latent_dim = 3"),
        (lambda e: e["train"].update(check_points=5000), r"etg_sprites\.train\.check_points"),
    ],
)
def test_bad_e5_settings_are_refused_naming_the_key(mutate, expected):
    cfg = quick_config()
    mutate(cfg["experiments"][E5])
    with pytest.raises(ConfigError, match=expected):
        checked(cfg)


def test_a_conv_network_on_mixed_sources_is_refused():
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    e1 = copy.deepcopy(cfg["experiments"]["etg_moebius_gamma"])
    e1["model"]["network"] = "conv"
    cfg["experiments"] = {"etg_moebius_gamma": e1}
    with pytest.raises(ConfigError, match=r"etg_moebius_gamma.*model\.network = 'conv'"):
        checked(cfg)


def test_a_resolution_that_is_not_a_multiple_of_16_fails_the_schema():
    cfg = quick_config()
    cfg["experiments"][E5]["data"]["resolution"] = 24
    with pytest.raises(Exception, match="multiple of 16"):
        validate(cfg, SCHEMA)


def test_gamma2_is_rescaled_to_keep_gamma2_times_pixels():
    assert sprites.equivalent_gamma2(1.0, 64) == 1.0
    assert sprites.equivalent_gamma2(1.0, 32) == 4.0
    assert sprites.equivalent_gamma2(100.0, 16) == 1600.0
    settings = checked(quick_config())[E5]
    ctx = sprites.context(settings)
    assert ctx.headline == 4.0  # the quick sweep 0.4, 4, 400 at 32 x 32
    assert ctx.paper(400.0) == pytest.approx(100.0)


def test_the_warmup_is_in_the_context_captions_figure_and_claim_detail_only_when_set():
    settings = checked(quick_config())[E5]
    warm = sprites.context(settings)
    assert (warm.warmup_epochs, warm.warmup_start) == (30, 0.01)  # the quick preset's
    cfg = quick_config()
    cfg["experiments"][E5]["train"]["kl_warmup"] = {"epochs": 0}  # the paper preset's switch
    assert sprites.context(checked(cfg)[E5]).warmup_epochs is None
    warm, off = dataclasses.replace(CTX, warmup_epochs=15, warmup_start=0.01), CTX
    data = PAPER_LIKE
    assert "KL warm-up" in sprites.caption_training(data, warm)
    assert "KL warm-up" not in sprites.caption_training(data, off)
    legend = [t.get_text() for t in sprites.figure_training(data, warm).legends[0].get_texts()]
    assert "KL warm-up (epochs 1–15)" in legend
    legend = [t.get_text() for t in sprites.figure_training(data, off).legends[0].get_texts()]
    assert not any("warm-up" in text for text in legend)
    warm_claim = judge(sprites.CLAIMS[0], data, warm).detail
    assert "KL warm-up over epochs 1–15" in warm_claim
    assert "warm-up" not in judge(sprites.CLAIMS[0], data, off).detail


# --- claims on made-up runs ------------------------------------------------------------------

CTX = sprites.Context(resolution=64, chance_mcc=0.05, headline=1.0)
EPOCHS = (25, 50, 75, 100)


def made_up(curves: dict[float, tuple[list[float], list[float]]], seeds=(1, 2, 3)):
    """Runs per γ² whose MCC and c_IMA follow the given curves over EPOCHS (seed offsets of
    ±0.01 in MCC); the selected check is the last."""
    summary, history = [], []
    for gamma2, (mcc, cima) in curves.items():
        for seed in seeds:
            run = f"gamma2={gamma2:g}_seed={seed}"
            shift = 0.01 * (seed - 2)
            for epoch, m, c in zip(EPOCHS, mcc, cima, strict=True):
                history.append(
                    {"run_id": run, "status": "ok", "gamma2": gamma2, "model_seed": seed}
                    | {"epoch": epoch, "mcc_batch": m + shift, "cima_batch": c}
                )
            summary.append(
                {"run_id": run, "status": "ok", "gamma2": gamma2, "model_seed": seed}
                | {"selected_epoch": EPOCHS[-1], "mcc_batch": mcc[-1] + shift}
                | {"cima_batch": cima[-1]}
            )
    return ExperimentData(pd.DataFrame(summary), pd.DataFrame(history))


PAPER_LIKE = made_up(
    {
        0.1: ([0.2, 0.3, 0.35, 0.4], [5.0, 4.0, 3.0, 3.0]),
        1.0: ([0.6, 0.8, 0.9, 0.97], [10.0, 3.0, 1.0, 0.5]),  # climbs 0.37, c_IMA falls 20x
        100.0: ([0.5, 0.6, 0.7, 0.75], [8.0, 6.0, 5.0, 4.0]),
    }
)
FLAT = made_up(
    {
        0.1: ([0.5, 0.6, 0.7, 0.8], [5.0, 4.0, 3.0, 3.0]),
        1.0: ([0.6, 0.62, 0.64, 0.65], [1.0, 1.2, 1.5, 2.0]),  # barely climbs, c_IMA rises
        100.0: ([0.5, 0.6, 0.7, 0.75], [8.0, 6.0, 5.0, 4.0]),
    }
)


def verdicts(data):
    return {claim.claim_id: judge(claim, data, CTX) for claim in sprites.CLAIMS}


def test_paper_like_runs_reproduce_every_claim_with_the_numbers_in_the_detail():
    results = verdicts(PAPER_LIKE)
    assert {r.verdict for r in results.values()} == {REPRODUCED}
    assert results["E5.mcc_climb"].ours == "0.60 → 0.97"
    assert results["E5.cima_fall"].ours == "1.3 orders"  # log10(10 / 0.5)
    assert "0.970" in results["E5.mcc_final"].detail
    # headline 0.97 against the best compared γ² (100: 0.75)
    assert "= 0.220" in results["E5.best_gamma"].detail


def test_flat_runs_reproduce_none_and_a_rival_gamma2_caps_the_best_claim():
    results = verdicts(FLAT)
    assert results["E5.mcc_climb"].verdict == NOT_REPRODUCED  # climbs 0.05
    assert results["E5.mcc_final"].verdict == NOT_REPRODUCED  # 0.65
    assert results["E5.cima_fall"].verdict == NOT_REPRODUCED  # rises
    assert results["E5.best_gamma"].verdict == NOT_REPRODUCED  # γ² = 0.1 beats it


def test_a_headline_best_by_a_small_margin_is_partly_reproduced():
    close = made_up(
        {
            0.1: ([0.2, 0.3, 0.35, 0.9], [5.0, 4.0, 3.0, 3.0]),
            1.0: ([0.6, 0.8, 0.9, 0.95], [10.0, 3.0, 1.0, 0.5]),
            100.0: ([0.5, 0.6, 0.7, 0.75], [8.0, 6.0, 5.0, 4.0]),
        }
    )
    assert verdicts(close)["E5.best_gamma"].verdict == PARTLY  # margin 0.05 > 0, < 0.1


def test_failed_runs_are_counted_and_too_few_finished_runs_give_no_data():
    data = made_up({1.0: ([0.6, 0.8, 0.9, 0.97], [10.0, 3.0, 1.0, 0.5])}, seeds=(1, 2))
    data.summary.loc[0, "status"] = "diverged"
    data.histories.loc[data.histories["run_id"] == data.summary.loc[0, "run_id"], "status"] = (
        "diverged"
    )
    result = judge(sprites.CLAIMS[0], data, CTX)
    assert result.verdict == "no data"
    assert "1 ok of 2 runs" in result.detail


def test_the_table_has_a_row_per_gamma2_and_check_and_one_for_the_selected_check():
    table = sprites.table(PAPER_LIKE, CTX)
    assert len(table) == 3 * (len(EPOCHS) + 1)
    head = table[(table["gamma2"] == 1.0) & (table["check"] == "epoch")]
    assert head["epoch"].tolist() == list(EPOCHS)
    np.testing.assert_allclose(head["mcc_batch_mean"], [0.6, 0.8, 0.9, 0.97])
    np.testing.assert_allclose(head["log10_cima_batch_median"], np.log10([10.0, 3.0, 1.0, 0.5]))
    selected = table[table["check"] == "selected"]
    assert selected["runs"].tolist() == [3, 3, 3]


def test_the_mlp_vae_config_is_unchanged_by_the_conv_network_so_old_checkpoints_resume():
    from helpers import sprites_model

    from identvae.methods.etg_vae import EtgVAE
    from identvae.metrics.elbo_gap import GapSettings
    from identvae.models.vae import VAEConfig

    gap = GapSettings(points=1, elbo_samples=2, is_samples=1, newton_steps=0)
    mlp = EtgVAE(VAEConfig(obs_dim=3, latent_dim=3), 64, gap).config()["model"]
    assert "network" not in mlp and "resolution" not in mlp
    conv = EtgVAE(sprites_model(), 64, gap).config()["model"]
    assert (conv["network"], conv["resolution"]) == ("conv", 16)


def test_the_pictures_show_one_dataset_and_each_gammas_lowest_finished_seed():
    summary = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d", "e"],
            "gamma2": [4.0, 4.0, 4.0, 400.0, 400.0],
            "model_seed": [1, 2, 1, 1, 2],
            "data_seed": [2, 1, 1, 1, 1],
            "status": ["ok", "ok", "diverged", "ok", "ok"],
        }
    )
    assert sprites._shown_runs(ExperimentData(summary)) == {4.0: "b", 400.0: "d"}


def test_each_traversal_row_names_the_factor_its_latent_is_matched_to():
    # factors x, y, scale, hue (rows) against five latents (columns); latent 4 is left over
    c = np.array(
        [
            [0.10, 0.90, 0.20, 0.00, 0.05],
            [0.80, 0.10, 0.10, 0.00, 0.05],
            [0.10, 0.20, 0.30, 0.25, 0.20],
            [0.00, 0.10, 0.70, 0.20, 0.05],
        ]
    )
    assert sprites.latent_factors(c) == ["y 0.80", "x 0.90", "hue 0.70", "scale 0.25", "none"]


def test_the_gamma_figure_names_each_gamma2_with_its_paper_value():
    quick = dataclasses.replace(CTX, resolution=32)  # γ² × 4 at 32 × 32: 4 plays the paper's 1
    data = made_up({g: ([0.5] * 4, [1.0] * 4) for g in (0.4, 4.0, 400.0)})
    ticks = [t.get_text() for t in sprites.figure_gamma(data, quick).axes[0].get_xticklabels()]
    assert ticks == ["0.4\n(paper 0.1)\nn=3", "4\n(paper 1)\nn=3", "400\n(paper 100)\nn=3"]


@pytest.mark.parametrize(
    ("value", "label"), [(1e4, "$10^{4}$"), (0.01, "$10^{-2}$"), (400.0, "400"), (0.4, "0.4")]
)
def test_only_a_power_of_ten_is_labelled_as_one(value, label):
    from identvae.figures.gamma_sweep import power_of_ten_label

    assert power_of_ten_label(value) == label
