"""One experiment in one TOML file: the data, the pretraining, the tasks; read and checked before any training.

>>> from fewlabel.experiment import read_experiment
>>> exp = read_experiment("experiment.toml", overrides=["pretrain.epochs=2"])

The file (every key is optional except where said)::

    title = "MNIST: autoencoder codes, 100 labels"
    seed = 0                      # every draw and every network's initialisation
    device = "auto"               # auto, cpu, cuda, cuda:N

    [data]                        # exactly one of name / folder / table
    name = "mnist"                # a built-in dataset: digits, mnist, fashion-mnist, cifar10, stl10
    split = "train"               # named datasets: the rows trained on (default train)
    test_split = "test"           # named datasets: the rows scored on (default test)
    root = "data/mnist"           # named datasets: where their files are (default: the usual places)
    # folder = "photos/"          # an image folder (class sub-folders give labels); image_size, color
    # table = "rows.csv"          # a table (.csv/.tsv/.parquet/.npy/.npz); label_column
    # test_fraction = 0.2         # a folder or table: share of its labeled rows held out to score on
    classes = [6]                 # keep only the rows of these classes (train and test)
    rotate = [0, 90, 180, 270]    # image rows: each row copied at these angles (multiples of 90, counter-
                                  #   clockwise); the angle in degrees becomes the row's label
    max_rows = 10000              # train on at most this many rows (stratified draw by seed)
    max_test_rows = 5000          # score on at most this many rows

    [pretrain]                    # the encoder every task uses
    method = "autoencoder"        # autoencoder, conv, vae, stacked, byol, or none
    hidden = [500, 500, 2000]     # any parameter of the method's estimator (Autoencoder, ConvAutoencoder,
    latent = 10                   #   VariationalAutoencoder, StackedAutoencoder, BYOL), e.g. epochs,
    epochs = 20                   #   max_steps, batch_size, lr, noise, augment

    [tasks.classify]              # few labels: the pretrained encoder + a head, beside the same network from
    labels = [100, 1000]          #   scratch on the same labels and a logistic regression on the raw input
    seeds = 3                     # label draws per count (draw d: labels and networks seeded seed + d)
    epochs = 20                   # any other key: a SemiSupervisedClassifier parameter

    [tasks.cluster]               # the codes clustered beside the raw input, as fewlabel cluster does:
    k = 10                        #   (default: the number of classes)
    method = "gmm"                # gmm, kmeans (default gmm)
    manifold = "auto"             # auto (umap when umap-learn is installed, else pca), umap, pca, none
    refine = "auto"               # auto (self-label images of >= 2,000 rows, >= 16 px a side), network, none

    [tasks.map]                   # the codes in 2-D beside the raw input
    method = "umap"               # pca, tsne, umap (default: umap when umap-learn is installed, else tsne)
    max_points = 3000

    [tasks.detect]                # outliers by reconstruction error (or one autoencoder per class)
    mode = "outliers"             # outliers, per_class
    contamination = "auto"        # outliers: "auto" (Tukey's fence on the calibration scores) or a share
    score_by = "combined"         # outliers: combined, error, normalized, latent (ReconstructionDetector)
    outliers = "fashion-mnist"    # a dataset or file of known outliers, scored beside the test rows
    classes = [0, 1, 2, 3, 4]     # train on these classes only: the others count as unseen
    latent = 8                    # any other key: an Autoencoder parameter of the detector's autoencoder
                                  #   (defaults: outliers 784-512-256-16, per_class 784-128-8)

Every problem is an :class:`~fewlabel.errors.InputError` naming the file, the key (as a dotted path such as
``tasks.classify.labels``) and what was expected: an unknown key, a wrong type, a bad value, data that is
not there. :func:`read_experiment` also loads the data and builds (without fitting) every estimator, so a
problem shows before anything trains.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewlabel.errors import InputError
from fewlabel.experiment_checks import Where
from fewlabel.experiment_data import check_data, load_experiment_data
from fewlabel.jsonsafe import json_safe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRETRAIN_METHODS = ("autoencoder", "conv", "vae", "stacked", "byol", "none")
TASKS = ("classify", "cluster", "map", "detect")
TOP_KEYS = ("title", "seed", "device", "data", "pretrain", "tasks")
CLASSIFY_KEYS = ("labels", "seeds", "all_labels", "logistic_regression")
CLUSTER_KEYS = ("k", "method", "manifold", "manifold_dim", "n_neighbors", "n_init", "n_maps", "refine", "standardize",
                "raw")
MAP_KEYS = ("method", "max_points")
DETECT_KEYS = ("mode", "contamination", "score_by", "unknown", "classes", "outliers", "outliers_split",
               "calibration_fraction")


def _estimator_class(method: str):
    from fewlabel.pretrain.autoencoder import Autoencoder, ConvAutoencoder
    from fewlabel.pretrain.byol import BYOL
    from fewlabel.pretrain.stacked import StackedAutoencoder
    from fewlabel.pretrain.variational import VariationalAutoencoder

    return {"autoencoder": Autoencoder, "conv": ConvAutoencoder, "vae": VariationalAutoencoder,
            "stacked": StackedAutoencoder, "byol": BYOL}[method]


def _tuples(value):
    """TOML arrays as tuples, which estimators take for layer sizes and ranges."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


