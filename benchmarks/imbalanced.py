"""Partly labeled data whose classes are not equally common: ``SemiSupervisedClassifier()`` beside the peers a
user would pick, every unlabeled row scored.

A user's own folder rarely holds as many rows of each class. Each draw takes ``--rows`` training images whose
class sizes fall geometrically from the most common class to the rarest, ``--ratio`` times smaller (the long
tail of CIFAR-10-LT; which class is rarest is drawn by the seed), labels ``--labels`` of them as a user who
labels the rows in front of them would (``labeled_subset``: each class's share of the labels is its share of the
rows, at least one), and scores every unlabeled row: accuracy, balanced accuracy (the mean of the classes'
recalls, where every class counts alike), the recall of the three rarest classes, and macro F1.

Methods, each on the same labels:
  fewlabel_default      SemiSupervisedClassifier(random_state=seed), nothing else set
  fewlabel_compared     the same with ``--params`` (JSON), when given
  supervised_baseline   the same network on the labels alone (propagate=None)
  logistic_regression   scikit-learn, pixels scaled to [0, 1]
  label_spreading_pca50 scikit-learn LabelSpreading (kNN, 10 neighbours) on PCA-50 of the pixels

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/imbalanced.py \\
        --data fashion-mnist --rows 3000 --labels 300 --ratio 10 --seeds 0 1 2

Writes ``benchmarks/results/imbalanced-<data>-<rows>-<labels>-ratio<R>-<cpu>.json`` (or ``--out``), each draw
as it finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def long_tail(y: np.ndarray, rows: int, ratio: float, seed: int) -> np.ndarray:
    """Indices of ``rows`` rows of ``y`` whose class sizes fall geometrically by ``ratio`` from the most common
    class to the rarest (the classes' order drawn by ``seed``)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    order = rng.permutation(classes)
    share = ratio ** (-np.arange(len(classes)) / max(len(classes) - 1, 1))
    sizes = np.maximum(1, np.floor(rows * share / share.sum()).astype(int))
    sizes[0] += rows - sizes.sum()
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False)
                                   for c, n in zip(order, sizes)]))


def scores(y_true: np.ndarray, y_pred: np.ndarray, rare: np.ndarray) -> dict:
    from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

    recalls = recall_score(y_true, y_pred, labels=rare, average=None, zero_division=0)
    return {"accuracy": round(float(np.mean(y_true == y_pred)), 4),
            "balanced_accuracy": round(float(balanced_accuracy_score(y_true, y_pred)), 4),
            "rare_recall": round(float(np.mean(recalls)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4)}


def run(name: str, rows: int, labels: int, ratio: float, seed: int, root, params: dict | None,
        skip_peers: bool) -> dict:
    from _timing import Clock
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import LabelSpreading

    from fewlabel import SemiSupervisedClassifier, datasets

    X0, y0 = datasets.load(name, split="train", root=None if root is None else Path(root) / name)
    pick = long_tail(y0, rows, ratio, seed)
    X, y = X0[pick], y0[pick]
    few = datasets.labeled_subset(y, labels, seed=seed)
    unl = few < 0
    counts = np.bincount(y, minlength=int(y.max()) + 1)
    rare = np.argsort(counts)[:3]
    out = {"seed": seed, "class_rows": counts.tolist(), "class_labels": np.bincount(few[~unl]).tolist(),
           "rarest": rare.tolist(), "methods": {}}

    def record(tag, fit_predict):
        c = Clock()
        pred = fit_predict()
        out["methods"][tag] = {**scores(y[unl], pred, rare), **c.read()}
        print(name, seed, tag, json.dumps(out["methods"][tag]), flush=True)

    def fewlabel(**kw):
        def go():
            model = SemiSupervisedClassifier(random_state=seed, **kw).fit(X, few)
            if kw == {}:
                out["route"] = {k: v for k, v in (model.route_ or {}).items() if k in ("route", "second")}
            return model.predict(X[unl])
        return go

    record("fewlabel_default", fewlabel())
    if params:
        record("fewlabel_compared", fewlabel(**params))
    if not skip_peers:
        record("supervised_baseline", fewlabel(propagate=None))
        F = X.reshape(len(X), -1).astype(np.float32) / 255.0
        record("logistic_regression",
               lambda: LogisticRegression(max_iter=1000).fit(F[~unl], y[~unl]).predict(F[unl]))

        def spreading():
            P = PCA(min(50, F.shape[1]), random_state=0).fit_transform(F)
            return LabelSpreading(kernel="knn", n_neighbors=10, max_iter=100).fit(P, few).transduction_[unl]
        record("label_spreading_pca50", spreading)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--labels", type=int, default=300)
    p.add_argument("--ratio", type=float, default=10.0, help="the most common class's rows over the rarest's")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--params", type=json.loads, default=None, help="JSON settings for a compared classifier")
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding the data sets' folders")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    from fewlabel.train.state import write_json_atomic

    warnings.filterwarnings("ignore")
    out = args.out or HERE / "results" / (f"imbalanced-{args.data}-{args.rows}-{args.labels}-ratio{args.ratio:g}-"
                                          f"{cpu_slug()}.json")
    # the settings that decide the figures (not where the data or the results lie on this machine)
    report = {"cpu": cpu_record(), "settings": {k: str(v) for k, v in vars(args).items() if k not in ("root", "out")},
              "runs": []}
    for seed in args.seeds:
        report["runs"].append(run(args.data, args.rows, args.labels, args.ratio, seed, args.root, args.params,
                                  args.skip_peers))
        write_json_atomic(out, report)
    methods = report["runs"][0]["methods"]
    report["summary"] = {tag: {k: round(float(np.mean([r["methods"][tag][k] for r in report["runs"]])), 4)
                               for k in ("accuracy", "balanced_accuracy", "rare_recall", "macro_f1")}
                         for tag in methods}
    for tag, s in report["summary"].items():
        print(f"{tag}: " + ", ".join(f"{k} {v:.3f}" for k, v in s.items()), flush=True)
    write_json_atomic(out, report)
    return report


if __name__ == "__main__":
    main()
