"""How many starts does `fewlabel cluster`'s Gaussian mixture need? One start on a map of the codes lands in one
of several local optima; the mixture with the highest likelihood of ``n_init`` starts is kept.

For each data set (all 70,000 images) and seed it builds the map exactly as ``ClusterModel()`` does (the default
autoencoder trained on the rows with that seed, its codes, UMAP with the command's settings and that seed) and
keeps it in ``--cache`` (a map takes several minutes of one core; a run cut short keeps the maps it made). On
each map:

- 50 single starts (other seeds than the command's): each one's likelihood, NMI and matched accuracy; then what
  "the best likelihood of n starts" gives for n = 1, 3, 10, 20, 50, over 2,000 draws of n of those starts;
- the mixture as the command fits it (``random_state`` = the seed) with one start and with ``n_init`` starts;
- with ``--refine``: the command's self-labelling after each of those two mixtures (skipped where they are the
  same partition), each result kept in the cache as it finishes.

Writes ``benchmarks/results/cluster_starts-<cpu>.json``. ``--test-map FILE`` also writes the first seed's map of
the first data set, 5,000 rows drawn by seed 0, as float16 with their labels: the test of the default's starts
reads it (``tests/data/fashion_mnist_map_5000.npz``).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/cluster_starts.py \\
        --data fashion-mnist mnist --seeds 0 1 2 --cache runs/maps --refine
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

DRAWS = 2000
SINGLE_STARTS = 50
TEST_MAP_ROWS = 5000


def _stem(name: str, rows: int) -> str:
    return name if not rows else f"{name}-{rows}rows"


def build_map(name: str, seed: int, cache: Path, root, rows: int = 0) -> dict:
    """The codes, the map and the labels of ``name``'s 70,000 images (or ``rows`` of them) as
    ``ClusterModel(random_state=seed)`` makes them (cached as ``cache/<name>-<seed>.npz``)."""
    from cluster_codes import load_all

    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.tasks.cluster import default_encoder, encode
    from fewlabel.tasks.manifold import make_reducer

    path = cache / f"{_stem(name, rows)}-{seed}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in ("Z", "E", "y")}
    X, y = load_all(name, None if root is None else Path(root) / name, rows)
    t0 = time.process_time()
    Z = encode(X, default_encoder(len(X), random_state=seed, device="cpu").fit(X))
    t1 = time.process_time()
    reducer = make_reducer("umap", CLUSTER_DEFAULTS["manifold_dim"], CLUSTER_DEFAULTS["n_neighbors"], seed,
                           n_rows=len(Z), n_features=Z.shape[1])
    E = np.asarray(reducer.fit_transform(Z), np.float32)
    print(f"{name} seed {seed}: encoder {t1 - t0:.0f} CPU s, map {time.process_time() - t1:.0f} CPU s", flush=True)
    tmp = path.with_suffix(".part.npz")
    np.savez(tmp, Z=Z, E=E, y=y)
    tmp.replace(path)
    return {"Z": Z, "E": E, "y": y}


def starts(E, y) -> dict:
    """Single starts and the best-of-n figures (see the module docstring)."""
    from sklearn.mixture import GaussianMixture

    from fewlabel.tasks.cluster import evaluate_clustering

    rows = []
    t0 = time.process_time()
    for s in range(SINGLE_STARTS):
        g = GaussianMixture(10, covariance_type="full", n_init=1, random_state=1000 + s).fit(E)
        r = evaluate_clustering(y, g.predict(E))
        rows.append((float(g.lower_bound_), r["nmi"], r["accuracy"]))
    cpu = (time.process_time() - t0) / SINGLE_STARTS
    a = np.asarray(rows)
    rng = np.random.default_rng(0)
    best_of = {}
    for n in (1, 3, 10, 20, 50):
        picks = [np.arange(SINGLE_STARTS)] if n == SINGLE_STARTS else [
            rng.choice(SINGLE_STARTS, n, replace=False) for _ in range(DRAWS)]
        best = np.asarray([p[np.argmax(a[p, 0])] for p in picks])
        best_of[str(n)] = {"nmi": float(a[best, 1].mean()), "nmi_std": float(a[best, 1].std()),
                           "accuracy": float(a[best, 2].mean()), "accuracy_std": float(a[best, 2].std())}
    return {"single_starts": [dict(zip(("lower_bound", "nmi", "accuracy"), r)) for r in rows],
            "cpu_s_per_start": round(cpu, 2), "corr_likelihood_nmi": float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]),
            "best_of": best_of}


def same_partition(a, b) -> bool:
    """Whether two labelings group the rows alike (a mixture's components come in any order)."""
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b) == 1.0


