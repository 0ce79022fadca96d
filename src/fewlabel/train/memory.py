"""Freed memory kept for the next step while a network trains (glibc's malloc, on Linux).

Every training step allocates and frees the same large buffers (activations, gradients, a batch). glibc's
malloc hands memory back to the system as soon as more than its trim threshold is free at the top of its heap
(64 MiB at most, by its own rule), and serves each block over its mmap threshold (32 MiB at most) from a fresh
mapping that ``free`` unmaps. Either way the next step takes the same memory back from the system one page at a
time: the kernel faults in and zeroes every page again, step after step, a large share of a small network's
step (``benchmarks/allocator.py`` measures it).

:func:`steady_allocations` raises both thresholds while training runs, so freed blocks stay in the heap for the
next step, and when the outermost one ends it sets them to the values glibc's own rule ends at and returns the
free memory to the system (``malloc_trim``): a long-lived process (a notebook) does not keep what training used.
The resident memory during training is the same: the peak is what the step needs either way.

``FEWLABEL_MALLOC=system`` in the environment leaves malloc's settings alone. Other C libraries (musl, macOS,
Windows) are left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: while training: blocks up to 1 GiB come from the heap, and up to 2 GiB free in it is kept (mallopt takes a C int)
TRAINING_MMAP_THRESHOLD = 1 << 30
TRAINING_TRIM_THRESHOLD = (1 << 31) - 1
#: afterwards: where glibc's dynamic thresholds end up on a 64-bit machine
AFTER_MMAP_THRESHOLD = 32 << 20
AFTER_TRIM_THRESHOLD = 64 << 20

_lock = threading.Lock()
_depth = 0
_glibc_handle = None


def _glibc():
    """glibc, or None where malloc is someone else's or the user asked to leave it alone."""
    global _glibc_handle
    if not sys.platform.startswith("linux") or os.environ.get("FEWLABEL_MALLOC", "").strip().lower() == "system":
        return None
    if _glibc_handle is None:
        try:
            libc = ctypes.CDLL(None)
            libc.gnu_get_libc_version.restype = ctypes.c_char_p  # only glibc has it
            libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            libc = False
        _glibc_handle = libc
    return _glibc_handle or None


def _set(libc, mmap_threshold: int, trim_threshold: int) -> None:
    libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
    libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)


@contextlib.contextmanager
def steady_allocations():
    """Keep freed memory for reuse inside the block (see the module docstring); nests, and is thread-safe."""
    global _depth
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _set(libc, TRAINING_MMAP_THRESHOLD, TRAINING_TRIM_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(libc, AFTER_MMAP_THRESHOLD, AFTER_TRIM_THRESHOLD)
                libc.malloc_trim(0)
