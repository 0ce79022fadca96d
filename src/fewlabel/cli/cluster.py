"""``fewlabel cluster``: cluster a dataset, by default through an autoencoder trained on it, then UMAP and a
Gaussian mixture (N2D); scored against the labels when there are any."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fewlabel.cli.common import (add_data_options, add_output_options, add_training_options, check_encoder_path,
                                 encode_for, is_path, json_number, k_value, load_data, load_data_source, load_encoder,
                                 own_file_options, positive, refuse_file_options, remember_source, rows_drawn,
                                 training_settings_of)
from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
from fewlabel.errors import InputError

WRITES = ("metrics.json", "clusters.png", "labels.png", "model", "clusters.csv")
#: UMAP to d dimensions needs at least d + 2 rows (umap-learn's spectral start)
UMAP_EXTRA_ROWS = 2
#: Clusters where --k is not given and the data has no labels to count classes in (saved with the model as its k)
DEFAULT_K = 10

ENCODER_HELP = ("auto (default): train the default autoencoder (fewlabel.Autoencoder(): input-500-500-2000-10) "
                "on the rows and save it as OUT/model; raw: use the raw input; or the folder of a saved fewlabel "
                "encoder (fewlabel pretrain --out DIR writes DIR/model)")


# tasks.cluster.DEFAULT_ENCODER_EPOCHS / DEFAULT_ENCODER_MIN_STEPS, for --help without importing torch (a test
# checks that they agree)
ENCODER_EPOCHS, ENCODER_MIN_STEPS = 20, 600


def encoder_option(text: str):
    """``--encoder``: 'auto', 'raw', or the folder of a saved encoder."""
    word = text.strip().lower()
    return word if word in ("auto", "raw") else Path(text)


def add_encoder_options(p: argparse.ArgumentParser) -> None:
    """``--encoder`` and the training options of the encoder trained when it is 'auto' (shared with map)."""
    p.add_argument("--encoder", type=encoder_option, default="auto", help=ENCODER_HELP)
    add_training_options(p, epochs=ENCODER_EPOCHS)
    epochs = next(a for a in p._actions if a.dest == "epochs")
    epochs.default = None  # None: chosen from the number of rows (tasks.cluster.default_epochs)
    epochs.help = (f"passes over the rows for the encoder trained with --encoder auto (default "
                   f"{ENCODER_EPOCHS}, more on small data: at least {ENCODER_MIN_STEPS} steps)")
    p.add_argument("--augment", choices=["none", "shift"], default="none",
                   help="with --encoder auto: train on randomly shifted and rotated images (DEC-DA; default none)")


def check_encoder_options(args) -> None:
    """Training options given with an encoder that is not trained here are refused, not ignored."""
    if args.encoder == "auto":
        from fewlabel.train.config import check_training_settings

        check_training_settings(build_encoder(args))  # a bad setting is named before the data loads
        return
    if args.encoder != "raw":
        check_encoder_path(args.encoder)
    defaults = _training_defaults()
    # these apply to any encoder, or to none; cluster's --batch-size also sets the self-labelling network's
    kept = ("device", "seed", "quiet", *(("batch_size",) if getattr(args, "refine", "none") != "none" else ()))
    given = [f"--{name.replace('_', '-')}" for name, default in defaults.items() if getattr(args, name) != default
             and name not in kept]
    if args.batch_size < 1:  # with no encoder trained here, the self-labelling network is the one to take it
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if given:
        what = "the raw input" if args.encoder == "raw" else f"the saved encoder {args.encoder}"
        raise InputError(f"{', '.join(given)} train(s) an encoder, but --encoder {args.encoder} uses {what}: "
                         "drop them, or leave --encoder at auto")


def _training_defaults() -> dict:
    p = argparse.ArgumentParser()
    add_encoder_options(p)
    return {k: v for k, v in vars(p.parse_args([])).items() if k != "encoder"}


def build_encoder(args, n_rows: int | None = None, standardize="auto"):
    """The unfitted default autoencoder with the training options (its epochs chosen for ``n_rows`` rows
    unless ``--epochs`` gives them); ``standardize`` as :class:`fewlabel.Autoencoder` takes it."""
    from fewlabel.tasks.cluster import default_encoder

    return default_encoder(n_rows, augment=None if args.augment == "none" else args.augment,
                           standardize=standardize, **training_settings_of(args))


def train_or_load_encoder(args, X, out: Path | None = None, source: dict | None = None, standardize="auto"):
    """``(encoder or None, info)``: the saved encoder of ``--encoder DIR``, None for ``raw``, or (``auto``)
    the default autoencoder trained on ``X`` (and saved to ``out / 'model'`` when ``out`` is given, with how
    the rows were read, ``source``); ``standardize`` as :class:`fewlabel.Autoencoder` takes it (False where the
    caller has already decided how ``X``'s columns are scaled)."""
    if args.encoder == "raw":
        return None, {"encoder": None, "encoder_path": None}
    if args.encoder != "auto":
        encoder = load_encoder(args.encoder, args.device)
        if type(encoder).__name__ == "ClusterModel":  # a saved clusterer: its encoder
            if encoder.encoder_ is None:
                raise InputError(f"--encoder {args.encoder} is a clusterer of the raw input: it has no encoder to "
                                 "give (use --encoder raw)")
            try:
                encoder = encoder.lend_encoder()
            except InputError as e:
                raise InputError(f"--encoder {args.encoder}: {e}") from None
        encode_for(encoder, X[:1], args)  # another input shape is named before any work
        return encoder, {"encoder": type(encoder).__name__, "encoder_path": str(args.encoder)}
    from fewlabel import save

    ae = build_encoder(args, len(X), standardize=standardize)
    t0, c0 = time.perf_counter(), time.process_time()
    ae.fit(X)
    info = {"encoder": type(ae).__name__, "encoder_path": None, "encoder_trained": {
        "rows": int(len(X)), "epochs": ae.epochs, "max_steps": ae.max_steps, "augment": ae.augment,
        "hidden": list(ae.hidden), "latent": int(ae.latent), "loss": float(ae.history_.history["loss"][-1]),
        "seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - c0, 2)}}
    if out is not None:
        remember_source(ae, source or {})
        save(ae, out / "model")
        info["encoder_path"] = str(args.out / "model")
    return ae, info


def add_parser(sub) -> None:
    p = sub.add_parser("cluster", help="cluster a dataset (autoencoder codes -> UMAP -> Gaussian mixture -> "
                                       "self-labelling by default), "
                                       "score against labels",
                       description="Clusters the rows of a dataset. By default it trains the default autoencoder "
                                   "on them (saved as OUT/model), maps its codes with UMAP to 10 dimensions and "
                                   "fits a Gaussian mixture there (N2D), then self-labels images (--refine); "
                                   "--encoder takes a saved encoder instead, or 'raw' for the raw input. --split "
                                   "all joins a named dataset's train and test splits. Scores the clusters against "
                                   "the labels (NMI, ARI, cluster accuracy) when there are labels (on a partly "
                                   "labeled table, against its labeled rows). Writes metrics.json, clusters.png, "
                                   "labels.png and model/; for a table or image folder of your own, clusters.csv "
                                   "too: each row's cluster and its probability, rows named as fewlabel predict "
                                   "names them.")
    add_data_options(p)
    add_encoder_options(p)
    batch = next(a for a in p._actions if a.dest == "batch_size")
    batch.help = (f"rows per step of the encoder trained here and of the self-labelling network (default "
                  f"{batch.default})")
    p.add_argument("--k", type=k_value, default=None,
                   help=f"number of clusters, or 'auto' to pick it by the silhouette over k = 2..15 (default: as many "
                        f"as the data's labels have classes (a named dataset's, a --label-column's, an image "
                        f"folder's class folders), else {DEFAULT_K}, as where the labels have fewer than two rows a "
                        f"value)")
    p.add_argument("--method", choices=["kmeans", "gmm"], default=CLUSTER_DEFAULTS["method"],
                   help=f"gmm: a Gaussian mixture with full covariances, or kmeans (default "
                        f"{CLUSTER_DEFAULTS['method']})")
    p.add_argument("--manifold", choices=["auto", "none", "pca", "umap"], default=CLUSTER_DEFAULTS["manifold"],
                   help=f"map the codes to --manifold-dim dimensions first: auto is umap when umap-learn is "
                        f"installed, else pca (default {CLUSTER_DEFAULTS['manifold']})")
    p.add_argument("--manifold-dim", type=int, default=CLUSTER_DEFAULTS["manifold_dim"],
                   help=f"dimensions of the manifold step (default {CLUSTER_DEFAULTS['manifold_dim']})")
    p.add_argument("--n-neighbors", type=int, default=CLUSTER_DEFAULTS["n_neighbors"],
                   help=f"UMAP neighbours (default {CLUSTER_DEFAULTS['n_neighbors']})")
    p.add_argument("--n-init", type=int, default=CLUSTER_DEFAULTS["n_init"],
                   help="starts of the mixture; the one with the highest likelihood (k-means: the lowest inertia) is "
                        f"kept (default {CLUSTER_DEFAULTS['n_init']})")
    p.add_argument("--n-maps", type=int, default=CLUSTER_DEFAULTS["n_maps"],
                   help="UMAP maps drawn (seeds --seed and up), each clustered; above 1 the clusters are their "
                        f"consensus, what the maps agree on (default {CLUSTER_DEFAULTS['n_maps']}; PCA draws one)")
    p.add_argument("--route", choices=["auto", "default"], default="auto",
                   help="auto (default): on a partly labeled file of your own, clustered with the default route, "
                        "the labeled rows choose between that route and k-means / UMAP + GMM on the rows as they "
                        "are (the one whose clusters match them best, by NMI); default: the default route always")
    p.add_argument("--standardize", choices=["auto", "yes", "no"], default=CLUSTER_DEFAULTS["standardize"],
                   help="centre and scale each column of a table by its mean and spread first, so that no column "
                        "weighs more for its units; auto (default): for a table of numbers (not images), unless "
                        "--encoder is a saved encoder, which has its own scale")
    p.add_argument("--refine", choices=["auto", "network", "none"], default=CLUSTER_DEFAULTS["refine"],
                   help="then self-label: a small conv network learns the clusters from shifted views of the images "
                        "and its answers become the clusters, twice. "
                        "auto (default): for images of at least 2,000 rows and 16 pixels a side; network: always "
                        "(images only); none: the Gaussian mixture's clusters as they are")
    p.add_argument("--max-rows", type=int, help="cluster at most this many rows, drawn by --seed (stratified by "
                                                "label when there are labels)")
    add_output_options(p, WRITES)


#: What a user would run instead of fewlabel cluster, tried on a partly labeled file beside the default: k-means, and
#: umap-learn's map with a Gaussian mixture, on the rows as the clusterer scales them, and (a table) k-means on its
#: columns as they are; each (name, ClusterModel settings)
PEERS = {True: (("k-means on the scaled columns", {"method": "kmeans", "manifold": None, "standardize": True}),
                ("UMAP + GMM on the scaled columns", {"method": "gmm", "standardize": True}),
                ("k-means on the columns as they are", {"method": "kmeans", "manifold": None, "standardize": False})),
         False: (("k-means on the raw input", {"method": "kmeans", "manifold": None, "standardize": False}),
                 ("UMAP + GMM on the raw input", {"method": "gmm", "standardize": False}))}
ROUTE_CHOICE_BY = ("NMI on the labeled rows (the same rows then score the chosen clusters: their scores are those "
                   "of the best of the routes tried)")


def chooses_route(args, labels_are_classes: bool = True) -> bool:
    """Whether the route is the user's labeled rows' to choose: a file of their own, partly labeled (with labels
    that are classes, see :func:`labels_k`), clustered by the default route (none of the options that set it
    given)."""
    return (labels_are_classes and args.route == "auto" and is_path(args.data) and args.encoder == "auto"
            and args.manifold == CLUSTER_DEFAULTS["manifold"]
            and args.method == CLUSTER_DEFAULTS["method"] and args.standardize == CLUSTER_DEFAULTS["standardize"]
            and args.n_maps == CLUSTER_DEFAULTS["n_maps"])


def route_choice(X, y, scored, k: int, scaled: bool, seed, default_nmi: float, **common) -> dict:
    """The default route's clusters against the peers' (``PEERS``, with the ``common`` ClusterModel settings:
    the map's size and neighbours, the starts), each scored by NMI on the labeled rows: ``{"chosen": the best
    (the default where none is better), "settings": the chosen peer's settings and "model": its fitted
    ClusterModel (None for the default), "nmi_on_labeled_rows", "by"}``."""
    from fewlabel.tasks.cluster import default_manifold, evaluate_clustering
    from fewlabel.tasks.clusterer import ClusterModel

    scores, chosen, settings, model = {"default": float(default_nmi)}, "default", None, None
    for name, peer in PEERS[scaled]:
        peer = {"manifold": default_manifold(), **peer}
        if peer["manifold"] != "umap" and peer["method"] == "gmm":
            continue  # without umap-learn the map would be PCA's: not the peer named
        fit = ClusterModel(n_clusters=k, encoder=None, refine=None, random_state=seed, **common, **peer).fit(X)
        scores[name] = float(evaluate_clustering(y[scored], fit.labels_[scored])["nmi"])
        # a tie (the same partition of those rows, to rounding) keeps the route tried first
        if scores[name] > scores[chosen] + 1e-9:
            chosen, settings, model = name, peer, fit
    return {"chosen": chosen, "settings": settings, "model": model, "nmi_on_labeled_rows": scores,
            "by": ROUTE_CHOICE_BY}


def labels_k(y, source: dict) -> tuple[int, str, str]:
    """``(k, how it was chosen, why, as printed)`` where ``--k`` is not given: the number of classes among the
    labeled rows ("labels"); ``DEFAULT_K`` where there are no labels or only one class ("default"), or where the
    labels have fewer than two rows a value on average ("not classes": a column of ids or measurements, whose
    value count would make a cluster of about every labeled row)."""
    import numpy as np

    none = (DEFAULT_K, "default", "no labels to count classes in; --k to choose")
    if y is None:
        return none
    y = np.asarray(y)
    labeled = y[y != -1] if source.get("unlabeled_rows") else y
    k = len(np.unique(labeled.astype(str) if labeled.dtype.kind == "O" else labeled))
    if k < 2:
        return none
    if 2 * k > len(labeled):
        return (DEFAULT_K, "not classes", f"the labels have {k:,} values over {len(labeled):,} labeled rows, too many "
                                          "to be classes; --k to choose")
    return k, "labels", "the labels' classes"


def check_row_count(n_rows: int, args, where: str) -> None:
    """Whether ``n_rows`` rows are enough for what the options ask, before anything trains."""
    manifold = args.manifold
    if manifold == "auto":
        from fewlabel.tasks.cluster import default_manifold

        manifold = default_manifold()
    if manifold == "umap" and n_rows < args.manifold_dim + UMAP_EXTRA_ROWS:
        raise InputError(f"{where}: {n_rows} rows are too few for a UMAP map to {args.manifold_dim} dimensions (it "
                         f"needs at least {args.manifold_dim + UMAP_EXTRA_ROWS}); give more rows, a smaller "
                         "--manifold-dim, or --manifold pca / none")
    if args.k == "auto" and n_rows < 3:
        raise InputError(f"{where}: --k auto compares numbers of clusters from 2 up, which needs at least 3 rows, "
                         f"got {n_rows}")
    if args.k not in (None, "auto") and args.k > n_rows:
        raise InputError(f"--k {args.k} is more than the {n_rows} rows to cluster ({where})")


def check_options(args) -> None:
    positive(args.max_rows, "--max-rows")
    positive(args.manifold_dim, "--manifold-dim")
    positive(args.n_init, "--n-init")
    positive(args.n_maps, "--n-maps")
    if args.n_neighbors < 2:
        raise InputError(f"--n-neighbors must be at least 2, got {args.n_neighbors}")
    k_given = args.k not in (None, "auto")
    if k_given and (not isinstance(args.k, int) or isinstance(args.k, bool)):
        raise InputError(f"--k must be a number of clusters or 'auto', got {args.k!r}")
    if k_given and args.k < 2:  # named before anything is loaded (k > rows: once the rows are known)
        raise InputError(f"--k must be at least 2 (got {args.k}): one cluster is not a clustering")
    refuse_file_options(args.data, {"--split": args.split, "--root": args.root})
    check_encoder_options(args)
    if args.max_rows is not None:
        check_row_count(args.max_rows, args, f"--max-rows {args.max_rows}")


def load_split(args, split: str):
    """``(X, y, source)`` of ``--data`` (source: how the rows were read, for :func:`remember_source`);
    ``--split all`` joins a named dataset's train and test splits."""
    import numpy as np

    if split != "all" or is_path(args.data) or args.data.strip().lower() == "digits":
        return load_data_source(args.data, split, args.root, **own_file_options(args), partly_labeled=True)
    X, y, source = load_data_source(args.data, "train", args.root, **own_file_options(args))
    Xt, yt = load_data(args.data, "test", args.root)
    return (np.concatenate([X, Xt]), (None if y is None or yt is None else np.concatenate([y, yt])),
            {**source, "split": "all"})


def run(args, out: Path) -> int:
    import numpy as np

    from fewlabel import save
    from fewlabel._base import column_scaling, scaled_columns, scales_columns
    from fewlabel.apply import write_table
    from fewlabel.tasks.cluster import choose_k, default_manifold, evaluate_clustering, run_cluster, subsample
    from fewlabel.train.state import write_json_atomic

    check_options(args)
    split = args.split or "train"
    X, y, source = load_split(args, split)
    n_total = len(X)
    k_from = "given" if args.k is not None else None
    k_why = None
    if args.k is None:  # the user's own labeled rows say how many groups there are, where there are any
        args.k, k_from, k_why = labels_k(y, source)
    if args.max_rows is not None and args.max_rows < n_total:
        idx = subsample(n_total, args.max_rows, y, args.seed)
        X, y, source = X[idx], (None if y is None else np.asarray(y)[idx]), rows_drawn(source, idx)
    manifold = default_manifold() if args.manifold == "auto" else (None if args.manifold == "none" else args.manifold)
    if k_from == "labels" and args.k > len(X):  # no --k to name: the labels set it
        raise InputError(f"{args.data}: its labels have {args.k} classes, more clusters than the {len(X)} rows to "
                         "cluster; give --k")
    check_row_count(len(X), args, args.data)
    if args.refine == "network":  # named before the encoder trains
        from fewlabel.tasks.cluster import as_images

        try:
            as_images(X[:1])
        except InputError as e:
            raise InputError(f"--refine network on {args.data}: {e}; use --refine none (or auto) for tables") from None
    # the clusterer scales the columns again from the same rows; the encoder trained here must see them so too
    standardize = {"yes": True, "no": False}.get(args.standardize, args.standardize)
    given_encoder = args.encoder not in ("auto", "raw")
    scaling = column_scaling(X) if scales_columns(standardize, X, own_scale=given_encoder) else None
    X_in = scaled_columns(X, scaling)
    encoder, encoder_info = train_or_load_encoder(args, X_in, standardize=False)  # scaled above, or as asked
    t0 = time.perf_counter()
    Z = encode_for(encoder, X_in, args)
    encode_seconds = time.perf_counter() - t0
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
        k_from = "auto"
    else:
        k = args.k
    c0 = time.process_time()
    method = args.method
    refine = None if args.refine == "none" else args.refine
    given_batch = args.batch_size != _training_defaults()["batch_size"]
    refine_params = {"batch_size": args.batch_size} if refine and given_batch else None
    # a partly labeled table: every row is clustered, the labeled ones score it
    scored = np.asarray(y) != -1 if source.get("unlabeled_rows") else None
    result = run_cluster(X, y if scored is None else None, encoder=encoder, k=k, method=args.method, manifold=manifold,
                         manifold_dim=args.manifold_dim, n_neighbors=args.n_neighbors, n_init=args.n_init,
                         n_maps=args.n_maps, standardize=scaling is not None, out=out,
                         seed=args.seed,
                         refine=refine, refine_params=refine_params, device=args.device, progress=not args.quiet)
    labels = result.pop("labels")
    if scored is not None:
        if not scored.any():
            raise InputError(f"{args.data}: no row left to score has a label (--max-rows drew only unlabeled rows)")
        result.update(evaluate_clustering(np.asarray(y)[scored], labels[scored]), scored_rows=int(scored.sum()))
        # the user's own labeled rows choose between the default and a user's peers
        if chooses_route(args, labels_are_classes=k_from != "not classes"):
            common = {"manifold_dim": args.manifold_dim, "n_neighbors": args.n_neighbors, "n_init": args.n_init}
            choice = route_choice(X, np.asarray(y), scored, k, scaling is not None, args.seed, result["nmi"],
                                  **common)
            if choice["chosen"] != "default":  # the peer's clusters, reported with their files, and its model
                peer = choice["settings"]
                result = run_cluster(X, None, encoder=None, k=k, **peer, **common, out=out, seed=args.seed,
                                     refine=None, fitted=choice["model"])
                labels = result.pop("labels")
                result.update(evaluate_clustering(np.asarray(y)[scored], labels[scored]),
                              scored_rows=int(scored.sum()))
                encoder, Z, manifold, method = None, result["model"].transform(X), peer["manifold"], peer["method"]
                encoder_info = {"encoder": None, "encoder_path": None,  # trained, then not the route chosen
                                "encoder_trained_not_kept": encoder_info.get("encoder_trained")}
            result["route_choice"] = {k_: v for k_, v in choice.items() if k_ not in ("settings", "model")}
    model = result.pop("model")
    if args.encoder == "auto" and encoder is not None:
        encoder_info["encoder_path"] = str(args.out / "model")
    result.update({"data": args.data, "split": None if is_path(args.data) else split, "rows_in_split": int(n_total),
                   "max_rows": args.max_rows, **encoder_info, "encode_seconds": round(encode_seconds, 3),
                   "cluster_cpu_seconds": round(time.process_time() - c0, 2), "k_selection": selection,
                   "k_from": k_from})
    # the whole clusterer (encoder, map, mixture, self-labelling network): fewlabel predict places new rows
    remember_source(model, source)
    save(model, out / "model")
    result["files"] = [*result["files"], "model"]
    if "row_names" in source:  # the user's own rows: each one's cluster, named as fewlabel predict names them
        write_table(out / "clusters.csv", source["row_name_column"], source["row_names"],
                    {"cluster": labels, "probability": model.probability_})
        result["files"].append("clusters.csv")
    write_json_atomic(out / "metrics.json", result)
    what = f"{type(encoder).__name__} codes ({Z.shape[1]}-d)" if encoder is not None else f"raw input ({Z.shape[1]} features)"
    if args.encoder == "auto" and encoder is not None:
        what += f", the encoder trained here in {encoder_info['encoder_trained']['seconds']:.0f} s"
    how = {"kmeans": "k-means", "gmm": "GMM"}[method] + (f" after {manifold}" if manifold else "")
    kk = f"k={k}" + (" (auto, silhouette)" if k_from == "auto" else f" ({k_why})" if k_why else "")
    if result["refine"]:
        how += f", self-labelled by a conv network ({len(result['refine']['rounds'])} rounds)"
    scores_text = (f": NMI {result['nmi']:.3f}, ARI {result['ari']:.3f}, ACC {result['accuracy']:.3f}"
                   if "nmi" in result else " (no labels to score against)")
    if "scored_rows" in result:
        scores_text += f" on its {result['scored_rows']:,} labeled rows"
    if "before_refine" in result:
        scores_text += f" (before self-labelling: NMI {result['before_refine']['nmi']:.3f})"
    if "route_choice" in result:  # what the labeled rows chose, and from what
        tried = ", ".join(f"{n} {v:.3f}" for n, v in result["route_choice"]["nmi_on_labeled_rows"].items())
        scores_text += f"; the route that matched those rows best of: {tried} (NMI)"
    each = f"each row's cluster in {args.out / 'clusters.csv'}, " if "clusters.csv" in result["files"] else ""
    print(f"clustered {len(Z)} rows of {args.data}, {what}, with {how}, {kk}{scores_text}; "
          f"wrote {each}{args.out / 'metrics.json'} and the clusterer {args.out / 'model'} (fewlabel predict places "
          "new rows in its clusters)")
    return 0
