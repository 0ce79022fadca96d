"""What fewlabel knows about each named dataset: its splits, files, checksums and download addresses.

Everything here is plain module-level data on purpose: tests (and users behind a proxy or with a local
mirror) can point ``MIRRORS`` / ``ARCHIVES`` / ``SYSTEM_FOLDERS`` elsewhere, e.g. with
``monkeypatch.setitem(registry.MIRRORS, "mnist", ["http://127.0.0.1:8000/"])``. The loaders read these
dictionaries at call time, never copies of them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from fewlabel.errors import InputError


@dataclass(frozen=True)
class DatasetInfo:
    """One named dataset: its canonical name, splits, how it is stored, and a one-line description."""

    name: str
    splits: tuple[str, ...]
    kind: str  # "sklearn", "idx", "stl10" or "cifar10": which reader handles it
    description: str
    labeled_splits: tuple[str, ...] = ()  # splits that come with labels (the others give y=None)


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        "digits", ("train", "test", "all"), "sklearn",
        "scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), bundled, never downloaded",
        ("train", "test", "all"),
    ),
    "mnist": DatasetInfo(
        "mnist", ("train", "test"), "idx",
        "MNIST handwritten digits, 28x28 grayscale, 60,000 train + 10,000 test, 10 classes",
        ("train", "test"),
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", ("train", "test"), "idx",
        "Fashion-MNIST (Zalando), 28x28 grayscale, 60,000 train + 10,000 test, 10 classes",
        ("train", "test"),
    ),
    "stl10": DatasetInfo(
        "stl10", ("train", "test", "unlabeled"), "stl10",
        "STL-10, 96x96 colour, 5,000 train + 8,000 test (10 classes) + 100,000 unlabeled",
        ("train", "test"),
    ),
    "cifar10": DatasetInfo(
        "cifar10", ("train", "test"), "cifar10",
        "CIFAR-10, 32x32 colour, 50,000 train + 10,000 test, 10 classes",
        ("train", "test"),
    ),
}

# Other spellings people use; looked up after lower-casing.
ALIASES: dict[str, str] = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "stl-10": "stl10",
    "stl_10": "stl10",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}

# --- MNIST / Fashion-MNIST -------------------------------------------------------------------------
# The four IDX files per dataset, by split: (images, labels). Names without ".gz": a folder may hold
# either the gzip-compressed or the uncompressed file.
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# sha256 of the *decompressed* IDX bytes. Gzip output differs between compressors and mirrors, so the
# .gz bytes cannot be pinned; the IDX content is the same everywhere.
IDX_SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

# Base URLs, tried in order; the file URL is base + "<file>.gz".
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}

# --- STL-10 / CIFAR-10 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """An official .tar.gz release: where to get it, its published md5, the folder it unpacks to."""

    urls: tuple[str, ...]
    md5: str
    folder: str  # the top-level folder inside the archive, which holds the binary files
    filename: str  # what the archive is called while it is being downloaded


# md5s as published by the dataset authors (CIFAR-10 page) and used by torchvision's STL10/CIFAR10.
ARCHIVES: dict[str, Archive] = {
    "stl10": Archive(
        urls=("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",),
        md5="91f7769df0f17e558f3565bffb0c7dfb",
        folder="stl10_binary",
        filename="stl10_binary.tar.gz",
    ),
    "cifar10": Archive(
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
        md5="c32a1d4ab5d03f1284b67883e8d87530",
        folder="cifar-10-batches-bin",
        filename="cifar-10-binary.tar.gz",
    ),
}

# Folders that operating-system packages install datasets into (Debian's dataset-fashion-mnist).
SYSTEM_FOLDERS: dict[str, list[str]] = {
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": ["/usr/share/datasets/mnist"],
}


def lookup(name) -> DatasetInfo:
    """The DatasetInfo for ``name`` (case-insensitive, aliases accepted); InputError if unknown."""
    if not isinstance(name, str):
        raise InputError(f"dataset name must be a string, got {type(name).__name__}: {name!r}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}."
                         f"{did_you_mean(name)}")
    return DATASETS[key]


def known(name) -> bool:
    """Whether ``name`` is a dataset fewlabel knows (case-insensitive, aliases accepted)."""
    key = str(name).strip().lower()
    return ALIASES.get(key, key) in DATASETS


def did_you_mean(name) -> str:
    """' Did you mean 'mnist'?' for the known dataset ``name`` looks most like a misspelling of, else ''."""
    hint = difflib.get_close_matches(str(name).strip().lower(), sorted(DATASETS) + sorted(ALIASES), n=1)
    return f" Did you mean {ALIASES.get(hint[0], hint[0])!r}?" if hint else ""


# Sub-folder names a data root may use for a dataset besides its canonical name.
FOLDER_ALIASES: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("fashion_mnist",),
}


def folder_names(name: str) -> list[str]:
    """Sub-folder names under which a data root may hold this dataset: canonical name first."""
    return [name, *FOLDER_ALIASES.get(name, ())]
