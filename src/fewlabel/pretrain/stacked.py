"""The stacked autoencoder, trained greedily layer by layer, then (optionally) fine-tuned end to end.

The classic recipe (Bengio et al., 2007; Vincent et al., 2010; the ``d-500-500-2000-10`` stack of
Xie et al.'s DEC, 2016, gives the defaults): train the shallow autoencoder ``784 -> 500 -> 784`` on the
data, freeze its encoder layer, train ``500 -> 500 -> 500`` on the codes it produces, and so on down to
the latent layer; then train the whole mirrored stack end to end with the reconstruction loss.

The result is an ordinary :class:`~fewlabel.nets.autoencoder.DenseAutoencoderNet` (mirrored,
untied), so ``transform`` / ``inverse_transform`` / ``reconstruction_error`` / saving are the ones every
autoencoder has; only ``fit`` differs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fewlabel._base import to_float
from fewlabel.errors import InputError
from fewlabel.nets.autoencoder import DenseAutoencoderNet, LayerPair, linear_blocks
from fewlabel.pretrain.autoencoder import Autoencoder, dense_layer_settings, reconstruction_settings
from fewlabel.registry import register
from fewlabel.train import History, predict_batches
from fewlabel.train.config import split_budget, training_settings


def _code_loss(pair: LayerPair, batch) -> torch.Tensor:
    """Deeper levels: mean squared error of the reconstructed codes (the decoder layer's own activation
    already applied) against the codes."""
    h = batch[0].float()
    return ((pair.decode_logits(pair.encode(h)).float() - h) ** 2).mean()


@register
@training_settings()
@reconstruction_settings()
@dense_layer_settings()
class StackedAutoencoder(Autoencoder):
    """A dense autoencoder trained greedily, one layer at a time, then fine-tuned end to end.

    Level ``i`` (``i = 0 .. len(hidden)``, the last one being the latent layer) is a shallow
    autoencoder made of encoder layer ``i`` (its Linear and activation; ``latent_activation`` for the
    latent layer) and its mirror decoder layer (decoder Linear ``len(hidden) - i`` with the decoder's
    activation there; none at level 0, where the output activation and loss act on the logits). It is
    trained for ``layer_epochs`` on ``h_i``, the output of the already-trained, frozen encoder layers
    below it (the data itself for level 0), computed once for all rows. Only the pair's parameters are
    given to the optimizer, so lower levels stay exactly as they were trained and higher ones at their
    initial values. Then, when ``finetune_epochs > 0``, the whole network is trained end to end with the
    estimator's loss.

    Losses: level 0 and fine-tuning use the estimator's loss (``loss`` 'mse' or 'bce', with ``noise``
    and ``hinge`` as :class:`~fewlabel.pretrain.autoencoder.Autoencoder` applies them). Deeper levels
    reconstruct their (clean) input codes with mean squared error: the corruptions are defined on the
    data (images, its value range) and the ``hinge`` cut-off on the data's loss scale, so neither is
    applied to the codes (a stacked *denoising* autoencoder here denoises at the first level and while
    fine-tuning only). ``augment='shift'`` likewise moves the images at the first level and while
    fine-tuning; the codes of the deeper levels are those of the images as they are.

    Parameters are :class:`~fewlabel.pretrain.autoencoder.Autoencoder`'s, plus

    layer_epochs : epochs of training for each level (positive integer).
    finetune_epochs : epochs of end-to-end training after the greedy stage (0: none).

    ``epochs`` is accepted (the training settings are every estimator's) but not used: training lasts
    ``layer_epochs`` per level plus ``finetune_epochs``; a step budget ``max_steps`` is shared out among
    the levels and the fine-tuning in proportion to their epochs. The decoder mirrors the encoder and has its own
    weights: ``tied=True`` and ``decoder_hidden`` are refused. ``early_stopping`` (a patience) and the
    validation rows (``validation_data`` or ``validation_fraction``) apply to every stage; each level is
    validated on the held-out rows' codes.

    Fitted attributes (besides Autoencoder's): ``layer_histories_`` (one
    :class:`~fewlabel.train.History` per level, in training order), ``history_`` (the fine-tuning
    history, or the last level's when there is none), ``training_order_`` (what each stage trained:
    ``"encoder.i+decoder.j"`` naming indices into ``module_.encoder.linears`` /
    ``module_.decoder.linears``, then ``"all"`` for fine-tuning).
    """

    def __init__(self, layer_epochs=10, finetune_epochs=10):
        self.layer_epochs = layer_epochs
        self.finetune_epochs = finetune_epochs

    def _check_params(self) -> None:
        super()._check_params()
        if self.tied:
            raise InputError("StackedAutoencoder does not support tied=True: greedy stacking trains each encoder "
                             "layer with a decoder layer of its own and freezes the pair before training the next "
                             "one, so the decoder needs its own weights. Use tied=False, or Autoencoder(tied=True) "
                             "for a tied autoencoder trained end to end")
        if self.decoder_hidden is not None:
            raise InputError(f"StackedAutoencoder does not support decoder_hidden (got {self.decoder_hidden!r}): "
                             "greedy stacking pairs encoder layer i with its mirror decoder layer, so the decoder "
                             "must mirror the encoder; leave decoder_hidden unset")
        v = self.layer_epochs
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise InputError(f"layer_epochs must be a positive integer (epochs per level), got {v!r}")
        v = self.finetune_epochs
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise InputError(f"finetune_epochs must be an integer >= 0 (0: no fine-tuning), got {v!r}")

    def fit(self, X, y=None, validation_data=None):
        """Train the stack greedily level by level on ``X``, then fine-tune it (``y`` is ignored).

        ``validation_data`` (rows shaped like ``X``), or else ``validation_fraction`` of ``X``, is
        reported at every stage as ``val_loss``: on the data at level 0 and while fine-tuning, on the
        frozen encoder's codes of those rows at deeper levels.
        """
        X = self._prepare(X)
        torch.manual_seed(self.random_state or 0)
        net: DenseAutoencoderNet = self._build(self.input_shape_, self.output_activation_)
        device = self._device()
        self.module_ = net.to(device)
        train, val = self._train_val(X, validation_data)
        enc, dec = linear_blocks(net.encoder), linear_blocks(net.decoder)
        n = len(enc)  # len(hidden) + 1 levels; the last is the latent layer
        self.layer_histories_: list[History] = []
        self.training_order_: list[str] = []
        h_train, h_val = train, val
        phases = [self.layer_epochs] * n + ([self.finetune_epochs] if self.finetune_epochs > 0 else [])
        budgets = split_budget(self.max_steps, phases)  # a step budget shared out among the stages
        for i in range(n):
            j = n - 1 - i  # the mirror decoder layer
            if i == 0:  # on the data: the estimator's own loss, on logits reshaped to the input
                pair = LayerPair(enc[0], dec[j], self.input_shape_, net.output_fn, net.output_activation)
                loss_fn = self._make_loss()
            else:
                pair = LayerPair(enc[i], dec[j])
                loss_fn = _code_loss
            trainer = self._trainer(epochs=self.layer_epochs, max_steps=budgets[i],
                                    description=f"layer {i + 1}/{n}", early_stopping=self.early_stopping)
            self.layer_histories_.append(trainer.fit(pair, loss_fn, h_train, h_val,
                                                     params=list(pair.parameters())))
            self.training_order_.append(f"encoder.{i}+decoder.{j}")
            if i + 1 < n:  # the frozen encoder's output up to this level: the next level's data
                h_train = self._codes(enc[i], h_train, first=i == 0)
                h_val = None if h_val is None else self._codes(enc[i], h_val, first=i == 0)
        self.history_ = self.layer_histories_[-1]
        if self.finetune_epochs > 0:
            trainer = self._trainer(epochs=self.finetune_epochs, max_steps=budgets[-1], description="fine-tune",
                                    early_stopping=self.early_stopping)
            self.history_ = trainer.fit(net, self._make_loss(), train, val)
            self.training_order_.append("all")
        net.eval()
        return self

    def _codes(self, block: nn.Module, H, first: bool) -> np.ndarray:
        """``block`` applied to every row of ``H`` (the data when ``first``, scaled as in training), without
        gradients, in eval mode (no dropout), in float32."""
        block.eval()
        scale = self.scale_ if first else 1.0
        device = next(block.parameters()).device
        return predict_batches(lambda x: block(to_float(x, scale).reshape(len(x), -1)), H, batch_size=4096,
                               device=device)

    # -- saving --------------------------------------------------------------------------------
    def fitted_extra(self) -> dict:
        return {**super().fitted_extra(), "layer_histories": [h.to_dict() for h in self.layer_histories_],
                "training_order": list(self.training_order_)}

    def restore_fitted(self, fitted: dict) -> None:
        super().restore_fitted(fitted)
        self.layer_histories_ = [History.from_dict(h) for h in fitted["layer_histories"]]
        self.training_order_ = list(fitted["training_order"])
