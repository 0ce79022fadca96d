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

``ClassAutoencoderClassifier`` trains one autoencoder per class on that class's rows. A row belongs to
the class whose autoencoder reconstructs it best: ``predict_proba`` is a softmax over minus the errors
divided by a temperature fitted on the held-out rows (``temperature='auto'``: the one that minimises
their log-loss, Guo et al. 2017). The errors are compared as they are: dividing each class's errors by
its typical error (so that easy classes such as the digit 1 do not win close calls) was measured worse,
0.81 test accuracy against 0.91 (3,000 MNIST digits, 1,000 test digits, 784-128-8 autoencoders, 30
epochs, batch 32). With ``unknown=q``,
a row that no autoencoder reconstructs within the q-quantile of its own class's held-out errors is
answered ``unknown_label``: not one of the classes seen. ``fit_class`` (re)trains one class alone, for a
new class or one whose data changed, without touching the others::

    clf = ClassAutoencoderClassifier(Autoencoder(hidden=(128,), latent=8), unknown=0.99).fit(X, y)
    clf.predict(X_new)          # a class, or -1 where no autoencoder reconstructs the row well
    clf.fit_class(X_new_class, "new label")
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, OutlierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import data_record, validate_X
from fewlabel.checks import labels_match_rows, number_in
from fewlabel.datasets.subsets import holdout
from fewlabel.errors import InputError, TooLittleDataWarning
from fewlabel.jsonsafe import json_safe
from fewlabel.pretrain.autoencoder import Autoencoder, AutoencoderBase
from fewlabel.registry import REGISTRY, register
from fewlabel.tasks.classify import check_semi_supervised_y
from fewlabel.tasks.encoders import autoencoder_of

__all__ = ["ClassAutoencoderClassifier", "ReconstructionDetector"]


# -- shared pieces --------------------------------------------------------------------------------
# One autoencoder per class: 784-128-8, 30 epochs of batch 32. On 3,000 MNIST digits (one autoencoder for all),
# AUROC 0.959 against Fashion-MNIST images, where 784-128-64-16 gave 0.895 with batches of 256 and 0.949 with 64;
# small batches give a class's few rows enough steps
CLASS_DEFAULT = dict(hidden=(128,), latent=8, epochs=30, batch_size=32)
# The outlier detector: 784-512-256-16, 20 epochs of batch 128. On the full training splits (60,000 rows), with the
# combined score: AUROC 0.9993 (MNIST-trained, Fashion-MNIST test images as outliers) and 0.9943 (the reverse),
# against 0.996 and 0.992 for 784-128-8, 30 epochs of 32, for the same CPU time (80 to 90 s); on 3,000 rows both
# give 0.99 and 0.98
DETECTOR_DEFAULT = dict(hidden=(512, 256), latent=16, epochs=20, batch_size=128)
DEFAULT = CLASS_DEFAULT  # the name before the detector had its own


def _template(autoencoder, what: str, default=CLASS_DEFAULT) -> AutoencoderBase:
    """The autoencoder to clone for each fit (``Autoencoder(**default)`` when none is given; the saved one
    when ``autoencoder`` is a path)."""
    if autoencoder is None:
        return Autoencoder(**default)
    return autoencoder_of(autoencoder, f"{what}: autoencoder",
                          "detection scores rows by their reconstruction error, which needs a decoder")


def _fit_on_training_rows(template, X, fraction, seed, what):
    """A fresh clone of ``template`` fitted on ``X`` less the calibration rows: (autoencoder, training rows,
    calibration rows)."""
    train, cal = holdout(len(X), fraction, seed, name="calibration_fraction", what=what, purpose="calibration")
    ae = clone(template)
    if seed is not None:
        ae.set_params(random_state=int(seed))
    ae.fit(X[train])
    return ae, train, cal


