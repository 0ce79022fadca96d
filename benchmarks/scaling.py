"""How the cost of `fewlabel cluster` and `fewlabel classify` grows with the rows: wall and CPU time, each phase's
CPU time, peak memory and the scores, from 17,500 rows up, in a fresh process per size.

The rows are MNIST (the 70,000 training and test digits), then copies of them shifted by up to 2 pixels (a new
row that is still the same digit), written with their labels to an ``.npz`` that the command reads. Each size
runs ``fewlabel cluster --data FILE --out DIR --quiet`` with nothing else set (autoencoder, UMAP + Gaussian
mixture, self-labelling). The phases are the CPU seconds its metrics.json records (the encoder's training, then
the clusterer's map and mixture, and self-labelling); with one thread a process (``OMP_NUM_THREADS=1``) a
phase's CPU time is its wall time. Per row, each is divided by the rows; memory is set beside the rows in uint8.
Writes ``benchmarks/results/scaling-cluster-<cpu>.json`` and its figure (``.png``).

``--task classify`` keeps ``--labels`` of the labels (a stratified draw) and runs ``fewlabel classify --data FILE
--out DIR --folds 0 --quiet``: the default classifier (map, mixture, the route's measurement and its networks;
the phases its saved model records) and the detector behind the unfamiliar column, without the accuracy
estimate (``--folds 0``: that is the same work again on folds). Scored on the unlabeled rows' predictions.
Writes ``scaling-classify-<cpu>.json``.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 FEWLABEL_DATA=../shared/data python benchmarks/scaling.py \\
        --rows 17500 35000 70000 140000 280000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def rows_of_mnist(n: int, root) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows: the 70,000 MNIST digits, then copies shifted by (dx, dy), nearest shifts first."""
    from fewlabel import datasets

    folder = None if root is None else Path(root) / "mnist"
    X, y = datasets.load("mnist", split="train", root=folder)
    Xt, yt = datasets.load("mnist", split="test", root=folder)
    X, y = np.concatenate([X, Xt]), np.concatenate([y, yt])
    from memmap_scale import copy_shifts

    shifts = copy_shifts(n, len(X))
    parts, labels, done = [], [], 0
    for dx, dy in shifts:
        k = min(len(X), n - done)
        if k <= 0:
            break
        shifted = np.roll(X[:k], (dx, dy), axis=(1, 2))
        # what rolls in from the far side is cleared: a shift, not a rotation of the picture
        if dx > 0:
            shifted[:, :dx] = 0
        elif dx < 0:
            shifted[:, dx:] = 0
        if dy > 0:
            shifted[:, :, :dy] = 0
        elif dy < 0:
            shifted[:, :, dy:] = 0
        parts.append(shifted)
        labels.append(y[:k])
        done += k
    return np.concatenate(parts), np.concatenate(labels)


def phases(metrics: dict) -> dict:
    """CPU seconds of each phase from the command's metrics.json. ``fewlabel cluster``: the encoder (which the
    command trains before the clusterer), then the clusterer's own phases. ``fewlabel classify``: the
    classifier's phases, then the unfamiliarity detector."""
    if "times" in metrics:
        fit = metrics["times"]["fit"]
        out = {name: t["cpu_seconds"] for name, t in (fit.get("phases") or {}).items()}
        return out | {name: t["cpu_seconds"] for name, t in metrics["times"].items() if name not in ("fit", "total")}
    out = {}
    if metrics.get("encoder_trained"):
        out["encoder"] = metrics["encoder_trained"]["cpu_seconds"]
    return out | (metrics.get("phase_cpu_seconds") or {})


def classify_accuracy(out: Path, y: np.ndarray) -> float:
    """Accuracy of ``fewlabel classify``'s predictions.csv (rows named 1, 2, ...) against the digits ``y``."""
    import csv

    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    index = np.array([int(r["row"]) - 1 for r in rows])
    return float(np.mean(np.array([r["label"] for r in rows]) == y[index].astype(str)))


