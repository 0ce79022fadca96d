"""``fewlabel classify``: a label for every row of partly labeled data, or (``--labels N``, the benchmark mode)
a semi-supervised classifier from few labels beside its supervised baselines.

With data of your own (an image folder with class sub-folders, a table with a label column whose empty cells
are the unlabeled rows, an .npz with y = -1) and no ``--labels``: trains the default classifier on the labels
as given plus every unlabeled row, estimates its accuracy by cross-validation on the labeled rows, and writes
``predictions.csv``, ``model/``, ``report.html`` (:mod:`fewlabel.tasks.own_data`).

``--labels N`` simulates few labels on a fully labeled dataset, for benchmarks: it scores only rows it never
trained on (the dataset's test split, rows of ``--test-data``, or a stratified part of a file held out before
anything trains).
"""

from __future__ import annotations

import json
from pathlib import Path

from fewlabel.cli.common import (add_categorical_option, add_config_option, add_data_options, add_dates_option,
                                 add_missing_option, add_output_options, add_training_options, column,
                                 date_columns_given, explained, image_size, is_path, load_data, load_data_source,
                                 positive_int, refuse_file_options, sizes, training_settings_of)
from fewlabel.datasets.folders import AUTO, MAX_SIDE
from fewlabel.datasets.subsets import hold_out
from fewlabel.errors import InputError

WRITES = ("metrics.json", "learning_curves.png", "confusion_matrix.png", "training.png", "predictions.csv", "model",
          "report.html", "figures")
TEST_FRACTION = 0.2
#: own data: the cross-validation's folds
FOLDS = 3


