"""Losses shared by more than one training route."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
                           ) -> torch.Tensor:
    """Cross-entropy averaged with per-row weights (a propagated label counts as much as it is confident):
    ``sum(w * CE) / sum(w)``; the plain mean when ``weight`` is None. The weights' sum is kept above zero so
    that a batch of zero-weight rows gives a zero loss, not NaN."""
    if weight is None:
        return F.cross_entropy(logits, target)
    w = weight.float()
    return (F.cross_entropy(logits, target, reduction="none") * w).sum() / w.sum().clamp_min(1e-6)
