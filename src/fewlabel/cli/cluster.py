"""``fewlabel cluster``: cluster raw rows or a saved encoder's codes, scored against labels when there are any."""

from __future__ import annotations

import time
from pathlib import Path

from fewlabel.cli.common import (add_data_options, add_output_options, check_encoder_path, encode_for, is_path,
                                 json_number, k_value, load_data, load_encoder, positive, refuse_file_options)
from fewlabel.errors import InputError

WRITES = ("metrics.json", "clusters.png", "labels.png")


def add_parser(sub) -> None:
    p = sub.add_parser("cluster", help="cluster a dataset (raw pixels or a saved encoder's codes), score against labels",
                       description="Encodes a dataset with a saved fewlabel autoencoder (or uses the raw input), "
                                   "optionally maps the codes with PCA or UMAP, clusters them with k-means or a "
                                   "Gaussian mixture, and scores the clusters against the labels (NMI, ARI, "
                                   "cluster accuracy) when there are labels. Writes metrics.json, clusters.png "
                                   "and labels.png.")
    add_data_options(p)
    p.add_argument("--encoder", type=Path, help="folder of a saved fewlabel autoencoder (from fewlabel pretrain "
                                                "or fewlabel.save); default: cluster the raw input")
    p.add_argument("--k", type=k_value, default=10,
                   help="number of clusters, or 'auto' to pick it by the silhouette over k = 2..15 (default 10)")
    p.add_argument("--method", choices=["kmeans", "gmm"], default="kmeans",
                   help="k-means or a Gaussian mixture with full covariances (default kmeans)")
    p.add_argument("--manifold", choices=["none", "pca", "umap"], default="none",
                   help="map the codes to --manifold-dim dimensions first (umap needs umap-learn; default none)")
    p.add_argument("--manifold-dim", type=int, default=10, help="dimensions of the manifold step (default 10)")
    p.add_argument("--n-neighbors", type=int, default=20, help="UMAP neighbours (default 20)")
    p.add_argument("--max-rows", type=int, help="cluster at most this many rows, drawn by --seed (stratified by "
                                                "label when there are labels)")
    p.add_argument("--device", default="cpu", help="where the encoder runs: cpu (default), auto, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_output_options(p, WRITES)


def check_options(args) -> None:
    positive(args.max_rows, "--max-rows")
    positive(args.manifold_dim, "--manifold-dim")
    if args.n_neighbors < 2:
        raise InputError(f"--n-neighbors must be at least 2, got {args.n_neighbors}")
    if args.k != "auto" and (not isinstance(args.k, int) or isinstance(args.k, bool)):
        raise InputError(f"--k must be a number of clusters or 'auto', got {args.k!r}")
    if args.k != "auto" and args.k < 2:  # named before anything is loaded (k > rows: once the rows are known)
        raise InputError(f"--k must be at least 2 (got {args.k}): one cluster is not a clustering")
    refuse_file_options(args.data, {"--split": args.split, "--root": args.root})
    check_encoder_path(args.encoder)


def run(args, out: Path) -> int:
    import numpy as np

    from fewlabel.tasks.cluster import choose_k, run_cluster, subsample
    from fewlabel.train.state import write_json_atomic

    check_options(args)
    split = args.split or "train"
    X, y = load_data(args.data, split, args.root)
    n_total = len(X)
    if args.max_rows is not None and args.max_rows < n_total:
        idx = subsample(n_total, args.max_rows, y, args.seed)
        X, y = X[idx], (None if y is None else np.asarray(y)[idx])
    encoder = None if args.encoder is None else load_encoder(args.encoder, args.device)
    t0 = time.perf_counter()
    Z = encode_for(encoder, X, args)
    encode_seconds = time.perf_counter() - t0
    manifold = None if args.manifold == "none" else args.manifold
    selection = None
    if args.k == "auto":
        top = min(15, len(Z) - 1)
        if top < 2:
            raise InputError(f"--k auto needs at least 3 rows to compare numbers of clusters, got {len(Z)}")
        k, scores = choose_k(Z, ks=range(2, top + 1), method=args.method, criterion="silhouette",
                             random_state=args.seed, manifold=manifold, manifold_dim=args.manifold_dim,
                             n_neighbors=args.n_neighbors)
        selection = {"criterion": "silhouette", "ks": sorted(scores), "best_k": int(k),
                     "scores": {str(kk): json_number(v) for kk, v in sorted(scores.items())}}
    else:
        k = args.k
        if k > len(Z):
            raise InputError(f"--k {k} is more than the {len(Z)} rows to cluster")
    result = run_cluster(Z, y, encoder=None, k=k, method=args.method, manifold=manifold,
                         manifold_dim=args.manifold_dim, n_neighbors=args.n_neighbors, out=out, seed=args.seed)
    result.pop("labels")
    result.update({"data": args.data, "split": None if is_path(args.data) else split, "rows_in_split": int(n_total),
                   "max_rows": args.max_rows, "encoder": None if encoder is None else type(encoder).__name__,
                   "encoder_path": None if args.encoder is None else str(args.encoder),
                   "encode_seconds": round(encode_seconds, 3), "k_selection": selection})
    write_json_atomic(out / "metrics.json", result)
    what = f"{type(encoder).__name__} codes ({Z.shape[1]}-d)" if encoder is not None else f"raw input ({Z.shape[1]} features)"
    how = {"kmeans": "k-means", "gmm": "GMM"}[args.method] + (f" after {args.manifold}" if manifold else "")
    kk = f"k={k}" + (" (auto, silhouette)" if selection else "")
    scores_text = (f": NMI {result['nmi']:.3f}, ARI {result['ari']:.3f}, ACC {result['accuracy']:.3f}"
                   if "nmi" in result else " (no labels to score against)")
    print(f"clustered {len(Z)} rows of {args.data}, {what}, with {how}, {kk}{scores_text}; "
          f"wrote {args.out / 'metrics.json'}")
    return 0
