"""Semi-supervised classification: an encoder learned from every row, a head trained on the labeled ones.

``fit(X, y)`` follows ``sklearn.semi_supervised``: ``y == -1`` marks an unlabeled row. With
``pretrain=None`` the same network is trained from scratch on the labeled rows alone: the supervised
baseline every report shows beside the semi-supervised result.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from fewlabel._base import TorchEstimator, to_float, validate_X
from fewlabel.errors import InputError
from fewlabel.io import register
from fewlabel.nets.dense import MLP
from fewlabel.pretrain.autoencoder import DenseAutoencoderNet, _split_validation, reconstruction_loss
from fewlabel.train import History

PRETRAIN = (None, "autoencoder")


@register
class EncoderClassifierNet(nn.Module):
    """An encoder (from a :class:`DenseAutoencoderNet`) followed by a dense head giving class logits."""

    def __init__(self, input_shape, hidden=(128, 64), latent=16, activation="relu", latent_activation="linear",
                 head_hidden=(), n_classes=2, dropout=0.0):
        super().__init__()
        self.args = {"input_shape": [int(s) for s in input_shape], "hidden": [int(h) for h in hidden],
                     "latent": int(latent), "activation": activation, "latent_activation": latent_activation,
                     "head_hidden": [int(h) for h in head_hidden], "n_classes": int(n_classes), "dropout": dropout}
        self.encoder = DenseAutoencoderNet(input_shape, hidden, latent, activation, latent_activation).encoder
        self.head = MLP([int(latent), *self.args["head_hidden"], int(n_classes)], activations=activation,
                        dropout=dropout)
        # Dropout on the code too: with few labels the head over-fits the code's idiosyncrasies first.
        self.code_dropout = nn.Dropout(dropout)

    def config(self) -> dict:
        return dict(self.args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.code_dropout(self.encoder(x)))


def check_semi_supervised_y(y, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``y`` (``-1`` = unlabeled); return (y as array, classes seen among labeled rows)."""
    if y is None:
        raise InputError("y is None: a classifier needs labels (mark unlabeled rows with -1)")
    y = np.asarray(y)
    if y.ndim != 1:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        else:
            raise InputError(f"y must be 1-D (one label per row), got shape {y.shape}")
    if len(y) != n_rows:
        raise InputError(f"X has {n_rows} rows but y has {len(y)} labels; they must match")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise InputError("y contains NaN or infinity; mark unlabeled rows with -1 instead")
        if (y != np.round(y)).any():
            raise InputError("Unknown label type: y holds continuous values; a classifier needs class labels")
    labeled = y != -1 if y.dtype.kind in "iuf" else np.ones(len(y), bool)
    if not labeled.any():
        raise InputError("y has no labeled row (every entry is -1): at least one labeled example per class is needed")
    classes = np.unique(y[labeled])
    if len(classes) < 2:
        raise InputError(f"only one class ({classes[0]!r}) among the labeled rows; a classifier needs at least two")
    return y, classes


@register
class SemiSupervisedClassifier(ClassifierMixin, TorchEstimator):
    """Pretrain an encoder on all rows (``pretrain='autoencoder'``), then train encoder + head on the labels.

    ``pretrain=None`` gives the supervised baseline: the same network, from scratch, on the labeled rows.
    ``freeze_encoder=True`` trains only the head (a probe of the pretrained codes).
    """

    def __init__(self, pretrain="autoencoder", hidden=(128, 64), latent=16, activation="relu",
                 latent_activation="linear", head_hidden=(), dropout=0.2, freeze_encoder=False,
                 pretrain_epochs=30, epochs=100, optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=256,
                 validation_fraction=0.0, early_stopping=None, device="auto", random_state=0, verbose=False):
        self.pretrain = pretrain
        self.hidden = hidden
        self.latent = latent
        self.activation = activation
        self.latent_activation = latent_activation
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.freeze_encoder = freeze_encoder
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, input_shape, n_classes) -> EncoderClassifierNet:
        return EncoderClassifierNet(input_shape, tuple(self.hidden), self.latent, self.activation,
                                    self.latent_activation, tuple(self.head_hidden), n_classes, self.dropout)

    def fit(self, X, y):
        self._check_common_params()
        if self.pretrain not in PRETRAIN:
            raise InputError(f"unknown pretrain {self.pretrain!r}: choose one of {PRETRAIN}")
        X = validate_X(X)
        y, self.classes_ = check_semi_supervised_y(y, len(X))
        labeled = np.isin(y, self.classes_)
        y_index = np.searchsorted(self.classes_, y[labeled]).astype(np.int64)
        self.scale_ = 1 / 255 if X.dtype == np.uint8 else 1.0
        self.input_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        seed = self.random_state or 0
        torch.manual_seed(seed)
        self.module_ = self._build(self.input_shape_, len(self.classes_))
        scale = self.scale_
        self.pretrain_history_ = None
        if self.pretrain == "autoencoder":
            # Every row, labeled or not, teaches the encoder; the decoder is thrown away afterwards.
            lo, hi = float(X.min()) * scale, float(X.max()) * scale
            ae = DenseAutoencoderNet(self.input_shape_, tuple(self.hidden), self.latent, self.activation,
                                     self.latent_activation, "sigmoid" if lo >= 0 and hi <= 1 else "linear")
            ae.encoder = self.module_.encoder

            def ae_loss(net, batch):
                return reconstruction_loss(net, to_float(batch[0], scale), "mse")

            trainer = self._trainer(epochs=self.pretrain_epochs, description="pretrain")
            self.pretrain_history_ = trainer.fit(ae, ae_loss, X)
        for p in self.module_.encoder.parameters():
            p.requires_grad_(not (self.freeze_encoder and self.pretrain is not None))

        def ce_loss(net, batch):
            logits = net(to_float(batch[0], scale))
            target = batch[1]
            return {"loss": F.cross_entropy(logits.float(), target),
                    "accuracy": (logits.argmax(1) == target).float().mean()}

        train, val = _split_validation(X[labeled], self.validation_fraction, seed, y=y_index)
        trainer = self._trainer(description="classify", early_stopping=self.early_stopping)
        self.history_: History = trainer.fit(self.module_, ce_loss, train, val)
        for p in self.module_.parameters():
            p.requires_grad_(True)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Class logits, shape (n_rows, n_classes)."""
        check_is_fitted(self, "module_")
        X = validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)
        self.module_.eval()
        return self._apply(lambda x: self.module_(to_float(x, self.scale_)), X)

    def predict_proba(self, X) -> np.ndarray:
        logits = self.decision_function(X)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def transform(self, X) -> np.ndarray:
        """The encoder's codes."""
        check_is_fitted(self, "module_")
        X = validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)
        self.module_.eval()
        return self._apply(lambda x: self.module_.encoder(to_float(x, self.scale_)), X)

    def _fitted_extra(self) -> dict:
        return {"classes": self.classes_.tolist()}

    def _restore_fitted(self, fitted: dict) -> None:
        self.classes_ = np.asarray(fitted["classes"])
        self.pretrain_history_ = None
        self.module_ = self._build(self.input_shape_, len(self.classes_))
