"""Training speed on this machine: fewlabel's defaults against plain fp32 eager PyTorch, same run.

Every workload runs here, in one process, one after the other, so the ratios compare like with like:

* ``dense_ae``: the 784-500-500-2000-10 autoencoder (ReLU, linear code, sigmoid output, MSE, Adam,
  batch 256), one epoch of 60,000 MNIST training rows. Plain = what a PyTorch user writes first (float32
  tensors, the same layers in ``nn.Sequential``, ``torch.optim.Adam``, ``loss.item()`` every step);
  fewlabel = ``Autoencoder(hidden=(500, 500, 2000), latent=10, epochs=1)`` with its default precision
  (and ``precision="fp32"`` beside it, to show what the precision alone gives).
* ``conv_ae``: the reference Fashion-MNIST conv autoencoder (28x28 -> 3x3x64, ``ConvAutoencoder()``'s
  default architecture), one epoch of 55,000 rows, batch 128.
* ``fixmatch_step``: one consistency-training step of a small CNN (32/64/128 channels, batch norm):
  64 labeled + 448 unlabeled rows, weak and strong views (``SemiSupervisedClassifier(encoder="conv",
  consistency="fixmatch")``); plain = the same network and loss in fp32, NCHW, with the weak shift by
  bilinear interpolation, unfused Adam and a ``.item()`` every step.
* ``encode``: all 70,000 MNIST rows through the fitted 784-500-500-2000-10 encoder (``transform``).
* ``keras``: the same models in Keras 3 with the TensorFlow backend, when ``--keras-python`` (or
  ``benchmarks/.keras-venv/bin/python``) exists; see ``benchmarks/keras_reference.py``.

    python benchmarks/cpu_speed.py                      # everything, writes benchmarks/results/cpu_speed-<cpu>.json
    python benchmarks/cpu_speed.py --rows 6000 --steps 5 --skip-keras   # a quick check

Run it on a quiet machine: the two cores are shared by everything that runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import fewlabel
import fewlabel.train.precision
from fewlabel import datasets
from fewlabel.augment import random_affine, strong_augment

HERE = Path(__file__).resolve().parent


def cpu_name() -> str:
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return f"{info.get('model name', platform.processor())} (family {info.get('cpu family')}, model {info.get('model')})"


def mnist(name: str, split: str, root, rows: int | None) -> np.ndarray:
    X, _ = datasets.load(name, split=split, root=root)
    return X[:rows] if rows else X


def plain_autoencoder_epoch(X: np.ndarray, batch: int = 256) -> float:
    """Seconds for one epoch, written as a PyTorch user writes it first."""
    torch.manual_seed(0)
    sizes = [784, 500, 500, 2000, 10]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers = layers[:-1]  # linear code
    for a, b in zip(sizes[::-1][:-1], sizes[::-1][1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers[-1] = nn.Sigmoid()
    net = nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    data = torch.from_numpy(X.reshape(len(X), -1).astype(np.float32) / 255)
    order = torch.randperm(len(data))
    t0 = time.perf_counter()
    for start in range(0, len(data), batch):
        x = data[order[start:start + batch]]
        loss = F.mse_loss(net(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
    return time.perf_counter() - t0


def plain_module_epoch(net: nn.Module, X: np.ndarray, batch: int, loss_of) -> float:
    """One epoch of ``net`` (fp32, NCHW, unfused Adam, a loss read every step)."""
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    data = torch.from_numpy(X.astype(np.float32) / 255)
    order = torch.randperm(len(data))
    t0 = time.perf_counter()
    for start in range(0, len(data), batch):
        loss = loss_of(net, data[order[start:start + batch]])
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
    return time.perf_counter() - t0


def reinitialised(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in module.modules():
        if hasattr(m, "reset_parameters") and m is not module:
            m.reset_parameters()
    return module.to(memory_format=torch.contiguous_format).float().train()


def timed_fit(make, X, *args):
    t0 = time.perf_counter()
    est = make().fit(X, *args)
    return est, time.perf_counter() - t0


def dense_ae(X, results):
    plain = plain_autoencoder_epoch(X)
    print(f"dense_ae plain fp32 eager: {plain:.2f} s/epoch", flush=True)
    out = {"rows": len(X), "plain_fp32_eager_s": plain}
    for label, precision, compile_ in (("fewlabel_fp32", "fp32", "auto"), ("fewlabel_compiled", "auto", True),
                                       ("fewlabel_default", "auto", "auto")):
        ae, wall = timed_fit(lambda: fewlabel.Autoencoder(hidden=(500, 500, 2000), latent=10, epochs=1,
                                                          precision=precision, compile=compile_), X)
        epoch = ae.history_.history["seconds"][0] - ae.history_.history.get("compile_seconds", [0.0])[0]
        if compile_ is True:
            out["fewlabel_compile_seconds"] = ae.history_.history.get("compile_seconds", [None])[0]
        out[f"{label}_s"], out[f"{label}_wall_s"] = epoch, wall
        out[f"{label}_precision"] = ae.history_.info.get("precision")
        out[f"{label}_loss"] = ae.history_.history["loss"][0]
        print(f"dense_ae {label}: {epoch:.2f} s/epoch ({wall:.2f} s with setup, {out[f'{label}_precision']}), "
              f"{plain / epoch:.2f}x plain", flush=True)
    out["speedup_default_vs_plain"] = plain / out["fewlabel_default_s"]
    results["dense_ae"] = out
    return ae


def conv_ae(X, results):
    est = fewlabel.ConvAutoencoder(max_steps=1, batch_size=128).fit(X[:256])
    net = reinitialised(est.module_)
    plain = plain_module_epoch(net, X, 128, lambda n, x: F.mse_loss(n(x), x))
    print(f"conv_ae plain fp32 eager: {plain:.2f} s/epoch", flush=True)
    out = {"rows": len(X), "plain_fp32_eager_s": plain}
    for label, precision, compile_ in (("fewlabel_fp32", "fp32", "auto"), ("fewlabel_compiled", "auto", True),
                                       ("fewlabel_default", "auto", "auto")):
        ae, wall = timed_fit(lambda: fewlabel.ConvAutoencoder(epochs=1, batch_size=128, precision=precision,
                                                              compile=compile_), X)
        epoch = ae.history_.history["seconds"][0] - ae.history_.history.get("compile_seconds", [0.0])[0]
        if compile_ is True:
            out["fewlabel_compile_seconds"] = ae.history_.history.get("compile_seconds", [None])[0]
        out[f"{label}_s"], out[f"{label}_wall_s"] = epoch, wall
        out[f"{label}_precision"] = ae.history_.info.get("precision")
        print(f"conv_ae {label}: {epoch:.2f} s/epoch ({wall:.2f} s with setup), {plain / epoch:.2f}x plain",
              flush=True)
    out["speedup_default_vs_plain"] = plain / out["fewlabel_default_s"]
    results["conv_ae"] = out


def fixmatch_step(X, y, steps, results):
    y_few = datasets.labeled_subset(y, 1000, seed=0)
    params = dict(encoder="conv", channels=(32, 64, 128), pretrain=None, consistency="fixmatch", batch_size=512,
                  unlabeled_ratio=7, validation_fraction=0.0)
    clf = fewlabel.SemiSupervisedClassifier(**params, max_steps=1).fit(X, y_few)
    net = reinitialised(clf.module_)
    lab = np.flatnonzero(y_few != -1)
    Xl = torch.from_numpy(X[lab].astype(np.float32) / 255)
    yl = torch.from_numpy(y_few[lab]).long()
    Xu = torch.from_numpy(X.astype(np.float32) / 255)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)

    def step():
        i = torch.randint(len(yl), (64,), generator=g)
        u = torch.randint(len(Xu), (448,), generator=g)
        xl, xu = Xl[i], Xu[u]
        weak = lambda t: random_affine(t.unsqueeze(1), translate=0.125).squeeze(1)  # noqa: E731  interpolated
        logits = net(torch.cat([weak(xl), weak(xu), strong_augment(xu, xu.shape[1:])]))
        ll, lw, ls = logits.split([64, 448, 448])
        conf, pseudo = torch.softmax(lw.detach(), 1).max(1)
        loss = F.cross_entropy(ll, yl[i]) + (F.cross_entropy(ls, pseudo, reduction="none") * (conf >= 0.95)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    plain = (time.perf_counter() - t0) / steps
    print(f"fixmatch plain fp32 eager: {plain:.3f} s/step, {960 / plain:.0f} images/s", flush=True)
    out = {"plain_fp32_eager_s_per_step": plain, "plain_images_per_s": 960 / plain}
    clf = fewlabel.SemiSupervisedClassifier(**params, max_steps=steps + 3).fit(X, y_few)
    # The loop's own seconds minus nothing: the epoch's seconds cover every step, the first ones included.
    per = clf.history_.history["seconds"][0] / (steps + 3)
    out.update(fewlabel_s_per_step=per, fewlabel_images_per_s=960 / per, speedup_vs_plain=plain / per,
               fewlabel_precision=clf.history_.info.get("precision"))
    print(f"fixmatch fewlabel: {per:.3f} s/step, {960 / per:.0f} images/s ({out['fewlabel_precision']}), "
          f"{plain / per:.2f}x plain", flush=True)
    results["fixmatch_step"] = out


def encode(ae, X, results):
    ae.transform(X[:2048])
    t0 = time.perf_counter()
    ae.transform(X)
    s = time.perf_counter() - t0
    enc = ae.module_.encoder if hasattr(ae.module_, "encoder") else None
    plain = None
    if enc is not None:
        data = torch.from_numpy(X.astype(np.float32) / 255)
        t0 = time.perf_counter()
        with torch.no_grad():
            for start in range(0, len(data), 1024):
                enc(data[start:start + 1024])
        plain = time.perf_counter() - t0
    results["encode"] = {"rows": len(X), "fewlabel_s": s, "fewlabel_rows_per_s": len(X) / s,
                         "plain_fp32_s": plain, "plain_rows_per_s": None if plain is None else len(X) / plain}
    print(f"encode {len(X)} rows: {len(X) / s:,.0f} rows/s (plain fp32: "
          f"{'n/a' if plain is None else f'{len(X) / plain:,.0f}'} rows/s)", flush=True)


def keras(python: Path | None, rows: int | None, results):
    candidates = [python] if python else [HERE / ".keras-venv" / "bin" / "python"]
    python = next((p for p in candidates if p and Path(p).exists()), None)
    if python is None:
        print("keras: skipped (no Keras environment: see benchmarks/keras_reference.py for its setup)", flush=True)
        results["keras"] = {"skipped": "no Keras/TensorFlow environment"}
        return
    cmd = [str(python), str(HERE / "keras_reference.py")] + (["--rows", str(rows)] if rows else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"keras: failed ({proc.stderr.strip().splitlines()[-1:]})", flush=True)
        results["keras"] = {"failed": proc.stderr[-2000:]}
        return
    results["keras"] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"keras: {results['keras']}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="data folder (default: discovery)")
    ap.add_argument("--rows", type=int, default=None, help="use this many training rows (default: all)")
    ap.add_argument("--steps", type=int, default=20, help="consistency steps timed")
    ap.add_argument("--skip-keras", action="store_true")
    ap.add_argument("--keras-python", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=None, help="dense_ae conv_ae fixmatch_step encode keras")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    root = lambda name: None if args.root is None else Path(args.root) / name  # noqa: E731
    only = set(args.only or ["dense_ae", "conv_ae", "fixmatch_step", "encode", "keras"])
    results = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "python": platform.python_version(), "native_bf16": fewlabel.train.precision.cpu_has_native_bf16()}
    t_all = time.perf_counter()
    X = mnist("mnist", "train", root("mnist"), args.rows)
    ae = dense_ae(X, results) if "dense_ae" in only or "encode" in only else None
    if "conv_ae" in only:
        F_ = mnist("fashion-mnist", "train", root("fashion-mnist"), args.rows or 55_000)
        conv_ae(F_[:55_000], results)
    if "fixmatch_step" in only:
        Xf, yf = datasets.load("fashion-mnist", split="train", root=root("fashion-mnist"))
        fixmatch_step(Xf[: args.rows] if args.rows else Xf, yf[: args.rows] if args.rows else yf, args.steps, results)
    if "encode" in only:
        Xall = np.concatenate([X, mnist("mnist", "test", root("mnist"), None)]) if not args.rows else X
        encode(ae, Xall, results)
    if "keras" in only and not args.skip_keras:
        keras(args.keras_python, args.rows, results)
    results["total_s"] = time.perf_counter() - t_all
    out = args.out or HERE / "results" / f"cpu_speed-{platform.machine()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
