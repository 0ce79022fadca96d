"""Convolutional encoders, decoders and autoencoders for images: plain ``nn.Module``s usable on their own.

Images come in fewlabel's NumPy layout, one example shaped ``(H, W)`` (grayscale) or ``(H, W, C)``
(channels last); the modules convert to PyTorch's ``(N, C, H, W)`` themselves and decoders give their
output back in the data's layout.

An encoder stage is ``Conv2d (same padding) -> [BatchNorm2d] -> activation -> MaxPool2d(2)``; pooling
floors, so 28 -> 14 -> 7 -> 3. :func:`stage_sizes` does that arithmetic, and the decoder repeats it from
the same arguments so that an encoder and a decoder built alike fit together: each transposed
convolution (kernel 3, stride 2) gives back exactly the size its stage had before pooling.

Each module can describe itself as a JSON-able ``config()`` that rebuilds it, which is what
``fewlabel.save`` stores beside the weights.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from fewlabel.errors import InputError
from fewlabel.nets.base import EncoderDecoderNet
from fewlabel.registry import register
from fewlabel.nets.dense import activation as make_activation


def check_image_shape(shape, what: str) -> tuple[int, ...]:
    """Validate an example shape ``(H, W)`` or ``(H, W, C)`` of positive integers."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise InputError(f"{what} must be (H, W) or (H, W, C), got {shape!r}") from None
    if len(dims) not in (2, 3) or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in dims):
        raise InputError(f"{what} must be (H, W) or (H, W, C) with positive integers (channels last), got {shape!r}")
    return dims


def _channels(channels) -> list[int]:
    try:
        chans = list(channels)
    except TypeError:
        raise InputError(f"channels must be a list of positive integers, one per stage, got {channels!r}") from None
    if not chans or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in chans):
        raise InputError(f"channels must be a non-empty list of positive integers, one per stage, got {channels!r}")
    return chans


def check_convs(convs, n_stages: int) -> list[int]:
    """Convolutions per stage: one integer for every stage, or one per stage."""
    per_stage = [convs] * n_stages if isinstance(convs, int) and not isinstance(convs, bool) else convs
    try:
        per_stage = list(per_stage)
    except TypeError:
        raise InputError(f"convs must be a positive integer (convolutions in every stage) or a list of them, one "
                         f"per stage, got {convs!r}") from None
    if len(per_stage) != n_stages or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in per_stage):
        raise InputError(f"convs must be a positive integer (convolutions in every stage) or a list of {n_stages} "
                         f"positive integers, one per stage (channels has {n_stages}), got {convs!r}")
    return per_stage


def _kernel(kernel_size) -> int:
    if not isinstance(kernel_size, int) or isinstance(kernel_size, bool) or kernel_size < 1 or kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be a positive odd integer (so padding kernel_size // 2 keeps the size), "
                         f"got {kernel_size!r}")
    return kernel_size


def _latent(latent) -> int | None:
    if latent is None:
        return None
    if not isinstance(latent, int) or isinstance(latent, bool) or latent < 1:
        raise InputError(f"latent must be None (the code is the feature map) or a positive integer, got {latent!r}")
    return latent


def stage_sizes(image_shape: Sequence[int], n_stages: int) -> list[tuple[int, int]]:
    """Spatial sizes ``(h, w)`` through ``n_stages`` encoder stages: before each pool, then the final map.

    The result has ``n_stages + 1`` entries; entry ``i`` is the size stage ``i`` works at (and pools from),
    the last is the final feature map's. Each pool halves, flooring: ``(28, 28)`` with 3 stages gives
    ``[(28, 28), (14, 14), (7, 7), (3, 3)]``. Raises :class:`InputError` when a stage would reach size 0.
    """
    dims = check_image_shape(image_shape, "image shape")
    h, w = dims[0], dims[1]
    sizes = [(h, w)]
    for _ in range(n_stages):
        h, w = h // 2, w // 2
        if h < 1 or w < 1:
            trail = " -> ".join(f"{a}x{b}" for a, b in sizes + [(h, w)])
            fit = max(0, min(dims[0].bit_length(), dims[1].bit_length()) - 1)
            raise InputError(f"images of shape {dims} are too small for {n_stages} stages: each stage halves the "
                             f"height and width ({trail}); use at most {fit} stage(s) (fewer channels entries) "
                             f"or larger images")
        sizes.append((h, w))
    return sizes


