"""The ensemble trainer: R VAE runs trained at once in one process.

Parameters are stacked along a leading run axis and every run has its own generator (initial
weights, minibatch order, reparameterisation noise), its own gamma2 and beta, its own dataset, its
own early stopping and its own best checkpoint. Adam is elementwise and each run's loss depends only
on its own parameters, so the runs stay mathematically independent: training R runs together gives
the same numbers as training each alone. Runs that stop (early stopping or divergence) are removed
from the stacked tensors, so they cost nothing afterwards and never change again.

With the decoder fixed to the true mixing (``VAEConfig.decoder="true_mixing"``, E4) the runs'
mixing parameters are stacked like weights but never optimised, and after training each finished
run gets the ELBO-gap metrics at its selected check (:func:`selected_check_metrics`).

A learned decoder precision (``decoder_variance="learned"``) is one more stacked parameter; with
``decoder_variance="mle"`` each run's gamma2 is set at every validation check to that check's
``gamma2_mle`` for the following epochs."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from identvae.data.datasets import Dataset
from identvae.metrics.elbo_gap import GapSettings
from identvae.metrics.evaluate import evaluate_vae, selected_check_metrics
from identvae.models.ensemble import Params, run_state_dict
from identvae.models.vae import VAEConfig, init_vae, is_trainable, neg_elbo
from identvae.train.checkpoint import fingerprint, load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class TrainConfig:
    """Settings shared by every run of an ensemble."""

    lr: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 400
    val_every: int = 5
    patience: int = 5
    metric_batch_size: int = 64
    # Cost bounds of the ELBO-gap metrics (only computed with a true-mixing decoder, E4).
    gap_points: int = GapSettings.points
    gap_elbo_samples: int = GapSettings.elbo_samples
    gap_is_samples: int = GapSettings.is_samples
    gap_newton_steps: int = GapSettings.newton_steps

    @property
    def gap(self) -> GapSettings:
        return GapSettings(
            points=self.gap_points,
            elbo_samples=self.gap_elbo_samples,
            is_samples=self.gap_is_samples,
            newton_steps=self.gap_newton_steps,
        )


@dataclass(frozen=True)
class RunSpec:
    """What may differ between the runs of one ensemble."""

    run_id: str
    data_id: str
    model_seed: int
    gamma2: float
    beta: float = 1.0


@dataclass
class RunResult:
    spec: RunSpec
    status: str = "running"  # -> "ok" | "diverged"
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None  # history row of the selected check
    state: dict[str, torch.Tensor] | None = None  # weights at the selected check
    epochs_trained: int = 0
    stopped_early: bool = False
    bad_checks: int = 0

    @property
    def best_val(self) -> float:
        return self.best["val_neg_elbo"] if self.best else math.inf


def run_generators(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Two independent CPU generators per run: one for training (init, order, noise), one for
    evaluation, so how often a run is evaluated never changes how it trains."""
    seeds = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return tuple(torch.Generator().manual_seed(int(s) >> 1) for s in seeds)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _stack_part(datasets: list[Dataset], part: str) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [ds.part(part) for ds in datasets]
    sizes = {len(s) for s, _ in pairs}
    if len(sizes) != 1:
        raise ValueError(f"datasets of one ensemble must have equal {part} sizes, got {sizes}")
    sources = torch.as_tensor(np.stack([s for s, _ in pairs]), dtype=torch.float32)
    obs = torch.as_tensor(np.stack([x for _, x in pairs]), dtype=torch.float32)
    return sources, obs


