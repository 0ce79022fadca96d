"""What the commands share: option groups, option types, the config file, loading data and encoders.

Nothing here imports torch at import time, so ``fewlabel --help`` and ``fewlabel datasets`` start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from fewlabel.datasets.folders import AUTO, MAX_SIDE
from fewlabel.datasets.tables import MISSING_CELLS, table_suffix
from fewlabel.errors import DataNotFoundError, FewlabelWarning, InputError

# -- warnings -----------------------------------------------------------------------------------------
@contextmanager
def plain_warnings(command: str):
    """Inside it, fewlabel's own warnings (:class:`~fewlabel.errors.FewlabelWarning`: too few rows for a part of
    a fit, data to look at) print as ``fewlabel COMMAND: warning: message``, one line as the command's errors
    are: Python's format adds the path and source line of fewlabel's code, which say nothing to the user of a
    command. Other libraries' warnings keep Python's format."""
    import warnings

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, FewlabelWarning):
            print(f"fewlabel {command}: warning: {message}", file=sys.stderr if file is None else file)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


# -- option types -------------------------------------------------------------------------------------
def pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two comma-separated numbers such as 0.08,1.0, got {text!r}")
    return lo, hi


def sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes such as 128,64, got {text!r}")
    if any(s < 1 for s in values):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return values


def labels(text: str) -> list:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated class labels such as 0,1,2, got {text!r}")
    return [int(s) if s.lstrip("-").isdigit() else s for s in items]


def positive_int(text: str) -> int:
    """An option that takes a whole number of at least 1 (pixels, rows)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def image_size(text: str) -> tuple[int, int]:
    """``--size``: ``HxW`` (e.g. 64x48) or one number for a square."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 64x64 (height x width) or 64, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected a size such as 64x64 (height x width) or 64, got {text!r}")
    return values[0], values[1]


# what --data reads as a file of the user's (a compressed text table by the name inside: datasets.tables.table_suffix)
FILE_SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet", ".txt", ".xlsx", ".xlsm")


def data_source(text: str) -> str:
    """``--data``: a dataset name or a path; an empty value (an unset shell variable) is refused, not read as the
    current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty (an unset shell variable?): give a dataset name, a file or a folder")
    return text


def check_inputs(args) -> None:
    """Refuse what the inputs' names alone show to be wrong before the command loads torch and scikit-learn
    (seconds on a slow CPU) only to find it out; the loaders would say the same later: a ``--data``,
    ``--test-data`` or ``--outliers`` file that is not there, and a name that is neither a file or folder nor a
    dataset fewlabel knows. A command's own checks of this kind are its module's ``check_early``."""
    from fewlabel.datasets import registry

    for option in ("data", "test_data", "outliers"):
        name = getattr(args, option, None)
        if not isinstance(name, str) or Path(name).exists():
            continue
        flag = f"--{option.replace('_', '-')}"
        if table_suffix(name) in FILE_SUFFIXES:
            raise DataNotFoundError(f"{flag}: file not found: {name}")
        if not registry.known(name):
            raise DataNotFoundError(f"{flag}: {name} is not a file or folder, nor a dataset fewlabel knows "
                                    f"({', '.join(sorted(registry.DATASETS))}).{registry.did_you_mean(name)}")


