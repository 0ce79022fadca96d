"""An exponential moving average of a model's weights (Polyak averaging), as FixMatch, Mean Teacher and
most semi-supervised recipes evaluate with.

``torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)``
computes the same average (a test checks they agree), but it reads its step counter back from the device
twice per update (``n_averaged == 0`` and ``n_averaged > 0``), which makes every training step wait for
the GPU; here the counter stays on the host and an update is one ``torch._foreach_lerp_``.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
from torch import nn

from fewlabel.errors import InputError


def check_decay(decay, name: str = "ema") -> float | None:
    """None (off) or a decay in (0, 1)."""
    if decay is None:
        return None
    ok = isinstance(decay, (int, float)) and not isinstance(decay, bool) and math.isfinite(decay) and 0 < decay < 1
    if not ok:
        raise InputError(f"{name} is the decay of the weights' moving average, a number in (0, 1) such as 0.999, "
                         f"or None (off); got {decay!r}")
    return float(decay)


@torch.no_grad()
def ema_update_(average: Sequence[torch.Tensor], current: Sequence[torch.Tensor], decay: float) -> None:
    """``average <- decay * average + (1 - decay) * current``, in place, tensor by tensor.

    One fused ``torch._foreach_lerp_`` over all tensors: a kernel or two per step instead of several per
    tensor, which is what keeps the average cheap beside a training step.
    """
    if len(average) != len(current):
        raise RuntimeError(f"the moving average holds {len(average)} tensors but the model {len(current)}: "
                           "they no longer have the same tensors")
    torch._foreach_lerp_(list(average), [t.detach() for t in current], 1.0 - decay)


class WeightEMA:
    """``average <- d * average + (1 - d) * weights`` after each optimizer step, for every parameter and
    floating-point buffer (batch-norm statistics included; integer buffers are copied).

    With ``warmup`` (the default) the decay of update ``t`` (counting from 1) is
    ``min(decay, (1 + t) / (10 + t))``, as TensorFlow's ``ExponentialMovingAverage(num_updates=...)``: early
    on the average follows the weights closely instead of remembering the random initialisation for
    ``~1 / (1 - decay)`` steps, which matters in short runs. ``module`` is the averaged copy (eval mode,
    no gradients).
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.decay = check_decay(decay)
        self.warmup = bool(warmup)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    def decay_at(self, t: int) -> float:
        """The decay used by update number ``t`` (1, 2, ...)."""
        return min(self.decay, (1 + t) / (10 + t)) if self.warmup else self.decay

    @staticmethod
    def _tensors(module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        tensors = [t.detach() for t in (*module.parameters(), *module.buffers())]
        floats = [t for t in tensors if t.is_floating_point()]
        others = [t for t in tensors if not t.is_floating_point()]
        return floats, others

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step of the average towards ``model``'s current weights."""
        self.updates += 1
        mine, my_others = self._tensors(self.module)
        theirs, their_others = self._tensors(model)
        if len(mine) != len(theirs) or len(my_others) != len(their_others):
            raise RuntimeError("the averaged model and the trained one no longer have the same tensors")
        ema_update_(mine, theirs, self.decay_at(self.updates))
        for a, b in zip(my_others, their_others):
            a.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        self.module.load_state_dict(state)
        self.updates = int(updates)
