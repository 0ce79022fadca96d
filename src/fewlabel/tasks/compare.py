"""Every semi-supervised result beside its baselines, measured in the same run: the one experiment engine of
``fewlabel classify --labels``, ``fewlabel run`` (its classify steps) and the benchmarks.

For each number of labels and each label draw: the semi-supervised classifier; the same network trained from
scratch on exactly the same labels, for as many optimizer steps (the supervised baseline: an epoch is
``ceil(len(X) / batch_size)`` steps for every method, however many rows are labeled); and a logistic
regression on the raw input of the same labeled rows. Once per run: the same network trained on every label
(the ceiling). One seeding rule (:func:`draw_seed`): draw ``d`` of a run seeded ``s`` keeps the labels of
``labeled_subset(y, n, seed=s + d)`` and seeds every network of the draw with ``s + d``; the ceiling uses
``s``. Pretraining uses no labels, so it runs once per draw seed and its encoder serves every count. Scores are
on a test set that nothing is chosen on (validation, when wanted, is a split of the labeled rows). The verdict
says plainly whether the semi-supervised method helped.

:func:`score_draw` fits and scores one draw in this process (a resumable step of ``fewlabel run`` is one
draw); :func:`compare` runs every draw of every count, in this process or side by side in worker processes,
and :func:`summarize` turns the scores into means, spreads and verdicts.
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

SEMI, BASE, LOGREG, ALL = ("semi-supervised", "supervised, same labels",
                           "logistic regression on the raw input, same labels", "supervised, all labels")


def baseline_params(params: dict) -> dict:
    """The supervised twin of a semi-supervised configuration: same encoder architecture and head, from
    scratch, no unlabeled data (no pretraining, no propagated labels, no consistency term); weak augmentation
    kept if asked."""
    out = dict(params)
    if not isinstance(out.get("encoder", "auto"), str) or out.get("encoder", "auto") not in ENCODERS:
        raise InputError(f"compare needs encoder= one of {ENCODERS} (pretrained here), so that its supervised "
                         "baseline can be the same architecture from scratch; a ready-made encoder has no such twin")
    if out.get("pretrain") is not None and out.get("encoder", "auto") in ("auto", "conv"):
        out["convs"] = 1  # a pretrainer's conv encoder has one convolution per stage: so has its twin
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


def draw_seed(seed: int, draw: int) -> int:
    """The seed of label draw ``draw`` of a run seeded ``seed``: its labels (``labeled_subset``) and the
    initialisation of every network fitted on them."""
    return int(seed) + int(draw)


def with_encoder(params: dict, encoder) -> dict:
    """``params`` with a ready encoder in place of the architecture and pretraining it replaces."""
    from fewlabel.tasks.classify import PRETRAINED_IGNORES

    return {**{k: v for k, v in params.items() if k not in PRETRAINED_IGNORES}, "encoder": encoder}


def pretrain_encoder(X, params: dict, seed: int):
    """The pretrained encoder of the semi-supervised configuration ``params`` for ``seed`` (it uses no labels,
    so every label count of that seed shares it)."""
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    clf = SemiSupervisedClassifier(**{**params, "random_state": seed})
    return clf.pretrainer_for(X.shape[1:]).fit(X)


def logistic_regression_accuracy(X, y, X_test, y_test) -> float:
    """Test accuracy of a logistic regression on the raw input (flattened; 8-bit images scaled to [0, 1],
    anything else standardised): what a user without fewlabel would fit on the same labeled rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    flat, flat_t = X.reshape(len(X), -1), X_test.reshape(len(X_test), -1)
    if X.dtype == np.uint8:
        model = LogisticRegression(max_iter=2000)
        flat, flat_t = flat / 255.0, flat_t / 255.0
    else:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(model.fit(flat, y).score(flat_t, y_test))


def fit_and_score(X, y, X_test, y_test, name: str, params: dict | None, n, seed: int, encoder=None,
                  keep: bool = False) -> dict:
    """One model of one draw, scored on the test rows: ``name`` SEMI, BASE or ALL fits a
    SemiSupervisedClassifier(``params``, random_state=``seed``) on the labels of ``labeled_subset(y, n, seed)``
    (every label when ``n`` is None); LOGREG the logistic regression on those labeled rows. ``encoder``: a
    ready encoder for the classifier (its pretraining done). ``keep``: also the model, its test predictions and
    its training history."""
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    t0 = time.perf_counter()
    y_fit = y if n is None else labeled_subset(y, n, seed=seed)
    if name == LOGREG:
        keep_rows = y_fit != -1
        accuracy = logistic_regression_accuracy(X[keep_rows], y_fit[keep_rows], X_test, y_test)
        return {"accuracy": accuracy, "seconds": round(time.perf_counter() - t0, 2)}
    params = {**params, "random_state": seed}
    if encoder is not None:
        params = with_encoder(params, encoder)
    model = SemiSupervisedClassifier(**params).fit(X, y_fit)
    predictions = model.predict(X_test)
    out = {"accuracy": float(np.mean(predictions == np.asarray(y_test))),
           "seconds": round(time.perf_counter() - t0, 2)}
    if keep:
        out.update(model=model, predictions=predictions, history=model.history_)
    return out


