"""Every semi-supervised result beside its baselines, measured in the same run.

For each number of labels and each label draw (``labeled_subset(y, n, seed)``): the semi-supervised
classifier, and the same network trained from scratch on exactly the same labels (the supervised
baseline). Once per run: the same network trained on every label (the ceiling). Scores are on a
test set that nothing is chosen on (validation, when wanted, is a split of the labeled rows).
The verdict says plainly whether the semi-supervised method helped.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from fewlabel.datasets import labeled_subset
from fewlabel.errors import InputError
from fewlabel.metrics import classification_report
from fewlabel.tasks.classify import ENCODERS

SEMI, BASE, ALL = "semi-supervised", "supervised, same labels", "supervised, all labels"


def baseline_params(params: dict) -> dict:
    """The supervised twin of a semi-supervised configuration: same encoder architecture and head, from
    scratch, no unlabeled data (no pretraining, no consistency term); weak augmentation kept if asked."""
    out = dict(params)
    if not isinstance(out.get("encoder", "dense"), str) or out.get("encoder", "dense") not in ENCODERS:
        raise InputError(f"compare needs encoder= one of {ENCODERS} (pretrained here), so that its supervised "
                         "baseline can be the same architecture from scratch; a ready-made encoder has no such twin")
    out["pretrain"] = None
    out.pop("pretrain_params", None)
    if out.get("consistency") is not None:
        out["consistency"] = None
        out["augment"] = True  # FixMatch's labeled branch sees weak augmentation: so does its baseline
    if out.get("freeze_encoder") not in (None, False):
        out["freeze_encoder"] = False  # a frozen random encoder would be a straw man
    return out


def baseline_epochs(params: dict, n_rows: int, n_labeled: int) -> int:
    """Epochs that give the baseline at least as many optimisation steps as the semi-supervised method.

    A consistency method's epoch runs over every row (hundreds of steps), while a labeled-only epoch of
    100 labels is one step: equal epoch counts would make the baseline a straw man.
    """
    epochs = int(params.get("epochs", 50))
    batch = int(params.get("batch_size", 256))
    if params.get("consistency") is None:
        return epochs
    mu = int(params.get("unlabeled_ratio", 7))
    unlabeled_per_step = max(1, batch - max(1, batch // (1 + mu)))
    steps = epochs * math.ceil(n_rows / unlabeled_per_step)
    return max(epochs, math.ceil(steps / math.ceil(n_labeled / batch)))


def verdict(semi: list[float], base: list[float]) -> str:
    gap = float(np.mean(semi) - np.mean(base))
    spread = float(np.sqrt(np.var(semi) + np.var(base))) if len(semi) > 1 else 0.0
    margin = max(2 * spread, 0.005)
    if gap > margin:
        return f"the semi-supervised method helped: +{100 * gap:.1f} points over the supervised baseline"
    if gap < -margin:
        return f"the semi-supervised method did NOT help: {100 * gap:.1f} points against the supervised baseline"
    return f"no clear difference from the supervised baseline ({100 * gap:+.1f} points, spread {100 * spread:.1f})"


def compare(X, y, X_test, y_test, *, n_labels, seeds=3, params: dict, out=None, class_names=None,
            all_labels=True, log=print) -> dict:
    """Run the comparison; write ``metrics.json`` and the figures into ``out`` when given.

    ``params``: the :class:`~fewlabel.SemiSupervisedClassifier` parameters of the semi-supervised method
    (``random_state`` is set per label draw). ``n_labels``: one count or several (a learning curve).
    """
    from fewlabel import plots
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    counts = [int(n) for n in np.atleast_1d(n_labels)]
    if not counts or min(counts) < 1:
        raise InputError(f"n_labels must be positive counts, got {n_labels!r}")
    if not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise InputError(f"seeds must be a positive integer, got {seeds!r}")
    if len(X_test) == 0:
        raise InputError("the test set is empty")
    t_start = time.perf_counter()
    curves = {SEMI: {}, BASE: {}}
    runs, first = [], None
    for n in counts:
        for seed in range(seeds):
            y_few = labeled_subset(y, n, seed=seed)
            row = {"n_labels": n, "seed": seed}
            base = dict(baseline_params(params), epochs=baseline_epochs(params, len(X), n))
            row["baseline_epochs"] = base["epochs"]
            for name, p in ((SEMI, params), (BASE, base)):
                t0 = time.perf_counter()
                model = SemiSupervisedClassifier(**{**p, "random_state": seed}).fit(X, y_few)
                row[name] = {"accuracy": float(model.score(X_test, y_test)),
                             "seconds": round(time.perf_counter() - t0, 1)}
                curves[name].setdefault(n, []).append(row[name]["accuracy"])
                if first is None and name == SEMI:
                    first = model
            runs.append(row)
            log(f"{n} labels, draw {seed}: semi-supervised {row[SEMI]['accuracy']:.4f} "
                f"({row[SEMI]['seconds']} s), supervised {row[BASE]['accuracy']:.4f} ({row[BASE]['seconds']} s)")
    summary = {}
    for n in counts:
        s, b = curves[SEMI][n], curves[BASE][n]
        summary[str(n)] = {SEMI: {"mean": float(np.mean(s)), "std": float(np.std(s))},
                           BASE: {"mean": float(np.mean(b)), "std": float(np.std(b))}, "verdict": verdict(s, b)}
    result = {"n_labels": counts, "seeds": seeds, "params": _jsonable(params), "runs": runs, "summary": summary}
    if all_labels:
        t0 = time.perf_counter()
        epochs_all = baseline_epochs(params, len(X), len(y))
        full = SemiSupervisedClassifier(**{**baseline_params(params), "epochs": epochs_all, "random_state": 0}).fit(X, y)
        result[ALL] = {"accuracy": float(full.score(X_test, y_test)), "n_labels": int(len(y)), "epochs": epochs_all,
                       "seconds": round(time.perf_counter() - t0, 1)}
        log(f"all {len(y)} labels: supervised {result[ALL]['accuracy']:.4f}")
    report = classification_report(y_test, first.predict(X_test), class_names=class_names)
    result["report_first_run"] = report
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    for n in counts:
        log(f"{n} labels over {seeds} draw(s): semi-supervised {summary[str(n)][SEMI]['mean']:.4f} ± "
            f"{summary[str(n)][SEMI]['std']:.4f}, supervised {summary[str(n)][BASE]['mean']:.4f} ± "
            f"{summary[str(n)][BASE]['std']:.4f}: {summary[str(n)]['verdict']}")
    if out is not None:
        from fewlabel.train.state import write_json_atomic

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        shown = dict(curves)
        if all_labels:
            shown[ALL] = {len(y): [result[ALL]["accuracy"]]}
        plots.learning_curves(shown, path=out / "learning_curves.png",
                              title="test accuracy against labels (mean ± std over draws)")
        plots.confusion_matrix(report["confusion_matrix"], class_names or report["classes"],
                               path=out / "confusion_matrix.png",
                               title=f"semi-supervised, {counts[0]} labels, draw 0")
        metrics = [m for m in ("loss", "accuracy") if m in first.history_.history]
        plots.loss_curves(first.history_, metrics=metrics, path=out / "training.png",
                          title=f"semi-supervised, {counts[0]} labels, draw 0")
        import matplotlib.pyplot as plt

        plt.close("all")
        write_json_atomic(out / "metrics.json", result)
        result["files"] = ["metrics.json", "learning_curves.png", "confusion_matrix.png", "training.png"]
    return result


def _jsonable(params: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool, type(None), list, tuple)) else type(v).__name__)
            for k, v in params.items()}
