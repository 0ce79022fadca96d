"""Batched augmentation: each image gets its own random transform, reproducibly, on any image layout."""

import numpy as np
import pytest
import torch

from fewlabel.augment import cutout, random_affine, strong_augment, weak_augment
from fewlabel.errors import InputError


@pytest.fixture(scope="module")
def digits(mnist_small):
    _, _, Xt, _ = mnist_small
    return torch.from_numpy(Xt[:256].astype(np.float32) / 255)


def test_identity_affine_changes_nothing(digits):
    img = digits.unsqueeze(1)
    assert torch.allclose(random_affine(img), img, atol=1e-5)


def test_weak_view_is_a_small_shift_of_each_image(digits):
    torch.manual_seed(0)
    w = weak_augment(digits, (28, 28))
    assert w.shape == digits.shape and 0 <= float(w.min()) and float(w.max()) <= 1
    # ink is kept (digits sit inside a blank border, so a shift of up to 3.5 pixels loses almost none)
    ink, ink_w = digits.sum(dim=(1, 2)), w.sum(dim=(1, 2))
    assert torch.allclose(ink_w, ink, rtol=0.08)
    moved = (w - digits).abs().sum(dim=(1, 2)) > 1.0
    assert moved.float().mean() > 0.8  # nearly every image moves, each by its own amount
    # the shift is recoverable: the centre of mass moves by at most 12.5% of 28 pixels (+ interpolation)
    cols = torch.arange(28.0)
    com = lambda t: (t.sum(1) * cols).sum(1) / t.sum(dim=(1, 2))  # noqa: E731
    assert float((com(w) - com(digits)).abs().max()) <= 0.125 * 28 + 0.5


def test_strong_view_is_stronger_and_reproducible(digits):
    torch.manual_seed(1)
    s1 = strong_augment(digits, (28, 28))
    torch.manual_seed(1)
    s2 = strong_augment(digits, (28, 28))
    torch.manual_seed(1)
    w = weak_augment(digits, (28, 28))
    assert torch.equal(s1, s2)  # the loop's per-epoch seeding makes training reproducible
    assert 0 <= float(s1.min()) and float(s1.max()) <= 1
    # the weak view keeps each image's ink; the strong one (brightness, contrast, solarize, cutout) mostly not
    ink = digits.sum(dim=(1, 2))
    ink_changed = lambda v: float(((v.sum(dim=(1, 2)) - ink).abs() > 0.2 * ink).float().mean())  # noqa: E731
    assert ink_changed(w) < 0.05 and ink_changed(s1) > 0.5
    torch.manual_seed(2)
    assert not torch.equal(strong_augment(digits, (28, 28)), s1)


def test_colour_images_and_mirroring():
    torch.manual_seed(0)
    x = torch.rand(64, 32, 32, 3)
    assert strong_augment(x, (32, 32, 3), hflip=True).shape == x.shape
    # an image that is only a left-half bar: mirrored copies put the bar on the right half
    bar = torch.zeros(200, 1, 16, 16)
    bar[:, :, :, :8] = 1
    flipped = random_affine(bar, hflip=True)
    right_heavy = flipped[:, 0, :, 8:].sum(dim=(1, 2)) > flipped[:, 0, :, :8].sum(dim=(1, 2))
    assert 0.35 < right_heavy.float().mean() < 0.65


def test_cutout_blanks_one_square_per_image():
    torch.manual_seed(0)
    img = torch.ones(500, 1, 20, 20)
    out = cutout(img, size=0.5)
    blank = (out == 0).float().sum(dim=(1, 2, 3))
    assert float(blank.max()) <= 11 * 11  # a square of side <= 10 (+1 centred), clipped at the border
    assert float((blank >= 1).float().mean()) > 0.9 and blank.std() > 0  # sizes differ from image to image


def test_flat_rows_are_refused():
    with pytest.raises(InputError, match="image rows"):
        weak_augment(torch.rand(4, 784), (784,))


def test_whole_pixel_shift_equals_the_interpolated_affine_shift():
    """random_shift is the cheap form of random_affine at whole-pixel translations: the same values."""
    from fewlabel.augment import random_shift

    torch.manual_seed(0)
    img = torch.rand(6, 3, 28, 30)
    torch.manual_seed(5)
    out = random_shift(img, 3)
    torch.manual_seed(5)
    dy, dx = torch.randint(-3, 4, (6, 1)), torch.randint(-3, 4, (6, 1))
    for i in range(6):
        h, w = img.shape[2:]
        # the affine grid's translation is in units of half the size: -2 * d / size moves content by +d
        theta = torch.tensor([[[1.0, 0.0, -2.0 * float(dx[i]) / w], [0.0, 1.0, -2.0 * float(dy[i]) / h]]])
        grid = torch.nn.functional.affine_grid(theta, [1, 3, h, w], align_corners=False)
        ref = torch.nn.functional.grid_sample(img[i:i + 1], grid, mode="bilinear", padding_mode="zeros",
                                              align_corners=False)
        assert torch.allclose(out[i:i + 1], ref, atol=1e-5), i
    assert (out != img).any(dim=(1, 2, 3)).float().mean() > 0.5  # most images move
