"""BYOL's augmentations (Grill et al. 2020, table 6) as batched tensor ops, checked against references:
colorsys for HSV, PIL for grayscale, scipy for the blur, F.interpolate of the cropped box for the crop."""

import colorsys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import gaussian_filter

from fewlabel.augment import (_adjust_hue, _blur_side, _crop_boxes, _hsv_to_rgb, _rgb_to_hsv, byol_augment,
                              color_jitter, random_gaussian_blur, random_grayscale, random_resized_crop,
                              random_solarize, to_grayscale)
from fewlabel.errors import InputError


def _pixels(n):
    """n random RGB pixels as an (n, 3, 1, 1) batch, with the awkward cases first: gray, black, white, ties."""
    special = torch.tensor([[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1],
                            [1, 1, 0], [0, 1, 1], [1, 0, 1], [0.7, 0.7, 0.2], [0.2, 0.7, 0.7], [0.7, 0.2, 0.7],
                            [0.3, 0.2, 0.2], [0.2, 0.2, 0.3]])
    return torch.cat([special, torch.rand(n - len(special), 3)]).view(n, 3, 1, 1)


# -- HSV and hue ---------------------------------------------------------------------------------------------
def test_hsv_matches_colorsys_and_round_trips():
    torch.manual_seed(0)
    px = _pixels(2000)
    hsv = _rgb_to_hsv(px)[:, :, 0, 0]
    ref = torch.tensor([colorsys.rgb_to_hsv(*p) for p in px[:, :, 0, 0].tolist()])
    dh = (hsv[:, 0] - ref[:, 0]).abs()
    assert float(torch.minimum(dh, 1 - dh).max()) < 1e-5  # hue is circular: 0.999999 and 0 are neighbours
    assert torch.allclose(hsv[:, 1:], ref[:, 1:], atol=1e-6)
    assert float(hsv[:, 0].min()) >= 0 and float(hsv[:, 0].max()) <= 1
    assert torch.allclose(_hsv_to_rgb(_rgb_to_hsv(px)), px, atol=1e-5)
    img = torch.rand(4, 3, 9, 7)
    assert torch.allclose(_hsv_to_rgb(_rgb_to_hsv(img)), img, atol=1e-5)


def test_hue_shift_matches_colorsys():
    torch.manual_seed(1)
    shifts = torch.tensor([0.0, 0.1, -0.1, 0.05, -0.37, 0.5, 0.9, 1 / 3])
    img = torch.rand(len(shifts), 3, 6, 5)
    img[:, :, 0, 0] = 0.4  # a gray pixel has no hue to shift
    out = _adjust_hue(img, shifts)
    expected = torch.empty_like(img)
    for k, s in enumerate(shifts.tolist()):
        for y in range(6):
            for x in range(5):
                h, sat, v = colorsys.rgb_to_hsv(*img[k, :, y, x].tolist())
                expected[k, :, y, x] = torch.tensor(colorsys.hsv_to_rgb((h + s) % 1.0, sat, v))
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(out[0], img[0], atol=1e-5) and torch.allclose(out[:, :, 0, 0], img[:, :, 0, 0])


# -- grayscale -----------------------------------------------------------------------------------------------
def test_grayscale_matches_pil():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(5, 17, 13, 3), dtype=np.uint8)
    ref = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in rgb]).astype(np.float32) / 255
    gray = to_grayscale(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255)
    assert gray.shape == (5, 3, 17, 13)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 0], gray[:, 2])
    assert float((gray[:, 0] - torch.from_numpy(ref)).abs().max()) <= 1 / 255 + 1e-6  # PIL rounds to uint8
    one = torch.rand(3, 1, 8, 8)
    assert torch.equal(to_grayscale(one), one)


def test_random_grayscale_picks_about_p_of_the_images():
    torch.manual_seed(2)
    img = torch.rand(2000, 3, 4, 4)
    assert torch.equal(random_grayscale(img, p=0.0), img)
    assert torch.equal(random_grayscale(img, p=1.0), to_grayscale(img))
    out = random_grayscale(img, p=0.2)
    gray = (out[:, 0] == out[:, 1]).all(dim=(1, 2)) & (out[:, 1] == out[:, 2]).all(dim=(1, 2))
    assert 0.16 < float(gray.float().mean()) < 0.24
    assert torch.equal(out[~gray], img[~gray])


