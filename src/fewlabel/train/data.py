"""How batches reach the training loop.

Two ways, chosen by what the data is:

* in memory (NumPy arrays, tensors): moved to the device once, kept in their own dtype (images stay
  uint8, a quarter of float32's bytes), and batched by indexing with a random permutation made on the
  device. No DataLoader, no per-batch host-to-device copy, no worker processes.
* larger than memory (``np.memmap`` arrays, or any ``torch.utils.data.Dataset``): streamed through a
  DataLoader with worker processes and pinned memory.

Both give the same order for the same seed and epoch, which is what makes resuming exact.
"""

from __future__ import annotations

import math
import mmap
import warnings
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from fewlabel.errors import InputError


def host_tensor(a) -> torch.Tensor:
    """``a`` as a CPU tensor sharing its memory where it can (a copy only when it is not contiguous). The
    training loop and its answers only read it, so a read-only array (a memory-mapped or a caller's frozen
    one) is shared too, without torch's warning that writing to it would be undefined."""
    if isinstance(a, torch.Tensor):
        return a
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        return torch.from_numpy(a)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(a)


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed per (run seed, epoch): every epoch's randomness is fixed, so a resumed run repeats it."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 12345) % (2**63 - 1)


class _ArraysDataset(Dataset):
    """Rows of several equally long arrays (memory-mapped ones stay on disk until a row is read)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, i):
        return tuple(torch.from_numpy(np.array(a[i])) if isinstance(a, np.ndarray) else a[i] for a in self.arrays)


class RowsOf(Dataset):
    """Rows ``index`` of the array ``X``, without copying them.

    Where ``X`` lives in a file (memory-mapped), training reads the rows from it one batch at a time as it
    draws them: a held-out share of a file larger than memory, the rest never copied into memory. Where ``X``
    is in memory, :class:`Batches` indexes it in place on the CPU: the rows a network is taught (a share of
    them, or some of them repeated) cost an index, not a copy of the images.

    As a ``Dataset``, item ``i`` is row ``index[i]`` as a tensor; a slice gives those rows as an array (what
    ``predict_batches`` reads).
    """

    def __init__(self, X, index):
        self.X, self.index = X, np.asarray(index, dtype=np.int64)
        if self.index.ndim != 1:
            raise InputError(f"the row index must be one-dimensional, got shape {self.index.shape}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.X.shape[1:])

    @property
    def dtype(self):
        return self.X.dtype

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return np.asarray(self.X[self.index[i]])
        return torch.from_numpy(np.array(self.X[self.index[i]]))

    def __getitems__(self, items):
        # one read for the batch, in the file's order
        rows = self.index[np.asarray(items, dtype=np.int64)]
        order = np.argsort(rows, kind="stable")
        batch = np.empty((len(rows), *self.X.shape[1:]), dtype=self.X.dtype)
        batch[order] = self.X[rows[order]]
        return list(torch.from_numpy(batch))


def is_mapped(X) -> bool:
    """Whether the array ``X`` (or the array it views) is memory-mapped from a file."""
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False


def epoch_order(n: int, rows: int, shuffle: bool, seed: int, device=None) -> torch.Tensor:
    """The row indices of one epoch: ``rows`` of them, from ``ceil(rows / n)`` passes over the ``n`` rows,
    each pass a permutation seeded by ``seed`` and the pass (the first by ``seed`` alone)."""
    passes = []
    for p in range(math.ceil(rows / n)):
        if shuffle:
            g = torch.Generator(device=device).manual_seed(seed if p == 0 else epoch_seed(seed, p))
            passes.append(torch.randperm(n, generator=g, device=device))
        else:
            passes.append(torch.arange(n, device=device))
    order = passes[0] if len(passes) == 1 else torch.cat(passes)
    return order[:rows]


class _ShardedPermutation(Sampler):
    """This process's share of a seeded epoch order (all of it when not distributed)."""

    def __init__(self, n, rows, shuffle, seed_fn, rank, world):
        self.n, self.rows, self.shuffle, self.seed_fn, self.rank, self.world = n, rows, shuffle, seed_fn, rank, world
        self.epoch = 0

    def __iter__(self):
        order = epoch_order(self.n, self.rows, self.shuffle, self.seed_fn(self.epoch))
        per_rank = len(self)
        return iter(order[self.rank * per_rank : (self.rank + 1) * per_rank].tolist())

    def __len__(self):
        return self.rows // self.world if self.world > 1 else self.rows


