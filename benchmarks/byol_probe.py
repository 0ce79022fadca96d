"""BYOL probe (issues 4 and 14): does BYOL pretraining give a small conv encoder better features than the same
encoder untrained, or pretrained as a convolutional autoencoder?

On ``--data`` (Fashion-MNIST by default): ``--rows`` unlabeled training images (60,000: the whole train
split), of which the first ``--labels`` (5,000, a random subset) are labeled; scored on the test split
(all 10,000, or ``--test-rows``). Three arms, all the same conv body (``--channels``, batch norm):

* ``untrained``: BYOL's encoder at its initial weights (the seed BYOL starts from), its batch-norm statistics
  measured on clean unlabeled images (not the identity of a fresh layer);
* ``autoencoder``: a :class:`~fewlabel.ConvAutoencoder` with the same channels, trained for ``--ae-minutes``
  (turned into a step budget by timing a few steps);
* ``byol``: :class:`~fewlabel.BYOL` trained for ``--minutes`` (or ``--epochs``), the online encoder.

Each arm's codes are scored both ways a conv body can give them: ``pool`` (the global average of the last
feature map, 128 values: BYOL's representation) and ``flatten`` (the whole 3x3 map, 1,152 values: the
autoencoder's ``transform``). Scores: a linear probe (logistic regression on codes standardised with the
labeled rows' mean and std, fitted on the labeled rows) and 5-NN on the raw codes, fitted on the labeled
rows only; accuracy on the test rows. Codes are computed in float32. For BYOL also ``pool_bn_clean``: its
batch-norm statistics re-measured on clean images (they were averaged over augmented views in training).

Wall and CPU (``time.process_time``) seconds are recorded per arm, for pretraining and for scoring, and the
JSON (``benchmarks/results/byol_probe-<data>.json``) is rewritten after each arm. Arms already in that file
for the same data, sizes and seed are kept, so ``--arms byol --byol-name byol_crop05 --crop-scale 0.5,1``
adds a second BYOL recipe next to the first.

    OMP_NUM_THREADS=1 python benchmarks/byol_probe.py --minutes 25 --ae-minutes 10
    python benchmarks/byol_probe.py --data mnist --rows 3000 --labels 300 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from fewlabel import BYOL, ConvAutoencoder, datasets
from fewlabel.nets.byol import BYOLNet
from fewlabel.nets.encoder import CodeEncoder
from fewlabel.train.state import write_json_atomic
from _timing import Clock  # benchmarks/_timing.py (the script's folder is on sys.path)


def pair(text):
    lo, hi = (float(v) for v in text.split(","))
    return lo, hi


def feature_maps(encoder: CodeEncoder, X: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The conv body's last feature maps ``(N, C, h, w)`` of uint8 images, in float32, eval mode."""
    encoder.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            x = torch.from_numpy(X[i:i + batch_size]).float() / 255
            out.append(encoder.body.features(x).contiguous().numpy())
    return np.concatenate(out)


