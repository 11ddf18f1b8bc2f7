"""Per-run learning rates for stacked runs: an elementwise Adam whose step size is a per-row
tensor, and ReduceLROnPlateau kept per run.

``torch.optim.Adam`` takes one learning rate per parameter group, but the rows of a stacked
tensor [R, ...] are R runs, so a per-run rate needs a per-row step size. Both pieces keep rows
independent: a row's update reads only that row's gradient, moments, rate and loss."""

from __future__ import annotations

import math

import torch


class RowAdam(torch.optim.Optimizer):
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
