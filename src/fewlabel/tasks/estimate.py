"""How accurate a classifier trained on partly labeled data is, measured on its labeled rows alone.

Data of the user's own has no test split: the labeled rows are all there is to measure with. The whole
method is cross-validated on them: the labeled rows are split into stratified folds, and for each fold the
classifier is trained with that fold's labels hidden (its rows stay in the fit as unlabeled rows, as every
unlabeled row does) and scored on them. Every labeled row is then predicted once by a model that never saw
its label; the pooled accuracy of those predictions is the estimate, with a 95% Wilson interval over the
labeled rows and the spread over folds.

Beside the method, on the same folds: the same network trained on the labels alone, and a logistic
regression on the raw input (pixels scaled to [0, 1], table columns standardised). Whether the unlabeled
rows helped is then measured on the user's own data, not assumed.

The fold fits share what needs no labels: the map of the rows that propagation clusters is computed once
(by the full fit) and handed to every fold. ``fold_steps`` sets each fold network's optimizer steps; the
README's "Your own data" gives the measured cost and the estimates' distance to the truth on held-out labels.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from fewlabel.errors import InputError
from fewlabel.timing import PhaseClock

DEFAULT, LABELS_ALONE, LOGREG = "default", "same network, labels alone", "LogisticRegression"
#: :func:`fit_temperature`'s ``prior_sd``: the spread of its prior on the log of the temperature
TEMPERATURE_PRIOR_SD = 1.0


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): sound for small ``n`` and for
    proportions near 0 or 1, where the normal approximation's interval leaves [0, 1]."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def stratified_folds(y_codes: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Row indices of the labeled rows held out by each fold: stratified by class, ``folds`` of them (fewer
    when there are fewer labeled rows than folds times two). A class with fewer labeled rows than folds is
    missing from some folds' held-out rows; a class with one labeled row is, in its fold, unknown to the
    model, and that row counts as wrong: the estimate says what the labels can teach."""
    from sklearn.model_selection import StratifiedKFold

    labeled = np.flatnonzero(y_codes >= 0)
    k = int(min(folds, max(2, len(labeled) // 2)))
    if len(labeled) < 2:
        raise InputError("cross-validation needs at least 2 labeled rows")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = StratifiedKFold(k, shuffle=True, random_state=seed).split(labeled, y_codes[labeled])
        return [labeled[test] for _, test in splits]


def _logreg_proba(X, y_codes, train_rows, test_rows, n_classes: int, seed: int) -> np.ndarray:
    from fewlabel.tasks.linear import linear_probabilities

    return linear_probabilities(X, y_codes, train_rows, test_rows, n_classes, seed,
                                scale=1 / 255 if X.dtype == np.uint8 else 1.0, scale_columns=X.dtype != np.uint8)


def _fit_fold(make, X, y_codes, test_rows, embedding, route_record=None):
    y_fold = y_codes.copy()
    y_fold[test_rows] = -1
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fold's small classes repeat the full fit's warnings
        if embedding is not None and model.propagate is not None:
            model.fit(X, y_fold, embedding=embedding, route_record=route_record)
        else:
            model.fit(X, y_fold)
    return model


def _spread(model, proba, n_classes: int) -> np.ndarray:
    """Probabilities over the model's classes as columns of all ``n_classes`` (a fold may lack a class)."""
    out = np.zeros((len(proba), n_classes))
    out[:, model.classes_.astype(np.int64)] = proba
    return out


def cross_validate(X, y_codes, class_names, params: dict, *, folds: int = 3, fold_steps: int | None = None,
                   seed: int = 0, embedding=None, route_record=None, baselines: bool = True,
                   temperature_prior_sd: float | None = TEMPERATURE_PRIOR_SD, log=None) -> dict:
    """Cross-validated accuracy of ``SemiSupervisedClassifier(**params)`` on ``X`` with labels ``y_codes``
    (int codes into ``class_names``, -1 unlabeled), and of its baselines on the same folds.

    ``fold_steps``: each fold network's optimizer steps (``max_steps``; None: the same length as a full
    fit). ``embedding``: the map of ``X`` a full fit made (``embedding_``), shared by the folds;
    ``route_record``: its ``route_``, taken by the folds (choosing the route again in every fold would add a
    network's training to each, for a choice made on two thirds of the same labels).
    Returns ``{"folds", "fold_steps", "methods": {name: {"accuracy", "interval", "per_fold", "std",
    "seconds", "cpu_seconds"}}, "confusion" (the method's, true x predicted, counts), "class_names",
    "out_of_fold" (each labeled row's predicted class code, -1 where no fold predicted it), "out_of_fold_proba"
    (the method's probabilities for them), "temperature" (:func:`fit_temperature` on those probabilities, with
    ``temperature_prior_sd``, over the ``temperature_rows`` rows whose class their fold's model learned)}``.
    """
    from fewlabel.tasks.classify import SemiSupervisedClassifier
    from fewlabel.tasks.compare import baseline_params
    from fewlabel.tasks.route import known_to_other_folds

    y_codes = np.asarray(y_codes, np.int64)
    n_classes = len(class_names)
    held = stratified_folds(y_codes, folds, seed)
    labeled = np.flatnonzero(y_codes >= 0)
    settings = {**params, "verbose": False}  # no progress bars for the folds
    if fold_steps is not None:
        settings["max_steps"] = int(fold_steps)
    twin = baseline_params(settings)
    names = [DEFAULT, *([LABELS_ALONE, LOGREG] if baselines else [])]
    oof = {name: np.full(len(y_codes), -1, np.int64) for name in names}
    proba_oof = np.zeros((len(y_codes), n_classes))
    per_fold = {name: [] for name in oof}
    clock = PhaseClock()
    shared = 0  # folds whose baseline was the default's own first network (no fit of its own)
    for f, test_rows in enumerate(held):
        train_rows = np.setdiff1d(labeled, test_rows)
        with clock(DEFAULT):
            model = _fit_fold(lambda: SemiSupervisedClassifier(**settings), X, y_codes, test_rows, embedding,
                              route_record)
            proba_oof[test_rows] = _spread(model, model.predict_proba(X[test_rows]), n_classes)
            oof[DEFAULT][test_rows] = proba_oof[test_rows].argmax(axis=1)
        if baselines:
            with clock(LABELS_ALONE):
                if model.labels_alone_proba_ is not None:
                    # the route trained the same network on the fold's labels alone first: that is the baseline
                    proba = _spread(model, model.labels_alone_proba_[test_rows], n_classes)
                    shared += 1
                else:
                    twin_model = _fit_fold(lambda: SemiSupervisedClassifier(**twin), X, y_codes, test_rows, None)
                    proba = _spread(twin_model, twin_model.predict_proba(X[test_rows]), n_classes)
                oof[LABELS_ALONE][test_rows] = proba.argmax(axis=1)
            with clock(LOGREG):
                proba = _logreg_proba(X, y_codes, train_rows, test_rows, n_classes, seed)
                oof[LOGREG][test_rows] = proba.argmax(axis=1)
        for name in oof:
            per_fold[name].append(float(np.mean(oof[name][test_rows] == y_codes[test_rows])))
        if log is not None:
            log(f"fold {f + 1}/{len(held)} ({len(test_rows)} labels held out): "
                + ", ".join(f"{name} {per_fold[name][-1]:.3f}" for name in oof))
    results = {}
    for name in oof:
        correct = int(np.sum(oof[name][labeled] == y_codes[labeled]))
        lo, hi = wilson_interval(correct, len(labeled))
        results[name] = {"accuracy": correct / len(labeled), "interval": [lo, hi], "per_fold": per_fold[name],
                         "std": float(np.std(per_fold[name])), "seconds": round(clock.seconds(name)[0], 2),
                         "cpu_seconds": round(clock.seconds(name)[1], 2)}
        if name == LABELS_ALONE and shared == len(held):
            # the default's route trains this very network first in every fold: its cost is in the default's
            results[name].update(seconds=None, cpu_seconds=None, note="the first network of the default's folds")
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (y_codes[labeled], oof[DEFAULT][labeled]), 1)
    scored = labeled[known_to_other_folds(y_codes, held)]  # rows whose class their fold's model learned
    out = {"folds": len(held), "fold_steps": fold_steps, "labeled_rows": int(len(labeled)), "methods": results,
           "confusion": confusion.tolist(), "class_names": list(class_names), "out_of_fold": oof,
           "out_of_fold_proba": proba_oof, "temperature": fit_temperature(proba_oof[scored], y_codes[scored],
                                                                        temperature_prior_sd),
           "temperature_rows": int(len(scored)), "temperature_prior_sd": temperature_prior_sd}
    if baselines:
        out["verdict"] = paired_verdict(y_codes, oof[DEFAULT], oof[LABELS_ALONE])
    return out


def fit_temperature(proba: np.ndarray, y_true: np.ndarray, prior_sd: float | None = TEMPERATURE_PRIOR_SD,
                    bounds=(0.05, 20.0)) -> float:
    """The temperature ``T`` under which ``proba`` (each row's class probabilities from a model that never saw
    its label) gives the rows' true classes the smallest log-loss once each row's probabilities are
    ``softmax(log(proba) / T)``: above 1, the model was surer than it was right, and its answers are
    softened; below 1, sharpened. ``prior_sd``: the spread of a normal prior on ``log T`` around 0 (the model's
    own probabilities), added to the rows' summed log-loss as ``log(T)**2 / (2 prior_sd**2)`` (None: none): where
    the rows are few, or every one of them was answered right (then the log-loss alone falls without end as
    ``T`` shrinks), it keeps ``T`` near 1; over hundreds of rows the rows decide. A class given no probability
    (one the row's model never learned) stays at none, and a row of such a class is left out. 1.0 where there
    are no rows to fit on; ``T`` lies within ``bounds``."""
    from scipy.optimize import minimize_scalar

    proba = np.asarray(proba, np.float64)
    y_true = np.asarray(y_true, np.int64)
    if len(y_true) == 0:
        return 1.0
    with np.errstate(divide="ignore"):
        log_p = np.where(proba > 0, np.log(np.clip(proba, 1e-300, None)), -np.inf)
    keep = np.isfinite(log_p[np.arange(len(y_true)), y_true])
    log_p, y_true = log_p[keep], y_true[keep]
    if len(y_true) == 0:
        return 1.0
    rows = np.arange(len(y_true))

    def log_loss(log_t: float) -> float:
        z = log_p / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        prior = 0.0 if prior_sd is None else log_t ** 2 / (2 * float(prior_sd) ** 2)
        return float(-np.sum(z[rows, y_true] - np.log(np.exp(z).sum(axis=1))) + prior)

    found = minimize_scalar(log_loss, bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded",
                            options={"xatol": 1e-4})
    return float(math.exp(found.x))


def paired_verdict(y_codes, method, base) -> dict:
    """Whether the method's out-of-fold predictions beat the baseline's on the same labeled rows: judged by
    the rows the two got differently (McNemar's comparison: the method right and the baseline wrong on
    ``b`` rows, the reverse on ``c``; a difference of more than twice ``sqrt(b + c)`` is clear, about 95%)."""
    labeled = np.asarray(y_codes) >= 0
    right_m = np.asarray(method)[labeled] == np.asarray(y_codes)[labeled]
    right_b = np.asarray(base)[labeled] == np.asarray(y_codes)[labeled]
    b, c = int(np.sum(right_m & ~right_b)), int(np.sum(~right_m & right_b))
    n = int(labeled.sum())
    gap = (b - c) / max(n, 1)
    if b + c == 0:
        text = ("no clear difference from the same network on the labels alone: the two gave the same answer on "
                "every labeled row")
    elif b - c > 2 * math.sqrt(b + c):
        text = (f"the unlabeled rows helped: +{100 * gap:.1f} points over the same network on the labels alone, in "
                "the cross-validation")
    elif c - b > 2 * math.sqrt(b + c):
        text = (f"the unlabeled rows did NOT help: {100 * gap:.1f} points against the same network on the labels "
                "alone, in the cross-validation")
    else:
        text = (f"no clear difference from the same network on the labels alone ({100 * gap:+.1f} points; it "
                f"would need more than {200 * math.sqrt(b + c) / max(n, 1):.1f})")
    return {"text": text, "gap": gap, "method_only_right": b, "baseline_only_right": c}
