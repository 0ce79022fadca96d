"""Can the clusters be re-drawn from what the self-labelling network learned? (issue 28: self-labelling moves rows
between clusters but cannot re-draw them.)

For each data set and seed it builds the map as ``ClusterModel(random_state=seed)`` does (the default autoencoder,
UMAP; cached in ``--cache`` as ``benchmarks/cluster_starts.py`` caches it), fits the command's mixture, and then
scores, each step against the images' classes (NMI, matched accuracy, ARI, CPU seconds):

- ``self-label 1``, ``self-label 2 (the default)``: the command's two self-labelling rounds;
- ``redrawn after round 1``: the first round's network's features (its last conv stage, max-pooled: what its
  head reads) mapped by UMAP with the command's settings and clustered by the command's mixture: clusters drawn
  from features that learned to answer every shifted view of an image alike, not from the autoencoder's codes;
- ``redrawn, then self-label``: the second round trained on those clusters (the command's cost plus one map);
- ``redrawn twice``, ``redrawn twice, then self-label``: the same once more.

``--augment shift`` trains the autoencoder on randomly shifted and rotated images instead (``Autoencoder(augment=
"shift")``, as DEC-DA does), and scores its mixture and the command's self-labelling on it.
``--rows N`` takes N of the 70,000 images (drawn by seed 0, as ``cluster_starts.py`` draws them).
Writes ``benchmarks/results/cluster_redraw-<cpu>.json`` (``--out``), each seed as it finishes.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/cluster_redraw.py \\
        --data fashion-mnist --seeds 0 --cache runs/maps --rows 10000
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


def shifted_map(name: str, seed: int, cache: Path, root, rows: int) -> dict:
    """The codes' map as :func:`cluster_starts.build_map` makes it, from an autoencoder trained on shifted and
    rotated images (cached as ``cache/<name>[-<rows>rows]-shift-<seed>.npz``)."""
    from cluster_codes import load_all
    from cluster_starts import _stem

    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.tasks.cluster import default_encoder, encode
    from fewlabel.tasks.manifold import make_reducer

    path = cache / f"{_stem(name, rows)}-shift-{seed}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in ("Z", "E", "y")}
    X, y = load_all(name, None if root is None else Path(root) / name, rows)
    Z = encode(X, default_encoder(len(X), random_state=seed, device="cpu", augment="shift").fit(X))
    reducer = make_reducer("umap", CLUSTER_DEFAULTS["manifold_dim"], CLUSTER_DEFAULTS["n_neighbors"], seed,
                           n_rows=len(Z), n_features=Z.shape[1])
    E = np.asarray(reducer.fit_transform(Z), np.float32)
    tmp = path.with_suffix(".part.npz")
    np.savez(tmp, Z=Z, E=E, y=y)
    tmp.replace(path)
    return {"Z": Z, "E": E, "y": y}


def network_features(net, images: np.ndarray, batch: int = 2000) -> np.ndarray:
    """What the self-labelling network's head reads for each image: its last conv stage, max-pooled."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.tensor(images[i:i + batch]).float().div_(255.0)
            out.append(net.features(x).amax(dim=(2, 3)).float().numpy())
    return np.concatenate(out)


def redraw(net, images: np.ndarray, seed: int) -> np.ndarray:
    """Clusters drawn afresh from the network's features, by the command's map and mixture."""
    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.tasks.cluster import CodeClustering
    from fewlabel.tasks.manifold import make_reducer

    F = network_features(net, images)
    reducer = make_reducer("umap", CLUSTER_DEFAULTS["manifold_dim"], CLUSTER_DEFAULTS["n_neighbors"], seed,
                           n_rows=len(F), n_features=F.shape[1])
    E = np.asarray(reducer.fit_transform(F), np.float32)
    return CodeClustering(10, method="gmm", manifold=None, random_state=seed,
                          n_init=CLUSTER_DEFAULTS["n_init"]).fit(E).labels_


def run(name: str, seed: int, cache: Path, root, rows: int, augment: bool) -> dict:
    from cluster_codes import load_all
    from cluster_starts import build_map, command_mixture

    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.tasks.cluster import as_images, evaluate_clustering, self_label

    m = shifted_map(name, seed, cache, root, rows) if augment else build_map(name, seed, cache, root, rows)
    X, _ = load_all(name, None if root is None else Path(root) / name, rows)
    images, y = as_images(X), m["y"]
    out = {}

    def step(tag, fn):
        t0 = time.process_time()
        result = fn()
        labels = result["labels"] if isinstance(result, dict) else result
        r = evaluate_clustering(y, labels)
        out[tag] = {k: round(float(r[k]), 4) for k in ("nmi", "accuracy", "ari")}
        out[tag]["cpu_s"] = round(time.process_time() - t0, 1)
        print(name, seed, tag, json.dumps(out[tag]), flush=True)
        return result

    mixture = step("mixture", lambda: command_mixture(m["E"], y, seed, CLUSTER_DEFAULTS["n_init"])[0])
    first = step("self-label 1", lambda: self_label(images, mixture, rounds=1, random_state=seed, device="cpu"))
    step("self-label 2 (the default)",
         lambda: self_label(images, first["labels"], rounds=1, random_state=seed + 1, device="cpu"))
    if augment:
        return out
    redrawn = step("redrawn after round 1", lambda: redraw(first["network"], images, seed))
    second = step("redrawn, then self-label",
                  lambda: self_label(images, redrawn, rounds=1, random_state=seed + 1, device="cpu"))
    again = step("redrawn twice", lambda: redraw(second["network"], images, seed))
    step("redrawn twice, then self-label",
         lambda: self_label(images, again, rounds=1, random_state=seed + 2, device="cpu"))
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=["fashion-mnist"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cache", type=Path, required=True, help="folder for the maps (shared with cluster_starts.py)")
    p.add_argument("--rows", type=int, default=0, help="this many of the 70,000 images, drawn by seed 0 (default all)")
    p.add_argument("--augment", choices=["none", "shift"], default="none", help="the autoencoder's augmentation")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding the data sets' folders")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    from fewlabel.train.state import write_json_atomic

    args.cache.mkdir(parents=True, exist_ok=True)
    out = args.out or HERE / "results" / f"cluster_redraw-{cpu_slug()}.json"
    report = {"cpu": cpu_record(), "settings": {k: str(v) for k, v in vars(args).items()}, "results": {}}
    for name in args.data:
        for seed in args.seeds:
            report["results"].setdefault(name, {})[str(seed)] = run(name, seed, args.cache, args.root, args.rows,
                                                                   args.augment == "shift")
            write_json_atomic(out, report)
    for name, seeds in report["results"].items():
        for tag in next(iter(seeds.values())):
            nmi = [s[tag]["nmi"] for s in seeds.values()]
            acc = [s[tag]["accuracy"] for s in seeds.values()]
            summary = {"nmi": {"mean": float(np.mean(nmi)), "std": float(np.std(nmi))},
                       "accuracy": {"mean": float(np.mean(acc)), "std": float(np.std(acc))}}
            report.setdefault("summary", {}).setdefault(name, {})[tag] = summary
            print(f"{name} {tag}: NMI {summary['nmi']['mean']:.3f} ± {summary['nmi']['std']:.3f}, "
                  f"accuracy {summary['accuracy']['mean']:.3f} ± {summary['accuracy']['std']:.3f}", flush=True)
    write_json_atomic(out, report)
    return report


if __name__ == "__main__":
    main()
