"""The classifier network: an encoder (a :class:`~fewlabel.nets.encoder.CodeEncoder`) and a head giving class
logits (the estimator is ``fewlabel.tasks.classify.SemiSupervisedClassifier``)."""

from __future__ import annotations

import torch
from torch import nn

from fewlabel.errors import InputError
from fewlabel.nets.dense import MLP
from fewlabel.nets.encoder import CodeEncoder
from fewlabel.registry import register

HEADS = ("mlp", "linear")


@register
class EncoderClassifierNet(nn.Module):
    """A :class:`CodeEncoder` followed by a head giving class logits.

    ``head='mlp'``: dense layers ``code -> head_hidden... -> n_classes`` (``activation``, ``dropout`` after
    each hidden layer); ``head='linear'``: one linear layer (a linear probe when the encoder is frozen).
    ``dropout`` is applied to the code as well: with few labels the head over-fits the code's quirks first.

    ``frozen_encoder`` (an attribute, not saved) keeps the encoder in eval mode whenever the network is
    put in training mode, so a frozen encoder's batch-norm statistics do not move either.
    """

    def __init__(self, encoder: dict, n_classes=2, head="mlp", head_hidden=(128,), activation="relu", dropout=0.0):
        super().__init__()
        if head not in HEADS:
            raise InputError(f"unknown head {head!r}: choose one of {HEADS}")
        self.args = {"encoder": dict(encoder), "n_classes": int(n_classes), "head": head,
                     "head_hidden": [int(h) for h in head_hidden], "activation": activation, "dropout": float(dropout)}
        self.encoder = CodeEncoder(**encoder)
        sizes = [self.encoder.code_size, *(self.args["head_hidden"] if head == "mlp" else []), int(n_classes)]
        self.head = MLP(sizes, activations=activation, dropout=dropout)
        self.code_dropout = nn.Dropout(dropout)
        self.frozen_encoder = False

    def config(self) -> dict:
        return dict(self.args)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.frozen_encoder:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.code_dropout(self.encoder(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the last linear layer reads: the head's last hidden layer, or the code for a linear head."""
        h = self.encoder(x).reshape(len(x), -1)
        body = self.head.layers[:-2]  # all but the last linear layer and its (identity) activation
        return body(h) if len(body) else h
