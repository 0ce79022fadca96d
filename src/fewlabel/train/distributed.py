"""DistributedDataParallel under ``torchrun``: the same loop, one process per GPU (or CPU process).

``torchrun --nproc_per_node=N script.py`` sets RANK / WORLD_SIZE / LOCAL_RANK; the loop then joins the
process group (NCCL on GPUs, Gloo on CPUs), wraps the step in DDP, gives each process its share of every
epoch's permutation, averages the metrics over processes, and lets only rank 0 write files.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")


def setup() -> DistInfo:
    """Join the process group when started by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend=backend)
        atexit.register(_leave)
    return DistInfo(rank=tdist.get_rank(), world=tdist.get_world_size(), device=device)


def _leave() -> None:
    """Leave the process group :func:`setup` joined, at exit, while the interpreter is still whole. A process that
    ends without leaving it tears Gloo's worker threads down during the interpreter's finalisation, which now and
    then aborts it (SIGABRT, "terminate called without an active exception") after its work is done; a group the
    caller joined itself is the caller's to leave."""
    if tdist.is_initialized():
        tdist.destroy_process_group()


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def mean_metrics(totals: dict[str, torch.Tensor], count: int, dist: DistInfo) -> dict[str, float]:
    """Per-row means of the summed metrics, over every process."""
    keys = sorted(totals)
    if not keys:
        return {}
    packed = torch.stack([totals[k].float() for k in keys] + [torch.tensor(float(count), device=totals[keys[0]].device)])
    if dist.world > 1:
        tdist.all_reduce(packed)
    values = (packed[:-1] / packed[-1]).tolist()
    return dict(zip(keys, values))


def barrier(dist: DistInfo) -> None:
    if dist.world > 1:
        tdist.barrier()