def draw_fits(semi: dict, base: dict, logistic_regression: bool = True) -> list[tuple[str, dict | None]]:
    """The models of one draw, in the order they are fitted: (name, parameters)."""
    return [(SEMI, semi), (BASE, base)] + ([(LOGREG, None)] if logistic_regression else [])


def score_draw(X, y, X_test, y_test, *, semi: dict, base: dict, n: int, seed: int, encoder=None,
               logistic_regression: bool = True, keep: bool = False) -> dict:
    """Every model of one label draw (``seed``: its :func:`draw_seed`), in this process: ``{SEMI: {"accuracy",
    "seconds"}, BASE: ..., LOGREG: ...}``; with ``keep``, also the semi-supervised ``model``, its test
    ``predictions`` and ``history``. ``encoder``: the semi-supervised classifier's ready encoder, if any."""
    out: dict = {}
    for name, params in draw_fits(semi, base, logistic_regression):
        r = fit_and_score(X, y, X_test, y_test, name, params, n, seed, encoder if name == SEMI else None,
                          keep and name == SEMI)
        out.update({k: r.pop(k) for k in ("model", "predictions", "history") if k in r})
        out[name] = r
    return out


def summarize(curves: dict) -> dict:
    """``{str(n): {name: {"mean", "std", "draws"}, "verdict"}}`` from ``curves`` (name -> n -> the accuracy of
    each draw, in draw order); the verdict judges SEMI against BASE where both are there."""
    table = {}
    for n in sorted({n for c in curves.values() for n in c}):
        row: dict = {name: {"mean": float(np.mean(c[n])), "std": float(np.std(c[n])), "draws": list(c[n])}
                     for name, c in curves.items() if n in c}
        if SEMI in row and BASE in row:
            row["verdict"] = verdict(curves[SEMI][n], curves[BASE][n])
        table[str(n)] = row
    return table


# -- compare's fits, in this process or in a worker -----------------------------------------------------
_DATA: dict = {}  # a worker's copy of the data, set once by _init_worker


def _init_worker(X, y, X_test, y_test, threads):
    import torch

    torch.set_num_threads(threads)
    _DATA.update(X=X, y=y, X_test=X_test, y_test=y_test)


def _worker_pretrain(params: dict, seed: int):
    return pretrain_encoder(_DATA["X"], params, seed)


def _worker_fit(name, params, n, seed, encoder, keep: bool) -> dict:
    out = fit_and_score(_DATA["X"], _DATA["y"], _DATA["X_test"], _DATA["y_test"], name, params, n, seed, encoder,
                        keep)
    out.pop("model", None)  # the predictions and history come back; the network stays in the worker
    return out


