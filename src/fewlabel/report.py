"""One self-contained HTML page for a ``fewlabel run``: every figure inlined, no script, no network.

:func:`write_report` takes the run's ``metrics.json`` content and its ``figures/`` folder and writes a
single file a colleague can open anywhere: PNG figures as base64 ``data:`` URIs, the style inline, and a
Content-Security-Policy that forbids loading anything from elsewhere. Every string that came from the user
(titles, paths, class names, settings) is escaped.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from fewlabel.train.state import atomic_write

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1d1d1f;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
p.note{color:#444;max-width:60em}figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#f4f4f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}.banner{padding:.8em 1em;border-radius:6px;margin:1em 0}
.interrupted{background:#fff3cd;border:1px solid #e0b400}.complete{background:#e8f5e9;border:1px solid #66bb6a}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}.verdict{font-weight:600}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


#: what the outlier detector's score_by means, in the report's words
SCORE_TEXT = {
    "combined": "its combined score (the reconstruction error, the per-feature normalized error and the distance "
                "in the code space, each a z-score of its logarithm)",
    "error": "its reconstruction error",
    "normalized": "its per-feature normalized reconstruction error",
    "latent": "its distance to the training rows in the code space",
}

def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return esc(v)


def _table(header, rows, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i >= numeric_from and isinstance(v, (int, float)) else ""
            cells.append(f"<td{cls}>{_num(v) if v is None or isinstance(v, (int, float)) else esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


#: The pretraining section's figures (those the run wrote), in order, with their captions.
PRETRAIN_FIGURES = {
    "pretrain/loss.png":
        "Loss per epoch: training and, where rows were held out, validation. Curves that still fall at the end "
        "mean more epochs would help; a validation curve rising while training falls means overfitting.",
    "pretrain/reconstructions.png":
        "Reconstructions: top row the inputs, bottom row what the autoencoder rebuilds from their codes. Blurry "
        "but recognisable is typical; unrecognisable means the code is too small or training too short.",
    "pretrain/latent.png":
        "The codes of up to 5,000 training rows in 2-D (PCA when the code is wider), coloured by their label, "
        "which the encoder never saw: classes that form their own regions are what makes few labels enough.",
    "pretrain/samples.png": "Images decoded from random codes of the VAE's prior.",
    "pretrain/interpolation.png": "Decoded images along straight lines between the codes of two inputs.",
}

#: The classification section's figures (those the run wrote), in order, with their captions.
CLASSIFY_FIGURES = {
    "learning_curves.png":
        "Learning curve: test accuracy against the number of labeled examples (mean, band of ± one standard "
        "deviation over draws). The gap between the semi-supervised classifier and the supervised baseline is "
        "what the unlabeled data bought.",
    "confusion_matrix.png":
        "Confusion matrix of the semi-supervised classifier (largest label count, draw 0): rows are the true "
        "classes, columns the predicted ones, each row as fractions. Bright cells off the diagonal are the "
        "classes it mixes up.",
    "classifier_training.png":
        "The classifier's training loss and accuracy per epoch (largest label count, draw 0).",
}


def _figure(figures: Path, name: str, caption: str) -> str:
    path = figures / name
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _seconds(v) -> str:
    return "–" if v is None else f"{v:.1f}"


def _mean_std(cell) -> str:
    if cell is None:
        return "–"
    return f"{cell['mean']:.4f} ± {cell['std']:.4f} ({len(cell['draws'])} draw{'s' if len(cell['draws']) > 1 else ''})"


def render(metrics: dict, figures: Path) -> str:
    """The page's HTML for ``metrics`` (the content of ``metrics.json``) and the PNGs under ``figures``."""
    figures = Path(figures)
    steps = metrics.get("steps", {})
    parts = []
    title = metrics.get("title") or "fewlabel run"
    parts.append(f"<h1>{esc(title)}</h1>")
    data = metrics.get("data", {})
    parts.append(_note(f"Data: {data.get('where')}, {data.get('rows')} training rows of shape "
                       f"{tuple(data.get('shape', ()))}, {data.get('test_rows') or 'no'} test rows"
                       + (f", {data['classes']} classes." if data.get("classes") else ".")))
    if metrics.get("status") == "interrupted":
        pending = ", ".join(metrics.get("pending", [])) or "none"
        parts.append(f'<div class="banner interrupted"><strong>Interrupted</strong> during step '
                     f"{esc(metrics.get('interrupted_in'))}. This report shows the steps that finished; still to "
                     f"do: {esc(pending)}. Resume with <code>fewlabel run {esc(metrics.get('config_file'))} --out "
                     f"DIR --resume</code>: finished steps are not run again.</div>")
    else:
        resumed = " (resumed: earlier steps were kept, not run again)" if metrics.get("resumed") else ""
        parts.append(f'<div class="banner complete"><strong>Complete</strong>: every step finished{esc(resumed)}.'
                     "</div>")

    # -- pretraining -------------------------------------------------------------------------------------
    pre = steps.get("pretrain")
    if pre:
        parts.append("<h2>Pretraining</h2>")
        article = "An" if pre["estimator"][0] in "AEIOU" else "A"
        parts.append(_note(f"{article} {pre['estimator']} learned an encoder from the {pre['rows']} training rows without "
                           "their labels. Every task below uses this one encoder."))
        rows = [["final training loss", pre["loss"]], ["final validation loss", pre.get("val_loss")],
                ["epochs", len(pre["history"]["epochs"])], ["wall seconds", _seconds(pre["wall_seconds"])],
                ["CPU seconds", _seconds(pre["cpu_seconds"])]]
        parts.append(_table(["", "value"], rows))
        parts += [_figure(figures, name, caption) for name, caption in PRETRAIN_FIGURES.items()]

    # -- classification ------------------------------------------------------------------------------------
    cls = metrics.get("classify")
    if cls and cls.get("by_labels"):
        parts.append("<h2>Classification with few labels</h2>")
        parts.append(_note("For each number of labels and each label draw, three models learn from exactly the same "
                           "labeled rows and are scored on test rows none of them saw: SemiSupervisedClassifier, which "
                           "also learns from every unlabeled training row (through the pretrained encoder when there "
                           "is one), the same network trained on the labels alone (the supervised baseline), and "
                           "a logistic regression on the raw input (what one would try first). The verdict compares "
                           "the first two against their spread over draws."))
        names = sorted({name for row in cls["by_labels"].values() for name in row if name != "verdict"},
                       key=lambda n: ("semi" not in n, "logistic" in n))
        rows = [[n] + [_mean_std(row.get(name)) for name in names] + [row.get("verdict", "–")]
                for n, row in cls["by_labels"].items()]
        parts.append(_table(["labels", *names, "verdict"], rows))
        full = cls.get("supervised, all labels")
        if full:
            parts.append(_note(f"Ceiling: the same network trained on all {full['n_labels']} labels scores "
                               f"{full['accuracy']:.4f} on the test rows."))
        parts += [_figure(figures, name, caption) for name, caption in CLASSIFY_FIGURES.items()]
        report = cls.get("report_draw_0")
        if report:
            rows = [[name, v["precision"], v["recall"], v["f1"], v["support"]] for name, v in report["per_class"].items()]
            parts.append("<details><summary>Per-class precision, recall and F1</summary>"
                         + _table(["class", "precision", "recall", "F1", "test rows"], rows) + "</details>")

    # -- clustering -----------------------------------------------------------------------------------------
    cl = steps.get("cluster")
    if cl:
        parts.append("<h2>Clustering</h2>")
        how = {"kmeans": "k-means", "gmm": "a Gaussian mixture"}[cl["method"]]
        manifold = "" if cl["manifold"] == "none" else f" after a {cl['manifold'].upper()} step"
        if any(s.get("refine") for s in cl["scores"].values()):
            manifold += ", then self-labelled by a small conv network where the rows are images"
        parts.append(_note(f"The training rows grouped into k={cl['k']} clusters with {how}{manifold}, once on the "
                           "encoder's codes and once on the raw input (the peer). NMI and ARI are 1 for clusters "
                           "that match the labels exactly and about 0 for random ones; ACC is the accuracy after "
                           "matching each cluster to one class."))
        rows = [[name, s.get("nmi"), s.get("ari"), s.get("accuracy"), s.get("n_features"), _seconds(s.get("seconds"))]
                for name, s in cl["scores"].items()]
        parts.append(_table(["clustered", "NMI", "ARI", "ACC", "features", "seconds"], rows))
        for f in cl["figures"]:
            what = "the codes" if f.startswith("codes/") else "the raw input"
            colour = "cluster" if f.endswith("clusters.png") else "true label"
            parts.append(_figure(figures, f"cluster/{f}", f"Clusters of {what} in 2-D PCA, coloured by {colour}."))

    # -- map -------------------------------------------------------------------------------------------------
    mp = steps.get("map")
    if mp:
        parts.append("<h2>2-D map</h2>")
        name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[mp["method"]]
        parts.append(_note(f"{mp['n_points']} rows mapped to a plane with {name} twice: the raw input on the left, "
                           "the encoder's codes on the right, coloured by label. Tighter, better separated groups on "
                           "the right mean the encoder learned what tells the classes apart."))
        parts.append(_figure(figures, "map/map.png", f"{name} map: raw input beside the learned codes."))

    # -- detection --------------------------------------------------------------------------------------------
    det = steps.get("detect")
    if det:
        parts.append("<h2>Outliers and unknown inputs</h2>")
        if det["mode"] == "per_class":
            parts.append(_note(f"One autoencoder per class; a row goes to the class whose autoencoder rebuilds it best, "
                               f"or is answered 'unknown' when none rebuilds it within the {det['unknown']} quantile "
                               "of its own held-out errors. The share marked unknown should be small on the test rows "
                               "of the classes trained on and large on anything else."))
        else:
            cut = ("Tukey's fence (Q3 + 1.5 IQR of the log scores) of held-out training rows" if det["contamination"] ==
                   "auto" else f"the {1 - det['contamination']:g} quantile of the held-out training rows' scores")
            score = SCORE_TEXT.get(det.get("score_by", "error"), "its score")
            parts.append(_note(f"An autoencoder trained on the normal rows scores each row by {score}, and flags a row "
                               f"whose score exceeds the cut-off ({det['threshold']:.4g}: {cut}). Few new normal rows "
                               "should be flagged; known outliers far more often. AUROC: 1 when every outlier scores "
                               "above every normal row, 0.5 for chance."))
        rows = [[g, v["rows"], v["share"], v.get("auroc"), v.get("accuracy")] for g, v in det["groups"].items()]
        parts.append(_table(["rows", "count", f"share {det['share_name']}", "AUROC vs normal", "accuracy"], rows))
        parts.append(_figure(figures, "detect/errors.png",
                             "Histograms of the score per group (each group sums to 1), with the cut-off as a dashed "
                             "line when there is one: the less the groups overlap, the better the score tells them "
                             "apart."))

    # -- settings and times ------------------------------------------------------------------------------
    parts.append("<h2>Settings and times</h2>")
    times = metrics.get("times", {})
    parts.append(_note("Wall seconds and CPU seconds (all threads of this process) of each finished step; on a "
                       "shared machine CPU seconds are the steadier measure."))
    rows = [[name, _seconds(s.get("wall_seconds")), _seconds(s.get("cpu_seconds"))] for name, s in steps.items()]
    if times:
        for label, key in (("all finished steps", "all_steps"), ("this invocation", "this_run")):
            rows.append([label, _seconds(times[key]["wall_seconds"]), _seconds(times[key]["cpu_seconds"])])
    parts.append(_table(["step", "wall seconds", "CPU seconds"], rows))
    if metrics.get("overrides"):
        parts.append(_note("Settings changed on the command line (--set): " + ", ".join(metrics["overrides"])))
    parts.append(_note(f"The settings of this run ({metrics.get('config_file')}, after --set), as read:"))
    parts.append(f"<pre>{esc(json.dumps(metrics.get('settings', {}), indent=2))}</pre>")
    return _page(title, "\n".join(p for p in parts if p), "Written by fewlabel run.")


