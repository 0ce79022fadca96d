"""An experiment's ``[data]`` section: its keys checked, then its rows read, filtered, turned and drawn (the
train and test arrays every step of ``fewlabel run`` uses)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from fewlabel.datasets.tables import MISSING_CELLS
from fewlabel.errors import FewlabelError, InputError
from fewlabel.experiment_checks import Where, kind_of

DATA_KEYS = ("name", "folder", "table", "split", "test_split", "root", "test_fraction", "label_column",
             "image_size", "color", "classes", "rotate", "max_rows", "max_test_rows", "missing", "categorical",
             "dates")
TEST_FRACTION = 0.2


def check_data(w: Where, d: dict, base: Path) -> dict:
    from fewlabel.datasets.registry import DATASETS

    w.keys(d, "data", DATA_KEYS)
    sources = [k for k in ("name", "folder", "table") if k in d]
    if len(sources) != 1:
        got = f"got {', '.join(sources)}" if sources else "got none"
        raise w.fail("data", f"expected exactly one of name (a built-in dataset), folder (images) or table (a "
                             f"file); {got}")
    kind = sources[0]
    out: dict[str, Any] = {"kind": kind}
    if kind == "name":
        name = w.string(d["name"], "data.name").lower().replace("_", "-")
        if name not in DATASETS:
            hint = difflib.get_close_matches(name, sorted(DATASETS), n=1)
            also = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise w.fail("data.name", f"unknown dataset {d['name']!r}{also}; expected one of "
                                      f"{', '.join(sorted(DATASETS))}, or folder = / table = for data of your own")
        splits = DATASETS[name].splits
        out["name"] = name
        for key, default in (("split", "train"), ("test_split", "test")):
            out[key] = w.string(d.get(key, default), f"data.{key}", (*splits, "none") if key == "test_split"
                                else splits)
        if out["split"] == out["test_split"]:
            raise w.fail("data.test_split", f"expected a split other than the one trained on ({out['split']!r}): "
                                            "scores on the training rows say nothing about new rows")
        out["root"] = None if "root" not in d else w.file(d["root"], "data.root", base, folder=True)
        for key in ("test_fraction", "label_column", "image_size", "color", "missing", "categorical", "dates"):
            if key in d:
                raise w.fail(f"data.{key}", f"applies to a folder or table of your own, not to the built-in "
                                            f"dataset {name!r} (it has splits: {', '.join(splits)})")
    else:
        out[kind] = w.file(d[kind], f"data.{kind}", base, folder=kind == "folder")
        for key in ("split", "test_split", "root"):
            if key in d:
                raise w.fail(f"data.{key}", f"applies to a built-in dataset; a {kind} of your own has no splits "
                                            "(test_fraction holds out part of its rows)")
        out["test_fraction"] = w.number(d.get("test_fraction", TEST_FRACTION), "data.test_fraction", 0, 1,
                                        lo_open=True, hi_open=True)
        if kind == "table":
            for key in ("image_size", "color"):
                if key in d:
                    raise w.fail(f"data.{key}", "applies to an image folder, not to a table")
            if "label_column" in d:
                lc = d["label_column"]
                if not isinstance(lc, (str, int)) or isinstance(lc, bool):
                    raise w.fail("data.label_column", f"expected a column name or index, got {kind_of(lc)} {lc!r}")
            out["label_column"] = d.get("label_column")
            # a missing feature cell: refused (named), or filled with its column's median (fewlabel's --missing)
            out["missing"] = w.string(d.get("missing", "refuse"), "data.missing", MISSING_CELLS)
            cats = d.get("categorical")
            if cats is not None and (not isinstance(cats, list) or not cats or not all(
                    isinstance(c, (str, int)) and not isinstance(c, bool) for c in cats)):
                raise w.fail("data.categorical", f"expected a non-empty list of column names or indices, got {cats!r}")
            out["categorical"] = cats
            dates = d.get("dates")
            column_name = (str, int)
            if dates is not None and not (
                    isinstance(dates, list) and dates and all(isinstance(c, column_name) and not isinstance(c, bool)
                                                              for c in dates)
                    or isinstance(dates, dict) and dates and all(isinstance(f, str) for f in dates.values())):
                raise w.fail("data.dates", "expected a non-empty list of column names or indices, or a table of "
                                           f'column names to their form (dates = {{day = "%d/%m/%Y"}}), got {dates!r}')
            out["dates"] = dates
        else:
            if "label_column" in d:
                raise w.fail("data.label_column", "applies to a table; an image folder takes its labels from its "
                                                  "class sub-folders")
            for key in ("missing", "categorical", "dates"):
                if key in d:
                    raise w.fail(f"data.{key}", "applies to a table's cells, not to an image folder")
            size = d.get("image_size")
            if size is not None:
                size = w.int_list(size, "data.image_size", 1)
                if len(size) not in (1, 2):
                    raise w.fail("data.image_size", f"expected a size or [height, width], got {size}")
                size = (size[0], size[0]) if len(size) == 1 else tuple(size)
            out["image_size"] = size
            out["color"] = None if "color" not in d else w.string(d["color"], "data.color", ("L", "RGB"))
    out["classes"] = None
    if "classes" in d:
        items = d["classes"]
        if not isinstance(items, list) or not items or not all(
                isinstance(v, (int, str)) and not isinstance(v, bool) for v in items):
            raise w.fail("data.classes", f"expected a non-empty list of class labels, got {items!r}")
        out["classes"] = items
    out["rotate"] = None
    if "rotate" in d:
        angles = d["rotate"]
        if (not isinstance(angles, list) or not angles
                or any(not isinstance(a, int) or isinstance(a, bool) or a % 90 for a in angles)):
            raise w.fail("data.rotate", f"expected a non-empty list of angles in degrees, each a multiple of 90 "
                                        f"(such as [0, 90, 180, 270]), got {angles!r}")
        if len({a % 360 for a in angles}) != len(angles):
            raise w.fail("data.rotate", f"expected distinct angles, got {angles!r}")
        out["rotate"] = [int(a) % 360 for a in angles]
    for key in ("max_rows", "max_test_rows"):
        out[key] = None if key not in d else w.integer(d[key], f"data.{key}", 1)
    return out


def keep_classes(X, y, classes, where: str, w: Where, key: str = "data.classes"):
    """The rows of ``classes`` only; every class must have rows."""
    import numpy as np

    if y is None:
        raise w.fail(key, f"{where} has no labels to pick classes by")
    y = np.asarray(y)
    missing = [c for c in classes if not (y == c).any()]
    if missing:
        raise w.fail(key, f"no rows of class {missing} in {where}")
    keep = np.isin(y, classes)
    return X[keep], y[keep]


def rotate_rows(X, angles, where: str, w: Where):
    """Each image row copied at each angle (counter-clockwise, multiples of 90 degrees); the angle is the label."""
    import numpy as np

    if X.ndim == 2:
        side = int(round(np.sqrt(X.shape[1])))
        if side * side != X.shape[1]:
            raise w.fail("data.rotate", f"rows of {X.shape[1]} values in {where} are not square images to turn")
        images = X.reshape(len(X), side, side)
    elif X.ndim in (3, 4):
        images = X
    else:
        raise w.fail("data.rotate", f"rows of shape {X.shape[1:]} in {where} are not images to turn")
    axes = (1, 2) if images.ndim == 3 or images.shape[-1] in (1, 3, 4) else (2, 3)  # (N, H, W[, C]) or (N, C, H, W)
    h, wd = images.shape[axes[0]], images.shape[axes[1]]
    if h != wd and any(a % 180 for a in angles):
        raise w.fail("data.rotate", f"images of {h}x{wd} in {where} change shape when turned by 90 degrees")
    turned = np.concatenate([np.rot90(images, k=a // 90, axes=axes) for a in angles])
    return np.ascontiguousarray(turned.reshape((len(turned),) + X.shape[1:])), np.repeat(np.array(angles), len(X))


def read_source(source: dict, split: str | None = None, root=None, data: dict | None = None):
    from fewlabel import datasets

    if "name" in source:
        X, y = datasets.load(source["name"], split=split, root=root)
        return X, y, None
    if "folder" in source:  # read as the commands read it: unlabeled/ and loose images are -1, not a class
        from fewlabel.datasets.partial import read_image_folder_rows

        d = data or {}
        size = d.get("image_size")
        X, y, names, _ = read_image_folder_rows(source["folder"], size="auto" if size is None else size,
                                                color=d.get("color"))
        return X, y, names
    import warnings

    from fewlabel.datasets.partial import DataQualityWarning
    from fewlabel.datasets.tables import read_table_parts, reading_notes

    parts = read_table_parts(source["table"], label_column=(data or {}).get("label_column"),
                             missing=(data or {}).get("missing", "refuse"),
                             categorical=(data or {}).get("categorical"), dates=(data or {}).get("dates"))
    for note in reading_notes(source["table"], parts):  # said as the commands say it, in the file's own terms
        warnings.warn(note.replace("--missing refuse", 'data.missing = "refuse"'), DataQualityWarning, stacklevel=2)
    y = parts["y"]
    if y is not None and y.dtype.kind in "OUS":  # labels written as words: class codes, named by the words
        import numpy as np

        names, codes = np.unique(y.astype(str), return_inverse=True)
        return parts["X"], codes.astype(np.int64), [str(n) for n in names]
    return parts["X"], y, None  # numbered classes are named by their numbers


def load_experiment_data(exp) -> dict:
    """The rows to train on and to score on of a checked :class:`~fewlabel.experiment.Experiment`, read once
    before anything trains; each problem an InputError naming the key."""
    import numpy as np

    from fewlabel.tasks.cluster import subsample

    d, w = exp.data, Where(exp.path)
    key = f"data.{d['kind']}"
    try:
        X, y, names = read_source(d, d.get("split"), d.get("root"), d)
    except FewlabelError as e:
        from fewlabel.datasets.tables import CATEGORIES_HINT

        message = str(e)
        if "is not a number" in message and d["kind"] == "table":
            message += f" ({CATEGORIES_HINT})"
        # an experiment file's own spelling of the options the message names
        raise w.fail(key, message.replace("give --missing fill (missing='fill' in Python)", 'set data.missing = "fill"')
                     .replace("with --categorical NAME (categorical=[NAME] in Python)",
                              'with data.categorical = ["NAME"]')
                     .replace("with --dates NAME (dates=[NAME] in Python)", 'with data.dates = ["NAME"]')
                     .replace("--date-format %d/%m/%Y (or %m/%d/%Y; dates={NAME: '%d/%m/%Y'} in Python)",
                              'data.dates = {NAME = "%d/%m/%Y"} (or "%m/%d/%Y")')) from None
    if names is not None:  # classes named in the file (a folder's sub-folders, a table's words) may be named so here
        for holder in (d, exp.tasks.get("detect")):
            if holder and holder.get("classes") is not None:
                holder["classes"] = [names.index(c) if isinstance(c, str) and c in names else c
                                     for c in holder["classes"]]
    if d["kind"] == "folder" and y is not None and (np.asarray(y) < 0).any():
        raise w.fail(key, f"{d['folder']} holds {int((np.asarray(y) < 0).sum())} unlabeled images (in unlabeled/ or "
                          "loose beside the class folders): an experiment needs every image labeled (the run keeps "
                          f"tasks.classify.labels of them); fewlabel classify --data {d['folder']} labels them")
    Xt = yt = None
    if d["kind"] == "name":
        where = f"{d['name']} ({d['split']})"
        if d["test_split"] != "none":
            try:
                Xt, yt, _ = read_source(d, d["test_split"], d.get("root"))
            except FewlabelError as e:
                raise w.fail("data.test_split", str(e)) from None
    else:
        where = str(d[d["kind"]])
        if y is not None:
            from fewlabel.datasets.subsets import hold_out

            try:
                train, test = hold_out(np.asarray(y), d["test_fraction"], exp.seed, where)
            except InputError as e:
                raise w.fail("data.test_fraction", str(e)) from None
            X, y, Xt, yt = X[train], np.asarray(y)[train], X[test], np.asarray(y)[test]
    if len(X) == 0:
        raise w.fail(key, f"{where} has no rows")
    if y is not None:
        y = np.asarray(y)
        if y.dtype.kind in "iuf" and (y < 0).any():
            raise w.fail(key, f"{where} marks {int((y < 0).sum())} rows with a negative label: every row of the data "
                              "needs its label (the run keeps tasks.classify.labels of them)")
    if d.get("classes") is not None:
        X, y = keep_classes(X, y, d["classes"], where, w)
        if Xt is not None and yt is not None:
            Xt, yt = keep_classes(Xt, yt, d["classes"], f"{where}, test rows", w)
    if d.get("rotate") is not None:
        X, y = rotate_rows(X, d["rotate"], where, w)
        if Xt is not None:
            Xt, yt = rotate_rows(Xt, d["rotate"], f"{where}, test rows", w)
        names = None  # the labels are now the angles in degrees
    if d["max_rows"] is not None and d["max_rows"] < len(X):
        idx = subsample(len(X), d["max_rows"], y, exp.seed)
        X, y = X[idx], None if y is None else y[idx]
    if Xt is not None and d["max_test_rows"] is not None and d["max_test_rows"] < len(Xt):
        idx = subsample(len(Xt), d["max_test_rows"], yt, exp.seed)
        Xt, yt = Xt[idx], None if yt is None else np.asarray(yt)[idx]
    arrays = {"X": X, "y": y, "X_test": Xt, "y_test": yt, "class_names": None if names is None else list(names),
              "where": where}
    needs_labels = [t for t in ("classify",) if t in exp.tasks]
    det = exp.tasks.get("detect")
    if det and (det["mode"] == "per_class" or det["classes"]):
        needs_labels.append("detect")
    if y is None and needs_labels:
        raise w.fail(f"tasks.{needs_labels[0]}", f"needs labels, but {where} has none"
                     + (" (give data.label_column)" if d["kind"] == "table" else ""))
    if "classify" in exp.tasks:
        if Xt is None or yt is None:
            raise w.fail("tasks.classify", f"needs labeled rows to score on: {where} has no labeled test rows "
                                           "(data.test_split)")
        from fewlabel.datasets import labeled_subset

        for n in exp.tasks["classify"]["labels"]:
            try:
                labeled_subset(y, n, seed=0)
            except InputError as e:
                raise w.fail("tasks.classify.labels", str(e)) from None
    if det:
        if det["classes"] is not None:
            missing = [c for c in det["classes"] if not (y == c).any()]
            if missing:
                raise w.fail("tasks.detect.classes", f"no rows of class {missing} in {where}")
        if det["outliers"] is not None:
            try:
                O, _, _ = read_source(det["outliers"], det["outliers_split"], d.get("root") if "name" in det["outliers"]
                                else None)
            except FewlabelError as e:
                raise w.fail("tasks.detect.outliers", str(e)) from None
            if O.shape[1:] != X.shape[1:]:
                raise w.fail("tasks.detect.outliers", f"rows of shape {O.shape[1:]}, but the data's rows have shape "
                                                      f"{X.shape[1:]}")
            if d["max_test_rows"] is not None and d["max_test_rows"] < len(O):
                O = O[subsample(len(O), d["max_test_rows"], None, exp.seed)]
            arrays["outliers"] = O
    cl = exp.tasks.get("cluster")
    if cl and cl["k"] == "classes":
        if y is None:
            raise w.fail("tasks.cluster.k", f"missing: {where} has no labels to count classes by; give k")
        cl["k"] = int(len(np.unique(y)))
    if cl and cl["k"] > len(X):
        raise w.fail("tasks.cluster.k", f"expected at most the {len(X)} rows to cluster, got {cl['k']}")
    if cl and cl["refine"] == "network":
        from fewlabel.tasks.cluster import as_images

        try:
            as_images(X[:1])
        except InputError as e:
            raise w.fail("tasks.cluster.refine", f"network self-labels images: {e}; use refine = \"none\" (or "
                                                 "\"auto\") for tables") from None
    return arrays
