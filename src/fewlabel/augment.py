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


# -- augmentation for consistency training (weak and strong views of the same images) ------------------
def _nchw(x: torch.Tensor, input_shape) -> tuple[torch.Tensor, tuple[int, int, int]]:
    h, w, c = image_shape(input_shape)
    if len(tuple(input_shape)) == 1:
        raise InputError(f"augmentation needs image rows (H, W) or (H, W, C), got flat rows of {input_shape[0]} values")
    return x.reshape(len(x), h, w, c).permute(0, 3, 1, 2), (h, w, c)


def _back(img: torch.Tensor, shape) -> torch.Tensor:
    return img.permute(0, 2, 3, 1).reshape(shape)


def random_affine(img: torch.Tensor, rotate: float = 0.0, shear: float = 0.0, translate: float = 0.0,
                  scale: tuple[float, float] = (1.0, 1.0), hflip: bool = False) -> torch.Tensor:
    """One random affine map per image (NCHW, float), applied in a single ``grid_sample``.

    ``rotate`` in degrees (uniform in +-rotate), ``shear`` as a factor, ``translate`` as a fraction of the
    image size, ``scale`` a range; ``hflip`` mirrors half the images. Outside the image is 0.
    """
    n, dev = len(img), img.device
    u = lambda: torch.rand(n, device=dev) * 2 - 1  # noqa: E731  uniform in [-1, 1], one per image
    a = u() * math.radians(rotate)
    sh = u() * shear
    s = scale[0] + (scale[1] - scale[0]) * torch.rand(n, device=dev)
    tx, ty = u() * translate * 2, u() * translate * 2  # grid coordinates span [-1, 1]: width 2
    flip = torch.where(torch.rand(n, device=dev) < 0.5, -1.0, 1.0) if hflip else torch.ones(n, device=dev)
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.stack([torch.stack([cos * flip, -sin + sh, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(img.dtype), list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def cutout(img: torch.Tensor, size: float = 0.5, value: float = 0.0) -> torch.Tensor:
    """Blank one square per image, of side up to ``size`` times the image's, at a random place."""
    n, _, h, w = img.shape
    dev = img.device
    side = (torch.rand(n, device=dev) * size * min(h, w)).clamp(min=1).round()
    cy, cx = torch.rand(n, device=dev) * h, torch.rand(n, device=dev) * w
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    half = (side / 2).view(n, 1, 1)
    inside = ((ys - cy.view(n, 1, 1)).abs() <= half) & ((xs - cx.view(n, 1, 1)).abs() <= half)
    return torch.where(inside.unsqueeze(1), torch.full_like(img, value), img)


def _per_image(n, p, dev):
    return (torch.rand(n, 1, 1, 1, device=dev) < p)


def weak_augment(x: torch.Tensor, input_shape, translate: float = 0.125, hflip: bool = False) -> torch.Tensor:
    """The weak view: a random shift of up to ``translate`` of the size (and a mirror if ``hflip``)."""
    img, _ = _nchw(x, input_shape)
    return _back(random_affine(img, translate=translate, hflip=hflip), x.shape)


def strong_augment(x: torch.Tensor, input_shape, hflip: bool = False, cutout_size: float = 0.5) -> torch.Tensor:
    """The strong view, after RandAugment as FixMatch uses it, as batched tensor ops with per-image
    magnitudes: a random affine map (rotation up to 30 degrees, shear up to 0.3, shift up to 30%, scale
    0.8-1.2), then each with probability 1/2 brightness, contrast, solarize and posterize, then cutout."""
    img, _ = _nchw(x, input_shape)
    n, dev = len(img), img.device
    img = random_affine(img, rotate=30, shear=0.3, translate=0.3, scale=(0.8, 1.2), hflip=hflip)
    r = lambda lo, hi: lo + (hi - lo) * torch.rand(n, 1, 1, 1, device=dev)  # noqa: E731
    img = torch.where(_per_image(n, 0.5, dev), img * r(0.5, 1.5), img)  # brightness
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = torch.where(_per_image(n, 0.5, dev), mean + (img - mean) * r(0.5, 1.5), img)  # contrast
    img = img.clamp(0, 1)
    img = torch.where(_per_image(n, 0.5, dev) & (img >= r(0.5, 1.0)), 1 - img, img)  # solarize
    levels = 2 ** torch.randint(2, 5, (n, 1, 1, 1), device=dev).to(img.dtype)
    img = torch.where(_per_image(n, 0.5, dev), torch.floor(img * levels) / levels, img)  # posterize
    img = cutout(img, size=cutout_size)
    return _back(img, x.shape)