class Batches:
    """Batches of one dataset for one process.

    ``data`` is an array, a tensor, a tuple of them (equal length: e.g. ``(X, y)``), or a
    ``torch.utils.data.Dataset`` whose items are tuples of tensors. ``epoch_rows``: rows per epoch
    (default: each row once); more than there are repeats the rows in several shuffled passes.
    """

    def __init__(
        self,
        data,
        batch_size: int,
        device: torch.device,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        num_workers: int = 0,
        stream: bool | None = None,
        name: str = "data",
        epoch_rows: int | None = None,
    ):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size, self.device, self.shuffle, self.seed = int(batch_size), device, shuffle, seed
        self.rank, self.world = rank, world
        if isinstance(data, Dataset) and not isinstance(data, _ArraysDataset) \
                and not (isinstance(data, RowsOf) and not is_mapped(data.X)):
            arrays, dataset = None, data
            stream = True
        else:
            arrays = tuple(data) if isinstance(data, (tuple, list)) else (data,)
            if not arrays:
                raise InputError(f"{name} is empty: no arrays given")
            lengths = {len(a) for a in arrays}
            if len(lengths) != 1:
                raise InputError(f"{name}: arrays of different lengths {sorted(lengths)} cannot be batched together")
            if stream is None:
                stream = any(isinstance(a, np.memmap) or (isinstance(a, RowsOf) and is_mapped(a.X))
                             for a in arrays)
            dataset = _ArraysDataset(arrays) if stream else None
        self.n = len(dataset) if stream else len(arrays[0])
        if self.n == 0:
            raise InputError(f"{name} is empty (0 rows): nothing to train or evaluate on")
        if world > 1 and self.n < world:
            raise InputError(f"{name} has {self.n} rows, fewer than the {world} processes sharing it")
        if epoch_rows is not None and (not isinstance(epoch_rows, (int, np.integer)) or epoch_rows < 1):
            raise InputError(f"epoch_rows must be a positive integer or None, got {epoch_rows!r}")
        self.epoch_rows = self.n if epoch_rows is None else int(epoch_rows)
        self.stream = stream
        if stream:
            self._dataset = dataset
            self._sampler = _ShardedPermutation(self.n, self.epoch_rows, shuffle, lambda e: epoch_seed(seed, e),
                                                rank, world)
            # A generator of its own: otherwise the DataLoader draws its workers' base seed from the global
            # RNG, shifting the dropout/noise randomness of the step and breaking exact resume.
            self._loader_rng = torch.Generator()
            self._loader = DataLoader(
                dataset,
                batch_size=self.batch_size,
                sampler=self._sampler,
                num_workers=num_workers,
                pin_memory=device.type == "cuda",
                persistent_workers=num_workers > 0,
                drop_last=False,
                generator=self._loader_rng,
            )
        else:
            self.tensors, self.indices = zip(*(self._to_device(a) for a in arrays))

    def _to_device(self, a) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the rows on the device, the index into them a batch goes through, or None)."""
        if isinstance(a, RowsOf):
            if self.device.type == "cpu":  # the array is shared, not copied: the index picks the rows
                return host_tensor(a.X), torch.from_numpy(a.index)
            a = a.X[a.index]  # an accelerator holds only the rows it trains on
        return host_tensor(a).to(self.device, non_blocking=True), None

    @property
    def rows_per_process(self) -> int:
        return self.epoch_rows // self.world if self.world > 1 else self.epoch_rows

    def first(self, k: int) -> tuple[torch.Tensor, ...]:
        """The first ``k`` rows (at most all), as one batch on the device."""
        k = min(int(k), self.n)
        if not self.stream:
            return tuple(t[:k] if ix is None else t[ix[:k]] for t, ix in zip(self.tensors, self.indices))
        items = [self._dataset[i] for i in range(k)]
        items = [it if isinstance(it, (tuple, list)) else (it,) for it in items]
        return tuple(torch.stack([torch.as_tensor(it[j]) for it in items]).to(self.device)
                     for j in range(len(items[0])))

    def __len__(self) -> int:
        return math.ceil(self.rows_per_process / self.batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """The batches of one epoch, in an order fixed by (seed, epoch)."""
        if self.stream:
            self._sampler.epoch = epoch
            self._loader_rng.manual_seed(epoch_seed(self.seed, epoch) + 1)
            for batch in self._loader:
                batch = batch if isinstance(batch, (tuple, list)) else (batch,)
                yield tuple(b.to(self.device, non_blocking=True) for b in batch)
            return
        order = epoch_order(self.n, self.epoch_rows, self.shuffle, epoch_seed(self.seed, epoch), self.device)
        per = self.rows_per_process
        order = order[self.rank * per : (self.rank + 1) * per]
        for start in range(0, per, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield tuple(t[idx] if ix is None else t[ix[idx]] for t, ix in zip(self.tensors, self.indices))


def as_tuple(data) -> Sequence:
    return tuple(data) if isinstance(data, (tuple, list)) else (data,)
