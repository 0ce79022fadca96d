"""Out-of-distribution detection both ways on the full training splits, beside PyOD and scikit-learn.

    OMP_NUM_THREADS=1 python benchmarks/detect_ood.py                       # both directions, every variant
    OMP_NUM_THREADS=1 python benchmarks/detect_ood.py --normal mnist --variants default scores iforest

A detector is fitted on all 60,000 training images of one dataset (``--normal``) and scores that dataset's
10,000 test images (new normal rows) against the other dataset's 10,000 test images (the outliers): AUROC
(outliers positive), and the share of each flagged at the detector's cut-off.

Variants:
  default   ``ReconstructionDetector()`` with no options (score_by='combined', contamination='auto').
  scores    the default's fitted autoencoder, calibrated on the same held-out rows, scored by 'error',
            'normalized' and 'latent' alone (``prefit=True``; the 'latent' reference codes are then the
            6,000 held-out rows, not the 54,000 training rows), and 'combined' the same way.
  bce       the default architecture trained with binary cross-entropy, scored by its error ('error') and
            'combined'.
  conv      ``ReconstructionDetector(ConvAutoencoder(channels=(32, 64), latent=16, epochs=10,
            batch_size=128))``.
  pyod      PyOD's ``AutoEncoder()`` with its defaults (``pip install pyod``; skipped when it is missing) on
            the pixels scaled to [0, 1].
  iforest   scikit-learn: ``IsolationForest(random_state=0)`` on ``PCA(50)`` of the pixels; and the distance
            to the 5th nearest training row in the same PCA-50 space (``NearestNeighbors``).
Every step records wall and CPU seconds (time.process_time). Results are merged into
benchmarks/results/detect_ood.json (one entry per direction).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
from _timing import Clock  # benchmarks/_timing.py (the script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
PAIRS = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}
VARIANTS = ("default", "scores", "bce", "conv", "pyod", "iforest")


def auroc(normal, outliers) -> float:
    from fewlabel.metrics import auroc as fl_auroc

    return round(float(fl_auroc(np.asarray(normal), np.asarray(outliers))), 4)


def detector_entry(det, N, O, fit_clock) -> dict:
    fit = fit_clock.read()
    c = Clock()
    sn, so = det.anomaly_score(N), det.anomaly_score(O)
    flagged = {"normal": round(float(np.mean(sn > det.threshold_)), 4),
               "outliers": round(float(np.mean(so > det.threshold_)), 4)}
    return {"auroc": auroc(sn, so), "flagged": flagged, "fit": fit, "score": c.read()}


def run_direction(normal: str, variants, root: str | None, seed: int, max_rows: int | None = None) -> dict:
    import torch

    from fewlabel import Autoencoder, ConvAutoencoder, ReconstructionDetector, datasets
    from fewlabel.datasets.subsets import holdout

    torch.set_num_threads(1)
    kw = lambda name: {"root": f"{root}/{name}"} if root else {}  # noqa: E731
    X, _ = datasets.load(normal, split="train", **kw(normal))
    if max_rows is not None and max_rows < len(X):  # a quick try; the figures use every row
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))]
    N, _ = datasets.load(normal, split="test", **kw(normal))
    O, _ = datasets.load(PAIRS[normal], split="test", **kw(PAIRS[normal]))
    out = {"normal": normal, "outliers": PAIRS[normal], "train_rows": len(X), "test_rows": len(N),
           "outlier_rows": len(O), "seed": seed, "variants": {}}
    res = out["variants"]

    def log(name):
        print(f"{normal} vs {PAIRS[normal]}: {name}: {json.dumps(res[name])}", flush=True)

    if "default" in variants or "scores" in variants:
        c = Clock()
        det = ReconstructionDetector(random_state=seed).fit(X)
        res["fewlabel default (combined, auto)"] = detector_entry(det, N, O, c)
        log("fewlabel default (combined, auto)")
        if "scores" in variants:
            _, cal = holdout(len(X), det.calibration_fraction, seed, name="calibration_fraction")
            for score in ("error", "normalized", "latent", "combined"):
                c = Clock()
                alt = ReconstructionDetector(det.autoencoder_, prefit=True, score_by=score).fit(X[cal])
                name = f"fewlabel score_by={score!r} (same autoencoder, prefit on the held-out rows)"
                res[name] = detector_entry(alt, N, O, c)
                log(name)
    if "bce" in variants:
        c = Clock()
        ae = Autoencoder(hidden=(128,), latent=8, epochs=30, batch_size=32, loss="bce", verbose=False)
        det = ReconstructionDetector(ae, score_by="error", random_state=seed).fit(X)
        res["fewlabel BCE autoencoder, score_by='error'"] = detector_entry(det, N, O, c)
        log("fewlabel BCE autoencoder, score_by='error'")
        _, cal = holdout(len(X), det.calibration_fraction, seed, name="calibration_fraction")
        c = Clock()
        alt = ReconstructionDetector(det.autoencoder_, prefit=True, score_by="combined").fit(X[cal])
        res["fewlabel BCE autoencoder, score_by='combined' (prefit)"] = detector_entry(alt, N, O, c)
        log("fewlabel BCE autoencoder, score_by='combined' (prefit)")
    if "conv" in variants:
        c = Clock()
        ae = ConvAutoencoder(channels=(32, 64), latent=16, epochs=10, batch_size=128, verbose=False)
        img = lambda A: A.reshape(len(A), 28, 28)  # noqa: E731
        det = ReconstructionDetector(ae, random_state=seed).fit(img(X))
        res["fewlabel conv autoencoder (combined, auto)"] = detector_entry(det, img(N), img(O), c)
        log("fewlabel conv autoencoder (combined, auto)")
    flat = lambda A: A.reshape(len(A), -1).astype(np.float32) / 255  # noqa: E731
    if "pyod" in variants:
        try:
            from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder
        except ImportError as e:
            res["pyod AutoEncoder()"] = {"skipped": f"pyod is not installed ({e})"}
        else:
            import pyod

            c = Clock()
            model = PyODAutoEncoder(verbose=0, random_state=seed).fit(flat(X))
            fit = c.read()
            c = Clock()
            sn, so = model.decision_function(flat(N)), model.decision_function(flat(O))
            res["pyod AutoEncoder()"] = {
                "auroc": auroc(sn, so), "version": pyod.__version__,
                "flagged": {"normal": round(float(np.mean(sn > model.threshold_)), 4),
                            "outliers": round(float(np.mean(so > model.threshold_)), 4)},
                "fit": fit, "score": c.read()}
        log("pyod AutoEncoder()")
    if "iforest" in variants:
        from sklearn.decomposition import PCA
        from sklearn.ensemble import IsolationForest
        from sklearn.neighbors import NearestNeighbors

        c = Clock()
        pca = PCA(50, random_state=seed).fit(flat(X))
        P, Pn, Po = pca.transform(flat(X)), pca.transform(flat(N)), pca.transform(flat(O))
        pca_clock = c.read()
        c = Clock()
        forest = IsolationForest(random_state=seed).fit(P)
        fit = c.read()
        c = Clock()
        sn, so = -forest.score_samples(Pn), -forest.score_samples(Po)
        res["sklearn IsolationForest on PCA-50"] = {
            "auroc": auroc(sn, so), "flagged": {"normal": round(float(np.mean(forest.predict(Pn) == -1)), 4),
                                                "outliers": round(float(np.mean(forest.predict(Po) == -1)), 4)},
            "pca": pca_clock, "fit": fit, "score": c.read()}
        log("sklearn IsolationForest on PCA-50")
        c = Clock()
        nn = NearestNeighbors(n_neighbors=5).fit(P)
        fit = c.read()
        c = Clock()
        sn, so = nn.kneighbors(Pn)[0][:, -1], nn.kneighbors(Po)[0][:, -1]
        res["sklearn 5-NN distance on PCA-50"] = {"auroc": auroc(sn, so), "pca": pca_clock, "fit": fit,
                                                  "score": c.read()}
        log("sklearn 5-NN distance on PCA-50")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--normal", choices=[*PAIRS, "both"], default="both",
                   help="the dataset trained on (the other is the outliers); default both directions")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--root", help="folder holding mnist/ and fashion-mnist/ (default: fewlabel's data folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rows", type=int, help="train on this many rows only (a quick try; default all 60,000)")
    p.add_argument("--out", type=Path, default=RESULTS / "detect_ood.json")
    args = p.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    import torch

    for normal in (PAIRS if args.normal == "both" else [args.normal]):
        entry = run_direction(normal, args.variants, args.root, args.seed, args.max_rows)
        key = f"{normal} train vs {PAIRS[normal]} test"
        previous = results.get(key, {}).get("variants", {})
        entry["variants"] = previous | entry["variants"]  # a run of some variants keeps the others' results
        entry["machine"] = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                            "threads": torch.get_num_threads()}
        results[key] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