# -- blur ------------------------------------------------------------------------------------------------------
def test_blur_kernel_side_follows_byol():
    assert _blur_side(224, 0.1) == 23  # the paper's 23 x 23 kernel on 224-pixel images
    assert _blur_side(96, 0.1) == 9 and _blur_side(64, 0.1) == 7 and _blur_side(48, 0.1) == 5
    assert _blur_side(28, 0.1) == 3 and _blur_side(8, 0.1) == 3  # never below 3


def test_blur_with_fixed_sigma_matches_scipy():
    torch.manual_seed(3)
    img = torch.rand(3, 2, 64, 48, dtype=torch.float64)
    sigma = 1.3
    out = random_gaussian_blur(img, p=1.0, sigma=(sigma, sigma))
    # kernel sides 7 (64 rows) and 5 (48 columns): radii 3 and 2; torch's 'reflect' is scipy's 'mirror'
    ref = np.stack([[gaussian_filter(ch, sigma, mode="mirror", radius=(3, 2)) for ch in im] for im in img.numpy()])
    assert np.abs(out.numpy() - ref).max() < 1e-10
    # a wider kernel than the image allows would not match: the test can tell kernel sizes apart
    wrong = np.stack([[gaussian_filter(ch, sigma, mode="mirror", radius=(2, 2)) for ch in im] for im in img.numpy()])
    assert np.abs(out.numpy() - wrong).max() > 1e-4


def test_blur_draws_a_sigma_per_image_and_applies_with_p():
    torch.manual_seed(4)
    img = torch.rand(1, 3, 32, 32).repeat(400, 1, 1, 1)
    assert torch.equal(random_gaussian_blur(img, p=0.0), img)
    out = random_gaussian_blur(img, p=1.0)
    rough = (out[:, :, :, 1:] - out[:, :, :, :-1]).abs().mean(dim=(1, 2, 3))  # less after a wider blur
    sharp = float((img[0, :, :, 1:] - img[0, :, :, :-1]).abs().mean())
    assert float(rough.max()) <= sharp + 1e-6  # sigma 0.1 is next to no blur at all
    assert float(rough.min()) < sharp / 3 and float(rough.std()) > 0.05  # sigma up to 2: a blur per image
    changed = (random_gaussian_blur(img, p=0.1) != img).flatten(1).any(1).float().mean()
    assert 0.04 < float(changed) < 0.17


# -- resized crop ---------------------------------------------------------------------------------------------
def test_full_crop_without_flip_is_the_identity():
    torch.manual_seed(5)
    img = torch.rand(6, 3, 28, 28)
    out = random_resized_crop(img, (28, 28), scale=(1, 1), ratio=(1, 1), hflip=False)
    assert torch.allclose(out, img, atol=1e-5)


