"""Reader for the official binary release of STL-10 (https://cs.stanford.edu/~acoates/stl10/).

The folder ``stl10_binary/`` holds ``{train,test,unlabeled}_X.bin`` (uint8 images, each 3x96x96 stored
channel by channel, each channel column-major) and ``{train,test}_y.bin`` (one uint8 label 1..10 per
image). The unlabeled file is 2.7 GB, so images are memory-mapped rather than read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError

SIDE = 96
CHANNELS = 3
IMAGE_BYTES = CHANNELS * SIDE * SIDE  # 27648
SPLITS = ("train", "test", "unlabeled")
N_CLASSES = 10


def split_files(split: str) -> list[str]:
    """The file names one split needs (images first)."""
    return [f"{split}_X.bin"] if split == "unlabeled" else [f"{split}_X.bin", f"{split}_y.bin"]


def read_stl10(folder, split: str = "train"):
    """Read one split of STL-10 from ``folder`` (the ``stl10_binary`` folder).

    Returns
    -------
    X : numpy.ndarray, uint8, shape (N, 96, 96, 3)
        Height, width, channel (like PIL). For "unlabeled" this is a read-only view of a memory map, so
        the 2.7 GB file is paged in as you index it; for "train"/"test" it is an ordinary array.
    y : numpy.ndarray of int64 in 0..9, or None for "unlabeled"
    """
    if split not in SPLITS:
        raise InputError(f"STL-10 split must be one of {SPLITS}, got {split!r}")
    folder = Path(folder)
    x_path = folder / f"{split}_X.bin"
    if not x_path.is_file():
        raise DataNotFoundError(f"STL-10 images not found: {x_path}")
    size = x_path.stat().st_size
    if size == 0:
        raise CorruptFileError(f"{x_path} is empty (0 bytes); delete it and get STL-10 again")
    if size % IMAGE_BYTES:
        raise CorruptFileError(
            f"{x_path} is truncated or not an STL-10 image file: its size, {size} bytes, is not a multiple of "
            f"{IMAGE_BYTES} (one 3x96x96 image); {size // IMAGE_BYTES} whole images and {size % IMAGE_BYTES} "
            "stray bytes"
        )
    n = size // IMAGE_BYTES
    # On disk: image, channel, column, row. transpose(0, 3, 2, 1) makes it image, row, column, channel.
    raw = np.memmap(x_path, dtype=np.uint8, mode="r", shape=(n, CHANNELS, SIDE, SIDE))
    X = raw.transpose(0, 3, 2, 1)

    if split == "unlabeled":
        return X, None

    y_path = folder / f"{split}_y.bin"
    if not y_path.is_file():
        raise DataNotFoundError(f"STL-10 labels not found: {y_path} (the images are in {x_path})")
    labels = np.fromfile(y_path, dtype=np.uint8)
    if len(labels) != n:
        raise CorruptFileError(
            f"{y_path} holds {len(labels)} labels but {x_path} holds {n} images; one of them is truncated"
        )
    bad = np.flatnonzero((labels < 1) | (labels > N_CLASSES))
    if bad.size:
        raise CorruptFileError(
            f"{y_path}: label {int(labels[bad[0]])} at position {int(bad[0])} is outside 1..{N_CLASSES} "
            f"({bad.size} bad labels in all)"
        )
    # The labeled splits are small (138 MB / 221 MB): read them into ordinary contiguous memory.
    return np.ascontiguousarray(X), labels.astype(np.int64) - 1