def draw(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    rows = np.array([r["rows"] for r in runs])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(rows, [1e3 * r["wall_s"] / r["rows"] for r in runs], "o-", label="whole command (wall)")
    a.plot(rows, [1e3 * r["cpu_s"] / r["rows"] for r in runs], "o-", label="whole command (CPU)")
    for phase in runs[0]["phases"]:
        a.plot(rows, [1e3 * r["phases"].get(phase, np.nan) / r["rows"] for r in runs], "o--", label=phase)
    a.set(xscale="log", xlabel="rows", ylabel="ms per row", title="time per row")
    a.legend(fontsize=8)
    b.plot(rows, [r["peak_rss_mb"] for r in runs], "o-", label="peak resident memory")
    b.plot(rows, [r["uint8_mb"] for r in runs], "o--", label="the rows in uint8")
    b.set(xscale="log", yscale="log", xlabel="rows", ylabel="MB", title="memory")
    b.legend(fontsize=8)
    fig.suptitle(f"fewlabel {results.get('task', 'cluster')}, defaults: {results['cpu']['model_name']}, "
                 f"{results['threads']} thread(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[17_500, 35_000, 70_000, 140_000, 280_000])
    p.add_argument("--task", choices=["cluster", "classify"], default="cluster")
    p.add_argument("--labels", type=int, default=100, help="classify: labeled rows (default 100)")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding mnist/")
    p.add_argument("--out", type=Path, help="the results file (default: benchmarks/results/scaling-TASK-<cpu>.json)")
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug
    from memmap_scale import timed

    from fewlabel.datasets import labeled_subset

    out = args.out or HERE / "results" / f"scaling-{args.task}-{cpu_slug()}.json"
    # sizes measured earlier (other runs of this script, perhaps side by side) are kept and re-sorted
    earlier = json.loads(out.read_text())["runs"] if out.exists() else []
    results = {"cpu": cpu_record(), "threads": os.environ.get("OMP_NUM_THREADS", "all cores"),
               "task": args.task, "command": f"fewlabel {args.task} --data ROWS.npz --out DIR"
               + (" --folds 0" if args.task == "classify" else "") + " --quiet", "runs": []}
    if args.task == "classify":
        results["labels"] = args.labels
    work = Path(tempfile.mkdtemp(prefix="fewlabel-scaling-"))
    runs = {r["rows"]: r for r in earlier}
    for n in args.rows:
        X, y = rows_of_mnist(n, args.root)
        data = work / f"rows-{n}.npz"
        np.savez(data, X=X, y=y if args.task == "cluster" else labeled_subset(y, args.labels, seed=0))
        extra = ["--folds", "0"] if args.task == "classify" else []
        r = timed([sys.executable, "-m", "fewlabel.cli", args.task, "--data", str(data), "--out", str(work / f"c{n}"),
                   *extra, "--quiet"])
        m = json.loads((work / f"c{n}" / "metrics.json").read_text())
        if args.task == "classify":
            m["accuracy"] = classify_accuracy(work / f"c{n}", y)
        run = {"rows": n, "uint8_mb": X.nbytes / 2**20, "wall_s": round(r["wall_s"], 1), "cpu_s": round(r["cpu_s"], 1),
               "peak_rss_mb": round(r["peak_rss_mb"], 1), "peak_anon_mb": round(r["peak_anon_mb"], 1),
               "phases": phases(m), "nmi": m.get("nmi"), "accuracy": m.get("accuracy"),
               "before_refine": m.get("before_refine"), "route": m.get("route")}
        runs[n] = run
        scores = (f"NMI {run['nmi']:.3f}, " if run["nmi"] is not None else f"route: {run['route']}, ") \
            + f"accuracy {run['accuracy']:.3f}"
        print(f"{n:,} rows: {run['wall_s']:.0f} s wall ({1e3 * run['wall_s'] / n:.2f} ms a row), "
              + ", ".join(f"{k} {v:.0f} s" for k, v in run["phases"].items())
              + f"; peak memory {run['peak_rss_mb']:,.0f} MB ({run['uint8_mb']:,.0f} MB of uint8 rows); {scores}",
              flush=True)
        data.unlink()
    results["runs"] = [runs[n] for n in sorted(runs)]
    first = results["runs"][0]
    for run in results["runs"]:
        run["time_per_row_vs_smallest"] = round((run["wall_s"] / run["rows"]) / (first["wall_s"] / first["rows"]), 3)
    out.write_text(json.dumps(results, indent=1))
    draw(results, out.with_suffix(".png"))
    print("wrote", out, "and", out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