class _Ensemble:
    """The live, stacked state of the runs still training."""

    def __init__(self, params: Params, lr: float, rows: list[int], **per_run: torch.Tensor):
        self.lr = lr
        self.params = {
            k: v.detach().clone().requires_grad_(is_trainable(k)) for k, v in params.items()
        }
        self.opt = torch.optim.Adam(self.trainable(), lr=lr, foreach=True)
        self.rows = rows  # index into the chunk's runs, per stacked row
        self.per_run = per_run

    def keep(self, keep_rows: list[int]) -> None:
        """Drop the stacked rows not in keep_rows, optimiser state included."""
        idx = torch.tensor(
            [self.rows.index(r) for r in keep_rows], dtype=torch.long, device=self.device
        )
        adam = self.adam_state()
        self.params = {
            k: v.detach()[idx].clone().requires_grad_(is_trainable(k))
            for k, v in self.params.items()
        }
        self.opt = torch.optim.Adam(self.trainable(), lr=self.lr, foreach=True)
        self.set_adam_state(adam, idx)
        self.per_run = {k: v[idx] for k, v in self.per_run.items()}
        self.rows = list(keep_rows)

    def trainable(self) -> list[torch.Tensor]:
        """The optimised parameter tensors, in parameter order (a fixed true-mixing decoder's
        ``mix.`` tensors are left out: they never change)."""
        return [v for k, v in self.params.items() if is_trainable(k)]

    def adam_state(self) -> list[dict[str, torch.Tensor] | None]:
        """Adam's buffers per trainable tensor, in parameter order (None before the first
        step)."""
        return [dict(self.opt.state[p]) if p in self.opt.state else None for p in self.trainable()]

    def set_adam_state(
        self, states: list[dict[str, torch.Tensor] | None], idx: torch.Tensor | None = None
    ) -> None:
        """Install saved Adam buffers, keeping only the stacked rows ``idx`` if given."""
        for param, st in zip(self.trainable(), states, strict=True):
            if st is None:
                continue
            moments = {k: st[k] if idx is None else st[k][idx] for k in ("exp_avg", "exp_avg_sq")}
            self.opt.state[param] = {"step": st["step"].clone()} | {
                k: v.to(param.device).clone() for k, v in moments.items()
            }

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this ensemble (on the CPU)."""
        return {
            "rows": list(self.rows),
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "adam": [
                None if st is None else {k: v.detach().cpu() for k, v in st.items()}
                for st in self.adam_state()
            ],
            "per_run": {k: v.cpu() for k, v in self.per_run.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], lr: float, dev: torch.device) -> _Ensemble:
        ens = cls(
            {k: v.to(dev) for k, v in state["params"].items()},
            lr,
            rows=list(state["rows"]),
            **{k: v.to(dev) for k, v in state["per_run"].items()},
        )
        ens.set_adam_state(state["adam"])
        return ens

    @property
    def device(self) -> torch.device:
        return next(iter(self.params.values())).device


def train_epoch(
    model_cfg: VAEConfig,
    params: Params,
    opt: torch.optim.Optimizer,
    x_train: torch.Tensor,
    per_run: dict[str, torch.Tensor],
    generators: list[torch.Generator],
    batch_size: int,
    max_steps: int | None = None,
) -> torch.Tensor:
    """One epoch (or its first ``max_steps`` minibatches) of all stacked runs; returns each run's
    mean training loss, on the device (reading it back is the caller's one sync per epoch).

    x_train [datasets, N, d]; per_run holds gamma2, beta and the dataset index of each run. Each
    run draws its minibatch order and noise for the whole epoch from its own generator."""
    dev = x_train.device
    n_train = x_train.shape[1]
    order = torch.stack([torch.randperm(n_train, generator=g) for g in generators]).to(dev)
    noise = torch.stack(
        [torch.randn(n_train, model_cfg.latent_dim, generator=g) for g in generators]
    ).to(dev)
    data_idx = per_run["data"][:, None]
    loss_sum = torch.zeros(len(generators), device=dev)
    seen = 0
    for step, start in enumerate(range(0, n_train, batch_size)):
        if step == max_steps:
            break
        idx = order[:, start : start + batch_size]
        loss, _ = neg_elbo(
            model_cfg,
            params,
            x_train[data_idx, idx],
            noise[:, start : start + batch_size],
            per_run["gamma2"],
            per_run["beta"],
        )
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        loss_sum += loss.detach() * idx.shape[1]
        seen += idx.shape[1]
    return loss_sum / seen


_RESUMED_FIELDS = (
    "status",
    "history",
    "best",
    "state",
    "epochs_trained",
    "stopped_early",
    "bad_checks",
)


def train_ensemble(
    model_cfg: VAEConfig,
    train_cfg: TrainConfig,
    runs: list[RunSpec],
    datasets: dict[str, Dataset],
    *,
    device: str = "auto",
    progress: bool = True,
    desc: str = "train",
    checkpoint: str | Path | None = None,
    checkpoint_every_s: float = 300.0,
) -> list[RunResult]:
    """Train all runs; return each run's history, selected check and weights.

    With ``checkpoint`` set, the whole training state is saved there at the end of an epoch once
    ``checkpoint_every_s`` seconds have passed since the last save, and a saved state for the same
    settings is resumed instead of starting at epoch 0. Resuming gives the same numbers as never
    stopping (on the same device); only the ``wall_time_s`` column differs.

    Metrics too costly for every check (E4's ELBO gap, with a true-mixing decoder) are computed
    once per finished run after training, from its selected weights, and added to its selected
    history row (and so to ``best``)."""
    dev = resolve_device(device)
    data_ids = sorted({r.data_id for r in runs})
    missing = [d for d in data_ids if d not in datasets]
    if missing:
        raise KeyError(f"runs refer to datasets that were not given: {missing}")
    ordered = [datasets[d] for d in data_ids]
    _, x_train = _stack_part(ordered, "train")
    val_sources, x_val = _stack_part(ordered, "val")
    x_train, x_val, val_sources = x_train.to(dev), x_val.to(dev), val_sources.to(dev)
    batch = train_cfg.batch_size

    gens = [run_generators(r.model_seed) for r in runs]
    results = [RunResult(spec=r) for r in runs]
    settings_hash = fingerprint(
        [
            asdict(model_cfg),
            asdict(train_cfg),
            [asdict(r) for r in runs],
            [(d.seed, d.config) for d in ordered],
        ]
    )
    saved = load_checkpoint(checkpoint, settings_hash) if checkpoint else None
    if saved is None:
        first_epoch, elapsed = 1, 0.0
        mixings = None
        if model_cfg.decoder == "true_mixing":
            mixings = [
                (datasets[r.data_id].mixing_name, datasets[r.data_id].mixing_params) for r in runs
            ]
        gamma2 = [r.gamma2 for r in runs]
        params = init_vae(model_cfg, [g for g, _ in gens], mixings, gamma2)
        ens = _Ensemble(
            {k: v.to(dev) for k, v in params.items()},
            train_cfg.lr,
            rows=list(range(len(runs))),
            gamma2=torch.tensor(gamma2, dtype=torch.float32, device=dev),
            beta=torch.tensor([r.beta for r in runs], dtype=torch.float32, device=dev),
            data=torch.tensor([data_ids.index(r.data_id) for r in runs], device=dev),
        )
    else:
        first_epoch, elapsed = saved["epoch"] + 1, saved["elapsed_s"]
        ens = _Ensemble.from_state(saved["ensemble"], train_cfg.lr, dev)
        for res, fields in zip(results, saved["results"], strict=True):
            for name in _RESUMED_FIELDS:
                setattr(res, name, fields[name])
        for pair, states in zip(gens, saved["generators"], strict=True):
            for gen, st in zip(pair, states, strict=True):
                gen.set_state(st)
        print(f"{desc}: resumed from {checkpoint} after epoch {saved['epoch']}", file=sys.stderr)

    def save(epoch: int) -> None:
        state = {
            "epoch": epoch,
            "elapsed_s": time.perf_counter() - t0,
            "ensemble": ens.state(),
            "results": [{name: getattr(res, name) for name in _RESUMED_FIELDS} for res in results],
            "generators": [[g.get_state() for g in pair] for pair in gens],
        }
        save_checkpoint(checkpoint, state, settings_hash)

    bar = tqdm(
        total=train_cfg.max_epochs,
        initial=first_epoch - 1,
        desc=desc,
        unit="epoch",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
    )
    t0 = time.perf_counter() - elapsed
    last_save = time.perf_counter()
    for epoch in range(first_epoch, train_cfg.max_epochs + 1):
        if not ens.rows:
            break
        train_loss = train_epoch(
            model_cfg,
            ens.params,
            ens.opt,
            x_train,
            ens.per_run,
            [gens[r][0] for r in ens.rows],
            batch,
        ).cpu()
        for r in ens.rows:
            results[r].epochs_trained = epoch

        diverged = [r for row, r in enumerate(ens.rows) if not torch.isfinite(train_loss[row])]
        scheduled = epoch % train_cfg.val_every == 0 or epoch == train_cfg.max_epochs
        if diverged and not scheduled:
            # Record and drop them without a validation check: an extra check would draw from
            # the other runs' evaluation streams and count against their patience (and reset
            # an MLE gamma2), so they would no longer train as if alone.
            for row, r in enumerate(ens.rows):
                if r in diverged:
                    results[r].status = "diverged"
                    results[r].history.append(
                        {
                            "epoch": epoch,
                            "train_neg_elbo": float(train_loss[row]),
                            "wall_time_s": time.perf_counter() - t0,
                        }
                    )
            ens.keep([r for r in ens.rows if r not in diverged])
            diverged = []
        if scheduled and ens.rows:
            rows = evaluate_vae(
                model_cfg,
                ens.params,
                x_val[ens.per_run["data"]],
                val_sources[ens.per_run["data"]],
                ens.per_run["gamma2"],
                ens.per_run["beta"],
                [gens[r][1] for r in ens.rows],
                train_cfg.metric_batch_size,
            )
            stopped = []
            for row, r in enumerate(ens.rows):
                res = results[r]
                metrics = {
                    "epoch": epoch,
                    "train_neg_elbo": float(train_loss[row]),
                    **rows[row],
                    "wall_time_s": time.perf_counter() - t0,
                }
                res.history.append(metrics)
                if r in diverged or not math.isfinite(metrics["val_neg_elbo"]):
                    res.status = "diverged"
                    stopped.append(r)
                    continue
                if metrics["val_neg_elbo"] < res.best_val:
                    res.best, res.bad_checks = metrics, 0
                    res.state = run_state_dict(ens.params, row)
                else:
                    res.bad_checks += 1
                    if res.bad_checks >= train_cfg.patience:
                        res.status, res.stopped_early = "ok", True
                        stopped.append(r)
            if model_cfg.decoder_variance == "mle":
                ens.per_run["gamma2"] = torch.tensor(
                    [row["gamma2_mle"] for row in rows], dtype=torch.float32, device=dev
                )
            if stopped:
                ens.keep([r for r in ens.rows if r not in stopped])
        if checkpoint and time.perf_counter() - last_save >= checkpoint_every_s:
            save(epoch)
            last_save = time.perf_counter()
        bar.update(1)
        bar.set_postfix(active=len(ens.rows), refresh=False)
    bar.close()
    for res in results:
        if res.status == "running":
            res.status = "ok"
    _add_selected_check_metrics(model_cfg, train_cfg, results, data_ids, val_sources, gens)
    return results


def _add_selected_check_metrics(
    model_cfg: VAEConfig,
    train_cfg: TrainConfig,
    results: list[RunResult],
    data_ids: list[str],
    val_sources: torch.Tensor,
    gens: list[tuple[torch.Generator, torch.Generator]],
) -> None:
    """Add the metrics computed only at the selected check (E4's ELBO gap; none for an MLP
    decoder) to each finished run's selected history row, from its saved weights."""
    chosen = [i for i, res in enumerate(results) if res.status == "ok" and res.state]
    if not chosen or model_cfg.decoder == "mlp":
        return
    dev = val_sources.device
    states = [results[i].state for i in chosen]
    params = {k: torch.stack([st[k] for st in states]).to(dev) for k in states[0]}
    data = [data_ids.index(results[i].spec.data_id) for i in chosen]
    gamma2 = torch.tensor([results[i].spec.gamma2 for i in chosen], dtype=torch.float32)
    rows = selected_check_metrics(
        model_cfg, params, val_sources[data], gamma2, [gens[i][1] for i in chosen], train_cfg.gap
    )
    for i, extra in zip(chosen, rows, strict=True):
        res = results[i]
        for row in res.history:
            if row["epoch"] == res.best["epoch"]:
                row.update(extra)
        res.best.update(extra)
