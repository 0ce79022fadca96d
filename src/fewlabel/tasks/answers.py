"""What a fitted semi-supervised classifier answers for new rows, and how far to trust each answer: its
confidence, its margin, and how unlike the training rows each row is (a reconstruction detector fitted on the
same rows)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import scaled_columns, to_float, validate_X
from fewlabel.checks import labels_match_rows
from fewlabel.errors import InputError, TooLittleDataWarning


class Answers:
    """The methods of a fitted :class:`~fewlabel.tasks.classify.SemiSupervisedClassifier` that answer for rows:
    :meth:`predict`, :meth:`predict_proba`, :meth:`decision_function`, :meth:`score`, :meth:`features`,
    :meth:`transform`; and how far to trust each answer: :meth:`predict_details` gives each row's confidence,
    the margin to the second class and, once :meth:`fit_unfamiliarity` has fitted a detector on the same rows
    (``fewlabel classify`` does), an unfamiliarity score: a
    :class:`~fewlabel.tasks.detect.ReconstructionDetector` with its defaults scores each row, divided by its
    cut-off (``contamination='auto'``), so that 1 or more flags a row unlike the rows the classifier learned
    from (``detector_``)."""

    def fit_unfamiliarity(self, X):
        """Fit the detector behind :meth:`unfamiliarity` on ``X``, the rows the classifier learned from (labeled
        or not): :class:`~fewlabel.tasks.detect.ReconstructionDetector` with its defaults, on the rows as the
        classifier sees them (standardised tables), trained with this classifier's device, precision, seed and
        verbosity. Where the rows are too few for its cut-off to mean anything (fewer than ten times
        ``MIN_CALIBRATION_ROWS``), it warns and leaves ``detector_`` None. A separate model from the
        classifier's networks: ``max_steps`` and ``epochs`` do not bound it. Returns ``self``."""
        from fewlabel.pretrain.autoencoder import Autoencoder
        from fewlabel.tasks.detect import DETECTOR_DEFAULT, MIN_CALIBRATION_ROWS, ReconstructionDetector

        X = self._validated(X)
        needed = math.ceil(MIN_CALIBRATION_ROWS / ReconstructionDetector().calibration_fraction)
        self.detector_ = None
        if len(X) < needed:
            warnings.warn(TooLittleDataWarning(
                f"{len(X)} rows are too few for an unfamiliarity score (its cut-off needs {MIN_CALIBRATION_ROWS} "
                f"held-out rows, a tenth of at least {needed}): the classifier has none"), stacklevel=2)
            return self
        autoencoder = Autoencoder(**DETECTOR_DEFAULT, device=self.device, precision=self.precision,
                                  random_state=self.random_state, verbose=self.verbose)
        # the rows are already as the classifier sees them (its own scaling of a table's columns)
        self.detector_ = ReconstructionDetector(autoencoder, standardize=False,
                                                random_state=self.random_state or 0).fit(X)
        return self


    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        return self._standardized(validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__))

    def _standardized(self, X) -> np.ndarray:
        return scaled_columns(X, getattr(self, "standardize_", None))

    def _logits(self, X) -> np.ndarray:
        X = self._validated(X)
        self.module_.eval()
        return self._calibrated(self._apply(lambda x: self.module_(to_float(x, self.scale_)), X))

    def _calibrated(self, logits: np.ndarray) -> np.ndarray:
        """The network's logits divided by ``temperature_`` (None or 1: as they are): the probabilities they give
        are then as sure as the method's answers proved right on labeled rows it never saw (:meth:`calibrate`).
        The most probable class of a row is the same either way."""
        t = getattr(self, "temperature_", None)
        return logits if t is None or t == 1.0 else logits.astype(np.float64) / t

    def calibrate(self, temperature) -> "Answers":
        """Set ``temperature_``, which every probability, confidence and margin this classifier gives is taken
        at (the network's logits divided by it); saved with the model. ``fewlabel classify`` fits it on the
        out-of-fold probabilities of its accuracy estimate
        (:func:`~fewlabel.tasks.estimate.fit_temperature`): the folds' models are the same method, each
        scored on labeled rows it did not learn, so the temperature that makes their probabilities honest there
        is what the final model's need. None: the network's own probabilities. Returns ``self``."""
        if temperature is not None:
            if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(float(temperature)) or float(temperature) <= 0:
                raise InputError(f"temperature must be a positive number or None, got {temperature!r}")
            temperature = float(temperature)
        self.temperature_ = temperature
        return self

    def decision_function(self, X) -> np.ndarray:
        """Class scores: the logits ``(n_rows, n_classes)``; for two classes, scikit-learn's ``(n_rows,)``
        score of the second class (its logit minus the first's: positive means ``classes_[1]``)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)`` (softmax of the logits), columns in ``classes_`` order."""
        logits = torch.from_numpy(self._logits(X).astype(np.float64))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (labels from ``classes_``)."""
        index = self._logits(X).argmax(axis=1)
        return self.classes_[index]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (one true label per row of ``X``)."""
        pred = self.predict(X)
        return float(accuracy_score(labels_match_rows(y, len(pred)), pred, sample_weight=sample_weight))

    def features(self, X) -> np.ndarray:
        """What the network's last layer reads for each row (the code, for a linear head): the rows as the
        classifier sees them (the report maps them to 2-D)."""
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: self.module_.features(to_float(x, self.scale_)), X)

    def transform(self, X) -> np.ndarray:
        """The encoder's codes ``(n_rows, code_size)``."""
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: self.module_.encoder(to_float(x, self.scale_)), X)

    def unfamiliarity(self, X) -> np.ndarray:
        """How unlike the training rows each row is: the ``anomaly_score`` of the detector fitted with the
        classifier (``detector_``) divided by its cut-off; 1 or more flags a row whose label should not be
        trusted (it resembles nothing the classifier learned from). Needs :meth:`fit_unfamiliarity` first."""
        return self._unfamiliarity(self._validated(X))

    def _unfamiliarity(self, X_seen) -> np.ndarray:
        if getattr(self, "detector_", None) is None:
            raise InputError("this classifier has no unfamiliarity score: call fit_unfamiliarity(X) with the rows it "
                             "learned from (fewlabel classify does)")
        detector = self.detector_
        return (detector.anomaly_score(X_seen) / max(float(detector.threshold_), 1e-12)).astype(np.float32)

    def predict_details(self, X) -> dict:
        """Each row's answer and how far to trust it, from one pass of the network: ``label`` (as
        :meth:`predict`), ``confidence`` (its probability), ``margin`` (its probability minus the second
        class's: small where two classes compete), and, after :meth:`fit_unfamiliarity`,
        ``unfamiliar`` (:meth:`unfamiliarity`) and ``flagged`` (``unfamiliar >= 1``: the row resembles none
        of the training rows, so its label is a guess)."""
        X = self._validated(X)
        net = self.module_.eval()
        F = self._apply(lambda x: net.features(to_float(x, self.scale_)), X)
        last = net.head.layers[-2:]  # the last linear layer (and its identity activation) reads the features
        logits = self._calibrated(self._apply(lambda f: last(f), F.astype(np.float32)))
        proba = torch.softmax(torch.from_numpy(logits.astype(np.float64)), dim=1).numpy()
        top2 = np.sort(proba, axis=1)[:, -2:]
        out = {"label": self.classes_[proba.argmax(axis=1)], "confidence": proba.max(axis=1),
               "margin": top2[:, 1] - top2[:, 0]}
        if getattr(self, "detector_", None) is not None:
            out["unfamiliar"] = self._unfamiliarity(X)
            out["flagged"] = out["unfamiliar"] >= 1.0
        return out
