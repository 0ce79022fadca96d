"""Tables of the user's kind (columns in their own units): fewlabel's clusterer and detectors with their defaults,
which centre and scale the columns, beside the same with ``standardize=False`` and the peers a user would pick,
in the same run.

For each of scikit-learn's wine, breast-cancer and iris tables and each seed:
- clustering (k = the classes): ``ClusterModel(k, random_state=seed)`` as ``fewlabel cluster`` fits it, the same
  with ``standardize=False``, k-means on the raw columns and on StandardScaler's (NMI);
- outliers: fitted on 60% of one class (drawn by the seed), the other classes are the outliers:
  ``ReconstructionDetector()`` and with ``standardize=False``, IsolationForest, and PyOD's AutoEncoder when pyod
  is installed (AUROC);
- one autoencoder per class, 40% of each table held out (stratified by the seed): ``ClassAutoencoderClassifier()``
  and with ``standardize=False``, StandardScaler + LogisticRegression (accuracy);
- codes: the default encoder of ``fewlabel pretrain``, ``map`` and ``cluster``
  (``tasks.cluster.default_encoder(len(X), random_state=seed)``: ``Autoencoder()`` trained at least 600 steps), the
  same with ``standardize=False``, and ``Autoencoder(random_state=seed)`` as the Python API fits it (30 epochs),
  beside the raw columns, StandardScaler's, and PCA's first 10 components (at most the
  columns) of StandardScaler's: each scored by 5-fold 5-nearest-neighbour accuracy and k-means NMI (k = the
  classes, 10 starts).

Writes ``benchmarks/results/own_tables-<cpu>.json``.

    python benchmarks/own_tables.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TABLES = ("wine", "breast_cancer", "iris")
#: the class fitted on as normal rows in the outlier runs
NORMAL = {"wine": 0, "breast_cancer": 1, "iris": 0}


def load(name: str):
    from sklearn import datasets

    d = getattr(datasets, f"load_{name}")()
    return d.data.astype(np.float32), d.target


def cluster_scores(X, y, seed: int, parts) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score as nmi
    from sklearn.preprocessing import StandardScaler

    from fewlabel.tasks.clusterer import ClusterModel

    k = len(np.unique(y))
    out = {"kmeans_raw": nmi(y, KMeans(k, n_init=10, random_state=seed).fit_predict(X)),
           "kmeans_scaled": nmi(y, KMeans(k, n_init=10, random_state=seed).fit_predict(StandardScaler().fit_transform(X)))}
    if "fewlabel" in parts:
        out["fewlabel_default"] = nmi(y, ClusterModel(k, random_state=seed).fit(X).labels_)
        out["fewlabel_unscaled"] = nmi(y, ClusterModel(k, standardize=False, random_state=seed).fit(X).labels_)
    return out


def detect_scores(X, y, normal: int, seed: int) -> dict:
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    from fewlabel.tasks.detect import ReconstructionDetector

    rows = np.random.default_rng(seed).permutation(np.flatnonzero(y == normal))
    cut = int(0.6 * len(rows))
    train, test = rows[:cut], np.concatenate([rows[cut:], np.flatnonzero(y != normal)])
    outlier = y[test] != normal
    out = {"fewlabel_default": roc_auc_score(outlier, ReconstructionDetector(random_state=seed).fit(X[train])
                                             .anomaly_score(X[test])),
           "fewlabel_unscaled": roc_auc_score(outlier, ReconstructionDetector(standardize=False, random_state=seed)
                                              .fit(X[train]).anomaly_score(X[test])),
           "isolation_forest": roc_auc_score(outlier, -IsolationForest(random_state=seed).fit(X[train])
                                             .score_samples(X[test]))}
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        return out
    try:
        out["pyod_autoencoder"] = roc_auc_score(outlier, AutoEncoder(random_state=seed, verbose=0).fit(X[train])
                                                .decision_function(X[test]))
    except Exception as e:  # pyod's own failure (e.g. too few rows for its batch) is recorded, not fatal
        out["pyod_autoencoder"] = f"failed: {type(e).__name__}: {e}"
    return out


def per_class_scores(X, y, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fewlabel import ClassAutoencoderClassifier

    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
    return {"fewlabel_default": ClassAutoencoderClassifier(random_state=seed).fit(Xtr, ytr).score(Xte, yte),
            "fewlabel_unscaled": ClassAutoencoderClassifier(standardize=False, random_state=seed).fit(Xtr, ytr)
            .score(Xte, yte),
            "scaled_logistic_regression": make_pipeline(StandardScaler(), LogisticRegression()).fit(Xtr, ytr)
            .score(Xte, yte)}


def code_scores(X, y, seed: int) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import normalized_mutual_info_score as nmi
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    from fewlabel import Autoencoder
    from fewlabel.tasks.cluster import default_encoder

    k = len(np.unique(y))
    scaled = StandardScaler().fit_transform(X)
    pca = PCA(min(10, X.shape[1]), random_state=seed).fit_transform(scaled)
    codes = {"raw": X, "scaled": scaled, "pca10_scaled": pca,
             "fewlabel_default": default_encoder(len(X), random_state=seed).fit(X).transform(X),
             "fewlabel_unscaled": default_encoder(len(X), standardize=False, random_state=seed).fit(X).transform(X),
             "autoencoder_30_epochs": Autoencoder(random_state=seed).fit(X).transform(X)}
    return {name: {"knn_accuracy": float(cross_val_score(KNeighborsClassifier(5), Z, y, cv=5).mean()),
                   "kmeans_nmi": float(nmi(y, KMeans(k, n_init=10, random_state=seed).fit_predict(Z)))}
            for name, Z in codes.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--parts", nargs="+", choices=["cluster", "fewlabel", "detect", "per_class", "codes"],
                   default=["cluster", "fewlabel", "detect", "per_class", "codes"],
                   help="what to run ('fewlabel': the clusterer itself, the slow part; 'cluster': its peers)")
    p.add_argument("--out", type=Path, help="results file (default benchmarks/results/own_tables-<cpu>.json)")
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    warnings.filterwarnings("ignore")
    results = {"cpu": cpu_record(), "seeds": args.seeds, "tables": {}}
    for name in args.tables:
        X, y = load(name)
        runs = results["tables"][name] = {"rows": int(len(X)), "columns": int(X.shape[1]), "seeds": {}}
        for seed in args.seeds:
            r = runs["seeds"][str(seed)] = {}
            if "cluster" in args.parts or "fewlabel" in args.parts:
                r["cluster_nmi"] = cluster_scores(X, y, seed, args.parts)
            if "detect" in args.parts:
                r["detect_auroc"] = detect_scores(X, y, NORMAL[name], seed)
            if "per_class" in args.parts:
                r["per_class_accuracy"] = per_class_scores(X, y, seed)
            if "codes" in args.parts:
                r["codes"] = code_scores(X, y, seed)
            print(name, seed, json.dumps(r), flush=True)
    out = args.out or HERE / "results" / f"own_tables-{cpu_slug()}.json"
    out.write_text(json.dumps(results, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
