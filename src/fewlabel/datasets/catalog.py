"""``load(name)``: find a named dataset on disk (or download it), verify it, and return NumPy arrays.

Places are searched in this order, and the first that holds every file of the requested split wins:

1. ``root=`` itself, then ``root/<name>``;
2. ``$FEWLABEL_DATA/<name>``;
3. the cache, ``$FEWLABEL_CACHE/<name>`` or ``platformdirs.user_cache_dir("fewlabel")/<name>``;
4. system folders, e.g. ``/usr/share/datasets/fashion-mnist`` from Debian's ``dataset-fashion-mnist``.

For STL-10 and CIFAR-10 each place may also hold the archive's own folder (``stl10_binary/``,
``cifar-10-batches-bin/``). If none has the files, and downloading is allowed, the files are downloaded
into the cache. If that fails too, one DataNotFoundError lists every place looked and every URL tried.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fewlabel.datasets import cifar, registry, stl10
from fewlabel.datasets.download import cache_dir, fetch_first, file_md5, offline, safe_extract
from fewlabel.datasets.idx import read_idx
from fewlabel.errors import CorruptFileError, DataNotFoundError, DownloadError, InputError


def _check_split(info: registry.DatasetInfo, split) -> str:
    if not isinstance(split, str) or split.strip().lower() not in info.splits:
        raise InputError(f"{info.name} has splits {', '.join(info.splits)}; got split={split!r}")
    return split.strip().lower()


def _check_root(root) -> Path | None:
    """An explicit ``root`` must be an existing folder: it is the only place then searched, so a typo must not
    quietly read the data of another place."""
    if root is None:
        return None
    if not isinstance(root, (str, os.PathLike)):
        raise InputError(f"root must be a folder path (str or os.PathLike), got {type(root).__name__}")
    path = Path(root).expanduser()
    if not str(root).strip():
        raise InputError("root is an empty path (an unset variable?): give the folder that holds the dataset")
    if not path.exists():
        raise DataNotFoundError(f"root {path} does not exist: give the folder that holds the dataset's files (or "
                                "leave root out to search $FEWLABEL_DATA, the cache and the system folders)")
    if not path.is_dir():
        raise InputError(f"root {path} is a file, not a folder: give the folder that holds the dataset's files")
    return path


def _places(info: registry.DatasetInfo, root: Path | None) -> list[tuple[str, Path | None]]:
    """(label, folder) pairs in search order. The label says why the folder is searched; the folder is
    None for an unset $FEWLABEL_DATA, listed anyway so that messages show it was considered."""
    subs = registry.folder_names(info.name)
    inner = [registry.ARCHIVES[info.name].folder] if info.name in registry.ARCHIVES else []
    if root is not None:  # the user said where: nowhere else is searched
        return [("root=", root)] + [("root=", root / s) for s in subs + inner]
    places = []
    data = os.environ.get("FEWLABEL_DATA", "").strip()
    if data:
        data_dir = Path(data).expanduser()
        # Also the archive's folder straight under FEWLABEL_DATA: what `tar xzf` there produces.
        places += [("$FEWLABEL_DATA", data_dir / s) for s in subs + inner]
    else:
        places.append(("$FEWLABEL_DATA", None))
    places += [("cache", cache_dir() / s) for s in subs]
    places += [("system folder", Path(f)) for f in registry.SYSTEM_FOLDERS.get(info.name, [])]
    return places


def _split_files(info: registry.DatasetInfo, split: str) -> list[str]:
    if info.kind == "idx":
        return list(registry.IDX_FILES[split])
    return (stl10 if info.kind == "stl10" else cifar).split_files(split)


def _probe(info: registry.DatasetInfo, split: str, place: Path | None) -> tuple[Path | None, str]:
    """Whether ``place`` holds every file of the split. Returns (folder holding them or None, a note
    saying what is missing, for the not-found message). Only checks that files exist: cheap."""
    if place is None:
        return None, "not set"
    if not place.is_dir():
        return None, "does not exist" if not place.exists() else "is not a folder"
    files = _split_files(info, split)
    if info.kind == "idx":
        missing = [f for f in files if not (place / f).is_file() and not (place / f"{f}.gz").is_file()]
        return (place, "") if not missing else (None, "no " + ", ".join(f"{f}[.gz]" for f in missing))
    inner = registry.ARCHIVES[info.name].folder
    for candidate in (place, place / inner):
        if all((candidate / f).is_file() for f in files):
            return candidate, ""
    return None, f"no {', '.join(files)} (nor in {inner}/ inside it)"


def _idx_file(folder: Path, name: str) -> Path:
    # Prefer the uncompressed file when both exist: it is read without decompressing.
    return folder / name if (folder / name).is_file() else folder / f"{name}.gz"


def _read_idx_split(name: str, split: str, folder: Path):
    images_name, labels_name = registry.IDX_FILES[split]
    sums = registry.IDX_SHA256[name]
    images_path, labels_path = _idx_file(folder, images_name), _idx_file(folder, labels_name)
    X = read_idx(images_path, sha256=sums[images_name])
    y = read_idx(labels_path, sha256=sums[labels_name])
    # The checksums pin the content; these checks guard against a registry edited by hand.
    if X.ndim != 3 or X.dtype != np.uint8 or y.ndim != 1 or len(X) != len(y):
        raise CorruptFileError(
            f"{images_path} / {labels_path}: expected uint8 images (N, H, W) and N labels, got images "
            f"{X.shape} {X.dtype} and labels {y.shape}"
        )
    if len(y) and y.max() > 9:
        raise CorruptFileError(f"{labels_path}: label {int(y.max())} outside 0..9")
    return X, y.astype(np.int64)


def _read(info: registry.DatasetInfo, split: str, folder: Path):
    if info.kind == "idx":
        return _read_idx_split(info.name, split, folder)
    if info.kind == "stl10":
        return stl10.read_stl10(folder, split)
    return cifar.read_cifar10(folder, split)


def _load_digits(split: str):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0..16 ink counts -> 0..255 so that digits looks like every other uint8 image dataset.
    X = np.round(digits.images * 255 / 16).astype(np.uint8)
    y = digits.target.astype(np.int64)
    if split == "all":
        return X, y
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    return (X_train, y_train) if split == "train" else (X_test, y_test)


def _download(info: registry.DatasetInfo, split: str):
    """Download what the split needs into the cache. Returns (folder or None, failed attempts)."""
    dest = cache_dir() / info.name
    created = not dest.exists()
    try:
        folder, failed = _download_into(info, split, dest)
    finally:
        if created:
            try:
                dest.rmdir()  # only succeeds if empty: a failed first download leaves no trace
            except OSError:
                pass
    return folder, failed


def _download_into(info: registry.DatasetInfo, split: str, dest: Path):
    failed = []
    if info.kind == "idx":
        bases = registry.MIRRORS.get(info.name, [])
        for name in registry.IDX_FILES[split]:
            if (dest / name).is_file() or (dest / f"{name}.gz").is_file():
                continue  # the other file of the pair was downloaded earlier
            sha = registry.IDX_SHA256[info.name][name]
            urls = [(b if b.endswith("/") else b + "/") + f"{name}.gz" for b in bases]
            ok, attempts = fetch_first(urls, dest / f"{name}.gz", verify=lambda p, sha=sha: read_idx(p, sha))
            failed += attempts
            if ok is None:
                return None, failed
        return dest, failed

    archive = registry.ARCHIVES[info.name]

    def check_md5(path: Path) -> None:
        actual = file_md5(path)
        if actual != archive.md5:
            raise CorruptFileError(f"checksum mismatch for {path}: md5 is {actual}, expected {archive.md5}")

    archive_path = dest / archive.filename
    ok, failed = fetch_first(archive.urls, archive_path, verify=check_md5)
    if ok is None:
        return None, failed
    try:
        folder = safe_extract(archive_path, dest, archive.folder)
    finally:
        archive_path.unlink(missing_ok=True)  # the extracted files are what we keep (saves 2.6 GB for STL-10)
    return folder, failed


def _how_to_get(info: registry.DatasetInfo) -> str:
    if info.kind == "idx":
        files = ", ".join(f for pair in registry.IDX_FILES.values() for f in pair)
        text = (
            f"To get the data: put the IDX files ({files}; .gz or not) in a folder and pass root=<folder>, "
            f"or set FEWLABEL_DATA to a folder holding {info.name}/ with those files, or run once with "
            f"download=True on a machine that reaches the internet (files go to {cache_dir() / info.name})."
        )
        if info.name == "fashion-mnist":
            text += " On Debian/Ubuntu: apt-get install dataset-fashion-mnist."
        return text
    archive = registry.ARCHIVES[info.name]
    return (
        f"To get the data: download {archive.urls[0]} (md5 {archive.md5}), extract it, and pass "
        f"root=<folder holding {archive.folder}/> or set FEWLABEL_DATA to a folder holding {info.name}/ or "
        f"{archive.folder}/; or run with download=True on a machine that reaches the internet."
    )


def load(name: str, split: str = "train", root=None, download: bool = True):
    """Load a named dataset as NumPy arrays.

    Parameters
    ----------
    name : str
        "digits", "mnist", "fashion-mnist" (or "fashion_mnist"), "stl10" or "cifar10"; case-insensitive.
    split : str
        "train" or "test"; also "all" for digits and "unlabeled" for stl10.
    root : str or os.PathLike, optional
        A folder holding the dataset's files directly, or holding ``<name>/``. Searched first.
    download : bool
        Download into the cache when no local copy is found (skipped when ``$FEWLABEL_OFFLINE`` is set).

    Returns
    -------
    X : numpy.ndarray, uint8
        (N, H, W) for grayscale datasets, (N, H, W, C) for colour ones.
    y : numpy.ndarray of int64 in 0..K-1, or None for an unlabeled split.

    Raises
    ------
    InputError
        Unknown name or split, or a bad argument type.
    DataNotFoundError
        No local copy and no download worked; the message lists every place looked and every URL tried.
    CorruptFileError
        A local file fails its checksum or format checks; the message names the file.
    DownloadError
        A server answered with bytes that fail the published checksum.
    """
    info = registry.lookup(name)
    split = _check_split(info, split)
    root = _check_root(root)
    if not isinstance(download, (bool, np.bool_)):
        raise InputError(f"download must be True or False, got {download!r}")
    if info.kind == "sklearn":
        return _load_digits(split)

    looked = []
    for label, place in _places(info, root):
        folder, note = _probe(info, split, place)
        if folder is not None:
            return _read(info, split, folder)
        looked.append(f"{label}: {note}" if place is None else f"{label} {place}: {note}")

    failed = []
    if root is not None:
        why_no_download = "Not downloading: root= says where the files are, so only that folder is read."
    elif not download:
        why_no_download = "Not downloading: download=False."
    elif offline():
        why_no_download = "Not downloading: $FEWLABEL_OFFLINE is set."
    else:
        folder, failed = _download(info, split)
        if folder is not None:
            return _read(info, split, folder)
        why_no_download = "Download failed:" if failed else "Not downloading: no download address is known."

    lines = [f"{info.name} ({split} split) not found.", "Looked in:"]
    lines += [f"  - {entry}" for entry in looked]
    lines.append(why_no_download)
    lines += [f"  - {a.error if a.error.startswith(a.url) else f'{a.url}: {a.error}'}" for a in failed]
    lines.append(_how_to_get(info))
    message = "\n".join(lines)
    # A server that answers with wrong bytes is a different problem from no network: say so by type.
    if any(a.bad_bytes for a in failed):
        raise DownloadError(message)
    raise DataNotFoundError(message)


def _digits_file() -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"


def describe(root=None) -> list[dict]:
    """Where each known dataset is, without downloading or reading anything.

    Returns one dict per dataset with keys ``name``, ``description``, ``splits`` (all splits),
    ``available`` (splits found), ``path`` (folder of the first split found, or None) and ``looked``
    (every place searched, in order).
    """
    root = _check_root(root)
    rows = []
    for info in registry.DATASETS.values():
        if info.kind == "sklearn":
            path = _digits_file()
            found = path.is_file()
            rows.append(dict(name=info.name, description=info.description, splits=list(info.splits),
                             available=list(info.splits) if found else [],
                             path=str(path.parent) if found else None, looked=[str(path)]))
            continue
        places = _places(info, root)
        available, path = [], None
        for split in info.splits:
            for _, place in places:
                folder, _ = _probe(info, split, place)
                if folder is not None:
                    available.append(split)
                    path = path or str(folder)
                    break
        rows.append(dict(name=info.name, description=info.description, splits=list(info.splits),
                         available=available, path=path,
                         looked=[f"{label} (not set)" if p is None else f"{label} {p}" for label, p in places]))
    return rows


def format_description(rows: list[dict]) -> str:
    """A readable table of ``describe()``'s rows, for ``fewlabel datasets``."""
    headers = ("dataset", "splits", "found at")
    table = []
    for r in rows:
        missing = [s for s in r["splits"] if s not in r["available"]]
        splits = ", ".join(r["splits"])
        if r["path"] is None:
            where = "not found"
        elif missing:
            where = f"{r['path']} ({', '.join(missing)} missing)"
        else:
            where = r["path"]
        table.append((r["name"], splits, where))
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers[:2])]
    out = [f"{headers[0]:<{widths[0]}}  {headers[1]:<{widths[1]}}  {headers[2]}",
           f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * len(headers[2])}"]
    out += [f"{n:<{widths[0]}}  {s:<{widths[1]}}  {w}" for n, s, w in table]
    for r in rows:
        if r["path"] is None:
            out.append("")
            out.append(f"{r['name']}: looked in")
            out += [f"  {place}" for place in r["looked"]]
    if any(r["path"] is None for r in rows):
        out.append("")
        out.append(
            "Missing datasets are downloaded into the cache on first fewlabel.datasets.load(name) "
            f"({cache_dir()}), or set FEWLABEL_DATA to a folder holding <name>/ folders."
        )
    return "\n".join(out)
