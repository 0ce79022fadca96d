"""One autoencoder per class: a row belongs to the class whose autoencoder reconstructs it best.

``predict_proba`` is a softmax over minus the errors divided by a temperature fitted on the held-out rows
(``temperature='auto'``: the one that minimises their log-loss, Guo et al. 2017). The errors are compared as
they are: dividing each class's errors by its typical error (so that easy classes such as the digit 1 do not
win close calls) makes MNIST's answers worse, not better. With ``unknown=q``, a row that no autoencoder reconstructs
within the q-quantile of its own class's held-out errors is answered ``unknown_label``: not one of the
classes seen. ``fit_class`` (re)trains one class alone, for a new class or one whose data changed, without
touching the others::

    clf = ClassAutoencoderClassifier(Autoencoder(hidden=(128,), latent=8), unknown=0.99).fit(X, y)
    clf.predict(X_new)          # a class, or -1 where no autoencoder reconstructs the row well
    clf.fit_class(X_new_class, "new label")
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import (check_standardize, column_scaling, data_record, scaled_columns, scales_columns,
                            scaling_from_tensors, scaling_tensors, validate_X)
from fewlabel.checks import labels_match_rows, number_in
from fewlabel.errors import InputError
from fewlabel.jsonsafe import json_safe
from fewlabel.registry import register
from fewlabel.tasks.classify import check_semi_supervised_y
from fewlabel.tasks.reconstruction import (MIN_CLASS_ROWS, autoencoder_from_state, autoencoder_state,
                                           autoencoder_template, fit_with_calibration, float64_tensor, warn_too_few)

__all__ = ["ClassAutoencoderClassifier"]


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _seed(random_state, i: int):
    return None if random_state is None else int(random_state) + i


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
    standardize : ``'auto'`` (default): the columns of a table of floats (2-D, not uint8 images) are centred and
        scaled by their mean and spread over every row of ``X``, labeled or not, and new rows the same way
        (``standardize_``); unscaled, the column in the largest units decides every error. True; False.
    random_state : seed of the held-out draws and of the autoencoders (class i gets ``random_state + i``).

    ``fit(X, y)``: ``y == -1`` marks unlabeled rows, which are ignored (one autoencoder needs the rows of
    its own class). Fitted attributes: ``classes_``, ``autoencoders_`` (one per class, in ``classes_``
    order), ``temperature_``, ``thresholds_`` (with ``unknown``), ``standardize_`` (each column's mean and
    spread, or None).
    """

    def __init__(self, autoencoder=None, temperature="auto", unknown=None, unknown_label=-1, calibration_fraction=0.2,
                 standardize="auto", random_state=0):
        self.autoencoder = autoencoder
        self.temperature = temperature
        self.unknown = unknown
        self.unknown_label = unknown_label
        self.calibration_fraction = calibration_fraction
        self.standardize = standardize
        self.random_state = random_state

    # -- checks ---------------------------------------------------------------------------------
    def _check_params(self):
        template = autoencoder_template(self.autoencoder, type(self).__name__)
        fraction = number_in("calibration_fraction", self.calibration_fraction, high_open=True)
        t = self.temperature
        if not (isinstance(t, str) and t == "auto") and (
                isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating))
                or not math.isfinite(t) or t <= 0):
            raise InputError(f"temperature must be 'auto' or a number > 0, got {t!r}")
        if self.unknown is not None:
            number_in("unknown", self.unknown, low_open=True)
        check_standardize(self.standardize)
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
        X_given = X = validate_X(X, estimator=type(self).__name__)
        y, classes, labeled = check_semi_supervised_y(y, len(X))
        self._check_unknown_label(classes)
        self.standardize_ = column_scaling(X) if scales_columns(self.standardize, X, own_scale=False) else None
        X = scaled_columns(X, self.standardize_)
        aes, own, cal_rows = [], [], []
        for i, c in enumerate(classes.tolist()):  # Python values: messages say 5, not np.int64(5)
            rows = np.flatnonzero(y == c)
            warn_too_few(len(rows), MIN_CLASS_ROWS, f"class {c!r}'s autoencoder is trained and calibrated",
                          "label more rows of this class")
            if fraction and len(rows) < 2:
                raise InputError(f"class {c!r} has {len(rows)} labeled row: each class needs at least 2 (one to train "
                                 "its autoencoder, one to calibrate), or use calibration_fraction=0")
            ae, errors, cal = fit_with_calibration(template, X[rows], fraction, _seed(self.random_state, i),
                                               f"class {c!r}")
            aes.append(ae)
            own.append(errors)
            cal_rows.append(rows[cal] if len(cal) else rows)
        self.classes_, self.autoencoders_ = classes, aes
        self.n_features_in_ = aes[0].n_features_in_
        self.input_shape_ = aes[0].input_shape_
        self.training_data_ = data_record(X_given, np.searchsorted(classes, np.asarray(y[labeled].tolist(), classes.dtype)),
                                          classes.tolist(), self.standardize_)
        # every calibration row under every autoencoder: the temperature that fits their labels best
        rows = np.concatenate(cal_rows)
        E = self._errors(X[rows])
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
        X = self._rows(X)  # scaled as the other classes' rows were
        if fraction and len(X) < 2:
            raise InputError(f"class {label!r} has {len(X)} row: at least 2 are needed (one to train, one to calibrate)")
        label = label.item() if isinstance(label, np.generic) else label
        warn_too_few(len(X), MIN_CLASS_ROWS, f"class {label!r}'s autoencoder is trained and calibrated",
                      "give more rows of this class")
        if _is_number(label) != all(_is_number(c) for c in self.classes_.tolist()):
            raise InputError(f"label {label!r} is not of the classes' type ({self.classes_.dtype})")
        if self.unknown is not None and label == self.unknown_label:
            raise InputError(f"label {label!r} is the unknown_label; choose another")
        i = int(np.searchsorted(self.classes_, label))
        new = i >= len(self.classes_) or self.classes_[i] != label
        seed = _seed(self.random_state, len(self.classes_) if new else i)
        ae, errors, _ = fit_with_calibration(template, X, fraction, seed, f"class {label!r}")
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
    def _rows(self, X) -> np.ndarray:
        """New rows checked against the training rows' shape, and scaled as they were."""
        check_is_fitted(self, "autoencoders_")
        X = validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)
        return scaled_columns(X, getattr(self, "standardize_", None))

    def _errors(self, X) -> np.ndarray:
        return np.stack([ae.reconstruction_error(X) for ae in self.autoencoders_], axis=1)

    def reconstruction_errors(self, X) -> np.ndarray:
        """(n_rows, n_classes): each row's reconstruction error under each class's autoencoder."""
        return self._errors(self._rows(X))

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
    def get_state(self):
        check_is_fitted(self, "autoencoders_")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "autoencoder"}
        template, t_tensors = autoencoder_state(self.autoencoder) if self.autoencoder is not None else (None, {})
        config = {"params": json_safe(params), "template": template, "classes": self.classes_.tolist(),
                  "temperature": self.temperature_, "autoencoders": [], "data": getattr(self, "training_data_", None)}
        tensors = {f"template.{k}": v for k, v in t_tensors.items()}
        if self.thresholds_ is not None:
            tensors["thresholds"] = float64_tensor(self.thresholds_)
        tensors.update(scaling_tensors(self.standardize_))
        for i, ae in enumerate(self.autoencoders_):
            entry, ae_tensors = autoencoder_state(ae)
            config["autoencoders"].append(entry)
            tensors.update({f"class{i}.{k}": v for k, v in ae_tensors.items()})
        return config, tensors

    @classmethod
    def from_state(cls, config, tensors):
        template = None if config["template"] is None else autoencoder_from_state(config["template"], tensors, "template")
        est = cls(autoencoder=template, **config["params"])
        est.classes_ = np.asarray(config["classes"])
        est.autoencoders_ = [autoencoder_from_state(e, tensors, f"class{i}") for i, e in enumerate(config["autoencoders"])]
        est.thresholds_ = tensors["thresholds"].numpy().astype(np.float64) if "thresholds" in tensors else None
        est.temperature_ = float(config["temperature"])
        est.training_data_ = config.get("data")
        est.standardize_ = scaling_from_tensors(tensors)
        est.n_features_in_ = est.autoencoders_[0].n_features_in_
        est.input_shape_ = est.autoencoders_[0].input_shape_
        return est
