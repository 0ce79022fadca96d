"""Autoencoders: the dense network (mirrored, explicit or tied decoder), the reconstruction losses
(MSE, binary cross-entropy, and their hinge variant), denoising, training on augmented images, and the
scikit-learn estimators.

:class:`AutoencoderBase` holds everything the estimators share (validation at the door, output
activation, noise, augmentation, the loss, ``transform`` / ``inverse_transform`` / ``reconstruction_error`` /
``score``, saving); :class:`Autoencoder` (dense) and the convolutional, variational and stacked
autoencoders only say how their network is built and, where it differs, how it is trained.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from fewlabel._base import (TorchEstimator, check_standardize, column_scaling, data_record, scaled_columns,
                            scaling_from_tensors, scaling_tensors, to_float, unscaled_columns, validate_X)
from fewlabel.augment import check_noise, corrupt, image_shape, nchw_to_rows, random_affine, salt_pepper_noise
from fewlabel.datasets.subsets import holdout
from fewlabel.errors import InputError
from fewlabel.nets.autoencoder import DenseAutoencoderNet, ImageRowsNet
from fewlabel.nets.conv import ConvAutoencoderNet
from fewlabel.nets.dense import activation as make_activation
from fewlabel.nets.encoder import EncoderSpec, check_exportable
from fewlabel.registry import register
from fewlabel.train import History
from fewlabel.train.data import RowsOf
from fewlabel.checks import anything, fraction, int_at_least, one_of, optional_positive_int
from fewlabel.train.config import Setting, check_settings, declare_settings, training_settings

LOSSES = ("auto", "mse", "bce")
AUGMENTS = (None, "shift")


def _hinge(name, v):
    if v is not None and not (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                              and math.isfinite(v) and v >= 0):
        raise InputError(f"{name} must be None or a cut-off >= 0 on the per-example loss, got {v!r}")


def _standardize(name, v):
    check_standardize(v)


#: What every autoencoder (dense, conv, variational, stacked) takes besides its architecture: how it
#: reconstructs (output, loss, hinge), from what (noise, augmentation), and how it is validated. Declared
#: once; the checks that need X's shape (noise level, augmentation) run in ``fit``.
RECONSTRUCTION: dict[str, Setting] = {
    "output_activation": Setting("auto", anything, "the decoder's output: 'auto' (sigmoid for data in [0, 1], "
                                                   "else linear) or an activation name"),
    "loss": Setting("mse", one_of(LOSSES), "'mse', 'bce', or 'auto' (bce for data in [0, 1], else mse)"),
    "hinge": Setting(None, _hinge, "a cut-off: examples reconstructed better than it add no loss (None: off)"),
    "noise": Setting(None, anything, "None, or the corruption of a denoising autoencoder: 'gaussian', 'mask', "
                                     "'salt_pepper' or 'blur' (the target stays the clean input)"),
    "noise_level": Setting(0.2, anything, "the corruption's strength (std, fraction masked or flipped, blur sigma "
                                          "in pixels)"),
    "augment": Setting(None, one_of(AUGMENTS), "None, or 'shift': train on randomly shifted and rotated images, "
                                               "each its own target (DEC-DA)"),
    "augment_shift": Setting(0.1, anything, "with augment='shift': the largest shift, a fraction of the size"),
    "augment_rotate": Setting(10.0, anything, "with augment='shift': the largest rotation in degrees"),
    "standardize": Setting("auto", _standardize, "centre and scale each column by its mean and spread over X "
                                                 "first: 'auto' for a table of floats (2-D, not uint8) whose "
                                                 "values leave [0, 1], True, or False"),
    "validation_fraction": Setting(0.0, fraction, "the fraction of X held out for val_loss (0: none)"),
    "early_stopping": Setting(None, optional_positive_int, "None, or a patience in epochs on val_loss (loss without "
                                               "validation rows); the best weights are kept"),
}


def reconstruction_settings(**defaults):
    """Class decorator: the :data:`RECONSTRUCTION` parameters on an autoencoder estimator."""
    return declare_settings(RECONSTRUCTION, "Reconstruction settings (shared by every autoencoder)", **defaults)


def _latent(name, v):
    int_at_least(name, v, 1)


#: The dense autoencoders' layers (:class:`Autoencoder`, and the stacked one, which trains the same network
#: another way): declared once. The checks that need the data (layer and activation counts) run in ``fit``.
DENSE_LAYERS: dict[str, Setting] = {
    "hidden": Setting((500, 500, 2000), anything, "the encoder's hidden layer sizes, down to the code"),
    "latent": Setting(10, _latent, "the code's size (an integer >= 1)"),
    "activation": Setting("relu", anything, "the hidden layers' activation: one name, or one per hidden layer"),
    "latent_activation": Setting("linear", anything, "the code layer's activation"),
    "decoder_hidden": Setting(None, anything, "the decoder's hidden layer sizes (None: the encoder's, mirrored)"),
    "decoder_activation": Setting(None, anything, "the decoder's activations (None: the encoder's, mirrored)"),
    "tied": Setting(False, anything, "decode with the encoder's transposed weights"),
    "dropout": Setting(0.0, anything, "the fraction of each hidden layer's outputs dropped while training"),
}


def dense_layer_settings(**defaults):
    """Class decorator: the :data:`DENSE_LAYERS` parameters on a dense autoencoder estimator."""
    return declare_settings(DENSE_LAYERS, "Layers (shared by the dense autoencoders)", **defaults)


def image_mover(hwc, shift: float, rotate: float):
    """``x -> x`` with each image (rows of (H, W, C) = ``hwc`` values, flat or not) moved by its own random
    shift of up to ``shift`` of the size and rotation of up to ``rotate`` degrees (bilinear, 0 outside)."""
    h, w, c = hwc
    shift, rotate = float(shift), float(rotate)

    def move(x: torch.Tensor) -> torch.Tensor:
        img = x.reshape(len(x), h, w, c).permute(0, 3, 1, 2)
        return nchw_to_rows(random_affine(img, rotate=rotate, translate=shift), x.shape)

    return move


class MovedImagesMixin:
    """The ``augment`` / ``augment_shift`` / ``augment_rotate`` parameters (training on randomly moved
    images), shared by the autoencoders and deep clustering."""

    # Defaults for estimators that do not take the augmentation parameters in their __init__.
    augment = None
    augment_shift = 0.1
    augment_rotate = 10.0

    def augment_image_shape(self, input_shape) -> tuple[int, int, int]:
        """(H, W, C) of the images that ``augment`` moves: rows (H, W), (H, W, C) or square flat rows."""
        try:
            return image_shape(input_shape)
        except InputError:
            raise InputError(f"augment={self.augment!r} moves images: it needs rows of shape (H, W), (H, W, C) or "
                             f"flat rows of a square number of values (784 -> 28x28); got rows of shape "
                             f"{tuple(input_shape)}. Reshape them to images (e.g. X.reshape(len(X), H, W)), or "
                             "leave augment=None") from None

    def _check_augment(self, input_shape) -> None:
        if self.augment not in AUGMENTS:
            raise InputError(f"unknown augment {self.augment!r}: choose one of {AUGMENTS}")
        for name, upper, what in (("augment_shift", 1.0, "a fraction of the image size, in [0, 1)"),
                                  ("augment_rotate", 180.0, "a number of degrees in [0, 180]")):
            v = getattr(self, name)
            ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            if not (ok and math.isfinite(v) and 0 <= v and (v < upper if name == "augment_shift" else v <= upper)):
                raise InputError(f"{name} must be {what}, got {v!r}")
        if self.augment is not None:
            self.augment_image_shape(input_shape)

    def _augmenter(self):
        """``x -> moved x`` for a float batch of rows shaped ``input_shape_`` (None without ``augment``)."""
        if self.augment is None:
            return None
        return image_mover(self.augment_image_shape(self.input_shape_), self.augment_shift, self.augment_rotate)


def per_example_error(net, logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean reconstruction loss per example of decoder ``logits`` against ``target`` (floats)."""
    target = target.float()
    if kind == "bce":
        if net.output_activation == "sigmoid":
            per = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
        else:
            per = F.binary_cross_entropy(net.output_fn(logits).float().clamp(1e-7, 1 - 1e-7), target,
                                         reduction="none")
    else:
        per = (net.output_fn(logits).float() - target) ** 2
    return per.reshape(len(target), -1).mean(dim=1)