def recalibrate_bn(encoder: CodeEncoder, X: np.ndarray, batch_size: int = 500) -> CodeEncoder:
    """Batch-norm running statistics measured afresh (cumulative average) on the clean images ``X``."""
    bns = [m for m in encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    encoder.train()
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            encoder(torch.from_numpy(X[i:i + batch_size]).float() / 255)
    for m in bns:
        m.momentum = 0.1
    return encoder.eval()


def score(Z_lab, y_lab, Z_test, y_test) -> dict:
    mean, std = Z_lab.mean(0), Z_lab.std(0) + 1e-6
    linear = LogisticRegression(max_iter=2000).fit((Z_lab - mean) / std, y_lab)
    knn = KNeighborsClassifier(5).fit(Z_lab, y_lab)
    return {"linear_probe": round(float(linear.score((Z_test - mean) / std, y_test)), 4),
            "knn5": round(float(knn.score(Z_test, y_test)), 4)}


def probe(encoder: CodeEncoder, data) -> dict:
    X_lab, y_lab, X_test, y_test = data
    F_lab, F_test = feature_maps(encoder, X_lab), feature_maps(encoder, X_test)
    return {"pool": score(F_lab.mean((2, 3)), y_lab, F_test.mean((2, 3)), y_test),
            "flatten": score(F_lab.reshape(len(F_lab), -1), y_lab, F_test.reshape(len(F_test), -1), y_test)}


def step_budget(make, X, batch_size, minutes, probe_steps=10):
    """Optimizer steps that fit in ``minutes``, timed on ``probe_steps`` steps (setup included: conservative)."""
    t0 = time.perf_counter()
    make(max_steps=probe_steps).fit(X[:probe_steps * batch_size])
    per_step = (time.perf_counter() - t0) / probe_steps
    return max(1, int(minutes * 60 / per_step)), per_step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=["mnist", "fashion-mnist"], default="fashion-mnist")
    p.add_argument("--root", type=Path, help="folder holding the data set's files (default: the usual places)")
    p.add_argument("--rows", type=int, default=60000, help="unlabeled training images")
    p.add_argument("--labels", type=int, default=5000, help="labeled images (the first of the unlabeled rows)")
    p.add_argument("--test-rows", type=int, help="test images (default: the whole test split)")
    p.add_argument("--arms", default="untrained,autoencoder,byol")
    p.add_argument("--channels", default="32,64,128")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--minutes", type=float, default=25.0, help="BYOL's wall-clock budget (a step budget)")
    p.add_argument("--epochs", type=int, help="BYOL epochs instead of --minutes")
    p.add_argument("--ae-minutes", type=float, help="the autoencoder's budget (default: --minutes)")
    p.add_argument("--ae-epochs", type=int, help="autoencoder epochs instead of --ae-minutes")
    p.add_argument("--lr", type=float, default=1e-3, help="BYOL's Adam learning rate")
    p.add_argument("--tau", type=float, default=0.996, help="BYOL's initial EMA momentum")
    p.add_argument("--crop-scale", type=pair, default=(0.3, 1.0), help="BYOL's crop area range, e.g. 0.3,1")
    p.add_argument("--hidden-dim", type=int, default=512)
    p.add_argument("--projection-dim", type=int, default=128)
    p.add_argument("--byol-name", default="byol", help="the BYOL arm's name in the results (a second recipe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = set(arms) - {"untrained", "autoencoder", "byol"}
    if unknown:
        p.error(f"unknown arms {sorted(unknown)}")
    channels = tuple(int(c) for c in args.channels.split(","))
    out = args.out or Path(__file__).parent / "results" / f"byol_probe-{args.data}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    X, y = datasets.load(args.data, split="train", root=args.root)
    Xt, yt = datasets.load(args.data, split="test", root=args.root)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(X))[:args.rows]  # a random subset; its first --labels rows are the labeled ones
    X, y = X[order], y[order]
    if args.test_rows:
        j = rng.choice(len(Xt), args.test_rows, replace=False)
        Xt, yt = Xt[j], yt[j]
    data = (X[:args.labels], y[:args.labels], Xt, yt)

    setup = {"data": args.data, "rows": len(X), "labels": args.labels, "test_rows": len(Xt), "seed": args.seed,
             "channels": list(channels)}
    report = {"machine": {"device": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                          "omp_threads": os.environ.get("OMP_NUM_THREADS"), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__},
              "setup": setup, "arms": {}}
    if out.exists():
        old = json.loads(out.read_text())
        if old.get("setup") == setup:
            report["arms"] = {k: v for k, v in old.get("arms", {}).items()}
    byol_params = dict(encoder="conv", channels=channels, batch_norm=True, pooling="global",
                       hidden_dim=args.hidden_dim, projection_dim=args.projection_dim, tau=args.tau,
                       crop_scale=args.crop_scale, batch_size=args.batch_size, lr=args.lr, random_state=args.seed,
                       device="cpu")

    def save(name, result):
        report["arms"][name] = result
        write_json_atomic(out, report)
        print(name, json.dumps(result), flush=True)

    if "untrained" in arms:
        with Clock() as pre:
            est = BYOL(**byol_params)
            torch.manual_seed(args.seed)  # as BYOL.fit does before building its network
            net = BYOLNet(est.encoder_spec(X.shape[1:]), args.projection_dim, args.hidden_dim)
            encoder = recalibrate_bn(net.encoder, X[:10000])
        with Clock() as sc:
            scores = probe(encoder, data)
        save("untrained", {**scores, "settings": "BYOL's initial weights, batch norm measured on 10,000 clean rows",
                           **pre.as_dict("pretrain"), **sc.as_dict("score")})

    if "autoencoder" in arms:
        ae_params = dict(channels=channels, batch_norm=True, batch_size=args.batch_size, lr=1e-3,
                         random_state=args.seed, device="cpu")
        with Clock() as pre:
            budget = {}
            if args.ae_epochs:
                ae = ConvAutoencoder(epochs=args.ae_epochs, **ae_params)
            else:
                minutes = args.ae_minutes if args.ae_minutes is not None else args.minutes
                steps, per_step = step_budget(lambda **kw: ConvAutoencoder(**ae_params, **kw), X, args.batch_size,
                                              minutes)
                budget = {"minutes": minutes, "seconds_per_step": round(per_step, 3)}
                ae = ConvAutoencoder(max_steps=steps, **ae_params)
            ae.fit(X)
        with Clock() as sc:
            scores = probe(ae.export_encoder("flatten").build(), data)
        h = ae.history_.history
        save("autoencoder", {**scores, "settings": {k: str(v) for k, v in ae_params.items()}, **budget,
                             "steps": ae.history_.info.get("steps"), "epochs_run": len(h["loss"]),
                             "final_loss": h["loss"][-1], "precision": ae.history_.info.get("precision"),
                             **pre.as_dict("pretrain"), **sc.as_dict("score")})

    if "byol" in arms:
        with Clock() as pre:
            budget = {}
            if args.epochs:
                byol = BYOL(epochs=args.epochs, **byol_params)
            else:
                steps, per_step = step_budget(lambda **kw: BYOL(**byol_params, **kw), X, args.batch_size,
                                              args.minutes)
                budget = {"minutes": args.minutes, "seconds_per_step": round(per_step, 3)}
                byol = BYOL(max_steps=steps, **byol_params)
            byol.fit(X)
        with Clock() as sc:
            scores = probe(byol.export_encoder("flatten").build(), data)
            clean = recalibrate_bn(byol.export_encoder("flatten").build(), X[:10000])
            scores["pool_bn_clean"] = probe(clean, data)["pool"]
        h = byol.history_.history
        save(args.byol_name, {**scores, "settings": {k: str(v) for k, v in byol_params.items()}, **budget,
                              "steps": byol.history_.info.get("steps"), "epochs_run": len(h["loss"]),
                              "loss_per_epoch": [round(v, 4) for v in h["loss"]],
                              "tau_per_epoch": [round(v, 5) for v in h["tau"]],
                              "precision": byol.history_.info.get("precision"),
                              **pre.as_dict("pretrain"), **sc.as_dict("score")})
    return report


if __name__ == "__main__":
    main()
