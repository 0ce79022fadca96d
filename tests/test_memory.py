"""Freed memory kept between training steps (fewlabel.train.memory): the page faults it saves, that it nests and
ends where it should, that FEWLABEL_MALLOC=system leaves malloc alone, and that training holds it."""

import ctypes
import resource
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from fewlabel.nets import MLP
from fewlabel.train import Trainer, memory


def _glibc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL(None).gnu_get_libc_version.restype = ctypes.c_char_p
    except (OSError, AttributeError):
        return False
    return True


glibc_only = pytest.mark.skipif(not _glibc(), reason="malloc's settings are glibc's (Linux)")

MB120 = 15_000_000  # float64s: a 120 MB block, past glibc's largest mmap threshold (32 MiB)
# a fresh mapping faults in at least once per 2 MiB (once per page where the kernel backs it with huge pages,
# as numpy asks for blocks this large), up to once per 4 KiB page
FRESH = 0.8 * MB120 * 8 / (2 << 20)


def faults_per_block(blocks: int = 4) -> float:
    """Minor page faults per 120 MB block written and freed, after a first one (which faults in either way)."""
    np.ones(MB120).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(blocks):
        np.ones(MB120).sum()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / blocks


@glibc_only
def test_freed_blocks_are_reused_inside_and_handed_back_outside(monkeypatch):
    monkeypatch.delenv("FEWLABEL_MALLOC", raising=False)
    outside = faults_per_block()
    with memory.steady_allocations():
        inside = faults_per_block()
    after = faults_per_block()
    # outside, every block is a fresh mapping whose every page the kernel faults in; inside, the freed block
    # comes back from the heap with its pages already there
    assert outside > FRESH and inside < 0.1 * outside, (outside, inside)
    assert after > FRESH, after  # glibc's settings are back once the block ends


@glibc_only
def test_nested_blocks_restore_only_at_the_outer_end(monkeypatch):
    monkeypatch.delenv("FEWLABEL_MALLOC", raising=False)
    with memory.steady_allocations():
        with memory.steady_allocations():
            pass
        assert memory._depth == 1
        assert faults_per_block() < 0.1 * FRESH  # the inner end did not hand the memory back
    assert memory._depth == 0


@glibc_only
def test_fewlabel_malloc_system_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("FEWLABEL_MALLOC", "system")
    with memory.steady_allocations():
        assert memory._depth == 0
        assert faults_per_block() > FRESH


def test_an_exception_inside_still_restores():
    with pytest.raises(RuntimeError, match="boom"), memory.steady_allocations():
        raise RuntimeError("boom")
    assert memory._depth == 0


def test_training_holds_it_and_lets_go(monkeypatch):
    monkeypatch.delenv("FEWLABEL_MALLOC", raising=False)
    X, y = load_digits(return_X_y=True)
    X, y = (X / 16.0).astype(np.float32), y.astype(np.int64)
    seen = []

    def loss(net, batch):
        seen.append(memory._depth)
        logits = net(batch[0])
        return {"loss": F.cross_entropy(logits, batch[1])}

    torch.manual_seed(0)
    Trainer(epochs=1, batch_size=256, device="cpu", progress=False).fit(MLP([64, 32, 10]), loss, (X, y))
    assert seen and set(seen) == ({1} if _glibc() else {0})
    assert memory._depth == 0
