"""The optimizers and learning-rate schedules the training loop builds (and methods that train outside it,
such as deep clustering, build the same way)."""

from __future__ import annotations

import math
from typing import Any

import torch

from fewlabel.errors import InputError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = (None, "constant", "cosine", "step", "plateau")


def make_optimizer(name: str, params, *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    """The optimizer ``name`` ('sgd', 'adam', 'adamw') over ``params`` (tensors or parameter groups), in
    torch's fused implementation where the device has one (one kernel for all parameters instead of
    several per tensor, which takes a noticeable share off a small model's training step on a CPU)."""
    name = name.lower()
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r}: choose one of {OPTIMIZERS} or pass a callable")
    params = list(params)
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if name == "sgd":
        kwargs["momentum"] = momentum
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    if device is not None and device.type in ("cpu", "cuda"):
        try:
            return cls(params, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):  # an older torch, or parameters fused cannot take
            pass
    return cls(params, **kwargs)


def make_schedule(opt: torch.optim.Optimizer, schedule, *, steps_per_epoch: int, total_steps: int,
                  warmup_epochs: int = 0, step_epochs: int = 10, gamma: float = 0.1, early_stopping=None):
    """(scheduler or None, when it steps: 'step', 'epoch', 'plateau' or None) for ``schedule`` (one of
    :data:`SCHEDULES`) over ``total_steps`` optimizer steps, after ``warmup_epochs`` of linear warm-up.

    'cosine' falls from the rate to 0 along half a cosine; 'step' multiplies it by ``gamma`` every
    ``step_epochs``; 'plateau' by ``gamma`` when the monitored loss stops falling for half the early-stopping
    patience (5 epochs without early stopping).
    """
    warm = warmup_epochs * steps_per_epoch
    if schedule == "cosine":
        def factor(step):
            if step < warm:
                return (step + 1) / warm
            progress = (step - warm) / max(1, total_steps - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return torch.optim.lr_scheduler.LambdaLR(opt, factor), "step"
    if schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=step_epochs, gamma=gamma), "epoch"
    if schedule == "plateau":
        patience = max(1, (early_stopping or 10) // 2)
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=gamma, patience=patience), "plateau"
    if warm:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm)), "step"
    return None, None
