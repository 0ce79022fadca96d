"""Does `fewlabel cluster` cluster better with the consensus of several UMAP maps than with one? One map's layout
is random: on Fashion-MNIST, maps of the same codes drawn with other seeds differ by several points of NMI.

For each data set (all 70,000 images) and seed it takes the codes ``ClusterModel(random_state=seed)`` makes (the
default autoencoder trained with that seed; cached in ``--cache`` as ``benchmarks/cluster_starts.py`` caches them,
with the seed's own map), then for each ``--n-maps`` value clusters them as the command does
(``CodeClustering(method='gmm', manifold='umap', n_init=10, n_maps=N, random_state=seed)``) and self-labels the
clusters as the command does (``self_label(images, labels, random_state=seed)``). One map is the seed's cached map
and the command's mixture on it (the same clusters ``n_maps=1`` draws). Each self-labelling result is kept in the
cache as it finishes; where an arm's clusters are the first arm's partition, its self-labelling is the first's.
Scores: NMI, ARI and matched accuracy against the classes; CPU seconds of each phase.
Writes ``benchmarks/results/cluster_maps-<cpu>.json``.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/cluster_maps.py \\
        --data fashion-mnist mnist --seeds 0 1 2 --cache runs/maps
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


def clusters(Z, E, seed: int, n_maps: int) -> tuple[np.ndarray, float]:
    """The command's clusters of the codes ``Z`` with ``n_maps`` maps (one map: the seed's map ``E``, cached) and
    the CPU seconds they took."""
    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.tasks.cluster import CodeClustering

    t0 = time.process_time()
    common = {"method": "gmm", "n_init": CLUSTER_DEFAULTS["n_init"], "random_state": seed}
    if n_maps == 1:
        labels = CodeClustering(10, manifold=None, **common).fit(E).labels_
    else:
        labels = CodeClustering(10, manifold="umap", n_maps=n_maps, **common).fit(Z).labels_
    return labels, time.process_time() - t0


def refined(name: str, seed: int, n_maps: int, labels, y, cache: Path, root) -> dict:
    """The command's self-labelling of ``labels`` (cached as ``cache/sl-maps-<name>-<seed>-m<n_maps>.json``)."""
    from cluster_codes import load_all

    from fewlabel.tasks.cluster import evaluate_clustering, self_label

    path = cache / f"sl-maps-{name}-{seed}-m{n_maps}.json"
    if path.exists():
        return json.loads(path.read_text())
    X, _ = load_all(name, None if root is None else Path(root) / name, 0)
    t0 = time.process_time()
    out = evaluate_clustering(y, self_label(X, labels, random_state=seed, device="cpu")["labels"])
    out["cpu_s"] = round(time.process_time() - t0, 1)
    path.write_text(json.dumps(out))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=["fashion-mnist", "mnist"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-maps", type=int, nargs="+", default=[1, 5])
    p.add_argument("--cache", type=Path, required=True, help="folder for the codes, maps and self-labelling results")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding the data sets' folders")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cluster_starts import build_map, same_partition
    from cpu_speed import cpu_slug

    from fewlabel.tasks.cluster import evaluate_clustering
    from fewlabel.train.state import write_json_atomic

    args.cache.mkdir(parents=True, exist_ok=True)
    out = args.out or HERE / "results" / f"cluster_maps-{cpu_slug()}.json"
    report = {"cpu": cpu_record(), "settings": {k: str(v) for k, v in vars(args).items()}, "results": {}}
    for name in args.data:
        for seed in args.seeds:
            m = build_map(name, seed, args.cache, args.root)
            first = None
            for n_maps in args.n_maps:
                labels, cpu = clusters(m["Z"], m["E"], seed, n_maps)
                r = {"mixture": evaluate_clustering(m["y"], labels) | {"cpu_s": round(cpu, 1)}}
                if first is not None and same_partition(first[1], labels):
                    # the same clusters as the first arm's: self-labelling them again is the same computation
                    r["refined"] = first[2] | {"same_partition_as": first[0]}
                else:
                    r["refined"] = refined(name, seed, n_maps, labels, m["y"], args.cache, args.root)
                first = first or (n_maps, labels, r["refined"])
                report["results"].setdefault(name, {}).setdefault(str(n_maps), {})[str(seed)] = r
                write_json_atomic(out, report)
                print(f"{name} seed {seed}, {n_maps} map(s): mixture NMI {r['mixture']['nmi']:.3f} accuracy "
                      f"{r['mixture']['accuracy']:.3f} ({cpu:.0f} CPU s); self-labelled NMI {r['refined']['nmi']:.3f} "
                      f"accuracy {r['refined']['accuracy']:.3f}", flush=True)
    for name, by_maps in report["results"].items():
        for n_maps, seeds in by_maps.items():
            for stage in ("mixture", "refined"):
                vals = [s[stage] for s in seeds.values()]
                summary = {k: {"mean": float(np.mean([v[k] for v in vals])), "std": float(np.std([v[k] for v in vals]))}
                           for k in ("nmi", "accuracy", "ari")}
                report.setdefault("summary", {}).setdefault(name, {}).setdefault(n_maps, {})[stage] = summary
                print(f"{name}, {n_maps} map(s), {stage}: NMI {summary['nmi']['mean']:.3f} ± {summary['nmi']['std']:.3f},"
                      f" accuracy {summary['accuracy']['mean']:.3f} ± {summary['accuracy']['std']:.3f}")
    write_json_atomic(out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
