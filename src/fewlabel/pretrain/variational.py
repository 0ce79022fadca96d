"""The variational autoencoder (VAE): an encoder that gives a Gaussian over codes, a decoder that maps
codes back to inputs, trained on the evidence lower bound (ELBO) with the reparameterisation trick.

Per example, the loss is ``reconstruction + beta * KL(q(z|x) || N(0, I))``: the reconstruction loss
summed over the features (binary cross-entropy for data in [0, 1], squared error otherwise) of the
decoder's output at ``z = mean + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``, plus the KL divergence of
the encoder's Gaussian from the standard normal prior. ``beta = 1`` is the ELBO proper; a larger
``beta`` pulls the codes towards the prior (smoother, more disentangled, blurrier), ``beta = 0`` is a
plain autoencoder with a noisy code.

:class:`~fewlabel.nets.variational.VariationalAutoencoderNet` has the same interface as the dense
autoencoder's network (``encode`` gives the *mean* code, so ``transform`` is deterministic), and
:class:`VariationalAutoencoder` reuses :class:`~fewlabel.pretrain.autoencoder.AutoencoderBase`; what
it adds is generating: :meth:`~VariationalAutoencoder.sample` decodes codes drawn from the prior,
:meth:`~VariationalAutoencoder.interpolate` walks the straight line between two inputs' codes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import as_array, to_float, validate_X
from fewlabel.checks import int_at_least
from fewlabel.errors import InputError
from fewlabel.nets.conv import ConvEncoder
from fewlabel.nets.encoder import EncoderSpec, check_exportable
from fewlabel.nets.variational import ARCHITECTURES, VariationalAutoencoderNet
from fewlabel.pretrain.autoencoder import AutoencoderBase, per_example_error, reconstruction_settings
from fewlabel.registry import register
from fewlabel.train.config import training_settings



def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, exp(logvar)) || N(0, I))`` per example, summed over the code's dimensions."""
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (torch.exp(logvar) + mean**2 - 1.0 - logvar).reshape(len(mean), -1).sum(dim=1)


