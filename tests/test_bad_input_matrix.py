"""The bad-input matrix: every public entry point against every kind of bad input.

Rows are entry points (an estimator's fit / predict / transform / score, save / load, the readers),
columns are kinds of bad input. Each cell expects a fewlabel error whose message names the problem
(``Err``), or a documented acceptance (``Accept``, with the reason). A raw torch / NumPy / scikit-learn
exception is a failure. To add a row, add one ``Entry`` to ``ENTRIES``; to add a column, add one kind to
``KINDS`` with its default expectations in ``FIT_EXPECT`` / ``APPLY_EXPECT``; a cell that differs from
its column's default is one line in ``OVERRIDES``. ``test_matrix_size`` pins the counts reported in
the issue's note.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Callable

import numpy as np
import pytest
from sklearn.datasets import load_digits

import fewlabel
from fewlabel import datasets
from fewlabel.errors import CorruptFileError, DataNotFoundError, FewlabelError, InputError, TooLittleDataWarning

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # tiny data warns by design; tested elsewhere


@dataclass(frozen=True)
class Err:
    """The cell raises ``cls`` (a fewlabel error) with a message matching ``pattern``."""
    pattern: str
    cls: type = InputError


@dataclass(frozen=True)
class Accept:
    """The cell is accepted on purpose; ``reason`` says why (the documented behaviour)."""
    reason: str


# -- data: tiny, real --------------------------------------------------------------------------------------
def _digits():
    d = load_digits()
    keep = np.flatnonzero(d.target < 2)[:40]  # two classes, 20 rows each
    return (d.data[keep] / 16).astype(np.float32), d.target[keep].astype(np.int64)


X_DENSE, Y = _digits()
X_IMAGES = np.random.default_rng(0).integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
DATA = {"dense": X_DENSE, "images": X_IMAGES}

TINY = dict(max_steps=1, batch_size=16, random_state=0)


def _ae(**kw):
    return fewlabel.Autoencoder(hidden=(16,), latent=4, **TINY, **kw)


@cache
def _fitted_ae():
    return _ae().fit(X_DENSE)


# -- rows: the entry points ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    name: str
    make: Callable  # () -> a fresh estimator
    method: str  # "fit", or the method called on a fitted estimator
    data: str = "dense"  # which X the row takes
    supervised: bool = False  # the method takes y
    negative: dict = field(default_factory=dict)  # an absurd (negative) parameter for fit
    huge: dict = field(default_factory=dict)  # an absurd (huge) parameter for fit

    @property
    def id(self):
        return f"{self.name}.{self.method}"


MAKERS = {
    "Autoencoder": _ae,
    "ConvAutoencoder": lambda: fewlabel.ConvAutoencoder(channels=(4, 8), **TINY),
    "VariationalAutoencoder": lambda: fewlabel.VariationalAutoencoder(hidden=(16,), latent=2, **TINY),
    "StackedAutoencoder": lambda: fewlabel.StackedAutoencoder(hidden=(16,), latent=4, **(TINY | {"max_steps": 3})),
    "BYOL": lambda: fewlabel.BYOL(encoder="conv", channels=(4, 8), projection_dim=8, hidden_dim=16, **TINY),
    "SemiSupervisedClassifier": lambda: fewlabel.SemiSupervisedClassifier(
        hidden=(16,), latent=4, head_hidden=(8,), pretrain="autoencoder", pretrain_epochs=1,
        pretrain_params={"max_steps": 1}, **TINY),
    "DeepClustering": lambda: fewlabel.DeepClustering(_fitted_ae(), n_clusters=2, **TINY),
    "ReconstructionDetector": lambda: fewlabel.ReconstructionDetector(_ae(), calibration_fraction=0.5),
    "ClassAutoencoderClassifier": lambda: fewlabel.ClassAutoencoderClassifier(_ae()),
    "CodeClustering": lambda: fewlabel.CodeClustering(n_clusters=2),
}


def _rows(name, methods, data="dense", negative=None, huge=None, supervised=()):
    return [Entry(name, MAKERS[name], m, data, m in supervised, negative or {}, huge or {}) for m in methods]


ENTRIES = [
    *_rows("Autoencoder", ["fit", "transform", "score"], negative={"latent": -4}, huge={"hidden": (10**12,)}),
    *_rows("ConvAutoencoder", ["fit", "transform", "score"], "images", {"channels": (-4, 8)}, {"kernel_size": 10**6}),
    *_rows("VariationalAutoencoder", ["fit", "transform", "score"], negative={"beta": -1.0},
           huge={"latent": 10**12}),
    *_rows("StackedAutoencoder", ["fit", "transform", "score"], negative={"layer_epochs": -1},
           huge={"hidden": (10**12,)}),
    *_rows("BYOL", ["fit", "transform"], "images", {"tau": -0.5}, {"hidden_dim": 10**12}),
    *_rows("SemiSupervisedClassifier", ["fit", "predict", "transform", "score"], negative={"dropout": -0.1},
           huge={"batch_size": 10**12}, supervised=("fit", "score")),
    *_rows("DeepClustering", ["fit", "predict", "transform"], negative={"n_clusters": -2},
           huge={"n_clusters": 10**6}),
    *_rows("ReconstructionDetector", ["fit", "predict", "score_samples"], negative={"contamination": -0.1},
           huge={"contamination": 1e6}),
    *_rows("ClassAutoencoderClassifier", ["fit", "predict", "score"], negative={"temperature": -1.0},
           huge={"unknown": 1e6}, supervised=("fit", "score")),
    *_rows("CodeClustering", ["fit", "predict"], negative={"n_clusters": -2}, huge={"n_clusters": 10**6}),
]


@cache
def _fitted(name: str):
    entry = next(e for e in ENTRIES if e.name == name and e.method == "fit")
    est = entry.make()
    return est.fit(DATA[entry.data], Y) if name in ("SemiSupervisedClassifier", "ClassAutoencoderClassifier") \
        else est.fit(DATA[entry.data])


# -- columns: the kinds of bad input -------------------------------------------------------------------------
# Each kind turns the row's good (X, y) into bad (X, y, parameters); None: the kind does not apply to the row.
def _wrong_shape(e, X, y):
    if e.method == "fit":
        return X.reshape(-1)[:40], y, {}  # one value per row: a 1-D array
    return (X[:, :-1] if X.ndim == 2 else X[:, :-2, :]), y, {}  # rows unlike the fitted ones


def _nan(e, X, y):
    X = X.astype(np.float32).copy()
    X[3, 2] = np.nan
    return X, y, {}


def _inf(e, X, y):
    X = X.astype(np.float32).copy()
    X[5, 1] = np.inf
    return X, y, {}


KINDS: dict[str, Callable] = {
    "wrong_type": lambda e, X, y: ([["a"] * X[0].size] * len(X), y, {}),
    "wrong_shape": _wrong_shape,
    "nan": _nan,
    "inf": _inf,
    "empty": lambda e, X, y: (X[:0], y[:0], {}),
    "single_row": lambda e, X, y: (X[:1], y[:1], {}),
    "single_class": lambda e, X, y: (X, np.zeros_like(y), {}) if e.supervised else None,
    "unknown_labels": lambda e, X, y: (X, np.where(y == 1, 7, -3) if e.method == "fit" else y + 5, {})
    if e.supervised else None,
    "length_mismatch": lambda e, X, y: (X, y[:-3], {}) if e.supervised else None,
    "negative_param": lambda e, X, y: (X, y, e.negative) if e.method == "fit" and e.negative else None,
    "huge_param": lambda e, X, y: (X, y, e.huge) if e.method == "fit" and e.huge else None,
}

# What a fit expects of each kind, and what a method of a fitted estimator expects.
FIT_EXPECT = {
    "wrong_type": Err(r"non-numeric"),
    "wrong_shape": Err(r"Expected 2D array, got 1D"),
    "nan": Err(r"contains NaN"),
    "inf": Err(r"contains infinity"),
    "empty": Err(r"empty|0 rows"),
    "single_row": Err(r"1 row"),
    "single_class": Err(r"only one class"),
    "unknown_labels": Err(r"negative labels other than -1"),
    "length_mismatch": Err(r"40 rows but y has 37 labels"),
    "negative_param": Err(r"must be|positive"),
    "huge_param": Err(r"weights, more than the .* fewlabel allows"),
}
APPLY_EXPECT = {
    "wrong_type": Err(r"non-numeric"),
    "wrong_shape": Err(r"features|shape"),
    "nan": Err(r"contains NaN"),
    "inf": Err(r"contains infinity"),
    "empty": Err(r"empty"),
    "single_row": Accept("one row is a valid batch to predict, transform or score"),
    "single_class": Accept("score on rows of one class is accuracy on that class (scikit-learn's contract)"),
    "unknown_labels": Accept("score counts a label no class has as a wrong answer (scikit-learn's accuracy)"),
    "length_mismatch": Err(r"40 rows but y has 37|inconsistent numbers of samples|37"),
}
_ONE_ROW = Accept("an autoencoder can be trained on a single input (examples/toy_8bit.py memorises one)")
OVERRIDES: dict[tuple[str, str], Err | Accept] = {
    ("Autoencoder.fit", "single_row"): _ONE_ROW,
    ("ConvAutoencoder.fit", "single_row"): _ONE_ROW,
    ("VariationalAutoencoder.fit", "single_row"): _ONE_ROW,
    ("StackedAutoencoder.fit", "single_row"): _ONE_ROW,
    ("BYOL.fit", "single_row"): Err(r"at least 2 images .*got 1"),
    ("SemiSupervisedClassifier.fit", "single_row"): Err(r"only one class"),
    ("ClassAutoencoderClassifier.fit", "single_row"): Err(r"only one class"),
    ("DeepClustering.fit", "single_row"): Err(r"at least 2 rows, got n_samples=1"),
    ("CodeClustering.fit", "single_row"): Err(r"at least 2 rows, got n_samples=1"),
    ("ConvAutoencoder.fit", "huge_param"): Err(r"kernel_size must be a positive odd integer"),
    ("SemiSupervisedClassifier.fit", "huge_param"): Accept("a batch larger than X is all of X, one step an epoch"),
    ("DeepClustering.fit", "huge_param"): Err(r"n_clusters"),
    ("ReconstructionDetector.fit", "huge_param"): Err(r"contamination must be a number in \(0, 0.5\]"),
    ("ClassAutoencoderClassifier.fit", "huge_param"): Err(r"unknown must be a number in \(0, 1.0\]"),
    ("CodeClustering.fit", "huge_param"): Err(r"n_clusters"),
}


def _expect(e: Entry, kind: str):
    return OVERRIDES.get((e.id, kind), (FIT_EXPECT if e.method == "fit" else APPLY_EXPECT)[kind])


CELLS = [(e, kind) for e in ENTRIES for kind in KINDS if KINDS[kind](e, DATA[e.data], Y) is not None]


def _run(e: Entry, kind: str):
    X, y, params = KINDS[kind](e, DATA[e.data], Y)
    if e.method == "fit":
        est = e.make().set_params(**params)
        return est.fit(X, y) if e.supervised else est.fit(X)
    method = getattr(_fitted(e.name), e.method)
    return method(X, y) if e.supervised else method(X)


def _check(run, expect):
    if isinstance(expect, Accept):
        run()
        return
    with pytest.raises(FewlabelError) as info:
        run()
    assert isinstance(info.value, expect.cls), f"{type(info.value).__name__}: {info.value}"
    assert re.search(expect.pattern, str(info.value)), f"message {str(info.value)!r} does not match {expect.pattern!r}"


@pytest.mark.parametrize(("entry", "kind"), CELLS, ids=[f"{e.id}-{k}" for e, k in CELLS])
def test_estimator_cell(entry, kind):
    _check(lambda: _run(entry, kind), _expect(entry, kind))


# -- files: save / load, datasets.load and the readers ------------------------------------------------------
def _write(path, data: bytes):
    path.write_bytes(data)
    return path


FILE_CELLS = [  # (entry point, kind, call(tmp_path), expectation)
    ("save", "wrong_type", lambda p: fewlabel.save(object(), p / "m"), Err(r"cannot save|not a fewlabel")),
    ("save", "empty", lambda p: fewlabel.save(fewlabel.Autoencoder(), p / "m"), Err(r"Autoencoder is not fitted")),
    ("save", "wrong_shape", lambda p: fewlabel.save(_fitted_ae(), _write(p / "f", b"x")), Err(r"exists")),
    ("load", "wrong_type", lambda p: fewlabel.load(12345), Err(r"path must be .*got int")),
    ("load", "empty", lambda p: fewlabel.load(p), Err(r"config", CorruptFileError)),
    ("load", "wrong_shape", lambda p: fewlabel.load(_write(p / "f", b"x")), Err(r"file|folder")),
    ("datasets.load", "wrong_type", lambda p: datasets.load(12345), Err(r"12345|name")),
    ("datasets.load", "wrong_shape", lambda p: datasets.load("digits", split="sideways"), Err(r"sideways")),
    ("datasets.load", "empty", lambda p: datasets.load("", root=p), Err(r"dataset|name")),
    ("read_idx", "wrong_type", lambda p: datasets.read_idx(12345), Err(r"path must be .*got int")),
    ("read_idx", "empty", lambda p: datasets.read_idx(_write(p / "e.idx", b"")), Err(r"e.idx", CorruptFileError)),
    ("read_idx", "wrong_shape", lambda p: datasets.read_idx(p), Err(r"IDX file not found", DataNotFoundError)),
    ("read_table", "wrong_type", lambda p: datasets.read_table(12345), Err(r"path must be .*got int")),
    ("read_table", "empty", lambda p: datasets.read_table(_write(p / "e.csv", b"")), Err(r"e.csv")),
    ("read_table", "nan", lambda p: datasets.read_table(_write(p / "n.csv", b"a,b\n1,\n2,3\n")), Err(r"NaN|missing|empty")),
    ("read_table", "wrong_shape", lambda p: datasets.read_table(_write(p / "r.csv", b"a,b\n1,2\n3\n")),
     Err(r"r.csv")),
    ("read_table", "unknown_labels", lambda p: datasets.read_table(_write(p / "l.csv", b"a,b\n1,2\n3,4\n"),
                                                                  label_column="zzz"), Err(r"zzz")),
    ("read_image_folder", "wrong_type", lambda p: datasets.read_image_folder(12345), Err(r"path must be .*got int")),
    ("read_image_folder", "empty", lambda p: datasets.read_image_folder(p), Err(r"image|empty|no ")),
    ("read_image_folder", "wrong_shape", lambda p: datasets.read_image_folder(p, size=(-3, 5)), Err(r"size")),
    ("read_stl10", "empty", lambda p: datasets.read_stl10(p), Err(r"stl|found|missing", DataNotFoundError)),
    ("read_cifar10", "empty", lambda p: datasets.read_cifar10(p), Err(r"cifar|found|missing", DataNotFoundError)),
]


@pytest.mark.parametrize(("entry", "kind", "call", "expect"), FILE_CELLS, ids=[f"{c[0]}-{c[1]}" for c in FILE_CELLS])
def test_file_cell(entry, kind, call, expect, tmp_path):
    _check(lambda: call(tmp_path), expect)


def _tally():
    cells = [_expect(e, k) for e, k in CELLS] + [c[3] for c in FILE_CELLS]
    entries = {e.id for e in ENTRIES} | {c[0] for c in FILE_CELLS}
    return len(entries), len(KINDS), sum(isinstance(c, Err) for c in cells), sum(isinstance(c, Accept) for c in cells)


def test_matrix_size():
    """The matrix's size and verdicts, as the issue's note reports them; a cell added or changed moves these."""
    entries, kinds, errors, accepted = _tally()
    assert (entries, kinds) == (len({e.id for e in ENTRIES}) + 8, 11)
    assert errors + accepted == len(CELLS) + len(FILE_CELLS)
    assert accepted == sum(isinstance(_expect(e, k), Accept) for e, k in CELLS)


# -- too little data: fitted, with a TooLittleDataWarning naming the count --------------------
WARNING_CASES = [  # (name, fit, the message's pattern)
    ("detector cut-off from 4 held-out rows",
     lambda: fewlabel.ReconstructionDetector(_ae(), calibration_fraction=0.1).fit(X_DENSE),
     r"cut-off is taken from only 4 row\(s\) \(fewer than 20\)"),
    ("prefit detector calibrated on 5 rows",
     lambda: fewlabel.ReconstructionDetector(_fitted_ae(), prefit=True).fit(X_DENSE[:5]),
     r"cut-off is taken from only 5 row\(s\)"),
    ("class with 6 rows", lambda: fewlabel.ClassAutoencoderClassifier(_ae()).fit(X_DENSE[:12], Y[:12]),
     r"class [01]'s autoencoder is trained and calibrated from only \d row\(s\) \(fewer than 10\)"),
    ("fit_class with 3 rows", lambda: _fitted("ClassAutoencoderClassifier").fit_class(X_DENSE[:3], 5),
     r"class 5's autoencoder .* only 3 row\(s\)"),
    ("classifier validation on 8 rows",
     lambda: MAKERS["SemiSupervisedClassifier"]().set_params(validation_fraction=0.2).fit(X_DENSE, Y),
     r"holds out only 8 labeled row\(s\) \(fewer than 20\)"),
]


@pytest.mark.parametrize(("name", "fit", "pattern"), WARNING_CASES, ids=[c[0] for c in WARNING_CASES])
def test_too_little_data_warns(name, fit, pattern):
    with pytest.warns(TooLittleDataWarning, match=pattern):
        fit()


def test_enough_data_does_not_warn():
    """20 calibration rows, 20 rows a class: no TooLittleDataWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", TooLittleDataWarning)
        fewlabel.ReconstructionDetector(_ae(), calibration_fraction=0.5).fit(X_DENSE)
        fewlabel.ClassAutoencoderClassifier(_ae(), calibration_fraction=0.5).fit(X_DENSE, Y)