def add_parser(sub) -> None:
    p = sub.add_parser("classify", help="a label for every row of your partly labeled data (or, with --labels, the "
                                        "benchmark: few labels simulated on a labeled dataset)",
                       description="YOUR OWN DATA (no --labels): --data is an image folder (one sub-folder per class "
                                   "holding its labeled images; unlabeled images loose in the folder or in "
                                   "unlabeled/), a CSV/TSV/Parquet/Excel table (a text table may be .gz, .bz2, .xz) "
                                   "whose --label-column is empty on the "
                                   "unlabeled rows (NaN, '?' or -1 also mark them, one of these per file), or an .npz "
                                   "with X and y (-1: unlabeled). Trains the default classifier on the labels and "
                                   "every unlabeled row, estimates its accuracy by cross-validation on the labeled "
                                   "rows (beside the same network on the labels alone and a logistic regression), "
                                   "and writes predictions.csv (a label, confidence, margin and unfamiliarity score "
                                   "for each unlabeled row), model/ (for fewlabel predict), report.html, "
                                   "metrics.json and figures/. "
                                   "BENCHMARK MODE (--labels N): simulates few labels on a fully labeled dataset: only "
                                   "--labels training examples keep their label (one draw per seed), beside the same "
                                   "network trained from scratch on the same labels, a logistic regression on the raw "
                                   "input of those rows, and the network on all labels; scores only "
                                   "rows never trained on (the --test-split, the rows of --test-data, or a stratified "
                                   f"--test-fraction of a file, default {TEST_FRACTION}); writes metrics.json, "
                                   "learning_curves.png, confusion_matrix.png and training.png.")
    add_data_options(p, data_help="an image folder, table or .npz of your own (partly labeled), or, with --labels, a "
                                  "dataset name (mnist, fashion-mnist, digits, ...) or a labeled file",
                     own_options=False)
    own = p.add_argument_group("your own data (without --labels)")
    own.add_argument("--label-column", help="the table's column of labels (name, or 0-based index); its empty cells "
                                            "mark the unlabeled rows")
    own.add_argument("--id-column", help="a table column naming each row in predictions.csv (not a feature; default: "
                                         "the row number)")
    own.add_argument("--unlabeled-folder", default=None,
                     help="the image folder's sub-folder of unlabeled images (default unlabeled); images loose in the "
                          "folder are unlabeled too")
    own.add_argument("--size", type=image_size, help="read every image at HxW (e.g. 64x64); default: their own size "
                                                     "where they share one no larger than --max-side, else their "
                                                     "median shape scaled to it")
    own.add_argument("--max-side", type=positive_int,
                     help=f"without --size, the longest side of the size images are read at (default {MAX_SIDE})")
    own.add_argument("--color", choices=["L", "RGB"], help="read images as grayscale (L) or colour (RGB); default: "
                                                            "grayscale when every image is")
    cells = p.add_argument_group("a table's cells (with or without --labels)")
    add_missing_option(cells)
    add_categorical_option(cells)
    add_dates_option(cells)
    own.add_argument("--folds", type=int, default=None,
                     help=f"cross-validation folds for the accuracy estimate (default {FOLDS}; 0: no estimate)")
    own.add_argument("--no-calibrate", action="store_true", default=None,
                     help="write the network's own confidences; by default they are calibrated on the estimate's "
                          "held-out labels (one temperature, saved with the model)")
    p.add_argument("--test-split", help="split of a named dataset to score on (default test; never the split "
                                        "trained on)")
    p.add_argument("--test-data", help="a labeled file to score on instead of the test split")
    p.add_argument("--test-fraction", type=float,
                   help=f"with a file as --data: share of its rows held out to score on, stratified by label and "
                        f"drawn by --seed (default {TEST_FRACTION})")
    p.add_argument("--labels", type=int, nargs="+",
                   help="BENCHMARK MODE: labeled examples to keep of a fully labeled dataset; several numbers draw a "
                        "learning curve (e.g. 100 1000 5000)")
    p.add_argument("--seeds", type=int, help="benchmark mode: label draws per count (default 3); draw d keeps the "
                                         "labels of seed --seed + d and seeds its networks with it")
    add_output_options(p, WRITES)
    add_config_option(p)
    g = p.add_argument_group("method")
    g.add_argument("--propagate", choices=["auto", "umap", "pca", "none"], default="auto",
                   help="spread the labels to the unlabeled rows through the clusters of a UMAP (or PCA) map of the "
                        "rows, agreed with a network trained on the labels, then train a fresh network on both "
                        "(default auto: UMAP when umap-learn is installed; none: the labels alone, or with "
                        "--pretrain / --consistency)")
    g.add_argument("--pseudo-threshold", type=float, default=0.5,
                   help="confidence a propagated label needs to be trained on (default 0.5)")
    g.add_argument("--pretrain", choices=["none", "autoencoder", "denoising", "vae", "byol"], default="none",
                   help="pretrain the encoder on every row first (default none)")
    g.add_argument("--consistency", choices=["none", "fixmatch"], default="none",
                   help="fixmatch: pseudo-labels on confident unlabeled examples, weak/strong augmentation")
    g.add_argument("--encoder", choices=["auto", "dense", "conv", "resnet18"], default="auto",
                   help="encoder architecture, also trained from scratch for the baseline (default auto: conv for "
                        "images, dense for tables; byol: conv or resnet18)")
    g.add_argument("--width", type=int, default=64, help="resnet18: channels of its first stage (default 64)")
    g.add_argument("--hidden", type=sizes, default=(128, 64), help="dense encoder layer sizes")
    g.add_argument("--latent", type=int, default=16, help="dense encoder code size")
    g.add_argument("--channels", type=sizes, default=(32, 64, 128), help="conv encoder channels per stage")
    g.add_argument("--convs", type=sizes, default=(1,),
                   help="conv encoder: 3x3 convolutions per stage, one number for every stage or one per stage "
                        "(default 1; 2 with every row labeled: README, 'Few labels')")
    g.add_argument("--head", choices=["mlp", "linear"], default="mlp")
    g.add_argument("--freeze-encoder", choices=["no", "yes", "then_unfreeze"], default="no")
    g.add_argument("--augment", choices=["auto", "yes", "no"], default="auto",
                   help="weak augmentation (random shifts) of the training images (default auto: on for images "
                        "with a conv encoder)")
    g.add_argument("--pretrain-epochs", type=int, default=20)
    g.add_argument("--pretrain-lr", type=float, help="learning rate of the pretraining (default: --lr)")
    g.add_argument("--threshold", type=float, default=0.95, help="fixmatch confidence threshold (default 0.95)")
    g.add_argument("--ema", type=float, help="keep a moving average of the weights with this decay (e.g. 0.999) "
                                             "and predict with it (default: off)")
    g.add_argument("--schedule", choices=["constant", "cosine"], default="cosine",
                   help="learning rate over the training (default cosine: decaying to 0)")
    g.add_argument("--validation-fraction", type=float, default=0.0,
                   help="hold out this fraction of the labeled rows for val_loss (never the test rows)")
    add_training_options(p, epochs=10)


