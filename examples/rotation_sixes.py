"""Case study: does an autoencoder's code know which way up a digit is? Rotated sixes, and nines.

MNIST training sixes are copied four times, rotated by 0, 90, 180 and 270 degrees (``np.rot90``), and a
dense autoencoder learns them without being told the angle. k-means with k = 4 on the codes of the
training sixes gives four clusters; each cluster is matched to the angle most of its rows have (the
one-to-one matching of cluster accuracy). Scored on held-out test sixes (rotated the same four ways,
assigned to the clusters fitted on the training codes): NMI, ARI and cluster accuracy against the angle.

Then test nines, unrotated, are encoded and assigned to the same clusters. A nine looks like a six
turned upside down, so most nines should fall in the 180-degree cluster; the script prints the share of
nines in each cluster. It also clusters the raw pixels the same way, for comparison.

Writes ``results.json`` and ``codes_map.png`` (a 2-D PCA of the test codes coloured by angle, with the
nines on top) into ``--out``:

    python examples/rotation_sixes.py [--epochs 15] [--device auto] [--root FOLDER]
                                      [--out examples/figures/rotation_sixes]

Needs MNIST (``fewlabel datasets`` says where it looks; FEWLABEL_DATA=folder works).
"""

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from fewlabel import Autoencoder, datasets, plots  # noqa: E402
from fewlabel.metrics import cluster_mapping  # noqa: E402
from fewlabel.tasks.cluster import CodeClustering, evaluate_clustering  # noqa: E402

ANGLES = (0, 90, 180, 270)


def rotations(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every image four times, turned counter-clockwise by 0, 90, 180 and 270 degrees, and the angles."""
    X = np.concatenate([np.rot90(images, k=i, axes=(1, 2)) for i in range(len(ANGLES))])
    angle = np.repeat(np.array(ANGLES), len(images))
    return np.ascontiguousarray(X), angle


def shares(clusters: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(clusters, minlength=k) / len(clusters)


def score_clusters(name, Z_train, a_train, Z_test, a_test, Z_nines, seed):
    """k-means (k=4) fitted on the training rows; angle scores on the test rows; where the nines go."""
    km = CodeClustering(n_clusters=len(ANGLES), method="kmeans", random_state=seed).fit(Z_train)
    mapping = cluster_mapping(a_train, km.labels_)  # cluster -> angle, fixed on the training rows
    test = km.predict(Z_test)
    nines = km.predict(Z_nines)
    nine_share = shares(nines, len(ANGLES))
    by_angle = {str(mapping[c]): float(nine_share[c]) for c in range(len(ANGLES))}
    predicted = np.array([mapping[c] for c in test])
    return {
        "features": name,
        "train": evaluate_clustering(a_train, km.labels_),
        "test": {**evaluate_clustering(a_test, test),
                 "accuracy_with_train_mapping": float(np.mean(predicted == a_test))},
        "cluster_to_angle": {str(c): int(a) for c, a in mapping.items()},
        "nines_per_cluster_angle": by_angle,
        "nines_top_angle": int(max(by_angle, key=by_angle.get)),
    }, km, test, nines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("examples/figures/rotation_sixes"))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--device", default="auto")
    p.add_argument("--root", type=Path, help="folder holding the MNIST files")
    p.add_argument("--latent", type=int, default=32, help="code size (default 32)")
    p.add_argument("--max-sixes", type=int, help="use at most this many training sixes (default: all, ~5,900)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-raw", action="store_true", help="skip the raw-pixel comparison")
    args = p.parse_args(argv)

    t_start = time.perf_counter()
    X, y = datasets.load("mnist", split="train", root=args.root)
    Xt, yt = datasets.load("mnist", split="test", root=args.root)
    sixes = X[y == 6]
    if args.max_sixes is not None and args.max_sixes < len(sixes):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(sixes), args.max_sixes, replace=False))
        sixes = sixes[keep]
    X_train, a_train = rotations(sixes)
    X_test, a_test = rotations(Xt[yt == 6])
    nines = Xt[yt == 9]

    t0 = time.perf_counter()
    ae = Autoencoder(hidden=(256, 64), latent=args.latent, activation="relu", loss="bce", epochs=args.epochs,
                     batch_size=128, lr=1e-3, device=args.device, random_state=args.seed)
    ae.fit(X_train)
    train_seconds = time.perf_counter() - t0
    Z_train, Z_test, Z_nines = ae.transform(X_train), ae.transform(X_test), ae.transform(nines)

    codes, km, test_clusters, nine_clusters = score_clusters(f"autoencoder codes ({args.latent}-d)", Z_train,
                                                             a_train, Z_test, a_test, Z_nines, args.seed)
    runs = [codes]
    if not args.no_raw:
        flat = lambda A: A.reshape(len(A), -1).astype(np.float32) / 255  # noqa: E731
        runs.append(score_clusters("raw pixels", flat(X_train), a_train, flat(X_test), a_test, flat(nines),
                                   args.seed)[0])

    result = {
        "train_sixes": int(len(sixes)), "train_rows": int(len(X_train)), "test_rows": int(len(X_test)),
        "test_nines": int(len(nines)), "epochs": args.epochs, "latent": args.latent, "seed": args.seed,
        "autoencoder": "784-256-64-%d dense, relu, sigmoid output, binary cross-entropy" % args.latent,
        "final_loss": float(ae.history_.history["loss"][-1]), "train_seconds": round(train_seconds, 1),
        "runs": runs,
    }
    for r in runs:
        t = r["test"]
        print(f"{r['features']:28s} held-out sixes: accuracy {t['accuracy']:.3f}, NMI {t['nmi']:.3f}, "
              f"ARI {t['ari']:.3f}")
        print(f"{'':28s} nines per cluster (by angle): "
              + ", ".join(f"{a}: {s:.1%}" for a, s in sorted(r["nines_per_cluster_angle"].items(), key=lambda kv: int(kv[0]))))

    args.out.mkdir(parents=True, exist_ok=True)
    P = PCA(2, random_state=0).fit(Z_test)
    fig, ax = plt.subplots(figsize=(7, 6))
    plots.latent_scatter(P.transform(Z_test), a_test, class_names=[f"six, {a} deg" for a in ANGLES], ax=ax,
                         title=f"test codes (2-D PCA): rotated sixes, unrotated nines\n"
                               f"angle recovered for {codes['test']['accuracy']:.0%} of sixes; "
                               f"{codes['nines_per_cluster_angle']['180']:.0%} of nines in the 180-deg cluster")
    Pn = P.transform(Z_nines)
    ax.scatter(Pn[:, 0], Pn[:, 1], s=10, marker="x", c="black", linewidths=0.6, label="nine (not rotated)")
    ax.legend(markerscale=2, fontsize=8, loc="best")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    fig.savefig(args.out / "codes_map.png", dpi=110)
    plt.close(fig)
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    result["files"] = ["results.json", "codes_map.png"]
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'codes_map.png'} ({result['seconds']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