def test_quarter_crop_is_a_2x_zoom_of_a_14_pixel_window():
    """On a ramp image (channel 0 the column, channel 1 the row) every output must be the bilinear 2x
    resize of some whole-pixel 14 x 14 window: steps of half an input pixel from a whole-pixel corner."""
    torch.manual_seed(6)
    n = 300
    ramp = torch.stack(torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="xy"))
    out = random_resized_crop(ramp.expand(n, 2, 28, 28), (28, 28), scale=(0.25, 0.25), ratio=(1, 1), hflip=True)
    assert float(out.min()) >= 0 and float(out.max()) <= 27  # never outside the input's range
    pos = torch.arange(1, 27.0)  # interior output pixels: their samples never touch the image border
    cols, rows = out[:, 0, 5, 1:27], out[:, 1, 1:27, 5]
    assert torch.allclose(out[:, 0], out[:, 0, :1].expand(n, 28, 28)) and torch.allclose(out[:, 1], out[:, 1, :, :1])
    # rows: top + (y + 0.5) / 2 - 0.5 with a whole top in [0, 14] (the gradient is half an input pixel per pixel)
    top = rows[:, 0] - 0.25
    assert torch.allclose(top, top.round(), atol=1e-4) and float(top.min()) >= 0 and float(top.max()) <= 14
    assert torch.allclose(rows, top.view(n, 1) - 0.25 + pos / 2, atol=1e-4)
    # columns: the same, or mirrored inside the window for about half the images
    mirrored = cols[:, -1] < cols[:, 0]
    assert 0.4 < float(mirrored.float().mean()) < 0.6
    left = torch.where(mirrored, cols[:, -1] - 0.25, cols[:, 0] - 0.25)
    assert torch.allclose(left, left.round(), atol=1e-4) and float(left.min()) >= 0 and float(left.max()) <= 14
    expect = left.view(n, 1) - 0.25 + torch.where(mirrored.view(n, 1), 27 - pos, pos) / 2
    assert torch.allclose(cols, expect, atol=1e-4)
    assert len(set(zip(top.round().tolist(), left.round().tolist()))) > 50  # each image its own window


def test_crop_equals_interpolating_the_cropped_box():
    """When the box is at least the output size, grid_sample stays inside the box and must agree exactly
    with torchvision's recipe: slice the box, then bilinear resize (align_corners=False, no antialias)."""
    torch.manual_seed(7)
    img = torch.rand(40, 3, 32, 30)
    torch.manual_seed(8)
    top, left, h, w = _crop_boxes(40, 32, 30, (0.5, 1.0), (3 / 4, 4 / 3), "cpu")
    torch.manual_seed(8)
    out = random_resized_crop(img, (12, 11), scale=(0.5, 1.0), hflip=False)
    assert out.shape == (40, 3, 12, 11)
    area, ratio = h * w / (32 * 30), w / h
    assert float(area.min()) > 0.45 and float(area.max()) <= 1 and float(ratio.min()) > 0.7 and float(ratio.max()) < 1.4
    assert h.unique().numel() > 3 and w.unique().numel() > 3
    for k in range(40):
        i, j, hh, ww = (int(v[k]) for v in (top, left, h, w))
        assert 0 <= i <= 32 - hh and 0 <= j <= 30 - ww
        ref = F.interpolate(img[k:k + 1, :, i:i + hh, j:j + ww], size=(12, 11), mode="bilinear", align_corners=False)
        assert torch.allclose(out[k:k + 1], ref, atol=1e-5)


def test_crop_falls_back_to_the_central_box():
    torch.manual_seed(9)
    img = torch.rand(5, 1, 20, 30)
    top, left, h, w = _crop_boxes(5, 20, 30, (2.0, 3.0), (1.0, 1.0), "cpu")  # no area of 2-3x the image fits
    assert top.tolist() == [0] * 5 and left.tolist() == [5] * 5 and h.tolist() == [20] * 5 and w.tolist() == [20] * 5
    out = random_resized_crop(img, (20, 20), scale=(2.0, 3.0), ratio=(1.0, 1.0), hflip=False)
    assert torch.allclose(out, img[:, :, :, 5:25], atol=1e-5)
    top, left, h, w = _crop_boxes(5, 20, 30, (2.0, 3.0), (1.0, 2.0), "cpu")  # the image's own ratio is allowed
    assert h.tolist() == [20] * 5 and w.tolist() == [30] * 5 and top.tolist() == [0] * 5


def test_crop_is_per_image_reproducible_and_resizes():
    img = torch.rand(1, 3, 28, 28).repeat(8, 1, 1, 1)
    torch.manual_seed(10)
    a = random_resized_crop(img, (12, 20))
    torch.manual_seed(10)
    b = random_resized_crop(img, (12, 20))
    assert a.shape == (8, 3, 12, 20) and torch.equal(a, b)
    assert all(not torch.allclose(a[0], a[k]) for k in range(1, 8))  # same input, different crops
    assert not torch.equal(random_resized_crop(img, (12, 20)), a)
    assert random_resized_crop(img, 16).shape == (8, 3, 16, 16)


