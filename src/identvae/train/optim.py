"""Optimisers for stacked runs: Adam over one flat buffer (one shared rate, the fast path), an
elementwise Adam whose step size is a per-row tensor, and ReduceLROnPlateau kept per run.

``torch.optim.Adam`` takes one learning rate per parameter group, but the rows of a stacked
tensor [R, ...] are R runs, so a per-run rate needs a per-row step size. Both pieces keep rows
independent: a row's update reads only that row's gradient, moments, rate and loss."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch


class ElementwiseOptimizer:
    """What the training loop uses of ``torch.optim.Optimizer``: ``param_groups`` (one group),
    ``state`` per tensor and ``zero_grad``, without that base class. Constructing a
    ``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time, about 2 s of every
    training job (docs/performance.md), and these optimisers need none of its machinery."""

    def __init__(self, params: list[torch.Tensor], defaults: dict[str, Any]):
        self.param_groups = [{"params": list(params), **defaults}]
        self.state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()


class FlatAdam(ElementwiseOptimizer):
    """``torch.optim.Adam(foreach=True)`` (no weight decay, no amsgrad) at one learning rate, with
    the elements of all its tensors in one flat buffer, so that a step is eight operations
    however many tensors there are.

    Why: on the CPU torch's foreach Adam loops over the tensors in Python and C++, and on an
    ensemble's small tensors that overhead was a quarter of a training step (docs/performance.md).
    The update is the same elementwise arithmetic in the same order, so the numbers are bitwise
    those of torch's foreach Adam on the CPU (tested).

    The parameters become views into the flat buffer (their ``.data`` is replaced; autograd still
    sees the same leaf tensors). ``state[p]`` holds torch's keys: ``step`` (shared), and
    ``exp_avg`` and ``exp_avg_sq`` as views into the flat moments, so saving and restoring state
    per tensor works as for torch's Adam; a state installed from outside is gathered into the
    flat moments at the next step. Every tensor must receive a gradient."""

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        self.tensors = list(self.param_groups[0]["params"])
        if not self.tensors:
            raise ValueError("FlatAdam takes one non-empty list of tensors")
        kinds = {(p.dtype, p.device) for p in self.tensors}
        if len(kinds) != 1:
            raise ValueError(f"FlatAdam needs tensors of one dtype and device, got {kinds}")
        self.flat = torch.cat([p.detach().reshape(-1) for p in self.tensors])
        self._bounds = []
        start = 0
        for p in self.tensors:
            self._bounds.append((start, start + p.numel()))
            p.data = self.flat[start : start + p.numel()].view_as(p)
            start += p.numel()
        self._views: list[torch.Tensor] = []  # exp_avg views as installed, see _gather_state

    def _view(self, buffer: torch.Tensor, i: int) -> torch.Tensor:
        start, stop = self._bounds[i]
        return buffer[start:stop].view_as(self.tensors[i])

    def _gather_state(self) -> None:
        """(Re)build the flat moments from ``state`` (zeros and step 0 where there is none)."""
        states = [self.state[p] for p in self.tensors]
        steps = {float(st["step"]) for st in states if st}
        if len(steps) > 1 or (steps and not all(states)):
            raise ValueError(f"FlatAdam's tensors must share one step count, got {steps or {0}}")
        self.step_count = torch.tensor(steps.pop() if steps else 0.0)
        moments = {}
        for key in ("exp_avg", "exp_avg_sq"):
            parts = [
                st[key].reshape(-1) if st else torch.zeros_like(p).reshape(-1)
                for p, st in zip(self.tensors, states, strict=True)
            ]
            moments[key] = torch.cat(parts).to(self.flat)
        self.exp_avg, self.exp_avg_sq = moments["exp_avg"], moments["exp_avg_sq"]
        for i, p in enumerate(self.tensors):
            self.state[p] = {
                "step": self.step_count,
                "exp_avg": self._view(self.exp_avg, i),
                "exp_avg_sq": self._view(self.exp_avg_sq, i),
            }
        self._views = [self.state[p]["exp_avg"] for p in self.tensors]

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 (torch's signature)
        if len(self._views) != len(self.tensors) or any(
            self.state[p].get("exp_avg") is not v
            for p, v in zip(self.tensors, self._views, strict=True)
        ):
            self._gather_state()
        if any(p.grad is None for p in self.tensors):
            raise ValueError("FlatAdam needs a gradient for every tensor it optimises")
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        grad = torch.cat([p.grad.reshape(-1) for p in self.tensors])
        self.step_count += 1
        step = self.step_count.item()
        # torch's _multi_tensor_adam, non-capturable branch, on one tensor
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2)
        self.exp_avg_sq.addcmul_(grad, grad, value=1 - beta2)
        step_size = (lr / (1 - beta1**step)) * -1
        denom = self.exp_avg_sq.sqrt()
        denom.div_((1 - beta2**step) ** 0.5)
        denom.add_(eps)
        self.flat.addcdiv_(self.exp_avg, denom, value=step_size)
        return None


class RowAdam(ElementwiseOptimizer):
    """Adam (no weight decay, no amsgrad) with step size ``lr[r]`` for row r of every tensor.

    Equals ``torch.optim.Adam`` at an equal rate to float tolerance (the same update, written
    with a tensor step size). State per tensor is Adam's: ``step`` (a scalar), ``exp_avg`` and
    ``exp_avg_sq`` (both [R, ...]), so rows can be dropped by indexing. Set the rates with
    :meth:`set_lr`."""

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: torch.Tensor,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, {"betas": betas, "eps": eps})
        self.set_lr(lr)

    def set_lr(self, lr: torch.Tensor) -> None:
        """The per-row rates [R] (one per run, for every tensor)."""
        self.lr = torch.as_tensor(lr, dtype=torch.float64).detach().clone()

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 (torch's signature)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"] = torch.tensor(0.0)
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                step = st["step"].item()
                grad = p.grad
                st["exp_avg"].lerp_(grad, 1 - beta1)
                st["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (st["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**step)).add_(group["eps"])
                step_size = (self.lr / (1 - beta1**step)).to(p.device, p.dtype)
                step_size = step_size.reshape(-1, *([1] * (p.dim() - 1)))
                p.sub_(step_size * st["exp_avg"] / denom)
        return None


class RowPlateau:
    """``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode "min", relative threshold) kept per
    run: each run's rate falls by ``factor`` after more than ``patience`` epochs without a
    relative improvement of its own loss by ``threshold``. Defaults are torch's.

    The state is a dict of per-run tensors [R] so that it is dropped with its rows and saved in
    checkpoints like the parameters."""

    def __init__(
        self,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        if factor >= 1.0:
            raise ValueError(f"factor must be < 1, got {factor}")
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps

    def init_state(self, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        runs = len(lr)
        return {
            "best": torch.full((runs,), math.inf, dtype=torch.float64),
            "bad_epochs": torch.zeros(runs, dtype=torch.long),
            "cooldown": torch.zeros(runs, dtype=torch.long),
        }

    def step(
        self, state: dict[str, torch.Tensor], lr: torch.Tensor, loss: torch.Tensor
    ) -> torch.Tensor:
        """Update ``state`` in place with each run's loss [R]; return the new rates [R]."""
        loss = loss.to(torch.float64)
        better = loss < state["best"] * (1.0 - self.threshold)
        state["best"] = torch.where(better, loss, state["best"])
        state["bad_epochs"] = torch.where(better, 0, state["bad_epochs"] + 1)
        cooling = state["cooldown"] > 0
        state["cooldown"] = torch.where(cooling, state["cooldown"] - 1, state["cooldown"])
        state["bad_epochs"] = torch.where(cooling, 0, state["bad_epochs"])
        reduce = state["bad_epochs"] > self.patience
        lowered = torch.clamp(lr * self.factor, min=self.min_lr)
        new_lr = torch.where(reduce & (lr - lowered > self.eps), lowered, lr)
        state["cooldown"] = torch.where(reduce, self.cooldown, state["cooldown"])
        state["bad_epochs"] = torch.where(reduce, 0, state["bad_epochs"])
        return new_lr


