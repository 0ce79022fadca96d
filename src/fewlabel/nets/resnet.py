"""ResNet-18 (He et al., 2016) as an image encoder, the network BYOL learns.

The layer names follow torchvision's ``resnet18`` (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``downsample.0``), so with ``stem='imagenet'`` and 3 input channels its ``state_dict`` holds exactly
torchvision's weights minus the final ``fc`` layer: weights trained there load here.

Two stems: 'imagenet' (7x7 convolution with stride 2, then 3x3 max-pooling: a 224 px image becomes a
7x7 map, a 96 px one 3x3) and 'cifar' (one 3x3 convolution with stride 1 and no pooling, the usual
change for 32 px images: a 7x7 first layer and two early halvings would throw most of a small image
away). 'auto' takes 'cifar' below 64 px and 'imagenet' from there.

Images come in fewlabel's layout, ``(N, H, W)`` or ``(N, H, W, C)``; the output is the final feature map
``(N, 512 * width, h, w)`` (``pool`` averages it to the 512-d representation BYOL and classifiers use).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fewlabel.errors import InputError
from fewlabel.registry import register
from fewlabel.nets.conv import check_image_shape, to_nchw

STEMS = ("auto", "imagenet", "cifar")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the input (through a 1x1 convolution when the
    stride or the width changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@register
class ResNet(nn.Module):
    """A ResNet of :class:`BasicBlock` stages: ``blocks`` per stage (ResNet-18: 2, 2, 2, 2), ``base`` channels
    in the first stage, doubling per stage (64 -> 512 for ResNet-18), every stage after the first halving
    the map. ``stem``: see the module's docstring.

    Attributes, as :class:`~fewlabel.nets.conv.ConvEncoder` has them: ``feature_map_shape`` ``(C, h, w)``,
    ``code_size`` (values per feature map), ``pooled_size`` (``C``), ``latent`` (None: the output is a map).
    """

    latent = None

    def __init__(self, input_shape, blocks=(2, 2, 2, 2), base=64, stem="auto"):
        super().__init__()
        self.input_shape = check_image_shape(input_shape, "input_shape")
        if stem not in STEMS:
            raise InputError(f"unknown stem {stem!r}: choose one of {STEMS}")
        blocks = list(blocks) if not isinstance(blocks, (str, bytes)) else None
        if not blocks or any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in blocks):
            raise InputError(f"blocks must be a non-empty list of positive integers (blocks per stage), got {blocks!r}")
        if not isinstance(base, int) or isinstance(base, bool) or base < 1:
            raise InputError(f"base (the first stage's channels) must be a positive integer, got {base!r}")
        h, w = self.input_shape[:2]
        self.stem_given = stem
        self.stem = stem if stem != "auto" else ("cifar" if min(h, w) < 64 else "imagenet")
        self.blocks, self.base = blocks, base
        in_ch = self.input_shape[2] if len(self.input_shape) == 3 else 1
        if self.stem == "imagenet":
            self.conv1 = nn.Conv2d(in_ch, base, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            h, w = (_conv_out(_conv_out(s, 7, 2, 3), 3, 2, 1) for s in (h, w))
        else:
            self.conv1 = nn.Conv2d(in_ch, base, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        ch = base
        for i, n in enumerate(blocks):
            out = base * 2 ** i
            stride = 1 if i == 0 else 2
            if stride == 2:
                h, w = _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
            layers = [BasicBlock(ch, out, stride)] + [BasicBlock(out, out) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
            ch = out
        self.feature_map_shape = (ch, h, w)
        self.pooled_size = ch
        self.code_size = math.prod(self.feature_map_shape)
        # He initialisation, and the last batch norm of each block starting at zero (each residual block
        # begins as the identity), as torchvision does with zero_init_residual=True.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def config(self) -> dict:
        return {"input_shape": list(self.input_shape), "blocks": self.blocks, "base": self.base,
                "stem": self.stem_given}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(to_nchw(x, self.input_shape, type(self).__name__)))))
        for i in range(len(self.blocks)):
            x = getattr(self, f"layer{i + 1}")(x)
        return x

    forward = features

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        """Global average pooling: ``(N, C, h, w)`` to ``(N, C)``."""
        if fmap.ndim != 4 or tuple(fmap.shape[1:]) != self.feature_map_shape:
            raise InputError(f"pool expected feature maps of shape (N, {', '.join(map(str, self.feature_map_shape))}), "
                             f"got {tuple(fmap.shape)}")
        return fmap.mean(dim=(2, 3))


def resnet18(input_shape, stem: str = "auto", base: int = 64) -> ResNet:
    """ResNet-18's encoder (no classification layer): 11.2M parameters for RGB input at ``base=64``."""
    return ResNet(input_shape, blocks=(2, 2, 2, 2), base=base, stem=stem)
