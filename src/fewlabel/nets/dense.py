"""Dense (fully connected) encoders, decoders and heads: plain ``nn.Module``s usable on their own.

Each module can describe itself as a JSON-able ``config()`` that rebuilds it, which is what
``fewlabel.save`` stores beside the weights.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from fewlabel.checks import MAX_WEIGHTS
from fewlabel.errors import InputError
from fewlabel.registry import register

ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "selu": nn.SELU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "linear": nn.Identity,
}


def activation(name: str | None) -> nn.Module:
    key = "linear" if name is None else str(name).lower()
    if key not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}: choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]()


def per_layer(value, n: int, what: str) -> list:
    """``value`` once per layer: a list of ``n`` given as it is, one value repeated ``n`` times."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise InputError(f"{what}: {len(value)} given for {n} layers")
        return list(value)
    return [value] * n


def _check_sizes(sizes: Sequence[int], what: str) -> list[int]:
    sizes = list(sizes)
    for s in sizes:
        if not isinstance(s, int) or isinstance(s, bool) or s < 1:
            raise InputError(f"{what} must be positive integers, got {sizes}")
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if weights > MAX_WEIGHTS:
        raise InputError(f"{what} {sizes} make {weights:.3g} weights, more than the {MAX_WEIGHTS:.3g} fewlabel allows "
                         f"({MAX_WEIGHTS * 4 / 2**30:.0f} GiB in fp32) in one network: use smaller layers")
    return sizes


@register
class MLP(nn.Module):
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``, each followed by its activation.

    ``activations``: one name for every hidden layer or a list, one per layer;
    ``output_activation``: the last layer's (default linear). ``dropout`` applies after hidden layers.
    Inputs of any shape ``(N, *input_shape)`` are flattened; outputs are reshaped to ``output_shape``.
    """

    def __init__(self, sizes: Sequence[int], activations="relu", output_activation=None, dropout: float = 0.0,
                 input_shape: Sequence[int] | None = None, output_shape: Sequence[int] | None = None):
        super().__init__()
        sizes = _check_sizes(sizes, "layer sizes")
        if len(sizes) < 2:
            raise InputError(f"an MLP needs at least an input and an output size, got {sizes}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        n = len(sizes) - 1
        acts = per_layer(activations, n - 1, "activations") + [output_activation] if n > 1 else [output_activation]
        self.sizes, self.activations, self.output_activation, self.dropout = sizes, acts[:-1], output_activation, dropout
        self.input_shape = tuple(input_shape) if input_shape is not None else (sizes[0],)
        self.output_shape = tuple(output_shape) if output_shape is not None else (sizes[-1],)
        if math.prod(self.input_shape) != sizes[0] or math.prod(self.output_shape) != sizes[-1]:
            raise InputError(f"input_shape {self.input_shape} / output_shape {self.output_shape} do not match sizes {sizes}")
        layers: list[nn.Module] = []
        for i in range(n):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            layers.append(activation(acts[i]))
            if i < n - 1 and dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def config(self) -> dict:
        return {
            "sizes": self.sizes,
            "activations": self.activations,
            "output_activation": self.output_activation,
            "dropout": self.dropout,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
        }

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise InputError(f"expected inputs of shape (N, {', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}")
        y = self.layers(x.reshape(len(x), -1))
        return y.reshape(len(x), *self.output_shape)
