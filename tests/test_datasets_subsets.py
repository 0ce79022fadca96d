"""labeled_subset: stratified, reproducible choice of the few labels to keep."""

import numpy as np
import pytest

from fewlabel.datasets import labeled_subset
from fewlabel.errors import InputError


def shuffled_labels(counts, seed=0):
    y = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
    return np.random.default_rng(seed).permutation(y)


def test_exact_proportions():
    y = shuffled_labels([500, 300, 200])
    part = labeled_subset(y, 10)
    assert part.dtype == np.int64 and part.shape == y.shape
    kept = part >= 0
    assert kept.sum() == 10
    np.testing.assert_array_equal(part[kept], y[kept])
    assert np.all(part[~kept] == -1)
    np.testing.assert_array_equal(np.bincount(part[kept], minlength=3), [5, 3, 2])


@pytest.mark.parametrize("n", [37, 57, 200])
def test_stratified_within_one(n):
    # (with n near the number of classes the one-label minimum wins over proportionality: see below)
    counts = [310, 250, 120, 90, 80, 60, 40, 25, 15, 10]
    y = shuffled_labels(counts, seed=n)
    part = labeled_subset(y, n, seed=3)
    got = np.bincount(part[part >= 0], minlength=10)
    assert got.sum() == n and np.all(got >= 1)
    assert np.all(np.abs(got - n * np.array(counts) / sum(counts)) < 1)


def test_every_class_gets_a_label():
    y = shuffled_labels([1000, 5, 5])
    part = labeled_subset(y, 3)
    np.testing.assert_array_equal(np.bincount(part[part >= 0]), [1, 1, 1])
    part = labeled_subset(y, 12)
    np.testing.assert_array_equal(np.bincount(part[part >= 0]), [10, 1, 1])
    part = labeled_subset(shuffled_labels([310, 250, 120, 90, 80, 60, 40, 25, 15, 10]), 10)
    np.testing.assert_array_equal(np.bincount(part[part >= 0]), [1] * 10)


def test_reproducible_and_seed_dependent():
    y = shuffled_labels([100] * 10)
    a = labeled_subset(y, 50, seed=1)
    np.testing.assert_array_equal(a, labeled_subset(y, 50, seed=1))
    assert not np.array_equal(a, labeled_subset(y, 50, seed=2))
    idx = labeled_subset(y, 50, seed=1, return_indices=True)
    np.testing.assert_array_equal(idx, np.flatnonzero(a >= 0))
    assert np.all(np.diff(idx) > 0)
    y_before = y.copy()
    labeled_subset(y, 50)
    np.testing.assert_array_equal(y, y_before)  # input untouched


def test_all_labels_kept_when_n_is_len():
    y = shuffled_labels([3, 4])
    np.testing.assert_array_equal(labeled_subset(y, 7), y)


@pytest.mark.parametrize("y, n, match", [
    ([0, 1, 2, 0, 1, 2], 2, "fewer than the 3 classes"),
    ([0, 1, 0, 1], 5, "more than"),
    ([0, 1, 0, 1], 0, "positive"),
    ([0, 1, 0, 1], -3, "positive"),
    ([0, 1, -1, 1], 2, "negative"),
    ([], 1, "empty"),
    ([[0, 1], [1, 0]], 2, "1-D"),
    (["a", "b", "a"], 2, "integer"),
    ([0, 1, 0, 1], 2.5, "integer"),
    ([0.5, 1, 0], 2, "integer"),
])
def test_errors(y, n, match):
    with pytest.raises(InputError, match=match):
        labeled_subset(np.array(y), n)