def classifier_params(args) -> dict:
    """The SemiSupervisedClassifier parameters ``fewlabel classify`` asks for."""
    return dict(encoder=args.encoder, pretrain=None if args.pretrain == "none" else args.pretrain,
                propagate=None if args.propagate == "none" else args.propagate,
                pseudo_threshold=args.pseudo_threshold,
                consistency=None if args.consistency == "none" else args.consistency, hidden=args.hidden,
                latent=args.latent, channels=args.channels,
                convs=args.convs[0] if len(args.convs) == 1 else args.convs, width=args.width, head=args.head,
                freeze_encoder={"no": False, "yes": True}.get(args.freeze_encoder, args.freeze_encoder),
                augment={"yes": True, "no": False}.get(args.augment, args.augment), threshold=args.threshold, pretrain_epochs=args.pretrain_epochs, ema=args.ema,
                schedule=None if args.schedule == "constant" else args.schedule,
                validation_fraction=args.validation_fraction,
                pretrain_params=None if args.pretrain_lr is None else {"lr": args.pretrain_lr},
                **training_settings_of(args))


def check_test_options(args) -> None:
    """Which rows are scored, decided before anything is loaded: never the rows trained on."""
    refuse_file_options(args.data, {"--split": args.split, "--test-split": args.test_split, "--root": args.root})
    if args.test_data is not None:
        if not is_path(args.test_data):
            raise InputError(f"--test-data {args.test_data} is not a file: give a labeled file of your own "
                             "(a named dataset's test rows come with --test-split)")
        given = [o for o, v in (("--test-split", args.test_split), ("--test-fraction", args.test_fraction))
                 if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} and --test-data both choose the rows to score on: give one")
        if is_path(args.data) and Path(args.data).resolve() == Path(args.test_data).resolve():
            raise InputError(f"--test-data {args.test_data} is the --data file itself: scoring the rows trained "
                             "on says nothing about new rows (leave --test-data out to hold out part of the file)")
    elif is_path(args.data):
        fraction = TEST_FRACTION if args.test_fraction is None else args.test_fraction
        if not 0 < fraction < 1:
            raise InputError(f"--test-fraction must be between 0 and 1 (exclusive), got {fraction}")
    else:
        if args.test_fraction is not None:
            raise InputError(f"--test-fraction applies to a file given as --data; {args.data} has a test split "
                             "(--test-split)")
        split, test_split = args.split or "train", args.test_split or "test"
        if split == test_split:
            raise InputError(f"--test-split {test_split} is the split trained on (--split {split}): its accuracy "
                             "would be measured on the very rows the classifier learned from")


def _labeled(X, y, name: str):
    import numpy as np

    if y is None:
        raise InputError(f"{name} has no labels to classify with")
    y = np.asarray(y)
    if y.dtype.kind in "iuf" and (y < 0).any():
        raise InputError(f"{name} marks {int((y < 0).sum())} rows with a negative label (unlabeled?): fewlabel "
                         "classify --labels needs every row labeled, and keeps --labels of them itself (without "
                         "--labels it labels your unlabeled rows)")
    return X, y


OWN_DATA_ONLY = ("--id-column", "--unlabeled-folder", "--size", "--max-side", "--color", "--folds", "--no-calibrate")
BENCHMARK_ONLY = ("--seeds", "--test-split", "--test-data", "--test-fraction", "--split", "--root")


def _given(args, options) -> list[str]:
    return [o for o in options if getattr(args, o[2:].replace("-", "_")) is not None]


def check_own_data_options(args) -> None:
    """Own-data mode's options, checked before anything is read."""
    given = _given(args, BENCHMARK_ONLY)
    if given:
        raise InputError(f"{', '.join(given)} belong(s) to the benchmark mode (--labels N); without --labels, "
                         f"fewlabel classify labels the unlabeled rows of {args.data} and estimates its accuracy by "
                         "cross-validation on the labeled ones")
    if not is_path(args.data):
        raise InputError(f"{args.data} is not a file or folder: without --labels, fewlabel classify needs data of your "
                         "own, partly labeled (an image folder with class sub-folders, a table with --label-column, "
                         "an .npz with y = -1 for unlabeled rows); to simulate few labels on a named dataset, add "
                         "--labels N")
    folds = FOLDS if args.folds is None else args.folds
    if folds < 0 or folds == 1:
        raise InputError(f"--folds must be 0 (no estimate) or at least 2, got {folds}")


def check_early(args) -> None:
    """Without --labels, the own-data mode's options and data path, checked before torch loads (``main`` runs
    it before any command's ``run``)."""
    if args.labels is None:
        check_own_data_options(args)


