"""Pick which few samples keep their labels: stratified, reproducible, in scikit-learn's -1 convention."""

from __future__ import annotations

import numbers

import numpy as np

from fewlabel.errors import InputError


def _check_labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"y must be 1-D (one label per sample), got shape {y.shape}")
    if y.size == 0:
        raise InputError("y is empty")
    if y.dtype.kind == "b" or y.dtype.kind not in "iuf":
        raise InputError(
            f"y must hold integer class labels, got dtype {y.dtype}; encode other labels first, e.g. with "
            "sklearn.preprocessing.LabelEncoder"
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InputError("y must hold integer class labels; it has non-integer, NaN or infinite values")
    if np.any(y < 0):
        raise InputError(
            f"y already contains {int(np.sum(y < 0))} negative labels; -1 means 'unlabeled' in scikit-learn, "
            "so labeled_subset needs fully labeled y"
        )
    return y.astype(np.int64)


def _allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Labels per class: proportional to class size (largest remainder), at least one per class."""
    quota = n * counts / counts.sum()
    alloc = np.maximum(1, np.floor(quota)).astype(np.int64)
    # Largest remainder: give the labels still to hand out to the classes furthest below their quota,
    # and, when the one-per-class minimum overshot n, take them back from the classes furthest above it.
    # Ties go to the smaller class index, so the allocation does not depend on the seed.
    while alloc.sum() < n:
        room = np.where(alloc < counts, quota - alloc, -np.inf)
        alloc[int(np.argmax(room))] += 1
    while alloc.sum() > n:
        excess = np.where(alloc > 1, alloc - quota, -np.inf)
        alloc[int(np.argmax(excess))] -= 1
    return alloc


def labeled_subset(y, n, seed=0, return_indices: bool = False):
    """Keep the labels of ``n`` samples, stratified by class; mark the rest unlabeled (-1).

    Parameters
    ----------
    y : array-like of int, shape (N,)
        Full labels, non-negative integers.
    n : int
        How many labels to keep; at least the number of classes (every class keeps at least one) and at
        most N. Classes get shares proportional to their size (largest-remainder rounding).
    seed : int, numpy.random.Generator or None
        Same seed, same choice. Different seeds give different choices.
    return_indices : bool
        Return the sorted indices of the kept samples instead of the partial labels.

    Returns
    -------
    numpy.ndarray
        int64 copy of y with -1 everywhere except at the ``n`` chosen samples, or (``return_indices``) the
        chosen indices, sorted.
    """
    y = _check_labels(y)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise InputError(f"n must be an integer, got {n!r}")
    n = int(n)
    classes, counts = np.unique(y, return_counts=True)
    if n <= 0:
        raise InputError(f"n must be positive, got {n}")
    if n > len(y):
        raise InputError(f"n={n} is more than the {len(y)} samples in y")
    if n < len(classes):
        raise InputError(
            f"n={n} is fewer than the {len(classes)} classes in y; every class needs at least one label"
        )
    if not (seed is None or isinstance(seed, (numbers.Integral, np.random.Generator))) or isinstance(seed, bool):
        raise InputError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    rng = np.random.default_rng(seed)

    alloc = _allocate(counts, n)
    chosen = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in zip(classes, alloc, strict=True)]
    indices = np.sort(np.concatenate(chosen))
    if return_indices:
        return indices
    partial = np.full(len(y), -1, dtype=np.int64)
    partial[indices] = y[indices]
    return partial


def holdout(n_rows: int, fraction: float, seed, *, name: str = "validation_fraction", what: str = "X",
            purpose: str = "validation") -> tuple[np.ndarray, np.ndarray]:
    """(kept rows, held-out rows), sorted: ``fraction`` of ``n_rows`` held out at random (at least one when
    ``fraction`` > 0, none when it is 0), drawn by ``seed``. ``name``, ``what`` and ``purpose`` word the
    error when nothing would be left to train on. One helper for every held-out share in fewlabel (an
    autoencoder's validation rows, a detector's calibration rows)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)) \
            or not 0 <= fraction < 1:
        raise InputError(f"{name} must be in [0, 1), got {fraction!r}")
    if fraction == 0:
        return np.arange(n_rows), np.arange(0)
    n_held = max(1, int(round(n_rows * fraction)))
    if n_rows - n_held < 1:
        raise InputError(f"{what} has {n_rows} row(s) (n_samples={n_rows}): too few to hold out {fraction:.0%} for "
                         f"{purpose} and train on the rest; give more rows or {name}=0")
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def hold_out(y, fraction: float, seed: int, name: str, option: str = "test_fraction"):
    """Sorted (train, test) row indices: ``fraction`` of the rows, stratified by label, drawn by ``seed``: the
    rows a labeled file keeps aside to score on. ``name`` (the data) and ``option`` (the setting that asked
    for ``fraction``) word the error when the labels cannot be split so."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    try:
        train, test = train_test_split(rows, test_size=fraction, stratify=y, random_state=seed)
    except ValueError as e:
        raise InputError(f"cannot hold out a stratified {option} {fraction} of the {len(y)} rows of {name}: "
                         f"{e}") from None
    return np.sort(train), np.sort(test)


def stratified_split(y_index: np.ndarray, fraction: float, seed: int, classes=None):
    """(train indices, validation indices) of the labeled rows, stratified: each class keeps about
    ``fraction`` of its examples for validation, at least one, and at least one for training."""
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 <= fraction < 1:
        raise InputError(f"validation_fraction must be in [0, 1), got {fraction!r}")
    n = len(y_index)
    if not fraction:
        return np.arange(n), None
    counts = np.bincount(y_index)
    single = np.flatnonzero(counts == 1)
    if len(single):
        names = np.asarray(classes if classes is not None else np.arange(len(counts)))[single].tolist()
        raise InputError(f"validation_fraction={fraction} holds out labeled rows of every class (stratified), but "
                         f"class {names[0]!r} has a single labeled example ({len(single)} such class(es)): it cannot "
                         "be in both the training and the validation rows. Use validation_fraction=0, or label more")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in range(len(counts)):
        idx = rng.permutation(np.flatnonzero(y_index == c))
        k = min(len(idx) - 1, max(1, int(round(len(idx) * fraction))))
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
