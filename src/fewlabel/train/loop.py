"""The one training loop.

A method (autoencoder, VAE, BYOL, classifier head) supplies a module and ``loss_fn(module, batch)``
returning the loss, or a dict with ``"loss"`` and any other scalar metrics. The loop owns everything
else: device, precision, seeding, batching, optimizer and schedule, progress bar, per-epoch history,
validation, early stopping, atomic checkpoints and exact resume, NaN/inf detection, and
DistributedDataParallel under ``torchrun``.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from fewlabel import interrupt
from fewlabel.errors import CorruptFileError, InputError, TrainingDivergedError
from fewlabel.train import distributed
from fewlabel.train.data import Batches, epoch_seed, host_tensor
from fewlabel.train.ema import WeightEMA, check_decay
from fewlabel.train.history import History
from fewlabel.train.memory import steady_allocations
from fewlabel.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule
from fewlabel.train.precision import (autocast, check_precision, forward_flops, has_convolutions, inference_batch_size,
                                      resolve_precision)
from fewlabel.train.state import load_state_file, save_state_file
from fewlabel.train.tensorboard import active as active_tensorboard

LossFn = Callable[[nn.Module, tuple], "torch.Tensor | dict[str, torch.Tensor]"]

COMPILE = (False, True, "auto")
PROBE_ROWS = 32  # rows the work of a step is counted on (precision="auto")
#: compile='auto' compiles on CUDA for runs of at least this many steps (its cost is seconds).
COMPILE_MIN_STEPS = 2000


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' (or None) picks CUDA when present, then Apple's MPS, else the CPU."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but this PyTorch sees no CUDA GPU; use device='cpu' or 'auto'")
    return dev


class _LossModule(nn.Module):
    """Puts the method's loss inside ``forward``, so DistributedDataParallel sees every parameter use."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch):
        out = self.loss_fn(self.model, batch)
        if isinstance(out, torch.Tensor):
            out = {"loss": out}
        if "loss" not in out:
            raise InputError("loss_fn must return a tensor or a dict with a 'loss' entry")
        return out


