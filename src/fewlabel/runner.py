"""Run a checked :class:`~fewlabel.experiment.Experiment` step by step, keeping each finished step for a resume.

The steps (``Experiment.steps()``): ``pretrain``, one ``classify-N-labels-draw-S`` per label count and draw
(the classifier on the pretrained encoder, the same network from scratch on the same labels, a logistic
regression on the raw input), ``classify-all-labels`` (the ceiling), ``cluster``, ``map``, ``detect``.
Each finished step leaves ``STATE/<step>.json`` (written atomically, last), its models under
``STATE/models/`` and its figures under ``STATE/figures/<step>/``; a resumed run reads these and skips the
step. A Ctrl-C stops the run between or inside steps: what finished is reported, marked interrupted.

:func:`assemble` then writes the output folder: ``metrics.json``, ``figures/`` (PNG), ``models/``
(safetensors + JSON), ``experiment.toml`` (the file as given) and ``report.html``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np

from fewlabel.errors import InputError
from fewlabel.experiment import Experiment, build_pretrainer, classifier_params, training_settings
from fewlabel.jsonsafe import json_safe
from fewlabel.tasks.compare import ALL, BASE, LOGREG, SEMI
from fewlabel.train.state import write_json_atomic
from fewlabel.train.tensorboard import active as active_tensorboard

STATE_FORMAT = 1


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class Runner:
    """The steps of one experiment, their results kept in ``state`` (a folder)."""

    def __init__(self, exp: Experiment, state: Path, verbose: bool = True, log=print):
        self.exp = exp
        self.state = Path(state)
        self.verbose = verbose
        self.log = log
        self.results: dict[str, dict] = {}
        self.encoder = None

    # -- the state folder ------------------------------------------------------------------------------
    def start(self, resume: bool) -> list[str]:
        """Prepare the state folder; on resume, check it belongs to these settings and read what finished.
        Returns the steps already done."""
        info = self.state / "run.json"
        if resume:
            if not info.exists():
                raise InputError(f"--resume: {self.state.parent} holds no run to resume (no {info.name} in "
                                 f"{self.state}); run without --resume")
            saved = json.loads(info.read_text())
            if saved.get("fingerprint") != self.exp.fingerprint():
                was, now = json.loads(saved.get("fingerprint", "{}")), self.exp.raw
                changed = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
                raise InputError(f"--resume: the settings changed since the run in {self.state.parent} was started "
                                 f"(in: {', '.join(changed) or 'the file'}); resume with the same file and --set "
                                 "options, or pass --force (without --resume) to start over")
        else:
            if self.state.exists():
                shutil.rmtree(self.state)
            self.state.mkdir(parents=True)
            write_json_atomic(info, {"format": STATE_FORMAT, "fingerprint": self.exp.fingerprint(),
                                     "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        done = []
        for step in self.exp.steps():
            f = self.state / f"{_safe(step)}.json"
            if f.exists():
                self.results[step] = json.loads(f.read_text())
                done.append(step)
        if "pretrain" in self.results:
            import fewlabel

            self.encoder = fewlabel.load(self.state / "models" / "pretrain")
        return done

    def _finish(self, step: str, result: dict, wall: float, cpu: float) -> None:
        result = {**result, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}
        write_json_atomic(self.state / f"{_safe(step)}.json", result)  # last: the step counts as done
        self.results[step] = result

    def figures(self, step: str) -> Path:
        f = self.state / "figures" / _safe(step)
        f.mkdir(parents=True, exist_ok=True)
        return f

    # -- running -------------------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict:
        """Every step not yet done. Returns ``{"status": "complete" | "interrupted", ...}``; a Ctrl-C inside a
        step ends the run there (the step is not kept), and is reported, not raised."""
        done = self.start(resume)
        steps = self.exp.steps()
        t0, c0 = time.perf_counter(), time.process_time()
        for step in done:
            self.log(f"[{steps.index(step) + 1}/{len(steps)}] {step}: done in an earlier run, skipped")
        status, stopped_in = "complete", None
        for i, step in enumerate(steps, 1):
            if step in self.results:
                continue
            self.log(f"[{i}/{len(steps)}] {step} ...")
            w0, p0 = time.perf_counter(), time.process_time()
            tb = active_tensorboard()
            try:
                with tb.section(step) if tb is not None else contextlib.nullcontext():
                    result = self._do(step)
            except KeyboardInterrupt:
                status, stopped_in = "interrupted", step
                self.log(f"[{i}/{len(steps)}] {step}: interrupted")
                break
            self._finish(step, result, time.perf_counter() - w0, time.process_time() - p0)
            if tb is not None:  # the step's figures and final numbers beside its training curves
                with tb.section(step):
                    tb.scalars(numbers(self.results[step]))
                    folder = self.state / "figures" / _safe(step)
                    tb.images(folder.rglob("*.png"), root=folder)
            self.log(f"[{i}/{len(steps)}] {step}: {self._summary(step)} ({self.results[step]['wall_seconds']} s, "
                     f"CPU {self.results[step]['cpu_seconds']} s)")
        return {"status": status, "interrupted_in": stopped_in, "resumed": bool(resume),
                "skipped": done, "pending": [s for s in steps if s not in self.results],
                "this_run": {"wall_seconds": round(time.perf_counter() - t0, 2),
                             "cpu_seconds": round(time.process_time() - c0, 2)}}

    def _do(self, step: str) -> dict:
        if step == "pretrain":
            return self.pretrain()
        if step == "classify-all-labels":
            return self.classify_all()
        m = re.fullmatch(r"classify-(\d+)-labels-draw-(\d+)", step)
        if m:
            return self.classify_draw(int(m.group(1)), int(m.group(2)))
        return getattr(self, step)()

    def _summary(self, step: str) -> str:
        r = self.results[step]
        if step == "pretrain":
            return f"loss {r['loss']:.4g}" + (f", val_loss {r['val_loss']:.4g}" if r.get("val_loss") is not None else "")
        if step.startswith("classify-"):
            parts = [f"{name} {r[name]['accuracy']:.4f}" for name in (SEMI, BASE, LOGREG, ALL) if name in r]
            return ", ".join(parts)
        if step == "cluster":
            return "; ".join(f"{k}: NMI {v['nmi']:.3f}, ACC {v['accuracy']:.3f}" for k, v in r["scores"].items()
                             if "nmi" in v) or "clustered (no labels to score)"
        if step == "map":
            return f"{r['method']} map of {r['n_points']} points"
        if step == "detect":
            return ", ".join(f"{g}: {v['share']:.3f} flagged" for g, v in r["groups"].items())
        return "done"

    # -- the steps -----------------------------------------------------------------------------------------
    @property
    def arrays(self) -> dict:
        return self.exp.arrays

    def pretrain(self) -> dict:
        import fewlabel
        from fewlabel.plots import write_autoencoder_figures

        X, y = self.arrays["X"], self.arrays["y"]
        est = build_pretrainer(self.exp, verbose=self.verbose)
        est.fit(X)
        fewlabel.save(est, self.state / "models" / "pretrain")
        what = {"autoencoder": "dense autoencoder", "vae": "variational autoencoder", "byol": "BYOL encoder"}.get(
            self.exp.pretrain["method"], f"{self.exp.pretrain['method']} autoencoder")
        figures = write_autoencoder_figures(est, X, y, self.figures("pretrain"), what)
        self.encoder = est
        h = est.history_.history
        return {"method": self.exp.pretrain["method"], "estimator": type(est).__name__,
                "params": json_safe({k: v for k, v in est.get_params(deep=False).items()
                                     if isinstance(v, (str, int, float, bool, type(None), tuple, list))},
                                    unknown="name"),
                "rows": int(len(X)), "loss": float(h["loss"][-1]),
                "val_loss": float(h["val_loss"][-1]) if h.get("val_loss") else None,
                "history": est.history_.to_dict(), "figures": figures, "model": "pretrain"}

    def classify_draw(self, n: int, draw: int) -> dict:
        """One label draw of the experiment engine (:func:`fewlabel.tasks.compare.score_draw`): the classifier
        on the pretrained encoder, the same network from scratch and the logistic regression, same labels."""
        import fewlabel
        from fewlabel.tasks.compare import draw_seed, score_draw

        X, y, Xt, yt = (self.arrays[k] for k in ("X", "y", "X_test", "y_test"))
        task = self.exp.tasks["classify"]
        seed = draw_seed(self.exp.seed, draw)
        semi_p, base_p = classifier_params(self.exp, encoder=self.encoder)
        keep = draw == 0 and n == max(task["labels"])  # the model, its predictions and history for the report
        r = score_draw(X, y, Xt, yt, semi=semi_p, base=base_p, n=n, seed=seed,
                       logistic_regression=task["logistic_regression"], keep=keep)
        out: dict = {"n_labels": n, "draw": draw, "seed": seed, **{k: r[k] for k in (SEMI, BASE, LOGREG) if k in r}}
        if keep:
            fewlabel.save(r["model"], self.state / "models" / "classifier")
            out["model"] = "classifier"
            out["predictions"] = r["predictions"].tolist()
            out["history"] = r["history"].to_dict()
        return out

    def classify_all(self) -> dict:
        """The ceiling: the supervised baseline on every label, seeded as the engine seeds it."""
        from fewlabel.tasks.compare import fit_and_score

        X, y, Xt, yt = (self.arrays[k] for k in ("X", "y", "X_test", "y_test"))
        _, base_p = classifier_params(self.exp, encoder=self.encoder)
        full = fit_and_score(X, y, Xt, yt, ALL, base_p, None, self.exp.seed)
        return {"n_labels": int(len(y)), ALL: full}

    def cluster(self) -> dict:
        from fewlabel.tasks.cluster import run_cluster

        c = self.exp.tasks["cluster"]
        X, y = self.arrays["X"], self.arrays["y"]
        kinds = ([("codes", self.encoder)] if c["encoder"] else []) + ([("raw input", None)] if c["raw"] or
                                                                         not c["encoder"] else [])
        scores, figures = {}, []
        for name, encoder in kinds:
            folder = self.figures("cluster") / ("codes" if encoder is not None else "raw")
            r = run_cluster(X, y, encoder=encoder, k=c["k"], method=c["method"],
                            manifold=None if c["manifold"] == "none" else c["manifold"],
                            manifold_dim=c["manifold_dim"], n_neighbors=c["n_neighbors"], n_init=c["n_init"],
                            n_maps=c["n_maps"],
                            standardize=c["standardize"], out=folder,
                            seed=self.exp.seed,
                            refine=None if c["refine"] == "none" else c["refine"], device=self.exp.device,
                            progress=self.verbose)
            r.pop("labels", None)
            r.pop("model", None)
            scores[name] = {k: v for k, v in r.items() if k != "files"}
            figures += [f"{folder.name}/{f}" for f in r.get("files", []) if f.endswith(".png")]
        return {"k": c["k"], "method": c["method"], "manifold": c["manifold"], "refine": c["refine"], "scores": scores,
                "figures": figures}

    def map(self) -> dict:
        from fewlabel.tasks.embed_map import run_map

        m = self.exp.tasks["map"]
        r = run_map(self.arrays["X"], self.arrays["y"], encoder=self.encoder if m["encoder"] else None,
                    method=m["method"], out=self.figures("map"), seed=self.exp.seed, max_points=m["max_points"],
                    class_names=self.arrays["class_names"])
        return {k: v for k, v in r.items() if k not in ("raw", "codes", "indices", "labels")} | {"figures": ["map.png"]}

    def detect(self) -> dict:
        import fewlabel
        from fewlabel.metrics import auroc
        from fewlabel.plots import error_histogram
        from fewlabel.pretrain.autoencoder import Autoencoder
        from fewlabel.tasks.detect import ClassAutoencoderClassifier, ReconstructionDetector

        d = self.exp.tasks["detect"]
        X, y, Xt, yt = (self.arrays[k] for k in ("X", "y", "X_test", "y_test"))
        if d["classes"] is not None:
            keep = np.isin(y, d["classes"])
            X, y = X[keep], y[keep]
        ae = Autoencoder(**training_settings(self.exp, d["autoencoder"], self.verbose))
        per_class = d["mode"] == "per_class"
        t = time.perf_counter()
        if per_class:
            model = ClassAutoencoderClassifier(ae, unknown=d["unknown"], random_state=self.exp.seed,
                                               calibration_fraction=max(d["calibration_fraction"], 0.2)).fit(X, y)
        else:
            model = ReconstructionDetector(ae, score_by=d["score_by"], contamination=d["contamination"],
                                           random_state=self.exp.seed,
                                           calibration_fraction=d["calibration_fraction"]).fit(X)
        fit_seconds = round(time.perf_counter() - t, 2)
        fewlabel.save(model, self.state / "models" / "detector")

        def errors(rows):
            """Per class: the best class's reconstruction error; outliers: the detector's anomaly score, which
            its threshold cuts."""
            return model.reconstruction_errors(rows).min(axis=1) if per_class else model.anomaly_score(rows)

        def flagged(rows):
            return float(np.mean(model.is_unknown(rows) if per_class else model.predict(rows) == -1))

        groups, errs = {}, {}
        normal_name = None
        if Xt is not None:
            seen = np.ones(len(Xt), bool) if d["classes"] is None or yt is None else np.isin(yt, d["classes"])
            normal_name = "test rows (seen classes)" if d["classes"] is not None else "test rows (normal)"
            groups[normal_name] = {"rows": int(seen.sum()), "share": flagged(Xt[seen])}
            errs[normal_name] = errors(Xt[seen])
            if per_class and yt is not None:
                groups[normal_name]["accuracy"] = float(model.score(Xt[seen], yt[seen]))
            if not seen.all():
                name = "test rows (other classes)"
                groups[name] = {"rows": int((~seen).sum()), "share": flagged(Xt[~seen])}
                errs[name] = errors(Xt[~seen])
        if "outliers" in self.arrays:
            src = d["outliers"]
            name = f"{src.get('name') or Path(str(src.get('folder') or src.get('table'))).name} (outliers)"
            groups[name] = {"rows": int(len(self.arrays["outliers"])), "share": flagged(self.arrays["outliers"])}
            errs[name] = errors(self.arrays["outliers"])
        for name in groups:
            if name != normal_name and normal_name is not None:
                groups[name]["auroc"] = float(auroc(errs[normal_name], errs[name]))
        figures = []
        if errs:
            import matplotlib.pyplot as plt

            fig = error_histogram(errs, threshold=None if per_class else model.threshold_,
                                  path=self.figures("detect") / "errors.png",
                                  title=f"{type(model).__name__}: " + ("lowest reconstruction error per row"
                                                                        if per_class else
                                                                        f"anomaly scores ({d['score_by']})"))
            plt.close(fig)
            figures.append("errors.png")
        out = {"mode": d["mode"], "model": "detector", "estimator": type(model).__name__, "rows": int(len(X)),
               "classes": d["classes"], "fit_seconds": fit_seconds, "groups": groups, "figures": figures,
               "share_name": "unknown" if per_class else "flagged"}
        if per_class:
            out.update(unknown=d["unknown"], temperature=float(model.temperature_))
        else:
            out.update(contamination=d["contamination"], score_by=d["score_by"], threshold=float(model.threshold_))
        return out


def numbers(result: dict, prefix: str = "") -> dict:
    """The finite numbers of a step's result, flattened to ``a/b/c`` tags (for TensorBoard's scalars)."""
    out = {}
    for key, value in result.items():
        tag = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(numbers(value, f"{tag}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[tag] = float(value)
    return out


# -- the output folder --------------------------------------------------------------------------------------


def classify_summary(exp: Experiment, results: dict) -> dict | None:
    """Accuracy per label count and method (mean, std, every draw) from the classify steps finished."""
    from fewlabel.tasks.compare import summarize

    if "classify" not in exp.tasks:
        return None
    task = exp.tasks["classify"]
    curves: dict[str, dict[int, list[float]]] = {}
    for n in task["labels"]:
        for s in range(task["seeds"]):
            r = results.get(f"classify-{n}-labels-draw-{s}")
            if r is None:
                continue
            for name in (SEMI, BASE, LOGREG):
                if name in r:
                    curves.setdefault(name, {}).setdefault(n, []).append(r[name]["accuracy"])
    full = results.get("classify-all-labels")
    summary = {"by_labels": summarize(curves),
               "curves": {k: {str(n): v for n, v in c.items()} for k, c in curves.items()}}
    if full:
        summary[ALL] = {"n_labels": full["n_labels"], "accuracy": full[ALL]["accuracy"]}
    return summary


def assemble(exp: Experiment, runner: Runner, info: dict, out: Path, overrides=()) -> dict:
    """Write ``metrics.json``, ``figures/``, ``models/``, ``experiment.toml`` and ``report.html`` into ``out``
    from the steps finished so far; return the metrics."""
    import matplotlib.pyplot as plt

    from fewlabel import plots
    from fewlabel.metrics import classification_report
    from fewlabel.report import write_report

    out = Path(out)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    results = runner.results
    src = runner.state / "figures"
    if src.exists():
        shutil.copytree(src, figs, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.json"))
    if (runner.state / "models").exists():
        shutil.copytree(runner.state / "models", out / "models")
    (out / "experiment.toml").write_text(exp.text, encoding="utf-8")
    steps = {}
    for step in exp.steps():
        if step in results:
            steps[step] = {k: v for k, v in results[step].items() if k not in ("predictions",)}
    metrics = {"title": exp.title, "status": info["status"], "interrupted_in": info.get("interrupted_in"),
               "pending": info["pending"], "resumed": info.get("resumed", False), "skipped": info.get("skipped", []),
               "config_file": str(exp.path), "overrides": list(overrides), "settings": exp.raw,
               "data": {"where": exp.arrays["where"], "rows": int(len(exp.arrays["X"])),
                        "test_rows": None if exp.arrays["X_test"] is None else int(len(exp.arrays["X_test"])),
                        "shape": list(exp.arrays["X"].shape[1:]),
                        "classes": None if exp.arrays["y"] is None else int(len(np.unique(exp.arrays["y"])))},
               "steps": steps,
               "times": {"this_run": info["this_run"],
                         "all_steps": {"wall_seconds": round(sum(r["wall_seconds"] for r in results.values()), 2),
                                       "cpu_seconds": round(sum(r["cpu_seconds"] for r in results.values()), 2)}},
               "figures": {}}
    if "pretrain" in results:
        metrics["figures"]["pretrain"] = [f"pretrain/{f}" for f in results["pretrain"]["figures"]]
    summary = classify_summary(exp, results)
    if summary is not None:
        metrics["classify"] = summary
        names = []
        if summary["curves"]:
            shown = {k: {int(n): v for n, v in c.items()} for k, c in summary["curves"].items()}
            if ALL in summary:
                shown[ALL] = {summary[ALL]["n_labels"]: [summary[ALL]["accuracy"]]}
            fig = plots.learning_curves(shown, path=figs / "learning_curves.png",
                                        title="test accuracy against labeled examples (mean ± std over draws)")
            plt.close(fig)
            names.append("learning_curves.png")
        n_top = max(exp.tasks["classify"]["labels"])
        first = results.get(f"classify-{n_top}-labels-draw-0")
        if first is not None and "predictions" in first:
            report = classification_report(exp.arrays["y_test"], np.asarray(first["predictions"]),
                                           class_names=exp.arrays["class_names"])
            metrics["classify"]["report_draw_0"] = report
            # the report's own names: its matrix holds only the classes the test rows or the answers hold
            fig = plots.confusion_matrix(report["confusion_matrix"], list(report["per_class"]),
                                         path=figs / "confusion_matrix.png",
                                         title=f"semi-supervised, {n_top} labels, draw 0 (test rows)")
            plt.close(fig)
            names.append("confusion_matrix.png")
            hist = first["history"]
            metrics_shown = [m for m in ("loss", "accuracy") if m in hist["history"]]
            if metrics_shown and hist["epochs"]:
                fig = plots.loss_curves(hist, metrics=metrics_shown, path=figs / "classifier_training.png",
                                        title=f"classifier training, {n_top} labels, draw 0")
                plt.close(fig)
                names.append("classifier_training.png")
        metrics["figures"]["classify"] = names
    for step in ("cluster", "map", "detect"):
        if step in results:
            metrics["figures"][step] = [f"{step}/{f}" for f in results[step]["figures"]]
    write_json_atomic(out / "metrics.json", metrics)
    write_report(metrics, figs, out / "report.html")
    return metrics
