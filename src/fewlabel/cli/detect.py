"""``fewlabel detect``: outliers by reconstruction error, or one autoencoder per class with an 'unknown' answer."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fewlabel.cli.common import (FILE_NOTE, add_data_options, add_output_options, add_training_options, is_path,
                                 labels, load_data, load_data_source, named_labels, own_file_options, positive,
                                 refuse_file_options, remember_source, sizes, training_settings_of)
from fewlabel.errors import InputError

WRITES = ("model", "metrics.json", "errors.png", "scores.csv")
SCORES = ("combined", "error", "normalized", "latent")  # fewlabel.tasks.detect.SCORES, without importing torch
#: --model conv and vae (dense: fewlabel.tasks.detect's DETECTOR_DEFAULT, or CLASS_DEFAULT with --per-class)
MODELS = {
    "dense": None,
    "conv": dict(channels=(32, 64), latent=16, epochs=10, batch_size=128),
    # its own cross-entropy ELBO (the combined score takes squared residuals whatever the loss): trained with it,
    # the VAE separates outliers better than trained with squared error
    "vae": dict(hidden=(512, 256), latent=16, epochs=20, batch_size=128),
}
MODEL_HELP = {
    "dense": "784-512-256-16 (per class: 784-128-8), the default",
    "conv": "convolutions of 32 and 64 channels to a 16-value code (images only)",
    "vae": "a variational autoencoder 784-512-256-16",
}


def add_parser(sub) -> None:
    p = sub.add_parser("detect", help="outliers by reconstruction error, or one autoencoder per class with an "
                                      "'unknown' answer",
                       description="Trains an autoencoder (--model) on --data (normal rows), scores rows by how "
                                   "badly it reconstructs them and how far their codes lie from the training codes "
                                   "(--score), and flags those above a cut-off set on held-out rows (--contamination: "
                                   "'auto' flags only clear outliers); with --per-class, one "
                                   "autoencoder per class, a row going to the class that reconstructs it best, or "
                                   "'unknown' (-1, or the word unknown when the labels are words) when none does "
                                   "within its --unknown quantile. Scores the --test-split and, with --outliers, rows "
                                   "known to be outliers (AUROC). Writes model/, metrics.json and errors.png.")
    add_data_options(p)
    p.add_argument("--test-split", help="split of a named dataset scored as new normal rows (default test; never "
                                        "the split trained on); 'none' to skip. A file given as --data has no test "
                                        "split: its own rows are not scored again")
    p.add_argument("--classes", type=labels, help="train on the rows of these classes only (e.g. 0,1,2,3,4): the "
                                                  "others' test rows then count as outliers")
    p.add_argument("--outliers", help="a dataset of known outliers (name or file), scored beside the test split")
    p.add_argument("--outliers-split", help=f"split of a named --outliers dataset (default test; {FILE_NOTE})")
    p.add_argument("--per-class", action="store_true", help="one autoencoder per class (needs labels)")
    p.add_argument("--contamination", type=contamination, default="auto",
                   help="the expected share of outliers (a number in (0, 0.5]: the cut-off is that quantile of the "
                        "held-out rows' scores), or 'auto' (default): Tukey's fence on the held-out scores, which "
                        "flags only clear outliers")
    p.add_argument("--score", choices=SCORES, default="combined",
                   help="what rows are scored by: 'combined' (default: reconstruction error, per-feature normalised "
                        "error and distance of the code to the training codes, as summed robust z-scores), "
                        "'error', 'normalized' or 'latent' alone")
    p.add_argument("--unknown", type=float, default=0.99,
                   help="with --per-class: 'unknown' when no class reconstructs the row within this quantile of "
                        "its own held-out errors (default 0.99)")
    p.add_argument("--model", choices=tuple(MODELS), default="dense",
                   help="the autoencoder: " + "; ".join(f"{k}: {v}" for k, v in MODEL_HELP.items()))
    p.add_argument("--hidden", type=sizes, help="dense and vae: hidden layer sizes (default: the model's, above)")
    p.add_argument("--channels", type=sizes, help="conv: channels per stage (default 32,64)")
    p.add_argument("--latent", type=int, help="code size (default: the model's, above)")
    p.add_argument("--max-rows", type=int, help="train on at most this many rows, drawn by --seed")
    add_output_options(p, WRITES)
    add_training_options(p, epochs=None, batch_size=None)
    for action in p._actions:  # their defaults are the model's
        if action.dest == "epochs":
            action.help = ("passes over the rows (default: the model's: dense 20, with --per-class 30, conv 10, vae 20); "
                           "an epoch is ceil(rows / batch size) optimizer steps")
        elif action.dest == "batch_size":
            action.help = "rows per step (default: the model's: dense 128, with --per-class 32, conv 128, vae 128)"


def contamination(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in (0, 0.5], got {text!r}") from None


def build_autoencoder(args, per_class: bool):
    """The autoencoder --model names, with the model's defaults where an option is not given."""
    from fewlabel import Autoencoder, ConvAutoencoder, VariationalAutoencoder
    from fewlabel.tasks.detect import CLASS_DEFAULT, DETECTOR_DEFAULT

    if args.model == "dense":
        base = dict(CLASS_DEFAULT if per_class else DETECTOR_DEFAULT)
        if args.hidden is not None:
            base["hidden"] = args.hidden
        cls = Autoencoder
    else:
        if args.model == "conv" and args.hidden is not None:
            raise InputError("--hidden sizes dense layers; --model conv has convolution stages: use --channels")
        base, cls = dict(MODELS[args.model]), (ConvAutoencoder if args.model == "conv" else VariationalAutoencoder)
        if args.hidden is not None:
            base["hidden"] = args.hidden
    if args.channels is not None:
        if args.model != "conv":
            raise InputError(f"--channels applies to --model conv, not --model {args.model} (use --hidden)")
        base["channels"] = args.channels
    if args.latent is not None:
        positive(args.latent, "--latent")
        base["latent"] = args.latent
    settings = training_settings_of(args)
    for key in ("epochs", "batch_size"):
        if settings[key] is None:
            settings[key] = base[key]
    return cls(**(base | settings))


