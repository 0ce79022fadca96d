"""The network stage: an encoder and a classifier head trained on labeled rows, each row with its weight.

:class:`NetworkStage` builds and trains the network of the semi-supervised classifier. It takes rows, class
indices, optional per-row weights (a propagated label counts as much as it is confident) and optionally a
network to start from, and returns the trained network and its history. The classifier uses it for every
network it trains: out-of-fold networks to choose its route, the network on the labels alone, and the final
network on the propagated labels.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from fewlabel._base import to_float
from fewlabel.augment import weak_augment
from fewlabel.nets.classifier import EncoderClassifierNet
from fewlabel.train import History, Trainer, predict_batches
from fewlabel.train.config import split_budget
from fewlabel.train.precision import inference_batch_size
from fewlabel.train.optim import make_optimizer
from fewlabel.train.losses import weighted_cross_entropy


def concat_histories(first: History, second: History) -> History:
    """One history of two consecutive training phases, epochs numbered on."""
    out = History()
    for h, offset in ((first, 0), (second, len(first.epochs))):
        for i, e in enumerate(h.epochs):
            out.append(e + offset, {k: v[i] for k, v in h.history.items()})
    out.stopped_early = second.stopped_early
    out.best_epoch = None if second.best_epoch is None else second.best_epoch + len(first.epochs)
    return out


def supervised_loss(scale: float, input_shape, augment: bool):
    """The cross-entropy of a batch ``(x, y)`` or ``(x, y, weight)`` (weighted by the third column), on weakly
    augmented views (random shifts) of image rows while training when ``augment``."""
    def loss_fn(net, batch):
        x = to_float(batch[0], scale)
        if augment and net.training:
            x = weak_augment(x, input_shape)
        logits = net(x).float()
        loss = weighted_cross_entropy(logits, batch[1], batch[2] if len(batch) > 2 else None)
        return {"loss": loss, "accuracy": (logits.argmax(1) == batch[1]).float().mean()}

    return loss_fn


class NetworkStage:
    """Build and train an :class:`~fewlabel.nets.classifier.EncoderClassifierNet`.

    ``spec``: the encoder's architecture (an ``EncoderSpec`` config dict); ``encoder_state``: the weights of a
    pretrained encoder to start every network from (None: random). ``make_trainer(epochs, max_steps,
    **overrides)`` gives the :class:`~fewlabel.train.Trainer` of one training phase (the classifier's settings:
    optimizer, learning rate, precision, device, seed). ``freeze_encoder``: False, True (the head alone; with
    no augmentation, trained on codes computed once) or 'then_unfreeze' (the head for ``freeze_epochs``, then
    everything with the encoder at ``encoder_lr_factor`` times the learning rate)."""

    def __init__(self, spec: dict, n_classes: int, *, make_trainer: Callable[..., Trainer], input_shape,
                 scale: float = 1.0, augment: bool = False, head: str = "mlp", head_hidden=(128,),
                 activation: str = "relu", dropout: float = 0.3, freeze_encoder=False, freeze_epochs: int = 5,
                 epochs: int = 5, encoder_state=None, optimizer: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, encoder_lr_factor: float = 0.1, early_stopping=None,
                 random_state: int = 0, device="cpu"):
        self.spec, self.n_classes = spec, int(n_classes)
        self.make_trainer, self.input_shape, self.scale, self.augment = make_trainer, tuple(input_shape), scale, augment
        self.head, self.head_hidden, self.activation, self.dropout = head, tuple(head_hidden), activation, dropout
        self.freeze_encoder, self.freeze_epochs, self.epochs = freeze_encoder, int(freeze_epochs), int(epochs)
        self.encoder_state = encoder_state
        self.optimizer, self.lr, self.weight_decay = optimizer, float(lr), weight_decay
        self.encoder_lr_factor, self.early_stopping, self.random_state = encoder_lr_factor, early_stopping, random_state
        self.device = torch.device(device)

    def build(self, seed_offset: int = 0) -> EncoderClassifierNet:
        """A new network (its initialisation seeded by ``random_state + seed_offset``)."""
        torch.manual_seed(int(self.random_state) + seed_offset)
        net = EncoderClassifierNet(self.spec, self.n_classes, self.head, self.head_hidden, self.activation,
                                   self.dropout)
        if self.encoder_state is not None:
            net.encoder.load_state_dict(self.encoder_state)
        return net

    def loss(self):
        return supervised_loss(self.scale, self.input_shape, self.augment)

    def fit(self, X, y, sample_weight=None, *, init: nn.Module | None = None, validation=None, loss_fn=None,
            batch_size: int, epoch_rows: int, budget: int | None = None, description: str = "classify",
            seed_offset: int = 0):
        """Train a network on rows ``X`` with class indices ``y`` (and ``sample_weight``), from ``init``'s weights
        when given; ``validation``: (X, y) scored each epoch; ``loss_fn`` replaces the cross-entropy (consistency
        training passes its own); an epoch is ``epoch_rows`` rows drawn from ``X``; ``budget``: at most that
        many steps. Returns (network, history)."""
        net = self.build(seed_offset)
        if init is not None:
            net.load_state_dict(init.state_dict())
        train = X if y is None else (X, y) if sample_weight is None else (X, y, np.asarray(sample_weight, np.float32))
        codes_once = loss_fn is None and not self.augment
        loss_fn = loss_fn or self.loss()
        freeze = self.freeze_encoder
        two_phases = freeze == "then_unfreeze" and self.epochs > self.freeze_epochs
        first_epochs = min(self.freeze_epochs, self.epochs) if freeze == "then_unfreeze" else self.epochs
        budgets = split_budget(budget, [first_epochs, self.epochs - first_epochs] if two_phases else [first_epochs])
        val = validation
        try:
            if freeze is True or freeze == "then_unfreeze":
                net.frozen_encoder = True
                for p in net.encoder.parameters():
                    p.requires_grad_(False)
            step_net = net
            if freeze is True and codes_once:
                # A frozen encoder gives each row the same code every step: compute the codes once and train
                # the head on them (the same head, the same losses, a fraction of the work).
                step_net, loss_fn, train, val = self._head_on_codes(net, train, val)
            history = self.make_trainer(first_epochs, budgets[0], batch_size=batch_size, seed_offset=seed_offset,
                                        early_stopping=None if freeze == "then_unfreeze" else self.early_stopping,
                                        description=f"{description} (head)" if freeze else description
                                        ).fit(step_net, loss_fn, train, val, epoch_rows=epoch_rows)
            if two_phases:
                net.frozen_encoder = False
                for p in net.encoder.parameters():
                    p.requires_grad_(True)
                second = self.make_trainer(self.epochs - first_epochs, budgets[1],
                                           optimizer=self._grouped_optimizer(net), batch_size=batch_size,
                                           seed_offset=seed_offset + 1_000_003, early_stopping=self.early_stopping,
                                           description=f"{description} (all)").fit(net, loss_fn, train, val,
                                                                                    epoch_rows=epoch_rows)
                history = concat_histories(history, second)
        finally:
            net.frozen_encoder = False
            for p in net.parameters():
                p.requires_grad_(True)
        net.eval()
        return net, history

    def probabilities(self, net: nn.Module, history: History, X) -> np.ndarray:
        """The network's class probabilities for ``X``'s rows (float64, in the precision it trained in)."""
        logits = predict_batches(lambda x: net(to_float(x, self.scale)), X, batch_size=inference_batch_size(net),
                                 device=next(net.parameters()).device,
                                 precision=history.info.get("precision", "fp32"))
        return torch.softmax(torch.from_numpy(logits.astype(np.float64)), dim=1).numpy()

    def _grouped_optimizer(self, net):
        """An optimizer factory giving the encoder's parameters ``encoder_lr_factor`` times the head's rate."""
        encoder_ids = {id(p) for p in net.encoder.parameters()}
        lr, device = self.lr, self.device

        def make(params):
            params = list(params)
            groups = [{"params": [p for p in params if id(p) not in encoder_ids], "lr": lr},
                      {"params": [p for p in params if id(p) in encoder_ids], "lr": lr * self.encoder_lr_factor}]
            return make_optimizer(self.optimizer, [g for g in groups if g["params"]], lr=lr,
                                  weight_decay=self.weight_decay, device=device)

        return make

    def _head_on_codes(self, net, train, val):
        """(module, loss, train, val) that train ``net``'s head alone on the frozen encoder's codes."""
        scale, device = self.scale, self.device
        net.to(device).eval()

        def codes(rows):
            return predict_batches(lambda x: net.encoder(to_float(x, scale)), rows,
                                   batch_size=inference_batch_size(net.encoder), device=device)

        def loss_fn(module, batch):
            logits = module(batch[0]).float()
            loss = weighted_cross_entropy(logits, batch[1], batch[2] if len(batch) > 2 else None)
            return {"loss": loss, "accuracy": (logits.argmax(1) == batch[1]).float().mean()}

        head = nn.Sequential(net.code_dropout, net.head)
        return head, loss_fn, (codes(train[0]), *train[1:]), None if val is None else (codes(val[0]), val[1])
