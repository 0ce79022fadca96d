"""The classifier's default map (``ClusterPropagator``: UMAP of the rows, 784 pixel values) as the rows grow: its
working memory and time, and the propagated labels' accuracy, for this checkout and optionally an earlier one.

Memory: each row count in a fresh process, the scaling benchmark's rows (``scaling.rows_of_mnist``: MNIST, then
shifted copies) as float32 in [0, 1]; the resident memory sampled every 20 ms around
``ClusterPropagator(random_state=0).embed``, and the working memory is its peak above what the process held just
before (the rows included). Scores: ``map_pca``'s measurement with the rows as they are (all 70,000 images of a
data set, ``--labels`` labeled, the propagated labels' accuracy on the unlabeled rows, the process's peak).

``--cluster DATA``: ``fewlabel cluster``'s codes of all 70,000 images (its default autoencoder, seed 0), then its
map and its mixture of them (``--seeds``: the map's and the mixture's seeds), NMI and matched accuracy.

``--before DIR`` runs the same processes again on DIR's ``src`` (a checkout of an earlier commit, e.g.
``git worktree add /tmp/before HEAD~1``), so that both codes are measured in one run on one machine.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/map_memory.py --rows 35000 70000 140000 280000 \\
        --data mnist fashion-mnist --seeds 0 1 2 --before /tmp/before

Writes ``benchmarks/results/map_memory-<cpu>.json``.
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


def memory(rows: int, root) -> dict:
    """One row count in this process: the map's working memory and time."""
    import time

    import numpy as np
    from _timing import PeakMemory, resident_mb

    from scaling import rows_of_mnist

    from fewlabel.tasks.propagator import ClusterPropagator

    X, _ = rows_of_mnist(rows, root)
    Z = X.reshape(len(X), -1).astype(np.float32) * np.float32(1 / 255)
    del X

    before = resident_mb()
    gauge = PeakMemory(0.02)
    t0, c0 = time.perf_counter(), time.process_time()
    ClusterPropagator(random_state=0).embed(Z)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = gauge.stop()
    return {"rows": rows, "float32_rows_mb": round(Z.nbytes / 2**20), "rss_before_mb": round(before),
            "peak_mb": round(peak), "working_mb": round(peak - before),
            "working_bytes_per_row": round((peak - before) * 2**20 / rows), "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1)}


def encoder_codes(data: str, seed: int, root, path: Path) -> dict:
    """``fewlabel cluster``'s codes of ``data``'s 70,000 images (its default autoencoder, ``seed``), kept in ``path``."""
    import time

    import numpy as np

    from cluster_codes import load_all

    from fewlabel.tasks.cluster import default_encoder, encode

    X, y = load_all(data, None if root is None else Path(root) / data, 0)
    c0 = time.process_time()
    Z = encode(X, default_encoder(len(X), random_state=seed, device="cpu").fit(X))
    np.savez(path, Z=Z, y=y)
    return {"data": data, "encoder_seed": seed, "rows": len(Z), "encoder_cpu_s": round(time.process_time() - c0, 1)}


def cluster(path: Path, seed: int) -> dict:
    """The command's map and mixture of the codes in ``path`` (map and mixture seeded by ``seed``) in this process."""
    import time

    import numpy as np

    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.tasks.cluster import CodeClustering, evaluate_clustering
    from fewlabel.tasks.manifold import make_reducer

    with np.load(path, allow_pickle=False) as d:
        Z, y = d["Z"], d["y"]
    c0 = time.process_time()
    E = make_reducer("umap", CLUSTER_DEFAULTS["manifold_dim"], CLUSTER_DEFAULTS["n_neighbors"], seed,
                     n_rows=len(Z), n_features=Z.shape[1]).fit_transform(Z)
    c1 = time.process_time()
    labels = CodeClustering(10, method="gmm", manifold=None, random_state=seed,
                            n_init=CLUSTER_DEFAULTS["n_init"]).fit(np.asarray(E, np.float32)).labels_
    return {"codes": path.name, "seed": seed, **evaluate_clustering(y, labels), "map_cpu_s": round(c1 - c0, 1),
            "mixture_cpu_s": round(time.process_time() - c1, 1)}


def run(args: list[str], src: Path | None) -> dict:
    from _timing import in_checkout

    out = in_checkout(__file__, args, src)
    if "--start" in args and src is None:
        out["start"] = args[args.index("--start") + 1]
    print(json.dumps(out), flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="*", default=[35000, 70000, 140000])
    p.add_argument("--data", nargs="*", default=[], help="data sets to score (mnist, fashion-mnist)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--cluster", nargs="*", default=[], help="data sets whose cluster codes (encoder seed 0) are "
                   "mapped and clustered as `fewlabel cluster` does, one map per seed")
    p.add_argument("--codes-dir", type=Path, default=Path("runs/map_memory"), help="where --cluster keeps its codes")
    p.add_argument("--before", type=Path, help="a checkout of an earlier commit, measured the same way")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding <data>/")
    p.add_argument("--one-memory", type=int, help=argparse.SUPPRESS)
    p.add_argument("--start", choices=["lobpcg", "arpack"], default="lobpcg",
                   help="scores: the map's spectral start as this checkout finds it, or as umap-learn does")
    p.add_argument("--one-score", nargs=2, metavar=("DATA", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--one-codes", nargs=2, metavar=("DATA", "PATH"), help=argparse.SUPPRESS)
    p.add_argument("--one-cluster", nargs=2, metavar=("PATH", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.one_memory:
        print(json.dumps(memory(args.one_memory, args.root)))
        return 0
    if args.one_score:
        from map_pca import one

        if args.start == "arpack":  # the neighbours without the index kept, and umap-learn's own start
            import fewlabel.tasks.manifold

            fewlabel.tasks.manifold.spectral_start = lambda *a, **k: None
        print(json.dumps(one(args.one_score[0], 0, int(args.one_score[1]), args.labels, args.root)))
        return 0
    if args.one_codes:
        print(json.dumps(encoder_codes(args.one_codes[0], 0, args.root, Path(args.one_codes[1]))))
        return 0
    if args.one_cluster:
        print(json.dumps(cluster(Path(args.one_cluster[0]), int(args.one_cluster[1]))))
        return 0
    from _timing import cpu_record
    from cpu_speed import cpu_slug

    root = ["--root", str(args.root)] if args.root else []
    codes = [None] + ([args.before.resolve()] if args.before else [])
    memory_runs = [run(["--one-memory", str(n), *root], src) for n in args.rows for src in codes]
    start = ["--start", args.start]
    score_runs = [run(["--one-score", data, str(seed), "--labels", str(args.labels), *start, *root], src)
                  for data in args.data for seed in args.seeds for src in codes]
    cluster_runs = []
    for data in args.cluster:
        args.codes_dir.mkdir(parents=True, exist_ok=True)
        path = (args.codes_dir / f"{data}-codes-0.npz").resolve()
        if not path.exists():
            cluster_runs.append(run(["--one-codes", data, str(path), *root], None))
        cluster_runs += [run(["--one-cluster", str(path), str(seed)], src) for seed in args.seeds for src in codes]
    out = args.out or HERE / "results" / f"map_memory-{cpu_slug()}.json"
    before = None
    if args.before:
        before = subprocess.run(["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or str(args.before)
    now = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    out.write_text(json.dumps({"what": __doc__.split("\n\n")[0].replace("\n", " "), "cpu": cpu_record(),
                               "threads": os.environ.get("OMP_NUM_THREADS", "all cores"),
                               "code": {"now": now, "before": before}, "memory": memory_runs,
                               "scores": score_runs, "cluster": cluster_runs}, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