def run_own_data(args, out: Path) -> int:
    import warnings

    from fewlabel.datasets.partial import UNLABELED_FOLDER, DataQualityWarning, read_partly_labeled
    from fewlabel.tasks.classify import SemiSupervisedClassifier
    from fewlabel.tasks.own_data import hardest_classes_text, label_rows

    if args.max_side is not None and not Path(args.data).is_dir():
        raise InputError(f"--max-side applies to an image folder; {args.data} is a file")
    for option, value in (("--missing", args.missing), ("--categorical", args.categorical), ("--dates", args.dates)):
        if value is not None and Path(args.data).is_dir():
            raise InputError(f"{option} applies to a table's cells; {args.data} is an image folder")

    params = classifier_params(args)
    SemiSupervisedClassifier(**params).check_params()  # a bad setting is named before the data is read
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # printed below, with the summary
        data = read_partly_labeled(args.data, label_column=column(args.label_column), id_column=column(args.id_column),
                                   unlabeled_folder=args.unlabeled_folder or UNLABELED_FOLDER,
                                   size=AUTO if args.size is None else args.size, color=args.color,
                                   max_side=MAX_SIDE if args.max_side is None else args.max_side,
                                   missing=args.missing or "refuse", categorical=args.categorical,
                                   dates=date_columns_given(args))
    log = (lambda *a, **k: None) if args.quiet else print
    print(data.summary())
    for note in data.notes:
        print(f"note: {note}")
    result = label_rows(data, params, out, folds=FOLDS if args.folds is None else args.folds, seed=args.seed,
                        calibrate=not args.no_calibrate, log=log)
    est = result["estimates"]
    if est is not None:
        m = est["methods"]
        for name, r in m.items():
            print(f"estimated accuracy, {name}: {100 * r['accuracy']:.1f}% (95% interval {100 * r['interval'][0]:.1f}-"
                  f"{100 * r['interval'][1]:.1f}%, {est['folds']} folds over {est['labeled_rows']} labeled rows)")
        if est.get("verdict"):
            print(est["verdict"]["text"])
        hardest = hardest_classes_text(est)
        if hardest:
            print(hardest)
    pred = result["predictions"]
    flagged = "" if pred["flagged"] is None else f", {pred['flagged']:,} flagged as unfamiliar"
    print(f"labeled {pred['rows']:,} rows{flagged}; wrote {args.out / 'predictions.csv'}, {args.out / 'model'}, "
          f"{args.out / 'report.html'} ({result['times']['total']['seconds']:.0f} s in all, "
          f"{result['cost_ratio']:.1f}x the fit alone)")
    return 0


def run(args, out: Path) -> int:
    if args.labels is None:
        return run_own_data(args, out)
    given = _given(args, OWN_DATA_ONLY)
    if given:
        raise InputError(f"{', '.join(given)} apply to your own partly labeled data (without --labels), not to the "
                         "benchmark mode")
    return run_benchmark(args, out)


def _benchmark_rows(name, split, root, label_column, missing=None, categorical=None, dates=None, encodings=None):
    """``(X, y, encodings, feature names)``: :func:`load_data`'s rows, a table's columns of ``categorical`` and of
    ``dates`` read as ``encodings`` says where it is given (the scored file read as the trained one was), and its
    missing cells kept as NaN with ``missing='fill'``: they are filled with the training rows' medians once the rows
    to score are set apart (:func:`_filled_from_training`). ``encodings``: the categories and dates read, for
    another file."""
    import warnings

    from fewlabel.datasets.partial import DataQualityWarning
    from fewlabel.datasets.tables import read_table_parts, reading_notes

    if not (is_path(name) and Path(name).is_file()):  # a dataset or a folder: the options are refused there
        X, y, _ = load_data_source(name, split, root, label_column, missing=missing, categorical=categorical,
                                   dates=dates)
        return X, y, None, None
    try:
        parts = read_table_parts(name, label_column=column(label_column), allow_nan=missing == "fill",
                                 categorical=categorical, dates=dates, encodings=encodings)
    except InputError as e:
        raise explained(e, {"--label-column": label_column}) from None
    for note in reading_notes(name, parts):
        warnings.warn(note, DataQualityWarning, stacklevel=2)
    return parts["X"], parts["y"], {k: parts[k] for k in ("categories", "dates") if parts.get(k)}, \
        parts["feature_names"]