class Trainer:
    """Trains any module with any loss; every fewlabel method goes through here.

    Parameters
    ----------
    epochs : passes over the training rows (an epoch is ``ceil(rows / batch_size)`` optimizer steps, where
        ``rows`` is the number of training rows, or ``epoch_rows`` given to :meth:`fit`).
    max_steps : a step budget: when given, training makes exactly this many optimizer steps (``epochs`` is
        then ignored; the last epoch may be partial).
    batch_size : rows per step (per process under torchrun).
    optimizer : 'sgd', 'adam', 'adamw', or a callable ``params -> torch.optim.Optimizer``.
    lr, weight_decay, momentum : the optimizer's settings (momentum for SGD, beta1 ignored otherwise).
    schedule : None/'constant', 'cosine' (per step, after ``warmup_epochs`` of linear warm-up),
        'step' (multiply by ``gamma`` every ``step_epochs``), 'plateau' (by ``gamma`` when ``monitor``
        stalls for ``patience // 2`` epochs, at least 1).
    device : 'auto' (CUDA, then MPS, then CPU), or a device name.
    precision : 'auto' (bf16 autocast on CUDA GPUs with bf16, and on CPUs with native bf16 when the
        model's work per step is large enough to gain from it, see :mod:`fewlabel.train.precision`; fp32
        elsewhere), 'bf16' or 'fp32'. ``precision_`` holds the choice after :meth:`fit`.
    compile : False, True (``torch.compile`` the step; its cost before the first step is logged as
        ``compile_seconds``; if compiling fails, training goes on uncompiled with a warning), or 'auto'
        (on CUDA for runs of at least :data:`COMPILE_MIN_STEPS` steps; off on a CPU, where compiling
        fewlabel's models costs more time than it saves).
    seed : fixes the permutation of each epoch and the randomness inside the step (dropout, noise).
    early_stopping : patience in epochs (None: off), watching ``monitor`` ('val_loss' when validation
        data is given, else 'loss'); the best weights are restored at the end when ``restore_best``.
    checkpoint : a file path; written atomically every ``checkpoint_every`` epochs and at the end.
    resume : continue from ``checkpoint`` when it exists (same weights as an uninterrupted run).
    grad_clip : clip the gradient norm to this value.
    ema : None, or the decay (e.g. 0.999) of an exponential moving average of the weights
        (:class:`~fewlabel.train.ema.WeightEMA`, with its warm-up) updated after every step; validation,
        early stopping and the weights the model ends with are then the average's.
    progress : report progress on stderr: a bar on a terminal, one plain line per epoch elsewhere (a log
        file, CI), so logs are not flooded with redraws.
    log_every : the running loss is read from the device (and checked for NaN) every this many steps,
        not after each one: reading it makes the host wait for the device.
    """

    def __init__(
        self,
        *,
        epochs: int = 10,
        max_steps: int | None = None,
        batch_size: int = 256,
        optimizer: str | Callable = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        schedule: str | None = None,
        warmup_epochs: int = 0,
        step_epochs: int = 10,
        gamma: float = 0.1,
        device: str | torch.device | None = "auto",
        precision: str = "auto",
        compile: bool | str = False,
        seed: int = 0,
        early_stopping: int | None = None,
        monitor: str | None = None,
        min_delta: float = 0.0,
        restore_best: bool = True,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
        grad_clip: float | None = None,
        ema: float | None = None,
        num_workers: int = 0,
        progress: bool = True,
        log_every: int = 25,
        description: str = "train",
    ):
        if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
            raise InputError(f"epochs must be a positive integer, got {epochs!r}")
        if max_steps is not None and (not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool)
                                      or max_steps < 1):
            raise InputError(f"max_steps is a number of optimizer steps (a positive integer) or None, got {max_steps!r}")
        if isinstance(optimizer, str) and optimizer.lower() not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {optimizer!r}: choose one of {OPTIMIZERS} or pass a callable")
        if schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {schedule!r}: choose one of {SCHEDULES}")
        check_precision(precision)
        if compile not in COMPILE:
            raise InputError(f"compile must be one of {COMPILE}, got {compile!r}")
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise InputError(f"lr must be a positive finite number, got {lr!r}")
        if early_stopping is not None and early_stopping < 1:
            raise InputError(f"early_stopping is a patience in epochs (>= 1) or None, got {early_stopping!r}")
        if resume and checkpoint is None:
            raise InputError("resume=True needs checkpoint= (the file to resume from)")
        self.epochs, self.max_steps, self.batch_size = int(epochs), max_steps, batch_size
        self.optimizer, self.lr, self.weight_decay, self.momentum = optimizer, float(lr), weight_decay, momentum
        self.schedule, self.warmup_epochs, self.step_epochs, self.gamma = schedule, warmup_epochs, step_epochs, gamma
        self.device, self.precision, self.compile, self.seed = device, precision, compile, seed
        self.early_stopping, self.monitor, self.min_delta, self.restore_best = early_stopping, monitor, min_delta, restore_best
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every, self.resume = checkpoint_every, resume
        self.grad_clip, self.num_workers = grad_clip, num_workers
        self.ema = check_decay(ema)
        self.progress, self.log_every, self.description = progress, max(1, int(log_every)), description
        self.on_epoch_end: list[Callable[[int, dict], None]] = []

    # -- building blocks -------------------------------------------------------------------------
    def _make_optimizer(self, params, device: torch.device) -> torch.optim.Optimizer:
        if callable(self.optimizer):
            return self.optimizer(params)
        return make_optimizer(self.optimizer, params, lr=self.lr, weight_decay=self.weight_decay,
                              momentum=self.momentum, device=device)

    def _autocast(self, device: torch.device):
        return autocast(getattr(self, "precision_", None) or resolve_precision(self.precision, device), device)

    def _wants_compile(self, device: torch.device, total_steps: int) -> bool:
        if self.compile == "auto":
            return device.type == "cuda" and total_steps >= COMPILE_MIN_STEPS
        return bool(self.compile)

    def _resume_from_checkpoint(self, run: "_Run") -> None:
        ck = load_state_file(self.checkpoint, "checkpoint")
        needed = ("model", "optimizer", "history", "epoch", "global_step", "best_value", "wait")
        missing = [k for k in needed if not isinstance(ck, dict) or k not in ck]
        if missing:
            raise CorruptFileError(f"{self.checkpoint} is not a complete fewlabel checkpoint (it lacks "
                                   f"{', '.join(missing)}): delete it to start over, or give another file")
        _load_model_state(run.model, ck["model"], self.checkpoint)
        run.opt.load_state_dict(ck["optimizer"])
        if run.sched is not None and ck.get("scheduler") is not None:
            run.sched.load_state_dict(ck["scheduler"])
        if run.ema is not None:
            if ck.get("ema") is None:
                raise InputError(f"checkpoint {self.checkpoint} was written without ema; resume with the "
                                 f"settings it was started with")
            _load_model_state(run.ema.module, ck["ema"], self.checkpoint)
            run.ema.updates = int(ck["global_step"])
        run.history = History.from_dict(ck["history"])
        run.start_epoch, run.global_step = int(ck["epoch"]), int(ck["global_step"])
        run.best_value, run.wait = float(ck["best_value"]), int(ck["wait"])
        run.best_state = ck.get("best_state")
        if run.history.stopped_early or run.global_step >= run.total_steps:
            run.start_epoch = run.n_epochs  # the run had already finished

    def _save_checkpoint(self, run: "_Run", epoch: int) -> None:
        if run.dist.rank == 0:
            save_state_file(self.checkpoint, "checkpoint", {
                "model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
                "scheduler": run.sched.state_dict() if run.sched is not None else None,
                "history": run.history.to_dict(), "epoch": epoch + 1, "global_step": run.global_step,
                "best_value": run.best_value, "wait": run.wait, "best_state": run.best_state,
                "ema": run.ema.state_dict() if run.ema is not None else None,
            })
        distributed.barrier(run.dist)

    # -- the loop --------------------------------------------------------------------------------
    def fit(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train,
        val=None,
        *,
        params: Iterable[nn.Parameter] | None = None,
        after_step: Callable[[nn.Module, int], None] | None = None,
        epoch_rows: int | None = None,
    ) -> History:
        """Train ``model`` in place on ``train`` (arrays/tensors/tuple, or a Dataset); return the history.

        ``params``: what the optimizer updates (default: every parameter with ``requires_grad``).
        ``after_step(model, global_step)``: called after each optimizer step (e.g. an EMA update);
        ``self.total_steps_`` then holds the number of steps the whole run takes.
        ``epoch_rows``: rows an epoch draws (default: all training rows once). More rows than there are
        draws the training rows in several shuffled passes, e.g. a few labeled rows over an epoch of all
        the rows of a semi-supervised data set.
        """
        with steady_allocations():  # each step reuses the memory the last one freed (fewlabel.train.memory)
            return self._fit(model, loss_fn, train, val, params, after_step, epoch_rows)

    def _fit(self, model, loss_fn, train, val, params, after_step, epoch_rows) -> History:
        run = self._start(model, loss_fn, train, val, params, epoch_rows)
        if self.resume and self.checkpoint is not None and self.checkpoint.exists():
            self._resume_from_checkpoint(run)
        report = _Progress(self, run)
        log = active_tensorboard()
        tb_callback = log.epoch_logger(self.description) if log is not None and run.dist.rank == 0 else None
        if tb_callback is not None:
            self.on_epoch_end.append(tb_callback)
        try:
            for epoch in range(run.start_epoch, run.n_epochs):
                logs = self._train_epoch(run, epoch, after_step, report)
                if run.val_batches is not None:
                    logs.update({f"val_{k}": v for k, v in
                                 self.evaluate(run.kept, loss_fn, run.val_batches, run.dist).items()})
                if self._end_epoch(run, epoch, logs, report):
                    break
        finally:
            report.close()
            if tb_callback is not None:
                self.on_epoch_end.remove(tb_callback)
            if run.channels_last:  # back to the usual layout, also after an error (saving needs it)
                model.to(memory_format=torch.contiguous_format)
        if self.early_stopping is not None and self.restore_best and run.best_state is not None:
            _load_model_state(model, run.best_state, "the best epoch's weights")
        elif run.ema is not None:
            _load_model_state(model, run.ema.state_dict(), "the averaged weights")
        model.eval()
        run.history.info.update(precision=self.precision_, compiled=self.compiled_, steps=run.global_step)
        return run.history

    def _start(self, model, loss_fn, train, val, params, epoch_rows) -> "_Run":
        dist = distributed.setup()
        device = dist.device if dist.world > 1 else resolve_device(self.device)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(self.seed)
        model.to(device)
        channels_last = device.type in ("cpu", "cuda") and has_convolutions(model)
        if channels_last:  # convolutions in NHWC: 1.4-1.5x faster on CPUs and tensor-core GPUs
            model.to(memory_format=torch.channels_last)
        train_batches = Batches(train, self.batch_size, device, shuffle=True, seed=self.seed, rank=dist.rank,
                                world=dist.world, num_workers=self.num_workers, name="training data",
                                epoch_rows=epoch_rows)
        val_batches = None
        if val is not None:
            val_batches = Batches(val, max(self.batch_size, inference_batch_size(model)), device, shuffle=False,
                                  rank=dist.rank, world=dist.world, num_workers=self.num_workers,
                                  name="validation data")
        params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
        if not params:
            raise InputError("the model has no trainable parameters (all frozen?)")
        steps_per_epoch = len(train_batches)
        total = self.max_steps if self.max_steps is not None else self.epochs * steps_per_epoch
        self.total_steps_ = int(total)  # this process's optimizer steps over the whole run
        opt = self._make_optimizer(params, device)
        sched, sched_every = make_schedule(opt, self.schedule, steps_per_epoch=steps_per_epoch,
                                           total_steps=self.total_steps_, warmup_epochs=self.warmup_epochs,
                                           step_epochs=self.step_epochs, gamma=self.gamma,
                                           early_stopping=self.early_stopping)
        step_module: nn.Module = _LossModule(model, loss_fn)
        # The work of a step, counted on a few rows and scaled to the batch (products scale with the rows).
        probe = min(self.batch_size, PROBE_ROWS, train_batches.n)
        self.precision_ = resolve_precision(
            self.precision, device,
            lambda: forward_flops(lambda: step_module(train_batches.first(probe)), model) * self.batch_size // probe)
        if dist.world > 1:
            step_module = distributed.wrap(step_module, device)
        self.compiled_ = self._wants_compile(device, self.total_steps_)
        if self.compiled_:
            step_module = torch.compile(step_module)
        ema = WeightEMA(model, self.ema) if self.ema is not None else None
        return _Run(
            model=model, dist=dist, device=device, train_batches=train_batches, val_batches=val_batches,
            params=params, opt=opt, sched=sched, sched_every=sched_every, step_module=step_module,
            eager_module=_LossModule(model, loss_fn), ema=ema, kept=model if ema is None else ema.module,
            monitor=self.monitor or ("val_loss" if val is not None else "loss"), total_steps=self.total_steps_,
            n_epochs=math.ceil(self.total_steps_ / steps_per_epoch), channels_last=channels_last,
            compiled=self.compiled_,
        )

    def _train_epoch(self, run: "_Run", epoch: int, after_step, report: "_Progress") -> dict[str, float]:
        t0 = time.perf_counter()
        # Fix this epoch's randomness (dropout, noise, augmentation) by (seed, epoch): exact resume.
        torch.manual_seed(epoch_seed(self.seed + 1, epoch))
        good_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        run.model.train()
        totals: dict[str, torch.Tensor] = {}
        count = 0
        report.start_epoch(epoch)
        autocast_ctx = autocast(self.precision_, run.device)
        compile_seconds = None
        for i, batch in enumerate(run.train_batches.epoch(epoch)):
            interrupt.check()  # a Ctrl-C that Python dropped (see fewlabel.interrupt)
            if run.global_step >= run.total_steps:
                break
            if run.compiled and compile_seconds is None:  # the first compiled step: compiling happens here
                tc = time.perf_counter()
                out = self._first_compiled_step(run, batch, autocast_ctx)
                compile_seconds = time.perf_counter() - tc
            else:
                with autocast_ctx:
                    out = run.step_module(batch)
            loss = out["loss"]
            run.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(run.params, self.grad_clip)
            run.opt.step()
            run.global_step += 1
            if run.sched_every == "step":
                run.sched.step()
            if run.ema is not None:
                run.ema.update(run.model)
            if after_step is not None:
                after_step(run.model, run.global_step)
            n = len(batch[0])
            count += n
            for k, v in out.items():
                v = v.detach().float() * n
                totals[k] = totals[k] + v if k in totals else v
            # Reading the loss makes the host wait for the device: every log_every steps only.
            if (i + 1) % self.log_every == 0:
                running = totals["loss"].item() / count
                if not math.isfinite(running):
                    report.close()
                    self._diverged(run.model, good_state, epoch, i, running)
                report.step(self.log_every, running)
        logs = distributed.mean_metrics(totals, count, run.dist)
        if not math.isfinite(logs["loss"]):
            report.close()
            self._diverged(run.model, good_state, epoch, len(run.train_batches) - 1, logs["loss"])
        logs["lr"] = run.opt.param_groups[0]["lr"]
        logs["seconds"] = time.perf_counter() - t0
        if compile_seconds is not None:
            logs["compile_seconds"] = compile_seconds
            self.compile_seconds_ = compile_seconds
        return logs

    def _first_compiled_step(self, run: "_Run", batch, autocast_ctx):
        try:
            with autocast_ctx:
                return run.step_module(batch)
        except Exception as e:  # no C++ compiler, an unsupported operation...: train uncompiled instead
            warnings.warn(f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                          "training without compilation", RuntimeWarning, stacklevel=4)
            run.step_module, run.compiled, self.compiled_ = run.eager_module, False, False
            with autocast_ctx:
                return run.step_module(batch)

    def _end_epoch(self, run: "_Run", epoch: int, logs: dict[str, float], report: "_Progress") -> bool:
        """Schedule, history, best weights, early stopping, checkpoint, callbacks; True to stop."""
        if run.sched_every == "epoch":
            run.sched.step()
        elif run.sched_every == "plateau":
            run.sched.step(logs.get(run.monitor, logs["loss"]))
        run.history.append(epoch + 1, logs)
        if run.monitor not in logs:
            raise InputError(f"monitor={run.monitor!r} is not among the metrics {sorted(logs)}")
        value = logs[run.monitor]
        if value < run.best_value - self.min_delta:
            run.best_value, run.wait, run.history.best_epoch = value, 0, epoch + 1
            if self.early_stopping is not None and self.restore_best:
                run.best_state = {k: v.detach().clone() for k, v in run.kept.state_dict().items()}
        else:
            run.wait += 1
        stop = self.early_stopping is not None and run.wait >= self.early_stopping
        run.history.stopped_early = stop
        report.end_epoch(epoch, logs)
        last = stop or epoch + 1 == run.n_epochs
        if self.checkpoint is not None and (last or (epoch + 1) % self.checkpoint_every == 0):
            self._save_checkpoint(run, epoch)
        for callback in self.on_epoch_end:
            callback(epoch + 1, logs)
        return stop

    def _diverged(self, model, good_state, epoch, step, value):
        model.load_state_dict(good_state)
        kept = f"the end of epoch {epoch}" if epoch > 0 else "its state before training"
        raise TrainingDivergedError(
            f"the training loss became {value} in epoch {epoch + 1} (by step {step + 1}); stopped. "
            f"The model keeps the weights from {kept}. Lower the learning rate (now {self.lr:g}), "
            f"set grad_clip, or check the input for NaN/inf and extreme values."
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loss_fn: LossFn, batches: Batches, dist=None) -> dict[str, float]:
        """Mean of each metric of ``loss_fn`` over ``batches``, in eval mode."""
        dist = dist or distributed.setup()
        was_training = model.training
        model.eval()
        module = _LossModule(model, loss_fn)
        totals: dict[str, torch.Tensor] = {}
        count = 0
        with self._autocast(batches.device):
            for batch in batches.epoch(0):
                out = module(batch)
                n = len(batch[0])
                count += n
                for k, v in out.items():
                    v = v.detach().float() * n
                    totals[k] = totals[k] + v if k in totals else v
        model.train(was_training)
        return distributed.mean_metrics(totals, count, dist)


@dataclass
class _Run:
    """The state of one call of :meth:`Trainer.fit`."""

    model: nn.Module
    dist: Any
    device: torch.device
    train_batches: Batches
    val_batches: Batches | None
    params: list
    opt: torch.optim.Optimizer
    sched: Any
    sched_every: str | None
    step_module: nn.Module
    eager_module: nn.Module
    ema: WeightEMA | None
    kept: nn.Module
    monitor: str
    total_steps: int
    n_epochs: int
    channels_last: bool
    compiled: bool = False
    history: History = field(default_factory=History)
    best_value: float = math.inf
    best_state: dict | None = None
    wait: int = 0
    start_epoch: int = 0
    global_step: int = 0


class _Progress:
    """What a run tells the user: one bar over all steps on a terminal; one plain line per epoch when
    stderr is a file or a pipe (a log, CI, nohup), where a bar's redraws would flood it."""

    def __init__(self, trainer: Trainer, run: _Run):
        self.trainer, self.run = trainer, run
        show = trainer.progress and run.dist.rank == 0
        self.lines = show and not _is_terminal(sys.stderr)
        steps = max(0, run.total_steps - run.global_step)
        self.bar = tqdm(total=steps, desc=trainer.description, disable=not show or self.lines, file=sys.stderr,
                        dynamic_ncols=True, unit="step")
        self.shown: dict[str, str] = {}
        self.first_step = run.global_step  # after a resume: the bar counts this call's steps

    def start_epoch(self, epoch: int) -> None:
        self.bar.set_description(f"{self.trainer.description} epoch {epoch + 1}/{self.run.n_epochs}", refresh=False)

    def step(self, steps: int, running_loss: float) -> None:
        self.bar.set_postfix(loss=f"{running_loss:.4g}", **self.shown, refresh=False)
        self.bar.update(steps)

    def end_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.bar.update(self.run.global_step - self.first_step - self.bar.n)
        # The bar keeps showing the last epoch's metrics while the next one runs.
        self.shown = {k: f"{v:.4g}" for k, v in logs.items() if k not in ("loss", "lr", "seconds")}
        self.bar.set_postfix(loss=f"{logs['loss']:.4g}", **self.shown, refresh=False)
        if self.lines:
            metrics = " ".join(f"{k}={v:.4g}" for k, v in logs.items() if k not in ("lr", "seconds"))
            print(f"{self.trainer.description} epoch {epoch + 1}/{self.run.n_epochs}: {metrics} "
                  f"({logs['seconds']:.1f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _load_model_state(model: nn.Module, state: dict, source) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise InputError(f"the weights in {source} do not fit this model ({e})") from None


def predict_batches(fn: Callable[[torch.Tensor], torch.Tensor], X, *, batch_size: int = 1024,
                    device: torch.device | None = None, precision: str = "fp32") -> np.ndarray:
    """Apply ``fn`` to ``X`` in batches on ``device`` (in-memory data moved once); return NumPy float32.
    ``precision``: 'bf16' computes under bf16 autocast (a model trained in bf16 predicts in it too)."""
    device = device or torch.device("cpu")
    out = None
    with torch.no_grad(), autocast(precision, device):
        for start in range(0, len(X), batch_size):
            chunk = X[start : start + batch_size]
            answer = fn(host_tensor(chunk).to(device)).float().cpu().numpy()
            if len(answer) != len(chunk):
                raise InputError(f"the model gave {len(answer)} answers for a batch of {len(chunk)} rows")
            if out is None:
                out = np.empty((len(X), *answer.shape[1:]), np.float32)
            # Every batch's answer goes into one array allocated at the start: a small answer kept from each
            # batch lands among the batch's freed buffers, and the heap then grew by most of a batch at every one
            # (1.1 GB of free heap after the codes of 140,000 images, glibc)
            out[start : start + len(answer)] = answer
    if out is None:
        raise InputError("no rows to process")
    return out
