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

import math

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import TorchEstimator, data_record, to_float, validate_X
from fewlabel.augment import byol_augment
from fewlabel.checks import MAX_WEIGHTS, number_in, positive_int
from fewlabel.errors import InputError
from fewlabel.nets.byol import BYOLNet
from fewlabel.nets.conv import ConvEncoder
from fewlabel.nets.encoder import EncoderSpec, check_exportable
from fewlabel.nets.resnet import STEMS, ResNet
from fewlabel.registry import register
from fewlabel.train import History
from fewlabel.train.config import training_settings

ENCODERS = ("resnet18", "conv")
POOLINGS = ("global", "flatten")


def ema_momentum(step: int, total_steps: int, tau_base: float) -> float:
    """BYOL's schedule: ``1 - (1 - tau_base) (cos(pi k / K) + 1) / 2``, from ``tau_base`` at step 0 to 1 at K."""
    progress = min(1.0, step / max(1, total_steps))
    return 1 - (1 - tau_base) * (math.cos(math.pi * progress) + 1) / 2


@register
@training_settings(epochs=100, lr=0.0003, weight_decay=1e-06)
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

    Fitted attributes: ``module_`` (a :class:`~fewlabel.nets.byol.BYOLNet`), ``history_`` (per-epoch ``loss`` and ``tau``, the mean EMA momentum),
    ``input_shape_``, ``n_features_in_``, ``scale_``.
    """

    def __init__(self, encoder="resnet18", stem="auto", width=64, channels=(32, 64, 128), batch_norm=True,
                 pooling="global", projection_dim=256, hidden_dim=4096, tau=0.996, crop_scale=(0.08, 1.0),
                 warmup_epochs=0):
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
        self.warmup_epochs = warmup_epochs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- checks -------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        self._check_training_settings()
        if self.encoder not in ENCODERS:
            raise InputError(f"unknown encoder {self.encoder!r}: BYOL trains one of {ENCODERS}")
        if self.stem not in STEMS:
            raise InputError(f"unknown stem {self.stem!r}: choose one of {STEMS}")
        if self.pooling not in POOLINGS:
            raise InputError(f"unknown pooling {self.pooling!r}: choose one of {POOLINGS}")
        for name in ("projection_dim", "hidden_dim", "width"):
            positive_int(name, getattr(self, name))
        weights = self.hidden_dim * (self.projection_dim * 3 + 512)  # projector and predictor, 512-d representation
        if weights > MAX_WEIGHTS:
            raise InputError(f"hidden_dim={self.hidden_dim} and projection_dim={self.projection_dim} make {weights:.3g} "
                             f"weights, more than the {MAX_WEIGHTS:.3g} fewlabel allows in one network: use smaller ones")
        number_in("tau (the target's EMA momentum)", self.tau, 0.0, 1.0)
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
            # The views in float32 whatever the training precision: the colour and blur arithmetic on [0, 1]
            # pixels is cheap, and under bf16 autocast the blur's convolutions would come back in bf16.
            with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
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
        self.training_data_ = data_record(X)
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

    def export_encoder(self, pooling: str = "auto") -> EncoderSpec:
        """The online encoder as an :class:`~fewlabel.nets.encoder.EncoderSpec`. ``pooling``: 'auto' (the
        representation it was trained to give, what :meth:`transform` gives), 'global' or 'flatten'."""
        common = check_exportable(self, pooling)
        enc = self.module_.encoder
        code = enc.code if pooling == "auto" else pooling
        return EncoderSpec.of(enc.body, code, image_shape=enc.image_shape, **common)

    # -- saving -------------------------------------------------------------------------------------------
    def fitted_extra(self) -> dict:
        return {"net": self.module_.config()}

    def restore_fitted(self, fitted: dict) -> None:
        self.module_ = BYOLNet(**fitted["net"])