def _fit_autoencoder(template, X, fraction, seed, what):
    """As :func:`_fit_on_training_rows`, with the calibration rows' errors (the training rows' errors when
    nothing is held out): (autoencoder, errors, calibration rows)."""
    ae, train, cal = _fit_on_training_rows(template, X, fraction, seed, what)
    return ae, ae.reconstruction_error(X[cal] if len(cal) else X[train]), cal


def _ae_state(ae) -> tuple[dict, dict]:
    """A fewlabel autoencoder as (JSON entry, tensors): fitted ones whole, templates as their parameters, a
    path (of a saved one) as it is."""
    if isinstance(ae, (str, os.PathLike)):
        return {"path": os.fspath(ae)}, {}
    try:
        check_is_fitted(ae, "module_")
    except NotFittedError:
        return {"type": type(ae).__name__, "params": json_safe(ae.get_params(deep=False))}, {}
    config, tensors = ae._get_state()
    return {"type": type(ae).__name__, "config": config}, tensors


def _ae_from_state(entry: dict, tensors: dict, prefix: str):
    if "path" in entry:
        return entry["path"]
    cls = REGISTRY[entry["type"]]
    if "params" in entry:  # JSON has no tuples: lists come back as tuples, as the estimators' own loading does
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry["params"].items()})
    start = f"{prefix}."
    return cls._from_state(entry["config"], {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)})


# Fewer calibration rows than this make a quantile cut-off a guess (20 rows: the 0.95 quantile is the largest
# error or next to it); fewer rows than MIN_CLASS_ROWS leave a class's autoencoder barely trained
MIN_CALIBRATION_ROWS = 20
MIN_CLASS_ROWS = 10


