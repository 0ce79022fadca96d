"""Which arithmetic a training run uses: bf16 autocast where it pays, fp32 elsewhere.

On a CPU, bf16 pays only when the CPU computes it natively (AVX512-BF16 or AMX; elsewhere it is
emulated and slower than fp32) and when the model's matrix products are large enough: in small ones
the conversions to and from bf16 cost more than the faster products save, and the wider the layers, the
more bf16 gains. ``precision="auto"`` counts the model's
floating-point work on its first batch (the same count every run: no timing, so the choice is
reproducible) and picks bf16 above :data:`BF16_MIN_FLOPS`.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from typing import Callable

import torch
from torch import nn

from fewlabel.errors import InputError

PRECISIONS = ("auto", "bf16", "fp32")
#: Forward floating-point operations per step above which bf16 autocast is faster than fp32 on a CPU
#: with native bf16 (``precision="auto"``).
BF16_MIN_FLOPS = 1e8


def check_precision(precision) -> str:
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}: choose 'auto', 'bf16' or 'fp32'")
    return precision


#: CPU flags (Linux /proc/cpuinfo names) of hardware bf16 matrix products: AVX512-BF16 (AMD Zen 4 and 5,
#: Intel Cooper Lake and later) and AMX-BF16 (Intel Sapphire Rapids and later). AVX2-only CPUs (AMD Zen 1
#: to 3, most laptops) have neither: PyTorch emulates bf16 there, several times slower than fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bf16_flags(flags) -> bool:
    """True when a CPU with these flags computes bf16 products in hardware."""
    return bool(NATIVE_BF16_FLAGS & set(flags))


def cpu_flags() -> frozenset:
    """This CPU's flags (Linux); empty elsewhere or when /proc/cpuinfo cannot be read."""
    if platform.system() != "Linux":
        return frozenset()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (x86 AVX512-BF16 or AMX-BF16; Linux flags)."""
    return native_bf16_flags(cpu_flags())


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def forward_flops(fn: Callable[[], object], model: nn.Module) -> int:
    """Floating-point operations of one call of ``fn`` (matrix products and convolutions), counted by
    torch's FLOP counter without gradients; the model's buffers (batch-norm statistics) and the random
    generator are left as they were."""
    from torch.utils.flop_counter import FlopCounterMode

    buffers = [b.detach().clone() for b in model.buffers()]
    with torch.random.fork_rng(devices=[]), torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    with torch.no_grad():
        for b, saved in zip(model.buffers(), buffers):
            b.copy_(saved)
    return int(counter.get_total_flops())


def resolve_precision(precision: str, device: torch.device, flops: Callable[[], int] | None = None) -> str:
    """'bf16' or 'fp32' for ``precision`` on ``device``; ``flops()`` (called only when needed) gives the
    forward work of one training step, for the CPU's choice."""
    check_precision(precision)
    if precision != "auto":
        if precision == "bf16" and device.type not in ("cuda", "cpu"):
            raise InputError(f"precision='bf16' runs on CPUs and CUDA GPUs, not on {device.type!r}; use 'fp32'")
        return precision
    if not native_bf16(device):
        return "fp32"
    if device.type == "cuda":
        return "bf16"
    return "bf16" if flops is not None and flops() >= BF16_MIN_FLOPS else "fp32"


def autocast(precision: str, device: torch.device):
    """The autocast context of a resolved precision ('bf16' or 'fp32')."""
    if precision == "bf16" and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())


#: Rows answered at a time by a network with convolutions, and by one without.
CONV_INFERENCE_BATCH = 256
DENSE_INFERENCE_BATCH = 1024


def inference_batch_size(model: nn.Module) -> int:
    """How many rows a network answers at a time outside training. A convolution layer's output for 1,024
    28x28 images is about 100 MB a layer: each layer then streams its batch through main memory rather than the
    caches, and the process keeps that much freed memory in its heap afterwards; 256 rows (the training batch)
    answer faster and hold a quarter of it. Dense layers are matrix products that gain from the larger batch.
    The answers do not depend on it."""
    return CONV_INFERENCE_BATCH if has_convolutions(model) else DENSE_INFERENCE_BATCH