def command_mixture(E, y, seed: int, n_init: int) -> tuple[np.ndarray, dict]:
    from fewlabel.tasks.cluster import CodeClustering, evaluate_clustering

    t0 = time.process_time()
    labels = CodeClustering(10, method="gmm", manifold=None, random_state=seed, n_init=n_init).fit(E).labels_
    return labels, evaluate_clustering(y, labels) | {"cpu_s": round(time.process_time() - t0, 1)}


def refine(name, seed, n_init, labels, y, cache: Path, root, rows: int = 0) -> dict:
    """The command's self-labelling of ``labels`` (cached as ``cache/sl-<name>-<seed>-n<n_init>.json``)."""
    from cluster_codes import load_all

    from fewlabel.tasks.cluster import evaluate_clustering, self_label

    path = cache / f"sl-{_stem(name, rows)}-{seed}-n{n_init}.json"
    if path.exists():
        kept = json.loads(path.read_text())
        return kept["refined"] | {"cpu_s": kept["refine_cpu"]}
    X, _ = load_all(name, None if root is None else Path(root) / name, rows)
    t0 = time.process_time()
    out = self_label(X, labels, random_state=seed, device="cpu")
    r = evaluate_clustering(y, out["labels"])
    path.write_text(json.dumps({"refined": r, "refine_cpu": round(time.process_time() - t0, 1)}))
    return r | {"cpu_s": round(time.process_time() - t0, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=["fashion-mnist", "mnist"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cache", type=Path, required=True, help="folder for the maps and the self-labelling results")
    p.add_argument("--rows", type=int, default=0, help="this many of the 70,000 images, drawn by seed 0 (default all)")
    p.add_argument("--refine", action="store_true", help="self-label after one start and after the default's starts")
    p.add_argument("--test-map", type=Path, help="also write the first map's 5,000-row sample here")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding the data sets' folders")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.train.state import write_json_atomic

    n_init = CLUSTER_DEFAULTS["n_init"]
    args.cache.mkdir(parents=True, exist_ok=True)
    out = args.out or HERE / "results" / f"cluster_starts-{cpu_slug()}.json"
    report = {"cpu": cpu_record(), "n_init": n_init, "settings": {k: str(v) for k, v in vars(args).items()},
              "results": {}}
    for name in args.data:
        for seed in args.seeds:
            m = build_map(name, seed, args.cache, args.root, args.rows)
            E, y = m["E"], m["y"]
            if args.test_map is not None and name == args.data[0] and seed == args.seeds[0]:
                pick = np.sort(np.random.default_rng(0).choice(len(E), TEST_MAP_ROWS, replace=False))
                args.test_map.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(args.test_map, E=E[pick].astype(np.float16), y=y[pick].astype(np.uint8))
            r = starts(E, y)
            one, r["one_start"] = command_mixture(E, y, seed, 1)
            default, r["default_starts"] = command_mixture(E, y, seed, n_init)
            if args.refine:
                r["default_starts"]["refined"] = refine(name, seed, n_init, default, y, args.cache, args.root,
                                                        args.rows)
                r["one_start"]["refined"] = (r["default_starts"]["refined"] if same_partition(one, default) else
                                             refine(name, seed, 1, one, y, args.cache, args.root, args.rows))
            report["results"].setdefault(name, {})[str(seed)] = r
            write_json_atomic(out, report)
            line = " ".join(f"best of {n}: {v['nmi']:.3f} ± {v['nmi_std']:.3f}" for n, v in r["best_of"].items())
            print(f"{name} seed {seed}: {line}; the command's mixture, 1 start {r['one_start']['nmi']:.3f} / "
                  f"{n_init} starts {r['default_starts']['nmi']:.3f}", flush=True)
    for name, seeds in report["results"].items():
        for key in ("one_start", "default_starts"):
            for stage in ("mixture", "refined"):
                vals = [s[key] if stage == "mixture" else s[key].get("refined") for s in seeds.values()]
                if any(v is None for v in vals):
                    continue
                summary = {k: {"mean": float(np.mean([v[k] for v in vals])), "std": float(np.std([v[k] for v in vals]))}
                           for k in ("nmi", "accuracy", "ari")}
                report.setdefault("summary", {}).setdefault(name, {}).setdefault(key, {})[stage] = summary
                print(f"{name} {key} {stage}: NMI {summary['nmi']['mean']:.3f} ± {summary['nmi']['std']:.3f}, "
                      f"accuracy {summary['accuracy']['mean']:.3f} ± {summary['accuracy']['std']:.3f}")
    write_json_atomic(out, report)
    return report


if __name__ == "__main__":
    main()