def compare(X, y, X_test, y_test, *, n_labels, seeds=3, params: dict, base: dict | None = None, seed: int = 0,
            logistic_regression: bool = True, out=None, class_names=None, all_labels=True, jobs=1, log=print) -> dict:
    """Run the comparison; write ``metrics.json`` and the figures into ``out`` when given.

    ``params``: the :class:`~fewlabel.SemiSupervisedClassifier` parameters of the semi-supervised method
    (``random_state`` is set per label draw). ``base``: the supervised baseline's (default
    :func:`baseline_params` of ``params``). ``n_labels``: one count or several (a learning curve); ``seeds``:
    label draws per count, draw ``d`` seeded :func:`draw_seed` (``seed``, ``d``). ``logistic_regression``: the
    linear baseline on the raw input beside them. ``jobs``: fits run at once, each in its own process (spawned;
    the CPU threads are shared out among them). On a GPU several small models train faster side by side than
    one after another; the figures are the same as with ``jobs=1`` (each fit is seeded on its own), the
    ``seconds`` of each fit are not.
    """
    from fewlabel import plots

    if not isinstance(jobs, (int, np.integer)) or isinstance(jobs, bool) or jobs < 1:
        raise InputError(f"jobs must be a positive integer, got {jobs!r}")
    counts = [int(n) for n in np.atleast_1d(n_labels)]
    if not counts or min(counts) < 1:
        raise InputError(f"n_labels must be positive counts, got {n_labels!r}")
    if not isinstance(seeds, (int, np.integer)) or isinstance(seeds, bool) or seeds < 1:
        raise InputError(f"seeds must be a positive integer, got {seeds!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if len(X_test) == 0:
        raise InputError("the test set is empty")
    for n in counts:
        labeled_subset(y, n, seed=0)  # a count the labels cannot give fails here, before any training
    t_start = time.perf_counter()
    base = baseline_params(params) if base is None else base
    draws = [draw_seed(seed, d) for d in range(seeds)]
    # Every fit of the run: each draw's models per count, then the all-labels ceiling.
    tasks = [((n, s, name), p, n, s) for n in counts for s in draws
             for name, p in draw_fits(params, base, logistic_regression)]
    if all_labels:
        tasks.append(((None, int(seed), ALL), base, None, int(seed)))
    pretrain = params.get("pretrain") is not None
    first_key = (counts[0], draws[0], SEMI)
    done: dict = {}
    encoders: dict = {}
    if jobs == 1:
        if pretrain:
            encoders = {s: pretrain_encoder(X, params, s) for s in draws}
            pretrain_seconds = round(time.perf_counter() - t_start, 1)
        for key, p, n, s in tasks:
            done[key] = fit_and_score(X, y, X_test, y_test, key[2], p, n, s,
                                      encoders.get(s) if key[2] == SEMI else None, key == first_key)
            _log_draw(log, done, key, logistic_regression)
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(X, y, X_test, y_test, threads)) as pool:
            if pretrain:
                pending = {s: pool.submit(_worker_pretrain, params, s) for s in draws}
                encoders = {s: job.result() for s, job in pending.items()}
                pretrain_seconds = round(time.perf_counter() - t_start, 1)
            futures = [(key, pool.submit(_worker_fit, key[2], p, n, s, encoders.get(s) if key[2] == SEMI else None,
                                         key == first_key))
                       for key, p, n, s in tasks]
            for key, future in futures:
                done[key] = future.result()
                _log_draw(log, done, key, logistic_regression)
    first = done[first_key]
    names = [name for name, _ in draw_fits(params, base, logistic_regression)]
    curves: dict = {name: {} for name in names}
    runs = []
    for n in counts:
        for d, s in enumerate(draws):
            row = {"n_labels": n, "draw": d, "seed": s}
            for name in names:
                row[name] = {k: done[(n, s, name)][k] for k in ("accuracy", "seconds")}
                curves[name].setdefault(n, []).append(row[name]["accuracy"])
            runs.append(row)
    summary = summarize(curves)
    result = {"n_labels": counts, "seeds": seeds, "params": json_safe(params, unknown="name"), "runs": runs,
              "summary": summary}
    result["seed"] = int(seed)
    if pretrain:
        result["pretrain_seconds"] = pretrain_seconds  # once per draw seed, shared by every label count
    if all_labels:
        full = done[(None, int(seed), ALL)]
        result[ALL] = {"accuracy": full["accuracy"], "n_labels": int(len(y)), "seconds": full["seconds"]}
    report = classification_report(y_test, first["predictions"], class_names=class_names)
    result["report_first_run"] = report
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    for n in counts:
        row = summary[str(n)]
        shown = ", ".join(f"{_short(name)} {row[name]['mean']:.4f} ± {row[name]['std']:.4f}" for name in names)
        log(f"{n} labels over {seeds} draw(s): {shown}: {row['verdict']}")
    if out is not None:
        from fewlabel.train.state import write_json_atomic

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        shown_curves = dict(curves)
        if all_labels:
            shown_curves[ALL] = {len(y): [result[ALL]["accuracy"]]}
        plots.learning_curves(shown_curves, path=out / "learning_curves.png",
                              title="test accuracy against labels (mean ± std over draws)")
        # the report's own names: its matrix holds only the classes the test rows or the answers hold
        plots.confusion_matrix(report["confusion_matrix"], list(report["per_class"]),
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


def _short(name: str) -> str:
    """A model's name in the log lines."""
    return {SEMI: "semi-supervised", BASE: "supervised", LOGREG: "logistic regression"}.get(name, name)


def _log_draw(log, done: dict, key, logistic_regression: bool) -> None:
    """One line per finished draw (once all of its fits are in), and one for the all-labels fit."""
    n, seed, name = key
    if name == ALL:
        log(f"all labels: supervised {done[key]['accuracy']:.4f} ({done[key]['seconds']} s)")
        return
    names = (SEMI, BASE, LOGREG) if logistic_regression else (SEMI, BASE)
    if all((n, seed, m) in done for m in names):
        parts = ", ".join(f"{_short(m)} {done[(n, seed, m)]['accuracy']:.4f} ({done[(n, seed, m)]['seconds']} s)"
                          for m in names)
        log(f"{n} labels, draw seed {seed}: {parts}")

