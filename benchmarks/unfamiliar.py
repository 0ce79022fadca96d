"""The classifier's unfamiliarity score: does it flag rows unlike anything it learned from, and leave the rest?

    python benchmarks/unfamiliar.py --data mnist --outliers fashion-mnist
    python benchmarks/unfamiliar.py --data fashion-mnist --outliers mnist

``SemiSupervisedClassifier()`` with its defaults on ``--rows`` training rows of ``--data`` with ``--labels``
labels; then its ``unfamiliarity`` on ``--test-rows`` test rows of ``--data`` (they should stay below 1) and of
``--outliers`` (they should be flagged). ``fit_unfamiliarity`` fits ``ReconstructionDetector()`` on the
classifier's training rows, as ``fewlabel classify`` does. Beside it, on the same rows, scikit-learn's
``IsolationForest`` on PCA-50 of the pixels (what a user would reach for). Reports each score's AUROC and the
share of each group flagged (the classifier at an unfamiliarity of 1, the forest by its ``predict``). Writes
``benchmarks/results/unfamiliar-<data>-<outliers>.json``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
from _timing import Clock, cpu_record

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    import fewlabel
    from fewlabel import datasets
    from fewlabel.metrics import auroc

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="mnist")
    p.add_argument("--outliers", default="fashion-mnist")
    p.add_argument("--root", default=None)
    p.add_argument("--rows", type=int, default=10000)
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--test-rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    kw = (lambda name: {"root": f"{args.root}/{name}"} if args.root else {})
    X, y = datasets.load(args.data, split="train", **kw(args.data))
    Xt, _ = datasets.load(args.data, split="test", **kw(args.data))
    Xo, _ = datasets.load(args.outliers, split="test", **kw(args.outliers))
    rng = np.random.default_rng(args.seed)
    rows = rng.choice(len(X), args.rows, replace=False)
    X, y = X[rows], y[rows]
    Xt, Xo = Xt[rng.choice(len(Xt), args.test_rows, replace=False)], Xo[rng.choice(len(Xo), args.test_rows, replace=False)]
    results = {}
    clf = fewlabel.SemiSupervisedClassifier(random_state=args.seed, verbose=False).fit(
        X, datasets.labeled_subset(y, args.labels, seed=args.seed))
    with Clock() as c:
        clf.fit_unfamiliarity(X)  # what fewlabel classify does: a ReconstructionDetector() on the same rows
    s_in, s_out = clf.unfamiliarity(Xt), clf.unfamiliarity(Xo)
    results["SemiSupervisedClassifier().fit_unfamiliarity(X)"] = {
        "auroc": auroc(s_in, s_out), "flagged_normal": float(np.mean(s_in >= 1)),
        "flagged_outliers": float(np.mean(s_out >= 1)), "fit": c.read()}
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    with Clock() as c:
        pca = PCA(50, random_state=args.seed).fit(X.reshape(len(X), -1) / 255.0)
        forest = IsolationForest(random_state=args.seed).fit(pca.transform(X.reshape(len(X), -1) / 255.0))
    f_in = -forest.score_samples(pca.transform(Xt.reshape(len(Xt), -1) / 255.0))
    f_out = -forest.score_samples(pca.transform(Xo.reshape(len(Xo), -1) / 255.0))
    results["IsolationForest on PCA-50"] = {
        "auroc": auroc(f_in, f_out),
        "flagged_normal": float(np.mean(forest.predict(pca.transform(Xt.reshape(len(Xt), -1) / 255.0)) == -1)),
        "flagged_outliers": float(np.mean(forest.predict(pca.transform(Xo.reshape(len(Xo), -1) / 255.0)) == -1)),
        "fit": c.read()}
    out = {"data": args.data, "outliers": args.outliers, "rows": args.rows, "labels": args.labels,
           "test_rows": args.test_rows, "cpu": cpu_record(), "results": results}
    path = RESULTS / f"unfamiliar-{args.data}-{args.outliers}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
