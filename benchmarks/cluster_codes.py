"""Clustering benchmark (issues 5, 15): autoencoder codes -> UMAP -> Gaussian mixture -> self-labelling,
on MNIST and Fashion-MNIST (train + test, all 70,000 images), scored with NMI, ARI and matched accuracy.

By default it runs what ``fewlabel cluster`` runs: the default autoencoder for 20 epochs, UMAP to 10
dimensions, a Gaussian mixture, then two rounds of self-labelling (``fewlabel.tasks.cluster.self_label``:
a small conv network learns the clusters from shifted views, 5 epochs a round, and its answers become the
clusters); each run records the mixture's scores (``gmm``) beside the final ones. ``--refine-rounds 0``
stops at the mixture; ``--epochs 100`` is the older, longer autoencoder.

Beside it, in the same run: k-means on the raw pixels, and UMAP + GMM on the raw pixels (the recipe
without the encoder), so every figure has its baselines. The autoencoder is the 784-500-500-2000-10
dense one (ReLU, MSE, Adam, batch 256). ``--augment shift`` trains it on randomly shifted (up to 10%)
and rotated (up to 10 degrees) copies of each batch, reconstructing the moved image itself (DEC-DA,
Guo et al. 2018); the codes are still computed from the images as they are. ``--idec-epochs N`` then
fine-tunes the encoder for clustering (IDEC, with the same augmentation: DEC-DA), its centres started
from the UMAP + GMM clusters, and reports that clustering beside the one it started from. Measured on
10,000 images, 25 autoencoder epochs with --augment shift, 2 CPU cores (NMI, UMAP + GMM -> IDEC):
MNIST seed 0 0.806 -> 0.824 (10 IDEC epochs), seed 1 0.766 -> 0.803 (20); the same IDEC without the
moves made it worse (0.759, 0.748), and so did starting it from k-means (0.752, 0.766). Fashion-MNIST
seed 0: 0.609 -> 0.604 (20 epochs), no gain. On all 70,000 MNIST images, 2 CPU cores (seed 0, 20
autoencoder epochs): plain training NMI 0.933 / accuracy 0.974; with --augment shift 0.922 /
0.968 (342 CPU seconds: 20 epochs are too few for the moves to pay; DEC-DA trains 500). Fashion-MNIST,
all 70,000, 20 epochs: NMI 0.677 / accuracy 0.671, beside raw k-means 0.512 and raw UMAP + GMM 0.637. Each seed
re-trains the autoencoder and re-runs UMAP and the mixture. Wall and CPU seconds (``time.process_time``,
all threads) are recorded for every step, since the machine may be shared. Results go to
benchmarks/results/cluster_codes-<device>[-shift].json after every run, so a run cut short keeps what
it finished.

    python benchmarks/cluster_codes.py                              # both datasets, 3 seeds, fewlabel cluster's pipeline
    python benchmarks/cluster_codes.py --data mnist --refine-rounds 0   # stop at UMAP + GMM
    python benchmarks/cluster_codes.py --data mnist --seeds 1 --epochs 20 --rows 10000
    python benchmarks/cluster_codes.py --augment shift --skip-raw   # the same with augmented training
    python benchmarks/cluster_codes.py --augment shift --idec-epochs 20   # then IDEC from the GMM clusters
    python benchmarks/cluster_codes.py --seeds 0                    # the raw-pixel baselines alone
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from fewlabel import Autoencoder, ConvAutoencoder, datasets
from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
from fewlabel.tasks.deep_cluster import DeepClustering
from fewlabel.tasks.cluster import (DEFAULT_ENCODER_EPOCHS, SELF_LABEL_EPOCHS, SELF_LABEL_MIN_STEPS, SELF_LABEL_ROUNDS,
                                    cluster, evaluate_clustering, reduce, self_label)
from fewlabel.train import resolve_device
from fewlabel.train.state import write_json_atomic


def load_all(name, root, rows):
    X, y = datasets.load(name, split="train", root=root)
    Xt, yt = datasets.load(name, split="test", root=root)
    X, y = np.concatenate([X, Xt]), np.concatenate([y, yt])
    if rows and rows < len(X):
        pick = np.random.default_rng(0).choice(len(X), rows, replace=False)
        X, y = X[pick], y[pick]
    return X, y


def timed(fn):
    """``fn()``, its wall seconds and its CPU seconds (this process, all threads: the machine may be shared)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def summarise(runs):
    keys = ("nmi", "ari", "accuracy")
    return {k: {"mean": float(np.mean([r[k] for r in runs])), "std": float(np.std([r[k] for r in runs])),
                "values": [r[k] for r in runs]} for k in keys}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    p.add_argument("--root", type=Path, help="folder holding <name>/ dataset folders")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from this one (to split seeds over processes)")
    p.add_argument("--epochs", type=int, default=DEFAULT_ENCODER_EPOCHS,
                   help="autoencoder epochs (default: fewlabel cluster's, 20)")
    p.add_argument("--rows", type=int, default=0, help="use this many rows (default all 70,000)")
    p.add_argument("--device", default="auto")
    p.add_argument("--model", choices=["dense", "conv"], default="dense",
                   help="dense 784-500-500-2000-10, or conv 32/64/128 channels with batch norm and a 10-d code")
    p.add_argument("--augment", choices=["none", "shift"], default="none",
                   help="train the autoencoder on randomly shifted and rotated images (DEC-DA)")
    p.add_argument("--augment-shift", type=float, default=0.1, help="largest shift, a fraction of the image size")
    p.add_argument("--augment-rotate", type=float, default=10.0, help="largest rotation in degrees")
    p.add_argument("--idec-epochs", type=int, default=0,
                   help="then fine-tune the encoder for clustering (IDEC) this many epochs, from the GMM clusters")
    p.add_argument("--n-init", type=int, default=CLUSTER_DEFAULTS["n_init"],
                   help="starts of the mixture on the codes' map, the likeliest kept (default: fewlabel cluster's); "
                        "the raw-pixel baseline keeps scikit-learn's one start")
    p.add_argument("--refine-rounds", type=int, default=SELF_LABEL_ROUNDS,
                   help="self-labelling rounds after UMAP + GMM, as fewlabel cluster does (0: none; the figures "
                        "then are UMAP + GMM's)")
    p.add_argument("--refine-epochs", type=int, default=SELF_LABEL_EPOCHS, help="epochs of each self-labelling round")
    p.add_argument("--refine-min-steps", type=int, default=SELF_LABEL_MIN_STEPS,
                   help="the fewest optimizer steps of each self-labelling round (on small data the epochs are fewer)")
    p.add_argument("--skip-raw", action="store_true", help="skip the raw-pixel baselines")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    augment = None if args.augment == "none" else args.augment
    device = resolve_device(args.device)
    suffix = ("" if args.model == "dense" else f"-{args.model}") + ("" if augment is None else f"-{augment}") \
        + ("-idec" if args.idec_epochs else "") + ("" if args.refine_rounds else "-norefine")
    out = args.out or Path(__file__).parent / "results" / f"cluster_codes-{device.type}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
                          "cpus": os.cpu_count(), "torch": torch.__version__},
              "settings": vars(args) | {"root": str(args.root), "out": str(out)}, "results": {}}

    for name in args.data:
        X, y = load_all(name, args.root / name if args.root else None, args.rows)
        flat = X.reshape(len(X), -1).astype(np.float32) / 255
        res = report["results"].setdefault(name, {"rows": int(len(X))})
        if not args.skip_raw:
            labels, s, c = timed(lambda: cluster(flat, 10, method="kmeans", random_state=0, n_init=3))
            res["raw_kmeans"] = evaluate_clustering(y, labels) | {"seconds": round(s, 1), "cpu_seconds": round(c, 1)}
            print(name, "raw k-means", res["raw_kmeans"], flush=True)
            write_json_atomic(out, report)
            Zu, s1, c1 = timed(lambda: reduce(flat, "umap", n_components=10, n_neighbors=20, random_state=None))
            labels, s2, c2 = timed(lambda: cluster(Zu, 10, method="gmm", random_state=0))
            res["raw_umap_gmm"] = evaluate_clustering(y, labels) | {"seconds": round(s1 + s2, 1),
                                                                    "cpu_seconds": round(c1 + c2, 1)}
            print(name, "raw UMAP + GMM", res["raw_umap_gmm"], flush=True)
            write_json_atomic(out, report)
        runs = res.setdefault("autoencoder_umap_gmm", {"runs": [], "augment": args.augment, "model": args.model})
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            common = dict(latent=10, loss="mse", optimizer="adam", lr=1e-3, epochs=args.epochs, batch_size=256,
                          augment=augment, augment_shift=args.augment_shift, augment_rotate=args.augment_rotate,
                          device=args.device, random_state=seed)
            if args.model == "conv":
                ae = ConvAutoencoder(channels=(32, 64, 128), batch_norm=True, **common)
            else:
                ae = Autoencoder(hidden=(500, 500, 2000), activation="relu", **common)
            _, s_ae, c_ae = timed(lambda: ae.fit(X))
            Z, s_enc, c_enc = timed(lambda: ae.transform(X))
            Zu, s_umap, c_umap = timed(lambda: reduce(Z, "umap", n_components=10, n_neighbors=20, random_state=None))
            labels, s_gmm, c_gmm = timed(lambda: cluster(Zu, 10, method="gmm", random_state=seed, n_init=args.n_init))
            r = evaluate_clustering(y, labels) | {"seed": seed, "model": args.model, "augment": args.augment,
                                                  "epochs": args.epochs,
                                                  "ae_seconds": round(s_ae, 1),
                                                  "umap_seconds": round(s_umap, 1), "gmm_seconds": round(s_gmm, 1),
                                                  "seconds": round(s_ae + s_enc + s_umap + s_gmm, 1),
                                                  "cpu_seconds": round(c_ae + c_enc + c_umap + c_gmm, 1),
                                                  "final_loss": ae.history_.history["loss"][-1]}
            if args.refine_rounds:
                # the default pipeline's last step: self-labelling by a conv network (fewlabel cluster --refine)
                refined, s_ref, c_ref = timed(lambda: self_label(X, labels, rounds=args.refine_rounds, epochs=args.refine_epochs,
                                                                 min_steps=args.refine_min_steps, random_state=seed,
                                                                 device=args.device))
                r["gmm"] = {k: r[k] for k in ("nmi", "ari", "accuracy")}
                r.update(evaluate_clustering(y, refined["labels"]))
                r["refine"] = {"rounds": refined["rounds"], "seconds": round(s_ref, 1), "cpu_seconds": round(c_ref, 1)}
                r["seconds"] = round(r["seconds"] + s_ref, 1)
                r["cpu_seconds"] = round(r["cpu_seconds"] + c_ref, 1)
            # the codes alone, without the manifold step: what UMAP adds
            km = cluster(Z, 10, method="kmeans", random_state=seed, n_init=3)
            r["codes_kmeans"] = evaluate_clustering(y, km)
            if args.idec_epochs:
                idec = DeepClustering(ae, n_clusters=10, init=labels, epochs=args.idec_epochs, augment=augment,
                                      augment_shift=args.augment_shift, augment_rotate=args.augment_rotate,
                                      device=args.device, random_state=seed)
                _, s_idec, c_idec = timed(lambda: idec.fit(X))
                r["idec"] = evaluate_clustering(y, idec.labels_) | {"seconds": round(s_idec, 1),
                                                                     "cpu_seconds": round(c_idec, 1),
                                                                     "epochs": idec.n_epochs_}
            runs["runs"].append(r)
            runs.update(summarise(runs["runs"]))
            print(name, "autoencoder + UMAP + GMM", r, flush=True)
            write_json_atomic(out, report)
    for name, res in report["results"].items():
        ae = res["autoencoder_umap_gmm"]
        raw = {k: round(res[k]["nmi"], 4) for k in ("raw_kmeans", "raw_umap_gmm") if k in res}
        if not ae["runs"]:  # --seeds 0: the raw baselines alone
            print(f"{name}: raw baselines {raw}")
            continue
        if "idec" in ae["runs"][0]:
            ae["idec"] = summarise([r["idec"] for r in ae["runs"]])
            write_json_atomic(out, report)
            print(f"{name}: then IDEC NMI {ae['idec']['nmi']['mean']:.4f} ± {ae['idec']['nmi']['std']:.4f}")
        if "gmm" in ae["runs"][0]:
            ae["before_refine"] = summarise([r["gmm"] for r in ae["runs"]])
            write_json_atomic(out, report)
            print(f"{name}: UMAP + GMM before self-labelling NMI {ae['before_refine']['nmi']['mean']:.4f} "
                  f"± {ae['before_refine']['nmi']['std']:.4f}")
        print(f"{name}: autoencoder (augment={args.augment}) + UMAP + GMM" + (" + self-labelling" if args.refine_rounds else "") + " "
              f"NMI {ae['nmi']['mean']:.4f} ± {ae['nmi']['std']:.4f} "
              f"over {len(ae['runs'])} seed(s); raw baselines {raw}")
    return report


if __name__ == "__main__":
    main()
