"""What every fewlabel estimator shares: input validation at the door, the training settings, the
device, and saving (scikit-learn's contract on the outside, a torch module on the inside)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from fewlabel.errors import InputError
from fewlabel.jsonsafe import json_safe
from fewlabel.train import History, Trainer, predict_batches, resolve_device
from fewlabel.train.config import check_training_settings, make_trainer
from fewlabel.train.precision import inference_batch_size


def as_array(X, name: str = "X") -> np.ndarray:
    """``X`` (an array, a torch tensor, nested lists) as a NumPy array, or an error that names a ragged one."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        return np.asarray(X)
    except (ValueError, TypeError) as e:
        raise InputError(f"{name} is not a rectangular array ({e})") from None


def validate_X(X, *, name: str = "X", expected_shape: tuple | None = None, estimator: str = "the model",
               min_rows: int = 1) -> np.ndarray:
    """Turn ``X`` into a NumPy array of rows fewlabel can train on, or say exactly what is wrong with it.

    uint8 stays uint8 (images: the loop turns them into floats on the device); everything else becomes
    float32. Rows are the first axis; each row is a vector or an image (H, W) / (H, W, C).
    """
    if X is None:
        raise InputError(f"{name} is None: pass an array of shape (n_rows, n_features) or (n_rows, H, W[, C])")
    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        raise InputError(f"{name} is a sparse matrix; fewlabel needs dense input (call .toarray())")
    X = as_array(X, name)
    if X.dtype == object or X.dtype.kind in "USV":
        try:
            X = X.astype(np.float32)
        except (ValueError, TypeError) as e:
            raise NonNumericInputError(f"{name} holds non-numeric values (dtype {X.dtype}): {e}; convert them to "
                                       "numbers first") from None
    if X.dtype.kind == "c":
        raise InputError(f"Complex data not supported: {name} holds complex numbers; fewlabel needs real values")
    if X.ndim == 0 or X.ndim == 1:
        raise InputError(f"Expected 2D array, got {'scalar' if X.ndim == 0 else '1D'} array instead: {name} needs "
                         "one row per example. Reshape your data with X.reshape(-1, 1) for a single feature or "
                         "X.reshape(1, -1) for a single example")
    if X.shape[0] < min_rows:
        raise InputError(f"{name} is empty: found {X.shape[0]} rows (shape {X.shape}) while at least {min_rows} "
                         "is required" if X.shape[0] == 0 else
                         f"{name} has {X.shape[0]} rows (n_samples={X.shape[0]}); at least {min_rows} are required")
    if any(d == 0 for d in X.shape[1:]):
        raise InputError(f"{name} has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.dtype != np.uint8:
        X = X.astype(np.float32, copy=False)
        if not all(np.isfinite(part).all() for part in row_slices(X)):
            bad = np.argwhere(~np.isfinite(X.reshape(len(X), -1)))
            kind = "NaN" if np.isnan(X).any() else "infinity"
            raise InputError(f"{name} contains {kind} ({len(bad)} values; first at row {bad[0][0]}, "
                             f"feature {bad[0][1]}); remove or impute them first")
    if expected_shape is not None and tuple(X.shape[1:]) != tuple(expected_shape):
        if X.ndim == 2 and len(expected_shape) == 1:
            raise InputError(f"{name} has {X.shape[1]} features, but {estimator} is expecting {expected_shape[0]} "
                             "features as input")
        raise InputError(f"{name} rows have shape {tuple(X.shape[1:])}, but {estimator} was fitted on rows of "
                         f"shape {tuple(expected_shape)}")
    return X


def row_slices(X, rows: int = 65_536):
    """``X`` in consecutive slices of ``rows`` rows: whole-array checks done slice by slice read a memory-mapped
    file once and never hold a temporary the size of the data."""
    for start in range(0, len(X), rows):
        yield X[start:start + rows]


STANDARDIZE = (True, False, "auto")


def check_standardize(value) -> None:
    if not any(value is v or (isinstance(value, str) and value == v) for v in STANDARDIZE):
        raise InputError(f"standardize must be True, False or 'auto', got {value!r}")


def scales_columns(standardize, X, own_scale: bool) -> bool:
    """Whether ``standardize`` (True, False or 'auto') centres and scales the columns of ``X``: 'auto' does for a
    table of floats (2-D, not uint8 pixels) unless the rows go to an encoder that has its own scale
    (``own_scale``: a given pretrained one)."""
    return standardize is True or (isinstance(standardize, str) and standardize == "auto" and X.ndim == 2
                                   and X.dtype != np.uint8 and not own_scale)


def column_scaling(X) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, spread)`` of each column over the rows (float32; a constant column's spread is 1). A table's
    columns come in their own units (an area in the thousands beside a ratio below 1); centred and scaled by
    these, each weighs alike in a distance, a mixture or a network's input. Two passes over row blocks in
    float64, so a memory-mapped table is not copied whole."""
    flat = X.reshape(len(X), -1)
    total = np.zeros(flat.shape[1])
    for part in row_slices(flat):
        total += part.sum(axis=0, dtype=np.float64)
    mean = total / max(len(flat), 1)
    squares = np.zeros(flat.shape[1])
    for part in row_slices(flat):
        squares += ((part.astype(np.float64) - mean) ** 2).sum(axis=0)
    spread = np.sqrt(squares / max(len(flat), 1))
    return mean.astype(np.float32), np.where(spread > 0, spread, 1.0).astype(np.float32)


def scaled_columns(X, scaling) -> np.ndarray:
    """``X`` centred and scaled by :func:`column_scaling`'s ``(mean, spread)``; ``X`` itself when None."""
    if scaling is None:
        return X
    mean, spread = scaling
    return ((X.reshape(len(X), -1) - mean) / spread).astype(np.float32).reshape(X.shape)


def unscaled_columns(X, scaling) -> np.ndarray:
    """The inverse of :func:`scaled_columns`: rows back in their columns' own units; ``X`` itself when None."""
    if scaling is None:
        return X
    mean, spread = scaling
    return (X.reshape(len(X), -1) * spread + mean).astype(np.float32).reshape(X.shape)


def scaling_tensors(scaling) -> dict:
    """:func:`column_scaling`'s ``(mean, spread)`` as the tensors a saved model keeps (none for None)."""
    if scaling is None:
        return {}
    return {"standardize.mean": torch.from_numpy(scaling[0]), "standardize.spread": torch.from_numpy(scaling[1])}


def scaling_from_tensors(tensors) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``(mean, spread)`` a saved model kept (:func:`scaling_tensors`); None for a model saved without (one
    that did not scale its columns, or was saved before fewlabel scaled them)."""
    if "standardize.mean" not in tensors:
        return None
    return tensors["standardize.mean"].numpy(), tensors["standardize.spread"].numpy()


def fingerprint(X) -> str:
    """A short hash of the rows' bytes, shape and dtype: the same data gives the same fingerprint."""
    X = np.asarray(X)
    h = hashlib.blake2b(repr((X.shape, X.dtype.str)).encode(), digest_size=12)
    flat = X.reshape(len(X), -1) if X.ndim else X.reshape(1)
    for part in row_slices(flat):
        h.update(np.ascontiguousarray(part).data)
    return "blake2b:" + h.hexdigest()


def data_record(X, y_index=None, class_names=None, scaling=None) -> dict:
    """What a model was trained on, saved with it (``training_data_``, shown by ``fewlabel info``): the rows,
    their shape and dtype, a fingerprint of the data, for a classifier the labeled rows of each class
    (``y_index``: the class of each labeled row, indexing ``class_names``), and whether the model centres and
    scales the columns (``scaling``: :func:`column_scaling`'s, or None)."""
    record = {"rows": int(len(X)), "shape": [int(d) for d in X.shape[1:]], "dtype": str(X.dtype),
              "fingerprint": fingerprint(X)}
    if scaling is not None:
        record["scaled_columns"] = True
    if class_names is not None:
        counts = np.bincount(np.asarray(y_index, np.int64), minlength=len(class_names))
        record["labeled"] = int(counts.sum())
        record["class_counts"] = {str(name): int(c) for name, c in zip(class_names, counts)}
    return record


class NonNumericInputError(InputError, TypeError):
    """Input that cannot be read as numbers (scikit-learn expects a TypeError here)."""


def to_float(x: torch.Tensor, scale: float) -> torch.Tensor:
    """uint8 images -> float in [0, 1] on the device (scale = 1/255); floats pass through scaled."""
    return x.float() * scale if scale != 1.0 else x.float()


class TorchEstimator(BaseEstimator):
    """What every trained estimator shares; subclasses build ``self.module_`` in ``fit``. Their training
    settings (epochs, max_steps, batch_size, optimizer, lr, precision, device, ...) come from
    :func:`~fewlabel.train.config.training_settings`."""

    def _trainer(self, **overrides) -> Trainer:
        """The one Trainer for this estimator's training settings (:func:`~fewlabel.train.config.make_trainer`)."""
        return make_trainer(self, **overrides)

    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _check_training_settings(self) -> None:
        check_training_settings(self)

    def check_params(self) -> None:
        """Raise :class:`~fewlabel.InputError` naming a bad parameter (``fit`` does this first; call it to check
        settings before reading any data)."""
        self._check_params()

    def _check_params(self) -> None:
        self._check_training_settings()

    def _apply(self, fn, X) -> np.ndarray:
        """``fn`` over ``X`` in batches, in the precision the model was trained in (bf16 or fp32)."""
        device = next(self.module_.parameters()).device
        history = getattr(self, "history_", None)
        precision = history.info.get("precision", "fp32") if history is not None else "fp32"
        return predict_batches(fn, X, batch_size=inference_batch_size(self.module_), device=device,
                               precision=precision)

    # -- saving: params and fitted attributes as JSON, the module's weights as tensors ----------
    def get_state(self):
        check_is_fitted(self, "module_")
        fitted = {"input_shape": list(self.input_shape_), "scale": self.scale_, "history": self.history_.to_dict(),
                  "data": getattr(self, "training_data_", None), **self.fitted_extra()}
        config = {"params": json_safe(self.get_params()), "fitted": fitted}
        return config, {f"module.{k}": v for k, v in self.module_.state_dict().items()}

    def fitted_extra(self) -> dict:
        """Fitted attributes beyond the shared ones, as JSON (subclasses add theirs)."""
        return {}

    def restore_fitted(self, fitted: dict) -> None:
        """Set the subclass's fitted attributes from ``fitted`` and build an untrained ``module_``."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, config, tensors):
        # JSON has no tuples: layer-size lists come back as the tuples the defaults use
        est = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()})
        fitted = config["fitted"]
        est.input_shape_ = tuple(fitted["input_shape"])
        est.n_features_in_ = int(np.prod(est.input_shape_))
        est.scale_ = float(fitted["scale"])
        est.history_ = History.from_dict(fitted["history"])
        est.training_data_ = fitted.get("data")
        est.restore_fitted(fitted)
        est.module_.load_state_dict({k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")})
        est.module_.eval()
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

