"""``fewlabel demo``: the whole idea on data that needs no download (scikit-learn's 8x8 digits).

``SemiSupervisedClassifier()`` with its defaults learns from a few labels and every unlabeled training
image: its labels travel to the unlabeled images through the clusters of a UMAP map of the images, where
they agree with a network trained on the labels, and a fresh network learns from both. Beside it, on
exactly the same labels: the same network trained on the labels alone (the supervised baseline) and a
logistic regression on the raw pixels; and, as the ceiling, the same network trained on every label. The
verdict says plainly whether the unlabeled images helped, and whether the result beats the linear model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from fewlabel import datasets
from fewlabel.errors import InputError
from fewlabel.tasks.classify import SemiSupervisedClassifier
from fewlabel.tasks.compare import paired_gap
from fewlabel.train.state import atomic_write

#: The demo uses the classifier's defaults; only these are set (and the same for every model shown).
NETWORK: dict = {}
#: ``rows`` keys: the default method, the same network on the labels alone, logistic regression.
METHOD, BASELINE, LOGREG_KEY = "default", "baseline", "logreg"


def _verdict(method: list[float], base: list[float], logreg: list[float]) -> str:
    gain, spread, margin = paired_gap(method, base)
    over_lr = float(np.mean(method) - np.mean(logreg))
    if gain > margin:
        head = f"the unlabeled images helped: +{gain * 100:.1f} points over the same network on the same labels"
    elif gain < -margin:
        head = f"the unlabeled images did NOT help here: {gain * 100:.1f} points against the same network alone"
    else:
        head = f"no clear difference from the same network alone ({gain * 100:+.1f} points, spread {spread * 100:.1f})"
    tail = (f"{over_lr * 100:+.1f} points against logistic regression on the pixels" if abs(over_lr) >= 0.005
            else "level with logistic regression on the pixels")
    return f"{head}; {tail}."


def run_demo(labels: int = 50, seeds: int = 3, out: Path | None = None, device: str = "auto",
             verbose: bool = False) -> dict:
    t_start, c_start = time.perf_counter(), time.process_time()
    if seeds < 1:
        raise InputError(f"--seeds must be at least 1, got {seeds}")
    X, y = datasets.load("digits", split="train")
    Xt, yt = datasets.load("digits", split="test")
    print(f"digits: {len(X)} training images (8x8), {len(Xt)} test images; {labels} of the training images keep "
          f"their label, the other {len(X) - labels} are used without it.")
    rows: dict[str, list[float]] = {METHOD: [], BASELINE: [], LOGREG_KEY: []}
    for seed in range(seeds):
        y_few = datasets.labeled_subset(y, labels, seed=seed)
        method = SemiSupervisedClassifier(device=device, random_state=seed, verbose=verbose, **NETWORK).fit(X, y_few)
        base = SemiSupervisedClassifier(propagate=None, device=device, random_state=seed, verbose=verbose,
                                        **NETWORK).fit(X, y_few)
        keep = y_few != -1
        logreg = LogisticRegression(max_iter=2000).fit(X[keep].reshape(keep.sum(), -1) / 255.0, y[keep])
        rows[METHOD].append(method.score(Xt, yt))
        rows[BASELINE].append(base.score(Xt, yt))
        rows[LOGREG_KEY].append(logreg.score(Xt.reshape(len(Xt), -1) / 255.0, yt))
        print(f"  label draw {seed}: fewlabel default {rows[METHOD][-1]:.3f}, same network on the labels alone "
              f"{rows[BASELINE][-1]:.3f}, logistic regression {rows[LOGREG_KEY][-1]:.3f}")
    full = SemiSupervisedClassifier(propagate=None, device=device, random_state=0, verbose=verbose,
                                    **NETWORK).fit(X, y)
    ceiling = full.score(Xt, yt)

    def cell(v):
        return f"{np.mean(v):.3f} ± {np.std(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"

    print()
    print(f"test accuracy over {seeds} label draw(s) (mean ± std):")
    print(f"  {'fewlabel SemiSupervisedClassifier(), ' + str(labels) + ' labels':<52} {cell(rows[METHOD])}")
    print(f"  {'supervised baseline: same network, same labels':<52} {cell(rows[BASELINE])}")
    print(f"  {'logistic regression on raw pixels, same labels':<52} {cell(rows[LOGREG_KEY])}")
    print(f"  {'same network on all ' + str(len(X)) + ' labels (ceiling)':<52} {ceiling:.3f}")
    gain = float(np.mean(rows[METHOD]) - np.mean(rows[BASELINE]))
    verdict = _verdict(rows[METHOD], rows[BASELINE], rows[LOGREG_KEY])
    seconds = time.perf_counter() - t_start
    cpu_seconds = time.process_time() - c_start
    print(f"verdict: {verdict}")
    print(f"wall time {seconds:.1f} s")
    result = {"dataset": "digits", "labels": labels, "seeds": seeds, "accuracy": rows, "ceiling_all_labels": ceiling,
              "gain_over_baseline": gain, "verdict": verdict, "seconds": seconds, "cpu_seconds": cpu_seconds,
              "network": NETWORK}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=2, default=list)
        atomic_write(out / "demo.json", lambda tmp: tmp.write_text(text))  # the command says where it went
        write_demo_report(result, len(X), len(Xt), out)
    return result


def write_demo_report(result: dict, rows: int, test_rows: int, out: Path) -> None:
    """``out/report.html`` (one self-contained page, as ``fewlabel run`` writes) and its learning curve in
    ``out/figures/``."""
    import matplotlib.pyplot as plt

    from fewlabel import plots
    from fewlabel.report import write_report
    from fewlabel.tasks.compare import ALL, BASE, LOGREG, SEMI

    n = result["labels"]
    acc = result["accuracy"]
    row = {name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "draws": list(v)}
           for name, v in ((SEMI, acc[METHOD]), (BASE, acc[BASELINE]), (LOGREG, acc[LOGREG_KEY]))}
    row["verdict"] = result["verdict"]
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    curves = {name: {n: row[name]["draws"]} for name in (SEMI, BASE, LOGREG)}
    curves[ALL] = {rows: [result["ceiling_all_labels"]]}
    plt.close(plots.learning_curves(curves, path=figures / "learning_curves.png",
                                    title=f"test accuracy with {n} labels (mean ± std over draws) and all {rows}"))
    metrics = {"title": f"fewlabel demo: {n} labels and the unlabeled rest of the bundled digits", "status": "complete",
               "data": {"where": "digits (train)", "rows": rows, "test_rows": test_rows, "shape": [8, 8],
                        "classes": 10},
               "steps": {"demo": {"wall_seconds": result["seconds"], "cpu_seconds": result.get("cpu_seconds")}},
               "classify": {"by_labels": {str(n): row}, ALL: {"n_labels": rows, "accuracy": result["ceiling_all_labels"]}},
               "settings": {"labels": n, "seeds": result["seeds"], "network": result["network"]},
               "config_file": "fewlabel demo", "figures": {"classify": ["learning_curves.png"]}}
    write_report(metrics, figures, out / "report.html")
