"""Propagation's map drawn from the rows as they are or from their first principal components (the default,
``umap_pca_dims=100``): the propagated labels' accuracy on the unlabeled rows, the peak memory and the time.

Each variant runs in a fresh process (its peak resident memory is that of the map alone): all 70,000 images of a
data set (training and test rows, uint8, read at scale 1/255 as the classifier reads them), ``--labels`` of them
labeled (a stratified draw), ``ClusterPropagator`` with its defaults but ``umap_pca_dims`` (UMAP, then a Gaussian
mixture named by the labeled rows): each ``--pca`` value is a variant, 0 the pixels as they are.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/map_pca.py --data mnist fashion-mnist --pca 0 50 100

Writes ``benchmarks/results/map_pca-<cpu>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def one(data: str, pca: int, seed: int, labels: int, root) -> dict:
    """One variant in this process (``pca`` 0: the rows as they are)."""
    import resource
    import time

    import numpy as np

    from cluster_codes import load_all

    from fewlabel import datasets
    from fewlabel.tasks.propagator import ClusterPropagator

    X, y = load_all(data, None if root is None else Path(root) / data, 0)
    few = datasets.labeled_subset(y, labels, seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    p = ClusterPropagator(random_state=seed, umap_pca_dims=pca or None).fit(X, few, n_classes=int(y.max()) + 1,
                                                                            scale=1 / 255)
    return {"data": data, "pca": pca, "seed": seed, "rows": len(X), "labels": labels,
            "accuracy_unlabeled": float(np.mean(p.labels_[few < 0] == y[few < 0])), "loo_accuracy": p.loo_accuracy_,
            "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    p.add_argument("--pca", type=int, nargs="+", default=[0, 100],
                   help="umap_pca_dims of each variant (0: UMAP on the pixels as they are)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding <data>/")
    p.add_argument("--one", nargs=3, metavar=("DATA", "PCA", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), int(args.one[2]), args.labels, args.root)))
        return 0
    from _timing import cpu_record
    from cpu_speed import cpu_slug

    runs = []
    for data in args.data:
        for seed in args.seeds:
            for pca in args.pca:
                done = subprocess.run([sys.executable, __file__, "--one", data, str(pca), str(seed), "--labels",
                                       str(args.labels), *(["--root", str(args.root)] if args.root else [])],
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{data}, pca {pca}, seed {seed} failed:\n{done.stderr[-3000:]}")
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), flush=True)
    out = args.out or HERE / "results" / f"map_pca-{cpu_slug()}.json"
    out.write_text(json.dumps({"cpu": cpu_record(), "threads": os.environ.get("OMP_NUM_THREADS", "all cores"),
                               "runs": runs}, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
