"""What detection by reconstruction and the per-class autoencoder classifier share: the default
autoencoders, the template cloned for each fit, fitting with rows held out for calibration, and saving the
autoencoders inside a saved estimator."""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from fewlabel.datasets.subsets import holdout
from fewlabel.errors import TooLittleDataWarning
from fewlabel.jsonsafe import json_safe
from fewlabel.pretrain.autoencoder import Autoencoder, AutoencoderBase
from fewlabel.registry import REGISTRY
from fewlabel.tasks.encoders import autoencoder_of

# One autoencoder per class: 784-128-8, 30 epochs of batch 32; small batches give a class's few rows enough steps.
# standardize=False in both: the estimators that train them centre and scale a table's columns themselves.
CLASS_DEFAULT = dict(hidden=(128,), latent=8, epochs=30, batch_size=32, standardize=False)
# The outlier detector: 784-512-256-16, 20 epochs of batch 128; on full-size training splits it separates
# outliers better than the per-class default for the same training time
DETECTOR_DEFAULT = dict(hidden=(512, 256), latent=16, epochs=20, batch_size=128, standardize=False)
DEFAULT = CLASS_DEFAULT  # the name before the detector had its own

# Fewer calibration rows than this make a quantile cut-off a guess (20 rows: the 0.95 quantile is the largest
# error or next to it); fewer rows than MIN_CLASS_ROWS leave a class's autoencoder barely trained
MIN_CALIBRATION_ROWS = 20
MIN_CLASS_ROWS = 10


def autoencoder_template(autoencoder, what: str, default=CLASS_DEFAULT) -> AutoencoderBase:
    """The autoencoder to clone for each fit (``Autoencoder(**default)`` when none is given; the saved one
    when ``autoencoder`` is a path)."""
    if autoencoder is None:
        return Autoencoder(**default)
    return autoencoder_of(autoencoder, f"{what}: autoencoder",
                          "detection scores rows by their reconstruction error, which needs a decoder")


def fit_on_training_rows(template, X, fraction, seed, what):
    """A fresh clone of ``template`` fitted on ``X`` less the calibration rows: (autoencoder, training rows,
    calibration rows)."""
    train, cal = holdout(len(X), fraction, seed, name="calibration_fraction", what=what, purpose="calibration")
    ae = clone(template)
    if seed is not None:
        ae.set_params(random_state=int(seed))
    ae.fit(X[train])
    return ae, train, cal


def fit_with_calibration(template, X, fraction, seed, what):
    """As :func:`fit_on_training_rows`, with the calibration rows' errors (the training rows' errors when
    nothing is held out): (autoencoder, errors, calibration rows)."""
    ae, train, cal = fit_on_training_rows(template, X, fraction, seed, what)
    return ae, ae.reconstruction_error(X[cal] if len(cal) else X[train]), cal


def autoencoder_state(ae) -> tuple[dict, dict]:
    """A fewlabel autoencoder as (JSON entry, tensors): fitted ones whole, templates as their parameters, a
    path (of a saved one) as it is."""
    if isinstance(ae, (str, os.PathLike)):
        return {"path": os.fspath(ae)}, {}
    try:
        check_is_fitted(ae, "module_")
    except NotFittedError:
        return {"type": type(ae).__name__, "params": json_safe(ae.get_params(deep=False))}, {}
    config, tensors = ae.get_state()
    return {"type": type(ae).__name__, "config": config}, tensors


def autoencoder_from_state(entry: dict, tensors: dict, prefix: str):
    """The autoencoder (or path) :func:`autoencoder_state` wrote, its tensors those whose names start with
    ``prefix.``."""
    if "path" in entry:
        return entry["path"]
    cls = REGISTRY[entry["type"]]
    if "params" in entry:  # JSON has no tuples: lists come back as tuples, as the estimators' own loading does
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry["params"].items()})
    start = f"{prefix}."
    return cls.from_state(entry["config"], {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)})


def warn_too_few(count: int, minimum: int, what: str, advice: str) -> None:
    """A :class:`~fewlabel.errors.TooLittleDataWarning` when ``count`` rows are fewer than ``minimum``, pointed
    at the caller of the estimator's method."""
    if count < minimum:
        warnings.warn(TooLittleDataWarning(f"{what} from only {count} row(s) (fewer than {minimum}): {advice}"),
                      stacklevel=3)


def float64_tensor(a: np.ndarray) -> torch.Tensor:
    """``a`` as a float64 tensor, as a saved estimator keeps its cut-offs and statistics."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
