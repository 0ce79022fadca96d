"""The checks of parameter values, written once: each takes the parameter's name and its value and raises
:class:`~fewlabel.errors.InputError` with a message naming both and what is expected. Estimators declare
which check each parameter gets (``fewlabel.train.config.Setting``) or call them in ``_check_params``."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from fewlabel.errors import InputError

_NUMBER = (int, float, np.integer, np.floating)

# 2**32 weights are 16 GiB in fp32 (64 GiB with Adam's moments and the gradients): layer sizes beyond that are a
# mistake (hidden=(10**12,)), refused before torch tries to allocate them
MAX_WEIGHTS = 2**32


def is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, _NUMBER) and not isinstance(v, bool) and math.isfinite(v)


def positive_int(name: str, v) -> None:
    if not is_int(v) or v < 1:
        raise InputError(f"{name} must be a positive integer, got {v!r}")


def optional_positive_int(name: str, v) -> None:
    if v is not None and (not is_int(v) or v < 1):
        raise InputError(f"{name} must be a positive integer or None, got {v!r}")


def positive_number(name: str, v) -> None:
    if not is_number(v) or v <= 0:
        raise InputError(f"{name} must be a positive finite number, got {v!r}")


def non_negative_number(name: str, v) -> None:
    if not is_number(v) or v < 0:
        raise InputError(f"{name} must be a finite number >= 0, got {v!r}")


def fraction(name: str, v) -> None:
    """A fraction in [0, 1) (e.g. of rows held out)."""
    if not is_number(v) or not 0 <= v < 1:
        raise InputError(f"{name} must be in [0, 1), got {v!r}")


def number_in(name: str, v, low=0, high=1.0, *, low_open: bool = False, high_open: bool = False) -> float:
    """``v`` as a float when it is a finite number in the interval from ``low`` to ``high`` (each end
    included unless ``low_open`` / ``high_open``); the message shows the interval as written, e.g. (0, 0.5]."""
    ok = is_number(v) and (low < v if low_open else low <= v) and (v < high if high_open else v <= high)
    if not ok:
        lo, hi = f"{'(' if low_open else '['}{low}", f"{high}{')' if high_open else ']'}"
        raise InputError(f"{name} must be a number in {lo}, {hi}, got {v!r}")
    return float(v)


def int_at_least(name: str, v, minimum: int) -> int:
    """``v`` as an int when it is an integer (not a bool) of at least ``minimum``."""
    if not is_int(v) or v < minimum:
        raise InputError(f"{name} must be an integer of at least {minimum}, got {v!r}")
    return int(v)


def one_of(options, allow_callable: bool = False):
    """A check that the value is one of ``options`` (``True`` is not ``1``)."""
    def check(name: str, v) -> None:
        if allow_callable and callable(v):
            return
        if any(v is o or (v == o and type(v) is type(o)) for o in options):
            return
        raise InputError(f"unknown {name} {v!r}: choose one of {options}")
    return check


def anything(name: str, v) -> None:
    """No check here (the value is checked where it is used)."""


def path_like(name: str, v) -> None:
    """A file or folder path: a str or an ``os.PathLike`` (not a number, not an open file)."""
    if not isinstance(v, (str, os.PathLike)):
        raise InputError(f"{name} must be a str or os.PathLike, got {type(v).__name__}")


def labels_match_rows(y, n_rows: int, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D array of one label per row of X (the check ``score(X, y)`` needs before it predicts)."""
    if y is None:
        raise InputError(f"{name} is None: score needs one true label per row of X")
    y = np.asarray(y)
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise InputError(f"{name} must be 1-D (one label per row), got shape {y.shape}")
    if len(y) != n_rows:
        raise InputError(f"X has {n_rows} rows but {name} has {len(y)} labels; they must match")
    return y.reshape(-1)


def label_array(y, name: str = "y") -> np.ndarray:
    """``y`` as a flat array of labels, one per row (numbers or strings, none missing), or an InputError
    naming ``name`` and what is wrong: what every metric and clustering report needs of its labels."""
    if y is None:
        raise InputError(f"{name} is None: pass one label per row")
    if hasattr(y, "toarray") and not isinstance(y, np.ndarray):
        raise InputError(f"{name} is a sparse matrix; pass a dense 1-D array of labels")
    if hasattr(y, "detach"):  # a torch tensor, without importing torch
        y = y.detach().cpu().numpy()
    try:
        y = np.asarray(y)
    except (ValueError, TypeError) as e:
        raise InputError(f"{name} is not a flat list of labels ({e})") from None
    if y.ndim != 1:
        hint = "; flatten it with .ravel()" if y.ndim == 2 and 1 in y.shape else ""
        raise InputError(f"{name} must be 1-D (one label per row), got shape {y.shape}{hint}")
    if len(y) == 0:
        raise InputError(f"{name} is empty: at least one label is required")
    if y.dtype.kind == "c":
        raise InputError(f"{name} holds complex numbers; labels must be integers, strings or real numbers")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y)
    elif y.dtype == object:
        bad = np.array([v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)) for v in y])
    else:
        bad = np.zeros(len(y), bool)
    if bad.any():
        if y.dtype.kind == "f":
            kind = "NaN" if np.isnan(y).any() else "infinity"
        else:
            kind = "NaN or None"
        raise InputError(f"{name} contains {kind} ({int(bad.sum())} values; first at index {int(np.argmax(bad))}); "
                         "every row needs a label")
    if y.dtype == object:
        try:
            np.unique(y)
        except TypeError:
            kinds = sorted({type(v).__name__ for v in y})
            raise InputError(f"{name} mixes label types ({', '.join(kinds)}); use one type for every label") from None
    return y


