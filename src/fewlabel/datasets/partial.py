"""Read data that is partly labeled, as users keep it, and say what was found.

Three layouts (:func:`read_partly_labeled`):

* **an image folder**: one sub-folder per class (its name is the class name) holding the labeled images;
  the unlabeled images either in a sub-folder named ``unlabeled`` (``unlabeled_folder``) or loose at the
  top level, or both::

      photos/cat/001.jpg  photos/dog/002.jpg  photos/unlabeled/003.jpg  photos/004.jpg

* **a table** (CSV, TSV, Parquet) with a label column whose unlabeled rows are marked (see below);
* **NumPy** ``.npz`` with arrays ``X`` and ``y``, ``y == -1`` (or any one marking below) for unlabeled rows.

How an unlabeled row is marked, wherever labels are read (files and the Python API alike): an empty cell,
NaN (also spelled ``NA``, ``N/A``, ``null``, ``None``; a Parquet null; Python's ``None``), ``?``, or ``-1``
(scikit-learn's convention). Each of these means "unlabeled", and one file (or one ``y``) must use one
of them: a column that mixes two (blanks and ``?``, say) is refused, because two spellings usually mean
two things (not looked at yet, looked at and unsure) that a reader cannot tell apart.

Class names stay as written: the label cells as strings, stripped of surrounding spaces; the sub-folder
names. A file that cannot be read as an image refuses the whole folder, naming every such file (nothing
is skipped without a word). Images are read at one size: by default (``size="auto"``) their own where they share
one no larger than ``max_side``, else their median shape scaled to it (:func:`~fewlabel.datasets.folders.auto_size`),
said in a note; ``size=None`` reads them as they are and refuses images of different sizes.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fewlabel.datasets.folders import (AUTO, MAX_SIDE, auto_size, check_max_side, check_size, header_size, is_auto,
                                       size_note)
from fewlabel.errors import CorruptFileError, DataNotFoundError, FewlabelWarning, InputError

#: The sub-folder of an image folder that holds unlabeled images (the ``unlabeled_folder`` default).
UNLABELED_FOLDER = "unlabeled"
#: Spellings of NaN in a label cell (lower-cased).
NAN_SPELLINGS = ("nan", "na", "n/a", "null", "none")
#: The ways an unlabeled row can be marked, named as messages name them.
MARKINGS = ("an empty cell", "NaN", "'?'", "-1")


class DataQualityWarning(FewlabelWarning):
    """Data that reads, but that the user should look at: a class with very few labeled rows, files that
    are copies of each other, the same image under two labels."""


# -- labels --------------------------------------------------------------------------------------------
def _marking(value) -> str | None:
    """Which of :data:`MARKINGS` ``value`` is, or None for a class label."""
    if value is None:
        return "NaN"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "NaN"
        return "-1" if value == -1 else None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return "-1" if value == -1 else None
    if isinstance(value, (str, np.str_)):
        text = value.strip()
        low = text.lower()
        if not text:
            return "an empty cell"
        if low in NAN_SPELLINGS:
            return "NaN"
        if text == "?":
            return "'?'"
        try:
            return "-1" if float(text) == -1 else None
        except ValueError:
            return None
    return None


def unlabeled_mask(y, where: str = "y") -> np.ndarray:
    """Boolean mask of the unlabeled rows of ``y`` (any of :data:`MARKINGS`), refusing a ``y`` that marks
    them in more than one way (the message names each way, how many rows use it and the first one)."""
    y = np.asarray(y)
    if y.dtype.kind in "iub":
        return y == -1
    if y.dtype.kind == "f":
        nan, minus = np.isnan(y), y == -1
        kinds = {"NaN": nan, "-1": minus}
    else:
        found = np.array([_marking(v) for v in y.tolist()], dtype=object)
        kinds = {k: found == k for k in MARKINGS}
    used = {k: m for k, m in kinds.items() if m.any()}
    if len(used) > 1:
        parts = [f"{k} ({int(m.sum())} rows, first row {int(np.argmax(m)) + 1})" for k, m in used.items()]
        raise InputError(f"{where} marks its unlabeled rows in {len(used)} ways: {', '.join(parts)}; mark them one "
                         "way (an empty cell, NaN, '?' or -1 each mean unlabeled; two spellings usually mean two "
                         "things, such as not looked at and unsure)")
    mask = np.zeros(len(y), bool)
    for m in used.values():
        mask |= m
    return mask


def spells_unlabeled(name) -> bool:
    """Whether ``name`` is "unlabeled" however written ("Unlabelled", "un-labeled", "UN_LABELED")."""
    return "".join(c for c in str(name).lower() if c.isalpha()) in ("unlabeled", "unlabelled")


def check_no_class_named_unlabeled(labels, where: str = "y") -> None:
    """Refuse labels that spell "unlabeled" ("unlabeled", "Unlabelled", "un-labeled"): meant as the unlabeled rows'
    marking, they would become a class, usually holding most of the rows."""
    labels = np.asarray(labels, dtype=str)
    for name in np.unique(labels):
        if spells_unlabeled(name):
            raise InputError(f"{where}: {str(name)!r} ({int((labels == name).sum()):,} rows) would be read as a class: "
                             f"mark an unlabeled row with {', '.join(MARKINGS[:-1])} or {MARKINGS[-1]}")


def encode_labels(y, where: str = "y") -> tuple[np.ndarray, list[str]]:
    """``(codes, class_names)``: int64 codes into the sorted class names (strings, as written), -1 for the
    unlabeled rows."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"{where} must be 1-D (one label per row), got shape {y.shape}")
    unlabeled = unlabeled_mask(y, where)
    if y.dtype.kind == "f":
        labeled_values = y[~unlabeled]
        if (labeled_values != np.round(labeled_values)).any() or not np.isfinite(labeled_values).all():
            bad = labeled_values[labeled_values != np.round(labeled_values)]
            raise InputError(f"{where} holds {bad[0] if len(bad) else 'infinite'} among its labels: class labels "
                             "are names or whole numbers")
        text = [str(int(v)) for v in labeled_values]
    else:
        text = [str(v).strip() for v in y[~unlabeled].tolist()]
    names, codes_labeled = np.unique(np.asarray(text, dtype=str), return_inverse=True)
    check_no_class_named_unlabeled(text, where)
    from fewlabel.datasets.tables import check_no_error_labels

    check_no_error_labels(text, where)
    codes = np.full(len(y), -1, dtype=np.int64)
    codes[~unlabeled] = codes_labeled
    return codes, [str(n) for n in names]


