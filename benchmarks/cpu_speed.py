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
* ``peak``: this machine's matrix-product peak in fp32 and in bf16 (square products of 1024 to 4096, the
  best of each), measured in the same run. Each training workload's floating-point work (forward x 3:
  the backward pass costs twice the forward) over its time, against the peak of the precision it ran in,
  is its ``of_peak`` ratio.
* every training workload also runs with ``precision="fp32"`` and ``precision="bf16"`` beside the default
  (``"auto"``), so the choice can be checked: ``auto_vs_best`` is auto's time over the faster of the two. The fp32
  arm and the default run ``--repeats`` times each (default 2), alternately, and each keeps its fastest run.
  Where the CPU has no native bf16 (emulated bf16 is many times slower), the bf16 arm runs on a share of
  the rows (``--bf16-fraction``, default 0.02) and is scaled to the whole epoch.

    python benchmarks/cpu_speed.py                      # everything, writes benchmarks/results/cpu_speed-<cpu>.json
                                                        # (<cpu>: vendor, family and model, e.g. amd-f25-m17)
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


def cpuinfo() -> dict:
    """The first CPU's /proc/cpuinfo fields (empty where there is none)."""
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return info


def cpu_name() -> str:
    info = cpuinfo()
    return f"{info.get('model name', platform.processor())} (family {info.get('cpu family')}, model {info.get('model')})"


def cpu_slug() -> str:
    """The results file's name for this CPU: vendor, family and model from /proc/cpuinfo."""
    info = cpuinfo()
    if not info:
        return platform.machine()
    vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(info.get("vendor_id", ""), platform.machine())
    return f"{vendor}-f{info.get('cpu family', 'x')}-m{info.get('model', 'x')}"


def matmul_peak(dtype: torch.dtype, seconds: float = 2.0) -> dict:
    """GFLOP/s of square matrix products in ``dtype``, the best over sizes 512 to 4096; a size whose one
    product takes more than a quarter of ``seconds`` (emulated bf16) ends the climb."""
    best = {}
    for n in (512, 1024, 2048, 4096):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        t0 = time.perf_counter()
        torch.mm(a, b)
        slow = time.perf_counter() - t0 > seconds / 4
        reps, t0 = 0, time.perf_counter()
        while True:
            torch.mm(a, b)
            reps += 1
            took = time.perf_counter() - t0
            if took >= seconds or slow:
                break
        best[n] = 2 * n ** 3 * reps / took / 1e9
        if slow:
            break
    return {"gflops": max(best.values()), "by_size": best}


def peak(results):
    out = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"matrix-product peak: fp32 {out['fp32']['gflops']:.0f} GFLOP/s, bf16 {out['bf16']['gflops']:.0f} GFLOP/s",
          flush=True)
    results["peak"] = out
    return {k: v["gflops"] for k, v in out.items()}


def module_training_flops(net: nn.Module, x: torch.Tensor) -> int:
    """Floating-point work of one training step on ``x``: the forward's products and convolutions (torch's
    counter) times 3, since the backward pass computes two products for each of the forward's."""
    from fewlabel.train.precision import forward_flops

    return 3 * forward_flops(lambda: net(x), net)


def of_peak(out: dict, flops: float, peaks: dict | None) -> None:
    """Each fewlabel arm's speed as a share of the measured peak in the precision it ran in."""
    out["training_flops"] = flops
    if not peaks:
        return
    for label in ("fewlabel_fp32", "fewlabel_bf16", "fewlabel_default"):
        if f"{label}_s" in out:
            precision = out.get(f"{label}_precision") or ("bf16" if label.endswith("bf16") else "fp32")
            out[f"{label}_of_peak"] = flops / out[f"{label}_s"] / 1e9 / peaks[precision]
    print(f"  {flops / 1e12:.2f} TFLOP; default at {out.get('fewlabel_default_of_peak', float('nan')):.0%} of the "
          f"{out.get('fewlabel_default_precision')} peak", flush=True)


def auto_against_best(out: dict) -> None:
    best = min(out["fewlabel_fp32_s"], out["fewlabel_bf16_s"])
    out["auto_vs_best"] = out["fewlabel_default_s"] / best
    print(f"  auto {out['fewlabel_default_s']:.2f} s, fp32 {out['fewlabel_fp32_s']:.2f} s, bf16 "
          f"{out['fewlabel_bf16_s']:.2f} s: auto / best = {out['auto_vs_best']:.2f}", flush=True)


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


def arms(bf16_fraction: float, repeats: int = 1):
    """(label, precision, compile, share of the rows) for each fewlabel arm of a workload; the fp32 and the default
    arm ``repeats`` times, alternately and in turn first (a machine that slows down over a run favours the earlier
    arm), for ``auto_vs_best`` compares them (see :func:`keep_best`)."""
    once = (("fewlabel_fp32", "fp32", "auto", 1.0), ("fewlabel_bf16", "bf16", "auto", bf16_fraction),
            ("fewlabel_compiled", "auto", True, 1.0), ("fewlabel_default", "auto", "auto", 1.0))
    fp32, default = once[0], once[3]
    return once + sum((((default, fp32) if r % 2 else (fp32, default)) for r in range(1, repeats)), ())


