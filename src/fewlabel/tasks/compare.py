"""Every semi-supervised result beside its baselines, measured in the same run.

For each number of labels and each label draw (``labeled_subset(y, n, seed)``): the semi-supervised
classifier, and the same network trained from scratch on exactly the same labels, for as many
optimizer steps (the supervised baseline: an epoch is ``ceil(len(X) / batch_size)`` steps for every
method, however many rows are labeled). Once per run: the same network trained on every label (the
ceiling). Pretraining uses no labels, so it runs once per seed and its encoder serves every count. Scores are on a
test set that nothing is chosen on (validation, when wanted, is a split of the labeled rows).
The verdict says plainly whether the semi-supervised method helped.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from fewlabel.datasets import labeled_subset
from fewlabel.errors import InputError
from fewlabel.jsonsafe import json_safe
from fewlabel.metrics import classification_report
from fewlabel.tasks.classify import ENCODERS

SEMI, BASE, ALL = "semi-supervised", "supervised, same labels", "supervised, all labels"


def baseline_params(params: dict) -> dict:
    """The supervised twin of a semi-supervised configuration: same encoder architecture and head, from
    scratch, no unlabeled data (no pretraining, no propagated labels, no consistency term); weak augmentation
    kept if asked."""
    out = dict(params)
    if not isinstance(out.get("encoder", "auto"), str) or out.get("encoder", "auto") not in ENCODERS:
        raise InputError(f"compare needs encoder= one of {ENCODERS} (pretrained here), so that its supervised "
                         "baseline can be the same architecture from scratch; a ready-made encoder has no such twin")
    out["pretrain"] = None
    out["propagate"] = None
    out.pop("pretrain_params", None)
    if out.get("consistency") is not None:
        out["consistency"] = None
        out["augment"] = True  # FixMatch's labeled branch sees weak augmentation: so does its baseline
    if out.get("freeze_encoder") not in (None, False):
        out["freeze_encoder"] = False  # a frozen random encoder would be a straw man
    return out


def paired_gap(method, base) -> tuple[float, float, float]:
    """(gap, spread, margin) of ``method`` over ``base``: the mean gap, and the gap it must pass to count.
    ``method[i]`` and ``base[i]`` used the same labels, so the spread is that of the paired differences, not of
    each side on its own (a method that wins every draw by 3 points, on draws that differ by 3 points among
    themselves, helped); unpaired scores fall back to both sides' spreads, twice over."""
    method, base = np.asarray(method, dtype=float), np.asarray(base, dtype=float)
    gap = float(method.mean() - base.mean())
    if len(method) == len(base) and len(method) > 1:
        spread = float(np.std(method - base))
        return gap, spread, max(spread, 0.005)
    spread = float(np.sqrt(np.var(method) + np.var(base))) if len(method) > 1 else 0.0
    return gap, spread, max(2 * spread, 0.005)


def verdict(semi: list[float], base: list[float]) -> str:
    """What the scores say, judged by :func:`paired_gap` (as ``fewlabel demo`` judges)."""
    gap, spread, margin = paired_gap(semi, base)
    if gap > margin:
        return f"the semi-supervised method helped: +{100 * gap:.1f} points over the supervised baseline"
    if gap < -margin:
        return f"the semi-supervised method did NOT help: {100 * gap:.1f} points against the supervised baseline"
    return f"no clear difference from the supervised baseline ({100 * gap:+.1f} points, spread {100 * spread:.1f})"


# -- one fit, in this process or in a worker -----------------------------------------------------------
_DATA: dict = {}  # a worker's copy of the data, set once by _init_worker


def _init_worker(X, y, X_test, y_test, threads):
    import torch

    torch.set_num_threads(threads)
    _DATA.update(X=X, y=y, X_test=X_test, y_test=y_test)


def with_encoder(params: dict, encoder) -> dict:
    """``params`` with a ready encoder in place of the architecture and pretraining it replaces."""
    from fewlabel.tasks.classify import PRETRAINED_IGNORES

    return {**{k: v for k, v in params.items() if k not in PRETRAINED_IGNORES}, "encoder": encoder}


def _pretrain(params: dict, seed: int):
    """The pretrained encoder of the semi-supervised configuration for ``seed`` (it uses no labels)."""
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    clf = SemiSupervisedClassifier(**{**params, "random_state": seed})
    return clf.pretrainer_for(_DATA["X"].shape[1:]).fit(_DATA["X"])


def _fit_and_score(params: dict, n, seed, keep: bool) -> dict:
    """Fit on the labels of draw ``seed`` of ``n`` (all labels when ``n`` is None); score on the test set.
    ``keep``: also return the test predictions and the training history (for the report and figures)."""
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    X, y = _DATA["X"], _DATA["y"]
    t0 = time.perf_counter()
    encoder = _DATA.get("encoders", {}).get(seed) if params.get("pretrain") is not None else None
    if encoder is not None:  # pretrained once for this seed: the encoder, not its pretraining again
        params = with_encoder(params, encoder)
    model = SemiSupervisedClassifier(**params).fit(X, y if n is None else labeled_subset(y, n, seed=seed))
    out = {"accuracy": float(model.score(_DATA["X_test"], _DATA["y_test"])),
           "seconds": round(time.perf_counter() - t0, 1)}
    if keep:
        out["predictions"], out["history"] = model.predict(_DATA["X_test"]), model.history_
    return out


