"""The consistency stage: FixMatch (Sohn et al., 2020) on image rows.

Each step, the network's confident predictions on weakly augmented unlabeled images become the targets for
strongly augmented views of the same images. :class:`FixMatch` gives the loss a
:class:`~fewlabel.tasks.network.NetworkStage` trains with; it can start from a fresh network, a pretrained
encoder, or the network the propagated labels trained (``init``), so it follows either route.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from fewlabel._base import to_float
from fewlabel.augment import strong_augment, weak_augment
from fewlabel.checks import non_negative_number, positive_int
from fewlabel.errors import InputError


@contextlib.contextmanager
def teacher_mode(net: torch.nn.Module):
    """Dropout off, batch-norm still normalising by the batch but not updating its running statistics."""
    dropouts = [m for m in net.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.training]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in dropouts:
        m.eval()
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield net
    finally:
        for m in dropouts:
            m.train()
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


class FixMatch:
    """FixMatch's loss: the cross-entropy of weakly augmented labeled rows plus ``unlabeled_weight`` times the
    mean over the batch of ``[max p(weak(u)) >= threshold] * CE(strong(u), argmax p(weak(u)))``, the
    pseudo-labels taken without gradient. A batch of ``batch_size`` rows holds ``labeled_per_batch`` labeled
    rows drawn at random and ``unlabeled_ratio`` times as many rows of X."""

    def __init__(self, threshold: float = 0.95, unlabeled_weight: float = 1.0, unlabeled_ratio: int = 7):
        self.threshold, self.unlabeled_weight, self.unlabeled_ratio = threshold, unlabeled_weight, unlabeled_ratio

    def check(self) -> None:
        positive_int("unlabeled_ratio", self.unlabeled_ratio)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not 0 <= self.threshold <= 1:
            raise InputError(f"threshold (the confidence a pseudo-label needs) must be in [0, 1], "
                             f"got {self.threshold!r}")
        non_negative_number("unlabeled_weight", self.unlabeled_weight)

    def labeled_per_batch(self, batch_size: int) -> int:
        return max(1, int(batch_size) // (1 + int(self.unlabeled_ratio)))

    def loss(self, X_lab, y_lab, *, supervised, scale: float, input_shape, batch_size: int):
        """The loss function over batches of all rows; ``X_lab``/``y_lab`` the labeled rows (kept on the device),
        ``supervised`` the loss for validation batches."""
        threshold, weight = float(self.threshold), float(self.unlabeled_weight)
        n_lab = self.labeled_per_batch(batch_size)
        resident = {"X": torch.from_numpy(np.ascontiguousarray(X_lab)), "y": torch.from_numpy(y_lab)}

        def loss_fn(net, batch):
            if not net.training:  # validation: the labeled validation rows, plain cross-entropy
                return supervised(net, batch)
            xu = to_float(batch[0], scale)
            if resident["X"].device != xu.device:  # moved to the device once, on the first step
                resident["X"], resident["y"] = resident["X"].to(xu.device), resident["y"].to(xu.device)
            pick = torch.randint(len(resident["y"]), (n_lab,), device=xu.device)
            xl, yl = to_float(resident["X"][pick], scale), resident["y"][pick]
            n_u = len(xu)
            # The pseudo-labels: the weak views without dropout (dropout would lower the confidence the threshold
            # is measured against), batch-norm on the batch's statistics as in training, its running averages
            # left alone; no gradient flows through them.
            with torch.no_grad(), teacher_mode(net):
                confidence, pseudo = torch.softmax(net(weak_augment(xu, input_shape)).float(), dim=1).max(dim=1)
                mask = (confidence >= threshold).float()
            # One pass over the labeled and strong views together (batch-norm sees both).
            logits = net(torch.cat([weak_augment(xl, input_shape), strong_augment(xu, input_shape)]))
            logits_l, logits_s = logits.float().split([n_lab, n_u])
            sup = F.cross_entropy(logits_l, yl)
            unl = (F.cross_entropy(logits_s, pseudo, reduction="none") * mask).mean()
            return {"loss": sup + weight * unl, "supervised": sup.detach(), "unlabeled": unl.detach(),
                    "mask_rate": mask.mean(), "accuracy": (logits_l.argmax(1) == yl).float().mean()}

        return loss_fn
