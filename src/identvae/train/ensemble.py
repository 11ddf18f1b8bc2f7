"""The ensemble trainer: R runs of one method trained at once in one process.

Parameters are stacked along a leading run axis and every run has its own generators (initial
weights, minibatch order and noise; evaluation), its own per-run settings, learning rate and
dataset, its own early stopping and its own selected check. The optimiser is elementwise and each
run's loss depends only on its own parameters, so training R runs together gives the same
numbers as training each alone. Runs that stop (early stopping or divergence) leave the stack.

The method (``identvae.methods.base.Method``) gives the parameters, loss, check metrics and
optimiser; this module is the loop: resume, then per epoch step -> check -> select, drop the
finished rows, checkpoint."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from identvae.data.datasets import Dataset
from identvae.methods.base import Batch, Method, Params, Part, Settings
from identvae.models.ensemble import run_state_dict
from identvae.train.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from identvae.train.data import stack_part
from identvae.train.stack import Stack


@dataclass(frozen=True)
class TrainConfig:
    """Loop settings shared by every run of an ensemble (defaults: the config schema)."""

    lr: float  # the learning rate of runs that do not set their own
    batch_size: int
    max_epochs: int
    val_every: int  # epochs between checks (and the last epoch)
    patience: int  # checks without a better selection key before a run stops

    @classmethod
    def from_settings(cls, train: Mapping[str, Any]) -> TrainConfig:
        """The loop settings of a validated ``train`` section (other keys are the method's)."""
        return cls(**{f.name: train[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class RunSpec:
    """What may differ between the runs of one ensemble."""

    run_id: str
    data_id: str
    model_seed: int
    settings: dict[str, float] = field(default_factory=dict)  # the method's, e.g. gamma2, beta
    lr: float | None = None  # None: TrainConfig.lr


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


# What a checkpoint keeps of each RunResult.
_RESUMED_FIELDS = (
    "status",
    "history",
    "best",
    "state",
    "epochs_trained",
    "stopped_early",
    "bad_checks",
)


@dataclass
class _Chunk:
    """The fixed inputs of one training job."""

    method: Method
    cfg: TrainConfig
    runs: list[RunSpec]
    data_ids: list[str]  # sorted; a run's dataset index points into it
    train: Part
    check: Part  # the part the checks read (the train part itself without a validation split)
    gens: list[tuple[torch.Generator, torch.Generator]]  # (training, evaluation) per run
    results: list[RunResult]
    settings_hash: str
    t0: float = 0.0  # perf_counter at (virtual) training start, for wall_time_s


def run_generators(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Two independent CPU generators per run: one for training (init, order, noise), one for
    evaluation, so how often a run is evaluated never changes how it trains."""
    seeds = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return tuple(torch.Generator().manual_seed(int(s) >> 1) for s in seeds)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def full_float32() -> Iterator[None]:
    """CUDA's convolutions and matrix products in full float32 while it lasts, not TF32 (cuDNN's
    default for convolutions), whose 10-bit mantissa makes two differently batched computations
    differ by ~1e-3."""
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


@contextmanager
def deterministic_kernels(dev: torch.device) -> Iterator[None]:
    """On CUDA, PyTorch's and cuDNN's deterministic kernels while it lasts. Without them a
    convolution's backward pass sums in whatever order its threads finish, so a resumed job did
    not end bit-identical to one never stopped (seen on an H200). Ops with no deterministic CUDA
    kernel warn instead of failing. The CPU's kernels are deterministic already."""
    if dev.type != "cuda":
        yield
        return
    # cuBLAS is deterministic only with a fixed workspace; it must be set before its first use
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]


def settings_tensors(runs: list[RunSpec], dev: torch.device) -> Settings:
    """The runs' method settings as float32 tensors [R] (every run must set the same keys)."""
    keys = {tuple(sorted(r.settings)) for r in runs}
    if len(keys) > 1:
        raise ValueError(f"runs of one ensemble must set the same settings, got {sorted(keys)}")
    names = sorted(runs[0].settings) if runs else []
    return {
        k: torch.tensor([r.settings[k] for r in runs], dtype=torch.float32, device=dev)
        for k in names
    }


def train_epoch(
    method: Method,
    params: Params,
    opt: torch.optim.Optimizer,
    train: Part,
    data: torch.Tensor,
    settings: Settings,
    generators: list[torch.Generator],
    batch_size: int,
    max_steps: int | None = None,
) -> torch.Tensor:
    """One epoch (or its first ``max_steps`` minibatches) of all stacked runs; returns each run's
    mean training loss, on the device (reading it back is the caller's one sync per epoch).

    ``data`` [R] is each run's dataset index into ``train``. Each run draws its minibatch order,
    then its noise, for the whole epoch from its own generator."""
    dev = train.x.device
    n_train = train.size
    order = torch.stack([torch.randperm(n_train, generator=g) for g in generators]).to(dev)
    draws = [method.epoch_noise(g, n_train) for g in generators]
    noise = None if draws[0] is None else torch.stack(draws).to(dev)
    # rows of the parts flattened over datasets: index_select is cheaper than indexing [D, N]
    rows = data[:, None] * n_train + order
    x_rows = train.x.flatten(0, 1)
    label_rows = None if train.labels is None else train.labels.flatten(0, 1)
    loss_sum = torch.zeros(len(generators), device=dev)
    seen = 0
    for step, start in enumerate(range(0, n_train, batch_size)):
        if step == max_steps:
            break
        idx = rows[:, start : start + batch_size]
        batch = Batch(
            x=_gather(x_rows, idx),
            noise=None if noise is None else noise[:, start : start + batch_size],
            labels=None if label_rows is None else _gather(label_rows, idx),
        )
        loss = train_step(method, params, opt, batch, settings)
        loss_sum += loss.detach() * idx.shape[1]
        seen += idx.shape[1]
    return loss_sum / seen


def train_step(
    method: Method, params: Params, opt: torch.optim.Optimizer, batch: Batch, settings: Settings
) -> torch.Tensor:
    """One optimisation step of all stacked runs on ``batch``; returns each run's loss [R]. The
    gradient is the method's own (``loss_and_grad``) where it writes one out, else autograd's."""
    loss_and_grad = getattr(method, "loss_and_grad", None)
    by_hand = None if loss_and_grad is None else loss_and_grad(params, batch, settings)
    if by_hand is None:
        loss = method.loss(params, batch, settings)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
    else:
        loss, grads = by_hand
        for name, p in params.items():
            if p.requires_grad:
                p.grad = grads[name]
    opt.step()
    return loss


def _gather(rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """rows [M, ...] at idx [R, B] -> [R, B, ...]."""
    return rows.index_select(0, idx.reshape(-1)).view(*idx.shape, *rows.shape[1:])


def train_ensemble(
    method: Method,
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
    stopping (on the same device); only the ``wall_time_s`` column differs."""
    dev = resolve_device(device)
    # on CUDA, exact: full float32 was also the faster for E5's convolutions (docs/performance.md)
    with deterministic_kernels(dev), full_float32():
        return _train(
            method, train_cfg, runs, datasets, dev, progress, desc, checkpoint, checkpoint_every_s
        )


def _train(
    method: Method,
    train_cfg: TrainConfig,
    runs: list[RunSpec],
    datasets: dict[str, Dataset],
    dev: torch.device,
    progress: bool,
    desc: str,
    checkpoint: str | Path | None,
    checkpoint_every_s: float,
) -> list[RunResult]:
    chunk = _prepare(method, train_cfg, runs, datasets, dev)
    saved = load_checkpoint(checkpoint, chunk.settings_hash) if checkpoint else None
    if saved is None:
        first_epoch, elapsed, stack = 1, 0.0, _start(chunk, datasets, dev)
    else:
        first_epoch, elapsed, stack = _resume(chunk, saved, dev)
        print(f"{desc}: resumed from {checkpoint} after epoch {saved['epoch']}", file=sys.stderr)
    bar = tqdm(
        total=train_cfg.max_epochs,
        initial=first_epoch - 1,
        desc=desc,
        unit="epoch",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
    )
    chunk.t0 = time.perf_counter() - elapsed
    last_save = time.perf_counter()
    for epoch in range(first_epoch, train_cfg.max_epochs + 1):
        if not stack.rows:
            break
        train_loss, lr = _step(chunk, stack, epoch)
        diverged = [r for row, r in enumerate(stack.rows) if not torch.isfinite(train_loss[row])]
        if _is_check_epoch(train_cfg, epoch):
            metrics = _check(chunk, stack, epoch, train_loss, lr)
            stopped = _select(chunk, stack, metrics, diverged)
            stack.settings = method.after_check(metrics, stack.settings)
            _drop(stack, stopped)
        elif diverged:
            # Record and drop them without a check: an extra check would draw from the other
            # runs' evaluation streams and count against their patience (and reset an MLE
            # gamma2), so they would no longer train as if alone.
            _record_diverged(chunk, stack, epoch, train_loss, diverged)
            _drop(stack, diverged)
        if checkpoint and time.perf_counter() - last_save >= checkpoint_every_s:
            _save(chunk, stack, epoch, checkpoint)
            last_save = time.perf_counter()
        bar.update(1)
        bar.set_postfix(active=len(stack.rows), refresh=False)
    bar.close()
    for res in chunk.results:
        if res.status == "running":
            res.status = "ok"
    _add_selected_check_metrics(chunk, dev)
    return chunk.results


def _prepare(
    method: Method,
    cfg: TrainConfig,
    runs: list[RunSpec],
    datasets: dict[str, Dataset],
    dev: torch.device,
) -> _Chunk:
    data_ids = sorted({r.data_id for r in runs})
    missing = [d for d in data_ids if d not in datasets]
    if missing:
        raise KeyError(f"runs refer to datasets that were not given: {missing}")
    ordered = [datasets[d] for d in data_ids]
    train = stack_part(ordered, "train", dev)
    check = train if method.check_part == "train" else stack_part(ordered, method.check_part, dev)
    settings_hash = fingerprint(
        [
            method.config(),
            asdict(cfg),
            [asdict(r) for r in runs],
            [(d.seed, d.config) for d in ordered],
        ]
    )
    return _Chunk(
        method=method,
        cfg=cfg,
        runs=runs,
        data_ids=data_ids,
        train=train,
        check=check,
        gens=[run_generators(r.model_seed) for r in runs],
        results=[RunResult(spec=r) for r in runs],
        settings_hash=settings_hash,
    )


def _start(chunk: _Chunk, datasets: dict[str, Dataset], dev: torch.device) -> Stack:
    """The stack at epoch 0: every run's initial parameters from its training generator."""
    runs, method = chunk.runs, chunk.method
    params = method.init_params(
        [g for g, _ in chunk.gens], [datasets[r.data_id] for r in runs], [r.settings for r in runs]
    )
    lr = torch.tensor([chunk.cfg.lr if r.lr is None else r.lr for r in runs], dtype=torch.float64)
    schedule = method.lr_schedule()
    return Stack(
        method,
        {k: v.to(dev) for k, v in params.items()},
        rows=list(range(len(runs))),
        lr=lr,
        settings=settings_tensors(runs, dev),
        data=torch.tensor([chunk.data_ids.index(r.data_id) for r in runs], device=dev),
        schedule=None if schedule is None else schedule.init_state(lr),
    )


def _resume(chunk: _Chunk, saved: dict[str, Any], dev: torch.device) -> tuple[int, float, Stack]:
    """Restore results, generators and the stack from a checkpoint of the same settings."""
    for res, saved_fields in zip(chunk.results, saved["results"], strict=True):
        for name in _RESUMED_FIELDS:
            setattr(res, name, saved_fields[name])
    for pair, states in zip(chunk.gens, saved["generators"], strict=True):
        for gen, st in zip(pair, states, strict=True):
            gen.set_state(st)
    return (
        saved["epoch"] + 1,
        saved["elapsed_s"],
        Stack.from_state(chunk.method, saved["stack"], dev),
    )


def _save(chunk: _Chunk, stack: Stack, epoch: int, path: str | Path) -> None:
    state = {
        "epoch": epoch,
        "elapsed_s": time.perf_counter() - chunk.t0,
        "stack": stack.state(),
        "results": [
            {name: getattr(res, name) for name in _RESUMED_FIELDS} for res in chunk.results
        ],
        "generators": [[g.get_state() for g in pair] for pair in chunk.gens],
    }
    save_checkpoint(path, state, chunk.settings_hash)


def _is_check_epoch(cfg: TrainConfig, epoch: int) -> bool:
    return epoch % cfg.val_every == 0 or epoch == cfg.max_epochs


def _step(chunk: _Chunk, stack: Stack, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train one epoch with the method's settings for it, then step the runs' lr schedule (if
    any); return each run's mean training loss [R] on the CPU and the learning rates [R] the
    epoch trained with."""
    lr = stack.lr
    train_loss = train_epoch(
        chunk.method,
        stack.params,
        stack.opt,
        chunk.train,
        stack.data,
        chunk.method.training_settings(stack.settings, epoch),
        [chunk.gens[r][0] for r in stack.rows],
        chunk.cfg.batch_size,
    ).cpu()
    for r in stack.rows:
        chunk.results[r].epochs_trained = epoch
    stack.step_schedule(train_loss)
    return train_loss, lr


def _check(
    chunk: _Chunk, stack: Stack, epoch: int, train_loss: torch.Tensor, lr: torch.Tensor
) -> list[dict]:
    """Evaluate every stacked run and append the check to its history (with the epoch's
    learning rate when it is scheduled); return the metrics."""
    metrics = chunk.method.evaluate(
        stack.params,
        chunk.check,
        stack.data,
        stack.settings,
        [chunk.gens[r][1] for r in stack.rows],
    )
    scheduled = stack.schedule is not None
    for row, r in enumerate(stack.rows):
        chunk.results[r].history.append(
            {
                "epoch": epoch,
                chunk.method.train_metric: float(train_loss[row]),
                **({"epoch_lr": float(lr[row])} if scheduled else {}),
                **metrics[row],
                "wall_time_s": time.perf_counter() - chunk.t0,
            }
        )
    return metrics


def _select(chunk: _Chunk, stack: Stack, metrics: list[dict], diverged: list[int]) -> list[int]:
    """Keep each run's best check and count its patience; return the runs that stop now."""
    key = chunk.method.selection_key
    stopped = []
    for row, r in enumerate(stack.rows):
        res = chunk.results[r]
        if key is None:  # the last check is reported; only a non-finite loss stops a run
            value, better = 0.0, True
        else:
            value = metrics[row][key]
            better = res.best is None or value < res.best[key]
        if r in diverged or not math.isfinite(value):
            res.status = "diverged"
            stopped.append(r)
        elif better:
            res.best, res.bad_checks = res.history[-1], 0
            res.state = run_state_dict(stack.params, row)
        else:
            res.bad_checks += 1
            if res.bad_checks >= chunk.cfg.patience:
                res.status, res.stopped_early = "ok", True
                stopped.append(r)
    return stopped


def _record_diverged(
    chunk: _Chunk, stack: Stack, epoch: int, train_loss: torch.Tensor, diverged: list[int]
) -> None:
    for row, r in enumerate(stack.rows):
        if r in diverged:
            chunk.results[r].status = "diverged"
            chunk.results[r].history.append(
                {
                    "epoch": epoch,
                    chunk.method.train_metric: float(train_loss[row]),
                    "wall_time_s": time.perf_counter() - chunk.t0,
                }
            )


def _drop(stack: Stack, finished: list[int]) -> None:
    if finished:
        stack.keep([r for r in stack.rows if r not in finished])


def _add_selected_check_metrics(chunk: _Chunk, dev: torch.device) -> None:
    """Add the metrics computed only at the selected check (e.g. E4's ELBO gap) to each finished
    run's selected history row (and so to ``best``), from its saved weights."""
    chosen = [i for i, res in enumerate(chunk.results) if res.status == "ok" and res.state]
    if not chosen:
        return
    states = [chunk.results[i].state for i in chosen]
    params = {k: torch.stack([st[k] for st in states]).to(dev) for k in states[0]}
    data = torch.tensor([chunk.data_ids.index(chunk.runs[i].data_id) for i in chosen], device=dev)
    rows = chunk.method.selected_check_metrics(
        params,
        chunk.check,
        data,
        settings_tensors([chunk.runs[i] for i in chosen], dev),
        [chunk.gens[i][1] for i in chosen],
    )
    for i, extra in zip(chosen, rows, strict=True):
        res = chunk.results[i]
        # best and its history row are one dict until a checkpoint round trip copies them
        for row in res.history:
            if row["epoch"] == res.best["epoch"]:
                row.update(extra)
        res.best.update(extra)