# -- what was read ---------------------------------------------------------------------------------------
@dataclass
class PartlyLabeled:
    """Rows, their labels where given, and what names each row.

    ``y`` holds int64 codes into ``class_names`` and -1 for unlabeled rows; :attr:`labels` gives the class
    names themselves (None where unlabeled). ``row_names`` name each row in what fewlabel writes: the
    image's path relative to the folder, the ``id_column`` value, or the row's number (1-based, as a
    spreadsheet shows it below its header). ``feature_names`` are a table's feature columns.
    """

    X: np.ndarray
    y: np.ndarray
    class_names: list[str]
    row_names: list[str]
    source: str
    kind: str  # "images", "table" or "arrays"
    row_name_column: str = "row"
    feature_names: list[str] | None = None
    label_column: str | None = None
    id_column: str | None = None
    notes: list[str] = field(default_factory=list)
    read: dict | None = None  # images: the size and colour they were read at
    fill: dict | None = None  # a table's columns' medians, and the missing cells filled with them (missing="fill")
    categories: dict | None = None  # a table's columns of categories (categorical=): each one's categories
    dates: dict | None = None  # a table's columns of dates (dates=): each one's form, times, first and last date

    def record(self) -> dict:
        """What a model trained on these rows should remember of how they were read (``fewlabel predict`` reads
        new rows the same way): the source, image size and colour, a table's columns."""
        out = {"source": self.source, "kind": self.kind}
        if self.read is not None:
            out["read"] = self.read
        if self.feature_names is not None:
            out.update(columns=list(self.feature_names), label_column=self.label_column, id_column=self.id_column)
        if self.fill is not None:  # fewlabel predict --missing fill puts these medians in new rows' missing cells
            out["fill"] = {"how": self.fill["how"], "values": list(self.fill["values"])}
        if self.categories:  # fewlabel predict encodes new rows' categories with these
            out["categories"] = {k: list(v) for k, v in self.categories.items()}
        if self.dates:  # and reads new rows' dates as these were read
            out["dates"] = {k: dict(v) for k, v in self.dates.items()}
        return out

    @property
    def labeled(self) -> np.ndarray:
        return self.y >= 0

    @property
    def labels(self) -> np.ndarray:
        """Class names per row (object array), None for unlabeled rows."""
        out = np.full(len(self.y), None, dtype=object)
        names = np.asarray(self.class_names, dtype=object)
        out[self.labeled] = names[self.y[self.labeled]]
        return out

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y[self.labeled], minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    def summary(self) -> str:
        """What reading found, in one or two lines: rows labeled in K classes (count each), rows unlabeled."""
        counts = ", ".join(f"{name} {n:,}" for name, n in self.class_counts().items())
        n_lab = int(self.labeled.sum())
        shape = "x".join(str(d) for d in self.X.shape[1:])
        what = {"images": "images", "table": "rows", "arrays": "rows"}[self.kind]
        return (f"{self.source}: {len(self.y):,} {what} of shape {shape}; {n_lab:,} labeled in "
                f"{len(self.class_names)} classes ({counts}), {len(self.y) - n_lab:,} unlabeled")