def reconstruction_sum(net, logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction loss per example *summed* over the features (the ELBO's log-likelihood term);
    :func:`~fewlabel.pretrain.autoencoder.per_example_error` is the same loss averaged over them."""
    d = math.prod(target.shape[1:])
    return per_example_error(net, logits, target, kind) * d


@register
@training_settings()
@reconstruction_settings(loss="auto")
class VariationalAutoencoder(AutoencoderBase):
    """A variational autoencoder as a scikit-learn transformer; it can also generate new examples.

    ``fit(X)`` maximises the ELBO (see the module's docstring); ``transform(X)`` gives the *mean* codes
    ``(n, latent)``; ``inverse_transform``, ``reconstruct`` and ``reconstruction_error`` (per-row loss
    *averaged* over the features, of the mean code) are the autoencoders' own. Added:
    :meth:`sample`, :meth:`interpolate`, :meth:`elbo` (per-row negative ELBO), and :meth:`score`
    (minus the mean negative ELBO).

    Parameters beyond the autoencoders' (see :class:`~fewlabel.pretrain.autoencoder.AutoencoderBase`):
    ``architecture`` ('dense': ``hidden`` layer sizes; 'conv': ``channels`` per stage, image rows only),
    ``latent`` (size of the code), ``beta`` (weight of the KL term, >= 0). ``loss``: 'auto' (binary
    cross-entropy when the scaled data lies in [0, 1], as uint8 images do, else squared error), 'bce' or
    'mse'. ``hinge`` is not supported (its cut-off has no meaning for the ELBO). ``noise`` and
    ``augment='shift'`` (randomly moved training images, each its own target) as for every autoencoder.
    """

    def __init__(self, hidden=(256,), latent=2, activation="relu", architecture="dense", channels=(16, 32, 64),
                 beta=1.0):
        self.hidden = hidden
        self.latent = latent
        self.activation = activation
        self.architecture = architecture
        self.channels = channels
        self.beta = beta

    # -- hooks ---------------------------------------------------------------------------------
    def _check_params(self) -> None:
        int_at_least("latent", self.latent, 1)
        if (not isinstance(self.beta, (int, float, np.integer, np.floating)) or isinstance(self.beta, bool)
                or not math.isfinite(self.beta) or self.beta < 0):
            raise InputError(f"beta (the weight of the KL term) must be a finite number >= 0, got {self.beta!r}")
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"unknown architecture {self.architecture!r}: choose one of {ARCHITECTURES}")
        if self.hinge is not None:
            raise InputError(f"hinge={self.hinge!r}: the hinge cut-off is not defined for the ELBO of a variational "
                             "autoencoder (its KL term has no per-example threshold); leave hinge=None")

    def _prepare(self, X) -> np.ndarray:
        X = super()._prepare(X)
        if self.architecture == "conv" and len(self.input_shape_) not in (2, 3):
            raise InputError(f"architecture='conv' needs image rows (H, W) or (H, W, C); X has rows of shape "
                             f"{self.input_shape_} ({self.n_features_in_} features): reshape them, e.g. "
                             f"X.reshape(len(X), 28, 28) for 28x28 images, or use architecture='dense'")
        return X

    def _build(self, input_shape, output_activation) -> VariationalAutoencoderNet:
        return VariationalAutoencoderNet(input_shape, hidden=tuple(self.hidden), latent=int(self.latent),
                                         activation=self.activation, output_activation=output_activation,
                                         architecture=self.architecture, channels=tuple(self.channels))

    def export_encoder(self, pooling: str = "auto") -> EncoderSpec:
        """The encoder as an :class:`~fewlabel.nets.encoder.EncoderSpec` whose code is the mean of its Gaussian,
        what :meth:`transform` gives. Dense: the MLP to ``2 * latent`` values, read as their first half.
        Conv: the convolutional stages and the ``moments`` layer (``Linear(.., 2 * latent)``) as one
        :class:`~fewlabel.nets.conv.ConvEncoder` with a dense latent, read the same way. ``pooling``: 'auto' or
        'flatten' (the code is a vector either way; 'global' has no feature map to average)."""
        common = check_exportable(self, pooling)
        if pooling == "global":
            raise InputError(f"pooling='global' averages a feature map, but a variational autoencoder's code is "
                             f"the mean vector of its Gaussian (latent={self.latent}): use pooling='auto'")
        net = self.module_
        if net.moments is None:
            return EncoderSpec.of(net.encoder, "mean", **common)
        enc = net.encoder
        body = ConvEncoder(enc.input_shape, channels=enc.channels, kernel_size=enc.kernel_size,
                           activation=enc.activation, batch_norm=enc.batch_norm, latent=net.moments.out_features)
        state = {**{k: v for k, v in enc.state_dict().items() if k.startswith("stages.")},
                 "head.1.weight": net.moments.weight, "head.1.bias": net.moments.bias}  # head: Flatten, Linear
        return EncoderSpec.of(body, "mean", state_dict=state, **common)

    def _make_loss(self):
        """``loss_fn(net, batch)``: the beta-weighted negative ELBO of the (corrupted) input against the
        clean one, with ``z`` drawn by the reparameterisation trick in training (the mean code in eval)."""
        kind, beta = self.loss_, float(self.beta)
        inputs = self._training_inputs()

        def loss_fn(net, batch):
            x, x_in = inputs(net, batch)
            mean, logvar = net.encode_distribution(x_in)
            mean, logvar = mean.float(), logvar.float()
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if net.training else mean
            rec = reconstruction_sum(net, net.decode_logits(z), x, kind)
            kl = kl_divergence(mean, logvar)
            return {"loss": (rec + beta * kl).mean(), "reconstruction": rec.mean(), "kl": kl.mean()}

        return loss_fn

    # -- using ---------------------------------------------------------------------------------
    def elbo(self, X) -> np.ndarray:
        """Per-row *negative* ELBO estimate (lower is better): the reconstruction loss summed over the
        features, of the mean code (deterministic, no noise), plus ``beta`` times the KL divergence of the
        encoder's Gaussian from the prior. With ``beta=1`` and ``loss='bce'`` it is (the mean-code
        estimate of) an upper bound on ``-log p(x)`` in nats, for inputs scaled to [0, 1]."""
        X = self.network_rows(X)
        self.module_.eval()
        net, kind, beta, scale = self.module_, self.loss_, float(self.beta), self.scale_

        def fn(x):
            x = to_float(x, scale)
            mean, logvar = net.encode_distribution(x)
            return reconstruction_sum(net, net.decode_logits(mean), x, kind) + beta * kl_divergence(mean, logvar)

        return self._apply(fn, X)

    def score(self, X, y=None) -> float:
        """Minus the mean negative ELBO of :meth:`elbo` (higher is better, as scikit-learn's model selection
        wants). Not comparable across ``beta`` values, nor with the autoencoders' score (theirs is minus
        the mean per-feature reconstruction error)."""
        return -float(np.mean(self.elbo(X)))

    def sample(self, n, random_state=None) -> np.ndarray:
        """``n`` new examples ``(n, *input_shape)``: codes drawn from the prior ``N(0, I)``, decoded (the
        decoder's mean output, no pixel noise), on the input's scale (0..255 when fitted on uint8).
        ``random_state``: an int (reproducible), a ``numpy.random.RandomState``, or None (fresh)."""
        check_is_fitted(self, "module_")
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise InputError(f"n (how many examples to sample) must be a positive integer, got {n!r}")
        rng = check_random_state(random_state)
        Z = rng.standard_normal((int(n), int(self.latent))).astype(np.float32)
        return self.inverse_transform(Z)

    def interpolate(self, x_start, x_end, steps=8, return_codes=False):
        """Decode ``steps`` codes evenly spaced on the straight line from ``x_start``'s mean code to
        ``x_end``'s (both endpoints included): ``(steps, *input_shape)`` on the input's scale. Each input is
        one example, shaped like a row (``input_shape``) or ``(1, *input_shape)``. With ``return_codes``,
        also the codes ``(steps, latent)``."""
        check_is_fitted(self, "module_")
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 2:
            raise InputError(f"steps must be an integer >= 2 (the two endpoints included), got {steps!r}")
        a, b = self._one_example(x_start, "x_start"), self._one_example(x_end, "x_end")
        za, zb = self.transform(a)[0], self.transform(b)[0]
        t = np.linspace(0.0, 1.0, int(steps), dtype=np.float32)[:, None]
        Z = ((1 - t) * za + t * zb).astype(np.float32)
        images = self.inverse_transform(Z)
        return (images, Z) if return_codes else images

    def _one_example(self, x, name: str) -> np.ndarray:
        arr = as_array(x, name)
        shape = tuple(self.input_shape_)
        if arr.shape == shape:
            arr = arr[None]
        elif arr.shape != (1, *shape):
            raise InputError(f"{name} must be one example of shape {shape} (or (1, {', '.join(map(str, shape))})), "
                             f"as the model was fitted on; got shape {arr.shape}")
        return validate_X(arr, name=name, expected_shape=shape, estimator=type(self).__name__)