# -- the experiment ---------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """A checked experiment: its settings, its data loaded, its estimators' parameters."""

    path: Path
    text: str  # the file as given
    raw: dict  # the settings after --set overrides (JSON-able)
    title: str
    seed: int
    device: str
    data: dict
    pretrain: dict  # {"method": ..., "params": {...}}
    tasks: dict = field(default_factory=dict)  # name -> settings
    arrays: dict = field(default_factory=dict)  # X, y, X_test, y_test, outliers, class_names, description

    def fingerprint(self) -> str:
        """The settings as canonical JSON: a resumed run must have the same ones."""
        return json.dumps(self.raw, sort_keys=True)

    def steps(self) -> list[str]:
        """The run's steps in order; each is done once and its result kept for ``--resume``."""
        out = [] if self.pretrain["method"] == "none" else ["pretrain"]
        if "classify" in self.tasks:
            c = self.tasks["classify"]
            out += [f"classify-{n}-labels-draw-{s}" for n in c["labels"] for s in range(c["seeds"])]
            if c["all_labels"]:
                out.append("classify-all-labels")
        out += [t for t in ("cluster", "map", "detect") if t in self.tasks]
        return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"pretrain.epochs=2"`` -> (["pretrain", "epochs"], 2); the value is read as TOML (a number, true, a
    list, a quoted string), else taken as a plain string."""
    if "=" not in text:
        raise InputError(f"--set {text!r}: expected KEY=VALUE such as pretrain.epochs=2")
    key, value = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise InputError(f"--set {text!r}: expected a dotted key such as tasks.classify.labels")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return parts, parsed


def apply_overrides(settings: dict, overrides) -> dict:
    settings = copy.deepcopy(settings)
    for text in overrides or ():
        parts, value = parse_override(text)
        node = settings
        for i, p in enumerate(parts[:-1]):
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise InputError(f"--set {text!r}: {'.'.join(parts[:i + 1])} is a value, not a table")
            node = child
        node[parts[-1]] = value
    return settings


def read_experiment(path, overrides=(), load_data: bool = True) -> Experiment:
    """Read and check the TOML file at ``path`` (``overrides``: ``KEY=VALUE`` strings applied first), load its
    data and check every estimator's parameters: an :class:`Experiment` ready to run, or an InputError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such experiment file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder: give an experiment file (TOML)") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text: {e}") from None
    try:
        settings = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path} is not valid TOML: {e}") from None
    settings = apply_overrides(settings, overrides)
    exp = check_settings(settings, path, text)
    if load_data:
        exp.arrays = load_experiment_data(exp)
        check_estimators(exp)
    return exp


