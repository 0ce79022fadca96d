"""Batched corruption and augmentation as tensor ops on the device, with per-example randomness.

Denoising autoencoders train on ``corrupt(x)`` and are scored against the clean ``x``. Every
function takes a float batch ``(N, ...)`` on any device and draws its randomness from torch's
global generator, which the training loop seeds per epoch (so resumed runs see the same noise).
"""

from __future__ import annotations

import math
import operator

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


def nchw_to_rows(img: torch.Tensor, shape) -> torch.Tensor:
    """Images ``(N, C, H, W)`` back to rows of ``shape`` (``(N, H, W)``, ``(N, H, W, C)`` or flat)."""
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


def random_shift(img: torch.Tensor, max_shift: int, hflip: bool = False) -> torch.Tensor:
    """Each image (NCHW) moved by its own whole number of pixels, up to ``max_shift`` each way along each
    axis (uniform), 0 where it moves in from outside; ``hflip`` mirrors half the images.

    The same as :func:`random_affine` with a whole-pixel translation (bilinear sampling at whole pixels
    interpolates nothing), in one gather instead of a sampling grid: several times cheaper on a CPU."""
    n, c, h, w = img.shape
    dev = img.device
    dy = torch.randint(-max_shift, max_shift + 1, (n, 1), device=dev)
    dx = torch.randint(-max_shift, max_shift + 1, (n, 1), device=dev)
    rows = torch.arange(h, device=dev).view(1, h) - dy  # source row of each output row
    cols = torch.arange(w, device=dev).view(1, w) - dx
    if hflip:
        flip = torch.rand(n, 1, device=dev) < 0.5
        cols = torch.where(flip, w - 1 - cols, cols)
    inside = ((rows >= 0) & (rows < h)).view(n, 1, h, 1) & ((cols >= 0) & (cols < w)).view(n, 1, 1, w)
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    # One flat index per output value (a single torch.take: much faster than 4-way advanced indexing).
    plane = torch.arange(n * c, device=dev).view(n, c, 1, 1) * (h * w)
    index = plane + (rows * w).view(n, 1, h, 1) + cols.view(n, 1, 1, w)
    picked = img.contiguous().view(-1).take(index)
    return torch.where(inside, picked, torch.zeros((), dtype=img.dtype, device=dev))


def weak_augment(x: torch.Tensor, input_shape, translate: float = 0.125, hflip: bool = False) -> torch.Tensor:
    """The weak view: a random shift by a whole number of pixels, up to ``translate`` of the size (3 px on
    28 px images, 4 on 32 px ones, as FixMatch's pad-and-crop), and a mirror if ``hflip``."""
    img, (h, w, _) = _nchw(x, input_shape)
    return nchw_to_rows(random_shift(img, int(translate * min(h, w)), hflip=hflip), x.shape)


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
    return nchw_to_rows(img, x.shape)


