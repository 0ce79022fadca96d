"""Dense autoencoder: the network, its reconstruction loss, and the scikit-learn estimator."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from fewlabel._base import TorchEstimator, to_float, validate_X
from fewlabel.errors import InputError
from fewlabel.io import register
from fewlabel.nets.dense import MLP
from fewlabel.nets.dense import activation as make_activation
from fewlabel.train import History

LOSSES = ("mse", "bce")


@register
class DenseAutoencoderNet(nn.Module):
    """``input -> hidden... -> latent -> reversed(hidden)... -> input``, dense layers throughout.

    The decoder's last layer computes logits; ``decode`` applies ``output_activation`` to them, and the
    loss uses the logits directly where that is more stable (binary cross-entropy with a sigmoid).
    """

    def __init__(self, input_shape, hidden=(128, 64), latent=16, activation="relu", latent_activation="linear",
                 output_activation="sigmoid", dropout=0.0):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.hidden, self.latent = [int(h) for h in hidden], int(latent)
        self.activation, self.latent_activation = activation, latent_activation
        self.output_activation, self.dropout = output_activation, dropout
        d = math.prod(self.input_shape)
        self.encoder = MLP([d, *self.hidden, self.latent], activations=activation, output_activation=latent_activation,
                           dropout=dropout, input_shape=self.input_shape)
        self.decoder = MLP([self.latent, *reversed(self.hidden), d], activations=activation, output_activation=None,
                           dropout=dropout, output_shape=self.input_shape)
        self.output_fn = make_activation(output_activation)

    def config(self) -> dict:
        return {"input_shape": list(self.input_shape), "hidden": self.hidden, "latent": self.latent,
                "activation": self.activation, "latent_activation": self.latent_activation,
                "output_activation": self.output_activation, "dropout": self.dropout}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.output_fn(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def reconstruction_loss(net: DenseAutoencoderNet, x: torch.Tensor, kind: str, reduction: str = "mean") -> torch.Tensor:
    """Per-example (reduction='none') or mean reconstruction loss of ``net`` on float inputs ``x``."""
    logits = net.decode_logits(net.encode(x))
    if kind == "bce":
        if net.output_activation == "sigmoid":
            per = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
        else:
            per = F.binary_cross_entropy(net.output_fn(logits).float().clamp(1e-7, 1 - 1e-7), x.float(), reduction="none")
    else:
        per = (net.output_fn(logits).float() - x.float()) ** 2
    per = per.reshape(len(x), -1).mean(dim=1)
    return per.mean() if reduction == "mean" else per


@register
class Autoencoder(TorchEstimator):
    """A dense autoencoder as a scikit-learn transformer: ``fit(X)``, ``transform(X)`` gives the codes.

    Rows may be vectors or images (uint8 images are scaled to [0, 1]). ``hidden`` lists the encoder's
    layer sizes down to ``latent``; the decoder mirrors them. ``output_activation='auto'`` picks a
    sigmoid when the (scaled) data lies in [0, 1], else linear. ``loss``: 'mse' or 'bce'.
    """

    def __init__(self, hidden=(128, 64), latent=16, activation="relu", latent_activation="linear",
                 output_activation="auto", loss="mse", optimizer="adam", lr=1e-3, weight_decay=0.0, epochs=30,
                 batch_size=256, validation_fraction=0.0, early_stopping=None, device="auto", random_state=0,
                 verbose=False):
        self.hidden = hidden
        self.latent = latent
        self.activation = activation
        self.latent_activation = latent_activation
        self.output_activation = output_activation
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting -------------------------------------------------------------------------------
    def _build(self, input_shape, output_activation) -> DenseAutoencoderNet:
        return DenseAutoencoderNet(input_shape, hidden=tuple(self.hidden), latent=self.latent,
                                   activation=self.activation, latent_activation=self.latent_activation,
                                   output_activation=output_activation)

    def fit(self, X, y=None):
        """Learn the encoder and decoder from ``X`` alone (``y`` is ignored: unlabeled learning)."""
        self._check_common_params()
        if self.loss not in LOSSES:
            raise InputError(f"unknown loss {self.loss!r}: choose one of {LOSSES}")
        X = validate_X(X, min_rows=2)
        self.scale_ = 1 / 255 if X.dtype == np.uint8 else 1.0
        lo, hi = float(X.min()) * self.scale_, float(X.max()) * self.scale_
        in_unit = lo >= 0.0 and hi <= 1.0
        if self.loss == "bce" and not in_unit:
            raise InputError(f"loss='bce' needs inputs in [0, 1] (uint8 images are scaled automatically); "
                             f"X ranges over [{lo:g}, {hi:g}]. Scale it, or use loss='mse'")
        out_act = self.output_activation
        if out_act == "auto":
            out_act = "sigmoid" if in_unit else "linear"
        self.output_activation_ = out_act
        self.input_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        torch.manual_seed(self.random_state or 0)
        self.module_ = self._build(self.input_shape_, out_act)
        train, val = _split_validation(X, self.validation_fraction, self.random_state)
        scale, kind = self.scale_, self.loss

        def loss_fn(net, batch):
            return reconstruction_loss(net, to_float(batch[0], scale), kind)

        trainer = self._trainer(description="autoencoder", early_stopping=self.early_stopping)
        self.history_: History = trainer.fit(self.module_, loss_fn, train, val)
        return self

    # -- using ---------------------------------------------------------------------------------
    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)
        return X

    def transform(self, X) -> np.ndarray:
        """The codes, shape (n_rows, latent)."""
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: self.module_.encode(to_float(x, self.scale_)), X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Reconstructions from codes, in the input's scale (0..255 for uint8 images)."""
        check_is_fitted(self, "module_")
        Z = validate_X(Z, name="Z", expected_shape=(self.latent,), estimator=type(self).__name__)
        self.module_.eval()
        return self._apply(lambda z: self.module_.decode(z.float()), Z) / self.scale_

    def reconstruct(self, X) -> np.ndarray:
        """``inverse_transform(transform(X))`` in one pass."""
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: self.module_(to_float(x, self.scale_)), X) / self.scale_

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-row reconstruction loss (the training loss, on the [0, 1] scale for images)."""
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: reconstruction_loss(self.module_, to_float(x, self.scale_), self.loss,
                                                         reduction="none"), X)

    def score(self, X, y=None) -> float:
        """Minus the mean reconstruction error: higher is better, as scikit-learn's model selection wants."""
        return -float(np.mean(self.reconstruction_error(X)))

    # -- saving --------------------------------------------------------------------------------
    def _fitted_extra(self) -> dict:
        return {"output_activation": self.output_activation_}

    def _restore_fitted(self, fitted: dict) -> None:
        self.output_activation_ = fitted["output_activation"]
        self.module_ = self._build(self.input_shape_, self.output_activation_)


def _split_validation(X, fraction, seed, y=None):
    """Hold out ``fraction`` of the rows for validation (None when fraction is 0)."""
    if not fraction:
        return (X if y is None else (X, y)), None
    if not 0 < fraction < 1:
        raise InputError(f"validation_fraction must be in [0, 1), got {fraction!r}")
    n_val = max(1, int(round(len(X) * fraction)))
    if n_val >= len(X):
        raise InputError(f"validation_fraction={fraction} leaves no rows to train on ({len(X)} rows)")
    order = np.random.default_rng(seed).permutation(len(X))
    tr, va = order[n_val:], order[:n_val]
    if y is None:
        return X[tr], X[va]
    return (X[tr], y[tr]), (X[va], y[va])
