"""How an encoder network's output becomes one code vector per example: what classifiers and BYOL train.

A :class:`CodeEncoder` wraps a body (an :class:`~fewlabel.nets.dense.MLP`, a
:class:`~fewlabel.nets.conv.ConvEncoder` or a :class:`~fewlabel.nets.resnet.ResNet`) and says how its
output is read: flattened, averaged per channel, or the mean half of a variational encoder's output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fewlabel.errors import InputError
from fewlabel.registry import register
from fewlabel.nets.conv import ConvEncoder
from fewlabel.nets.dense import MLP
from fewlabel.nets.resnet import ResNet

#: What an encoder body may be (rebuilt from its config).
BODIES = {"MLP": MLP, "ConvEncoder": ConvEncoder, "ResNet": ResNet}


@register
class CodeEncoder(nn.Module):
    """An encoder network and how its output becomes one code vector per example.

    ``body``: ``{"type": "MLP" | "ConvEncoder" | "ResNet", "config": <the module's config()>}``. ``code``:
    'flatten' (the output, flattened: an MLP's units, a convolutional body's whole feature map or its dense
    latent), 'global' (global average pooling of a convolutional feature map: one value per channel) or 'mean'
    (the first half of the output: the mean of a dense variational encoder's Gaussian).
    ``image_shape``: flat rows are folded into images of this shape first (an encoder taken from a
    ``ConvAutoencoder`` fitted with ``image_shape``).
    """

    def __init__(self, body: dict, code: str = "flatten", image_shape=None):
        super().__init__()
        if not isinstance(body, dict) or body.get("type") not in BODIES or not isinstance(body.get("config"), dict):
            raise InputError(f"an encoder body is {{'type': one of {sorted(BODIES)}, 'config': {{...}}}}, "
                             f"got {body!r}")
        if code not in ("flatten", "global", "mean"):
            raise InputError(f"unknown code {code!r}: choose 'flatten', 'global' or 'mean'")
        self.body_spec = {"type": body["type"], "config": dict(body["config"])}
        self.body = BODIES[body["type"]](**body["config"])
        self.code = code
        self.image_shape = None if image_shape is None else [int(s) for s in image_shape]
        if isinstance(self.body, MLP):
            if code == "global":
                raise InputError("global pooling needs a convolutional encoder's feature maps; a dense encoder "
                                 "has none: use pooling='flatten'")
            out = math.prod(self.body.output_shape)
        else:
            if code == "global" and self.body.latent is not None:
                raise InputError(f"global pooling needs the encoder's feature maps, but this convolutional encoder "
                                 f"ends in a dense latent of {self.body.latent}: use pooling='flatten'")
            if code == "mean":
                raise InputError("code='mean' is for dense variational encoders")
            out = self.body.pooled_size if code == "global" else self.body.code_size
        if code == "mean" and out % 2:
            raise InputError(f"code='mean' takes the first half of the encoder's output, but it has {out} values")
        self.code_size = out // 2 if code == "mean" else out

    def config(self) -> dict:
        return {"body": self.body_spec, "code": self.code, "image_shape": self.image_shape}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_shape is not None:
            x = x.reshape(len(x), *self.image_shape)
        h = self.body(x)
        if self.code == "global":
            return self.body.pool(h)
        h = h.reshape(len(h), -1)
        return h[:, : self.code_size] if self.code == "mean" else h
