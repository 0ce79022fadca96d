"""The saved clusterer places new rows in the clusters it found: ``fewlabel cluster`` with its defaults on the
60,000 training digits, then its saved model predicts the 10,000 test digits.

    python benchmarks/cluster_roundtrip.py --data mnist
    python benchmarks/cluster_roundtrip.py --data fashion-mnist

Scores: the training rows' NMI (the clusters the fit found), the test rows' NMI (from ``fewlabel.load`` of the
saved model, in batches as ``fewlabel predict`` reads), and the share of training rows that predicting them
again puts in their fitted cluster. Writes ``benchmarks/results/cluster_roundtrip-<data>.json`` with the times
of each phase and the CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _timing import Clock, cpu_record  # benchmarks/_timing.py (the script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    import torch

    import fewlabel
    from fewlabel import datasets
    from fewlabel.cli import main as fewlabel_main
    from fewlabel.metrics import ari, cluster_accuracy, nmi

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="mnist")
    p.add_argument("--root", default=None, help="folder holding <data>/ (default: fewlabel's search)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    root = ["--root", f"{args.root}/{args.data}"] if args.root else []
    kw = {"root": f"{args.root}/{args.data}"} if args.root else {}
    X, y = datasets.load(args.data, split="train", **kw)
    Xt, yt = datasets.load(args.data, split="test", **kw)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cluster"
        with Clock() as fit_clock:
            assert fewlabel_main(["cluster", "--data", args.data, *root, "--quiet", "--out", str(out)]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        model = fewlabel.load(out / "model")
        with Clock() as test_clock:
            test = np.concatenate([model.predict(Xt[i:i + 1024]) for i in range(0, len(Xt), 1024)])
        with Clock() as train_clock:
            again = np.concatenate([model.predict(X[i:i + 1024]) for i in range(0, len(X), 1024)])
    result = {
        "data": args.data, "cpu": cpu_record(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "train": {"rows": int(len(X)), "nmi": metrics["nmi"], "ari": metrics["ari"], "accuracy": metrics["accuracy"],
                  "before_refine_nmi": metrics.get("before_refine", {}).get("nmi")},
        "test": {"rows": int(len(Xt)), "nmi": nmi(yt, test), "ari": ari(yt, test),
                 "accuracy": cluster_accuracy(yt, test)},
        "train_again_agreement": float(np.mean(again == model.labels_)),
        "times": {"fit": fit_clock.read(), "predict_test": test_clock.read(), "predict_train": train_clock.read(),
                  "phases_cpu_s": metrics.get("phase_cpu_seconds")},
    }
    result["nmi_gap"] = result["test"]["nmi"] - result["train"]["nmi"]
    path = args.out or RESULTS / f"cluster_roundtrip-{args.data}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