def _warn(notes: list[str], text: str) -> None:
    notes.append(text)
    warnings.warn(text, DataQualityWarning, stacklevel=3)


def _check_classes(data: PartlyLabeled, min_class_rows: int) -> PartlyLabeled:
    if not data.labeled.any():
        raise InputError(f"{data.source} has no labeled row: {_HOW_TO_LABEL[data.kind]}")
    if len(data.class_names) < 2:
        raise InputError(f"{data.source} has labeled rows of one class only ({data.class_names[0]!r}): a classifier "
                         f"needs at least two classes; {_HOW_TO_LABEL[data.kind]}")
    counts = data.class_counts()
    alike = {}  # names that a person would read as one class: the same but for case, spaces, '-' and '_'
    for name in counts:
        alike.setdefault(re.sub(r"[\s_\-]+", "", str(name).casefold()), []).append(name)
    for group in (g for g in alike.values() if len(g) > 1):
        listed = " and ".join(f"{name!r} ({counts[name]})" for name in group)
        _warn(data.notes, f"labels {listed} differ only in case, spaces, '-' or '_': read as {len(group)} classes, "
                          "as written; if they are one class, write them alike")
    few = {name: n for name, n in counts.items() if n < min_class_rows}
    if few:
        listed = ", ".join(f"{name!r} ({n})" for name, n in list(few.items())[:10])
        _warn(data.notes, f"{len(few)} class(es) with fewer than {min_class_rows} labeled rows: {listed}; the "
                          "model hardly knows them and the accuracy estimate says little about them: label a few more")
    if data.labeled.all():
        _warn(data.notes, f"{data.source} has no unlabeled row: there is nothing to label, and the unlabeled rows "
                          "that fewlabel learns from are missing")
    return data


_HOW_TO_LABEL = {
    "images": "put each labeled image into a sub-folder named after its class (FOLDER/cat/1.png), the unlabeled "
              f"ones loose in FOLDER or in FOLDER/{UNLABELED_FOLDER}/",
    "table": "give each labeled row its class in the label column (--label-column), and leave the cell empty for "
             "unlabeled rows",
    "arrays": "give y a class for each labeled row and -1 for the unlabeled ones",
}


# -- image folders ---------------------------------------------------------------------------------------
def _image_files(folder: Path, recursive: bool = False) -> tuple[list[Path], list[Path]]:
    """(images, other visible files) inside ``folder``: directly inside it, or with ``recursive`` in its
    sub-folders too (a class folder sorted by year, say), as ``fewlabel predict`` reads a folder. Hidden files
    and folders are left out."""
    from fewlabel.datasets.folders import IMAGE_EXTENSIONS

    images, others = [], []
    found = folder.rglob("*") if recursive else folder.iterdir()
    for p in sorted(found):
        if any(part.startswith(".") for part in p.relative_to(folder).parts) or not p.is_file():
            continue
        (images if p.suffix.lower() in IMAGE_EXTENSIONS else others).append(p)
    return images, others