def reconstruction_loss(net, x: torch.Tensor, kind: str, reduction: str = "mean", target=None,
                        hinge: float | None = None) -> torch.Tensor:
    """Reconstruction loss of ``net`` on inputs ``x`` against ``target`` (default: ``x`` itself).

    ``hinge``: the per-example loss becomes ``max(0, error - hinge)``, so examples already
    reconstructed better than the cut-off add nothing and training concentrates on the bad ones.
    """
    per = per_example_error(net, net.decode_logits(net.encode(x)), x if target is None else target, kind)
    if hinge is not None:
        per = torch.clamp(per - hinge, min=0.0)
    return per.mean() if reduction == "mean" else per


class AutoencoderBase(MovedImagesMixin, TransformerMixin, TorchEstimator):
    """What every autoencoder estimator shares. Subclasses define ``__init__`` (their parameters) and
    ``_build(input_shape, output_activation)``; they may override ``_check_params``, ``_make_loss``,
    ``code_batch`` and ``_decode`` (and ``fit`` itself, as greedy stacking does).

    Shared parameters: ``loss`` ('mse', 'bce', or 'auto': bce when the scaled data lies in [0, 1]), ``hinge`` (cut-off: examples reconstructed better
    than it add no loss), ``noise`` (None, 'gaussian', 'mask', 'salt_pepper', 'blur': a denoising
    autoencoder, trained to map corrupted inputs back to the clean ones) with ``noise_level``,
    ``output_activation`` ('auto': sigmoid when the scaled data lies in [0, 1], else linear).

    ``standardize`` ('auto', True, False): a table's columns come in their own units (an amount in the
    thousands beside a ratio below 1), and a reconstruction loss over them is the largest column's alone. With
    'auto', a 2-D table of floats whose values leave [0, 1] is centred and scaled column by column (each
    column's mean and spread over ``X``, kept as ``standardize_``) before anything else; the network learns
    and is scored (``reconstruction_error``) in those units, ``reconstruct`` and ``inverse_transform`` answer
    in the columns' own units, and the exported encoder carries the scaling, so every user of it gives it the
    rows as they are. Rows within [0, 1] (pixels, fractions) are left as they are: that is the range the
    sigmoid output and binary cross-entropy work in, and a pixel that is almost always 0 would otherwise be
    blown up by its tiny spread.

    ``augment`` (None, or 'shift'): train on randomly moved images, as DEC-DA does (Guo et al., "Deep
    Embedded Clustering with Data Augmentation", ACML 2018). Each image of each training batch gets its
    own random translation of up to ``augment_shift`` of its size in each direction (default 0.1: about
    3 pixels on 28x28) and rotation of up to ``augment_rotate`` degrees (default 10), bilinear, 0 outside
    the image; the *augmented* image is both the input and the target, so the codes learn to describe
    a digit wherever it sits rather than where its pixels are. With ``noise`` as well, the noise is put
    on top of the augmented image and the clean augmented image is the target. Training batches only:
    validation losses, ``transform`` and everything after fitting see the images as they are. Needs
    image rows: (H, W), (H, W, C), or flat rows of a square number of values (784 -> 28x28; a
    :class:`ConvAutoencoder` with ``image_shape`` folds its flat rows by that shape instead).
    Estimators whose ``__init__`` does not take these parameters keep the class defaults (no
    augmentation).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # computed in float32, whatever comes in
        return tags

    # -- hooks ---------------------------------------------------------------------------------
    def _build(self, input_shape, output_activation) -> nn.Module:
        raise NotImplementedError

    def _check_params(self) -> None:
        """Architecture parameters beyond the shared ones (subclasses)."""

    def code_batch(self, net, x: torch.Tensor) -> torch.Tensor:
        """The codes ``transform`` returns for a float batch ``x``, one row per example, computed by ``net``
        (this estimator's ``module_``, or a copy of it that deep clustering fine-tunes)."""
        return net.encode(x).reshape(len(x), -1)

    def code_shape(self) -> tuple[int, ...]:
        """The shape of one code as the decoder takes it (a flat code from ``transform`` is reshaped to it)."""
        return tuple(self.module_.code_shape)

    def _decode(self, net, z: torch.Tensor) -> torch.Tensor:
        return net.decode(z.reshape(len(z), *self.code_shape()))

    def _training_inputs(self):
        """``inputs(net, batch) -> (x, x_in)``: the batch scaled, moved when training with ``augment`` (the
        moved image is then the input and the target, DEC-DA), and ``x_in``, ``x`` corrupted by ``noise``."""
        scale, noise, level, shape = self.scale_, self.noise, self.noise_level, self.input_shape_
        lo, hi = self.data_range_
        augment = self._augmenter()

        def inputs(net, batch):
            x = to_float(batch[0], scale)
            if augment is not None and net.training:
                x = augment(x)
            return x, corrupt_input(x, noise, level, shape, lo, hi)

        return inputs

    def _make_loss(self):
        """``loss_fn(net, batch)`` for the training loop: the (augmented, then corrupted) input in, the clean
        (augmented) input as target. Augmentation acts in training mode only, never on validation batches."""
        kind, hinge = self.loss_, self.hinge
        inputs = self._training_inputs()

        def loss_fn(net, batch):
            x, x_in = inputs(net, batch)
            per = per_example_error(net, net.decode_logits(net.encode(x_in)), x, kind)
            if hinge is None:
                return per.mean()
            return {"loss": torch.clamp(per - hinge, min=0.0).mean(), "above_cutoff": (per > hinge).float().mean()}

        return loss_fn

    # -- fitting -------------------------------------------------------------------------------
    def check_architecture(self, X) -> None:
        """Check the settings against rows like ``X`` and build the layers, without training (an
        :class:`~fewlabel.InputError` names what does not fit): what ``fit`` would refuse, refused first."""
        from sklearn.base import clone

        trial = clone(self)
        trial._prepare(X)
        trial._build(trial.input_shape_, trial.output_activation_)

    def _prepare(self, X) -> np.ndarray:
        """Validate parameters and ``X``; set the fitted attributes every autoencoder has."""
        self._check_training_settings()
        check_settings(self, RECONSTRUCTION)
        self._check_params()
        X = X_given = validate_X(X)
        check_noise(self.noise, self.noise_level, X.shape[1:])
        self._check_augment(X.shape[1:])
        self.scale_ = 1 / 255 if X.dtype == np.uint8 else 1.0
        lo, hi = float(X.min()) * self.scale_, float(X.max()) * self.scale_
        self.standardize_ = None
        if self.standardize is True and X.dtype == np.uint8:
            raise InputError("standardize=True centres and scales a table's columns, but these rows are uint8 images, "
                             "which are read on [0, 1]: leave standardize at 'auto' or False")
        if self.standardize is True or (isinstance(self.standardize, str) and X.ndim == 2 and X.dtype != np.uint8
                                        and (lo < 0.0 or hi > 1.0)):
            self.standardize_ = column_scaling(X)
            X = scaled_columns(X, self.standardize_)
            lo, hi = float(X.min()), float(X.max())
        self.data_range_ = (lo, hi)
        in_unit = lo >= 0.0 and hi <= 1.0
        self.loss_ = self.loss if self.loss != "auto" else ("bce" if in_unit else "mse")
        if self.loss_ == "bce" and not in_unit:
            raise InputError(f"loss='bce' needs inputs in [0, 1] (uint8 images are scaled automatically); "
                             f"X ranges over [{lo:g}, {hi:g}]. Scale it, or use loss='mse'")
        out_act = self.output_activation
        if out_act == "auto":
            out_act = "sigmoid" if in_unit else "linear"
        make_activation(out_act)  # an unknown name fails here, before any training
        self.output_activation_ = out_act
        self.input_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.training_data_ = data_record(X_given, scaling=self.standardize_)
        return X

    def _train_val(self, X, validation_data):
        """(training rows, validation rows or None): ``validation_data`` if given, else a held-out fraction."""
        if validation_data is None:
            return _split_validation(X, self.validation_fraction, self.random_state)
        if self.validation_fraction:
            raise InputError("give either validation_data or validation_fraction, not both")
        V = validate_X(validation_data, name="validation_data", expected_shape=X.shape[1:],
                       estimator=type(self).__name__)
        V = scaled_columns(V, self.standardize_)
        return X, (V if V.dtype == X.dtype else V.astype(np.float32))

    def fit(self, X, y=None, validation_data=None):
        """Learn the encoder and decoder from ``X`` alone (``y`` is ignored: unlabeled learning).

        ``validation_data``: rows shaped like ``X`` whose loss is reported each epoch as ``val_loss``
        (and drives early stopping); otherwise ``validation_fraction`` of ``X`` is held out.
        """
        X = self._prepare(X)
        torch.manual_seed(self.random_state or 0)
        self.module_ = self._build(self.input_shape_, self.output_activation_)
        train, val = self._train_val(X, validation_data)
        trainer = self._trainer(description=type(self).__name__, early_stopping=self.early_stopping)
        self.history_: History = trainer.fit(self.module_, self._make_loss(), train, val)
        return self

    # -- using ---------------------------------------------------------------------------------
    def validate_rows(self, X) -> np.ndarray:
        """``X`` checked as rows this fitted autoencoder takes (its input shape, numbers, no NaN), or an
        InputError saying what is wrong; what ``transform`` and anything built on this autoencoder check first."""
        check_is_fitted(self, "module_")
        return validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)

    def network_rows(self, X) -> np.ndarray:
        """``X`` checked (:meth:`validate_rows`) and, when this autoencoder centres and scales the columns
        (``standardize_``), scaled: the rows as its network takes them (uint8 images stay uint8)."""
        return scaled_columns(self.validate_rows(X), getattr(self, "standardize_", None))

    @property
    def _n_features_out(self) -> int:
        return int(self.transform(np.zeros((1, *self.input_shape_), np.float32)).shape[1])

    def transform(self, X) -> np.ndarray:
        """The codes, one row per example."""
        X = self.network_rows(X)
        self.module_.eval()
        return self._apply(lambda x: self.code_batch(self.module_, to_float(x, self.scale_)), X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Reconstructions from codes, in the input's scale (0..255 for uint8 images)."""
        check_is_fitted(self, "module_")
        Z = validate_X(Z, name="Z", expected_shape=(math.prod(self.code_shape()),), estimator=type(self).__name__)
        self.module_.eval()
        out = self._apply(lambda z: self._decode(self.module_, z.float()), Z)
        return unscaled_columns(out, getattr(self, "standardize_", None)) / self.scale_

    def reconstruct(self, X) -> np.ndarray:
        """The clean reconstruction of ``X`` (no noise), in the input's scale (its columns' own units)."""
        X = self.network_rows(X)
        self.module_.eval()
        out = self._apply(lambda x: self.module_(to_float(x, self.scale_)), X)
        return unscaled_columns(out, getattr(self, "standardize_", None)) / self.scale_

    def squared_residuals(self, X) -> np.ndarray:
        """(rows, values): the squared error of every value of the clean reconstruction, in the units the
        network learns in ([0, 1] for uint8 images, centred and scaled columns with ``standardize_``).
        Computed a block of rows at a time."""
        X = self.network_rows(X)
        self.module_.eval()
        out = np.empty((len(X), self.n_features_in_), np.float32)
        for start in range(0, len(X), 4096):
            x = X[start:start + 4096]
            rec = self._apply(lambda b: self.module_(to_float(b, self.scale_)), x).reshape(len(x), -1)
            out[start:start + len(x)] = (rec - np.asarray(x, np.float32).reshape(len(x), -1) * self.scale_) ** 2
        return out

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-row reconstruction loss of the clean input (the training loss without noise or cut-off,
        on the [0, 1] scale for images, on the centred and scaled columns with ``standardize_``): high for
        inputs unlike the training data."""
        X = self.network_rows(X)
        self.module_.eval()
        kind = self.loss_
        return self._apply(lambda x: reconstruction_loss(self.module_, to_float(x, self.scale_), kind,
                                                         reduction="none"), X)

    def score(self, X, y=None) -> float:
        """Minus the mean reconstruction error: higher is better, as scikit-learn's model selection wants."""
        return -float(np.mean(self.reconstruction_error(X)))

    # -- saving --------------------------------------------------------------------------------
    def fitted_extra(self) -> dict:
        return {"output_activation": self.output_activation_, "data_range": list(self.data_range_), "loss": self.loss_}

    def restore_fitted(self, fitted: dict) -> None:
        self.output_activation_ = fitted["output_activation"]
        self.data_range_ = tuple(fitted["data_range"])
        self.loss_ = fitted["loss"]
        self.module_ = self._build(self.input_shape_, self.output_activation_)

    def get_state(self):
        config, tensors = super().get_state()
        tensors.update(scaling_tensors(getattr(self, "standardize_", None)))
        return config, tensors

    @classmethod
    def from_state(cls, config, tensors):
        est = super().from_state(config, tensors)
        est.standardize_ = scaling_from_tensors(tensors)  # None: unscaled, or saved before autoencoders scaled
        return est


def corrupt_input(x, noise, level, input_shape, lo, hi):
    """``x`` corrupted by ``noise`` (see :func:`fewlabel.augment.corrupt`); salt and pepper take the data's own
    extremes ``lo`` and ``hi``."""
    if noise == "salt_pepper":  # salt and pepper are the data's own extremes
        return salt_pepper_noise(x, level, lo, hi)
    return corrupt(x, noise, level, input_shape)


@register
@training_settings()
@reconstruction_settings()
@dense_layer_settings()
class Autoencoder(AutoencoderBase):
    """A dense autoencoder as a scikit-learn transformer: ``fit(X)``, ``transform(X)`` gives the codes.

    Rows may be vectors or images (uint8 images are scaled to [0, 1]). ``hidden`` lists the encoder's
    layer sizes down to ``latent``; ``activation`` is one name or one per hidden layer. The decoder
    mirrors the encoder unless ``decoder_hidden`` (and ``decoder_activation``) say otherwise;
    ``tied=True`` makes it use the encoder's transposed weights. ``loss``: 'mse' or 'bce'; ``hinge``:
    a per-example cut-off; ``noise`` / ``noise_level``: a denoising autoencoder; ``augment='shift'``
    with ``augment_shift`` / ``augment_rotate``: train on randomly shifted and rotated images, each the
    target of its own reconstruction (DEC-DA; image rows or square flat rows; see
    :class:`AutoencoderBase`).

    The default architecture, ``input-500-500-2000-10``, is DEC's, IDEC's and N2D's: its codes of MNIST
    digits cluster better than the pixels, and those of Fashion-MNIST images about as well, where a smaller
    encoder (128-64-16) gives MNIST codes that cluster worse than the pixels.
    """

    def __init__(self):
        """Every parameter is a declared setting (layers, reconstruction, training), listed below."""

    def _check_params(self) -> None:
        check_settings(self, DENSE_LAYERS)

    def export_encoder(self, pooling: str = "auto") -> EncoderSpec:
        """The encoder (its dense layers down to the code) as an :class:`~fewlabel.nets.encoder.EncoderSpec`:
        the code is what :meth:`transform` gives. ``pooling``: 'auto' or 'flatten' ('global' needs a
        convolutional encoder)."""
        common = check_exportable(self, pooling)
        if pooling == "global":
            raise InputError(f"pooling='global' averages a convolutional feature map; the encoder of this "
                             f"{type(self).__name__} is dense: use pooling='auto' or 'flatten'")
        return EncoderSpec.of(self.module_.encoder, "flatten", **common)

    def _build(self, input_shape, output_activation) -> DenseAutoencoderNet:
        return DenseAutoencoderNet(input_shape, hidden=tuple(self.hidden), latent=int(self.latent),
                                   activation=self.activation, latent_activation=self.latent_activation,
                                   output_activation=output_activation, dropout=self.dropout,
                                   decoder_hidden=self.decoder_hidden, decoder_activation=self.decoder_activation,
                                   tied=self.tied)


@register
@training_settings(epochs=20)
@reconstruction_settings()
class ConvAutoencoder(AutoencoderBase):
    """A convolutional autoencoder for images, as a scikit-learn transformer.

    The default is the classic 28x28 design: three stages of 3x3 convolution + 2x2 max-pooling with
    16, 32 and 64 channels (28 -> 14 -> 7 -> 3, a 3x3x64 code), mirrored by transposed convolutions.
    ``channels`` sets the stages; ``latent`` adds a dense bottleneck of that size after the last stage.
    ``code`` picks what ``transform`` returns: 'flatten' (the 576 values of the 3x3x64 map, or the
    latent vector) or 'pool' (global average pooling of each channel: a 64-d code, not decodable).
    Rows are images (H, W) or (H, W, C); flat rows are accepted when ``image_shape`` says how to fold
    them. Loss, cut-off, denoising and augmentation (``augment='shift'``, ``augment_shift``,
    ``augment_rotate``: train on randomly shifted and rotated images, moved in ``image_shape`` when it is
    given) options as for every autoencoder (:class:`AutoencoderBase`).
    """

    def __init__(self, channels=(16, 32, 64), kernel_size=3, activation="relu", batch_norm=False, latent=None,
                 latent_activation="linear", code="flatten", image_shape=None):
        self.channels = channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.batch_norm = batch_norm
        self.latent = latent
        self.latent_activation = latent_activation
        self.code = code
        self.image_shape = image_shape

    def _check_params(self) -> None:
        if self.code not in ("flatten", "pool"):
            raise InputError(f"code must be 'flatten' or 'pool', got {self.code!r}")
        if self.code == "pool" and self.latent is not None:
            raise InputError("code='pool' averages the last feature maps; with a dense latent there are none to "
                             "pool: leave latent=None or use code='flatten'")

    def _image_shape(self, input_shape) -> tuple[int, ...]:
        if self.image_shape is None:
            if len(input_shape) not in (2, 3):
                raise InputError(f"ConvAutoencoder needs images: rows of shape (H, W) or (H, W, C), got rows of shape "
                                 f"{tuple(input_shape)}; pass image_shape=(H, W[, C]) to fold flat rows into images")
            return tuple(input_shape)
        shape = tuple(int(s) for s in self.image_shape)
        if math.prod(shape) != math.prod(input_shape):
            raise InputError(f"image_shape {shape} holds {math.prod(shape)} values, but the rows have "
                             f"{math.prod(input_shape)} (shape {tuple(input_shape)})")
        return shape

    def augment_image_shape(self, input_shape) -> tuple[int, int, int]:
        return super().augment_image_shape(self._image_shape(input_shape))

    def _build(self, input_shape, output_activation) -> nn.Module:
        image = self._image_shape(input_shape)
        net = ConvAutoencoderNet(image, channels=tuple(self.channels), kernel_size=self.kernel_size,
                                 activation=self.activation, batch_norm=self.batch_norm, latent=self.latent,
                                 latent_activation=self.latent_activation, output_activation=output_activation)
        return net if image == tuple(input_shape) else ImageRowsNet(net, image)

    def _prepare(self, X) -> np.ndarray:
        X = super()._prepare(X)
        self._image_shape(X.shape[1:])  # not images: say so before anything is built
        return X

    def code_batch(self, net, x):
        return net.code_vector(x, pooled=self.code == "pool")

    def export_encoder(self, pooling: str = "auto") -> EncoderSpec:
        """The encoder (its convolutional stages, and the dense latent if there is one) as an
        :class:`~fewlabel.nets.encoder.EncoderSpec`. ``pooling``: 'auto' (the code :meth:`transform` gives:
        pooled with ``code='pool'``, else the flattened map or latent), 'flatten' or 'global'."""
        common = check_exportable(self, pooling)
        net, image_shape = self.module_, None
        if isinstance(net, ImageRowsNet):  # fitted on flat rows: the encoder folds them into images first
            net, image_shape = net.net, net.image_shape
        code = pooling if pooling != "auto" else ("global" if self.code == "pool" else "flatten")
        return EncoderSpec.of(net.encoder, code, image_shape=image_shape, **common)

    def code_shape(self) -> tuple[int, ...]:
        if self.code == "pool":
            raise InputError("pooled codes (code='pool') cannot be decoded: the pooling threw the positions away; "
                             "use code='flatten' to invert codes")
        net = self.module_.net if isinstance(self.module_, ImageRowsNet) else self.module_
        return tuple(net.decoder.code_shape)


def _split_validation(X, fraction, seed):
    """(training rows, validation rows or None): ``fraction`` of the rows held out."""
    if not fraction:
        return X, None
    tr, va = holdout(len(X), fraction, seed, name="validation_fraction")
    # neither share copied: a file larger than memory is read batch by batch, rows in memory indexed in place
    return RowsOf(X, tr), RowsOf(X, va)