def keep_best(out: dict, label: str, seconds: float) -> float:
    """Record one timing of an arm; its figure is the fastest of its runs. On a shared machine two runs of the same
    configuration, one after the other, can differ by more than ``auto_vs_best``'s 5% (README, CPU speed):
    alternating runs and their best take that drift out."""
    runs = out.setdefault(f"{label}_runs", [])
    runs.append(seconds)
    out[f"{label}_s"] = min(runs)
    return seconds


def dense_ae(X, results, peaks=None, bf16_fraction=1.0, repeats=1):
    plain = plain_autoencoder_epoch(X)
    print(f"dense_ae plain fp32 eager: {plain:.2f} s/epoch", flush=True)
    out = {"rows": len(X), "plain_fp32_eager_s": plain}
    sizes = [784, 500, 500, 2000, 10, 2000, 500, 500, 784]
    flops = 3 * 2 * len(X) * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    for label, precision, compile_, share in arms(bf16_fraction, repeats):
        rows = X[: max(256, int(len(X) * share))]
        ae, wall = timed_fit(lambda: fewlabel.Autoencoder(hidden=(500, 500, 2000), latent=10, epochs=1,
                                                          precision=precision, compile=compile_), rows)
        epoch = ae.history_.history["seconds"][0] - ae.history_.history.get("compile_seconds", [0.0])[0]
        epoch *= len(X) / len(rows)
        if compile_ is True:
            out["fewlabel_compile_seconds"] = ae.history_.history.get("compile_seconds", [None])[0]
        keep_best(out, label, epoch)
        out.setdefault(f"{label}_wall_s", wall)
        out[f"{label}_precision"] = ae.history_.info.get("precision")
        out[f"{label}_loss"] = ae.history_.history["loss"][0]
        print(f"dense_ae {label}: {epoch:.2f} s/epoch ({wall:.2f} s with setup, {out[f'{label}_precision']}), "
              f"{plain / epoch:.2f}x plain", flush=True)
    out["speedup_default_vs_plain"] = plain / out["fewlabel_default_s"]
    of_peak(out, flops, peaks)
    auto_against_best(out)
    results["dense_ae"] = out
    return ae


def conv_ae(X, results, peaks=None, bf16_fraction=1.0, repeats=1):
    est = fewlabel.ConvAutoencoder(max_steps=1, batch_size=128).fit(X[:256])
    net = reinitialised(est.module_)
    flops = module_training_flops(net, torch.rand(128, *X.shape[1:])) * len(X) / 128
    plain = plain_module_epoch(net, X, 128, lambda n, x: F.mse_loss(n(x), x))
    print(f"conv_ae plain fp32 eager: {plain:.2f} s/epoch", flush=True)
    out = {"rows": len(X), "plain_fp32_eager_s": plain}
    for label, precision, compile_, share in arms(bf16_fraction, repeats):
        rows = X[: max(256, int(len(X) * share))]
        ae, wall = timed_fit(lambda: fewlabel.ConvAutoencoder(epochs=1, batch_size=128, precision=precision,
                                                              compile=compile_), rows)
        epoch = ae.history_.history["seconds"][0] - ae.history_.history.get("compile_seconds", [0.0])[0]
        epoch *= len(X) / len(rows)
        if compile_ is True:
            out["fewlabel_compile_seconds"] = ae.history_.history.get("compile_seconds", [None])[0]
        keep_best(out, label, epoch)
        out.setdefault(f"{label}_wall_s", wall)
        out[f"{label}_precision"] = ae.history_.info.get("precision")
        print(f"conv_ae {label}: {epoch:.2f} s/epoch ({wall:.2f} s with setup), {plain / epoch:.2f}x plain",
              flush=True)
    out["speedup_default_vs_plain"] = plain / out["fewlabel_default_s"]
    of_peak(out, flops, peaks)
    auto_against_best(out)
    results["conv_ae"] = out


def fixmatch_step(X, y, steps, results, peaks=None, bf16_fraction=1.0, repeats=1):
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
    flops = module_training_flops(net, torch.rand(960, *X.shape[1:]))
    fixmatch_arms = (("fewlabel_fp32", "fp32"), ("fewlabel_bf16", "bf16"), ("fewlabel_default", "auto"))
    again = sum(((fixmatch_arms[::-2] if r % 2 else fixmatch_arms[::2]) for r in range(1, repeats)), ())
    for label, precision in fixmatch_arms + again:
        # the loop's own seconds cover every step, the first ones included (3 more steps to spread them over;
        # none where bf16 is emulated and one step takes most of a minute)
        n = steps + 3 if precision != "bf16" or bf16_fraction >= 1 else max(1, round(steps * bf16_fraction))
        clf = fewlabel.SemiSupervisedClassifier(**params, max_steps=n, precision=precision).fit(X, y_few)
        per = clf.history_.history["seconds"][0] / n
        keep_best(out, label, per)
        out[f"{label}_precision"] = clf.history_.info.get("precision")
        print(f"fixmatch {label}: {per:.3f} s/step, {960 / per:.0f} images/s ({out[f'{label}_precision']}), "
              f"{plain / per:.2f}x plain", flush=True)
    per = out["fewlabel_default_s"]
    out.update(fewlabel_s_per_step=per, fewlabel_images_per_s=960 / per, speedup_vs_plain=plain / per,
               fewlabel_precision=out["fewlabel_default_precision"])
    of_peak(out, flops, peaks)
    auto_against_best(out)
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