def to_nchw(x: torch.Tensor, shape: tuple[int, ...], who: str) -> torch.Tensor:
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise InputError(f"{who} expected inputs of shape (N, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise InputError(f"{who} expected float inputs, got {x.dtype} (convert, e.g. x.float() / 255 for uint8 images)")
    return x.unsqueeze(1) if len(shape) == 2 else x.permute(0, 3, 1, 2)


def _from_nchw(y: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return y.squeeze(1) if len(shape) == 2 else y.permute(0, 2, 3, 1)


@register
class ConvEncoder(nn.Module):
    """Images ``(N, *input_shape)`` to codes: convolutional stages, then optionally a dense layer.

    For each entry ``c`` of ``channels``: ``convs`` times (an integer for every stage, or one per stage)
    ``Conv2d(prev, c, kernel_size, padding=kernel_size // 2)``, optional ``BatchNorm2d``, ``activation``; then
    ``MaxPool2d(2)``. With ``latent=None`` the code is the
    final feature map ``(N, *feature_map_shape)``; with an integer ``latent`` the map is flattened and
    ``Linear(.., latent)`` + ``latent_activation`` gives the code ``(N, latent)``.

    Attributes: ``feature_map_shape`` ``(C_last, h, w)``, ``code_size`` (values per code),
    ``pooled_size`` (``C_last``, the size of :meth:`pool`'s vectors), ``sizes`` (see :func:`stage_sizes`).
    """

    def __init__(self, input_shape, channels=(16, 32, 64), kernel_size=3, activation="relu", batch_norm=False,
                 latent=None, latent_activation="linear", convs=1):
        super().__init__()
        self.input_shape = check_image_shape(input_shape, "input_shape")
        self.channels, self.kernel_size = _channels(channels), _kernel(kernel_size)
        self.convs = check_convs(convs, len(self.channels))
        self.activation, self.batch_norm = activation, bool(batch_norm)
        self.latent, self.latent_activation = _latent(latent), latent_activation
        self.sizes = stage_sizes(self.input_shape, len(self.channels))
        in_ch = self.input_shape[2] if len(self.input_shape) == 3 else 1
        stages = []
        for c, depth in zip(self.channels, self.convs):
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers.append(nn.Conv2d(in_ch, c, self.kernel_size, padding=self.kernel_size // 2))
                if self.batch_norm:
                    layers.append(nn.BatchNorm2d(c))
                layers.append(make_activation(activation))
                in_ch = c
            layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
            in_ch = c
        self.stages = nn.Sequential(*stages)
        self.feature_map_shape = (self.channels[-1], *self.sizes[-1])
        self.pooled_size = self.channels[-1]
        flat = math.prod(self.feature_map_shape)
        if self.latent is None:
            self.head = None
            self.code_size = flat
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, self.latent), make_activation(latent_activation))
            self.code_size = self.latent

    def config(self) -> dict:
        return {"input_shape": list(self.input_shape), "channels": self.channels, "kernel_size": self.kernel_size,
                "activation": self.activation, "batch_norm": self.batch_norm, "latent": self.latent,
                "latent_activation": self.latent_activation,
                # written only when a stage has more than one convolution: older saved configs stay as they were
                **({"convs": self.convs} if set(self.convs) != {1} else {})}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The final feature map ``(N, C_last, h, w)``, before any dense layer."""
        return self.stages(to_nchw(x, self.input_shape, type(self).__name__))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.features(x)
        return fmap if self.head is None else self.head(fmap)

    def pool(self, code: torch.Tensor) -> torch.Tensor:
        """Global average pooling of a feature-map code: ``(N, C_last, h, w)`` to ``(N, C_last)``."""
        if self.latent is not None:
            raise InputError(f"this encoder's code is a dense vector (latent={self.latent}), which has no "
                             f"spatial dimensions to pool; build it with latent=None to pool feature maps")
        if code.ndim != 4 or tuple(code.shape[1:]) != self.feature_map_shape:
            raise InputError(f"pool expected feature maps of shape (N, {', '.join(map(str, self.feature_map_shape))}), "
                             f"got {tuple(code.shape)}")
        return code.mean(dim=(2, 3))


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that runs in float32 under a CPU bf16 autocast. On CPUs the transposed convolution is
    slower in bf16 than in float32 (oneDNN; README, "Benchmarks"), unlike the ordinary convolutions around it, so
    only this layer leaves the autocast. Same parameters and
    state dict as ``nn.ConvTranspose2d``; on other devices it is that layer."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float(), output_size)
        return super().forward(x, output_size)


@register
class ConvDecoder(nn.Module):
    """Codes back to images ``(N, *output_shape)`` (logits), mirroring a :class:`ConvEncoder`.

    ``channels`` is the *encoder's* list and ``output_shape`` the data's example shape: the decoder
    recomputes the encoder's stage sizes from them, so a decoder built with the encoder's arguments
    takes its codes. With ``latent`` set, ``Linear(latent, C_last*h*w)`` + ``activation`` first makes
    the feature map. Then, per stage in reverse, ``ConvTranspose2d(kernel 3, stride 2)`` + optional
    ``BatchNorm2d`` + ``activation`` doubles the size back to exactly the size before that stage's pool
    (padding 1, output_padding 1 for even sizes; padding 0, output_padding 0 for odd ones), and a final
    ``Conv2d(channels[0], C_out, kernel_size)`` gives logits: no output activation is applied.
    """

    def __init__(self, output_shape, channels=(16, 32, 64), kernel_size=3, activation="relu", batch_norm=False,
                 latent=None):
        super().__init__()
        self.output_shape = check_image_shape(output_shape, "output_shape")
        self.channels, self.kernel_size = _channels(channels), _kernel(kernel_size)
        self.activation, self.batch_norm, self.latent = activation, bool(batch_norm), _latent(latent)
        self.sizes = stage_sizes(self.output_shape, len(self.channels))
        self.feature_map_shape = (self.channels[-1], *self.sizes[-1])
        flat = math.prod(self.feature_map_shape)
        if self.latent is None:
            self.head = None
            self.code_shape = self.feature_map_shape
        else:
            self.head = nn.Sequential(nn.Linear(self.latent, flat), make_activation(activation))
            self.code_shape = (self.latent,)
        stages = []
        for i in reversed(range(len(self.channels))):
            target = self.sizes[i]
            padding = tuple(1 if s % 2 == 0 else 0 for s in target)  # even: 2*s_in; odd: 2*s_in + 1
            out_ch = self.channels[i - 1] if i > 0 else self.channels[0]
            layers: list[nn.Module] = [ConvTranspose2d(self.channels[i], out_ch, 3, stride=2, padding=padding,
                                                       output_padding=padding)]
            if self.batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(make_activation(activation))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        out_ch = self.output_shape[2] if len(self.output_shape) == 3 else 1
        self.out = nn.Conv2d(self.channels[0], out_ch, self.kernel_size, padding=self.kernel_size // 2)

    def config(self) -> dict:
        return {"output_shape": list(self.output_shape), "channels": self.channels, "kernel_size": self.kernel_size,
                "activation": self.activation, "batch_norm": self.batch_norm, "latent": self.latent}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != len(self.code_shape) + 1 or tuple(z.shape[1:]) != self.code_shape:
            raise InputError(f"{type(self).__name__} expected codes of shape "
                             f"(N, {', '.join(map(str, self.code_shape))}), got {tuple(z.shape)}")
        fmap = z if self.head is None else self.head(z).reshape(len(z), *self.feature_map_shape)
        return _from_nchw(self.out(self.stages(fmap)), self.output_shape)


@register
class ConvAutoencoderNet(EncoderDecoderNet):
    """A :class:`ConvEncoder` and its mirror :class:`ConvDecoder`, with the dense autoencoder's interface.

    ``encode(x)`` gives codes (feature maps, or vectors when ``latent`` is set), ``decode_logits(z)`` the
    decoder's logits in the data's layout, ``decode(z)`` those through ``output_activation``;
    ``code_vector(x, pooled)`` gives flat codes ``(N, code_size)`` or pooled ones ``(N, C_last)``.
    """

    def __init__(self, input_shape, channels=(16, 32, 64), kernel_size=3, activation="relu", batch_norm=False,
                 latent=None, latent_activation="linear", output_activation="sigmoid"):
        super().__init__()
        self.encoder = ConvEncoder(input_shape, channels=channels, kernel_size=kernel_size, activation=activation,
                                   batch_norm=batch_norm, latent=latent, latent_activation=latent_activation)
        self.decoder = ConvDecoder(input_shape, channels=channels, kernel_size=kernel_size, activation=activation,
                                   batch_norm=batch_norm, latent=latent)
        self.input_shape = self.encoder.input_shape
        self.output_activation = output_activation
        self.output_fn = make_activation(output_activation)

    @property
    def latent(self) -> int | None:
        return self.encoder.latent

    @property
    def code_size(self) -> int:
        return self.encoder.code_size

    @property
    def pooled_size(self) -> int:
        return self.encoder.pooled_size

    def config(self) -> dict:
        enc = self.encoder.config()
        return {**enc, "output_activation": self.output_activation}

    def code_vector(self, x: torch.Tensor, pooled: bool = False) -> torch.Tensor:
        """Codes as vectors: flattened ``(N, code_size)``, or global-average pooled ``(N, C_last)``."""
        code = self.encode(x)
        return self.encoder.pool(code) if pooled else code.reshape(len(code), -1)
