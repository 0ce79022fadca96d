"""Autoencoder networks with dense layers: the mirrored / explicit / tied ``DenseAutoencoderNet``, the
tied decoder, the adapter that lets an image autoencoder take flat rows, and the pieces greedy
layer-wise training works on.

Every autoencoder network has the same interface: ``encode(x)``, ``decode_logits(z)`` (the decoder's
output before ``output_activation``), ``decode(z)``, ``output_fn`` / ``output_activation``, and
``forward(x) = decode(encode(x))``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fewlabel.errors import InputError
from fewlabel.nets.base import EncoderDecoderNet
from fewlabel.nets.dense import MLP, per_layer
from fewlabel.nets.dense import activation as make_activation
from fewlabel.registry import register


def _listed(value):
    return list(value) if isinstance(value, (list, tuple)) else value


class TiedDecoder(nn.Module):
    """The encoder's layers run backwards with their transposed weights; only the biases are its own.

    The encoder is held outside ``nn.Module``'s registry so each weight exists once (in the encoder's
    state dict), which is what makes the weights shared rather than copied.
    """

    def __init__(self, encoder: MLP, activations, output_shape):
        super().__init__()
        self._encoder = [encoder]  # a list: not registered as a submodule
        linears = encoder.linears
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(lin.in_features)) for lin in reversed(linears)])
        self.acts = nn.ModuleList([make_activation(a) for a in activations])
        self.output_shape = tuple(output_shape)

    def weights(self) -> list[torch.Tensor]:
        """The encoder's weight tensors in decoder order (the same Parameter objects, not copies)."""
        return [lin.weight for lin in reversed(self._encoder[0].linears)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        for w, b, act in zip(self.weights(), self.biases, self.acts):
            h = act(F.linear(h, w.t(), b))
        return h.reshape(len(z), *self.output_shape)


@register
class DenseAutoencoderNet(EncoderDecoderNet):
    """``input -> hidden... -> latent -> decoder... -> input``, dense layers throughout.

    ``activation``: one name for every hidden layer or a list, one per encoder layer. The decoder
    mirrors the encoder (sizes and activations reversed) unless ``decoder_hidden`` lists its sizes
    (with ``decoder_activation``); ``tied=True`` makes it reuse the encoder's transposed weights.
    The decoder's last layer computes logits; ``decode`` applies ``output_activation`` to them, and the
    loss uses the logits directly where that is more stable (binary cross-entropy with a sigmoid).
    """

    def __init__(self, input_shape, hidden=(128, 64), latent=16, activation="relu", latent_activation="linear",
                 output_activation="sigmoid", dropout=0.0, decoder_hidden=None, decoder_activation=None,
                 tied=False):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.hidden, self.latent = [int(h) for h in hidden], int(latent)
        enc_acts = per_layer(_listed(activation), len(self.hidden), "activation")
        if tied and decoder_hidden is not None:
            raise InputError("tied=True reuses the encoder's weights, so the decoder mirrors it: "
                             "leave decoder_hidden unset")
        if decoder_hidden is None:  # the mirror image of the encoder
            dec_hidden, dec_acts = list(reversed(self.hidden)), list(reversed(enc_acts))
        else:
            dec_hidden = [int(h) for h in decoder_hidden]
            dec_acts = per_layer(activation if isinstance(activation, str) else "relu", len(dec_hidden), "")
        if decoder_activation is not None:
            dec_acts = per_layer(_listed(decoder_activation), len(dec_hidden), "decoder_activation")
        self.activation, self.latent_activation = enc_acts, latent_activation
        self.decoder_hidden, self.decoder_activation = dec_hidden, dec_acts
        self.output_activation, self.dropout, self.tied = output_activation, dropout, bool(tied)
        d = math.prod(self.input_shape)
        self.encoder = MLP([d, *self.hidden, self.latent], activations=enc_acts, output_activation=latent_activation,
                           dropout=dropout, input_shape=self.input_shape)
        if self.tied:
            if dropout:
                raise InputError("dropout is not supported with tied=True")
            self.decoder = TiedDecoder(self.encoder, [*dec_acts, None], self.input_shape)
        else:
            self.decoder = MLP([self.latent, *dec_hidden, d], activations=dec_acts, output_activation=None,
                               dropout=dropout, output_shape=self.input_shape)
        self.output_fn = make_activation(output_activation)

    def config(self) -> dict:
        return {"input_shape": list(self.input_shape), "hidden": self.hidden, "latent": self.latent,
                "activation": self.activation, "latent_activation": self.latent_activation,
                "output_activation": self.output_activation, "dropout": self.dropout,
                "decoder_hidden": None if self.tied else self.decoder_hidden,
                "decoder_activation": self.decoder_activation, "tied": self.tied}

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.latent,)


class ImageRowsNet(nn.Module):
    """Lets an image autoencoder network take flat rows: reshapes them to ``image_shape`` and its output back
    (what a ``ConvAutoencoder`` fitted with ``image_shape`` trains). Not saved on its own: the estimator
    rebuilds it."""

    def __init__(self, net: nn.Module, image_shape):
        super().__init__()
        self.net, self.image_shape = net, tuple(image_shape)
        self.output_activation, self.output_fn = net.output_activation, net.output_fn

    def _images(self, x):
        return x.reshape(len(x), *self.image_shape)

    def encode(self, x):
        return self.net.encode(self._images(x))

    def code_vector(self, x, pooled=False):
        return self.net.code_vector(self._images(x), pooled=pooled)

    def decode_logits(self, z):
        return self.net.decode_logits(z).reshape(len(z), -1)

    def decode(self, z):
        return self.output_fn(self.decode_logits(z))

    def forward(self, x):
        return self.decode(self.encode(x))


def linear_blocks(mlp) -> list[nn.Sequential]:
    """An MLP's layers grouped per Linear: ``[Linear, activation(, Dropout)]`` each, sharing the modules."""
    groups: list[list[nn.Module]] = []
    for m in mlp.layers:
        if isinstance(m, nn.Linear):
            groups.append([])
        groups[-1].append(m)
    return [nn.Sequential(*g) for g in groups]


class LayerPair(nn.Module):
    """One level of the stack as a shallow autoencoder: encoder layer ``i`` and its mirror decoder layer.

    Holds the very modules of the full network (training it trains them; nothing else is in it, so the
    rest of the stack cannot change). ``encode`` / ``decode_logits`` / ``output_fn`` /
    ``output_activation`` are what the autoencoder losses expect of a network, so level 0 is trained with
    the estimator's own loss (noise, cut-off and all). At level 0 the input is flattened and the decoder
    layer's output (logits: no activation) reshaped back to the input's shape.
    """

    def __init__(self, encoder_block: nn.Module, decoder_block: nn.Module, input_shape=None, output_fn=None,
                 output_activation="linear"):
        super().__init__()
        self.encoder_block, self.decoder_block = encoder_block, decoder_block
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.output_fn = output_fn if output_fn is not None else nn.Identity()
        self.output_activation = output_activation

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder_block(x.reshape(len(x), -1))

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        out = self.decoder_block(h)
        return out if self.input_shape is None else out.reshape(len(h), *self.input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_fn(self.decode_logits(self.encode(x)))
