"""Does `fewlabel cluster`'s map keep its clusters when UMAP is fitted on a sample of the rows and the others are
placed into it with ``transform``? The map grows faster than linearly with the rows; a fixed-size sample would
bound it, if the scores hold.

The codes come from one encoder for every size (``--encoder``: a saved clusterer or autoencoder; without it the
default autoencoder is trained on the first 35,000 rows). The rows are MNIST then shifted copies
(``scaling.rows_of_mnist``). For each size and sample size: UMAP (the command's settings) on the sample, the other
rows transformed, the command's Gaussian mixture on all of them, scored against the digits; sample 0 is the whole
map, as the command draws it. Writes ``benchmarks/results/map_sample-<cpu>.json``.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/map_sample.py \\
        --rows 35000 70000 140000 --samples 20000 50000 0
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


def map_on_sample(Z: np.ndarray, sample: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """The command's UMAP of ``Z`` fitted on ``sample`` rows drawn by ``seed`` (0, or ``sample >= len(Z)``: on
    every row), the others placed by ``transform``; (embedding, seconds of the transform)."""
    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.tasks.manifold import UMAPReducer

    reducer = UMAPReducer(CLUSTER_DEFAULTS["manifold_dim"], CLUSTER_DEFAULTS["n_neighbors"], 0.0, seed)
    if sample == 0 or sample >= len(Z):
        return reducer.fit_transform(Z), 0.0
    pick = np.sort(np.random.default_rng(seed).choice(len(Z), sample, replace=False))
    rest = np.setdiff1d(np.arange(len(Z)), pick)
    E = np.empty((len(Z), reducer.n_components), np.float32)
    E[pick] = reducer.fit_transform(Z[pick])
    t0 = time.perf_counter()
    E[rest] = reducer.transform(Z[rest])
    return E, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[35_000, 70_000, 140_000])
    p.add_argument("--samples", type=int, nargs="+", default=[20_000, 50_000, 0], help="0: the whole map")
    p.add_argument("--encoder", type=Path, help="a saved clusterer or autoencoder (default: train one on 35,000 rows)")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding mnist/")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    import fewlabel
    from _timing import cpu_record
    from cpu_speed import cpu_slug
    from scaling import rows_of_mnist
    from sklearn.mixture import GaussianMixture

    from fewlabel.tasks.cluster import default_encoder, encode, evaluate_clustering

    X, y = rows_of_mnist(max(args.rows), args.root)
    if args.encoder is None:
        encoder = default_encoder(35_000, random_state=0).fit(X[:35_000])
    else:
        encoder = fewlabel.load(args.encoder)
        encoder = getattr(encoder, "encoder_", encoder)  # a clusterer lends its encoder
    Z = encode(X, encoder)
    del X
    results = {"cpu": cpu_record(), "threads": os.environ.get("OMP_NUM_THREADS", "all cores"),
               "encoder": str(args.encoder or "the default autoencoder, trained on the first 35,000 rows"), "runs": []}
    for n in args.rows:
        for sample in args.samples:
            t0 = time.perf_counter()
            E, transform_s = map_on_sample(Z[:n], sample)
            labels = GaussianMixture(10, covariance_type="full", random_state=0).fit_predict(E)
            scores = evaluate_clustering(y[:n], labels)
            run = {"rows": n, "sample": sample if 0 < sample < n else None, "seconds": round(time.perf_counter() - t0, 1),
                   "transform_s": round(transform_s, 1), "nmi": round(scores["nmi"], 4),
                   "accuracy": round(scores["accuracy"], 4)}
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    out = args.out or HERE / "results" / f"map_sample-{cpu_slug()}.json"
    out.write_text(json.dumps(results, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