# -- colour jitter ----------------------------------------------------------------------------------------------
def test_color_jitter_changes_only_what_it_is_asked_to():
    torch.manual_seed(11)
    img = 0.3 + 0.4 * torch.rand(300, 3, 8, 8)  # in [0.3, 0.7]: no factor within 0.6-1.4 clips it
    assert torch.equal(color_jitter(img, p=0.0), img)
    assert torch.equal(color_jitter(img, 0, 0, 0, 0, p=1.0), img)
    # brightness: one factor per image, in [0.6, 1.4], differing between images
    f = color_jitter(img, 0.4, 0, 0, 0, p=1.0) / img
    per = f.flatten(1)
    assert torch.allclose(per, per[:, :1].expand_as(per), atol=1e-5)
    assert 0.6 <= float(per.min()) and float(per.max()) <= 1.4 and float(per[:, 0].std()) > 0.15
    # contrast: a blend with the image's mean gray level, which it keeps
    out = color_jitter(img, 0, 0.4, 0, 0, p=1.0)
    mean = to_grayscale(img)[:, :1].mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(to_grayscale(out)[:, :1].mean(dim=(1, 2, 3), keepdim=True), mean, atol=1e-5)
    ratio = ((out - mean) * (img - mean)).sum(dim=(1, 2, 3)) / ((img - mean) ** 2).sum(dim=(1, 2, 3))
    assert torch.allclose(out, mean + ratio.view(-1, 1, 1, 1) * (img - mean), atol=1e-5)
    assert 0.6 <= float(ratio.min()) and float(ratio.max()) <= 1.4
    # saturation: a blend with the gray image, which it keeps
    out = color_jitter(img, 0, 0, 0.2, 0, p=1.0)
    assert torch.allclose(to_grayscale(out), to_grayscale(img), atol=1e-5) and not torch.allclose(out, img)
    # hue: moves colours around the wheel, keeps each pixel's max and min (value and chroma)
    out = color_jitter(img, 0, 0, 0, 0.1, p=1.0)
    assert torch.allclose(out.amax(1), img.amax(1), atol=1e-5) and torch.allclose(out.amin(1), img.amin(1), atol=1e-5)
    assert not torch.allclose(out, img, atol=1e-3)


def test_color_jitter_probability_range_and_gray_images():
    torch.manual_seed(12)
    img = torch.rand(2000, 3, 4, 4)
    out = color_jitter(img, p=0.8)
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    assert 0.76 < float((out != img).flatten(1).any(1).float().mean()) < 0.84
    one = torch.rand(50, 1, 6, 6)
    assert torch.equal(color_jitter(one, 0, 0, 0.2, 0.1, p=1.0), one)  # no saturation or hue in gray
    out = color_jitter(one, 0, 0.4, 0, 0, p=1.0)  # contrast around the image's own mean
    assert torch.allclose(out.mean(dim=(1, 2, 3)), one.mean(dim=(1, 2, 3)), atol=0.05)


# -- solarize -----------------------------------------------------------------------------------------------------
def test_solarize_inverts_bright_pixels():
    x = torch.tensor([0.0, 0.25, 0.49, 0.5, 0.75, 1.0]).view(1, 1, 1, 6)
    assert torch.allclose(random_solarize(x, p=1.0), torch.tensor([0.0, 0.25, 0.49, 0.5, 0.25, 0.0]).view(1, 1, 1, 6))
    assert torch.allclose(random_solarize(x, p=1.0, threshold=0.75), torch.tensor([0.0, 0.25, 0.49, 0.5, 0.25, 0.0]))
    torch.manual_seed(13)
    img = torch.rand(100, 3, 8, 8)
    assert torch.equal(random_solarize(img, p=0.0), img)
    assert bool((random_solarize(img, p=1.0) != img).flatten(1).any(1).all())