def k_value(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of clusters or 'auto', got {text!r}") from None


# -- option groups ------------------------------------------------------------------------------------

FILE_NOTE = "a file or folder of your own has no splits"


def add_data_options(p: argparse.ArgumentParser, data_help: str | None = None, own_options: bool = True) -> None:
    """``--data``, ``--split``, ``--root`` and (unless the command has its own) how a file of the user's is read:
    ``--label-column``, ``--size``, ``--color``. ``--split`` defaults to None (read as train) so that one given
    with a file, which has no splits, is refused rather than ignored (see :func:`refuse_file_options`)."""
    p.add_argument("--data", required=True, type=data_source,
                   help=data_help or "dataset name (digits, mnist, fashion-mnist, ...) or a .npy/.npz/.csv file "
                                     "or image folder of your own")
    p.add_argument("--split", help=f"which split of a named dataset (default train; {FILE_NOTE})")
    p.add_argument("--root", type=Path, help="folder holding a named dataset's files")
    if own_options:
        own = p.add_argument_group("a table or image folder of your own")
        own.add_argument("--label-column",
                         help="a table's column of labels (name, or 0-based index): never a feature; cells left "
                              "empty (or NaN, ?, -1) mark unlabeled rows. The saved model remembers it, so "
                              "fewlabel predict leaves it out of new files")
        own.add_argument("--id-column",
                         help="a table's column naming each row (name, or 0-based index): never a feature; it names "
                              "the rows in what the command writes (default: the row's number from 1)")
        own.add_argument("--size", type=image_size,
                         help="read every image of a folder at HxW (e.g. 64x64); default: their own size where they "
                              "share one no larger than --max-side, else their median shape scaled to it. The saved "
                              "model remembers the size: fewlabel predict reads new images at it")
        own.add_argument("--max-side", type=positive_int,
                         help=f"without --size, the longest side of the size a folder's images are read at (default "
                              f"{MAX_SIDE})")
        own.add_argument("--color", choices=["L", "RGB"],
                         help="read a folder's images as grayscale (L) or colour (RGB); default: grayscale when every "
                              "image is")
        own.add_argument("--unlabeled-folder",
                         help="an image folder's sub-folder of unlabeled images (default unlabeled); images loose "
                              "beside the class folders are unlabeled too")
        add_missing_option(own)
        add_categorical_option(own)
        add_dates_option(own)


def add_dates_option(group) -> None:
    """``--dates`` and ``--date-format``: a table's feature columns of dates (:mod:`fewlabel.datasets.dates`)."""
    group.add_argument("--dates", type=column_list,
                       help="a table's feature columns of dates (names or 0-based indices, comma-separated), each read "
                            "as days since 1970 and the point of the year and of the week (and of the day where it "
                            "holds times). Read year first (2024-03-05, 2024/03/05 14:30) unless --date-format says "
                            "otherwise. The saved model keeps how: fewlabel predict reads new files' dates the same "
                            "way")
    group.add_argument("--date-format",
                       help="the form of the --dates columns' cells, as Python's strptime writes it: %%d/%%m/%%Y for "
                            "05/03/2024 as the 5th of March, %%m/%%d/%%Y for the 3rd of May (default: year first)")


def date_columns_given(args):
    """What ``--dates`` and ``--date-format`` ask for, as the readers' ``dates=``: None, the columns, or the columns
    with their form; a form without columns is refused."""
    dates, form = getattr(args, "dates", None), getattr(args, "date_format", None)
    if form is not None and dates is None:
        raise InputError("--date-format gives the form of the --dates columns' cells: name them with --dates")
    if form is not None and "%" not in form:
        raise InputError(f"--date-format must be a strptime form such as %d/%m/%Y, got {form!r}")
    return dates if form is None else {c: form for c in dates}


def add_categorical_option(group) -> None:
    """``--categorical``: a table's feature columns of categories, each read as one 0/1 column per category."""
    group.add_argument("--categorical", type=column_list,
                       help="a table's feature columns of categories (names or 0-based indices, comma-separated: "
                            "region,colour), each read as one 0/1 column per category (an empty cell sets none). "
                            "The saved model keeps the categories: fewlabel predict encodes new files with them")


def column_list(text: str) -> list:
    """Comma-separated table columns (names, or 0-based indices) given on the command line."""
    items = [column(t.strip()) for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected column names or indices, comma-separated, got {text!r}")
    return items


def add_missing_option(group) -> None:
    """``--missing``: what a table's missing feature cells meet (:data:`fewlabel.datasets.tables.MISSING_CELLS`)."""
    group.add_argument("--missing", choices=MISSING_CELLS, default=None,
                       help="a table's missing feature cells (empty, NaN, NA, ?): refuse (the default: the first one "
                            "is named) or fill each with its column's median over the file's rows, said in a note. "
                            "The saved model keeps the medians: fewlabel predict --missing fill puts them in new "
                            "rows' missing cells")


def add_training_options(p: argparse.ArgumentParser, epochs: int, lr_help: str = "learning rate (default 1e-3)",
                         lr=1e-3, batch_size: int = 256) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs,
                   help=f"passes over the data's rows, labeled or not (default {epochs}); an epoch is "
                        "ceil(rows / batch size) optimizer steps")
    g.add_argument("--max-steps", type=int, default=None,
                   help="a step budget: exactly this many optimizer steps instead of --epochs")
    g.add_argument("--batch-size", type=int, default=batch_size, help=f"rows per step (default {batch_size})")
    g.add_argument("--lr", type=float, default=lr, help=lr_help)
    g.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam")
    g.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="auto (default): bf16 where the CPU or GPU has it natively and the model is large enough "
                        "to gain, else fp32")
    g.add_argument("--compile", choices=["auto", "yes", "no"], default="auto",
                   help="torch.compile the training step (auto: long runs on a GPU; it costs seconds up front)")
    g.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--quiet", action="store_true", help="no progress output")
    add_tensorboard_option(g)


