"""TensorBoard logging, when the user asks for it (``--tensorboard DIR``, or this context manager in Python).

>>> from fewlabel.train.tensorboard import tensorboard
>>> with tensorboard("runs/tb"):
...     Autoencoder().fit(X)            # every training's per-epoch metrics go to runs/tb/<run>/

While the context is open, every :class:`~fewlabel.train.loop.Trainer` fit writes its per-epoch metrics
(``loss``, ``val_loss``, accuracies, the learning rate) as scalars into a run folder of its own under the log
folder, named after the section (:meth:`TensorBoardLog.section`, e.g. the ``fewlabel run`` step) and the
training's description, numbered when a section trains more than once (one per label draw, one per class).
Figures (PNG files: reconstructions, maps, confusion matrices) are added as images with :meth:`images`.

The ``tensorboard`` package is an optional dependency (``pip install tensorboard``, or
``pip install 'fewlabel[tensorboard]'``); asking for logging without it is an :class:`InputError` that says
so, raised before anything trains.
"""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path

from fewlabel.errors import InputError

__all__ = ["TensorBoardLog", "active", "require_tensorboard", "tensorboard"]

_ACTIVE: list[TensorBoardLog] = []


def require_tensorboard():
    """torch's SummaryWriter, or an InputError naming the missing package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch raises ImportError when the tensorboard package is missing
        raise InputError("TensorBoard logging needs the tensorboard package, which is not installed: "
                         "pip install tensorboard (or pip install 'fewlabel[tensorboard]')") from e
    return SummaryWriter


def _finite(value) -> bool:
    """A real number that is not NaN or infinite (what a scalar plot can show)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", str(text)).strip("_") or "run"


class TensorBoardLog:
    """One log folder; a SummaryWriter per training run under it."""

    def __init__(self, log_dir):
        self.writer_class = require_tensorboard()
        self.root = Path(log_dir)
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"--tensorboard {self.root}: exists and is not a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"--tensorboard {self.root}: cannot create the folder ({e.strerror})") from None
        self._section = ""
        self._counts: dict[str, int] = {}
        self._writers: dict[str, object] = {}

    # -- where things go ----------------------------------------------------------------------
    @contextlib.contextmanager
    def section(self, name: str):
        """Runs trained inside the block go under ``name/`` (a ``fewlabel run`` step, say)."""
        before, self._section = self._section, _slug(name)
        try:
            yield self
        finally:
            self._section = before

    def writer(self, run: str):
        if run not in self._writers:
            self._writers[run] = self.writer_class(log_dir=str(self.root / run))
        return self._writers[run]

    def new_run(self, description: str) -> str:
        """A fresh run name for one training: ``section/description``, numbered from the second on."""
        base = "/".join(p for p in (self._section, _slug(description)) if p)
        n = self._counts.get(base, 0) + 1
        self._counts[base] = n
        return base if n == 1 else f"{base}-{n}"

    # -- what is written ----------------------------------------------------------------------
    def epoch_logger(self, description: str):
        """The per-epoch callback a Trainer adds for one fit: every finite number in its logs, by epoch."""
        run = self.new_run(description)

        def log(epoch: int, logs: dict) -> None:
            w = self.writer(run)
            for key, value in logs.items():
                if _finite(value):
                    w.add_scalar(key, float(value), epoch)
            w.flush()

        return log

    def scalars(self, tag_values: dict, step: int = 0, run: str | None = None) -> None:
        """Final figures (accuracies, NMI, AUROC) as scalars of ``run`` (default: the current section)."""
        w = self.writer(run or self._section or "summary")
        for tag, value in tag_values.items():
            if _finite(value):
                w.add_scalar(tag, float(value), step)
        w.flush()

    def images(self, paths, root=None, run: str | None = None) -> int:
        """Each PNG file as an image of ``run`` (default: the current section), tagged by its path under
        ``root``; returns how many were written."""
        import matplotlib.image as mpimg

        w = self.writer(run or self._section or "figures")
        n = 0
        for path in sorted(Path(p) for p in paths):
            if path.suffix.lower() != ".png" or not path.is_file():
                continue
            image = mpimg.imread(str(path))  # float HxWxC in [0, 1]
            if image.ndim == 2:
                image = image[:, :, None].repeat(3, axis=2)
            tag = str(path.relative_to(root)) if root is not None else path.name
            w.add_image(tag, image[:, :, :3], 0, dataformats="HWC")
            n += 1
        w.flush()
        return n

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()


def active() -> TensorBoardLog | None:
    """The log of the innermost open :func:`tensorboard` context, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def tensorboard(log_dir):
    """Log every training inside the block to TensorBoard under ``log_dir`` (None: do nothing)."""
    if log_dir is None:
        yield None
        return
    log = TensorBoardLog(log_dir)
    _ACTIVE.append(log)
    try:
        yield log
    finally:
        _ACTIVE.remove(log)
        log.close()
