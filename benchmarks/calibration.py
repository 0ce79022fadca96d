"""Are ``fewlabel classify``'s confidences as sure as its labels prove right? The default classifier with and
without the temperature its accuracy estimate fits (``fit_temperature`` on the folds' out-of-fold
probabilities, as ``fewlabel classify`` does), scored on the unlabeled rows' true labels.

For each data set and seed: ``SemiSupervisedClassifier(random_state=seed)`` fitted on the rows with N labels
(``labeled_subset``), the command's three-fold estimate on the same rows (``cross_validate``, sharing the full
fit's map and route), then on every unlabeled row: accuracy, mean confidence, the expected calibration error
(ten bins of confidence) and the log-loss, with the network's own probabilities and at the fitted temperature
(``--folds``: the estimate's folds, 3 as the command's), and the same for a logistic regression on the same labels
(pixels scaled to [0, 1], table columns standardised: the estimate's own peer).
Images: ``ROWS`` training images drawn by the seed; tables: ``benchmarks/semi_tables.py``'s, every row.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/calibration.py \\
        --runs fashion-mnist:300:0 fashion-mnist:300:1 mnist:100:0 wine:15:0 wine:15:1 breast_cancer:20:0 \\
        digits:50:0 seattle:100:0 seattle_measures:100:1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ROWS = 3000
IMAGES = ("mnist", "fashion-mnist")


def calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    b = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(np.mean(b == i) * abs(right[b == i].mean() - confidence[b == i].mean())
                     for i in range(bins) if np.any(b == i)))


def scores(proba: np.ndarray, y: np.ndarray) -> dict:
    right = proba.argmax(axis=1) == y
    confidence = proba.max(axis=1)
    return {"mean_confidence": round(float(confidence.mean()), 4),
            "calibration_error": round(calibration_error(confidence, right), 4),
            "log_loss": round(float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)))), 4)}


def load(name: str, seed: int, root):
    from fewlabel import datasets

    if name in IMAGES:
        X, y = datasets.load(name, root=None if root is None else Path(root) / name)
        rows = np.random.default_rng(seed).choice(len(X), ROWS, replace=False)
        return X[rows], y[rows]
    from semi_tables import load_table

    return load_table(name)


def run(name: str, labels: int, seed: int, root, folds: int = 3) -> dict:
    from fewlabel import SemiSupervisedClassifier
    from fewlabel.datasets import labeled_subset
    from fewlabel.tasks.estimate import cross_validate
    from fewlabel.tasks.linear import linear_probabilities

    X, y = load(name, seed, root)
    few = labeled_subset(y, labels, seed=seed)
    t0 = time.process_time()
    model = SemiSupervisedClassifier(random_state=seed).fit(X, few)
    cv = cross_validate(X, few, [str(c) for c in range(int(few.max()) + 1)], {"random_state": seed}, folds=folds,
                        seed=seed, embedding=getattr(model, "embedding_", None),
                        route_record=getattr(model, "route_", None), baselines=False)
    unl = few < 0
    y_unl = np.searchsorted(model.classes_, y[unl])
    raw = model.predict_proba(X[unl])
    calibrated = model.calibrate(cv["temperature"]).predict_proba(X[unl])
    labeled = few >= 0
    oof_right = cv["out_of_fold_proba"][labeled].argmax(axis=1) == few[labeled]
    # the peer a user would fit instead: a logistic regression on the same labels (the estimate's own)
    peer = linear_probabilities(X, few, np.flatnonzero(labeled), np.flatnonzero(unl), len(model.classes_), seed,
                                scale=1 / 255 if X.dtype == np.uint8 else 1.0, scale_columns=X.dtype != np.uint8)
    return {"data": name, "labels": labels, "seed": seed, "rows": int(len(y)), "folds": cv["folds"],
            "accuracy": round(float(np.mean(raw.argmax(axis=1) == y_unl)), 4),
            "estimate": round(float(oof_right.mean()), 4), "temperature": round(cv["temperature"], 4),
            "temperature_rows": cv["temperature_rows"], "own": scores(raw, y_unl),
            "calibrated": scores(calibrated, y_unl),
            "logistic_regression": {"accuracy": round(float(np.mean(peer.argmax(axis=1) == y_unl)), 4),
                                    **scores(peer, y_unl)},
            "cpu_s": round(time.process_time() - t0, 1)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, metavar="DATA:LABELS:SEED")
    p.add_argument("--folds", type=int, default=3, help="the estimate's folds (the command's default: 3)")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding the data sets' folders")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    from fewlabel.train.state import write_json_atomic

    warnings.filterwarnings("ignore")
    out = args.out or HERE / "results" / f"calibration-{cpu_slug()}.json"
    report = {"cpu": cpu_record(), "runs": []}
    for spec in args.runs:
        name, labels, seed = spec.split(":")
        r = run(name, int(labels), int(seed), args.root, args.folds)
        report["runs"].append(r)
        print(json.dumps(r), flush=True)
        write_json_atomic(out, report)
    return report


if __name__ == "__main__":
    main()
