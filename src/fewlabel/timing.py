"""Wall and CPU seconds of the named phases of a job: what a fit records of where its time went."""

from __future__ import annotations

import time
from contextlib import contextmanager


class PhaseClock:
    """``with clock("map"): ...`` adds the block's wall and CPU seconds to the phase ``"map"`` (a phase timed
    twice is the sum); :meth:`record` gives them as ``{phase: {"seconds", "cpu_seconds"}}`` in the order first
    timed. CPU seconds are the whole process's: with several threads they exceed the wall seconds."""

    def __init__(self):
        self.phases: dict[str, list[float]] = {}

    @contextmanager
    def __call__(self, name: str):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            spent = self.phases.setdefault(name, [0.0, 0.0])
            spent[0] += time.perf_counter() - t0
            spent[1] += time.process_time() - c0

    def seconds(self, name: str) -> tuple[float, float]:
        """(wall, CPU) seconds of ``name`` so far (zeros if it was never timed)."""
        wall, cpu = self.phases.get(name, (0.0, 0.0))
        return wall, cpu

    def record(self) -> dict:
        return {name: {"seconds": round(w, 2), "cpu_seconds": round(c, 2)} for name, (w, c) in self.phases.items()}
