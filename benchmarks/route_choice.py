"""Does ``SemiSupervisedClassifier()``'s measured route choice pick the best route?

    python benchmarks/route_choice.py --data mnist --labels 100 --rows 10000
    python benchmarks/route_choice.py --data fashion-mnist --labels 1000 --rows 10000
    python benchmarks/route_choice.py --data digits --labels 50
    python benchmarks/route_choice.py --data breast-cancer --labels 40

For one label draw, the classifier is fitted with each route forced, each with both ways its final network can
learn ('labels alone'; 'clusters' and 'clusters x network', each with a fresh final network and with one
continuing the network on the labels), and with ``route='auto'``, which scores the three label sources on folds
of the labeled rows and picks a route and a way; every fit shares the same map of the rows (``embedding=``: it
uses no labels) and seed.
Test accuracy of each, the choice, the scores it was made on, and whether the chosen route is the best one or
within the noise of it (two standard errors of the difference between two routes' accuracies on the same test
rows, from the rows on which they disagree). Image data sets: the first ``--rows`` training rows (the labels drawn
among them, the rest unlabeled) and the first ``--test-rows`` test rows. digits: a stratified 25% test split;
breast-cancer: the same. Writes benchmarks/results/route_choice-DATA-LABELS.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
import semi_default  # benchmarks/semi_default.py: its data sets
from _timing import Clock, cpu_record  # benchmarks/_timing.py (the script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
# each route with each way its final network can learn (the names of the first three are those of route=)
FORCED = {"labels alone": ("labels alone", None), "clusters": ("clusters", "fresh"),
          "clusters x network": ("clusters x network", "continue"),
          "clusters, continued": ("clusters", "continue"), "clusters x network, fresh": ("clusters x network", "fresh")}
ROUTES = tuple(FORCED)


def load(name: str, root: str | None, rows: int, test_rows: int):
    """semi_default's data sets (the first ``rows`` / ``test_rows`` of an image set), and breast-cancer split as
    digits is."""
    if name != "breast-cancer":
        X, y, Xt, yt = semi_default.load(name, root)
        return (X, y, Xt, yt) if name == "digits" else (X[:rows], y[:rows], Xt[:test_rows], yt[:test_rows])
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    d = load_breast_cancer()
    X, Xt, y, yt = train_test_split(d.data.astype(np.float32), d.target.astype(np.int64), test_size=0.25,
                                    stratify=d.target, random_state=0)
    return X, y, Xt, yt


def noise(a: dict, b: dict, n: int) -> float:
    """Two standard errors of the difference of two runs' accuracies on the same ``n`` test rows: McNemar's
    variance from the rows each got right; where a run has no rows recorded, the larger unpaired variance."""
    if a["right"] is not None and b["right"] is not None:
        disagree = np.mean(a["right"] != b["right"])
        diff = np.mean(a["right"]) - np.mean(b["right"])
        return 2 * math.sqrt(max(disagree - diff ** 2, 0.0) / n)
    pa, pb = a["accuracy"], b["accuracy"]
    return 2 * math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--labels", type=int, default=100)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--test-rows", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"))
    ap.add_argument("--auto-only", action="store_true",
                    help="fit route='auto' (and any forced route the results file lacks) and keep the forced routes' "
                         "runs of the results file (they do not depend on how the route is chosen), e.g. after a "
                         "change to the choice")
    ap.add_argument("--route-params", default=None,
                    help="route_params of the route='auto' fit, as JSON (e.g. '{\"pool\": true}')")
    ap.add_argument("--out", default=None, help="results file (default: benchmarks/results/route_choice-DATA-N.json)")
    args = ap.parse_args()

    from fewlabel import SemiSupervisedClassifier, datasets

    X, y, Xt, yt = load(args.data, args.root, args.rows, args.test_rows)
    y_few = datasets.labeled_subset(y, args.labels, seed=args.seed)
    runs, embedding = {}, None
    path = RESULTS / f"route_choice-{args.data}-{args.labels}.json"
    # the forced routes' runs are kept from the default results file; the choice is written to --out
    kept = json.loads(path.read_text())["runs"] if args.auto_only and path.exists() else {}
    route_params = json.loads(args.route_params) if args.route_params else None
    if args.out:
        path = Path(args.out)
    for route in ("auto", *(r for r in ROUTES if r not in kept)):
        with Clock() as clock:
            forced = None if route == "auto" else dict(zip(("route", "second"), FORCED[route]))
            clf = SemiSupervisedClassifier(random_state=args.seed, verbose=0,
                                           route_params=route_params if route == "auto" else None)
            # a forced route is passed as the record of an earlier fit: its route and its final network's way
            clf.fit(X, y_few, embedding=embedding, route_record=forced)
        embedding = clf.embedding_
        pred = clf.predict(Xt)
        runs[route] = {"accuracy": float(np.mean(pred == yt)), "right": (pred == yt), "record": clf.route_,
                       "second": clf.propagation_["second"], "map": clf.propagation_["embedding"], **clock.read()}
        print(f"{route:26s} {runs[route]['accuracy']:.4f}  {runs[route]['second']}  ({clock.read()['cpu_s']} CPU s)",
              flush=True)
    if args.auto_only:
        # results files written before the rows were recorded keep accuracies only ("right": None)
        runs.update({r: {**kept[r], "right": None if kept[r].get("right") is None
                         else np.array([c == "1" for c in kept[r]["right"]])} for r in ROUTES if r in kept})
    record = runs["auto"]["record"]
    result = {"data": args.data, "labels": args.labels, "rows": len(X), "test_rows": len(Xt), "seed": args.seed,
              "cpu": cpu_record(), "route_params": route_params, "auto_second": runs["auto"]["second"],
              **judged(runs, len(yt)),
              "scores": record["scores"], "compared": record.get("compared"),
              "network_weight": record.get("network_weight"),
              # each run's test rows right ("1") or wrong, for the noise of a later comparison
              "runs": {k: {**v, "right": None if v["right"] is None else "".join("1" if r else "0" for r in v["right"])}
                       for k, v in runs.items()}}
    print(json.dumps({k: result[k] for k in ("chosen", "best", "gap_to_best", "noise", "verdict")}))
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {path}")


def judged(runs: dict, n: int) -> dict:
    """The forced run that did what the choice did (its route, its final network's way), the best forced run,
    and the verdict on the choice. A forced 'clusters x network' pools with equal weights (the plain product);
    the choice's pool may weigh the sources otherwise, so the two are compared by their accuracy, not by name."""
    record = runs["auto"]["record"]
    chosen = next(r for r in ROUTES if FORCED[r] == (record["route"], record["second"]))
    best = max(ROUTES, key=lambda r: runs[r]["accuracy"])
    within = noise(runs["auto"], runs[best], n)
    gap = runs[best]["accuracy"] - runs["auto"]["accuracy"]
    verdict = "best" if gap <= 0 else "within noise" if gap <= within else "worse than the best"
    return {"chosen": chosen, "best": best, "gap_to_best": gap, "noise": within, "verdict": verdict}


if __name__ == "__main__":
    main()
