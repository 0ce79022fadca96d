"""One autoencoder per class (``ClassAutoencoderClassifier``) on full MNIST, beside scikit-learn.

    OMP_NUM_THREADS=1 python benchmarks/per_class.py --case full
    OMP_NUM_THREADS=1 python benchmarks/per_class.py --case imbalance --rare 8
    OMP_NUM_THREADS=1 python benchmarks/per_class.py --case unseen
    OMP_NUM_THREADS=1 python benchmarks/per_class.py --case full --latent 16 --hidden 256   # another architecture

Cases (all 60,000 training digits unless said; scored on the 10,000 test digits):
  full       every class: test accuracy (the class whose autoencoder reconstructs a digit best), the same
             with ``unknown=0.99`` answers counted wrong, the "unknown" rate on the test digits and on the
             10,000 Fashion-MNIST test images.
  imbalance  the reference case study's imbalance: one class (``--rare``) keeps a tenth of its training rows
             (drawn by ``--seed``); accuracy, the rare class's recall and precision, "unknown" rates.
  unseen     trained on the digits 0-4 only: accuracy on the test digits 0-4, and the "unknown" rates on the
             test digits 0-4 (seen), 5-9 (unseen classes) and on Fashion-MNIST.
Each case puts scikit-learn's ``LogisticRegression`` on the same training pixels beside it (the classifier a user
would otherwise fit; it has no "unknown" answer). The autoencoder is ``ClassAutoencoderClassifier()``'s
default unless ``--hidden``/``--latent``/``--epochs``/``--batch-size`` say otherwise. Wall and CPU seconds
(time.process_time) per step. Results are merged into benchmarks/results/per_class.json, one entry per case
and architecture.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
from _timing import Clock  # benchmarks/_timing.py (the script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"


def rate(mask) -> float:
    return round(float(np.mean(mask)), 4)


def run(args) -> dict:
    import torch

    from fewlabel import Autoencoder, ClassAutoencoderClassifier, datasets
    from fewlabel.tasks.detect import CLASS_DEFAULT

    torch.set_num_threads(1)
    kw = lambda name: {"root": f"{args.root}/{name}"} if args.root else {}  # noqa: E731
    X, y = datasets.load("mnist", split="train", **kw("mnist"))
    Xt, yt = datasets.load("mnist", split="test", **kw("mnist"))
    F, _ = datasets.load("fashion-mnist", split="test", **kw("fashion-mnist"))
    rng = np.random.default_rng(args.seed)
    if args.case == "imbalance":
        rare = np.flatnonzero(y == args.rare)
        drop = rng.choice(rare, len(rare) - len(rare) // 10, replace=False)
        keep = np.setdiff1d(np.arange(len(y)), drop)
        X, y = X[keep], y[keep]
    elif args.case == "unseen":
        X, y = X[y < 5], y[y < 5]
    arch = dict(CLASS_DEFAULT)
    for key in ("hidden", "latent", "epochs", "batch_size"):
        if getattr(args, key) is not None:
            arch[key] = getattr(args, key)
    out = {"case": args.case, "train_rows": int(len(X)), "rows_per_class": {int(c): int((y == c).sum()) for c in np.unique(y)},
           "autoencoder": {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}, "unknown": args.unknown,
           "seed": args.seed}
    c = Clock()
    clf = ClassAutoencoderClassifier(Autoencoder(**arch, verbose=False), unknown=args.unknown,
                                     random_state=args.seed).fit(X, y)
    out["fit"] = c.read()
    print(f"fitted in {out['fit']}", flush=True)
    c = Clock()
    E = clf.reconstruction_errors(Xt)
    closed = clf.classes_[np.argmin(E, axis=1)]
    unknown_test = (E > clf.thresholds_).all(axis=1)
    unknown_fashion = clf.is_unknown(F)
    out["predict"] = c.read()
    seen = np.isin(yt, clf.classes_)
    answer = np.where(unknown_test, -1, closed)
    res = out["fewlabel"] = {
        "accuracy": rate(closed[seen] == yt[seen]),  # every digit gets a class
        "accuracy_unknown_counted_wrong": rate(answer[seen] == yt[seen]),
        "unknown_rate_seen_test_digits": rate(unknown_test[seen]),
        "unknown_rate_fashion_mnist": rate(unknown_fashion),
        "temperature": clf.temperature_,
    }
    if args.case == "unseen":
        res["unknown_rate_unseen_test_digits_5_9"] = rate(unknown_test[~seen])
    if args.case == "imbalance":
        r = yt == args.rare
        res[f"recall_of_{args.rare}"] = rate(closed[r] == args.rare)
        res[f"precision_of_{args.rare}"] = rate(yt[closed == args.rare] == args.rare)
        out["rare"] = args.rare
    print(json.dumps(res), flush=True)
    if args.peer:
        from sklearn.linear_model import LogisticRegression

        c = Clock()
        flat = lambda A: A.reshape(len(A), -1).astype(np.float32) / 255  # noqa: E731
        lr = LogisticRegression(max_iter=200).fit(flat(X), y)
        fit = c.read()
        pred = lr.predict(flat(Xt))
        peer = out["sklearn LogisticRegression (pixels)"] = {"accuracy": rate(pred[seen] == yt[seen]), "fit": fit}
        if args.case == "imbalance":
            peer[f"recall_of_{args.rare}"] = rate(pred[yt == args.rare] == args.rare)
            peer[f"precision_of_{args.rare}"] = rate(yt[pred == args.rare] == args.rare)
        print(json.dumps(peer), flush=True)
    out["machine"] = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                      "threads": torch.get_num_threads()}
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=["full", "imbalance", "unseen"], default="full")
    p.add_argument("--rare", type=int, default=8, help="imbalance: the class that keeps a tenth of its rows")
    p.add_argument("--unknown", type=float, default=0.99, help="the classifier's unknown quantile (default 0.99)")
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), help="e.g. 256 or 256,64")
    p.add_argument("--latent", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--no-peer", dest="peer", action="store_false", help="skip LogisticRegression")
    p.add_argument("--root", help="folder holding mnist/ and fashion-mnist/ (default: fewlabel's data folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS / "per_class.json")
    args = p.parse_args(argv)
    entry = run(args)
    a = entry["autoencoder"]
    key = f"{args.case}: {a['hidden']}-{a['latent']}, {a['epochs']} epochs of {a['batch_size']}"
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results[key] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out} [{key}]")


if __name__ == "__main__":
    main()
