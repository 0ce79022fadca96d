"""What a training run records: every metric per epoch, and how the run trained."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class History:
    """Every metric per epoch, like Keras' ``History.history``: ``history["val_loss"][e]``."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: list[int] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None
    #: How the run trained: precision, compiled, steps (set by :meth:`Trainer.fit`).
    info: dict[str, Any] = field(default_factory=dict)

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, [math.nan] * (len(self.epochs) - 1)).append(float(v))
        for k, vals in self.history.items():  # a metric missing this epoch stays aligned
            if len(vals) < len(self.epochs):
                vals.append(math.nan)

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "epochs": self.epochs,
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(
            history={k: list(v) for k, v in d["history"].items()},
            epochs=list(d["epochs"]),
            stopped_early=bool(d["stopped_early"]),
            best_epoch=d["best_epoch"],
            info=dict(d.get("info") or {}),
        )
