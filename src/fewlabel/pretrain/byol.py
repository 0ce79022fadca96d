"""BYOL: Bootstrap Your Own Latent (Grill et al., 2020), self-supervised pretraining of an image encoder.

Two augmented views ``v``, ``v'`` of each image. The *online* network (encoder ``f``, projector ``g``,
predictor ``q``) predicts, from ``v``, the *target* network's projection ``g'(f'(v'))``; the loss is the
mean squared error of the L2-normalised vectors, ``2 - 2 cos(q(g(f(v))), g'(f'(v')))``, symmetrised by
swapping the views. Only the online network is trained by gradient; the target's weights follow it as
an exponential moving average, ``xi <- tau xi + (1 - tau) theta`` after every step, with ``tau`` rising
from ``tau_base`` to 1 along a cosine over training. No negative pairs: the predictor and the slowly
moving target are what keep the codes from collapsing to a constant.

Projector and predictor are ``Linear(d, 4096) -> BatchNorm1d -> ReLU -> Linear(4096, 256)`` as in the
paper (``hidden_dim`` and ``projection_dim`` change the sizes). The views are the paper's (Table 6, see
:func:`fewlabel.augment.byol_augment`): random resized crop and mirror, colour jitter, grayscale,
Gaussian blur and solarisation, drawn per image on the device.

After training, :meth:`BYOL.transform` gives the online encoder's representation (ResNet-18: 512 values
per image, the global average of its last feature map), and ``SemiSupervisedClassifier(pretrain='byol')``
puts a head on it.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from fewlabel._base import TorchEstimator, to_float, validate_X
from fewlabel.augment import byol_augment
from fewlabel.errors import InputError
from fewlabel.registry import register
from fewlabel.nets.conv import ConvEncoder
from fewlabel.nets.encoder import CodeEncoder
from fewlabel.nets.resnet import STEMS, ResNet
from fewlabel.train import History

ENCODERS = ("resnet18", "conv")
POOLINGS = ("global", "flatten")


class ProjectionMLP(nn.Sequential):
    """``Linear(in, hidden) -> BatchNorm1d -> ReLU -> Linear(hidden, out)``: BYOL's projector and predictor."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, out_dim))


def regression_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-example ``|| p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z)`` (computed in float32)."""
    p, z = F.normalize(p.float(), dim=1), F.normalize(z.float(), dim=1)
    return 2 - 2 * (p * z).sum(dim=1)


def ema_momentum(step: int, total_steps: int, tau_base: float) -> float:
    """BYOL's schedule: ``1 - (1 - tau_base) (cos(pi k / K) + 1) / 2``, from ``tau_base`` at step 0 to 1 at K."""
    progress = min(1.0, step / max(1, total_steps))
    return 1 - (1 - tau_base) * (math.cos(math.pi * progress) + 1) / 2