# -- the BYOL pipeline ----------------------------------------------------------------------------------------------
def test_byol_views_differ_stay_in_range_and_keep_layout():
    torch.manual_seed(14)
    x = torch.rand(32, 24, 24, 3)
    v1, v2 = byol_augment(x, (24, 24, 3), view=1), byol_augment(x, (24, 24, 3), view=2)
    assert v1.shape == v2.shape == x.shape
    for v in (v1, v2):
        assert 0 <= float(v.min()) and float(v.max()) <= 1
    assert bool(((v1 - v2).abs().flatten(1).amax(1) > 0.05).all())
    torch.manual_seed(15)
    a = byol_augment(x, (24, 24, 3), view=2, size=(20, 16))
    torch.manual_seed(15)
    assert a.shape == (32, 20, 16, 3) and torch.equal(a, byol_augment(x, (24, 24, 3), view=2, size=(20, 16)))
    g = torch.rand(10, 28, 28)
    assert byol_augment(g, (28, 28), view=1).shape == (10, 28, 28)
    assert byol_augment(g, (28, 28), view=2, size=(20, 24)).shape == (10, 20, 24)
    assert byol_augment(g.unsqueeze(-1), (28, 28, 1), view=2, size=14).shape == (10, 14, 14, 1)


def test_byol_view_probabilities_follow_table_6():
    torch.manual_seed(16)
    white = torch.ones(2000, 8, 8, 3)
    # jitter keeps a white image at >= 0.6 (brightness), so exactly the solarized ones fall below 0.5
    for view, lo, hi in ((1, 0.0, 0.0), (2, 0.16, 0.24)):
        solarized = byol_augment(white, (8, 8, 3), view=view).flatten(1).amax(1) < 0.5
        assert lo <= float(solarized.float().mean()) <= hi
    # a flat orange stays coloured through crop, jitter and blur: only the grayscale step makes it gray
    orange = torch.tensor([0.9, 0.5, 0.1]).expand(2000, 8, 8, 3)
    out = byol_augment(orange, (8, 8, 3), view=1)
    gray = (out.amax(-1) - out.amin(-1)).flatten(1).amax(1) < 1e-6
    assert 0.16 < float(gray.float().mean()) < 0.24


def test_byol_refuses_bad_inputs():
    with pytest.raises(InputError, match="image rows"):
        byol_augment(torch.rand(4, 784), (784,), view=1)
    with pytest.raises(InputError, match="view must be 1 or 2"):
        byol_augment(torch.rand(4, 28, 28), (28, 28), view=3)
    with pytest.raises(InputError, match="1 or 3 channels"):
        byol_augment(torch.rand(4, 8, 8, 2), (8, 8, 2), view=1)
    with pytest.raises(InputError, match="does not hold input_shape"):
        byol_augment(torch.rand(4, 28, 27), (28, 28), view=1)
    with pytest.raises(InputError, match="float"):
        byol_augment(torch.zeros(4, 28, 28, dtype=torch.uint8), (28, 28), view=1)
    with pytest.raises(InputError, match="size"):
        byol_augment(torch.rand(4, 28, 28), (28, 28), view=1, size=(0, 5))
    with pytest.raises(InputError, match="scale"):
        byol_augment(torch.rand(4, 28, 28), (28, 28), view=1, crop_scale=(0.5, 0.1))
    with pytest.raises(InputError, match="probability"):
        random_solarize(torch.rand(2, 1, 4, 4), p=1.5)
    with pytest.raises(InputError, match="hue"):
        color_jitter(torch.rand(2, 3, 4, 4), hue=0.7)


def test_byol_views_of_real_digits_keep_the_digit(mnist_small):
    _, _, Xt, _ = mnist_small
    digits = torch.from_numpy(Xt[:256].astype(np.float32) / 255)
    torch.manual_seed(17)
    for view in (1, 2):
        out = byol_augment(digits, (28, 28), view=view)
        assert out.shape == digits.shape and 0 <= float(out.min()) and float(out.max()) <= 1
        assert float((out.mean(dim=(1, 2)) > 0.02).float().mean()) > 0.9  # most crops hold some ink
        assert float((out.amax(dim=(1, 2)) > 0.3).float().mean()) > 0.9  # and a visible stroke
        assert float((out - digits).abs().mean()) > 0.05  # but not the image as it was
