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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from fewlabel.errors import InputError, TrainingDivergedError
from fewlabel.train import distributed
from fewlabel.train.data import Batches, epoch_seed
from fewlabel.train.ema import WeightEMA, check_decay
from fewlabel.train.state import load_state_file, save_state_file

LossFn = Callable[[nn.Module, tuple], "torch.Tensor | dict[str, torch.Tensor]"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = (None, "constant", "cosine", "step", "plateau")


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


@dataclass
class History:
    """Every metric per epoch, like Keras' ``History.history``: ``history["val_loss"][e]``."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: list[int] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

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
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(
            history={k: list(v) for k, v in d["history"].items()},
            epochs=list(d["epochs"]),
            stopped_early=bool(d["stopped_early"]),
            best_epoch=d["best_epoch"],
        )


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
    epochs, batch_size : how long and in what steps (batch_size is per process under torchrun).
    optimizer : 'sgd', 'adam', 'adamw', or a callable ``params -> torch.optim.Optimizer``.
    lr, weight_decay, momentum : the optimizer's settings (momentum for SGD, beta1 ignored otherwise).
    schedule : None/'constant', 'cosine' (per step, after ``warmup_epochs`` of linear warm-up),
        'step' (multiply by ``gamma`` every ``step_epochs``), 'plateau' (by ``gamma`` when ``monitor``
        stalls for ``patience // 2`` epochs, at least 1).
    device : 'auto' (CUDA, then MPS, then CPU), or a device name.
    precision : 'auto' (bf16 autocast on CUDA, fp32 elsewhere), 'bf16' or 'fp32'.
    seed : fixes the permutation of each epoch and the randomness inside the step (dropout, noise).
    early_stopping : patience in epochs (None: off), watching ``monitor`` ('val_loss' when validation
        data is given, else 'loss'); the best weights are restored at the end when ``restore_best``.
    checkpoint : a file path; written atomically every ``checkpoint_every`` epochs and at the end.
    resume : continue from ``checkpoint`` when it exists (same weights as an uninterrupted run).
    grad_clip : clip the gradient norm to this value.
    ema : None, or the decay (e.g. 0.999) of an exponential moving average of the weights
        (:class:`~fewlabel.train.ema.WeightEMA`, with its warm-up) updated after every step; validation,
        early stopping and the weights the model ends with are then the average's.
    progress : show a progress bar with the running loss (stderr).
    """

    def __init__(
        self,
        *,
        epochs: int = 10,
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
        description: str = "train",
    ):
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise InputError(f"epochs must be a positive integer, got {epochs!r}")
        if isinstance(optimizer, str) and optimizer.lower() not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {optimizer!r}: choose one of {OPTIMIZERS} or pass a callable")
        if schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {schedule!r}: choose one of {SCHEDULES}")
        if precision not in ("auto", "bf16", "fp32"):
            raise InputError(f"unknown precision {precision!r}: choose 'auto', 'bf16' or 'fp32'")
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise InputError(f"lr must be a positive finite number, got {lr!r}")
        if early_stopping is not None and early_stopping < 1:
            raise InputError(f"early_stopping is a patience in epochs (>= 1) or None, got {early_stopping!r}")
        if resume and checkpoint is None:
            raise InputError("resume=True needs checkpoint= (the file to resume from)")
        self.epochs, self.batch_size = int(epochs), batch_size
        self.optimizer, self.lr, self.weight_decay, self.momentum = optimizer, float(lr), weight_decay, momentum
        self.schedule, self.warmup_epochs, self.step_epochs, self.gamma = schedule, warmup_epochs, step_epochs, gamma
        self.device = device
        self.precision, self.seed = precision, seed
        self.early_stopping, self.monitor, self.min_delta, self.restore_best = early_stopping, monitor, min_delta, restore_best
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every, self.resume = checkpoint_every, resume
        self.grad_clip, self.num_workers = grad_clip, num_workers
        self.ema = check_decay(ema)
        self.progress, self.description = progress, description
        self.on_epoch_end: list[Callable[[int, dict], None]] = []

    # -- building blocks -------------------------------------------------------------------------
    def _make_optimizer(self, params) -> torch.optim.Optimizer:
        if callable(self.optimizer):
            return self.optimizer(params)
        name = self.optimizer.lower()
        if name == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        if name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

    def _make_schedule(self, opt, steps_per_epoch: int):
        total = self.epochs * steps_per_epoch
        warm = self.warmup_epochs * steps_per_epoch
        if self.schedule == "cosine":
            def factor(step):
                if step < warm:
                    return (step + 1) / warm
                progress = (step - warm) / max(1, total - warm)
                return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
            return torch.optim.lr_scheduler.LambdaLR(opt, factor), "step"
        if self.schedule == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=self.step_epochs, gamma=self.gamma), "epoch"
        if self.schedule == "plateau":
            patience = max(1, (self.early_stopping or 10) // 2)
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=self.gamma, patience=patience), "plateau"
        if warm:
            return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm)), "step"
        return None, None

    def _autocast(self, device: torch.device):
        use_bf16 = self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda")
        if use_bf16 and device.type in ("cuda", "cpu"):
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return torch.autocast(device.type, enabled=False)

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
    ) -> History:
        """Train ``model`` in place on ``train`` (arrays/tensors/tuple, or a Dataset); return the history.

        ``params``: what the optimizer updates (default: every parameter with ``requires_grad``).
        ``after_step(model, global_step)``: called after each optimizer step (e.g. an EMA update);
        ``self.total_steps_`` then holds the number of steps the whole run takes.
        """
        dist = distributed.setup()
        device = dist.device if dist.world > 1 else resolve_device(self.device)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(self.seed)
        model.to(device)
        train_batches = Batches(train, self.batch_size, device, shuffle=True, seed=self.seed, rank=dist.rank,
                                world=dist.world, num_workers=self.num_workers, name="training data")
        val_batches = None
        if val is not None:
            val_batches = Batches(val, max(self.batch_size, 1024), device, shuffle=False, rank=dist.rank,
                                  world=dist.world, num_workers=self.num_workers, name="validation data")
        params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
        if not params:
            raise InputError("the model has no trainable parameters (all frozen?)")
        opt = self._make_optimizer(params)
        sched, sched_every = self._make_schedule(opt, len(train_batches))
        self.total_steps_ = self.epochs * len(train_batches)  # this process's optimizer steps over the whole run
        monitor = self.monitor or ("val_loss" if val is not None else "loss")

        step_module: nn.Module = _LossModule(model, loss_fn)
        ema = WeightEMA(model, self.ema) if self.ema is not None else None
        kept = model if ema is None else ema.module  # the weights validated, kept as best and returned
        if dist.world > 1:
            step_module = distributed.wrap(step_module, device)

        history = History()
        best_value, best_state, wait, start_epoch, global_step = math.inf, None, 0, 0, 0
        if self.resume and self.checkpoint is not None and self.checkpoint.exists():
            ck = load_state_file(self.checkpoint, "checkpoint")
            _load_model_state(model, ck["model"], self.checkpoint)
            opt.load_state_dict(ck["optimizer"])
            if sched is not None and ck.get("scheduler") is not None:
                sched.load_state_dict(ck["scheduler"])
            if ema is not None:
                if ck.get("ema") is None:
                    raise InputError(f"checkpoint {self.checkpoint} was written without ema; resume with the "
                                     f"settings it was started with")
                _load_model_state(ema.module, ck["ema"], self.checkpoint)
                ema.updates = int(ck["global_step"])
            history = History.from_dict(ck["history"])
            start_epoch, global_step = int(ck["epoch"]), int(ck["global_step"])
            best_value, wait = float(ck["best_value"]), int(ck["wait"])
            best_state = ck.get("best_state")
            if history.stopped_early:
                start_epoch = self.epochs  # the run had already finished by early stopping

        autocast = self._autocast(device)
        show = self.progress and dist.rank == 0
        # One bar for the whole run: steps done over all steps, the epoch, running loss, last metrics.
        bar = tqdm(total=(self.epochs - start_epoch) * len(train_batches), desc=self.description,
                   disable=not show, file=sys.stderr, dynamic_ncols=True, unit="step")
        shown: dict[str, str] = {}
        for epoch in range(start_epoch, self.epochs):
            t0 = time.perf_counter()
            # Fix this epoch's randomness (dropout, noise, augmentation) by (seed, epoch): exact resume.
            torch.manual_seed(epoch_seed(self.seed + 1, epoch))
            good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.train()
            totals: dict[str, torch.Tensor] = {}
            count = 0
            bar.set_description(f"{self.description} epoch {epoch + 1}/{self.epochs}", refresh=False)
            last_refresh = time.perf_counter()
            for i, batch in enumerate(train_batches.epoch(epoch)):
                with autocast:
                    out = step_module(batch)
                loss = out["loss"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if self.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
                opt.step()
                global_step += 1
                if sched_every == "step":
                    sched.step()
                if ema is not None:
                    ema.update(model)
                if after_step is not None:
                    after_step(model, global_step)
                n = len(batch[0])
                count += n
                for k, v in out.items():
                    v = v.detach().float() * n
                    totals[k] = totals[k] + v if k in totals else v
                bar.update(1)
                # Reading the loss forces a device sync: do it about twice a second, not every step.
                now = time.perf_counter()
                if device.type == "cpu" or now - last_refresh > 0.5:
                    last_refresh = now
                    running = totals["loss"].item() / count
                    if not math.isfinite(running):
                        bar.close()
                        self._diverged(model, good_state, epoch, i, running)
                    bar.set_postfix(loss=f"{running:.4g}", **shown, refresh=False)
            logs = distributed.mean_metrics(totals, count, dist)
            if not math.isfinite(logs["loss"]):
                bar.close()
                self._diverged(model, good_state, epoch, len(train_batches) - 1, logs["loss"])
            if val_batches is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(kept, loss_fn, val_batches, dist).items()})
            logs["lr"] = opt.param_groups[0]["lr"]
            logs["seconds"] = time.perf_counter() - t0
            if sched_every == "epoch":
                sched.step()
            elif sched_every == "plateau":
                sched.step(logs.get(monitor, logs["loss"]))
            history.append(epoch + 1, logs)
            if monitor not in logs:
                raise InputError(f"monitor={monitor!r} is not among the metrics {sorted(logs)}")
            value = logs[monitor]
            if value < best_value - self.min_delta:
                best_value, wait, history.best_epoch = value, 0, epoch + 1
                if self.early_stopping is not None and self.restore_best:
                    best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
            else:
                wait += 1
            stop = self.early_stopping is not None and wait >= self.early_stopping
            history.stopped_early = stop
            # The bar keeps showing the last epoch's metrics while the next one runs.
            shown = {k: f"{v:.4g}" for k, v in logs.items() if k not in ("loss", "lr", "seconds")}
            bar.set_postfix(loss=f"{logs['loss']:.4g}", **shown, refresh=False)
            last = stop or epoch + 1 == self.epochs
            if self.checkpoint is not None and (last or (epoch + 1) % self.checkpoint_every == 0):
                if dist.rank == 0:
                    save_state_file(self.checkpoint, "checkpoint", {
                        "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict() if sched is not None else None,
                        "history": history.to_dict(), "epoch": epoch + 1, "global_step": global_step,
                        "best_value": best_value, "wait": wait, "best_state": best_state,
                        "ema": ema.state_dict() if ema is not None else None,
                    })
                distributed.barrier(dist)
            for callback in self.on_epoch_end:
                callback(epoch + 1, logs)
            if stop:
                break
        bar.close()
        if self.early_stopping is not None and self.restore_best and best_state is not None:
            _load_model_state(model, best_state, "the best epoch's weights")
        elif ema is not None:
            _load_model_state(model, ema.state_dict(), "the averaged weights")
        model.eval()
        return history

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


def _load_model_state(model: nn.Module, state: dict, source) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise InputError(f"the weights in {source} do not fit this model ({e})") from None


def predict_batches(fn: Callable[[torch.Tensor], torch.Tensor], X, *, batch_size: int = 1024,
                    device: torch.device | None = None) -> np.ndarray:
    """Apply ``fn`` to ``X`` in batches on ``device`` (in-memory data moved once); return NumPy float32."""
    device = device or torch.device("cpu")
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            chunk = X[start : start + batch_size]
            t = chunk if isinstance(chunk, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(chunk))
            out.append(fn(t.to(device)).float().cpu())
    if not out:
        raise InputError("no rows to process")
    return torch.cat(out).numpy()
