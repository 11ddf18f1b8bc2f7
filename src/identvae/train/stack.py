"""The live, stacked state of the runs still training: parameters [R, ...], optimiser, per-run
settings, learning rates and schedule state, and which chunk run each stacked row is.

Dropping rows (a run that stopped or diverged) indexes every one of them, so a dropped run
costs nothing afterwards and never changes again."""

from __future__ import annotations

from typing import Any

import torch

from identvae.methods.base import Method, Params, Settings


class Stack:
    def __init__(
        self,
        method: Method,
        params: Params,
        rows: list[int],
        lr: torch.Tensor,
        settings: Settings,
        data: torch.Tensor,
        schedule: dict[str, torch.Tensor] | None = None,
    ):
        self.method = method
        self.params = {
            k: v.detach().clone().requires_grad_(method.is_trainable(k)) for k, v in params.items()
        }
        self.rows = rows  # index into the chunk's runs, per stacked row
        self.lr = lr  # [R] float64 on the CPU: each run's current learning rate
        self.settings = settings  # the method's per-run settings tensors [R]
        self.data = data  # [R] index of each run's dataset
        self.schedule = schedule  # per-run state of the method's lr schedule, if any
        self.opt = method.make_optimizer(self.trainable(), lr) if rows else None

    def trainable(self) -> list[torch.Tensor]:
        """The optimised parameter tensors, in parameter order (fixed ones left out)."""
        return [v for k, v in self.params.items() if self.method.is_trainable(k)]

    def keep(self, keep_rows: list[int]) -> None:
        """Drop the stacked rows not in keep_rows, optimiser and schedule state included."""
        idx = torch.tensor(
            [self.rows.index(r) for r in keep_rows], dtype=torch.long, device=self.device
        )
        opt_state = self.opt_state()
        self.params = {
            k: v.detach()[idx].clone().requires_grad_(self.method.is_trainable(k))
            for k, v in self.params.items()
        }
        self.lr = self.lr[idx.cpu()]
        self.settings = {k: v[idx] for k, v in self.settings.items()}
        self.data = self.data[idx]
        if self.schedule is not None:
            self.schedule = {k: v[idx.cpu()] for k, v in self.schedule.items()}
        self.rows = list(keep_rows)
        self.opt = self.method.make_optimizer(self.trainable(), self.lr) if keep_rows else None
        if self.opt is not None:
            self.set_opt_state(opt_state, idx)

    def step_schedule(self, train_loss: torch.Tensor) -> None:
        """Step the per-run lr schedule (if any) on each run's mean training loss [R] (CPU)."""
        if self.schedule is None:
            return
        self.lr = self.method.lr_schedule().step(self.schedule, self.lr, train_loss)
        self.opt.set_lr(self.lr)

    def opt_state(self) -> list[dict[str, torch.Tensor] | None]:
        """The optimiser's buffers per trainable tensor, in parameter order (None before the
        first step)."""
        if self.opt is None:
            return [None for _ in self.trainable()]
        return [dict(self.opt.state[p]) if p in self.opt.state else None for p in self.trainable()]

    def set_opt_state(
        self, states: list[dict[str, torch.Tensor] | None], idx: torch.Tensor | None = None
    ) -> None:
        """Install saved optimiser buffers, keeping only the stacked rows ``idx`` if given.
        Per-row buffers move to the tensor's device; scalars (Adam's ``step``) stay put."""
        for param, st in zip(self.trainable(), states, strict=True):
            if st is None:
                continue
            self.opt.state[param] = {
                k: v.clone()
                if v.dim() == 0
                else (v if idx is None else v[idx]).to(param.device).clone()
                for k, v in st.items()
            }

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this stack (on the CPU)."""
        return {
            "rows": list(self.rows),
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "opt": [
                None if st is None else {k: v.detach().cpu() for k, v in st.items()}
                for st in self.opt_state()
            ],
            "lr": self.lr,
            "settings": {k: v.cpu() for k, v in self.settings.items()},
            "data": self.data.cpu(),
            "schedule": self.schedule,
        }

    @classmethod
    def from_state(cls, method: Method, state: dict[str, Any], dev: torch.device) -> Stack:
        stack = cls(
            method,
            {k: v.to(dev) for k, v in state["params"].items()},
            rows=list(state["rows"]),
            lr=state["lr"],
            settings={k: v.to(dev) for k, v in state["settings"].items()},
            data=state["data"].to(dev),
            schedule=state["schedule"],
        )
        if stack.opt is not None:
            stack.set_opt_state(state["opt"])
        return stack

    @property
    def device(self) -> torch.device:
        return self.data.device
