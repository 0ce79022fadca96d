"""Batched corruption and augmentation as tensor ops on the device, with per-example randomness.

Denoising autoencoders train on ``corrupt(x)`` and are scored against the clean ``x``. Every
function takes a float batch ``(N, ...)`` on any device and draws its randomness from torch's
global generator, which the training loop seeds per epoch (so resumed runs see the same noise).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fewlabel.errors import InputError

NOISES = ("gaussian", "mask", "salt_pepper", "blur")


def check_noise(kind, level, input_shape=None) -> None:
    """Refuse an unknown noise, a level out of range, or blur on rows that are not images."""
    if kind is None:
        return
    if kind not in NOISES:
        raise InputError(f"unknown noise {kind!r}: choose one of {NOISES} (or None)")
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not math.isfinite(level) or level <= 0:
        raise InputError(f"noise_level must be a positive number, got {level!r}")
    if kind in ("mask", "salt_pepper") and level >= 1:
        raise InputError(f"noise_level for {kind!r} is the fraction of values corrupted and must be below 1, "
                         f"got {level!r}")
    if kind == "blur" and input_shape is not None:
        image_shape(input_shape)


def image_shape(input_shape) -> tuple[int, int, int]:
    """(H, W, C) for rows shaped (H, W), (H, W, C), or flat rows of a square number of values."""
    s = tuple(int(v) for v in input_shape)
    if len(s) == 2:
        return s[0], s[1], 1
    if len(s) == 3:
        return s
    if len(s) == 1:
        side = math.isqrt(s[0])
        if side * side == s[0]:
            return side, side, 1
    raise InputError(f"blur needs images: rows of shape (H, W), (H, W, C) or a square number of values, got {s}")


def gaussian_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    return x + std * torch.randn_like(x)


def mask_noise(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Set a random ``fraction`` of the values of each example to zero (dropout noise, not rescaled)."""
    return x * (torch.rand_like(x) >= fraction)


def salt_pepper_noise(x: torch.Tensor, fraction: float, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Set a random ``fraction`` of the values to ``low`` or ``high`` (half each)."""
    u = torch.rand_like(x)
    out = torch.where(u < fraction / 2, torch.full_like(x, low), x)
    return torch.where((u >= fraction / 2) & (u < fraction), torch.full_like(x, high), out)


def gaussian_blur(x: torch.Tensor, sigma: float, input_shape) -> torch.Tensor:
    """Blur each image with a Gaussian of standard deviation ``sigma`` pixels (edges replicated)."""
    h, w, c = image_shape(input_shape)
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    img = x.reshape(len(x), h, w, c).permute(0, 3, 1, 2).reshape(len(x) * c, 1, h, w)
    img = F.pad(img, (radius, radius, radius, radius), mode="replicate")
    img = F.conv2d(img, k.view(1, 1, 1, -1))
    img = F.conv2d(img, k.view(1, 1, -1, 1))
    return img.reshape(len(x), c, h, w).permute(0, 2, 3, 1).reshape(x.shape)


def corrupt(x: torch.Tensor, kind: str | None, level: float, input_shape=None) -> torch.Tensor:
    """``x`` corrupted by ``kind`` ('gaussian' std, 'mask' / 'salt_pepper' fraction, 'blur' sigma)."""
    if kind is None:
        return x
    if kind == "gaussian":
        return gaussian_noise(x, level)
    if kind == "mask":
        return mask_noise(x, level)
    if kind == "salt_pepper":
        return salt_pepper_noise(x, level)
    if kind == "blur":
        return gaussian_blur(x, level, input_shape if input_shape is not None else x.shape[1:])
    raise InputError(f"unknown noise {kind!r}: choose one of {NOISES} (or None)")
