"""Do ``Autoencoder()``'s default codes cluster better than the raw pixels?

k-means (k = 10, 10 restarts) on the codes of ``Autoencoder(**variant)`` trained on 10,000 rows of the
training split, beside k-means on the raw pixels of the same rows, NMI against the labels, on MNIST and
Fashion-MNIST, one seed per variant unless ``--seeds`` says more. Wall and CPU seconds per fit.

    python benchmarks/default_codes.py                                  # the defaults alone
    python benchmarks/default_codes.py --variant '{"noise": "mask"}'    # a candidate default beside them
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi

from fewlabel import Autoencoder, datasets
from fewlabel.train.state import write_json_atomic


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"])
    p.add_argument("--root", type=Path, help="folder holding <name>/ dataset folders")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    p.add_argument("--variant", action="append", default=[], help="JSON of Autoencoder parameters to try")
    p.add_argument("--skip-defaults", action="store_true", help="run only the --variant settings")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "default_codes-cpu.json")
    args = p.parse_args(argv)
    variants = ([] if args.skip_defaults else [{}]) + [json.loads(v) for v in args.variant]
    report = {"settings": vars(args) | {"root": str(args.root), "out": str(args.out)}, "results": {}}
    kmeans = lambda Z: KMeans(10, n_init=10, random_state=0).fit_predict(Z)  # noqa: E731
    for name in args.data:
        X, y = datasets.load(name, split="train", root=args.root / name if args.root else None)
        pick = np.random.default_rng(0).choice(len(X), args.rows, replace=False)
        X, y = X[pick], y[pick]
        res = report["results"].setdefault(name, {"rows": int(len(X))})
        res["raw_kmeans_nmi"] = float(nmi(y, kmeans(X.reshape(len(X), -1) / 255.0)))
        print(name, "raw pixels k-means NMI", round(res["raw_kmeans_nmi"], 4), flush=True)
        for variant in variants:
            runs = []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                t0, c0 = time.perf_counter(), time.process_time()
                ae = Autoencoder(**variant, device=args.device, random_state=seed).fit(X)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                runs.append({"seed": seed, "nmi": float(nmi(y, kmeans(ae.transform(X)))),
                             "fit_seconds": round(wall, 1), "fit_cpu_seconds": round(cpu, 1),
                             "final_loss": float(ae.history_.history["loss"][-1])})
                print(name, variant or "defaults", runs[-1], flush=True)
            scores = [r["nmi"] for r in runs]
            res[json.dumps(variant) if variant else "defaults"] = {
                "runs": runs, "nmi_mean": float(np.mean(scores)), "nmi_std": float(np.std(scores))}
            write_json_atomic(args.out, report)
    return report


if __name__ == "__main__":
    main()
