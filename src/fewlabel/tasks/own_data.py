"""The job users come for: partly labeled data in, a label for every row and a saved model out.

:func:`label_rows` trains the default classifier on the labels as given plus every unlabeled row, estimates
its accuracy from the labeled rows alone (:mod:`fewlabel.tasks.estimate`, with the same network on the labels
alone and a logistic regression on the same folds), and writes into a folder:

* ``predictions.csv``: one row per unlabeled row: its name (file or row), ``label``, ``confidence``,
  ``margin`` to the second class, ``unfamiliar`` (1 or more: the row resembles no training row) and
  ``flagged``;
* ``model/``: the classifier (``fewlabel.load``; ``fewlabel predict``), which records its class names, what
  it was trained on and these estimates;
* ``metrics.json`` and ``report.html`` (the estimates, the folds' confusion matrix, the least confident
  predictions, a 2-D map of the rows coloured by label) with its ``figures/``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fewlabel.datasets.partial import PartlyLabeled
from fewlabel.errors import InputError
from fewlabel.tasks.estimate import cross_validate

#: How many of the least confident predictions the report shows.
LEAST_CONFIDENT = 32
#: At most this many rows are drawn on the report's 2-D map.
MAP_POINTS = 5_000

PREDICTION_COLUMNS = ("label", "confidence", "margin", "unfamiliar", "flagged")


def estimate_summary(cv: dict | None, fit_seconds: float) -> dict | None:
    """What the model keeps of the cross-validation (no per-row predictions); ``per_class``: each class's labeled
    rows and how many of them the method got right with their label hidden (the folds' confusion matrix's row and
    diagonal), where an overall estimate hides a class the method loses."""
    if cv is None:
        return None
    confusion = np.asarray(cv["confusion"])
    per_class = {name: {"labeled": int(confusion[i].sum()), "right": int(confusion[i, i])}
                 for i, name in enumerate(cv["class_names"])}
    return {"folds": cv["folds"], "fold_steps": cv["fold_steps"], "labeled_rows": cv["labeled_rows"],
            "methods": cv["methods"], "verdict": cv.get("verdict"), "fit_seconds": round(fit_seconds, 2),
            "temperature": cv["temperature"], "temperature_rows": cv["temperature_rows"],
            "temperature_prior_sd": cv["temperature_prior_sd"], "per_class": per_class}


def hardest_classes_text(estimates: dict | None, most: int = 3) -> str | None:
    """One line naming the (at most ``most``) classes the method got right least often with their labels hidden,
    where some class fell below the overall estimate; None otherwise (or where no estimate kept them)."""
    per_class = None if not estimates else estimates.get("per_class")
    if not per_class:
        return None
    overall = estimates["methods"]["default"]["accuracy"] if "default" in estimates["methods"] else None
    scored = [(c["right"] / c["labeled"], name, c) for name, c in per_class.items() if c["labeled"]]
    below = sorted(r for r in scored if overall is None or r[0] < overall)[:most]
    if not below:
        return None
    return ("the classes the held-out labels found hardest: " + ", ".join(
        f"{name} {c['right']} of {c['labeled']} right" for _, name, c in below)
        + ": the classes to label more rows of first")


def label_rows(data: PartlyLabeled, params: dict, out: Path, *, folds: int = 3, fold_steps=None, seed: int = 0,
               calibrate: bool = True, log=print) -> dict:
    """Train, estimate, predict and write (see the module docstring); returns what ``metrics.json`` holds.

    ``params``: the :class:`~fewlabel.SemiSupervisedClassifier` parameters. ``folds``: the cross-validation's
    folds (0: no estimate). ``fold_steps``: each fold network's optimizer steps (None: as many as the full
    fit's networks made, shared out as the full fit's are). ``calibrate``: take every confidence (the
    predictions, the saved model's answers) at the temperature fitted on the estimate's out-of-fold
    probabilities (:func:`~fewlabel.tasks.estimate.fit_temperature`); without an estimate there is none."""
    from fewlabel import io
    from fewlabel.apply import write_table
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    out = Path(out)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 0 or folds == 1:
        raise InputError(f"folds must be 0 (no estimate) or at least 2, got {folds!r}")
    times = {}
    t0, c0 = time.perf_counter(), time.process_time()
    model = SemiSupervisedClassifier(**params).fit(data.X, data.labels)
    times["fit"] = {"seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - c0, 2),
                    "phases": model.times_}
    log(f"trained the classifier in {times['fit']['seconds']:.0f} s ({_route(model)})")
    t1, c1 = time.perf_counter(), time.process_time()
    model.fit_unfamiliarity(data.X)  # the detector behind the unfamiliar column, on the same rows
    times["unfamiliarity detector"] = {"seconds": round(time.perf_counter() - t1, 2),
                                       "cpu_seconds": round(time.process_time() - c1, 2)}

    cv = None
    if folds:
        t1, c1 = time.perf_counter(), time.process_time()
        cv = cross_validate(data.X, data.y, data.class_names, params, folds=folds, fold_steps=fold_steps, seed=seed,
                            embedding=getattr(model, "embedding_", None), route_record=getattr(model, "route_", None),
                            log=log)
        times["estimate"] = {"seconds": round(time.perf_counter() - t1, 2),
                             "cpu_seconds": round(time.process_time() - c1, 2)}
    model.estimates_ = estimate_summary(cv, times["fit"]["seconds"])
    if cv is not None and calibrate:
        # the folds' models are the method itself, each scored on labels it never saw: the temperature that makes
        # their probabilities honest there is what the final model's confidences are taken at
        model.calibrate(cv["temperature"])
        log(calibration_text(model.estimates_))
    model.training_data_.update(data.record())

    unlabeled = np.flatnonzero(~data.labeled)
    details = model.predict_details(data.X[unlabeled]) if len(unlabeled) else {c: np.zeros(0) for c in
                                                                                PREDICTION_COLUMNS}
    names = [data.row_names[i] for i in unlabeled]
    write_table(out / "predictions.csv", data.row_name_column, names, details)
    io.save(model, out / "model")

    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    drawn = _figures(data, model, cv, unlabeled, details, figures, seed)
    times["total"] = {"seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - c0, 2)}
    flagged = details.get("flagged")
    result = {
        "data": {"source": data.source, "kind": data.kind, "rows": int(len(data.y)), "shape": list(data.X.shape[1:]),
                 "labeled": int(data.labeled.sum()), "unlabeled": int(len(unlabeled)),
                 "class_counts": data.class_counts(), "notes": data.notes},
        "route": _route(model), "route_record": getattr(model, "route_", None), "estimates": model.estimates_,
        "temperature": getattr(model, "temperature_", None),
        "predictions": {"file": "predictions.csv", "rows": int(len(unlabeled)),
                        "flagged": None if flagged is None else int(np.sum(flagged)),
                        "predicted_counts": _counts(details["label"], data.class_names),
                        "mean_confidence": float(np.mean(details["confidence"])) if len(unlabeled) else None},
        "least_confident": _least_confident(names, details),
        "times": times, "cost_ratio": round(times["total"]["seconds"] / max(times["fit"]["seconds"], 1e-9), 2),
        "figures": drawn, "model": "model",
    }
    from fewlabel.report import write_own_data_report
    from fewlabel.train.state import write_json_atomic

    write_json_atomic(out / "metrics.json", result)
    write_own_data_report(result, figures, out / "report.html")
    return result


def _route(model) -> str:
    info = getattr(model, "propagation_", None)
    if not info:
        return "trained on the labels alone (nothing to propagate)"
    record = info.get("route") or {}
    scores = record.get("scores")
    measured = "" if not scores else " (scored on " + record["how"] + ": " + ", ".join(
        f"{name} {100 * s['accuracy']:.1f}%" for name, s in scores.items()) + ")"
    model = " (the model on the labels: a logistic regression)" if record.get("labels_model") == "linear" else ""
    return (f"labels propagated through the clusters of a {info['embedding'].upper()} map "
            f"(their leave-one-out accuracy {info['cluster_accuracy']:.2f}); route: {info['led_by']}{model}{measured}; "
            f"then {info['second']}")


def calibration_text(estimates: dict | None) -> str | None:
    """One sentence on the temperature the confidences are taken at (None where no estimate fitted one)."""
    t = None if not estimates else estimates.get("temperature")
    if t is None:
        return None
    how = ("about as sure as they proved right" if abs(t - 1.0) < 0.05 else
           "surer than they proved right: confidences are softened" if t > 1 else
           "less sure than they proved right: confidences are sharpened")
    return (f"confidences calibrated on the estimate's {estimates['temperature_rows']:,} held-out labels: temperature "
            f"{t:.2f} (the folds' models were {how})")


def _counts(labels, class_names) -> dict:
    values, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist()))
    return {name: int(found.get(name, 0)) for name in class_names}


def _least_confident(names, details, n: int = LEAST_CONFIDENT) -> list[dict]:
    order = np.argsort(details["confidence"], kind="stable")[:n]
    return [{"name": names[i], "label": str(details["label"][i]), "confidence": float(details["confidence"][i]),
             "margin": float(details["margin"][i]),
             **({"unfamiliar": float(details["unfamiliar"][i])} if "unfamiliar" in details else {})} for i in order]


def _figures(data, model, cv, unlabeled, details, figures: Path, seed: int) -> list[str]:
    import matplotlib.pyplot as plt

    from fewlabel import plots

    drawn = []
    if cv is not None:
        fig = plots.confusion_matrix(np.asarray(cv["confusion"]), class_names=data.class_names,
                                     path=figures / "confusion_matrix.png",
                                     title=f"labeled rows, each predicted by the fold that hid its label "
                                           f"({cv['folds']} folds)")
        plt.close(fig)
        drawn.append("confusion_matrix.png")
    if len(unlabeled) and data.X.ndim in (3, 4):  # images: show them
        order = np.argsort(details["confidence"], kind="stable")[:LEAST_CONFIDENT]
        titles = [f"{details['label'][i]} {details['confidence'][i]:.2f}" for i in order]
        fig = plots.image_grid(data.X[unlabeled[order]], ncols=8, titles=titles, path=figures / "least_confident.png",
                               title="the least confident predictions (label, confidence)")
        plt.close(fig)
        drawn.append("least_confident.png")
    drawn.append(_map(data, model, figures, seed))
    return [d for d in drawn if d]


def _map(data, model, figures: Path, seed: int) -> str | None:
    """The rows' features in 2-D (UMAP when installed, else PCA), coloured by label: the given label for
    labeled rows, the predicted one for the rest."""
    import matplotlib.pyplot as plt

    from fewlabel import plots
    from fewlabel.tasks.cluster import subsample
    from fewlabel.tasks.manifold import reduce, umap_available

    if len(data.y) < 5:
        return None
    rows = subsample(len(data.y), MAP_POINTS, None, seed)
    F = model.features(data.X[rows])
    method = "umap" if umap_available() and len(rows) >= 50 else "pca"
    P = reduce(F, method=method, n_components=2, n_neighbors=min(15, len(rows) - 1), min_dist=0.1, random_state=seed)
    labels = np.asarray(model.predict(data.X[rows]), dtype=object)
    given = data.labeled[rows]
    labels[given] = np.asarray(data.class_names, dtype=object)[data.y[rows][given]]
    index = np.searchsorted(np.asarray(data.class_names), np.asarray(labels, dtype=str))
    fig = plots.latent_scatter(P, index, class_names=[data.class_names[i] for i in np.unique(index)],
                               title=f"{len(rows):,} rows, the classifier's features by {method.upper()}: the given "
                                     "label, else the predicted one")
    fig.savefig(figures / "map.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return "map.png"
