"""``fewlabel info``: what a saved model is and what it was trained on, from its ``config.json``."""

from __future__ import annotations

import json
from pathlib import Path

WRITES = ()


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="what a saved model is, what it was trained on, and how well it did",
                       description="Shows a saved model's type, the data it was trained on (rows, shape, dtype, a "
                                   "fingerprint, class names and labeled rows per class), the fewlabel and torch "
                                   "versions that saved it, and the estimates measured at training.")
    p.add_argument("model", type=Path, help="the saved model's folder")
    p.add_argument("--json", action="store_true", help="print the whole record as JSON")


def describe(header: dict) -> list[str]:
    config = header.get("config", {})
    fitted = config.get("fitted", config)
    data = fitted.get("data") or config.get("data")
    lines = [f"type: {header.get('type')}"]
    saved = header.get("saved_by")
    if saved:
        lines.append(f"saved: {saved.get('time')} by fewlabel {saved.get('fewlabel')}, torch {saved.get('torch')}, "
                     f"numpy {saved.get('numpy')}, python {saved.get('python')}")
    if data:
        shape = "x".join(str(d) for d in data.get("shape", []))
        lines.append(f"trained on: {data['rows']:,} rows of shape {shape} ({data.get('dtype')}), fingerprint "
                     f"{data.get('fingerprint')}")
        if data.get("source"):
            lines.append(f"data: {data['source']}")
        if data.get("class_counts"):
            counts = ", ".join(f"{k} {v:,}" for k, v in data["class_counts"].items())
            lines.append(f"labeled rows: {data.get('labeled', 0):,} in {len(data['class_counts'])} classes ({counts})")
        if data.get("columns"):
            cols = data["columns"]
            lines.append(f"columns: {', '.join(cols[:12])}{' ...' if len(cols) > 12 else ''}")
        if data.get("label_column") is not None:
            lines.append(f"label column: {data['label_column']} (not a feature; left out of new files)")
        if data.get("scaled_columns"):
            lines.append("columns centred and scaled by their mean and spread over the training rows, new rows too")
        if data.get("categories"):
            cats = ", ".join(f"{name} ({len(values)})" for name, values in data["categories"].items())
            lines.append(f"columns of categories, one 0/1 column per category: {cats}")
        if data.get("dates"):
            when = ", ".join(f"{name} ({d['first']} to {d['last']}{', with times' if d['time'] else ''}"
                             f"{', in the form ' + d['format'] if d.get('format') else ''})"
                             for name, d in data["dates"].items())
            lines.append(f"columns of dates, read as days since 1970 and the point of the year and of the week: {when}")
        if (data.get("fill") or {}).get("values") is not None:
            lines.append("missing cells: each column's median over the training rows kept, for fewlabel predict "
                         "--missing fill")
        if data.get("read"):
            lines.append(read_text(data["read"]))
    estimates = fitted.get("estimates")
    if estimates:
        for name, m in estimates["methods"].items():
            lines.append(f"estimated accuracy, {name}: {100 * m['accuracy']:.1f}% (95% interval "
                         f"{100 * m['interval'][0]:.1f}-{100 * m['interval'][1]:.1f}%, {estimates['folds']} folds)")
        if estimates.get("verdict"):
            lines.append(estimates["verdict"]["text"])
        from fewlabel.tasks.own_data import calibration_text, hardest_classes_text

        hardest = hardest_classes_text(estimates)
        if hardest:
            lines.append(hardest)
        if fitted.get("temperature") is not None and estimates.get("temperature") is not None:
            lines.append(calibration_text(estimates))
    clusters = fitted.get("n_clusters") or config.get("n_clusters")
    if clusters:
        lines.append(f"clusters: {clusters}")
    return lines


def read_text(read: dict) -> str:
    """How a model's images were read, in words (``training_data_["read"]``)."""
    size = read.get("size")
    at = f"at {size[1]}x{size[0]} (width x height)" if size else "at their own size"
    chosen = f", the size chosen from theirs (longest side at most {read['max_side']})" if read.get("max_side") else ""
    colour = {"L": "as grayscale", "RGB": "in colour"}.get(read.get("color"), "grayscale where every image was")
    return f"images read {at}{chosen}, {colour}; fewlabel predict reads new images so"


def run(args, out) -> int:
    from fewlabel.io import load, read_header

    load(args.model)  # the folder is checked whole: a damaged model is named here, not described
    header = read_header(args.model)
    if args.json:
        print(json.dumps(header, indent=2))
    else:
        print("\n".join(describe(header)))
    return 0
