"""The network deep clustering trains: a pretrained network's codes and trainable cluster centres
(the estimator is ``fewlabel.tasks.deep_cluster.DeepClustering``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Q: Student's t similarity of each code (row of ``z``) to each centre, normalised over centres."""
    d2 = torch.cdist(z.float(), centers.float()).pow(2)  # (n, k) squared distances
    # log of the unnormalised kernel, normalised with logsumexp: no underflow for far-away codes
    logits = -(alpha + 1.0) / 2.0 * torch.log1p(d2 / alpha)
    return torch.softmax(logits, dim=1)


class ClusteringNet(nn.Module):
    """``network`` (an autoencoder's network, whose decoder IDEC keeps training, or an encoder alone) plus
    the trainable cluster centres ``(k, code size)``.

    ``encode(network, x)`` gives the codes, one row per example; without it, ``network(x)`` does (an
    encoder such as a :class:`~fewlabel.nets.encoder.CodeEncoder`).
    """

    def __init__(self, network: nn.Module, centers: np.ndarray, encode=None):
        super().__init__()
        self.network = network
        self.centers = nn.Parameter(torch.as_tensor(np.asarray(centers, dtype=np.float32)))
        self._encode = encode

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x) if self._encode is None else self._encode(self.network, x)

    def soft_assign(self, x: torch.Tensor, alpha: float) -> torch.Tensor:
        return soft_assignment(self.codes(x), self.centers, alpha)
