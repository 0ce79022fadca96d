"""Over-cluster, then merge: a mixture of more components than classes on ``fewlabel cluster``'s map, one round of
self-labelling on those components, and the pair of groups the self-labelling network confuses most merged until
``k`` remain, then one more round of self-labelling; beside the command's own route (a mixture of ``k`` components
and two rounds of self-labelling) on the same map and images.

A mixture of ten components on Fashion-MNIST's map puts pullovers, coats and shirts in one component and splits
sandals over several; self-labelling moves single rows but does not re-draw components. With more components than
classes, each one is purer, and the network trained to tell them apart says which of them look alike: the groups it
confuses are merged, so the final clusters are drawn by what the images look like to a network, not by the map's
Gaussians alone.

It reads the 5,000-row seed-0 Fashion-MNIST map the tests use (``tests/data/fashion_mnist_map_5000.npz``, written
by ``benchmarks/cluster_starts.py --test-map``) and draws the same 5,000 images (``default_rng(0)`` over the
70,000):

    OMP_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/cluster_merge.py --components 10 30 --seeds 0 1

With ``--all CACHE`` it runs on all 70,000 images and the seed-0 map built as ``cluster_starts.py`` builds it (kept in
CACHE). Writes ``benchmarks/results/cluster_merge-<cpu>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
MAP = HERE.parent / "tests" / "data" / "fashion_mnist_map_5000.npz"


def merge_by_confusion(proba: np.ndarray, k: int) -> np.ndarray:
    """The merged cluster of each row: rows start in the component ``proba`` gives them; while more than ``k``
    groups remain, the two groups whose rows give each other the most probability (the mean over one group's rows
    of the probability of the other's components, summed both ways) become one."""
    owner = proba.argmax(axis=1)
    groups = {c: [c] for c in range(proba.shape[1])}

    def confusion(a, b):
        rows_a, rows_b = np.isin(owner, groups[a]), np.isin(owner, groups[b])
        share_a = proba[rows_a][:, groups[b]].sum(axis=1).mean() if rows_a.any() else 0.0
        share_b = proba[rows_b][:, groups[a]].sum(axis=1).mean() if rows_b.any() else 0.0
        return share_a + share_b

    while len(groups) > k:
        keys = list(groups)
        _, a, b = max((confusion(a, b), a, b) for i, a in enumerate(keys) for b in keys[i + 1:])
        groups[a] += groups.pop(b)
    merged = np.zeros(proba.shape[1], dtype=np.int64)
    for g, members in enumerate(groups.values()):
        merged[members] = g
    return merged[owner]


def run(images, E, y, components: int, k: int, seed: int) -> dict:
    """One route on one map: ``components == k`` is the command's (two rounds), more is over-cluster and merge."""
    from sklearn.mixture import GaussianMixture

    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.metrics import cluster_accuracy, nmi
    from fewlabel.tasks.cluster import SELF_LABEL_ROUNDS, self_label

    c0 = time.process_time()
    starts = CLUSTER_DEFAULTS["n_init"] if components == k else 3
    labels = GaussianMixture(components, n_init=starts, random_state=0).fit_predict(E)
    row = {"components": components, "seed": seed, "mixture_nmi": round(nmi(y, labels), 4)}
    if components == k:
        final = self_label(images, labels, rounds=SELF_LABEL_ROUNDS, random_state=seed, device="cpu")["labels"]
    else:
        first = self_label(images, labels, rounds=1, random_state=seed, device="cpu")
        merged = merge_by_confusion(first["proba"], k)
        row["merged_nmi"] = round(nmi(y, merged), 4)
        final = self_label(images, merged, rounds=1, random_state=seed + 1, device="cpu")["labels"]
    row.update(nmi=round(nmi(y, final), 4), accuracy=round(cluster_accuracy(y, final), 4),
               cpu_s=round(time.process_time() - c0, 1))
    return row


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--components", type=int, nargs="+", default=[10, 30],
                   help="mixture components; 10 (= --k) is the command's route")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="self-labelling seeds")
    p.add_argument("--rows", type=int, default=0, help="the first this many rows of the map (default all 5,000)")
    p.add_argument("--all", type=Path, metavar="CACHE",
                   help="on all 70,000 images instead: the seed-0 map as benchmarks/cluster_starts.py builds it, kept in "
                        "this folder (several minutes of one core the first time)")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding fashion-mnist/")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if any(c < args.k for c in args.components):
        raise SystemExit(f"--components must be at least --k ({args.k}), got {args.components}")

    from _timing import cpu_record
    from cluster_codes import load_all
    from cpu_speed import cpu_slug

    X, y_all = load_all("fashion-mnist", None if args.root is None else Path(args.root) / "fashion-mnist", 0)
    if args.all is not None:
        from cluster_starts import build_map

        args.all.mkdir(parents=True, exist_ok=True)
        built = build_map("fashion-mnist", 0, args.all, args.root)
        E, y, source = built["E"], built["y"].astype(np.int64), "all 70,000 images, seed-0 map"
        pick = np.arange(len(X))
    else:
        with np.load(MAP, allow_pickle=False) as d:
            E, y = d["E"].astype(np.float32), d["y"].astype(np.int64)
        pick = np.sort(np.random.default_rng(0).choice(len(X), len(E), replace=False))
        source = MAP.name
    images = X[pick]
    if not np.array_equal(y_all[pick], y):
        raise SystemExit("the map's labels do not match the images: was it written from other data?")
    if args.rows:
        images, E, y = images[:args.rows], E[:args.rows], y[:args.rows]
    runs = []
    for seed in args.seeds:
        for components in args.components:
            runs.append(run(images, E, y, components, args.k, seed))
            print(json.dumps(runs[-1]), flush=True)
    result = {"map": source, "rows": len(E), "k": args.k, "runs": runs, "cpu": cpu_record()}
    out = args.out or HERE / "results" / f"cluster_merge-{cpu_slug()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