class RowCosine:
    """``torch.optim.lr_scheduler.CosineAnnealingLR`` stepped once per epoch, kept per run: after
    epoch e of ``epochs`` a run's rate is its initial rate times (1 + cos(π e / epochs)) / 2, so
    the last epoch ends at 0. The loss is not read. State: each run's initial rate and epoch
    count [R], dropped with its rows like :class:`RowPlateau`'s."""

    def __init__(self, epochs: int):
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.epochs = epochs

    def init_state(self, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "initial": lr.to(torch.float64).clone(),
            "epoch": torch.zeros(len(lr), dtype=torch.long),
        }

    def step(
        self, state: dict[str, torch.Tensor], lr: torch.Tensor, loss: torch.Tensor
    ) -> torch.Tensor:
        """Count one epoch per run in ``state`` (in place); return the new rates [R]."""
        state["epoch"] = state["epoch"] + 1
        done = state["epoch"].clamp(max=self.epochs).to(torch.float64) / self.epochs
        return state["initial"] * 0.5 * (1.0 + torch.cos(math.pi * done))


class RowSGD(ElementwiseOptimizer):
    """SGD with momentum and L2 weight decay (``torch.optim.SGD``'s update: no dampening, not
    Nesterov) with step size ``lr[r]`` for row r of every tensor, a step decay and a first phase
    in which some tensors stay fixed: TCL's training (docs/papers/ivae.md section 3).

    - ``frozen``: per tensor, whether it is held fixed for the first ``frozen_steps`` steps (TCL
      trains its classification head alone first, then everything). A fixed tensor is not
      touched at all in that phase: no weight decay, no momentum.
    - the rate of step t (counted from 1) is ``lr * decay_factor ** floor(t' / decay_steps)``
      with t' the steps since the first phase ended (the first phase runs at ``lr``).

    State per tensor: ``step`` (a scalar, shared by all tensors) and ``momentum_buffer``
    [R, ...] (zeros before the tensor's first update, which makes the first update the plain
    gradient step, as in torch), so rows can be dropped by indexing."""

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: torch.Tensor,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        frozen: list[bool] | None = None,
        frozen_steps: int = 0,
        decay_steps: int | None = None,
        decay_factor: float = 0.1,
    ):
        super().__init__(params, {"momentum": momentum, "weight_decay": weight_decay})
        self.tensors = list(self.param_groups[0]["params"])
        self.frozen = [False] * len(self.tensors) if frozen is None else list(frozen)
        if len(self.frozen) != len(self.tensors):
            raise ValueError(f"frozen has {len(self.frozen)} flags for {len(self.tensors)} tensors")
        self.frozen_steps, self.decay_steps, self.decay_factor = (
            frozen_steps,
            decay_steps,
            decay_factor,
        )
        self.set_lr(lr)

    def set_lr(self, lr: torch.Tensor) -> None:
        """The per-row base rates [R] (one per run, for every tensor)."""
        self.lr = torch.as_tensor(lr, dtype=torch.float64).detach().clone()

    def rate_factor(self, step: int) -> float:
        """The decay factor of step ``step`` (1, 2, ...)."""
        after = step - self.frozen_steps
        if self.decay_steps is None or after <= 0:
            return 1.0
        return self.decay_factor ** ((after - 1) // self.decay_steps)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 (torch's signature)
        group = self.param_groups[0]
        for p in self.tensors:
            st = self.state[p]
            if not st:
                st["step"] = torch.tensor(0.0)
                st["momentum_buffer"] = torch.zeros_like(p)
            st["step"] += 1
        step = int(self.state[self.tensors[0]]["step"].item())
        factor = self.rate_factor(step)
        for p, frozen in zip(self.tensors, self.frozen, strict=True):
            if p.grad is None or (frozen and step <= self.frozen_steps):
                continue
            st = self.state[p]
            grad = p.grad
            if group["weight_decay"]:
                grad = grad.add(p, alpha=group["weight_decay"])
            buf = st["momentum_buffer"]
            buf.mul_(group["momentum"]).add_(grad)
            rate = (self.lr * factor).to(p.device, p.dtype).reshape(-1, *([1] * (p.dim() - 1)))
            p.sub_(rate * buf)
        return None
