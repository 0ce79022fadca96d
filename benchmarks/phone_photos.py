"""A folder of phone photos, as kept: ``fewlabel classify`` with nothing set, beside the peers a user would pick.

    python benchmarks/phone_photos.py                      # 1,200 photos, 10 labeled a class, --folds 0
    python benchmarks/phone_photos.py --folds 3 --max-side 32

The folder is made from Fashion-MNIST's test images as a phone leaves photos: each image upscaled (bicubic) to
one of six sizes (400x300, 480x360, 640x480, 480x640, 600x600, 1024x768), saved as a colour JPEG (quality 88),
30% of them stored turned a quarter with the EXIF orientation tag that turns them back; ``--per-class`` of each
class in a folder named after it, the rest in ``unlabeled/`` (their labels kept aside as the truth). The command
runs in its own process (``python -m fewlabel.cli classify --data FOLDER``), its CPU seconds and peak resident
memory from the kernel's count for children. The peers learn from the same labels and the same pixels, read as
the command read them (``read_partly_labeled`` with its defaults): ``LogisticRegression`` on the pixels in [0, 1]
and ``LabelSpreading(kernel="knn")`` on their first 50 principal components. Each is scored on the unlabeled
photos. Writes ``benchmarks/results/phone_photos-<cpu>.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _timing import cpu_record  # benchmarks/_timing.py (the script's folder is on sys.path)
from cpu_speed import cpu_slug

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
SHAPES = ((480, 640), (640, 480), (300, 400), (600, 600), (768, 1024), (360, 480))  # (height, width)


def make_folder(root: Path, n: int, per_class: int, seed: int, data_root) -> dict[str, str]:
    """Write the photos under ``root``; return each file's true class (path under ``root`` -> class name)."""
    from PIL import Image

    from fewlabel.datasets import load

    X, y = load("fashion-mnist", split="test", root=data_root)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), n, replace=False)
    seen = dict.fromkeys(range(len(NAMES)), 0)
    truth = {}
    for j, i in enumerate(rows):
        height, width = SHAPES[rng.integers(len(SHAPES))]
        im = Image.fromarray(X[i]).resize((width, height), Image.BICUBIC).convert("RGB")
        k = int(y[i])
        folder = NAMES[k] if seen[k] < per_class else "unlabeled"
        seen[k] += 1
        path = root / folder / f"IMG_{j:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if rng.random() < 0.3:
            exif = Image.Exif()
            exif[0x0112] = 6
            im.transpose(Image.Transpose.ROTATE_90).save(path, quality=88, exif=exif)
        else:
            im.save(path, quality=88)
        truth[f"{folder}/{path.name}"] = NAMES[k]
    return truth


def peers(folder: Path, truth: dict[str, str], seed: int) -> dict:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import LabelSpreading

    from fewlabel.datasets.partial import read_partly_labeled

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_partly_labeled(folder)
    read_s = time.perf_counter() - start
    names, lab = np.asarray(data.class_names), data.labeled
    X = data.X.reshape(len(data.X), -1).astype(np.float32) / 255
    true = np.asarray([truth[r] for r in data.row_names])
    lr = LogisticRegression(max_iter=2000).fit(X[lab], data.y[lab])
    Z = PCA(50, random_state=seed).fit_transform(X)
    ls = LabelSpreading(kernel="knn", n_neighbors=7).fit(Z, np.where(lab, data.y, -1))
    return {"read_shape": list(data.X.shape[1:]), "read_seconds": round(read_s, 2), "notes": data.notes,
            "LogisticRegression": float(np.mean(names[lr.predict(X[~lab])] == true[~lab])),
            "LabelSpreading": float(np.mean(names[ls.transduction_[~lab]] == true[~lab]))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=1200)
    p.add_argument("--per-class", type=int, default=10, help="labeled photos a class (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=0, help="the command's --folds (default 0: no estimate)")
    p.add_argument("--max-side", type=int, default=None, help="the command's --max-side (default: its own)")
    p.add_argument("--root", default=None, help="folder holding fashion-mnist/ (default: FEWLABEL_DATA)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "photos", Path(tmp) / "run"
        truth = make_folder(folder, args.photos, args.per_class, args.seed, args.root)
        command = [sys.executable, "-m", "fewlabel.cli", "classify", "--data", str(folder), "--out", str(out),
                   "--folds", str(args.folds), "--seed", str(args.seed)]
        if args.max_side is not None:
            command += ["--max-side", str(args.max_side)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        with open(out / "predictions.csv") as f:
            rows = list(csv.DictReader(f))
        metrics = json.loads((out / "metrics.json").read_text())
        result = {"photos": args.photos, "per_class": args.per_class, "seed": args.seed, "folds": args.folds,
                  "max_side": args.max_side, "command": " ".join(command[1:]), "cpu": cpu_record(),
                  "default": float(np.mean([r["label"] == truth[r["file"]] for r in rows])),
                  "unlabeled": len(rows), "route": metrics.get("route"), "times": metrics.get("times"),
                  "command_wall_s": round(wall, 1),
                  "command_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
                  "command_peak_rss_mb": round(after.ru_maxrss / 1024, 1),
                  **peers(folder, truth, args.seed)}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"phone_photos-{cpu_slug()}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"default {result['default']:.3f}, LogisticRegression {result['LogisticRegression']:.3f}, LabelSpreading "
          f"{result['LabelSpreading']:.3f} on {result['unlabeled']} unlabeled photos read at "
          f"{result['read_shape']}; the command {result['command_wall_s']} s ({result['command_cpu_s']} CPU s, "
          f"{result['command_peak_rss_mb']} MB peak); wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