def write_report(metrics: dict, figures, path) -> Path:
    """Write :func:`render`'s page to ``path`` atomically."""
    text = render(metrics, Path(figures))
    atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return Path(path)


def _page(title: str, body: str, footer: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            f"<footer><p class=\"note\">{esc(footer)} Everything on this page is in this one file.</p>"
            "</footer>\n</body></html>\n")


def _percent(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _held_out(counts: dict | None) -> str:
    if not counts or not counts["labeled"]:
        return "–"
    return f"{counts['right']} / {counts['labeled']} ({_percent(counts['right'] / counts['labeled'])})"


def render_own_data(result: dict, figures: Path) -> str:
    """The page of ``fewlabel classify`` on partly labeled data (``result``: its ``metrics.json``)."""
    figures = Path(figures)
    data = result["data"]
    title = f"fewlabel classify: {data['source']}"
    parts = [f"<h1>{esc(title)}</h1>"]
    parts.append(_note(f"{data['rows']:,} rows of shape {tuple(data['shape'])}: {data['labeled']:,} labeled in "
                       f"{len(data['class_counts'])} classes, {data['unlabeled']:,} unlabeled. The classifier learned "
                       f"from both: {result['route']}."))
    record = result.get("route_record") or {}
    if record.get("scores"):
        parts.append(_note(f"How the unlabeled rows teach the final network was chosen by scoring each source of "
                           f"labels on {record['how']}, each row predicted without its own label:"))
        parts.append(_table(["labels from", "right on the held-out labeled rows", "chosen"],
                            [[name, f"{s['right']} / {s['rows']} ({_percent(s['accuracy'])})",
                              "yes" if name == record["route"] else ""] for name, s in record["scores"].items()]))
        c = record.get("compared")
        if c:
            parts.append(_note(f"On the held-out labeled rows, {c['propagated']} alone was right on "
                               f"{c['propagated_right_alone']} and the network on the labels alone on "
                               f"{c['network_right_alone']}: the network alone is chosen at {c['z_labels_alone']:g} "
                               f"standard errors of that difference, a fresh final network (not one continuing the "
                               f"network on the labels) at {c['z_fresh']:g}."))
        models = record.get("labels_models")
        if models:
            chosen = "a logistic regression" if models["model"] == "linear" else "the network"
            parts.append(_note(
                f"The model on the labels alone (the 'network' of these sources) is {chosen}: on the same held-out "
                f"rows the network was right on {models['network']['right']} / {models['network']['rows']} "
                f"(log-loss {models['network']['log_loss']:.3f}), a logistic regression on the columns on "
                f"{models['linear']['right']} / {models['linear']['rows']} (log-loss "
                f"{models['linear']['log_loss']:.3f}); the class frequencies alone give a log-loss of "
                f"{models['prior_log_loss']:.3f}. The one clearly more accurate is chosen, otherwise the logistic "
                f"regression where its log-loss is the smaller of the three."
                + (f" The log-losses are over the {models['log_loss_rows']} rows whose class the other folds held: "
                   "a class labeled once is unknown to whichever model answers its row." if "log_loss_rows" in models
                   else "")))
        if record.get("settled_by") == "log-loss":
            parts.append(_note("Neither the labels alone nor the propagated labels were clearly more accurate; the "
                               "logistic regression's smaller log-loss settled it for the labels alone, its labels "
                               "teaching the final network."))
        if record.get("pool"):
            parts.append(_note(f"Where clusters x network teaches the final network, its labels pool the two with "
                               f"the network's weight at {record['network_weight']:.2f} (0.50: their plain product; "
                               f"lower: the clusters count more), the weight under which the pool predicted the "
                               f"held-out labeled rows' classes best (log-loss)."))
        if record.get("prior_once") and len(set(data["class_counts"].values())) > 1:
            parts.append(_note("Clusters x network is the product of the two sources divided once by how common "
                               "each class is among the labeled rows: both learned it from them, and counted twice "
                               "it would give a rare class's rows to a common class they share clusters with."))
    per_class = (result.get("estimates") or {}).get("per_class")
    if per_class:  # how often each class was right with its label hidden: where an overall estimate hides a class
        parts.append(_table(["class", "labeled rows", "right when its label was hidden (the folds)",
                             "predicted among the unlabeled"],
                            [[name, n, _held_out(per_class.get(name)), result["predictions"]["predicted_counts"].get(
                                name, 0)] for name, n in data["class_counts"].items()]))
    else:
        parts.append(_table(["class", "labeled rows", "predicted among the unlabeled"],
                            [[name, n, result["predictions"]["predicted_counts"].get(name, 0)]
                             for name, n in data["class_counts"].items()]))
    for note in data.get("notes", []):
        parts.append(f'<div class="banner interrupted">{esc(note)}</div>')

    est = result.get("estimates")
    parts.append("<h2>How far to trust it</h2>")
    if est is None:
        parts.append(_note("No estimate was made (--folds 0)."))
    else:
        parts.append(_note(f"Cross-validation on the {est['labeled_rows']:,} labeled rows: they were split into "
                           f"{est['folds']} folds, and each fold's labels were hidden while the whole method was trained "
                           "again (its rows stayed in the fit, unlabeled); each labeled row was then predicted by a "
                           "model that never saw its label. The interval is the 95% Wilson interval over the labeled "
                           "rows. The same folds score the same network trained on the labels alone, and a logistic "
                           "regression on the raw input."))
        rows = [[name, _percent(m["accuracy"]), f"{_percent(m['interval'][0])} – {_percent(m['interval'][1])}",
                 ", ".join(_percent(a) for a in m["per_fold"]), _seconds(m.get("cpu_seconds"))]
                for name, m in est["methods"].items()]
        parts.append(_table(["method", "estimated accuracy", "95% interval", "per fold", "CPU seconds"], rows))
        if est.get("verdict"):
            parts.append(f'<p class="verdict">{esc(est["verdict"]["text"])}.</p>')
        if result.get("temperature") is not None and est.get("temperature") is not None:
            from fewlabel.tasks.own_data import calibration_text

            text = calibration_text(est)
            parts.append(_note(text[0].upper() + text[1:] + ". Every confidence and margin below, in predictions.csv "
                               "and from the saved model is taken at it: the network's logits divided by the "
                               "temperature that gave the folds' out-of-fold probabilities the smallest log-loss on "
                               "the labels they never saw."))
    parts.append(_figure(figures, "confusion_matrix.png", "Confusion matrix of the folds: true class (rows) against "
                                                          "the class predicted with that label hidden"))

    pred = result["predictions"]
    parts.append("<h2>The predictions</h2>")
    flagged = pred.get("flagged")
    parts.append(_note(f"{pred['file']} gives each of the {pred['rows']:,} unlabeled rows a label, its confidence, the "
                       "margin to the second most likely class and an unfamiliarity score (1 or more: the row "
                       "resembles none of the rows the classifier learned from, so its label is a guess; "
                       f"flagged). Flagged: {'–' if flagged is None else f'{flagged:,}'}."))
    parts.append(_figure(figures, "least_confident.png", "The least confident predictions: the rows to look at first"))
    if result.get("least_confident"):
        # named, in the figure's order: the rows whose labels would teach the classifier most, to find and label
        parts.append(_table(["row", "label", "confidence", "margin", "unfamiliar"],
                            [[r["name"], r["label"], r["confidence"], r["margin"], r.get("unfamiliar")]
                             for r in result["least_confident"]], numeric_from=2))
    parts.append(_figure(figures, "map.png", "A 2-D map of the rows as the classifier sees them, coloured by label"))
    parts.append("<h2>Times</h2>")
    times = result.get("times", {})
    parts.append(_table(["part", "wall seconds", "CPU seconds"],
                        [[name, _seconds(t.get("seconds")), _seconds(t.get("cpu_seconds"))] for name, t in times.items()]))
    return _page(title, "\n".join(p for p in parts if p), "Written by fewlabel classify.")


def write_own_data_report(result: dict, figures, path) -> Path:
    """Write :func:`render_own_data`'s page to ``path`` atomically."""
    text = render_own_data(result, Path(figures))
    atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return Path(path)
