"""Confidences as sure as the answers prove right: the temperature fitted on out-of-fold probabilities
(``fit_temperature``), checked against scikit-learn's temperature scaling, and a classifier's ``calibrate``."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits

import fewlabel
from fewlabel import datasets
from fewlabel.errors import InputError
from fewlabel.tasks.estimate import fit_temperature


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _overconfident(n=4000, k=5, sharpen=2.5, seed=0):
    """Rows whose classes are drawn from softmax(z), answered by a model that says softmax(sharpen * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(n, k))
    truth = _softmax(z)
    y = np.array([rng.choice(k, p=p) for p in truth])
    return _softmax(sharpen * z), y


def test_the_temperature_of_a_model_surer_than_it_is_right_is_found():
    proba, y = _overconfident(sharpen=2.5)
    assert abs(fit_temperature(proba, y) - 2.5) < 0.2
    proba, y = _overconfident(sharpen=0.5, seed=1)  # less sure than it is right: sharpened
    assert abs(fit_temperature(proba, y) - 0.5) < 0.05
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int)) == 1.0


def test_a_few_rows_all_answered_right_keep_the_models_own_probabilities():
    """Fifteen held-out rows, every one right and sure (a small table's folds): the log-loss alone falls as the
    answers are sharpened without end (measured on wine, 15 labels: a temperature of 0.21, which raised the
    unlabeled rows' log-loss from 0.62 to 1.85); the prior on the temperature keeps it near 1 (wine: 0.996)."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 15)
    proba = np.full((15, 3), 0.0005)
    proba[np.arange(15), y] = 0.999
    assert fit_temperature(proba, y, prior_sd=None) < 0.2
    assert 0.85 < fit_temperature(proba, y) <= 1.0


def test_a_class_the_model_never_learned_is_left_out_not_given_mass():
    proba, y = _overconfident(sharpen=2.5)
    # the fifth class unknown to the model that answered (a fold without its labels): no probability at all, and
    # the rows of that class cannot be scored
    known = proba[:, :4] / proba[:, :4].sum(axis=1, keepdims=True)
    with_unknown = np.hstack([known, np.zeros((len(known), 1))])
    t = fit_temperature(with_unknown, y)
    assert abs(t - fit_temperature(known[y < 4], y[y < 4])) < 1e-3
    assert np.isfinite(t) and 0.05 <= t <= 20


class _Answers(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities for row i are given: row i of X is [i]."""

    def __init__(self, proba=None):
        self.proba = proba

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return self.proba[np.asarray(X)[:, 0].astype(int)]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def test_the_temperature_is_scikit_learns_temperature_scaling():
    """scikit-learn's CalibratedClassifierCV(method="temperature") (1.8 on) fits the same one number by the same
    log-loss: the probabilities it gives and ours agree."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    methods = CalibratedClassifierCV._parameter_constraints["method"]
    if not any("temperature" in getattr(c, "options", ()) for c in methods):
        pytest.skip("scikit-learn before 1.8 has no method='temperature'")
    proba, y = _overconfident(sharpen=3.0, seed=2)
    rows = np.arange(len(y))[:, None]
    reference = CalibratedClassifierCV(FrozenEstimator(_Answers(proba).fit(rows, y)), method="temperature")
    reference.fit(rows, y)
    t = fit_temperature(proba, y, prior_sd=None)  # scikit-learn's has no prior; over 4,000 rows ours moves little
    assert abs(fit_temperature(proba, y) - t) < 0.01
    ours = _softmax(np.log(proba) / t)
    np.testing.assert_allclose(ours, reference.predict_proba(rows), atol=2e-3)


def test_calibrate_softens_every_answer_keeps_the_labels_and_is_saved(tmp_path):
    X, y = load_digits(return_X_y=True)
    few = datasets.labeled_subset(y, 100, seed=0)
    clf = fewlabel.SemiSupervisedClassifier(max_steps=60, propagate=None).fit(X, few)
    assert clf.temperature_ is None
    raw, labels = clf.predict_proba(X[:200]), clf.predict(X[:200])
    logits = clf.decision_function(X[:200])
    clf.calibrate(2.0)
    soft = clf.predict_proba(X[:200])
    np.testing.assert_allclose(soft, _softmax(logits / 2.0), atol=1e-6)
    assert np.array_equal(clf.predict(X[:200]), labels) and soft.max(axis=1).mean() < raw.max(axis=1).mean()
    details = clf.predict_details(X[:200])
    np.testing.assert_allclose(details["confidence"], soft.max(axis=1), atol=1e-4)
    fewlabel.save(clf, tmp_path / "model")
    loaded = fewlabel.load(tmp_path / "model")
    assert loaded.temperature_ == 2.0
    np.testing.assert_allclose(loaded.predict_proba(X[:200]), soft, atol=1e-6)
    for bad in (0, -1.0, float("nan"), float("inf"), "2", True):
        with pytest.raises(InputError, match="temperature must be a positive number or None"):
            clf.calibrate(bad)
    assert clf.fit(X, few).temperature_ is None  # a new fit, its own network: no temperature carried over