def _warn_too_few(count: int, minimum: int, what: str, advice: str) -> None:
    if count < minimum:
        warnings.warn(TooLittleDataWarning(f"{what} from only {count} row(s) (fewer than {minimum}): {advice}"),
                      stacklevel=3)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _seed(random_state, i: int):
    return None if random_state is None else int(random_state) + i


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
    ([0, 1] for uint8 images)."""
    out = np.empty((len(X), ae.n_features_in_), np.float32)
    for s in _batches(len(X)):
        x = np.asarray(X[s], np.float32).reshape(s.stop - s.start, -1) * ae.scale_
        out[s] = (ae.reconstruct(X[s]).reshape(len(x), -1) * ae.scale_ - x) ** 2
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
          ranks MNIST digits as more normal than its own images, AUROC 0.35).

        Measured on the full training splits (60,000 rows; ``benchmarks/detect_ood.py``), AUROC of the test
        split against the other dataset's test images, one autoencoder scored four ways: MNIST-trained vs
        Fashion-MNIST: 'combined' 0.9993, 'error' 0.9978, 'normalized' 0.9997, 'latent' 0.955;
        Fashion-MNIST-trained vs MNIST: 'combined' 0.9943, 'error' 0.9888, 'normalized' 0.976, 'latent'
        0.975. Only 'combined' is above 0.99 both ways.
    contamination : ``'auto'`` (default) or the expected share of outliers, in (0, 0.5]. A number: the
        cut-off is the ``1 - contamination`` quantile of the calibration scores. ``'auto'``, for when the
        share is unknown: Tukey's fence on the logarithm of the calibration scores (the third quartile plus
        1.5 interquartile ranges), so ``predict`` flags only clear outliers: on the full splits, 0.01% of new
        digits and 91% of Fashion-MNIST images (MNIST-trained), 0.2% of new Fashion-MNIST images and 59% of
        digits (Fashion-MNIST-trained); ``contamination=0.01`` would flag about 1% of new normal rows.
    calibration_fraction : the share of ``X`` held out of the autoencoder's training to set the cut-off,
        the per-feature spread and the z-scores (0: the training rows themselves). Ignored with
        ``prefit=True``: every row of ``X`` calibrates (and, for the latent score, is a reference code: each
        row's own code is left out of its neighbours).
    prefit : the autoencoder is already fitted: ``fit`` only calibrates.
    random_state : seed of the held-out draw, of the reference codes kept, and of the autoencoder.

    Fitted attributes: ``autoencoder_``, ``threshold_`` (the cut-off on ``anomaly_score``), ``offset_``
    (``-threshold_``, scikit-learn's name), ``calibration_scores_``, ``calibration_errors_`` (the
    reconstruction errors of the calibration rows), ``feature_spread_`` ('normalized', 'combined'),
    ``reference_codes_`` ('latent', 'combined'), ``score_center_`` / ``score_scale_`` ('combined': the
    median and scaled MAD of the log error, log normalised error and log code distance).
    """

    def __init__(self, autoencoder=None, score_by="combined", contamination="auto", calibration_fraction=0.1,
                 prefit=False, random_state=0):
        self.autoencoder = autoencoder
        self.score_by = score_by
        self.contamination = contamination
        self.calibration_fraction = calibration_fraction
        self.prefit = prefit
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit on normal data ``X`` (``y`` is ignored)."""
        template = _template(self.autoencoder, type(self).__name__, DETECTOR_DEFAULT)
        if self.score_by not in SCORES:
            raise InputError(f"score_by must be one of {SCORES}, got {self.score_by!r}")
        contamination = _check_contamination(self.contamination)
        fraction = number_in("calibration_fraction", self.calibration_fraction, high_open=True)
        if not isinstance(self.prefit, (bool, np.bool_)):
            raise InputError(f"prefit must be True or False, got {self.prefit!r}")
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
            X = validate_X(X, estimator=type(self).__name__)
            self.autoencoder_, train, cal = _fit_on_training_rows(template, X, fraction, self.random_state, "X")
            if not len(cal):  # nothing held out: the training rows calibrate (and are their own reference codes)
                cal, train = train, None
        Xc = X[cal]
        _warn_too_few(len(Xc), MIN_CALIBRATION_ROWS, "the cut-off is taken",
                      "give more rows or a larger calibration_fraction (prefit=True: more rows to fit)")
        parts = self._calibrate(X, train, Xc)
        self.calibration_errors_ = parts["error"]
        self.calibration_scores_ = self._combine(parts)
        self.threshold_ = self._cut_off(self.calibration_scores_, contamination)
        self.offset_ = -self.threshold_
        self.n_features_in_ = self.autoencoder_.n_features_in_
        self.training_data_ = data_record(X)
        return self

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
        check_is_fitted(self, "threshold_")
        return self.autoencoder_.reconstruction_error(X)

    def anomaly_score(self, X) -> np.ndarray:
        """The detector's score (``score_by``) of each row: the higher, the more unlike the training data (PyOD's
        ``decision_function`` convention); ``predict`` flags rows above ``threshold_``."""
        check_is_fitted(self, "threshold_")
        ae, score = self.autoencoder_, self.score_by
        X = validate_X(X, expected_shape=ae.input_shape_, estimator=type(self).__name__)
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
    def _get_state(self):
        check_is_fitted(self, "threshold_")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "autoencoder"}
        template, t_tensors = _ae_state(self.autoencoder) if self.autoencoder is not None else (None, {})
        fitted, f_tensors = _ae_state(self.autoencoder_)
        config = {"params": json_safe(params), "template": template, "fitted_autoencoder": fitted,
                  "threshold": self.threshold_, "data": getattr(self, "training_data_", None)}
        tensors = {f"template.{k}": v for k, v in t_tensors.items()} | {f"fitted.{k}": v for k, v in f_tensors.items()}
        tensors["calibration_errors"] = _tensor(self.calibration_errors_)
        if self.score_by != "error":  # with 'error' the scores are the errors (and files from before score_by hold
            tensors["calibration_scores"] = _tensor(self.calibration_scores_)  # only those)
        for name in _NEEDS[self.score_by]:
            tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(self, name + "_")))
        return config, tensors

    @classmethod
    def _from_state(cls, config, tensors):
        template = None if config["template"] is None else _ae_from_state(config["template"], tensors, "template")
        # detectors saved before score_by existed scored by the reconstruction error
        est = cls(autoencoder=template, **({"score_by": "error"} | config["params"]))
        est.autoencoder_ = _ae_from_state(config["fitted_autoencoder"], tensors, "fitted")
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
        return est


#: what each score saves beside the autoencoder (the fitted attributes of the same names, with "_")
_NEEDS = {"error": (), "normalized": ("feature_spread",), "latent": ("reference_codes",),
          "combined": ("feature_spread", "reference_codes", "score_center", "score_scale")}


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


# -- one autoencoder per class -------------------------------------------------------------------------
@register
class ClassAutoencoderClassifier(ClassifierMixin, BaseEstimator):
    """One autoencoder per class; a row belongs to the class whose autoencoder reconstructs it best.

    Parameters
    ----------
    autoencoder : the fewlabel autoencoder cloned for every class (default ``Autoencoder(hidden=(128,),
        latent=8, epochs=30, batch_size=32)``: a class has few rows, so small batches give it enough steps).
    temperature : ``'auto'`` (fitted on the held-out rows to minimise their log-loss) or a number > 0:
        ``predict_proba`` is ``softmax(-errors / temperature)``.
    unknown : None, or a quantile q in (0, 1]: a row whose error exceeds, for every class, the q-quantile
        of that class's held-out errors is answered ``unknown_label``.
    unknown_label : the answer for such rows (default -1); it must not be one of the classes and must be
        of their type (e.g. ``'unknown'`` for string classes).
    calibration_fraction : the share of each class's rows held out of its autoencoder's training to
        calibrate (temperature, unknown cut-offs); 0 calibrates on the training rows.
    random_state : seed of the held-out draws and of the autoencoders (class i gets ``random_state + i``).

    ``fit(X, y)``: ``y == -1`` marks unlabeled rows, which are ignored (one autoencoder needs the rows of
    its own class). Fitted attributes: ``classes_``, ``autoencoders_`` (one per class, in ``classes_``
    order), ``temperature_``, ``thresholds_`` (with ``unknown``).
    """

    def __init__(self, autoencoder=None, temperature="auto", unknown=None, unknown_label=-1, calibration_fraction=0.2,
                 random_state=0):
        self.autoencoder = autoencoder
        self.temperature = temperature
        self.unknown = unknown
        self.unknown_label = unknown_label
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    # -- checks ---------------------------------------------------------------------------------
    def _check_params(self):
        template = _template(self.autoencoder, type(self).__name__)
        fraction = number_in("calibration_fraction", self.calibration_fraction, high_open=True)
        t = self.temperature
        if not (isinstance(t, str) and t == "auto") and (
                isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating))
                or not math.isfinite(t) or t <= 0):
            raise InputError(f"temperature must be 'auto' or a number > 0, got {t!r}")
        if self.unknown is not None:
            number_in("unknown", self.unknown, low_open=True)
        return template, fraction

    def _check_unknown_label(self, classes):
        """With ``unknown``, the unknown answer must be new and of the classes' kind (numbers or strings)."""
        if self.unknown is None:
            return
        label = self.unknown_label
        if label in classes.tolist():
            raise InputError(f"unknown_label {label!r} is one of the classes; choose a value that is not")
        if _is_number(label) != all(_is_number(c) for c in classes.tolist()):
            raise InputError(f"unknown_label {label!r} is not of the classes' type ({classes.dtype}): use e.g. "
                             f"{repr('unknown') if _is_number(label) else '-1'}")

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X, y):
        """Train one autoencoder per class on the labeled rows of ``X`` and calibrate on held-out rows."""
        template, fraction = self._check_params()
        X = validate_X(X, estimator=type(self).__name__)
        y, classes, labeled = check_semi_supervised_y(y, len(X))
        self._check_unknown_label(classes)
        aes, own, cal_rows = [], [], []
        for i, c in enumerate(classes.tolist()):  # Python values: messages say 5, not np.int64(5)
            rows = np.flatnonzero(y == c)
            _warn_too_few(len(rows), MIN_CLASS_ROWS, f"class {c!r}'s autoencoder is trained and calibrated",
                          "label more rows of this class")
            if fraction and len(rows) < 2:
                raise InputError(f"class {c!r} has {len(rows)} labeled row: each class needs at least 2 (one to train "
                                 "its autoencoder, one to calibrate), or use calibration_fraction=0")
            ae, errors, cal = _fit_autoencoder(template, X[rows], fraction, _seed(self.random_state, i),
                                               f"class {c!r}")
            aes.append(ae)
            own.append(errors)
            cal_rows.append(rows[cal] if len(cal) else rows)
        self.classes_, self.autoencoders_ = classes, aes
        self.n_features_in_ = aes[0].n_features_in_
        self.input_shape_ = aes[0].input_shape_
        self.training_data_ = data_record(X, np.searchsorted(classes, np.asarray(y[labeled].tolist(), classes.dtype)),
                                          classes.tolist())
        # every calibration row under every autoencoder: the temperature that fits their labels best
        rows = np.concatenate(cal_rows)
        E = self.reconstruction_errors(X[rows])
        target = np.searchsorted(classes, y[rows])
        self.temperature_ = self._fit_temperature(E, target) if self.temperature == "auto" else float(self.temperature)
        self.thresholds_ = self._thresholds(own)
        return self

    def _thresholds(self, own_errors) -> np.ndarray | None:
        if self.unknown is None:
            return None
        return np.array([np.quantile(e, float(self.unknown)) for e in own_errors])

    @staticmethod
    def _fit_temperature(E: np.ndarray, target: np.ndarray) -> float:
        """The temperature minimising the log-loss of softmax(-E / T) on the calibration rows."""
        def nll(log_t):
            return -float(np.mean(log_softmax(-E / math.exp(log_t), axis=1)[np.arange(len(E)), target]))

        res = minimize_scalar(nll, bounds=(-9.0, 9.0), method="bounded")
        return float(math.exp(res.x))

    def fit_class(self, X, label):
        """(Re)train the autoencoder of one class on ``X`` (all rows of that class): a new class is added,
        an existing one replaced; the other classes and the temperature are kept."""
        check_is_fitted(self, "autoencoders_")
        template, fraction = self._check_params()
        X = validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)
        if fraction and len(X) < 2:
            raise InputError(f"class {label!r} has {len(X)} row: at least 2 are needed (one to train, one to calibrate)")
        label = label.item() if isinstance(label, np.generic) else label
        _warn_too_few(len(X), MIN_CLASS_ROWS, f"class {label!r}'s autoencoder is trained and calibrated",
                      "give more rows of this class")
        if _is_number(label) != all(_is_number(c) for c in self.classes_.tolist()):
            raise InputError(f"label {label!r} is not of the classes' type ({self.classes_.dtype})")
        if self.unknown is not None and label == self.unknown_label:
            raise InputError(f"label {label!r} is the unknown_label; choose another")
        i = int(np.searchsorted(self.classes_, label))
        new = i >= len(self.classes_) or self.classes_[i] != label
        seed = _seed(self.random_state, len(self.classes_) if new else i)
        ae, errors, _ = _fit_autoencoder(template, X, fraction, seed, f"class {label!r}")
        threshold = None if self.unknown is None else np.quantile(errors, float(self.unknown))
        if new:
            self.classes_ = np.insert(self.classes_, i, label)
            self.autoencoders_.insert(i, ae)
            if threshold is not None:
                self.thresholds_ = np.insert(self.thresholds_, i, threshold)
        else:
            self.autoencoders_[i] = ae
            if threshold is not None:
                self.thresholds_[i] = threshold
        return self

    # -- predicting -----------------------------------------------------------------------------
    def reconstruction_errors(self, X) -> np.ndarray:
        """(n_rows, n_classes): each row's reconstruction error under each class's autoencoder."""
        check_is_fitted(self, "autoencoders_")
        return np.stack([ae.reconstruction_error(X) for ae in self.autoencoders_], axis=1)

    def decision_function(self, X) -> np.ndarray:
        """Minus the errors: one column per class, the highest wins; with two classes, scikit-learn's
        binary form: one value per row, the first class's error minus the second's (> 0: the second)."""
        E = self.reconstruction_errors(X)
        return E[:, 0] - E[:, 1] if E.shape[1] == 2 else -E

    def predict_proba(self, X) -> np.ndarray:
        """Softmax over minus the errors, divided by the fitted temperature."""
        check_is_fitted(self, "autoencoders_")
        return softmax(-self.reconstruction_errors(X) / self.temperature_, axis=1)

    def _answer(self, E: np.ndarray) -> np.ndarray:
        pred = self.classes_[np.argmin(E, axis=1)]
        if self.thresholds_ is None:
            return pred
        unknown = (E > self.thresholds_).all(axis=1)
        if not unknown.any():
            return pred
        out = pred.astype(np.result_type(pred.dtype, np.asarray([self.unknown_label]).dtype))
        out[unknown] = self.unknown_label
        return out

    def predict(self, X) -> np.ndarray:
        """The class whose autoencoder reconstructs the row best; ``unknown_label`` where none does well
        (with ``unknown``)."""
        return self._answer(self.reconstruction_errors(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (one true label per row of ``X``)."""
        pred = self.predict(X)
        return float(accuracy_score(labels_match_rows(y, len(pred)), pred, sample_weight=sample_weight))

    def is_unknown(self, X) -> np.ndarray:
        """True for rows that no class's autoencoder reconstructs within its cut-off (needs ``unknown``)."""
        check_is_fitted(self, "autoencoders_")
        if self.thresholds_ is None:
            raise InputError("is_unknown needs unknown=q (e.g. 0.99) when fitting: no cut-offs were computed")
        return (self.reconstruction_errors(X) > self.thresholds_).all(axis=1)

    # -- saving ---------------------------------------------------------------------------------
    def _get_state(self):
        check_is_fitted(self, "autoencoders_")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "autoencoder"}
        template, t_tensors = _ae_state(self.autoencoder) if self.autoencoder is not None else (None, {})
        config = {"params": json_safe(params), "template": template, "classes": self.classes_.tolist(),
                  "temperature": self.temperature_, "autoencoders": [], "data": getattr(self, "training_data_", None)}
        tensors = {f"template.{k}": v for k, v in t_tensors.items()}
        if self.thresholds_ is not None:
            tensors["thresholds"] = _tensor(self.thresholds_)
        for i, ae in enumerate(self.autoencoders_):
            entry, ae_tensors = _ae_state(ae)
            config["autoencoders"].append(entry)
            tensors.update({f"class{i}.{k}": v for k, v in ae_tensors.items()})
        return config, tensors

    @classmethod
    def _from_state(cls, config, tensors):
        template = None if config["template"] is None else _ae_from_state(config["template"], tensors, "template")
        est = cls(autoencoder=template, **config["params"])
        est.classes_ = np.asarray(config["classes"])
        est.autoencoders_ = [_ae_from_state(e, tensors, f"class{i}") for i, e in enumerate(config["autoencoders"])]
        est.thresholds_ = tensors["thresholds"].numpy().astype(np.float64) if "thresholds" in tensors else None
        est.temperature_ = float(config["temperature"])
        est.training_data_ = config.get("data")
        est.n_features_in_ = est.autoencoders_[0].n_features_in_
        est.input_shape_ = est.autoencoders_[0].input_shape_
        return est
