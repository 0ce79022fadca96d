"""The training settings every fewlabel estimator takes, declared once.

An estimator declares only its own parameters in ``__init__`` and is decorated with
:func:`training_settings`, which adds these as keyword parameters (with the estimator's own defaults
where it gives any), so scikit-learn's ``get_params`` / ``set_params`` / ``clone`` and ``GridSearchCV``
see them as ordinary parameters. :func:`check_training_settings` validates them and
:func:`make_trainer` builds the one :class:`~fewlabel.train.loop.Trainer` from them: a setting added
here (precision, compilation, a step budget) reaches every estimator at once.

Training length: an **epoch** is one pass over the rows of the ``X`` given to ``fit``, that is
``ceil(len(X) / batch_size)`` optimizer steps, whatever the method and however few rows are labeled
(a classifier trained on 100 labels of 60,000 rows makes 235 steps an epoch at batch 256, drawing its
labeled rows over and over). ``max_steps`` replaces ``epochs`` by an exact number of optimizer steps.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from fewlabel.checks import (anything, non_negative_number, one_of, optional_positive_int, positive_int,
                             positive_number)
from fewlabel.errors import InputError
from fewlabel.train.loop import COMPILE, OPTIMIZERS, Trainer
from fewlabel.train.precision import PRECISIONS


@dataclass(frozen=True)
class Setting:
    default: Any
    check: Callable[[str, Any], None]
    doc: str


def _device(name, v):
    if v is not None and not isinstance(v, str) and type(v).__name__ != "device":
        raise InputError(f"{name} must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {v!r}")


def _seed(name, v):
    if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0):
        raise InputError(f"{name} must be a non-negative integer or None, got {v!r}")


#: name -> (default, check, doc). Estimators may give other defaults (e.g. ``epochs``).
SETTINGS: dict[str, Setting] = {
    "epochs": Setting(30, positive_int, "passes over the rows of X (an epoch is ceil(len(X) / batch_size) "
                                         "optimizer steps)"),
    "max_steps": Setting(None, optional_positive_int, "a step budget: exactly this many optimizer steps "
                                                       "instead of epochs (None: use epochs)"),
    "batch_size": Setting(256, positive_int, "rows per optimizer step"),
    "optimizer": Setting("adam", one_of(OPTIMIZERS), "'adam', 'adamw' or 'sgd' (momentum 0.9); fused where "
                                                      "torch has it"),
    "lr": Setting(1e-3, positive_number, "learning rate"),
    "weight_decay": Setting(0.0, non_negative_number, "weight decay (L2 for adam and sgd, decoupled for adamw)"),
    "precision": Setting("auto", one_of(PRECISIONS), "'auto' (bf16 where the hardware has it natively and the "
                                                      "model is large enough to gain), 'bf16' or 'fp32'"),
    "compile": Setting("auto", one_of(COMPILE), "torch.compile the training step: True, False, or 'auto' "
                                                 "(long runs on CUDA)"),
    "device": Setting("auto", _device, "'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda', 'cuda:N', 'mps'"),
    "random_state": Setting(0, _seed, "seed of the initialisation, the batches and the augmentations"),
    "verbose": Setting(False, anything, "report progress on stderr (a bar on a terminal, a line per epoch "
                                    "elsewhere)"),
}


def declare_settings(table: dict[str, Setting], title: str, **defaults) -> Callable[[type], type]:
    """Class decorator: add the settings of ``table`` to an estimator's ``__init__`` (keyword-only, after its
    own parameters), with ``defaults`` overriding the table's, and document them under ``title``. A group
    of parameters several estimators share is declared (and checked, :func:`check_settings`) once."""
    unknown = set(defaults) - set(table)
    if unknown:
        raise TypeError(f"not among the settings: {sorted(unknown)}")

    def decorate(cls: type) -> type:
        own_init = cls.__dict__.get("__init__")
        if own_init is None:
            raise TypeError(f"{cls.__name__} must define its own __init__ to take settings")
        own = [p for p in inspect.signature(own_init).parameters.values() if p.name not in table]
        values = {name: defaults.get(name, s.default) for name, s in table.items()}

        def __init__(self, *args, **kwargs):
            for name, default in values.items():
                setattr(self, name, kwargs.pop(name, default))
            own_init(self, *args, **kwargs)

        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=v) for name, v in values.items()]
        __init__.__signature__ = inspect.Signature([*own, *extra])
        __init__.__doc__ = own_init.__doc__
        cls.__init__ = __init__
        lines = "\n".join(f"    ``{name}`` (default ``{values[name]!r}``): {s.doc}." for name, s in table.items())
        cls.__doc__ = (cls.__doc__ or "") + f"\n\n    {title}:\n\n{lines}\n"
        return cls

    return decorate


def training_settings(**defaults) -> Callable[[type], type]:
    """Class decorator: the training settings (:data:`SETTINGS`) as parameters of an estimator, with
    ``defaults`` overriding the shared defaults."""
    return declare_settings(SETTINGS, "Training settings (shared by every estimator)", **defaults)


def check_settings(estimator, table: dict[str, Setting]) -> None:
    """Validate every setting of ``table`` on ``estimator``; the error names the setting and what it takes."""
    for name, s in table.items():
        s.check(name, getattr(estimator, name))


def check_training_settings(estimator) -> None:
    """Validate every training setting of ``estimator``."""
    check_settings(estimator, SETTINGS)


_FROM_SETTINGS = object()


def make_trainer(estimator, *, epochs: int | None = None, max_steps=_FROM_SETTINGS, lr: float | None = None,
                 optimizer=None, batch_size: int | None = None, seed_offset: int = 0, description: str = "train",
                 **kwargs) -> Trainer:
    """The Trainer for ``estimator``'s settings; keyword arguments override them for one training phase
    (e.g. a second phase with another learning rate; ``max_steps=None`` for no budget in this phase),
    ``kwargs`` pass on to :class:`Trainer`."""
    seed = estimator.random_state if estimator.random_state is not None else 0
    budget = estimator.max_steps if max_steps is _FROM_SETTINGS else max_steps
    return Trainer(
        epochs=epochs if epochs is not None else estimator.epochs,
        max_steps=budget,
        batch_size=batch_size if batch_size is not None else estimator.batch_size,
        optimizer=optimizer if optimizer is not None else estimator.optimizer,
        lr=lr if lr is not None else estimator.lr,
        weight_decay=estimator.weight_decay,
        precision=estimator.precision,
        compile=estimator.compile,
        device=estimator.device,
        seed=seed + seed_offset,
        progress=bool(estimator.verbose),
        description=description,
        **kwargs,
    )


def split_budget(total: int | None, parts: list[int]) -> list[int | None]:
    """A step budget shared by consecutive training phases in proportion to ``parts`` (e.g. their epochs),
    each at least 1 step, adding up to exactly ``total`` (None: no budget)."""
    if total is None:
        return [None] * len(parts)
    if total < len(parts):
        raise InputError(f"max_steps={total} cannot be shared by {len(parts)} training phases: give at least "
                         f"{len(parts)}")
    weights = np.asarray(parts, dtype=float)
    raw = weights / weights.sum() * (total - len(parts))
    shares = np.floor(raw).astype(int) + 1
    for i in np.argsort(raw - np.floor(raw))[::-1][: total - int(shares.sum())]:
        shares[i] += 1
    return [int(s) for s in shares]
