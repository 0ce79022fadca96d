"""The variational autoencoder's network: an encoder to a Gaussian ``(mean, logvar)`` over codes and a
decoder from codes back to inputs (the estimator and its loss are in ``fewlabel.pretrain.variational``)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from fewlabel.errors import InputError
from fewlabel.nets.base import EncoderDecoderNet
from fewlabel.nets.conv import ConvDecoder, ConvEncoder
from fewlabel.nets.dense import MLP, per_layer
from fewlabel.nets.dense import activation as make_activation
from fewlabel.registry import register

ARCHITECTURES = ("dense", "conv")
LOGVAR_RANGE = (-20.0, 10.0)  # exp(-20/2) ~ 5e-5 .. exp(10/2) ~ 150: standard deviations that stay finite


@register
class VariationalAutoencoderNet(EncoderDecoderNet):
    """Encoder to a Gaussian ``(mean, logvar)`` over ``latent`` codes, decoder from codes to inputs.

    ``architecture='dense'``: an :class:`~fewlabel.nets.dense.MLP` ``input -> hidden... -> 2*latent`` and
    its mirror ``latent -> reversed(hidden)... -> input`` (``activation``: one name, or one per hidden
    layer). ``architecture='conv'``: a :class:`~fewlabel.nets.conv.ConvEncoder` whose flattened feature
    map goes through ``Linear(.., 2*latent)``, and a :class:`~fewlabel.nets.conv.ConvDecoder` with its
    own dense head from the code (``channels`` per stage; ``hidden`` is not used). The log-variance is
    clamped to ``LOGVAR_RANGE``. The decoder computes logits; ``decode`` applies ``output_activation``.
    """

    def __init__(self, input_shape, hidden=(256,), latent=2, activation="relu", output_activation="sigmoid",
                 architecture="dense", channels=(16, 32, 64)):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise InputError(f"unknown architecture {architecture!r}: choose one of {ARCHITECTURES}")
        if not isinstance(latent, (int, np.integer)) or isinstance(latent, bool) or latent < 1:
            raise InputError(f"latent must be a positive integer, got {latent!r}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.hidden, self.latent = [int(h) for h in hidden], int(latent)
        self.architecture, self.channels = architecture, [int(c) for c in channels]
        self.output_activation = output_activation
        d = math.prod(self.input_shape)
        if architecture == "dense":
            acts = per_layer(list(activation) if isinstance(activation, (list, tuple)) else activation,
                              len(self.hidden), "activation")
            self.activation = acts
            self.encoder = MLP([d, *self.hidden, 2 * self.latent], activations=acts, output_activation=None,
                               input_shape=self.input_shape)
            self.moments = None
            self.decoder = MLP([self.latent, *reversed(self.hidden), d], activations=list(reversed(acts)),
                               output_activation=None, output_shape=self.input_shape)
        else:
            if not isinstance(activation, str):
                raise InputError(f"architecture='conv' takes one activation name for every stage, got {activation!r}")
            if len(self.input_shape) not in (2, 3):
                raise InputError(f"architecture='conv' needs image rows (H, W) or (H, W, C), got rows of shape "
                                 f"{self.input_shape}")
            self.activation = activation
            self.encoder = ConvEncoder(self.input_shape, channels=self.channels, activation=activation, latent=None)
            self.moments = nn.Linear(math.prod(self.encoder.feature_map_shape), 2 * self.latent)
            self.decoder = ConvDecoder(self.input_shape, channels=self.channels, activation=activation,
                                       latent=self.latent)
        self.output_fn = make_activation(output_activation)

    def config(self) -> dict:
        return {"input_shape": list(self.input_shape), "hidden": self.hidden, "latent": self.latent,
                "activation": self.activation, "output_activation": self.output_activation,
                "architecture": self.architecture, "channels": self.channels}

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.latent,)

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, logvar)``, each ``(N, latent)``: the encoder's Gaussian over codes."""
        h = self.encoder(x)
        if self.moments is not None:
            h = self.moments(h.reshape(len(h), -1))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The mean code ``(N, latent)`` (deterministic: what ``transform`` gives)."""
        return self.encode_distribution(x)[0]

