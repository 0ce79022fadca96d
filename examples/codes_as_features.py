"""Case study: autoencoder codes as features for classic classifiers (k-NN, random forest) on MNIST.

Dense autoencoders with codes of 2, 10 and 32 values learn from ``--ae-rows`` unlabeled training images
(their labels are never used). Then each classifier is trained on ``--labels`` labeled training images
(``fewlabel.datasets.labeled_subset``: stratified by class) and scored on the 10,000 test images, on
four kinds of features, each a scikit-learn ``Pipeline``:

* raw pixels (scaled to [0, 1]) -> classifier
* ``Autoencoder`` (one code size) -> classifier, for each of 2, 10 and 32
* ``FeatureUnion`` of the three autoencoders (codes concatenated, 2 + 10 + 32 = 44 values) -> classifier

The autoencoders enter the pipelines already trained (``sklearn.frozen.FrozenEstimator``), so fitting a
pipeline on the few labeled rows trains only the classifier; the encoders keep what they learned from
the unlabeled rows. Writes ``results.json`` (and prints a table) into ``--out``:

    python examples/codes_as_features.py [--labels 1000] [--ae-rows 10000] [--epochs 15] [--device auto]
                                         [--root FOLDER] [--out examples/figures/codes_as_features]

Needs MNIST (``fewlabel datasets`` says where it looks; FEWLABEL_DATA=folder works).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from fewlabel import Autoencoder, datasets

LATENTS = (2, 10, 32)


def pixels(X):
    """Images as flat rows of floats in [0, 1]."""
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1) / 255.0


def classifiers(seed: int, trees: int) -> dict:
    return {"knn": lambda: KNeighborsClassifier(n_neighbors=5),
            "random_forest": lambda: RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("examples/figures/codes_as_features"))
    p.add_argument("--labels", type=int, default=1000, help="labeled training rows the classifiers see (default 1000)")
    p.add_argument("--ae-rows", type=int, default=10_000, help="unlabeled training rows the autoencoders learn from "
                                                               "(default 10000)")
    p.add_argument("--epochs", type=int, default=15, help="autoencoder epochs (default 15)")
    p.add_argument("--hidden", type=int, default=256, help="the autoencoders' hidden layer (default 256)")
    p.add_argument("--trees", type=int, default=200, help="random forest size (default 200)")
    p.add_argument("--test-rows", type=int, help="score on this many test rows (default: all 10,000)")
    p.add_argument("--device", default="auto")
    p.add_argument("--root", type=Path, help="folder holding the MNIST files")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    t_start = time.perf_counter()
    X, y = datasets.load("mnist", split="train", root=args.root)
    Xt, yt = datasets.load("mnist", split="test", root=args.root)
    if args.test_rows is not None and args.test_rows < len(Xt):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(Xt), args.test_rows, replace=False))
        Xt, yt = Xt[keep], yt[keep]
    rng = np.random.default_rng(args.seed)
    unlabeled = X[np.sort(rng.choice(len(X), min(args.ae_rows, len(X)), replace=False))]
    # labeled_subset marks every row unlabeled (-1) except `labels` of them, stratified by class
    y_few = datasets.labeled_subset(y, args.labels, seed=args.seed)
    labeled = np.flatnonzero(y_few >= 0)
    X_lab, y_lab = X[labeled], y_few[labeled]

    encoders, ae_info = {}, []
    for latent in LATENTS:
        t0 = time.perf_counter()
        ae = Autoencoder(hidden=(args.hidden,), latent=latent, loss="bce", epochs=args.epochs, batch_size=128,
                         device=args.device, random_state=args.seed).fit(unlabeled)
        encoders[latent] = ae
        ae_info.append({"latent": latent, "architecture": f"784-{args.hidden}-{latent}, relu, sigmoid output, bce",
                        "final_loss": float(ae.history_.history["loss"][-1]),
                        "seconds": round(time.perf_counter() - t0, 1)})
        print(f"autoencoder 784-{args.hidden}-{latent}: loss {ae_info[-1]['final_loss']:.4f} "
              f"in {ae_info[-1]['seconds']:.0f} s", flush=True)

    features = {"raw pixels": lambda: FunctionTransformer(pixels)}
    for latent in LATENTS:
        features[f"autoencoder {latent}-d"] = lambda latent=latent: FrozenEstimator(encoders[latent])
    features["union 2+10+32"] = lambda: FeatureUnion(
        [(f"ae{latent}", FrozenEstimator(encoders[latent])) for latent in LATENTS])

    rows = []
    for fname, make_features in features.items():
        for cname, make_clf in classifiers(args.seed, args.trees).items():
            t0 = time.perf_counter()
            pipe = Pipeline([("features", make_features()), ("classifier", make_clf())])
            pipe.fit(X_lab, y_lab)
            acc = float(pipe.score(Xt, yt))
            rows.append({"features": fname, "classifier": cname, "accuracy": acc,
                         "seconds": round(time.perf_counter() - t0, 2)})
            print(f"{fname:18s} {cname:14s} test accuracy {acc:.4f}", flush=True)

    table = {r["features"]: {} for r in rows}
    for r in rows:
        table[r["features"]][r["classifier"]] = r["accuracy"]
    result = {"labels": args.labels, "ae_rows": int(len(unlabeled)), "test_rows": int(len(Xt)),
              "epochs": args.epochs, "seed": args.seed, "trees": args.trees, "autoencoders": ae_info,
              "accuracy": table, "runs": rows, "seconds": round(time.perf_counter() - t_start, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out / 'results.json'} ({result['seconds']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