def _filled_from_training(X, Xt, names, where):
    """Both row sets with each missing cell filled with its column's median over the training rows ``X``: the rows
    scored take nothing from one another, as new rows would not; said in a note."""
    import warnings

    from fewlabel.datasets.partial import DataQualityWarning
    from fewlabel.datasets.tables import column_fill_values, fill_missing, filled_note

    medians = column_fill_values(X, names, where)
    X, counts = fill_missing(X, medians, names)
    Xt, counts_t = fill_missing(Xt, medians, names)
    for rows, counted in (("training", counts), ("scored", counts_t)):
        if counted:
            warnings.warn(filled_note(f"{where} ({rows} rows)", counted, "each column's median over the training rows"),
                          DataQualityWarning, stacklevel=2)
    return X, Xt


def _word_labels(y, yt=None):
    """``(y, yt, class names)``: labels written as words made class codes, named by the words (sorted, over both
    files: a class only the scored file holds is one no fit learns); numbered labels as they are, names None."""
    import numpy as np

    if np.asarray(y).dtype.kind not in "OUS" and (yt is None or np.asarray(yt).dtype.kind not in "OUS"):
        return y, yt, None
    words = [np.asarray(y).astype(str)] + ([] if yt is None else [np.asarray(yt).astype(str)])
    names = np.unique(np.concatenate(words))
    codes = [np.searchsorted(names, w).astype(np.int64) for w in words]
    return codes[0], codes[1] if yt is not None else None, [str(n) for n in names]


def run_benchmark(args, out: Path) -> int:
    from fewlabel.tasks.compare import compare
    from fewlabel.train.state import write_json_atomic

    args.seeds = 3 if args.seeds is None else args.seeds
    check_test_options(args)
    params = classifier_params(args)
    split = args.split or "train"
    X, y, encodings, names = _benchmark_rows(args.data, split, args.root, args.label_column, args.missing,
                                             args.categorical, date_columns_given(args))
    X, y = _labeled(X, y, args.data)
    class_names = None
    if args.test_data is not None:
        Xt, yt, _, _ = _benchmark_rows(args.test_data, "test", None, args.label_column, args.missing,
                                       encodings=encodings or None)
        Xt, yt = _labeled(Xt, yt, args.test_data)
        y, yt, class_names = _word_labels(y, yt)
        if Xt.shape[1:] != X.shape[1:]:
            raise InputError(f"--test-data {args.test_data} has rows of shape {Xt.shape[1:]}, but {args.data} has "
                             f"rows of shape {X.shape[1:]}")
        evaluation = {"scored_on": "test_data", "test_data": args.test_data, "test_rows": int(len(Xt))}
        where = f"the {len(Xt)} rows of {args.test_data}"
    elif is_path(args.data):
        y, _, class_names = _word_labels(y)
        fraction = TEST_FRACTION if args.test_fraction is None else args.test_fraction
        train, test = hold_out(y, fraction, args.seed, args.data, option="--test-fraction")
        X, y, Xt, yt = X[train], y[train], X[test], y[test]
        evaluation = {"scored_on": "held_out", "test_fraction": fraction, "stratified": True, "seed": args.seed,
                      "test_rows": int(len(test)),
                      "note": "held out of the file before training: neither labeled nor unlabeled rows of any fit"}
        where = (f"{len(test)} rows held out of {args.data} ({fraction:g}, stratified by label; no fit saw them, "
                 "labeled or not)")
    else:
        test_split = args.test_split or "test"
        Xt, yt = _labeled(*load_data(args.data, test_split, args.root), f"{args.data} ({test_split})")
        evaluation = {"scored_on": "test_split", "split": split, "test_split": test_split, "test_rows": int(len(Xt))}
        where = f"the {test_split} split of {args.data} ({len(Xt)} rows)"
    evaluation["train_rows"] = int(len(X))
    if args.missing == "fill":
        X, Xt = _filled_from_training(X, Xt, names, args.data)
    result = compare(X, y, Xt, yt, n_labels=args.labels, seeds=args.seeds, params=params, seed=args.seed, out=out,
                     class_names=class_names)
    saved = json.loads((out / "metrics.json").read_text())
    saved["evaluation"] = evaluation
    write_json_atomic(out / "metrics.json", saved)
    print(f"scored on {where}")
    print(f"wrote {args.out / 'metrics.json'} and figures ({result['seconds']} s in all)")
    return 0