def list_image_folder(root: Path, unlabeled_folder: str = UNLABELED_FOLDER):
    """``(files, class index per file (-1 unlabeled), class names, ignored files)`` of a partly labeled
    image folder, without opening any image."""
    if unlabeled_folder != UNLABELED_FOLDER and not (root / unlabeled_folder).is_dir():
        # named, and missing: most often a typo, and the folder meant would be read as a class
        there = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise InputError(f"the folder of unlabeled images {root / unlabeled_folder} does not exist (its sub-folders: "
                         f"{', '.join(there) or 'none'})")
    class_dirs = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")
                  and p.name != unlabeled_folder]
    if unlabeled_folder == UNLABELED_FOLDER:
        # "Unlabeled", "unlabelled", "un_labeled": meant as the unlabeled images, they would become a class
        # holding most of the rows, and every prediction would lean to it
        spelled = [p.name for p in class_dirs if spells_unlabeled(p.name)]
        if spelled:
            raise InputError(f"{root / spelled[0]} would be read as a class named {spelled[0]!r}: the unlabeled "
                             f"images go in {root / UNLABELED_FOLDER} (or loose in {root}); rename the folder, or "
                             f"name it with --unlabeled-folder {spelled[0]!r} (unlabeled_folder= in Python)")
    files, codes, ignored = [], [], []
    names = []
    for d in class_dirs:
        found, other = _image_files(d, recursive=True)
        ignored += other
        if not found:
            raise InputError(f"class folder {d} holds no image: a class with no labeled rows (remove the folder, or "
                             "put its labeled images in it)")
        names.append(d.name)
        files += found
        codes += [len(names) - 1] * len(found)
    loose, other = _image_files(root)
    ignored += other
    unl_dir = root / unlabeled_folder
    if unl_dir.is_dir():
        found, other = _image_files(unl_dir, recursive=True)
        ignored += other
        loose = loose + found
    files += loose
    codes += [-1] * len(loose)
    return files, np.asarray(codes, dtype=np.int64), names, ignored


