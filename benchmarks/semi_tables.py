"""``SemiSupervisedClassifier()`` on scikit-learn's small tables with few labels, beside the classifier with other
settings and a scaled logistic regression on the same labels, in the same run.

For each table (wine with 15 labels, iris with 15, breast cancer with 40) and each seed: a stratified 25% of the
rows is held out (by the seed), ``labeled_subset(y, N, seed)`` keeps N labels of the rest, every other training
row is unlabeled. Methods:
  default      SemiSupervisedClassifier(random_state=seed)
  compared     the same with ``--compare`` (JSON; default: the previous default,
               ``{"epochs": 5, "schedule": null, "min_steps": 200}``)
  logreg       StandardScaler + LogisticRegression on the labeled rows
Accuracy on the held-out rows. Writes ``benchmarks/results/semi_tables-<cpu>.json``.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/semi_tables.py --seeds 0 1 2
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

TABLES = {"wine": 15, "iris": 15, "breast_cancer": 40}
PREVIOUS = {"epochs": 5, "schedule": None, "min_steps": 200}


def run_table(name: str, labels: int, seed: int, compare: dict) -> dict:
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fewlabel import SemiSupervisedClassifier
    from fewlabel.datasets import labeled_subset

    d = getattr(datasets, f"load_{name}")()
    X, y = d.data.astype(np.float32), d.target
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    few = labeled_subset(ytr, labels, seed=seed)
    keep = few >= 0
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr[keep], few[keep])
    return {"test_rows": int(len(yte)),
            "default": float(SemiSupervisedClassifier(random_state=seed).fit(Xtr, few).score(Xte, yte)),
            "compared": float(SemiSupervisedClassifier(random_state=seed, **compare).fit(Xtr, few).score(Xte, yte)),
            "logreg": float(logreg.score(Xte, yte))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", nargs="+", choices=sorted(TABLES), default=list(TABLES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--compare", default=json.dumps(PREVIOUS),
                   help="SemiSupervisedClassifier settings of the compared column, as JSON")
    p.add_argument("--out", type=Path, help="results file (default benchmarks/results/semi_tables-<cpu>.json)")
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    warnings.filterwarnings("ignore")
    compare = json.loads(args.compare)
    results = {"cpu": cpu_record(), "seeds": args.seeds, "compared": compare, "tables": {}}
    for name in args.tables:
        runs = results["tables"][name] = {"labels": TABLES[name], "seeds": {}}
        for seed in args.seeds:
            r = runs["seeds"][str(seed)] = run_table(name, TABLES[name], seed, compare)
            print(name, seed, json.dumps(r), flush=True)
    out = args.out or HERE / "results" / f"semi_tables-{cpu_slug()}.json"
    out.write_text(json.dumps(results, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