def summarize(results) -> None:
    """Each workload's default against the peak, plain PyTorch, Keras (same batch size) and its other
    precisions, in one table; the ratios go into the results."""
    k = results.get("keras", {})
    keras_s = {"dense_ae": k.get("dense_ae", {}).get("epoch_s"),
               "conv_ae": k.get("conv_ae_batch128_mse_adam", {}).get("epoch_s"),
               "fixmatch_step": k.get("fixmatch_step", {}).get("s_per_step_median")}
    print("workload        default  precision  of peak  vs plain  vs Keras  auto/best(fp32,bf16)")
    for name in ("dense_ae", "conv_ae", "fixmatch_step"):
        out = results.get(name)
        if not out:
            continue
        mine = out["fewlabel_default_s"]
        plain = out.get("plain_fp32_eager_s", out.get("plain_fp32_eager_s_per_step"))
        if keras_s[name]:
            out["speedup_vs_keras"] = keras_s[name] / mine
        print(f"{name:<15} {mine:7.3f}  {out['fewlabel_default_precision']:<9}  "
              f"{out.get('fewlabel_default_of_peak', float('nan')):6.0%}  {plain / mine:7.2f}x  "
              f"{out.get('speedup_vs_keras', float('nan')):7.2f}x  {out.get('auto_vs_best', float('nan')):.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="data folder (default: discovery)")
    ap.add_argument("--rows", type=int, default=None, help="use this many training rows (default: all)")
    ap.add_argument("--steps", type=int, default=20, help="consistency steps timed")
    ap.add_argument("--skip-keras", action="store_true")
    ap.add_argument("--keras-python", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=None, help="peak dense_ae conv_ae fixmatch_step encode keras")
    ap.add_argument("--bf16-fraction", type=float, default=None,
                    help="share of the rows (steps) the bf16 arm runs on, scaled to the whole (default: 1 where "
                         "the CPU has native bf16, else 0.02: emulated bf16 products run about 50x slower)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs of the fp32 arm and of the default, alternately; each one's figure is its fastest")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    root = lambda name: None if args.root is None else Path(args.root) / name  # noqa: E731
    only = set(args.only or ["peak", "dense_ae", "conv_ae", "fixmatch_step", "encode", "keras"])
    native = fewlabel.train.precision.cpu_has_native_bf16()
    bf16_fraction = args.bf16_fraction if args.bf16_fraction is not None else (1.0 if native else 0.02)
    results = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "python": platform.python_version(), "native_bf16": native, "bf16_fraction": bf16_fraction,
               "repeats": args.repeats}
    t_all = time.perf_counter()
    peaks = peak(results) if "peak" in only else None
    X = mnist("mnist", "train", root("mnist"), args.rows)
    ae = dense_ae(X, results, peaks, bf16_fraction, args.repeats) if "dense_ae" in only or "encode" in only else None
    if "conv_ae" in only:
        F_ = mnist("fashion-mnist", "train", root("fashion-mnist"), args.rows or 55_000)
        conv_ae(F_[:55_000], results, peaks, bf16_fraction, args.repeats)
    if "fixmatch_step" in only:
        Xf, yf = datasets.load("fashion-mnist", split="train", root=root("fashion-mnist"))
        fixmatch_step(Xf[: args.rows] if args.rows else Xf, yf[: args.rows] if args.rows else yf, args.steps, results,
                      peaks, bf16_fraction, args.repeats)
    if "encode" in only:
        Xall = np.concatenate([X, mnist("mnist", "test", root("mnist"), None)]) if not args.rows else X
        encode(ae, Xall, results)
    if "keras" in only and not args.skip_keras:
        keras(args.keras_python, args.rows, results)
    if peaks:
        # a shared machine's speed drifts (two runs of this script on one 2-core VM measured 68 and 121
        # GFLOP/s): the peak is measured again at the end, and the ratios use the higher of the two
        after = {k: matmul_peak(dtype)["gflops"] for k, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
        results["peak_after"] = after
        drift = after["fp32"] / peaks["fp32"]
        print(f"matrix-product peak again: fp32 {after['fp32']:.0f} GFLOP/s ({drift:.2f}x the first)", flush=True)
        if abs(drift - 1) > 0.1:
            print("  the machine's speed moved by more than 10% during the run: the ratios are uncertain", flush=True)
        best = {k: max(peaks[k], after[k]) for k in peaks}
        for name in ("dense_ae", "conv_ae", "fixmatch_step"):
            if name in results:
                of_peak(results[name], results[name]["training_flops"], best)
    summarize(results)
    results["total_s"] = time.perf_counter() - t_all
    out = args.out or HERE / "results" / f"cpu_speed-{cpu_slug()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