def check_settings(settings: dict, path: Path, text: str = "") -> Experiment:
    """Check every key's name, type and value (no data loaded)."""
    w = Where(path)
    base = path.resolve().parent
    w.keys(settings, "", TOP_KEYS)
    title = w.string(settings.get("title", path.stem), "title")
    seed = w.integer(settings.get("seed", 0), "seed", 0)
    device = w.string(settings.get("device", "auto"), "device")
    if not (device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:")):
        raise w.fail("device", f"expected auto, cpu, cuda or cuda:N, got {device!r}")
    if "data" not in settings:
        raise w.fail("data", "missing: the [data] table says which data to use (name, folder or table)")
    data = check_data(w, w.table(settings["data"], "data"), base)
    pre = w.table(settings.get("pretrain", {"method": "none"}), "pretrain")
    if "method" not in pre:
        raise w.fail("pretrain.method", f"missing: expected one of {', '.join(PRETRAIN_METHODS)}")
    method = w.string(pre["method"], "pretrain.method", PRETRAIN_METHODS)
    params = {k: v for k, v in pre.items() if k != "method"}
    if method == "none" and params:
        raise w.fail(f"pretrain.{next(iter(params))}", "method = \"none\" trains no encoder: it takes no parameters")
    if method != "none":
        _check_params(w, _estimator_class(method), params, "pretrain", ("method",))
    tasks_table = w.table(settings.get("tasks", {}), "tasks")
    w.keys(tasks_table, "tasks", TASKS)
    if not tasks_table and method == "none":
        raise w.fail("tasks", "nothing to do: give [pretrain] a method, or at least one of [tasks.classify], "
                              "[tasks.cluster], [tasks.map], [tasks.detect]")
    tasks = {}
    for name in TASKS:
        if name in tasks_table:
            key = f"tasks.{name}"
            tasks[name] = globals()[f"_check_{name}"](w, w.table(tasks_table[name], key), key, base, method)
    if method == "none":
        for name in ("cluster", "map"):
            if name in tasks:
                tasks[name]["encoder"] = False  # raw input only: there is no encoder to compare with
    return Experiment(path=path, text=text, raw=json_safe(settings), title=title, seed=seed, device=device,
                      data=data, pretrain={"method": method, "params": _tuples(params)}, tasks=tasks)


def _check_params(w: Where, cls, params: dict, key: str, task_keys=()) -> None:
    """Keys that are neither task keys nor parameters of ``cls`` are refused with the valid names."""
    names = sorted(cls().get_params(deep=False))
    w.keys(params, key, names, task_keys)


def _check_classify(w, c, key, base, method) -> dict:
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    _check_params(w, SemiSupervisedClassifier, c, key, CLASSIFY_KEYS)
    if "labels" not in c:
        raise w.fail(f"{key}.labels", "missing: expected how many training rows keep their label, e.g. 100, or a "
                                      "list such as [100, 1000] for a learning curve")
    labels = sorted(set(w.int_list(c["labels"], f"{key}.labels", 1)))
    params = {k: _tuples(v) for k, v in c.items() if k not in CLASSIFY_KEYS}
    return {"labels": labels, "seeds": w.integer(c.get("seeds", 3), f"{key}.seeds", 1),
            "all_labels": w.boolean(c.get("all_labels", True), f"{key}.all_labels"),
            "logistic_regression": w.boolean(c.get("logistic_regression", True), f"{key}.logistic_regression"),
            "params": params}


def _check_cluster(w, c, key, base, method) -> dict:
    """``fewlabel cluster``'s route (:data:`~fewlabel.cluster_defaults.CLUSTER_DEFAULTS`) for every key the
    section leaves out; ``manifold = "auto"`` is decided here (umap where umap-learn is installed, else pca)."""
    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS as defaults

    w.keys(c, key, CLUSTER_KEYS)
    k = c.get("k", "classes")
    if k != "classes":
        k = w.integer(k, f"{key}.k", 2)
    manifold = w.string(c.get("manifold", defaults["manifold"]), f"{key}.manifold", ("auto", "none", "pca", "umap"))
    if manifold == "auto":
        manifold = "umap" if _umap_available() else "pca"
    elif manifold == "umap" and not _umap_available():
        raise w.fail(f"{key}.manifold", "umap needs the umap-learn package (pip install fewlabel[umap]); or choose "
                                        "pca or none")
    return {"k": k, "method": w.string(c.get("method", defaults["method"]), f"{key}.method", ("kmeans", "gmm")),
            "manifold": manifold,
            "manifold_dim": w.integer(c.get("manifold_dim", defaults["manifold_dim"]), f"{key}.manifold_dim", 1),
            "n_neighbors": w.integer(c.get("n_neighbors", defaults["n_neighbors"]), f"{key}.n_neighbors", 2),
            "n_init": w.integer(c.get("n_init", defaults["n_init"]), f"{key}.n_init", 1),
            "n_maps": w.integer(c.get("n_maps", defaults["n_maps"]), f"{key}.n_maps", 1),
            "refine": w.string(c.get("refine", defaults["refine"]), f"{key}.refine", ("auto", "network", "none")),
            "standardize": _standardize(w, c.get("standardize", defaults["standardize"]), f"{key}.standardize"),
            "raw": w.boolean(c.get("raw", True), f"{key}.raw"), "encoder": True}


def _standardize(w, value, key: str):
    return value if isinstance(value, bool) else w.string(value, key, ("auto",))


def _umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def _check_map(w, c, key, base, method) -> dict:
    w.keys(c, key, MAP_KEYS)
    how = w.string(c.get("method", "umap" if _umap_available() else "tsne"), f"{key}.method", ("pca", "tsne", "umap"))
    if how == "umap" and not _umap_available():
        raise w.fail(f"{key}.method", "umap needs the umap-learn package (pip install fewlabel[umap]); or choose "
                                      "tsne or pca")
    return {"method": how, "max_points": w.integer(c.get("max_points", 3000), f"{key}.max_points", 4),
            "encoder": True}


def _check_detect(w, c, key, base, method) -> dict:
    from fewlabel.pretrain.autoencoder import Autoencoder
    from fewlabel.tasks.detect import CLASS_DEFAULT, DETECTOR_DEFAULT, SCORES

    _check_params(w, Autoencoder, c, key, DETECT_KEYS)
    mode = w.string(c.get("mode", "outliers"), f"{key}.mode", ("outliers", "per_class"))
    out = {"mode": mode,
           "contamination": ("auto" if c.get("contamination", "auto") == "auto" else
                             w.number(c["contamination"], f"{key}.contamination", 0, 0.5, lo_open=True)),
           "score_by": w.string(c.get("score_by", "combined"), f"{key}.score_by", SCORES),
           "unknown": w.number(c.get("unknown", 0.99), f"{key}.unknown", 0, 1, lo_open=True, hi_open=True),
           "calibration_fraction": w.number(c.get("calibration_fraction", 0.1), f"{key}.calibration_fraction", 0, 1,
                                            hi_open=True),
           "classes": None, "outliers": None, "outliers_split": "test"}
    if "unknown" in c and mode != "per_class":
        raise w.fail(f"{key}.unknown", "applies to mode = \"per_class\" (one autoencoder per class)")
    for name in ("contamination", "score_by"):
        if name in c and mode == "per_class":
            raise w.fail(f"{key}.{name}", "applies to mode = \"outliers\"; per_class uses unknown")
    if "classes" in c:
        items = c["classes"]
        if not isinstance(items, list) or not items or not all(
                isinstance(v, (int, str)) and not isinstance(v, bool) for v in items):
            raise w.fail(f"{key}.classes", f"expected a non-empty list of class labels, got {items!r}")
        out["classes"] = items
    if "outliers" in c:
        from fewlabel.datasets.registry import DATASETS

        name = w.string(c["outliers"], f"{key}.outliers")
        if name.lower().replace("_", "-") in DATASETS:
            out["outliers"] = {"name": name.lower().replace("_", "-")}
            out["outliers_split"] = w.string(c.get("outliers_split", "test"), f"{key}.outliers_split",
                                             DATASETS[out["outliers"]["name"]].splits)
        else:
            p = w.file(name, f"{key}.outliers", base)
            out["outliers"] = {"folder" if p.is_dir() else "table": p}
            if "outliers_split" in c:
                raise w.fail(f"{key}.outliers_split", "applies to a built-in outliers dataset, not a file")
    elif "outliers_split" in c:
        raise w.fail(f"{key}.outliers_split", "applies only with outliers =")
    default = CLASS_DEFAULT if mode == "per_class" else DETECTOR_DEFAULT
    out["autoencoder"] = {**default, **{k: _tuples(v) for k, v in c.items() if k not in DETECT_KEYS}}
    return out


# -- the estimators, built and checked without fitting --------------------------------------------------------


def training_settings(exp: Experiment, params: dict, verbose: bool) -> dict:
    """The run-wide settings (seed, device, progress) for an estimator unless its section sets them."""
    return {"random_state": exp.seed, "device": exp.device, "verbose": verbose, **params}


def build_pretrainer(exp: Experiment, verbose: bool = True):
    cls = _estimator_class(exp.pretrain["method"])
    return cls(**training_settings(exp, exp.pretrain["params"], verbose))


def baseline_architecture(exp: Experiment) -> dict:
    """SemiSupervisedClassifier parameters for the pretrained encoder's architecture from scratch (its
    supervised twin), or {} when nothing is pretrained here."""
    method = exp.pretrain["method"]
    if method == "none":
        return {}
    p = build_pretrainer(exp, verbose=False).get_params(deep=False)
    if method in ("autoencoder", "stacked") or (method == "vae" and p.get("architecture") == "dense"):
        return {"encoder": "dense", "hidden": p["hidden"], "latent": p["latent"], "activation": p["activation"],
                **({"latent_activation": p["latent_activation"]} if "latent_activation" in p else {})}
    if method in ("conv", "vae"):
        # the pretrainers' conv encoders have one convolution per stage; the twin must have the same
        out = {"encoder": "conv", "channels": p["channels"], "convs": 1, "activation": p["activation"]}
        if "batch_norm" in p:
            out["batch_norm"] = p["batch_norm"]
        if method == "vae":
            out["batch_norm"] = False
        if p.get("code") == "pool":
            out["pooling"] = "global"
        return out
    if p["encoder"] == "resnet18":
        return {"encoder": "resnet18", "width": p["width"], "stem": p["stem"]}
    # BYOL's code is its pooling ('global' by default): the twin reads the same code, not the flattened map
    return {"encoder": "conv", "channels": p["channels"], "convs": 1, "batch_norm": p["batch_norm"],
            "pooling": p["pooling"]}


def classifier_params(exp: Experiment, encoder=None) -> tuple[dict, dict]:
    """(semi-supervised parameters, supervised baseline parameters) of the classify task. The semi-supervised
    classifier takes the pretrained ``encoder`` when there is one (and the section does not name another);
    every other parameter of the section passes through unchanged."""
    from fewlabel.tasks.compare import baseline_params, with_encoder

    task = exp.tasks["classify"]
    given = dict(task["params"])
    verbose = given.pop("verbose", False)
    arch = baseline_architecture(exp)
    semi = training_settings(exp, given, verbose)
    base_source = {**semi, **{k: v for k, v in arch.items() if k not in given}}
    base = baseline_params(base_source) if isinstance(base_source.get("encoder", "dense"), str) else None
    if encoder is not None and "encoder" not in given:
        semi = with_encoder(semi, encoder)
    return semi, base


def check_estimators(exp: Experiment) -> None:
    """Build every estimator the run will fit and run its parameter checks on the loaded data (no fitting):
    a bad value is named now, not after an hour of pretraining."""

    w = Where(exp.path)
    X = exp.arrays["X"]
    if exp.pretrain["method"] != "none":
        try:
            est = build_pretrainer(exp, verbose=False)
            if hasattr(est, "check_architecture"):
                est.check_architecture(X)  # layer settings, no training
            else:
                est.check_params()
                if X.ndim not in (3, 4):
                    raise InputError(f"BYOL needs images, but the data's rows have shape {X.shape[1:]}")
        except (InputError, TypeError, ValueError) as e:
            raise w.fail("pretrain", _message(e)) from None
    if "classify" in exp.tasks:
        from fewlabel.tasks.classify import SemiSupervisedClassifier

        try:
            semi, base = classifier_params(exp)
            SemiSupervisedClassifier(**semi).check_params()
            if base is None:
                raise InputError("its encoder is a ready-made model: it has no supervised twin to compare with; "
                                 "leave encoder out (the [pretrain] encoder is used) or name an architecture")
            SemiSupervisedClassifier(**base).check_params()
        except (InputError, TypeError, ValueError) as e:
            raise w.fail("tasks.classify", _message(e)) from None
    if "detect" in exp.tasks:
        from fewlabel.pretrain.autoencoder import Autoencoder

        try:
            Autoencoder(**training_settings(exp, exp.tasks["detect"]["autoencoder"], False)).check_architecture(X)
        except (InputError, TypeError, ValueError) as e:
            raise w.fail("tasks.detect", _message(e)) from None


def _message(e: Exception) -> str:
    return str(e.args[0]) if e.args else type(e).__name__