def available_memory() -> int | None:
    """Bytes of memory the system can still give (Linux's MemAvailable), or None where it cannot say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(files: list[Path], root: Path, color, share: float = 0.5, size=None) -> None:
    """Refuse, before decoding anything, a folder whose images at their own size (or at ``size``) would take more
    than ``share`` of the memory left (a folder of camera photos: 36 MB each), estimated from the first image's
    header; the message suggests a ``--size`` with the photos' aspect. Where the header cannot be read or the
    memory is not known, nothing is checked here (reading then names a bad file)."""
    from PIL import Image

    from fewlabel.datasets.folders import GRAY_MODES, orientation

    free = available_memory()
    try:
        # the header only: nothing is decoded; from the file's bytes, as read_image opens it (a damaged chunk
        # length then cannot make Pillow allocate what it claims)
        with Image.open(io.BytesIO(files[0].read_bytes())) as im:
            width, height = im.size
            channels = 1 if (color or ("L" if im.mode in GRAY_MODES else "RGB")) == "L" else 3
            if orientation(im) in (5, 6, 7, 8):  # stored sideways: read upright (folders._upright)
                width, height = height, width
    except Exception:  # noqa: BLE001 - decoding names the file properly
        return
    shown = (width, height) if size is None else (size[1], size[0])
    need = len(files) * shown[0] * shown[1] * channels
    if free is None or need <= share * free:
        return
    # a size a network trains on (96 on the longest side), or smaller where even that would not fit
    side = max(1, min(96, int(max(shown) * math.sqrt(share * free / need))))
    width, height = shown
    suggest = f"{side}x{max(1, round(side * width / height))}" if height >= width else \
        f"{max(1, round(side * height / width))}x{side}"

    def amount(n):
        return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"

    read_as = f"are {width}x{height}" if size is None else f"read at {width}x{height}"
    raise InputError(f"the {len(files):,} images in {root} {read_as} (width x height; "
                     f"{files[0].relative_to(root)}): {amount(need)} as pixels, more than this machine's "
                     f"{amount(free)} of free memory can hold with room to train; read them smaller with "
                     f"--size HxW (size=(H, W) in Python), e.g. --size {suggest}")


def _workers(workers: int | None = None) -> int:
    return workers or min(8, (os.cpu_count() or 1) + 1)


def resolve_size(files: list[Path], size, max_side: int = MAX_SIDE, workers: int | None = None):
    """``(size, note)``: the size ``files`` are read at, as :func:`read_images` takes it, and what the user is
    told of it. ``size="auto"`` chooses one from the images' headers
    (:func:`~fewlabel.datasets.folders.auto_size`; the note says so where an image is resized, else None); a
    size given, or None, is checked and kept."""
    if not is_auto(size):
        return check_size(size), None
    max_side = check_max_side(max_side)
    with ThreadPoolExecutor(_workers(workers)) as pool:
        sizes = list(pool.map(header_size, files, chunksize=64))
    chosen = auto_size(sizes, max_side)
    return chosen, None if chosen is None else size_note(sizes, chosen, max_side)


def unreadable_images(bad: list, total: int, root: Path) -> CorruptFileError:
    """The error naming the images of ``bad`` (``(path, CorruptFileError)`` pairs) among ``total`` files of
    ``root`` that cannot be read."""
    shown = "; ".join(f"{f.relative_to(root)} ({str(e).split(': ', 1)[-1]})" for f, e in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    return CorruptFileError(f"{len(bad)} of the {total:,} files in {root} cannot be read as images: {shown}{more}; "
                            "remove or replace them")


def find_unreadable_images(files: list[Path], color=None, size=None, workers: int | None = None) -> list:
    """``(path, CorruptFileError)`` for each of ``files`` that cannot be read as an image (each decoded, a few at a
    time, and let go)."""
    from fewlabel.datasets.folders import read_image

    def one(path):
        try:
            read_image(path, color, size)
        except CorruptFileError as e:
            return path, e
        return None

    with ThreadPoolExecutor(_workers(workers)) as pool:
        return [r for r in pool.map(one, files, chunksize=64) if r is not None]


def read_images(files: list[Path], root: Path, size=None, color=None, workers: int | None = None) -> np.ndarray:
    """The images of ``files`` as one uint8 array, decoded by a few threads (Pillow releases the GIL).

    Every file that cannot be read is named in one error; images of different sizes are refused unless
    ``size`` resizes them (the error counts each size and names a file of each); a folder that would not fit
    in memory is refused before any image is decoded (:func:`check_fits_in_memory`).
    """
    from fewlabel.datasets.folders import read_image

    size = check_size(size)
    if files:
        check_fits_in_memory(files, root, color, size=size)
    workers = _workers(workers)

    def one(path):
        try:
            return read_image(path, color, size)
        except CorruptFileError as e:
            return e

    with ThreadPoolExecutor(workers) as pool:
        arrays = list(pool.map(one, files, chunksize=64))
    bad = [(f, a) for f, a in zip(files, arrays) if isinstance(a, CorruptFileError)]
    if bad:
        raise unreadable_images(bad, len(files), root)
    shapes: dict[tuple, list[Path]] = {}
    for f, a in zip(files, arrays):
        shapes.setdefault(a.shape[:2], []).append(f)
    if len(shapes) > 1:
        listed = ", ".join(f"{len(fs):,} of {w}x{h} (e.g. {fs[0].relative_to(root)})"
                           for (h, w), fs in sorted(shapes.items(), key=lambda kv: -len(kv[1]))[:4])
        raise InputError(f"the images in {root} differ in size: {listed} (width x height); read them at one size: "
                         "size='auto' (one chosen from theirs) or size=(H, W) in Python, --size HxW on the command "
                         "line")
    if color is None and any(a.ndim == 3 for a in arrays) and any(a.ndim == 2 for a in arrays):
        arrays = [a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2) for a in arrays]
    return np.stack(arrays)


def _duplicates(files: list[Path], codes: np.ndarray, names: list[str], root: Path, notes: list[str]) -> None:
    """Warn about files with the same bytes: under two classes, labeled and unlabeled, or twice unlabeled."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        groups.setdefault(hashlib.blake2b(f.read_bytes(), digest_size=16).hexdigest(), []).append(i)
    same = [g for g in groups.values() if len(g) > 1]
    if not same:
        return
    conflict = [g for g in same if len({int(codes[i]) for i in g if codes[i] >= 0}) > 1]
    mixed = [g for g in same if g not in conflict and (codes[g] >= 0).any() and (codes[g] < 0).any()]
    copies = sum(len(g) - 1 for g in same)
    rel = lambda i: str(files[i].relative_to(root))  # noqa: E731
    text = f"{copies:,} file(s) in {root} are byte-for-byte copies of others (e.g. {rel(same[0][1])} = {rel(same[0][0])})"
    if conflict:
        g = conflict[0]
        text += (f"; {len(conflict)} image(s) carry two different labels (e.g. {rel(g[0])} is {names[codes[g[0]]]!r}, "
                 f"{rel(g[1])} is {names[codes[g[1]]]!r}): fix the label")
    if mixed:
        text += f"; {len(mixed)} labeled image(s) also lie among the unlabeled ones"
    _warn(notes, text)