def check_options(args) -> None:
    positive(args.max_rows, "--max-rows")
    test_split = None if args.test_split in (None, "none") else args.test_split
    refuse_file_options(args.data, {"--split": args.split, "--test-split": test_split})
    if args.outliers is not None:
        refuse_file_options(args.outliers, {"--outliers-split": args.outliers_split}, option="--outliers")
    elif args.outliers_split is not None:
        raise InputError("--outliers-split does not apply without --outliers")
    named = [d for d in (args.data, args.outliers) if d is not None and not is_path(d)]
    if args.root is not None and not named:
        raise InputError(f"--root does not apply: --root is where a named dataset's files are, and {FILE_NOTE}")
    split = args.split or "train"
    if not is_path(args.data) and (args.test_split or "test") == split:
        raise InputError(f"--test-split {split} is the split trained on (--split {split}): its rows would be scored "
                         "as new normal rows although the detector learned from them")


def run(args, out: Path) -> int:
    import numpy as np

    from fewlabel import save
    from fewlabel._base import row_slices
    from fewlabel.apply import answers, write_table
    from fewlabel.metrics import auroc
    from fewlabel.plots import error_histogram
    from fewlabel.tasks.cluster import subsample
    from fewlabel.tasks.detect import ClassAutoencoderClassifier, ReconstructionDetector
    from fewlabel.train.state import write_json_atomic

    check_options(args)
    split = args.split or "train"
    test_split = args.test_split or "test"
    X, y, source = load_data_source(args.data, split, args.root, **own_file_options(args), partly_labeled=True)
    # a file's every row is answered in scores.csv, whichever rows the detector learns from
    all_rows, all_names = X, source.get("row_names")
    y = named_labels(y, source)
    if (args.per_class or args.classes) and y is None:
        raise InputError(f"{args.data} has no labels: --per-class and --classes need them")
    if y is not None and source.get("unlabeled_rows"):
        if not (args.per_class or args.classes):
            y = None  # a detector learns from every row; the labels only pick rows
        else:  # the classes' autoencoders learn from the labeled rows; every row is answered
            keep = np.flatnonzero(np.asarray([v is not None for v in y]))
            X, y = X[keep], np.asarray(y[keep]).astype(str)
    if args.classes is not None:
        wanted = [str(c) for c in args.classes] if np.asarray(y).dtype.kind in "US" else args.classes
        missing = [c for c, w in zip(args.classes, wanted, strict=True) if not (np.asarray(y) == w).any()]
        if missing:
            where = args.data if is_path(args.data) else f"{args.data} ({split})"
            raise InputError(f"--classes: no rows of class {missing} in {where}")
        keep = np.flatnonzero(np.isin(y, wanted))
        X, y = X[keep], np.asarray(y)[keep]
    if args.max_rows is not None and args.max_rows < len(X):
        idx = subsample(len(X), args.max_rows, y, args.seed)
        X, y = X[idx], (None if y is None else np.asarray(y)[idx])
    # a file has no test split: scoring its own training rows again would flatter the detector
    test = None if test_split == "none" or is_path(args.data) else load_data(args.data, test_split, args.root)
    # a folder of outliers is read as the rows are (a dataset or table of them has its own size)
    read = source.get("read") or {}
    like_data = {"size": tuple(read["size"]) if read.get("size") else args.size, "color": args.color} \
        if args.outliers and Path(args.outliers).is_dir() else {}
    outliers = None if args.outliers is None else load_data(args.outliers, args.outliers_split or "test", args.root,
                                                            **like_data)[0]
    # rows of another shape are named with their option now, not after the autoencoder has trained
    for option, name, rows in (("--test-split", f"{args.data} ({test_split})", None if test is None else test[0]),
                               ("--outliers", args.outliers, outliers)):
        if rows is not None and tuple(rows.shape[1:]) != tuple(X.shape[1:]):
            raise InputError(f"{option} {name} has rows of shape {tuple(rows.shape[1:])}, but --data {args.data} has "
                             f"rows of shape {tuple(X.shape[1:])}: the detector can only score rows like those it "
                             "learns from")
    ae = build_autoencoder(args, args.per_class)
    t0 = time.perf_counter()
    if args.per_class:
        # a table's labels may be words: its 'unknown' answer is then a word too
        unknown_label = "unknown" if np.asarray(y).dtype.kind in "US" else -1
        model = ClassAutoencoderClassifier(ae, unknown=args.unknown, unknown_label=unknown_label,
                                           random_state=args.seed).fit(X, y)
    else:
        model = ReconstructionDetector(ae, score_by=args.score, contamination=args.contamination,
                                       random_state=args.seed).fit(X)
    seconds = time.perf_counter() - t0

    def errors(rows):  # per row: the detector's score, or the best class's error (per class)
        return (model.reconstruction_errors(rows).min(axis=1) if args.per_class
                else model.anomaly_score(rows))

    def flagged(rows):
        return float(np.mean(model.is_unknown(rows) if args.per_class else model.predict(rows) == -1))

    result = {"data": args.data, "split": None if is_path(args.data) else split, "rows": int(len(X)),
              "classes": args.classes, "model": type(model).__name__, "autoencoder": type(ae).__name__,
              "fit_seconds": round(seconds, 2),
              "outliers": args.outliers}
    groups, flag_name, normal = {}, "unknown_share" if args.per_class else "flagged_share", None
    if args.per_class:
        result.update({"unknown": args.unknown, "temperature": model.temperature_})
    else:
        result.update({"score": args.score, "contamination": args.contamination, "threshold": model.threshold_})
    if test is not None:
        Xt, yt = test
        seen = np.ones(len(Xt), bool) if args.classes is None or yt is None else np.isin(yt, args.classes)
        result["test"] = {"rows": int(seen.sum()), flag_name: flagged(Xt[seen])}
        normal = groups[f"{test_split} ({'seen classes' if args.classes else 'normal'})"] = errors(Xt[seen])
        if args.per_class and yt is not None:
            result["test"]["accuracy"] = float(model.score(Xt[seen], yt[seen]))
        if not seen.all():
            result["unseen_classes"] = {"rows": int((~seen).sum()), flag_name: flagged(Xt[~seen])}
            groups[f"{test_split} (other classes)"] = errors(Xt[~seen])
    if outliers is not None:
        result["outlier_rows"] = {"rows": int(len(outliers)), flag_name: flagged(outliers)}
        groups[f"{args.outliers} (outliers)"] = errors(outliers)
    for key, name in (("unseen_classes", f"{test_split} (other classes)"), ("outlier_rows", f"{args.outliers} (outliers)")):
        if key in result and normal is not None:  # how well the error tells the test split's normal rows from these
            result[key]["auroc"] = auroc(normal, groups[name])
    remember_source(model, source)
    save(model, out / "model")
    if all_names is not None:  # the user's own rows, every one answered as fewlabel predict answers it
        # a block at a time: the model's scaled copy of a block, never of a whole (memory-mapped) table
        blocks = [answers(model, part) for part in row_slices(all_rows, 8192)]
        columns = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        write_table(out / "scores.csv", source["row_name_column"], all_names, columns)
        result["rows_scored"] = {"file": "scores.csv", "rows": len(all_names),
                                 **{k: int(np.sum(columns[k])) for k in ("outlier", "unknown") if k in columns}}
    if groups:
        error_histogram(groups, threshold=None if args.per_class else model.threshold_, path=out / "errors.png",
                        title=f"{type(model).__name__} on {args.data}",
                        xlabel="best class's reconstruction error" if args.per_class else f"anomaly score ({args.score})")
    write_json_atomic(out / "metrics.json", result)
    parts = [f"{k}: " + ", ".join(f"{m} {v:.3f}" for m, v in result[k].items() if m != "rows")
             for k in ("test", "unseen_classes", "outlier_rows") if k in result]
    if "rows_scored" in result:
        scored = result["rows_scored"]
        found = ", ".join(f"{v:,} {k}" for k, v in scored.items() if k in ("outlier", "unknown"))
        parts.append(f"{scored['rows']:,} rows of {args.data} answered ({found}) in {args.out / 'scores.csv'}")
    print(f"{type(model).__name__} trained on {len(X)} rows of {args.data} in {seconds:.1f} s; "
          + ("; ".join(parts) + "; " if parts else "") + f"wrote {args.out / 'metrics.json'}")
    return 0
