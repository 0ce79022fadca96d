"""BYOL's network (Grill et al., 2020): the online encoder, projector and predictor, the target encoder and
projector that follow them as a moving average, and the loss of two views (the estimator is
``fewlabel.pretrain.byol.BYOL``)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from fewlabel.nets.encoder import CodeEncoder
from fewlabel.registry import register
from fewlabel.train.ema import ema_update_


class ProjectionMLP(nn.Sequential):
    """``Linear(in, hidden) -> BatchNorm1d -> ReLU -> Linear(hidden, out)``: BYOL's projector and predictor."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, out_dim))


def regression_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-example ``|| p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z)`` (computed in float32)."""
    p, z = F.normalize(p.float(), dim=1), F.normalize(z.float(), dim=1)
    return 2 - 2 * (p * z).sum(dim=1)


@register
class BYOLNet(nn.Module):
    """The online network (``encoder``, ``projector``, ``predictor``) and the target network
    (``target_encoder``, ``target_projector``: copies of the online ones, never trained by gradient).

    ``encoder`` is a :class:`~fewlabel.nets.encoder.CodeEncoder` config. ``forward(x)`` gives the online
    representation; :meth:`loss` the symmetric BYOL loss of two views; :meth:`update_target` the EMA step.
    """

    def __init__(self, encoder: dict, projection_dim: int = 256, hidden_dim: int = 4096):
        super().__init__()
        self.args = {"encoder": dict(encoder), "projection_dim": int(projection_dim), "hidden_dim": int(hidden_dim)}
        self.encoder = CodeEncoder(**encoder)
        self.projector = ProjectionMLP(self.encoder.code_size, hidden_dim, projection_dim)
        self.predictor = ProjectionMLP(projection_dim, hidden_dim, projection_dim)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in self.target_parameters():
            p.requires_grad_(False)

    def config(self) -> dict:
        return dict(self.args)

    def online_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.projector.parameters()]

    def target_parameters(self) -> list[nn.Parameter]:
        return [*self.target_encoder.parameters(), *self.target_projector.parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        """Per-example symmetric loss: the online prediction of each view against the target's
        projection of the other. Both views go through each network in one batch (batch norm sees both)."""
        n = len(v1)
        both = torch.cat([v1, v2])
        p = self.predictor(self.projector(self.encoder(both)))
        with torch.no_grad():
            z = self.target_projector(self.target_encoder(both))
        return regression_loss(p[:n], z[n:]) + regression_loss(p[n:], z[:n])

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """``target <- tau * target + (1 - tau) * online``, for every weight (batch-norm statistics are the
        target's own: it runs in training mode and keeps its own running averages)."""
        ema_update_(self.target_parameters(), self.online_parameters(), tau)
