"""Your own data: how close ``fewlabel classify``'s estimate of accuracy comes to the truth, and what it costs.

    python benchmarks/own_data.py --data fashion-mnist --rows 3000 --labels 300 --seeds 0 1
    python benchmarks/own_data.py --data mnist --rows 3000 --labels 100
    python benchmarks/own_data.py --data digits --labels 50
    python benchmarks/own_data.py --data cancer --labels 20 --seeds 0 1 2

A partly labeled data set is made as a user has one: ``--rows`` rows drawn from the training split (all rows
for digits and scikit-learn's breast-cancer table), ``labeled_subset(y, labels, seed)`` of them keep their
label, the rest are unlabeled. ``fewlabel classify``'s own-data job runs on them with its defaults
(``fewlabel.tasks.own_data.label_rows``: the fit, the 3-fold cross-validation, predictions, model, report),
and the truth is measured on the unlabeled rows, whose labels were kept aside: for the default, for the same
network on the labels alone, and for a logistic regression on the same labels. Writes
``benchmarks/results/own_data-<data>-<rows>-<labels>.json`` with, per seed, each method's estimate, interval
and truth, the verdict, the seconds of the fit and of the whole job, and the CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _timing import Clock, cpu_record  # benchmarks/_timing.py (the script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str, root: str | None):
    from fewlabel import datasets

    if name == "cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        return X.astype(np.float32), y.astype(np.int64)
    if name == "digits":
        return datasets.load("digits")
    return datasets.load(name, split="train", **({"root": f"{root}/{name}"} if root else {}))


def main(argv=None):
    import torch

    import fewlabel
    from fewlabel import datasets
    from fewlabel.datasets.partial import PartlyLabeled
    from fewlabel.tasks.own_data import label_rows

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--root", default=None, help="folder holding <data>/ (default: fewlabel's search)")
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--labels", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    X_all, y_all = load(args.data, args.root)
    runs = []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(X_all), min(args.rows, len(X_all)), replace=False))
        X, y = X_all[rows], y_all[rows]
        few = datasets.labeled_subset(y, args.labels, seed=seed)
        names = [f"class {c:02d}" for c in range(int(y.max()) + 1)]
        data = PartlyLabeled(X=X, y=few, class_names=names, row_names=[str(i) for i in range(len(X))],
                             source=f"{args.data} ({len(X)} rows, seed {seed})", kind="arrays")
        unl = few < 0
        with tempfile.TemporaryDirectory() as tmp:
            result = label_rows(data, {"random_state": seed, "verbose": False}, Path(tmp), folds=args.folds,
                                seed=seed, log=lambda *a: None)
            model = fewlabel.load(Path(tmp) / "model")
        truth = {"default": float(np.mean(model.predict(X[unl]) == np.asarray(names)[y[unl]]))}
        with Clock() as twin_clock:
            twin = fewlabel.SemiSupervisedClassifier(propagate=None, random_state=seed, verbose=False).fit(X, few)
        truth["same network, labels alone"] = float(np.mean(twin.predict(X[unl]) == y[unl]))
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        flat = X.reshape(len(X), -1).astype(np.float32) * np.float32(1 / 255 if X.dtype == np.uint8 else 1)
        lr = LogisticRegression(max_iter=2000)
        lr = lr if X.dtype == np.uint8 else make_pipeline(StandardScaler(), lr)
        truth["LogisticRegression"] = float(np.mean(lr.fit(flat[~unl], y[~unl]).predict(flat[unl]) == y[unl]))
        est = result["estimates"]
        run = {"seed": seed, "rows": int(len(X)), "labels": int((~unl).sum()), "route": result["route"],
               "methods": {name: {"estimate": m["accuracy"], "interval": m["interval"], "truth": truth[name],
                                  "error": m["accuracy"] - truth[name],
                                  "truth_in_interval": m["interval"][0] <= truth[name] <= m["interval"][1]}
                           for name, m in est["methods"].items()},
               "verdict": est["verdict"]["text"], "true_gap": truth["default"] - truth["same network, labels alone"],
               "times": result["times"], "cost_ratio": result["cost_ratio"], "twin_fit": twin_clock.read()}
        runs.append(run)
        print(json.dumps(run), flush=True)
    out = {"data": args.data, "rows": args.rows, "labels": args.labels, "folds": args.folds, "cpu": cpu_record(),
           "threads": torch.get_num_threads(), "torch": torch.__version__, "runs": runs}
    path = args.out or RESULTS / f"own_data-{args.data}-{args.rows}-{args.labels}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