def read_partly_labeled_folder(path, unlabeled_folder: str = UNLABELED_FOLDER, size=AUTO, color=None,
                               min_class_rows: int = 5, max_side: int = MAX_SIDE) -> PartlyLabeled:
    """A partly labeled image folder (see the module docstring); :func:`read_partly_labeled` for the rest."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder")
    files, codes, names, ignored = list_image_folder(root, unlabeled_folder)
    if not files:
        raise InputError(f"no images in {root} or its sub-folders: {_HOW_TO_LABEL['images']}")
    notes: list[str] = []
    if not names:
        raise InputError(f"{root} holds {len(files):,} images but no labeled one: {_HOW_TO_LABEL['images']}")
    auto = is_auto(size)
    size, size_said = resolve_size(files, size, max_side)
    X = read_images(files, root, size, color)
    if size_said:
        _warn(notes, size_said)
    if ignored:
        kinds = sorted({p.suffix.lower() or p.name for p in ignored})
        notes.append(f"ignored {len(ignored):,} file(s) that are not images ({', '.join(kinds[:6])})")
    _duplicates(files, codes, names, root, notes)
    data = PartlyLabeled(X=X, y=codes, class_names=names, row_names=[str(f.relative_to(root)) for f in files],
                         source=str(path), kind="images", row_name_column="file", notes=notes,
                         read={"size": None if size is None else list(size), "color": color,
                               **({"max_side": int(max_side)} if auto else {})})
    return _check_classes(data, min_class_rows)


def read_image_folder_rows(path, size=AUTO, color=None, max_side: int = MAX_SIDE, unlabeled_folder=None):
    """``(X, codes, class_names, files)`` of an image folder as the commands read it whose labels only score or
    colour what they find (``fewlabel cluster``, ``detect``, ``pretrain``, ``map``): a class sub-folder's images
    coded by class, the unlabeled ones (in ``unlabeled_folder``, by default ``unlabeled/``, or loose in the folder)
    -1, as :func:`list_image_folder` finds them (another spelling of ``unlabeled`` is refused, naming the option);
    ``codes`` and ``class_names`` None where no image is labeled. Unlike :func:`read_partly_labeled_folder` nothing
    is refused or noted for want of labels: these commands learn from the images alone."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder")
    if not is_auto(size):
        check_size(size)
    check_max_side(max_side)
    files, codes, names, _ = list_image_folder(root, UNLABELED_FOLDER if unlabeled_folder is None else unlabeled_folder)
    if not files:
        from fewlabel.datasets.folders import IMAGE_EXTENSIONS

        raise InputError(f"no images in {root} or its sub-folders (looked for {', '.join(IMAGE_EXTENSIONS)}, any "
                         "case)")
    size, note = resolve_size(files, size, max_side)
    if note:
        warnings.warn(f"{root}: {note}", DataQualityWarning, stacklevel=2)
    X = read_images(files, root, size, color)
    return X, (codes if names else None), (names or None), files