def add_tensorboard_option(p) -> None:
    p.add_argument("--tensorboard", type=Path, metavar="DIR",
                   help="also log every training's per-epoch metrics and the figures to TensorBoard in DIR "
                        "(needs the tensorboard package: pip install tensorboard); view with tensorboard --logdir DIR")


def training_settings_of(args, lr=None) -> dict:
    """The training settings every fewlabel estimator takes, from the options of add_training_options."""
    return dict(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size, optimizer=args.optimizer,
                lr=args.lr if lr is None else lr, precision=args.precision,
                compile={"yes": True, "no": False}.get(args.compile, args.compile), device=args.device,
                random_state=args.seed, verbose=not args.quiet)


def add_output_options(p: argparse.ArgumentParser, writes, required: bool = True) -> None:
    """``--out`` and ``--force``; ``writes`` names what the command puts into ``--out``."""
    shown = ", ".join(w + ("/" if w == "model" else "") for w in writes)
    p.add_argument("--out", type=Path, required=required,
                   help=f"folder to write {shown} into (checked before any work; filled only when the work is done)")
    p.add_argument("--force", action="store_true",
                   help=f"replace {shown} when --out already holds them (default: refuse); other files there are "
                        "never touched")


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="JSON file of option values (command-line options win)")


def apply_config(args: argparse.Namespace, argv) -> None:
    """Values from ``--config`` for every option not given on the command line."""
    path = getattr(args, "config", None)
    if path is None:
        return
    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"--config: no such file {path}") from None
    except IsADirectoryError:
        raise InputError(f"--config {path} is a folder, not a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"--config {path} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise InputError(f"--config {path} must hold a JSON object of option names and values")
    given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    for key, value in values.items():
        attr = key.replace("-", "_")
        if not hasattr(args, attr) or attr in ("command", "config"):
            raise InputError(f"--config {path}: unknown option {key!r}")
        if attr not in given:
            setattr(args, attr, tuple(value) if isinstance(value, list) else value)


# -- checks -------------------------------------------------------------------------------------------


def positive(value, option: str) -> None:
    if value is not None and value < 1:
        raise InputError(f"{option} must be at least 1, got {value}")


def json_number(v):
    return None if v is None or v != v or v in (float("inf"), float("-inf")) else v


def is_path(name) -> bool:
    """A file or folder of the user's, not a catalogue dataset name (files have no splits)."""
    path = Path(name)
    return table_suffix(path) in FILE_SUFFIXES or path.exists()


def refuse_file_options(data: str, given: dict, option: str = "--data") -> None:
    """When ``data`` is a file or folder of the user's, refuse each option in ``given`` ({option: value})
    whose value is not None: it only has a meaning for a named dataset and would otherwise be ignored."""
    if not is_path(data):
        return
    used = [name for name, value in given.items() if value is not None]
    if used:
        raise InputError(f"{', '.join(used)} do(es) not apply to {option} {data}: {FILE_NOTE} (a named dataset "
                         "such as mnist has them)")


# -- data and encoders --------------------------------------------------------------------------------


def column(text):
    """A table column given on the command line: its name, or a 0-based index."""
    return int(text) if text is not None and text.lstrip("-").isdigit() else text


def load_data(name: str, split: str, root, label_column=None, size=None, color=None):
    """``(X, y)`` of a named dataset's split, or of a table file / image folder (``y`` None without labels)."""
    X, y, _ = load_data_source(name, split, root, label_column, size, color)
    return X, y


def own_file_options(args) -> dict:
    """How the command's ``--data`` is read when it is the user's own file (:func:`add_data_options`)."""
    return {**{k: getattr(args, k, None) for k in ("label_column", "size", "color", "id_column", "max_side",
                                                   "unlabeled_folder", "missing", "categorical")},
            "dates": date_columns_given(args)}


def load_data_source(name: str, split: str, root, label_column=None, size=None, color=None,
                     partly_labeled: bool = False, id_column=None, max_side=None, unlabeled_folder=None,
                     missing=None, categorical=None, dates=None):
    """``(X, y, source)``: :func:`load_data`'s rows with how they were read, for the saved model
    (:func:`remember_source`): a table's feature columns and label column, which ``fewlabel predict`` then
    matches in new files by name and leaves out; a folder's image size and colour, at which it reads new
    images. With ``partly_labeled``, a label column may leave rows unlabeled (an empty cell, NaN, ``?``, -1):
    ``y`` is then class codes with -1 for those rows, ``source["class_names"]`` names the codes and
    ``source["unlabeled_rows"]`` counts the unlabeled rows. A file's ``source["row_names"]`` name its rows as
    ``fewlabel predict`` does (a folder's images by their path under it, a table's rows by ``id_column`` or
    their number), under the heading ``source["row_name_column"]``; a folder's ``source["class_names"]`` are
    its class sub-folders, which ``y`` indexes, with -1 for its unlabeled images (in ``unlabeled_folder``, by
    default ``unlabeled/``, or loose beside the class folders), counted in ``source["unlabeled_rows"]`` as a
    table's are. A table's ``source["fill"]`` keeps its columns' medians, and ``missing='fill'`` puts them in its
    missing cells (:func:`~fewlabel.datasets.tables.read_table_parts`; ``missing`` None: 'refuse'); its
    ``categorical`` columns are read as one 0/1 column per category, kept in ``source["categories"]``, and its
    ``dates`` columns as their parts, how kept in ``source["dates"]``."""
    from fewlabel import datasets
    from fewlabel.datasets.partial import read_image_folder_rows, table_row_names
    from fewlabel.datasets.tables import read_table_parts, reading_notes

    path = Path(name)
    folder = is_path(name) and path.is_dir()
    given = [o for o, v in (("--label-column", label_column), ("--id-column", id_column), ("--size", size),
                            ("--max-side", max_side), ("--color", color), ("--unlabeled-folder", unlabeled_folder),
                            ("--missing", missing), ("--categorical", categorical), ("--dates", dates))
             if v is not None]
    if not is_path(name) and given:
        raise InputError(f"{_apply(given)} to your own files (a table, an image folder); the dataset {name} has its "
                         "own labels and is read as it is")
    table_options = [o for o in given if o in ("--label-column", "--id-column", "--missing", "--categorical",
                                               "--dates")]
    if folder and table_options:
        raise InputError(f"{_apply(table_options)} to a table; {name} is an image folder, whose classes are its "
                         "sub-folders and whose images are named by their files")
    image_options = [o for o in given if o in ("--size", "--max-side", "--color", "--unlabeled-folder")]
    if is_path(name) and not folder and image_options:
        raise InputError(f"{_apply(image_options)} to an image folder; {name} is a file")
    if not is_path(name):
        X, y = datasets.load(name, split=split, root=root)
        return X, y, {"source": name, "kind": "dataset", "split": split}
    if folder:
        # without --size, one size is chosen (said in a warning where an image is resized); the model keeps it
        max_side = MAX_SIDE if max_side is None else max_side
        # the unlabeled images (unlabeled/ or --unlabeled-folder, or loose beside the class folders) are -1, as the
        # own-data mode reads them: taken as a class named "unlabeled", they would be scored as one
        X, y, class_names, files = read_image_folder_rows(path, size=AUTO if size is None else size, color=color,
                                                          max_side=max_side, unlabeled_folder=unlabeled_folder)
        read = {"size": list(X.shape[1:3]), "color": color, **({"max_side": max_side} if size is None else {})}
        source = {"source": str(path), "kind": "images", "read": read,
                  "row_names": [str(f.relative_to(path.expanduser())) for f in files],
                  "row_name_column": "file", "class_names": class_names}
        if y is not None and (y == -1).any():
            source["unlabeled_rows"] = int((y == -1).sum())
        return X, y, source
    partial = partly_labeled and label_column is not None
    try:  # mapped: a command's data lives only while it runs, and may be larger than memory
        parts = read_table_parts(path, label_column=column(label_column), id_column=column(id_column), mmap=True,
                                 partial_labels=partial, missing=missing or "refuse", categorical=categorical,
                                 dates=dates)
    except InputError as e:
        raise explained(e, {"--label-column": label_column, "--id-column": id_column}) from None
    source = {"source": str(path), "kind": "table",
              "row_names": table_row_names(parts.get("ids"), len(parts["X"]), path, id_column),
              "row_name_column": "row" if id_column is None else str(id_column)}
    if parts["feature_names"] is not None:
        source.update(columns=list(parts["feature_names"]), label_column=parts.get("label_name"))
    if parts.get("fill") is not None:  # saved with the model: fewlabel predict --missing fill puts them in new rows
        source["fill"] = {"how": parts["fill"]["how"], "values": parts["fill"]["values"]}
    if parts.get("categories"):  # saved with the model: fewlabel predict encodes new rows' categories with them
        source["categories"] = parts["categories"]
    if parts.get("dates"):  # and reads new rows' dates as these were read
        source["dates"] = parts["dates"]
    notes = reading_notes(path, parts)
    if notes:
        import warnings

        from fewlabel.datasets.partial import DataQualityWarning

        for note in notes:
            warnings.warn(note, DataQualityWarning, stacklevel=2)
    y = parts["y"]
    if partial and y is not None:
        from fewlabel.datasets.partial import encode_labels

        codes, names = encode_labels(y, f"{path}, label column {parts.get('label_name')!r}")
        if (codes == -1).any():
            y, source["unlabeled_rows"], source["class_names"] = codes, int((codes == -1).sum()), names
    return parts["X"], y, source


def explained(e: InputError, options: dict) -> InputError:
    """A table's refusal of a word among its features, with what the word most often is: the labels or the rows'
    names read as a feature (``options``: those of ``--label-column`` and ``--id-column`` the command takes, with
    their values; one not given is named), or a column of categories. Any other error is returned as it is."""
    if "is not a number" not in str(e):
        return e
    from fewlabel.datasets.tables import CATEGORIES_HINT

    named = [o for o, v in options.items() if v is None]
    if named:
        return InputError(f"{e} (a column of labels or of row names is not a feature: name it with "
                          f"{' or '.join(named)}; {CATEGORIES_HINT})")
    return InputError(f"{e} ({CATEGORIES_HINT})")


def named_labels(y, source: dict):
    """``y`` as the user named the classes where it holds codes (a folder's sub-folders, a partly labeled
    table's labels; None for an unlabeled row), so that a model trained on it answers in those names."""
    import numpy as np

    names = source.get("class_names")
    if y is None or names is None:
        return y
    codes = np.asarray(y)
    out = np.asarray(names, dtype=object)[np.clip(codes, 0, None)]
    out[codes == -1] = None
    return out if (codes == -1).any() else out.astype(str)


def rows_drawn(source: dict, idx) -> dict:
    """``source`` for the rows ``idx`` of the rows it describes (a command's ``--max-rows`` draw)."""
    if "row_names" not in source:
        return source
    return {**source, "row_names": [source["row_names"][int(i)] for i in idx]}


def _apply(options) -> str:
    return " and ".join(options) + (" apply" if len(options) > 1 else " applies")


#: What :func:`load_data_source` says of this file's rows only: not saved with a model.
ROWS_ONLY = ("row_names", "row_name_column", "class_names")


def remember_source(model, source: dict) -> None:
    """Record on a fitted model how its rows were read (saved with it; ``fewlabel predict`` and ``fewlabel info``
    read it). Only a file's reading matters to new rows: a named dataset adds nothing."""
    if source.get("kind") in ("table", "images") and getattr(model, "training_data_", None) is not None:
        model.training_data_.update({k: v for k, v in source.items() if k not in ROWS_ONLY})


def check_encoder_path(path) -> None:
    if path is not None and not Path(path).exists():
        raise InputError(f"--encoder {path}: no such folder (give the folder of a saved fewlabel model)")


def load_encoder(path, device: str):
    """A saved fewlabel encoder (anything with ``transform``) from ``path``, moved to ``device``."""
    import fewlabel

    encoder = fewlabel.load(path)
    if not hasattr(encoder, "transform"):
        raise InputError(f"--encoder {path} holds a {type(encoder).__name__}, which has no transform method; "
                         "give the folder of a saved autoencoder (fewlabel pretrain --out DIR writes DIR/model)")
    module = getattr(encoder, "module_", None)
    if module is not None and device != "cpu":
        from fewlabel.train import resolve_device

        module.to(resolve_device(device))
    return encoder


def encode_for(encoder, X, args):
    """The codes of ``X``; an encoder fitted on rows of another shape is named with the option and the data."""
    from fewlabel.tasks.cluster import encode

    try:
        return encode(X, encoder)
    except InputError:
        shape = getattr(encoder, "input_shape_", None)
        if shape is not None and tuple(X.shape[1:]) != tuple(shape):
            where = args.data if is_path(args.data) else f"{args.data} ({args.split or 'train'})"
            raise InputError(f"--encoder {args.encoder} was trained on rows of shape {tuple(shape)}, but "
                             f"{where} has rows of shape {tuple(X.shape[1:])}: use an encoder "
                             "trained on this dataset") from None
        raise
