"""BYOL probe (issue 4): does BYOL pretraining give a small encoder better features on real MNIST digits?

For each seed, on a fixed subset of MNIST (``--rows`` training digits, 1,000 test digits): the encoder
untrained (the same network at initialisation) and after ``--epochs`` of BYOL on the training digits
(labels unused). Each is scored with a linear probe (logistic regression on standardised codes) trained
on ``--labels`` of the training digits, and a 5-nearest-neighbour classifier on all of them; scores on the
test digits. Writes benchmarks/results/byol_probe-<device>.json.

    python benchmarks/byol_probe.py                          # conv encoder, 3,000 digits, 10 epochs, 2 seeds
    python benchmarks/byol_probe.py --encoder resnet18 --device cuda --rows 60000 --epochs 100
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from fewlabel import BYOL, datasets
from fewlabel.train import resolve_device
from fewlabel.train.state import write_json_atomic


def probe(est, X, y, Xt, yt, n_labels):
    Z, Zt = est.transform(X), est.transform(Xt)
    mean, std = Z.mean(0), Z.std(0) + 1e-6
    linear = LogisticRegression(max_iter=3000).fit((Z[:n_labels] - mean) / std, y[:n_labels])
    return {"linear_probe": float(linear.score((Zt - mean) / std, yt)),
            "knn5": float(KNeighborsClassifier(5).fit(Z, y).score(Zt, yt))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, help="folder holding mnist/")
    p.add_argument("--encoder", choices=["conv", "resnet18"], default="conv")
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--labels", type=int, default=300)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    out = args.out or Path(__file__).parent / "results" / f"byol_probe-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    root = args.root / "mnist" if args.root else None
    X, y = datasets.load("mnist", split="train", root=root)
    Xt, yt = datasets.load("mnist", split="test", root=root)
    rng = np.random.default_rng(0)
    i, j = rng.choice(len(X), args.rows, replace=False), rng.choice(len(Xt), 1000, replace=False)
    X, y, Xt, yt = X[i], y[i], Xt[j], yt[j]
    params = dict(encoder=args.encoder, channels=(32, 64, 128), hidden_dim=512, projection_dim=128, batch_size=256,
                  crop_scale=(0.3, 1.0), device=args.device)
    report = {"machine": {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
                          "cpus": os.cpu_count(), "torch": torch.__version__},
              "settings": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    for seed in range(args.seeds):
        untrained = BYOL(epochs=1, lr=1e-12, random_state=seed, **params).fit(X[:256])  # initial weights only
        t0 = time.perf_counter()
        trained = BYOL(epochs=args.epochs, lr=1e-3, random_state=seed, **params).fit(X)
        seconds = time.perf_counter() - t0
        run = {"seed": seed, "untrained": probe(untrained, X, y, Xt, yt, args.labels),
               "byol": probe(trained, X, y, Xt, yt, args.labels), "byol_seconds": round(seconds, 1),
               "final_loss": trained.history_.history["loss"][-1]}
        report["runs"].append(run)
        print(run, flush=True)
        write_json_atomic(out, report)
    return report


if __name__ == "__main__":
    main()
