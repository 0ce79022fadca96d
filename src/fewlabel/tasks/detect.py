"""Detection by reconstruction error: outliers, and one autoencoder per class.

An autoencoder trained on some data reconstructs inputs like that data well and everything else badly,
so its per-row reconstruction error is a score of "unlike anything seen in training".

``ReconstructionDetector`` is an outlier detector in scikit-learn's style (``IsolationForest``'s
contract): fit it on normal data; ``anomaly_score`` is high for rows unlike it (by default the reconstruction
error, a per-feature normalised error and the distance of the code to the training codes, combined),
``score_samples`` is its negative (higher is more normal), ``decision_function`` is negative for outliers and
``predict`` answers +1 (inlier) or -1 (outlier). The cut-off comes from rows held out of the autoencoder's
training (``calibration_fraction``): training rows are reconstructed better than new normal rows, so a
cut-off taken from them would flag too much new normal data. ``contamination='auto'`` (Tukey's fence on
those rows' scores) flags only clear outliers; a number is the share to flag.

``ClassAutoencoderClassifier`` (in :mod:`fewlabel.tasks.class_autoencoders`, importable from here too) trains
one autoencoder per class on that class's rows; a row belongs to the class whose autoencoder reconstructs it
best.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import (check_standardize, column_scaling, data_record, scaled_columns, scales_columns,
                            scaling_from_tensors, scaling_tensors, validate_X)
from fewlabel.checks import number_in
from fewlabel.errors import InputError
from fewlabel.jsonsafe import json_safe
from fewlabel.registry import register
# The per-class classifier and the defaults are imported from this module too (by users, the CLI, experiments)
from fewlabel.tasks.class_autoencoders import ClassAutoencoderClassifier
from fewlabel.tasks.reconstruction import (CLASS_DEFAULT, DEFAULT, DETECTOR_DEFAULT, MIN_CALIBRATION_ROWS,
                                           MIN_CLASS_ROWS, autoencoder_from_state, autoencoder_state,
                                           autoencoder_template, fit_on_training_rows, float64_tensor, warn_too_few)

__all__ = ["CLASS_DEFAULT", "DEFAULT", "DETECTOR_DEFAULT", "MIN_CALIBRATION_ROWS", "MIN_CLASS_ROWS",
           "ClassAutoencoderClassifier", "ReconstructionDetector"]


# -- outliers ---------------------------------------------------------------------------------------
#: what ReconstructionDetector(score_by=...) scores a row by
SCORES = ("combined", "error", "normalized", "latent")
#: neighbours of the latent score: the distance to the 5th nearest training code
NEIGHBORS = 5
#: at most this many training codes are kept for the latent score (drawn by random_state): queries stay fast
#: and a saved detector small
MAX_REFERENCE_CODES = 20_000
#: the normalised error divides each feature's residual by its spread on held-out normal rows plus this share
#: of the data's range: features that never err on normal data (MNIST's blank corners) weigh much, not infinitely
SPREAD_FLOOR = 0.03
#: the parts of the combined score: mean squared residual, normalised error, code distance
COMBINED = ("squared", "normalized", "latent")
#: contamination='auto': Tukey's fence, Q3 + 1.5 IQR of the logarithms of the calibration scores
FENCE = 1.5


def _check_contamination(value):
    if isinstance(value, str) and value == "auto":
        return "auto"
    try:
        return number_in("contamination", value, high=0.5, low_open=True)
    except InputError:
        raise InputError(f"contamination must be a number in (0, 0.5] or 'auto', got {value!r}") from None


def _batches(n: int, size: int = 4096):
    return (slice(i, min(i + size, n)) for i in range(0, n, size))


def _squared_residuals(ae, X) -> np.ndarray:
    """(rows, features): the squared residual of every feature, on the scale the autoencoder works in
    ([0, 1] for uint8 images; its centred and scaled columns when it scales them), a block of rows at a time."""
    out = np.empty((len(X), ae.n_features_in_), np.float32)
    for s in _batches(len(X)):
        out[s] = ae.squared_residuals(X[s])
    return out


def _log(a) -> np.ndarray:
    return np.log(np.maximum(np.asarray(a, np.float64), 1e-12))


@register
class ReconstructionDetector(OutlierMixin, BaseEstimator):
    """Outlier detection by an autoencoder: how badly it reconstructs a row, and how far the row's code lies
    from the codes of the training rows.

    Parameters
    ----------
    autoencoder : a fewlabel autoencoder to clone and fit (default ``Autoencoder(hidden=(512, 256), latent=16,
        epochs=20, batch_size=128)``), or, with ``prefit=True``, a fitted one used as it is.
    score_by : what a row is scored by (higher ``anomaly_score``: more unlike the training data; the name
        is not ``score``, which scikit-learn keeps for a method):

        - ``'error'``: the autoencoder's reconstruction error (its loss: squared error by default);
        - ``'normalized'``: each feature's squared residual divided by the square of that feature's typical
          residual on held-out normal rows (its RMS, plus a floor of 3% of the data's range), averaged: a
          stroke where normal rows never have ink counts more than a blurred edge where they always differ;
        - ``'latent'``: the distance of the row's code to the 5th nearest code of the training rows (at most
          20,000 of them, drawn by ``random_state``);
        - ``'combined'`` (default): the three together: ``exp`` of the mean of their robust z-scores (each
          the logarithm less its median over the calibration rows, over its scaled MAD); 1 for a typical
          normal row. Its error part is the mean squared residual whatever the autoencoder's loss (a
          cross-entropy is lowest for mostly black images: a Fashion-MNIST autoencoder's cross-entropy
          ranks MNIST digits as more normal than its own images).

        'combined' is the default because it is the one score that stays strong both ways, for an
        autoencoder trained on MNIST and shown Fashion-MNIST and for the reverse; each single score is
        weaker in one direction or the other. The figures: ``benchmarks/detect_ood.py`` and the README.
    contamination : ``'auto'`` (default) or the expected share of outliers, in (0, 0.5]. A number: the
        cut-off is the ``1 - contamination`` quantile of the calibration scores. ``'auto'``, for when the
        share is unknown: Tukey's fence on the logarithm of the calibration scores (the third quartile plus
        1.5 interquartile ranges), so ``predict`` flags only clear outliers: hardly any new normal rows,
        and not every row of another kind, only those far from the training data; ``contamination=0.01``
        would flag about 1% of new normal rows.
    calibration_fraction : the share of ``X`` held out of the autoencoder's training to set the cut-off,
        the per-feature spread and the z-scores (0: the training rows themselves). Ignored with
        ``prefit=True``: every row of ``X`` calibrates (and, for the latent score, is a reference code: each
        row's own code is left out of its neighbours).
    prefit : the autoencoder is already fitted: ``fit`` only calibrates.
    standardize : ``'auto'`` (default): the columns of a table of floats (2-D, not uint8 images) are centred and
        scaled by their mean and spread over ``X`` before anything else, unless ``prefit`` (the autoencoder was
        fitted on the rows in their own units); new rows are scaled the same way. Unscaled, the column in the
        largest units decides both the autoencoder's loss and the score. True; False.
    random_state : seed of the held-out draw, of the reference codes kept, and of the autoencoder.

    Fitted attributes: ``autoencoder_``, ``threshold_`` (the cut-off on ``anomaly_score``), ``offset_``
    (``-threshold_``, scikit-learn's name), ``standardize_`` (each column's mean and spread, or None),
    ``calibration_scores_``, ``calibration_errors_`` (the
    reconstruction errors of the calibration rows), ``feature_spread_`` ('normalized', 'combined'),
    ``reference_codes_`` ('latent', 'combined'), ``score_center_`` / ``score_scale_`` ('combined': the
    median and scaled MAD of the log error, log normalised error and log code distance).
    """

    def __init__(self, autoencoder=None, score_by="combined", contamination="auto", calibration_fraction=0.1,
                 prefit=False, standardize="auto", random_state=0):
        self.autoencoder = autoencoder
        self.score_by = score_by
        self.contamination = contamination
        self.calibration_fraction = calibration_fraction
        self.prefit = prefit
        self.standardize = standardize
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit on normal data ``X`` (``y`` is ignored)."""
        template = autoencoder_template(self.autoencoder, type(self).__name__, DETECTOR_DEFAULT)
        if self.score_by not in SCORES:
            raise InputError(f"score_by must be one of {SCORES}, got {self.score_by!r}")
        contamination = _check_contamination(self.contamination)
        fraction = number_in("calibration_fraction", self.calibration_fraction, high_open=True)
        if not isinstance(self.prefit, (bool, np.bool_)):
            raise InputError(f"prefit must be True or False, got {self.prefit!r}")
        check_standardize(self.standardize)
        X_given = X = validate_X(X, estimator=type(self).__name__)
        self.standardize_ = column_scaling(X) if scales_columns(self.standardize, X, own_scale=self.prefit) else None
        X = scaled_columns(X, self.standardize_)
        if self.prefit:
            try:
                check_is_fitted(template, "module_")
            except NotFittedError:
                raise InputError("prefit=True needs a fitted autoencoder: call autoencoder.fit(X) first, or use "
                                 "prefit=False to fit it here") from None
            X = validate_X(X, expected_shape=template.input_shape_, estimator=type(self).__name__)
            self.autoencoder_, train, cal = template, None, np.arange(len(X))
            if self.score_by in ("latent", "combined") and len(X) < 2:
                raise InputError(f"score_by={self.score_by!r} with prefit=True needs at least 2 rows: each row's code is "
                                 "compared with the codes of the others")
        else:
            self.autoencoder_, train, cal = fit_on_training_rows(template, X, fraction, self.random_state, "X")
            if not len(cal):  # nothing held out: the training rows calibrate (and are their own reference codes)
                cal, train = train, None
        Xc = X[cal]
        warn_too_few(len(Xc), MIN_CALIBRATION_ROWS, "the cut-off is taken",
                      "give more rows or a larger calibration_fraction (prefit=True: more rows to fit)")
        parts = self._calibrate(X, train, Xc)
        self.calibration_errors_ = parts["error"]
        self.calibration_scores_ = self._combine(parts)
        self.threshold_ = self._cut_off(self.calibration_scores_, contamination)
        self.offset_ = -self.threshold_
        self.n_features_in_ = self.autoencoder_.n_features_in_
        self.training_data_ = data_record(X_given, scaling=self.standardize_)
        return self

    def _rows(self, X) -> np.ndarray:
        """New rows checked against the autoencoder's input, and scaled as the training rows were."""
        check_is_fitted(self, "threshold_")
        X = validate_X(X, expected_shape=self.autoencoder_.input_shape_, estimator=type(self).__name__)
        return scaled_columns(X, getattr(self, "standardize_", None))

    def _calibrate(self, X, train, Xc) -> dict:
        """Fit what the score needs (spread, reference codes, z-scores) and return the calibration rows'
        parts of the score."""
        ae, score = self.autoencoder_, self.score_by
        parts = {}
        if score in ("normalized", "combined"):
            total = np.zeros(ae.n_features_in_, np.float64)
            for sl in _batches(len(Xc)):
                total += _squared_residuals(ae, Xc[sl]).sum(axis=0, dtype=np.float64)
            lo, hi = ae.data_range_
            floor = SPREAD_FLOOR * max(hi - lo, 1e-12)
            self.feature_spread_ = ((np.sqrt(total / len(Xc)) + floor) ** 2).astype(np.float32)
            parts["squared"], parts["normalized"] = self._residual_parts(Xc)
        parts["error"] = np.asarray(ae.reconstruction_error(Xc), np.float64)
        if score in ("latent", "combined"):
            codes_c = ae.transform(Xc)
            if train is None:  # prefit: the calibration rows are the reference too, each without itself
                ref = codes_c
            else:
                ref = ae.transform(X[train])
            keep = np.arange(len(ref))
            if len(ref) > MAX_REFERENCE_CODES:
                keep = np.sort(np.random.default_rng(self.random_state).choice(len(ref), MAX_REFERENCE_CODES,
                                                                               replace=False))
            self.reference_codes_ = np.ascontiguousarray(ref[keep], np.float32)
            self._index = None
            if train is None:
                # the calibration rows are the reference too: leave each row's own code out of its neighbours
                # (ask for one more, drop the row itself where it was kept)
                k = min(NEIGHBORS + 1, len(keep))
                dist, idx = self._neighbors().kneighbors(np.asarray(codes_c, np.float64), n_neighbors=k)
                position = np.full(len(codes_c), -1)
                position[keep] = np.arange(len(keep))
                dist = np.sort(np.where(idx == position[:, None], np.inf, dist), axis=1)
                parts["latent"] = dist[:, min(NEIGHBORS, k - 1) - 1].astype(np.float64)
            else:
                parts["latent"] = self._code_distance(codes_c)
        if score == "combined":
            logs = np.stack([_log(parts[p]) for p in COMBINED])
            self.score_center_ = np.median(logs, axis=1)
            mad = 1.4826 * np.median(np.abs(logs - self.score_center_[:, None]), axis=1)
            self.score_scale_ = np.maximum(mad, 1e-12)
        return parts

    def _residual_parts(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(mean squared residual, normalised error) of each row, from one reconstruction of it. The squared
        residual whatever the autoencoder's loss: an image's cross-entropy is lowest where it is mostly black,
        so under a cross-entropy MNIST digits look more normal to a Fashion-MNIST autoencoder than its own
        images."""
        errors, normalized = [], []
        for sl in _batches(len(X)):
            R = _squared_residuals(self.autoencoder_, X[sl])
            errors.append(R.mean(axis=1, dtype=np.float64))
            normalized.append((R / self.feature_spread_).mean(axis=1, dtype=np.float64))
        return np.concatenate(errors), np.concatenate(normalized)

    def _neighbors(self):
        from sklearn.neighbors import NearestNeighbors

        if getattr(self, "_index", None) is None:
            # float64: distances that do not depend on how many rows are asked at once
            self._index = NearestNeighbors().fit(np.asarray(self.reference_codes_, np.float64))
        return self._index

    def _code_distance(self, codes) -> np.ndarray:
        k = min(NEIGHBORS, len(self.reference_codes_))
        return self._neighbors().kneighbors(np.asarray(codes, np.float64), n_neighbors=k)[0][:, k - 1]

    def _combine(self, parts: dict) -> np.ndarray:
        # float32, as the network computes: the scores are not more precise than its outputs
        if self.score_by != "combined":
            return np.asarray(parts[self.score_by], np.float32)
        logs = np.stack([_log(parts[p]) for p in COMBINED])
        z = (logs - self.score_center_[:, None]) / self.score_scale_[:, None]
        # exp of the mean z-score: positive like the other scores (1 for a typical normal row), same ranking;
        # capped where float32 ends
        return np.exp(np.minimum(z.mean(axis=0), 80.0)).astype(np.float32)

    def _cut_off(self, scores: np.ndarray, contamination) -> float:
        if contamination != "auto":
            return float(np.quantile(scores, 1 - contamination))
        s = _log(scores)  # the scores are positive and right-skewed: fence them on a log scale
        q1, q3 = np.quantile(s, [0.25, 0.75])
        return float(np.exp(q3 + FENCE * (q3 - q1)))

    # -- scoring --------------------------------------------------------------------------------
    def reconstruction_error(self, X) -> np.ndarray:
        """Per-row reconstruction error of the autoencoder (its loss): high for rows unlike the training data."""
        return self.autoencoder_.reconstruction_error(self._rows(X))

    def anomaly_score(self, X) -> np.ndarray:
        """The detector's score (``score_by``) of each row: the higher, the more unlike the training data (PyOD's
        ``decision_function`` convention); ``predict`` flags rows above ``threshold_``."""
        X = self._rows(X)
        ae, score = self.autoencoder_, self.score_by
        parts = {}
        if score in ("normalized", "combined"):
            parts["squared"], parts["normalized"] = self._residual_parts(X)
        if score == "error":
            parts["error"] = np.asarray(ae.reconstruction_error(X), np.float64)
        if score in ("latent", "combined"):
            parts["latent"] = self._code_distance(ae.transform(X))
        return self._combine(parts)

    def score_samples(self, X) -> np.ndarray:
        """Minus ``anomaly_score``: the higher, the more normal (scikit-learn's convention)."""
        return -self.anomaly_score(X)

    def decision_function(self, X) -> np.ndarray:
        """The cut-off minus the score: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for outliers (score above the cut-off)."""
        return np.where(self.decision_function(X) >= 0, 1, -1)

    # -- saving ---------------------------------------------------------------------------------
    def get_state(self):
        check_is_fitted(self, "threshold_")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "autoencoder"}
        template, t_tensors = autoencoder_state(self.autoencoder) if self.autoencoder is not None else (None, {})
        fitted, f_tensors = autoencoder_state(self.autoencoder_)
        config = {"params": json_safe(params), "template": template, "fitted_autoencoder": fitted,
                  "threshold": self.threshold_, "data": getattr(self, "training_data_", None)}
        tensors = {f"template.{k}": v for k, v in t_tensors.items()} | {f"fitted.{k}": v for k, v in f_tensors.items()}
        tensors["calibration_errors"] = float64_tensor(self.calibration_errors_)
        if self.score_by != "error":  # with 'error' the scores are the errors (and files from before score_by hold
            tensors["calibration_scores"] = float64_tensor(self.calibration_scores_)  # only those)
        for name in _NEEDS[self.score_by]:
            tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(self, name + "_")))
        tensors.update(scaling_tensors(self.standardize_))
        return config, tensors

    @classmethod
    def from_state(cls, config, tensors):
        template = None if config["template"] is None else autoencoder_from_state(config["template"], tensors, "template")
        # detectors saved before score_by existed scored by the reconstruction error
        est = cls(autoencoder=template, **({"score_by": "error"} | config["params"]))
        est.autoencoder_ = autoencoder_from_state(config["fitted_autoencoder"], tensors, "fitted")
        est.threshold_ = float(config["threshold"])
        est.offset_ = -est.threshold_
        est.training_data_ = config.get("data")
        est.calibration_errors_ = tensors["calibration_errors"].numpy().astype(np.float64)
        # a tensor the score needs but the file lacks stays empty here: the loader then names it as missing
        empty = torch.zeros(0)
        scores = tensors["calibration_errors"] if est.score_by == "error" else tensors.get("calibration_scores", empty)
        est.calibration_scores_ = scores.numpy().astype(np.float64)
        for name in _NEEDS[est.score_by]:
            setattr(est, name + "_", tensors.get(name, empty).numpy())
        est.n_features_in_ = est.autoencoder_.n_features_in_
        est.standardize_ = scaling_from_tensors(tensors)
        return est


#: what each score saves beside the autoencoder (the fitted attributes of the same names, with "_")
_NEEDS = {"error": (), "normalized": ("feature_spread",), "latent": ("reference_codes",),
          "combined": ("feature_spread", "reference_codes", "score_center", "score_scale")}
