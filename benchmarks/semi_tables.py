"""``SemiSupervisedClassifier()`` on scikit-learn's small tables with few labels, beside the classifier with other
settings and a scaled logistic regression on the same labels, in the same run.

For each table (wine with 15 labels, iris with 15, breast cancer with 40, the bundled digits as a table of 64
columns with 50) and each seed: a stratified 25% of the rows is held out (by the seed), ``labeled_subset(y, N,
seed)`` keeps N labels of the rest, every other training row is unlabeled. Methods:
  default      SemiSupervisedClassifier(random_state=seed)
  compared     the same with ``--compare`` (JSON; default: the previous default, the network as the only model
               on the labels alone: ``{"route_params": {"linear": false}}``)
  logreg       StandardScaler + LogisticRegression on the labeled rows
  spreading    StandardScaler + LabelSpreading(kernel="knn") on every training row (with ``--every-row``)
Accuracy on the held-out rows. Writes ``benchmarks/results/semi_tables-<cpu>.json``.

``--every-row``: the way a user meets it instead: no rows held out, every unlabeled row scored (the classifier's
own answers for the rows it learned from), the seeds drawing the labels; ``moons`` and ``circles`` (1,000 rows of
scikit-learn's two moons and two circles, noise 0.1, with 4 columns of noise beside them, 20 labels) are tables
whose classes are not linear; ``seattle`` is Seattle's daily weather 2012-2015 (``tests/data/seattle_weather.csv``,
1,461 days, the day's weather as the label, 100 labels) with its date read as ``fewlabel``'s ``--dates date`` reads
it, and ``seattle_measures`` the same days with their four measures alone.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/semi_tables.py --seeds 0 1 2
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/semi_tables.py --every-row --seeds 0 1 2 3 4 5 \
        --tables wine breast_cancer iris digits moons circles --labels breast_cancer=20
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/semi_tables.py --every-row --seeds 0 1 2 3 4 5 \
        --tables seattle seattle_measures
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

TABLES = {"wine": 15, "iris": 15, "breast_cancer": 40, "digits": 50}
SHAPES = {"moons": 20, "circles": 20}
DATED = {"seattle": 100, "seattle_measures": 100}
SEATTLE = HERE.parent / "tests" / "data" / "seattle_weather.csv"
PREVIOUS = {"route_params": {"linear": False}}


def load_table(name: str):
    from sklearn import datasets

    if name in DATED:
        from fewlabel.datasets.tables import read_table_parts

        measures = ["precipitation", "temp_max", "temp_min", "wind"]
        parts = read_table_parts(SEATTLE, label_column="weather",
                                 **({"dates": ["date"]} if name == "seattle" else {"columns": measures}))
        return parts["X"], np.unique(parts["y"], return_inverse=True)[1]

    if name in SHAPES:
        make = datasets.make_circles if name == "circles" else datasets.make_moons
        X, y = make(n_samples=1000, noise=0.1, random_state=0, **({"factor": 0.5} if name == "circles" else {}))
        return np.hstack([X, np.random.default_rng(0).normal(size=(1000, 4))]).astype(np.float32), y
    d = getattr(datasets, f"load_{name}")()
    return d.data.astype(np.float32), d.target


def run_every_row(name: str, labels: int, seed: int, compare: dict) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.semi_supervised import LabelSpreading

    from fewlabel import SemiSupervisedClassifier
    from fewlabel.datasets import labeled_subset

    X, y = load_table(name)
    few = labeled_subset(y, labels, seed=seed)
    unl, keep = few < 0, few >= 0
    default = SemiSupervisedClassifier(random_state=seed).fit(X, few)
    compared = SemiSupervisedClassifier(random_state=seed, **compare).fit(X, few)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[keep], few[keep])
    spreading = LabelSpreading(kernel="knn", n_neighbors=7).fit(StandardScaler().fit_transform(X), few)
    route = {k: v for k, v in default.route_.items() if k in ("route", "second", "labels_model", "settled_by")}
    answers = {"default": default.predict(X[unl]), "compared": compared.predict(X[unl]),
               "logreg": logreg.predict(X[unl]), "spreading": spreading.transduction_[unl]}
    # the mean of the classes' recalls beside the accuracy: where the classes are not equally common (Seattle's
    # weather, breast cancer), a method can gain accuracy by answering the common class
    return {"scored_rows": int(unl.sum()), **{k: float(np.mean(a == y[unl])) for k, a in answers.items()},
            **{f"{k}_balanced": float(balanced_accuracy_score(y[unl], a)) for k, a in answers.items()},
            "default_route": route}


def run_table(name: str, labels: int, seed: int, compare: dict) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fewlabel import SemiSupervisedClassifier
    from fewlabel.datasets import labeled_subset

    X, y = load_table(name)
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
    p.add_argument("--tables", nargs="+", choices=sorted({**TABLES, **SHAPES, **DATED}), default=list(TABLES))
    p.add_argument("--labels", nargs="+", default=[], metavar="TABLE=N", help="labels of a table (default: %s)"
                   % ", ".join(f"{k} {v}" for k, v in {**TABLES, **SHAPES, **DATED}.items()))
    p.add_argument("--every-row", action="store_true",
                   help="no held-out split: score every unlabeled row (the module docstring)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--compare", default=json.dumps(PREVIOUS),
                   help="SemiSupervisedClassifier settings of the compared column, as JSON")
    p.add_argument("--out", type=Path, help="results file (default benchmarks/results/semi_tables-<cpu>.json)")
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    warnings.filterwarnings("ignore")
    compare = json.loads(args.compare)
    counts = {**TABLES, **SHAPES, **DATED, **{k: int(v) for k, v in (item.split("=") for item in args.labels)}}
    if args.every_row:
        run = run_every_row
    elif set(args.tables) & set(SHAPES):
        p.error(f"{sorted(SHAPES)} are measured with --every-row only")
    else:
        run = run_table
    results = {"cpu": cpu_record(), "seeds": args.seeds, "compared": compare, "every_row": args.every_row,
               "tables": {}}
    for name in args.tables:
        runs = results["tables"][name] = {"labels": counts[name], "seeds": {}}
        for seed in args.seeds:
            r = runs["seeds"][str(seed)] = run(name, counts[name], seed, compare)
            print(name, seed, json.dumps(r), flush=True)
        runs["mean"] = {k: float(np.mean([r[k] for r in runs["seeds"].values()]))
                        for k in ("default", "compared", "logreg", "spreading", "default_balanced",
                                  "compared_balanced", "logreg_balanced", "spreading_balanced") if k in r}
        print(name, "mean", json.dumps(runs["mean"]), flush=True)
    name = "semi_tables-every-row" if args.every_row else "semi_tables"
    out = args.out or HERE / "results" / f"{name}-{cpu_slug()}.json"
    out.write_text(json.dumps(results, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