# -- tables and arrays -------------------------------------------------------------------------------------
def table_row_names(ids, n_rows: int, path, id_column=None) -> list[str]:
    """What names each row of a table in the files fewlabel writes: its ``id_column`` value (refused when
    one value names two rows), else its number from 1, as ``fewlabel predict`` numbers rows."""
    if ids is None:
        return [str(i + 1) for i in range(n_rows)]
    row_names = [str(v) for v in ids]
    values, counts = np.unique(np.asarray(row_names, dtype=str), return_counts=True)
    if (counts > 1).any():
        repeated = ", ".join(repr(str(v)) for v in values[counts > 1][:3])
        raise InputError(f"{path}, id column {id_column!r}: {int((counts > 1).sum())} value(s) name more than one "
                         f"row ({repeated}); an id must name one row")
    return row_names


def read_partly_labeled_table(path, label_column=None, id_column=None, min_class_rows: int = 5,
                              missing: str = "refuse", categorical=None, dates=None) -> PartlyLabeled:
    """A partly labeled table (CSV / TSV / Parquet with ``label_column``; .npz with ``X`` and ``y``); ``missing``,
    ``categorical`` and ``dates`` as :func:`read_partly_labeled`."""
    from fewlabel.datasets.tables import check_missing, read_table_parts, reading_notes, table_suffix

    check_missing(missing)

    path = Path(path).expanduser()
    suffix = table_suffix(path)
    if suffix in (".npz", ".npy"):
        if label_column is not None or id_column is not None:
            raise InputError(f"{path} is a NumPy file: its labels are its array y (with -1 for unlabeled rows), "
                             "so --label-column / --id-column do not apply")
    elif label_column is None:
        from fewlabel.datasets.tables import label_like_columns

        likely = [f"{c['name']!r} ({c['filled']:,} filled with {c['values']:,} value(s), {c['empty']:,} empty)"
                  for c in label_like_columns(path)[:3]]
        hint = f". Column(s) that look like it: {'; '.join(likely)}" if likely else ""
        raise InputError(f"{path}: name the column that holds the labels (--label-column NAME, label_column= in "
                         f"Python); its empty cells mark the unlabeled rows{hint}")
    try:
        # what reading warns of (a workbook's other sheets) becomes a note of the data, as a folder's notes are
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataQualityWarning)
            parts = read_table_parts(path, label_column=label_column, id_column=id_column, partial_labels=True,
                                     missing=missing, categorical=categorical, dates=dates)
    except InputError as e:
        if "is not a number" in str(e):
            from fewlabel.datasets.tables import CATEGORIES_HINT

            if id_column is None:  # most often the rows' names, read as a feature
                raise InputError(f"{e} (a column of row names is not a feature: name it with --id-column, id_column= "
                                 f"in Python; {CATEGORIES_HINT})") from None
            raise InputError(f"{e} ({CATEGORIES_HINT})") from None
        raise
    notes: list[str] = []
    for w in caught:
        if issubclass(w.category, DataQualityWarning):
            _warn(notes, str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    X, y = parts["X"], parts["y"]
    for note in reading_notes(path, parts):
        _warn(notes, note)
    if y is None:
        raise InputError(f"{path} holds no labels: save X and y in an .npz (y = -1 for unlabeled rows), or use a table "
                         "with a label column")
    where = f"{path}, label column {parts['label_name']!r}" if parts.get("label_name") else f"{path} (array y)"
    codes, names = encode_labels(y, where)
    row_names = table_row_names(parts.get("ids"), len(X), path, id_column)
    kind = "arrays" if suffix in (".npz", ".npy") else "table"
    data = PartlyLabeled(X=X, y=codes, class_names=names, row_names=row_names, source=str(path), kind=kind,
                         row_name_column=str(id_column) if id_column is not None else "row",
                         feature_names=parts.get("feature_names"), label_column=parts.get("label_name"),
                         id_column=None if id_column is None else str(id_column), notes=notes, fill=parts.get("fill"),
                         categories=parts.get("categories"), dates=parts.get("dates"))
    return _check_classes(data, min_class_rows)


def read_partly_labeled(path, *, label_column=None, id_column=None, unlabeled_folder: str = UNLABELED_FOLDER,
                        size=AUTO, color=None, min_class_rows: int = 5, max_side: int = MAX_SIDE,
                        missing: str = "refuse", categorical=None, dates=None) -> PartlyLabeled:
    """Read partly labeled data as it is kept: an image folder, a table with a label column, or an .npz.

    Parameters
    ----------
    path : str or os.PathLike
        An image folder (one sub-folder per class; unlabeled images loose or in ``unlabeled_folder``), a
        ``.csv`` / ``.tsv`` / ``.txt`` / ``.parquet`` table (needs ``label_column``), or an ``.npz`` with
        ``X`` and ``y``.
    label_column : str or int
        Tables: the column of labels; an empty cell (or NaN, '?', -1, one of them) marks an unlabeled row.
    id_column : str or int, optional
        Tables: a column naming each row (not a feature); rows are otherwise named by their number.
    unlabeled_folder : str
        Image folders: the sub-folder of unlabeled images (default ``"unlabeled"``); images loose at the top
        are unlabeled too.
    size, color, max_side
        Image folders: the size images are read at, "auto" (the default: their own where they share one whose
        longest side is at most ``max_side``, 64 pixels; else their median shape scaled to it), (H, W), or None
        (as they are: images of different sizes are refused); ``color`` "L" or "RGB" (see
        :func:`~fewlabel.datasets.read_image_folder`).
    min_class_rows : int
        Warn (:class:`DataQualityWarning`) about each class with fewer labeled rows than this.
    missing : str
        Tables: what a missing feature cell (empty, NaN, ``?``, ...) meets: ``"refuse"`` (an InputError naming its
        row and column) or ``"fill"``: each filled with its column's median over every row of the file, labeled or
        not (said in a :class:`DataQualityWarning`). Either way the columns' medians are kept (``fill``), and a
        model trained on the rows keeps them, for ``fewlabel predict --missing fill``.
    categorical : list of str or int, optional
        Tables: feature columns of categories (words or codes), each read as one 0/1 column per category
        (``NAME=VALUE``; an empty cell sets none), said in a note; a model trained on the rows keeps the categories
        and ``fewlabel predict`` encodes new rows with them.
    dates : str, int, list or dict, optional
        Tables: feature columns of dates, read year first (``2024-03-05``, ``2024/03/05 14:30``) or, given as a dict
        of columns to formats, in that form (``{"day": "%d/%m/%Y"}``); each becomes days since 1970 and the point of
        the year and of the week (and of the day, where it holds times), said in a note (see
        :mod:`fewlabel.datasets.dates`). A model trained on the rows keeps how they were read, and ``fewlabel
        predict`` reads new rows' dates the same way.

    Raises InputError for data with no labeled row or a single class, labels marked unlabeled in two
    ways, images of mixed sizes (with ``size=None``); CorruptFileError naming every unreadable image.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"the data path must be a file or folder, got {path!r}")
    if not isinstance(min_class_rows, int) or isinstance(min_class_rows, bool) or min_class_rows < 1:
        raise InputError(f"min_class_rows must be a positive integer, got {min_class_rows!r}")
    p = Path(path).expanduser()
    if p.is_dir():
        if label_column is not None or id_column is not None:
            raise InputError(f"{p} is an image folder: its classes are its sub-folders, so --label-column / "
                             "--id-column do not apply")
        if categorical is not None or dates is not None or missing != "refuse":
            raise InputError(f"{p} is an image folder: --categorical / --dates / --missing apply to a table's cells")
        return read_partly_labeled_folder(p, unlabeled_folder, size, color, min_class_rows, max_side)
    if not (size is None or is_auto(size)) or color is not None:
        raise InputError(f"{p} is not an image folder: size / color apply to image folders only")
    if not p.exists():
        raise DataNotFoundError(f"no such file or folder: {p}")
    return read_partly_labeled_table(p, label_column, id_column, min_class_rows, missing, categorical, dates)
