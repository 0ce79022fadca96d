"""The benchmarks' clock: wall and CPU seconds (``time.process_time``: every thread of this process) since it
started. CPU seconds are the fair figure on a shared machine. And their memory gauge: the resident memory now
(``resident_mb``) and its peak, sampled by a thread (``PeakMemory``). And ``in_checkout``: a script's measurement
run in a fresh process, on this checkout's code or an earlier one's.

    c = Clock(); ...; c.read()                 # {"wall_s": ..., "cpu_s": ...}
    with Clock() as c: ...                      # then c.as_dict("pretrain") -> {"pretrain_wall_s": ..., ...}
    gauge = PeakMemory(); ...; gauge.peak; gauge.reset(); ...; gauge.stop()
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def resident_mb() -> float:
    """This process's resident memory (``VmRSS``), in MiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))


def in_checkout(script, args: list[str], src: Path | None) -> dict:
    """``python script *args`` in a fresh process, its last line of output read as JSON, on the code of ``src``
    (a checkout of an earlier commit, its ``src`` put first on the path) or, when None, of this checkout;
    ``code`` in the result says which ('before' or 'now')."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(Path(src) / "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} ({src or 'this checkout'}) failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["code"] = "before" if src is not None else "now"
    return out


class PeakMemory:
    """The highest resident memory seen since it started or was last ``reset()``, sampled every ``interval``
    seconds by a background thread until ``stop()``."""

    def __init__(self, interval: float = 0.02):
        self.peak, self._done = resident_mb(), threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, resident_mb())
            self._done.wait(interval)

    def reset(self) -> None:
        self.peak = resident_mb()

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, resident_mb())
        return self.peak


class PhaseMemory:
    """The resident memory (MB) at the end of each phase of a run and its peak since the phase before, sampled
    by a :class:`PeakMemory`: ``mark(name)`` ends the phase ``name``; ``stop()`` gives the phases, the peak of
    the whole run (the first mark, the rows loaded, left out) and the phase that set it."""

    def __init__(self, interval: float = 0.01):
        self.gauge, self.phases = PeakMemory(interval), []

    def mark(self, name: str) -> None:
        self.phases.append({"phase": name, "resident_mb": round(resident_mb()), "peak_mb": round(self.gauge.peak)})
        self.gauge.reset()

    def stop(self) -> dict:
        self.gauge.stop()
        top = max(self.phases[1:], key=lambda p: p["peak_mb"])
        return {"phases": self.phases, "peak_mb": top["peak_mb"], "peak_phase": top["phase"]}


class Clock:
    def __init__(self):
        self.start()

    def start(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.wall = self.cpu = None

    def read(self) -> dict:
        """Seconds since the start (or, after a ``with`` block, of the block), rounded to 0.1."""
        wall, cpu = (self.wall, self.cpu) if self.wall is not None else (
            time.perf_counter() - self.wall0, time.process_time() - self.cpu0)
        return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}

    def __enter__(self) -> Clock:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0

    def as_dict(self, prefix: str) -> dict:
        r = self.read()
        return {f"{prefix}_wall_s": r["wall_s"], f"{prefix}_cpu_s": r["cpu_s"]}


def cpu_record() -> dict:
    """The CPU a figure was measured on: /proc/cpuinfo's model name, family and model, and whether it has native
    bf16 (every benchmark result records it beside its figures)."""
    import platform
    from pathlib import Path

    info = {"machine": platform.machine()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for key, name in (("model name", "model_name"), ("cpu family", "family"), ("model", "model")):
            line = next(line for line in text.splitlines() if line.split(":")[0].strip() == key)
            info[name] = line.split(":", 1)[1].strip()
        flags = next(line for line in text.splitlines() if line.startswith("flags")).split()
        info["avx512_bf16"] = "avx512_bf16" in flags
    except (OSError, StopIteration):
        pass
    return info