def uint8_images(X) -> np.ndarray:
    """``X`` as uint8 images (N, C, H, W) with 1 or 3 channels, at least 8x8 pixels (what three pooling
    stages of a small conv network need); (N, H, W) and (N, H, W, C) are rearranged, anything else refused."""
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[-1] in (1, 3) and X.shape[1] not in (1, 3):
        X = np.ascontiguousarray(X.transpose(0, 3, 1, 2))
    if X.ndim != 4 or X.shape[1] not in (1, 3):
        raise InputError(f"images must be (N, H, W), (N, C, H, W) or (N, H, W, C) with 1 or 3 channels, got {X.shape}")
    if X.dtype != np.uint8:
        raise InputError(f"images must be uint8 (0-255), got dtype {X.dtype}; scale them with (X * 255).astype(np.uint8)")
    if min(X.shape[2:]) < 8:
        raise InputError(f"images must be at least 8x8 pixels for three pooling stages, got {X.shape[2:]}")
    return X


def check_semi_supervised_y(y, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``y``; return (y as array, classes seen among labeled rows, mask of the labeled rows).

    Class labels are numbers or strings. An unlabeled row is ``-1`` (scikit-learn's convention); in an
    array of floats, strings or objects also NaN (or None), ``""`` or ``"?"``: one of these, not a mix
    (:func:`fewlabel.datasets.partial.unlabeled_mask`)."""
    from sklearn.exceptions import DataConversionWarning

    from fewlabel.datasets.partial import check_no_class_named_unlabeled, unlabeled_mask

    if y is None:
        raise InputError("this classifier requires y to be passed, but the target y is None (give one label per "
                         "row and mark unlabeled rows with -1)")
    y = np.asarray(y)
    if y.ndim != 1:
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(DataConversionWarning("A column-vector y was passed when a 1d array was expected. Please "
                                                "change the shape of y to (n_samples, ), for example using ravel()."),
                          stacklevel=3)
            y = y.ravel()
        else:
            raise InputError(f"y must be 1-D (one label per row), got shape {y.shape}")
    if len(y) != n_rows:
        raise InputError(f"X has {n_rows} rows but y has {len(y)} labels; they must match")
    if y.dtype.kind == "c":
        raise InputError("Unknown label type: y holds complex numbers; a classifier needs class labels")
    if y.dtype.kind == "f":
        if np.isinf(y).any():
            raise InputError("y contains infinity; mark unlabeled rows with -1 instead")
        finite = y[np.isfinite(y)]
        if (finite != np.round(finite)).any():
            raise InputError("Unknown label type: y holds continuous values (non-integer floats); a classifier "
                             "needs class labels")
    numeric = y.dtype.kind in "iuf"
    if numeric and ((y < 0) & (y != -1)).any():
        bad = np.unique(y[(y < 0) & (y != -1)])
        raise InputError(f"y holds negative labels other than -1 ({bad[:5].tolist()}): -1 marks an unlabeled row, so "
                         "class labels must be >= 0 (encode them, e.g. with sklearn.preprocessing.LabelEncoder)")
    labeled = ~unlabeled_mask(y, "y")
    if not labeled.any():
        raise InputError("y has no labeled row (every entry is -1): at least one labeled example per class is needed")
    if y.dtype.kind == "O":
        values = y[labeled].tolist()
        if all(isinstance(v, str) for v in values):
            check_no_class_named_unlabeled(values)
            classes = np.unique(np.asarray(values, dtype=str))
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
            classes = np.unique(np.asarray(values, dtype=np.int64))
        else:
            kinds = sorted({type(v).__name__ for v in values})
            raise InputError(f"y mixes label types ({', '.join(kinds)}): class labels must be all strings or all "
                             "whole numbers")
    else:
        if y.dtype.kind in "US":
            check_no_class_named_unlabeled(y[labeled])
        classes = np.unique(y[labeled])
    if len(classes) < 2:
        raise InputError(f"only one class ({classes.tolist()[0]!r}) among the labeled rows; a classifier needs at "
                         "least two")
    return y, classes, labeled