# -- BYOL's augmentations (Grill et al. 2020, appendix B, table 6), batched with per-image parameters ----
# Self-supervised methods learn only what survives these views, so they follow torchvision's semantics
# (which the paper's numbers were produced with) closely; the differences are named where they occur.
def _check_range(name, pair) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (low, high) of numbers, got {pair!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not 0 < lo <= hi:
        raise InputError(f"{name} must be a pair 0 < low <= high of finite numbers, got {pair!r}")
    return lo, hi


def _check_p(p) -> float:
    try:
        q = float(p)
    except (TypeError, ValueError):
        q = math.nan
    if isinstance(p, bool) or not 0 <= q <= 1:
        raise InputError(f"p is a probability and must lie in [0, 1], got {p!r}")
    return q


def _check_channels(img: torch.Tensor, what: str) -> None:
    if img.dim() != 4 or img.shape[1] not in (1, 3):
        raise InputError(f"{what} needs NCHW float images with 1 or 3 channels, got shape {tuple(img.shape)}")


def _out_size(size, h, w) -> tuple[int, int]:
    if size is None:
        return h, w
    try:
        s = (operator.index(size),) * 2 if not isinstance(size, (tuple, list)) else tuple(map(operator.index, size))
    except TypeError:
        s = ()
    if len(s) != 2 or isinstance(size, bool) or min(s) <= 0:
        raise InputError(f"size must be a positive int or a pair (height, width) of positive ints, got {size!r}")
    return s


def _crop_boxes(n: int, height: int, width: int, scale, ratio, device, tries: int = 10):
    """Per-image crop boxes (top, left, height, width) in whole pixels, as float tensors.

    torchvision draws up to ``tries`` candidates per image one after the other and keeps the first that
    fits; drawing them all at once and taking the first that fits gives the same distribution without a
    Python loop per image. Images with no fitting candidate get torchvision's central fallback crop.
    """
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    target = height * width * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, tries, device=device))
    aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(n, tries, device=device))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.float().argmax(1, keepdim=True)  # index of the first candidate that fits (0 if none does)
    w, h, ok = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1), fits.any(1)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        cw, ch = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        cw, ch = int(round(height * ratio[1])), height
    else:
        cw, ch = width, height
    w = torch.where(ok, w, torch.full_like(w, cw))
    h = torch.where(ok, h, torch.full_like(h, ch))
    top = torch.minimum(torch.floor(torch.rand(n, device=device) * (height - h + 1)), height - h)
    left = torch.minimum(torch.floor(torch.rand(n, device=device) * (width - w + 1)), width - w)
    top = torch.where(ok, top, torch.full_like(top, (height - ch) // 2))
    left = torch.where(ok, left, torch.full_like(left, (width - cw) // 2))
    return top, left, h, w


def random_resized_crop(img: torch.Tensor, size, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: bool = True) -> torch.Tensor:
    """torchvision's RandomResizedCrop (+ RandomHorizontalFlip) for a whole NCHW batch in one ``grid_sample``.

    Each image gets its own crop: an area fraction uniform in ``scale`` and a log-uniform aspect ratio in
    ``ratio``, placed where it fits (10 tries, else the central crop), resized bilinearly to ``size``
    (an int or (height, width)); ``hflip`` mirrors half the images. One affine map per image does crop,
    resize and mirror at once, so the batch never leaves the device and never loops in Python. Unlike
    torchvision there is no antialiasing when shrinking, and an upsampled crop blends in the pixels just
    outside its box rather than repeating its own edge (the image's own border is repeated, never black).
    """
    if img.dim() != 4:
        raise InputError(f"random_resized_crop needs NCHW images, got shape {tuple(img.shape)}")
    n, c, height, width = img.shape
    sh, sw = _out_size(size, height, width)
    scale = _check_range("scale", scale)
    ratio = _check_range("ratio", ratio)
    dev = img.device
    if n == 0:
        return img.new_zeros(0, c, sh, sw)
    top, left, h, w = _crop_boxes(n, height, width, scale, ratio, dev)
    flip = torch.where(torch.rand(n, device=dev) < 0.5, -1.0, 1.0) if hflip else torch.ones(n, device=dev)
    zero = torch.zeros(n, device=dev)
    # affine_grid maps output coordinates in [-1, 1] to input ones: the box's half-size and its centre
    theta = torch.stack([torch.stack([w / width * flip, zero, (2 * left + w) / width - 1], 1),
                         torch.stack([zero, h / height, (2 * top + h) / height - 1], 1)], 1)
    grid = F.affine_grid(theta.to(img.dtype), [n, c, sh, sw], align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(img: torch.Tensor) -> torch.Tensor:
    if img.shape[1] == 1:
        return img
    r, g, b = img.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def to_grayscale(img: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601-2, as PIL and torchvision) repeated over the channels, so a gray view still fits a
    network built for colour; one-channel images are already gray and come back as they are."""
    _check_channels(img, "to_grayscale")
    if img.shape[1] == 1:
        return img
    return _gray(img).repeat(1, 3, 1, 1)


def random_grayscale(img: torch.Tensor, p: float = 0.2) -> torch.Tensor:
    """Drop colour from a random fraction ``p`` of the images, so colour alone cannot identify an image."""
    p = _check_p(p)
    _check_channels(img, "random_grayscale")
    return torch.where(_per_image(len(img), p, img.device), to_grayscale(img), img)


def _hue6(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue in [0, 6) (sixths of the wheel, as ``colorsys`` before its division), max and max - min of NCHW
    RGB images: all a hue rotation needs, in few passes over the batch (no HSV saturation division)."""
    r, g, b = img.unbind(1)
    maxc, minc = torch.maximum(torch.maximum(r, g), b), torch.minimum(torch.minimum(r, g), b)  # amax(1) is slow
    delta = maxc - minc
    inv = 1 / (delta + (delta == 0).to(img.dtype))  # gray pixels: max == r and g - b == 0 give hue 0
    h6 = torch.where(maxc == r, (g - b) * inv, torch.where(maxc == g, 2 + (b - r) * inv, 4 + (r - g) * inv))
    return torch.remainder(h6, 6.0), maxc, delta


def _from_hue6(h6: torch.Tensor, maxc: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """RGB from ``_hue6``'s three, branch-free: channel n is max - delta clamp(min(k, 4 - k), 0, 1) with
    k = (n + h6) mod 6 and n = 5, 3, 1 for red, green, blue (v = max, v s = delta)."""
    n = torch.tensor([5.0, 3.0, 1.0], device=h6.device, dtype=h6.dtype).view(1, 3, 1, 1)
    k = torch.remainder(n + h6.unsqueeze(1), 6.0)
    return maxc.unsqueeze(1) - delta.unsqueeze(1) * torch.minimum(k, 4 - k).clamp(0, 1)


def _rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    """HSV channels (hue a fraction of the wheel, as ``colorsys``) of NCHW RGB images in [0, 1]."""
    h6, v, delta = _hue6(img)
    return torch.stack([h6 / 6, delta / torch.where(v > 0, v, torch.ones_like(v)), v], 1)


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    h, s, v = hsv.unbind(1)
    return _from_hue6(6 * h, v, v * s)


def _adjust_hue(img: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each image's hues by its own ``shift`` (fraction of the wheel), keeping saturation and value."""
    h6, maxc, delta = _hue6(img)
    return _from_hue6(h6 + 6 * shift.view(-1, 1, 1).to(img.dtype), maxc, delta).clamp(0, 1)


def color_jitter(img: torch.Tensor, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.2,
                 hue: float = 0.1, p: float = 0.8) -> torch.Tensor:
    """torchvision's ColorJitter applied to a random fraction ``p`` of an NCHW batch, each image with its
    own factors, so the encoder cannot rely on the exact colour histogram that both views would share.

    Factors are uniform in [max(0, 1 - s), 1 + s] for brightness (scale), contrast (blend with the mean
    gray level of the image) and saturation (blend with the gray image); the hue shift is uniform in
    [-hue, hue] of the colour wheel. Like torchvision, the four run in a random order, drawn once per
    call (the whole batch shares the order, not the factors), and the result is clipped to [0, 1] after
    each. One-channel images have no saturation or hue to change: only brightness and contrast apply.
    """
    p = _check_p(p)
    for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
            raise InputError(f"{name} must be a number >= 0, got {v!r}")
    if isinstance(hue, bool) or not isinstance(hue, (int, float)) or not 0 <= hue <= 0.5:
        raise InputError(f"hue is a fraction of the colour wheel and must lie in [0, 0.5], got {hue!r}")
    _check_channels(img, "color_jitter")
    n, c = img.shape[:2]
    dev = img.device
    apply = _per_image(n, p, dev)

    def factor(strength):
        lo, hi = max(0.0, 1 - strength), 1 + strength
        return (lo + (hi - lo) * torch.rand(n, 1, 1, 1, device=dev)).to(img.dtype)

    def blend(a, b, f):
        return (f * a + (1 - f) * b).clamp(0, 1)

    out = img
    for op in torch.randperm(4).tolist():
        if op == 0 and brightness > 0:
            out = (out * factor(brightness)).clamp(0, 1)
        elif op == 1 and contrast > 0:
            out = blend(out, _gray(out).mean(dim=(1, 2, 3), keepdim=True), factor(contrast))
        elif op == 2 and saturation > 0 and c == 3:
            out = blend(out, _gray(out), factor(saturation))
        elif op == 3 and hue > 0 and c == 3:
            out = _adjust_hue(out, (torch.rand(n, device=dev) * 2 - 1) * hue)
    return torch.where(apply, out, img)


def _blur_side(side: int, fraction: float) -> int:
    k = int(fraction * side)
    return max(3, k + 1 if k % 2 == 0 else k)


def random_gaussian_blur(img: torch.Tensor, p: float, sigma: tuple[float, float] = (0.1, 2.0),
                         kernel_fraction: float = 0.1) -> torch.Tensor:
    """Blur a random fraction ``p`` of an NCHW batch, each image with its own sigma (uniform in ``sigma``,
    in pixels), so the encoder cannot lean on fine texture alone.

    BYOL uses a 23 x 23 kernel on 224-pixel images: the kernel's side is ``kernel_fraction`` of the image's
    (per axis, made odd, at least 3). Edges are mirrored without repeating the edge pixel (torch's
    'reflect', scipy's 'mirror'). All images are blurred in one grouped convolution per axis.
    """
    p = _check_p(p)
    lo, hi = _check_range("sigma", sigma)
    if isinstance(kernel_fraction, bool) or not isinstance(kernel_fraction, (int, float)) or \
            not 0 < kernel_fraction <= 1:
        raise InputError(f"kernel_fraction must lie in (0, 1], got {kernel_fraction!r}")
    if img.dim() != 4:
        raise InputError(f"random_gaussian_blur needs NCHW images, got shape {tuple(img.shape)}")
    n, c, height, width = img.shape
    dev = img.device
    apply = _per_image(n, p, dev).view(n)
    sig = lo + (hi - lo) * torch.rand(n, device=dev, dtype=img.dtype)  # kernels as precise as the images
    idx = apply.nonzero().squeeze(1)
    if len(idx) == 0:
        return img
    sel, sig = img[idx], sig[idx]
    m = len(idx)
    x = sel.reshape(1, m * c, height, width)
    for axis, side in ((3, width), (2, height)):
        r = min(_blur_side(side, kernel_fraction) // 2, side - 1)  # reflect padding needs r < side
        if r == 0:
            continue
        t = torch.arange(-r, r + 1, device=dev, dtype=img.dtype)
        k = torch.exp(-0.5 * (t / sig.view(m, 1)) ** 2)
        k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)
        if axis == 3:
            x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(m * c, 1, 1, -1), groups=m * c)
        else:
            x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(m * c, 1, -1, 1), groups=m * c)
    out = img.clone()
    out[idx] = x.reshape(m, c, height, width)
    return out


def random_solarize(img: torch.Tensor, p: float, threshold: float = 0.5) -> torch.Tensor:
    """Invert the bright pixels (>= ``threshold``) of a random fraction ``p`` of the images: BYOL's second
    view uses it so the two views disagree on absolute intensity."""
    p = _check_p(p)
    return torch.where(_per_image(len(img), p, img.device) & (img >= threshold), 1 - img, img)


def byol_augment(x: torch.Tensor, input_shape, view: int, size=None,
                 crop_scale: tuple[float, float] = (0.08, 1.0)) -> torch.Tensor:
    """One of BYOL's two views of a batch of image rows (Grill et al. 2020, table 6).

    Both views crop (area ``crop_scale``, ratio 3/4-4/3, mirrored with p 0.5), jitter colour (p 0.8:
    brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1) and go gray (p 0.2); they differ in blur
    (p 1.0 for view 1, 0.1 for view 2) and solarization (p 0.0 / 0.2), which makes the views asymmetric
    as in the paper. Rows are (H, W) or (H, W, C) channels-last in [0, 1]; the result has the same layout
    with spatial size ``size`` (default the input's). It is not normalised by ImageNet statistics: that
    belongs to the network, which knows what data it was built for.
    """
    if isinstance(view, bool) or view not in (1, 2):
        raise InputError(f"view must be 1 or 2 (BYOL's two augmentation pipelines), got {view!r}")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) not in (2, 3):
        raise InputError(f"byol_augment needs image rows (H, W) or (H, W, C), got rows of shape {shape}")
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise InputError("byol_augment needs a float tensor with values in [0, 1], got "
                         f"{x.dtype if torch.is_tensor(x) else type(x).__name__}")
    if x.dim() < 1 or math.prod(x.shape[1:]) != math.prod(shape):
        raise InputError(f"rows of x have shape {tuple(x.shape[1:])}, which does not hold input_shape {shape}")
    img, (h, w, c) = _nchw(x, shape)
    if c not in (1, 3):
        raise InputError(f"byol_augment needs 1 or 3 channels, got {c}")
    sh, sw = _out_size(size, h, w)
    img = random_resized_crop(img, (sh, sw), scale=crop_scale, ratio=(3 / 4, 4 / 3), hflip=True)
    img = color_jitter(img, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8)
    img = random_grayscale(img, p=0.2)
    img = random_gaussian_blur(img, p=1.0 if view == 1 else 0.1)
    img = random_solarize(img, p=0.0 if view == 1 else 0.2).clamp(0, 1)  # the blur's rounding can pass 1
    return nchw_to_rows(img, (len(x), sh, sw) if len(shape) == 2 else (len(x), sh, sw, c))