@register
class BYOLNet(nn.Module):
    """The online network (``encoder``, ``projector``, ``predictor``) and the target network
    (``target_encoder``, ``target_projector``: copies of the online ones, never trained by gradient).

    ``encoder`` is a :class:`~fewlabel.nets.encoder.CodeEncoder` config. ``forward(x)`` gives the online
    representation; :meth:`loss` the symmetric BYOL loss of two views; :meth:`update_target` the EMA step.
    """

    def __init__(self, encoder: dict, projection_dim: int = 256, hidden_dim: int = 4096):
        super().__init__()
        self.args = {"encoder": dict(encoder), "projection_dim": int(projection_dim), "hidden_dim": int(hidden_dim)}
        self.encoder = CodeEncoder(**encoder)
        self.projector = ProjectionMLP(self.encoder.code_size, hidden_dim, projection_dim)
        self.predictor = ProjectionMLP(projection_dim, hidden_dim, projection_dim)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in self.target_parameters():
            p.requires_grad_(False)

    def config(self) -> dict:
        return dict(self.args)

    def online_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.projector.parameters()]

    def target_parameters(self) -> list[nn.Parameter]:
        return [*self.target_encoder.parameters(), *self.target_projector.parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        """Per-example symmetric loss: the online prediction of each view against the target's
        projection of the other. Both views go through each network in one batch (batch norm sees both)."""
        n = len(v1)
        both = torch.cat([v1, v2])
        p = self.predictor(self.projector(self.encoder(both)))
        with torch.no_grad():
            z = self.target_projector(self.target_encoder(both))
        return regression_loss(p[:n], z[n:]) + regression_loss(p[n:], z[:n])

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """``target <- tau * target + (1 - tau) * online``, for every weight (batch-norm statistics are the
        target's own: it runs in training mode and keeps its own running averages)."""
        torch._foreach_lerp_(self.target_parameters(), [p.detach() for p in self.online_parameters()], 1.0 - tau)


def _check_range(value, name, lo, hi):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and lo <= value <= hi
    if not ok:
        raise InputError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")


@register
class BYOL(TransformerMixin, TorchEstimator):
    """Self-supervised pretraining of an image encoder with BYOL; ``transform`` gives its representation.

    ``fit(X)`` takes images ``(N, H, W)`` or ``(N, H, W, C)`` (uint8 scaled to [0, 1], or floats in [0, 1]);
    labels are not used.

    Encoder: ``encoder='resnet18'`` (:func:`~fewlabel.nets.resnet.resnet18`: ``stem`` 'auto' | 'imagenet' |
    'cifar', ``width`` channels in its first stage, 64 for the standard network) or 'conv' (a
    :class:`~fewlabel.nets.conv.ConvEncoder` with ``channels`` and ``batch_norm``). ``pooling``: 'global'
    (average of the last feature map per channel, BYOL's representation) or 'flatten' (the whole map).

    BYOL: ``projection_dim`` and ``hidden_dim`` (projector and predictor), ``tau`` (the target's EMA
    momentum at the start; it rises to 1 along a cosine), ``crop_scale`` (the random crop's area range).

    Training: ``epochs``, ``batch_size`` (images per step; each gives two views), ``optimizer``, ``lr``,
    ``weight_decay`` and a cosine learning-rate schedule after ``warmup_epochs`` of linear warm-up.
    The paper trains with LARS at batch 4096 for 300-1000 epochs; Adam at batch 256 with the default
    rate is the usual single-GPU setting.

    Fitted attributes: ``module_`` (a :class:`BYOLNet`), ``history_`` (per-epoch ``loss`` and ``tau``, the mean EMA momentum),
    ``input_shape_``, ``n_features_in_``, ``scale_``.
    """

    def __init__(self, encoder="resnet18", stem="auto", width=64, channels=(32, 64, 128), batch_norm=True,
                 pooling="global", projection_dim=256, hidden_dim=4096, tau=0.996, crop_scale=(0.08, 1.0),
                 epochs=100, batch_size=256, optimizer="adam", lr=3e-4, weight_decay=1e-6, warmup_epochs=0,
                 device="auto", random_state=0, verbose=False):
        self.encoder = encoder
        self.stem = stem
        self.width = width
        self.channels = channels
        self.batch_norm = batch_norm
        self.pooling = pooling
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.tau = tau
        self.crop_scale = crop_scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- checks -------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        self._check_common_params()
        if self.encoder not in ENCODERS:
            raise InputError(f"unknown encoder {self.encoder!r}: BYOL trains one of {ENCODERS}")
        if self.stem not in STEMS:
            raise InputError(f"unknown stem {self.stem!r}: choose one of {STEMS}")
        if self.pooling not in POOLINGS:
            raise InputError(f"unknown pooling {self.pooling!r}: choose one of {POOLINGS}")
        for name in ("projection_dim", "hidden_dim", "width"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        _check_range(self.tau, "tau (the target's EMA momentum)", 0.0, 1.0)
        try:
            lo, hi = (float(s) for s in self.crop_scale)
        except (TypeError, ValueError):
            raise InputError(f"crop_scale must be a pair (min, max) of area fractions, got {self.crop_scale!r}") from None
        if not 0 < lo <= hi <= 1:
            raise InputError(f"crop_scale must satisfy 0 < min <= max <= 1 (fractions of the image's area), "
                             f"got {self.crop_scale!r}")
        if not isinstance(self.warmup_epochs, (int, np.integer)) or isinstance(self.warmup_epochs, bool) \
                or not 0 <= self.warmup_epochs < self.epochs:
            raise InputError(f"warmup_epochs must be an integer in [0, epochs), got {self.warmup_epochs!r}")

    def encoder_spec(self, input_shape) -> dict:
        """The :class:`~fewlabel.nets.encoder.CodeEncoder` config this estimator trains on images of ``input_shape``."""
        if self.encoder == "resnet18":
            body = ResNet(input_shape, blocks=(2, 2, 2, 2), base=int(self.width), stem=self.stem)
        else:
            body = ConvEncoder(input_shape, channels=tuple(self.channels), batch_norm=bool(self.batch_norm))
        return {"body": {"type": type(body).__name__, "config": body.config()}, "code": self.pooling,
                "image_shape": None}

    # -- fitting ------------------------------------------------------------------------------------------
    def _make_loss(self, state: dict):
        scale, shape, crop = self.scale_, self.input_shape_, tuple(float(s) for s in self.crop_scale)

        def loss_fn(net, batch):
            x = to_float(batch[0], scale)
            with torch.no_grad():
                v1 = byol_augment(x, shape, view=1, crop_scale=crop)
                v2 = byol_augment(x, shape, view=2, crop_scale=crop)
            loss = net.loss(v1, v2).mean()
            return {"loss": loss, "tau": torch.tensor(state["tau"], device=loss.device)}

        return loss_fn

    def fit(self, X, y=None, validation_data=None):
        """Learn the encoder from the images ``X`` (``y`` is ignored). ``validation_data``: images whose
        BYOL loss (on their own random views) is reported each epoch as ``val_loss``."""
        self._check_params()
        X = validate_X(X)
        if X.ndim not in (3, 4):
            raise InputError(f"BYOL needs images: X of shape (N, H, W) or (N, H, W, C), got {X.shape}; reshape "
                             "flat rows first, e.g. X.reshape(len(X), 28, 28)")
        if X.ndim == 4 and X.shape[3] not in (1, 3):
            raise InputError(f"BYOL's colour augmentations need gray or RGB images (1 or 3 channels, last), got "
                             f"{X.shape[3]} channels in X of shape {X.shape}")
        if len(X) < 2:
            raise InputError(f"BYOL needs at least 2 images (batch norm over a batch of one is undefined), got {len(X)}")
        self.scale_ = 1 / 255 if X.dtype == np.uint8 else 1.0
        lo, hi = float(X.min()) * self.scale_, float(X.max()) * self.scale_
        if lo < 0 or hi > 1:
            raise InputError(f"BYOL's augmentations (colour jitter, solarisation) work on pixel values in [0, 1]; X "
                             f"ranges over [{lo:g}, {hi:g}]: give uint8 images or floats scaled to [0, 1]")
        self.input_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        val = None
        if validation_data is not None:
            val = validate_X(validation_data, name="validation_data", expected_shape=self.input_shape_,
                             estimator="BYOL")
            val = val if val.dtype == X.dtype else val.astype(np.float32)
        spec = self.encoder_spec(self.input_shape_)
        torch.manual_seed(self.random_state or 0)  # the seed alone fixes the initial weights
        net = BYOLNet(spec, int(self.projection_dim), int(self.hidden_dim))
        self.module_ = net
        trainer = self._trainer(description="BYOL", schedule="cosine", warmup_epochs=int(self.warmup_epochs))
        tau_base = float(self.tau)
        state = {"tau": tau_base}  # the momentum of the latest EMA step (logged per epoch as its mean)

        def after_step(model, step):  # step k (from 1) uses tau(k - 1): tau_base first, rising towards 1
            state["tau"] = ema_momentum(step - 1, trainer.total_steps_, tau_base)
            model.update_target(state["tau"])

        self.history_: History = trainer.fit(net, self._make_loss(state), X, val,
                                             params=[*net.online_parameters(), *net.predictor.parameters()],
                                             after_step=after_step)
        return self

    # -- using --------------------------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """The online encoder's representation of each image ``(n_rows, code_size)``."""
        check_is_fitted(self, "module_")
        X = validate_X(X, expected_shape=self.input_shape_, estimator="BYOL")
        self.module_.eval()
        return self._apply(lambda x: self.module_(to_float(x, self.scale_)), X)

    # -- saving -------------------------------------------------------------------------------------------
    def _fitted_extra(self) -> dict:
        return {"net": self.module_.config()}

    def _restore_fitted(self, fitted: dict) -> None:
        self.module_ = BYOLNet(**fitted["net"])
