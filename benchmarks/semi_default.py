"""``SemiSupervisedClassifier()`` with its defaults beside the peers a user would pick, same labels.

    python benchmarks/semi_default.py --data mnist --labels 100 --seeds 0 1 2
    python benchmarks/semi_default.py --data fashion-mnist --labels 1000
    python benchmarks/semi_default.py --data digits --labels 50
    python benchmarks/semi_default.py --data fashion-mnist --labels 300 --rows 3000 --test-rows 2000 --skip-peers

``--rows N``: each draw trains on N training rows drawn at random (``default_rng(seed)``), of which
``labeled_subset(y, labels, seed)`` are labeled, the size of a user's folder; ``--test-rows M`` scores on the
first M test rows.

All training rows are unlabeled data except the ``labeled_subset(y, labels, seed)`` ones; accuracy is on
the official test split (digits: a stratified 25% split, seed 0). Nothing is chosen on the test split.

Methods, each on the same labels:
  fewlabel_default      SemiSupervisedClassifier(random_state=seed), no other argument (inductive: it never
                        sees the test rows)
  supervised_baseline   the same network on the labels alone (propagate=None), same training length
  logistic_regression   scikit-learn, raw pixels
  label_spreading_pca50 scikit-learn LabelSpreading (kNN, 10 neighbours) on PCA-50 of the pixels
  umap_gmm10_majority   raw pixels of train + test -> UMAP(10) -> GaussianMixture(10) -> each component takes
                        the majority label of its labeled rows, scored on the test rows (the issue's
                        four-line umap-learn route; transductive: the test rows are in the UMAP fit, which
                        favours it)
Every method records wall and CPU seconds (time.process_time; the peers' UMAP is fitted once and its cost
is added to every draw). Writes benchmarks/results/semi_default-<data>-<labels>.json (with ``--rows``:
semi_default-<data>-<labels>-rows<N>.json), or ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from _timing import Clock, cpu_record  # benchmarks/_timing.py (the script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str, root: str | None):
    from fewlabel import datasets

    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()
        imgs = (d.images / 16 * 255).round().astype(np.uint8)
        X, Xt, y, yt = train_test_split(imgs, d.target.astype(np.int64), test_size=0.25, stratify=d.target,
                                        random_state=0)
        return X, y, Xt, yt
    kw = {"root": f"{root}/{name}"} if root else {}
    X, y = datasets.load(name, split="train", **kw)
    Xt, yt = datasets.load(name, split="test", **kw)
    return X, y, Xt, yt


def flat(X) -> np.ndarray:
    return X.reshape(len(X), -1).astype(np.float32) / 255.0


def peers(F, Ft, y, yt, y_few, umap_embedding) -> dict:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.mixture import GaussianMixture
    from sklearn.semi_supervised import LabelSpreading

    out, labeled = {}, y_few >= 0
    c = Clock()
    out["logistic_regression"] = {"accuracy": LogisticRegression(max_iter=1000).fit(F[labeled], y[labeled]).score(Ft, yt), **c.read()}
    c = Clock()
    pca = PCA(min(50, F.shape[1]), random_state=0).fit(F)
    ls = LabelSpreading(kernel="knn", n_neighbors=10, max_iter=100).fit(pca.transform(F), y_few)
    out["label_spreading_pca50"] = {"accuracy": ls.score(pca.transform(Ft), yt), **c.read()}
    if umap_embedding is not None:
        E, umap_cost = umap_embedding  # rows: the training rows, then the test rows
        c = Clock()
        comp = GaussianMixture(10, random_state=0).fit_predict(E)
        train_comp, test_comp = comp[:len(F)], comp[len(F):]
        names = np.array([np.bincount(y_few[labeled & (train_comp == j)], minlength=10).argmax()
                          if (labeled & (train_comp == j)).any() else -1 for j in range(10)])
        t = c.read()
        out["umap_gmm10_majority"] = {
            "accuracy": float(np.mean(names[test_comp] == yt)),
            "wall_s": round(umap_cost["wall_s"] + t["wall_s"], 1), "cpu_s": round(umap_cost["cpu_s"] + t["cpu_s"], 1)}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist", choices=["mnist", "fashion-mnist", "digits"])
    ap.add_argument("--labels", type=int, default=100)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--skip-peers", action="store_true", help="only fewlabel's default and its baseline")
    ap.add_argument("--default-only", action="store_true",
                    help="only fewlabel's default; the baseline and the peers are taken from the results file's run "
                         "of the same draw, where it has one (they do not depend on the default's route), e.g. "
                         "after a change to the route")
    ap.add_argument("--baseline-only", action="store_true",
                    help="only the same network on the labels alone (with --params: trained the same way), e.g. "
                         "to pair draws of the default measured with --default-only")
    ap.add_argument("--rows", type=int, default=None, help="train on this many training rows, drawn per seed")
    ap.add_argument("--test-rows", type=int, default=None, help="score on the first this many test rows")
    ap.add_argument("--root", default=None, help="folder holding <data>/ (default: fewlabel's search order)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--route-params", default=None,
                    help="route_params of fewlabel_default, as JSON (e.g. '{\"pool\": true}'; with --out)")
    ap.add_argument("--params", default=None,
                    help="training settings of both fewlabel_default and its baseline, as JSON (e.g. "
                         "'{\"epochs\": 10, \"schedule\": \"cosine\"}'; with --out): a recipe measured against the "
                         "same network trained the same way on the labels alone")
    args = ap.parse_args(argv)

    from fewlabel import SemiSupervisedClassifier
    from fewlabel.datasets import labeled_subset

    if args.default_only and args.baseline_only:
        raise SystemExit("--default-only and --baseline-only exclude each other")
    X_all, y_all, Xt, yt = load(args.data, args.root)
    if args.rows is not None and not 0 < args.rows <= len(X_all):
        raise SystemExit(f"--rows must be in 1..{len(X_all)}, got {args.rows}")
    if args.test_rows is not None and args.test_rows < 1:
        raise SystemExit(f"--test-rows must be at least 1, got {args.test_rows}")
    Xt, yt = Xt[:args.test_rows], yt[:args.test_rows]
    Ft = flat(Xt)
    umap_embedding = None
    subset = "" if args.rows is None else f"-rows{args.rows}"
    out = Path(args.out) if args.out else RESULTS / f"semi_default-{args.data}-{args.labels}{subset}.json"
    earlier = {}
    if args.default_only and out.exists():
        earlier = {r["seed"]: {k: v for k, v in r.items() if k != "fewlabel_default"}
                   for r in json.loads(out.read_text())["runs"]}

    def peers_umap(F):
        try:
            import umap
        except ImportError:
            print("umap-learn is not installed: the UMAP peer is skipped")
            return None
        c = Clock()  # fitted on train + test pixels; it never sees labels
        E = umap.UMAP(n_components=10, n_neighbors=15, min_dist=0.0, random_state=0).fit_transform(np.vstack([F, Ft]))
        return E, c.read()

    with_peers = not (args.skip_peers or args.default_only or args.baseline_only)
    if with_peers and args.rows is None:  # the same rows in every draw: one map serves them all
        umap_embedding = peers_umap(flat(X_all))
    import platform

    import torch

    machine = {"cpus": os.cpu_count(), "processor": platform.processor(), "torch": torch.__version__,
               "threads": torch.get_num_threads()}
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in args.seeds:
        X, y = X_all, y_all
        if args.rows is not None:
            pick = np.random.default_rng(seed).choice(len(X_all), args.rows, replace=False)
            X, y = X_all[pick], y_all[pick]
        y_few = labeled_subset(y, args.labels, seed=seed)
        if args.default_only:
            row = {"seed": seed, **earlier.get(seed, {})}
        elif with_peers:
            F = flat(X)
            draw_map = umap_embedding if args.rows is None else peers_umap(F)
            row = {"seed": seed, **peers(F, Ft, y, yt, y_few, draw_map)}
        else:
            row = {"seed": seed}
        shared = json.loads(args.params) if args.params else {}
        default = {**shared, "route_params": json.loads(args.route_params)} if args.route_params else dict(shared)
        methods = (("fewlabel_default", default), ("supervised_baseline", {**shared, "propagate": None}))
        for name, params in methods[:1] if args.default_only else methods[1:] if args.baseline_only else methods:
            c = Clock()
            clf = SemiSupervisedClassifier(random_state=seed, **params).fit(X, y_few)
            row[name] = {"accuracy": float(clf.score(Xt, yt)), **c.read()}
            if clf.propagation_:
                row[name]["propagation"] = {k: v for k, v in clf.propagation_.items() if k != "first_history"}
        print(json.dumps(row), flush=True)
        runs.append(row)
        result = {"data": args.data, "labels": args.labels, "rows": args.rows, "test_rows": args.test_rows,
                  "params": shared, "runs": runs, "summary": summarize(runs),
                  "complete": len(runs) == len(args.seeds), "machine": machine, "cpu": cpu_record()}
        out.write_text(json.dumps(result, indent=1))  # after every draw: a stopped run keeps what finished
    print(json.dumps(result["summary"], indent=1))
    return result


def summarize(runs: list) -> dict:
    methods = [k for k in runs[0] if k != "seed" and all(k in r for r in runs)]
    return {m: {"mean": float(np.mean([r[m]["accuracy"] for r in runs])),
                "std": float(np.std([r[m]["accuracy"] for r in runs])),
                "wall_s": float(np.mean([r[m]["wall_s"] for r in runs])),
                "cpu_s": float(np.mean([r[m]["cpu_s"] for r in runs])), "draws": len(runs)} for m in methods}


if __name__ == "__main__":
    main()
