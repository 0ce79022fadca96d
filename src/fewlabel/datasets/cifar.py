"""Reader for the official *binary* release of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html).

The folder ``cifar-10-batches-bin/`` holds ``data_batch_1.bin`` .. ``data_batch_5.bin`` (training) and
``test_batch.bin``. Each record is 1 label byte (0..9) then 3072 pixel bytes: the 1024 red values of the
32x32 image in row-major order, then the 1024 green, then the 1024 blue. We read this version, not the
Python one, because the Python version is a pickle, and unpickling a downloaded file can run code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError

SIDE = 32
RECORD_BYTES = 1 + 3 * SIDE * SIDE  # 3073
N_CLASSES = 10
SPLITS = ("train", "test")


def split_files(split: str) -> list[str]:
    """The batch files that make up a split, in order."""
    if split == "train":
        return [f"data_batch_{i}.bin" for i in range(1, 6)]
    return ["test_batch.bin"]


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataNotFoundError(f"CIFAR-10 batch file not found: {path}")
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise CorruptFileError(
            f"{path} is truncated or not a CIFAR-10 binary batch: its size, {size} bytes, is not a positive "
            f"multiple of the {RECORD_BYTES}-byte record (1 label byte + 3x32x32 pixels)"
        )
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0]
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise CorruptFileError(
            f"{path}: record {int(bad[0])} has label byte {int(labels[bad[0]])}, CIFAR-10 labels are "
            f"0..{N_CLASSES - 1} ({bad.size} bad records in all); the file is damaged or is CIFAR-100"
        )
    # (N, channel, row, column) -> (N, row, column, channel)
    images = records[:, 1:].reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)
    return images, labels


def read_cifar10(folder, split: str = "train"):
    """Read one split of CIFAR-10 from ``folder`` (the ``cifar-10-batches-bin`` folder).

    Returns
    -------
    X : numpy.ndarray, uint8, shape (N, 32, 32, 3)
        Height, width, channel (RGB), contiguous.
    y : numpy.ndarray, int64, shape (N,), values 0..9
    """
    if split not in SPLITS:
        raise InputError(f"CIFAR-10 split must be one of {SPLITS}, got {split!r}")
    folder = Path(folder)
    parts = [_read_batch(folder / f) for f in split_files(split)]
    X = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return X, y
