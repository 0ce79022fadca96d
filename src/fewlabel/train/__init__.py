"""The one training loop every fewlabel method goes through."""

from fewlabel.train.data import Batches, epoch_seed
from fewlabel.train.history import History
from fewlabel.train.loop import Trainer, predict_batches, resolve_device

__all__ = ["Batches", "History", "Trainer", "epoch_seed", "predict_batches", "resolve_device"]