def compare(X, y, X_test, y_test, *, n_labels, seeds=3, params: dict, out=None, class_names=None,
            all_labels=True, jobs=1, log=print) -> dict:
    """Run the comparison; write ``metrics.json`` and the figures into ``out`` when given.

    ``params``: the :class:`~fewlabel.SemiSupervisedClassifier` parameters of the semi-supervised method
    (``random_state`` is set per label draw). ``n_labels``: one count or several (a learning curve).
    ``jobs``: fits run at once, each in its own process (spawned; the CPU threads are shared out among
    them). On a GPU several small models train faster side by side than one after another; the figures
    are the same as with ``jobs=1`` (each fit is seeded on its own), the ``seconds`` of each fit are not.
    """
    from fewlabel import plots

    if not isinstance(jobs, (int, np.integer)) or isinstance(jobs, bool) or jobs < 1:
        raise InputError(f"jobs must be a positive integer, got {jobs!r}")
    counts = [int(n) for n in np.atleast_1d(n_labels)]
    if not counts or min(counts) < 1:
        raise InputError(f"n_labels must be positive counts, got {n_labels!r}")
    if not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise InputError(f"seeds must be a positive integer, got {seeds!r}")
    if len(X_test) == 0:
        raise InputError("the test set is empty")
    for n in counts:
        labeled_subset(y, n, seed=0)  # a count the labels cannot give fails here, before any training
    t_start = time.perf_counter()
    # Every fit of the run: (semi-supervised, baseline) per count and draw, then the all-labels ceiling.
    base = baseline_params(params)
    tasks = []
    for n in counts:
        for seed in range(seeds):
            tasks += [((n, seed, SEMI), {**params, "random_state": seed}, n, seed),
                      ((n, seed, BASE), {**base, "random_state": seed}, n, seed)]
    if all_labels:
        tasks.append(((None, 0, ALL), {**base, "random_state": 0}, None, 0))
    pretrain = params.get("pretrain") is not None
    first_key = (counts[0], 0, SEMI)
    done: dict = {}
    if jobs == 1:
        _init_worker(X, y, X_test, y_test, _torch_threads())
        try:
            if pretrain:
                _DATA["encoders"] = {seed: _pretrain(params, seed) for seed in range(seeds)}
                pretrain_seconds = round(time.perf_counter() - t_start, 1)
            for key, p, n, seed in tasks:
                done[key] = _fit_and_score(p, n, seed, key == first_key)
                _log_draw(log, done, key)
        finally:
            _DATA.clear()
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(X, y, X_test, y_test, threads)) as pool:
            encoders = {}
            if pretrain:
                jobs_ = {seed: pool.submit(_pretrain, params, seed) for seed in range(seeds)}
                encoders = {seed: job.result() for seed, job in jobs_.items()}
                pretrain_seconds = round(time.perf_counter() - t_start, 1)
            futures = [(key, pool.submit(_fit_and_score, with_encoder(p, encoders[seed])
                                         if key[2] == SEMI and pretrain else p, n, seed, key == first_key))
                       for key, p, n, seed in tasks]
            for key, future in futures:
                done[key] = future.result()
                _log_draw(log, done, key)
    first = done[first_key]
    curves = {SEMI: {}, BASE: {}}
    runs = []
    for n in counts:
        for seed in range(seeds):
            row = {"n_labels": n, "seed": seed}
            for name in (SEMI, BASE):
                row[name] = {k: done[(n, seed, name)][k] for k in ("accuracy", "seconds")}
                curves[name].setdefault(n, []).append(row[name]["accuracy"])
            runs.append(row)
    summary = {}
    for n in counts:
        s, b = curves[SEMI][n], curves[BASE][n]
        summary[str(n)] = {SEMI: {"mean": float(np.mean(s)), "std": float(np.std(s))},
                           BASE: {"mean": float(np.mean(b)), "std": float(np.std(b))}, "verdict": verdict(s, b)}
    result = {"n_labels": counts, "seeds": seeds, "params": json_safe(params, unknown="name"), "runs": runs,
              "summary": summary}
    if pretrain:
        result["pretrain_seconds"] = pretrain_seconds  # once per seed, shared by every label count
    if all_labels:
        full = done[(None, 0, ALL)]
        result[ALL] = {"accuracy": full["accuracy"], "n_labels": int(len(y)), "seconds": full["seconds"]}
    report = classification_report(y_test, first["predictions"], class_names=class_names)
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
        metrics = [m for m in ("loss", "accuracy") if m in first["history"].history]
        plots.loss_curves(first["history"], metrics=metrics, path=out / "training.png",
                          title=f"semi-supervised, {counts[0]} labels, draw 0")
        import matplotlib.pyplot as plt

        plt.close("all")
        write_json_atomic(out / "metrics.json", result)
        result["files"] = ["metrics.json", "learning_curves.png", "confusion_matrix.png", "training.png"]
    return result


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _log_draw(log, done: dict, key) -> None:
    """One line per finished draw (once both of its fits are in), and one for the all-labels fit."""
    n, seed, name = key
    if name == ALL:
        log(f"all labels: supervised {done[key]['accuracy']:.4f} ({done[key]['seconds']} s)")
    elif (n, seed, SEMI) in done and (n, seed, BASE) in done:
        semi, base = done[(n, seed, SEMI)], done[(n, seed, BASE)]
        log(f"{n} labels, draw {seed}: semi-supervised {semi['accuracy']:.4f} ({semi['seconds']} s), "
            f"supervised {base['accuracy']:.4f} ({base['seconds']} s)")
