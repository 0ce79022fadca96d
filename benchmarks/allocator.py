"""What keeping freed memory between training steps (``fewlabel.train.memory``) gives, on this machine.

Each workload runs in a fresh process twice per repeat, once as fewlabel runs it and once with
``FEWLABEL_MALLOC=system`` (glibc's own malloc settings), the two interleaved so that a busy moment on the
machine falls on both. A process reports its training's wall and CPU seconds, the page faults it took
(``getrusage``'s minor faults: each is a page of memory handed back by the system and zeroed) and its peak
resident memory.

* ``classifier``: the default classifier's network for images (``SemiSupervisedClassifier(propagate=None)``:
  the conv network, shifted views) for ``--steps`` optimizer steps on 3,000 Fashion-MNIST rows.
* ``dense_ae``: ``Autoencoder(hidden=(500, 500, 2000), latent=10, epochs=1)`` on ``--rows`` MNIST rows.
* ``conv_ae``: ``ConvAutoencoder(epochs=1, batch_size=128)`` on ``--rows`` Fashion-MNIST rows.

    python benchmarks/allocator.py          # writes benchmarks/results/allocator-<cpu>.json
    OMP_NUM_THREADS=1 python benchmarks/allocator.py --repeats 3 --steps 60

Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WORKLOADS = ("classifier", "dense_ae", "conv_ae")


def child(workload: str, root: str | None, steps: int, rows: int) -> dict:
    import numpy as np

    from fewlabel import (
        Autoencoder,
        ConvAutoencoder,
        SemiSupervisedClassifier,
        datasets,
    )

    if workload == "classifier":
        X, y = datasets.load("fashion-mnist", root=None if root is None else Path(root) / "fashion-mnist")
        pick = np.random.default_rng(0).choice(len(X), 3000, replace=False)
        X, y = X[pick], y[pick]
        model = SemiSupervisedClassifier(propagate=None, max_steps=steps, device="cpu")
        fit = lambda: model.fit(X, y)
    elif workload == "conv_ae":
        X, _ = datasets.load("fashion-mnist", root=None if root is None else Path(root) / "fashion-mnist")
        model = ConvAutoencoder(epochs=1, batch_size=128, device="cpu")
        fit = lambda: model.fit(X[:rows])
    else:
        X, _ = datasets.load("mnist", root=None if root is None else Path(root) / "mnist")
        model = Autoencoder(hidden=(500, 500, 2000), latent=10, epochs=1, device="cpu")
        fit = lambda: model.fit(X[:rows])
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    wall0, cpu0 = time.perf_counter(), time.process_time()
    fit()
    return {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
            "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(workload: str, malloc: str, args) -> dict:
    env = {**os.environ}
    env.pop("FEWLABEL_MALLOC", None)
    if malloc == "system":
        env["FEWLABEL_MALLOC"] = "system"
    cmd = [sys.executable, __file__, "--child", workload, "--steps", str(args.steps), "--rows", str(args.rows)]
    if args.root:
        cmd += ["--root", args.root]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{workload} ({malloc}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=60, help="the classifier's optimizer steps")
    p.add_argument("--rows", type=int, default=20000, help="the autoencoders' rows")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding mnist/ and fashion-mnist/")
    p.add_argument("--out", type=Path)
    p.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.root, args.steps, args.rows)))
        return 0

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    results = {"cpu": cpu_record(), "threads": os.environ.get("OMP_NUM_THREADS", "all cores"),
               "repeats": args.repeats, "steps": args.steps, "rows": args.rows, "workloads": {}}
    for workload in args.workloads:
        runs = {"fewlabel": [], "system": []}
        for r in range(args.repeats):
            for malloc in ("fewlabel", "system"):
                runs[malloc].append(run_child(workload, malloc, args))
                print(workload, malloc, {k: round(v, 2) for k, v in runs[malloc][-1].items()}, flush=True)
        med = {m: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for m, rs in runs.items()}
        results["workloads"][workload] = {
            "runs": runs, "median": med,
            "speedup_wall": med["system"]["wall_s"] / med["fewlabel"]["wall_s"],
            "speedup_cpu": med["system"]["cpu_s"] / med["fewlabel"]["cpu_s"],
            "faults_ratio": med["fewlabel"]["minor_faults"] / max(med["system"]["minor_faults"], 1),
            "peak_rss_ratio": med["fewlabel"]["peak_rss_mb"] / med["system"]["peak_rss_mb"]}
        w = results["workloads"][workload]
        print(f"{workload}: {w['speedup_wall']:.2f}x wall, {w['speedup_cpu']:.2f}x CPU, page faults x"
              f"{w['faults_ratio']:.3f}, peak memory x{w['peak_rss_ratio']:.2f} against glibc's own settings")
    out = args.out or HERE / "results" / f"allocator-{cpu_slug()}.json"
    out.write_text(json.dumps(results, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
