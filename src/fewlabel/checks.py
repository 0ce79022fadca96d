"""The checks of parameter values, written once: each takes the parameter's name and its value and raises
:class:`~fewlabel.errors.InputError` with a message naming both and what is expected. Estimators declare
which check each parameter gets (``fewlabel.train.config.Setting``) or call them in ``_check_params``."""

from __future__ import annotations

import math
import os

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
