"""How a task takes a learned encoder: from any pretrainer, fitted or saved, through the encoder protocol.

A task never looks into a pretrainer. It asks for its encoder with ``export_encoder(pooling)`` (see
:class:`~fewlabel.nets.encoder.EncoderSpec`), which every pretrainer implements, and builds the module with
:meth:`~fewlabel.nets.encoder.EncoderSpec.build`. A task that needs more than an encoder says so here:
detection by reconstruction error and IDEC's reconstruction term need a decoder too, so they take an
autoencoder (:class:`~fewlabel.pretrain.autoencoder.AutoencoderBase`: ``Autoencoder``, ``ConvAutoencoder``,
``VariationalAutoencoder``, ``StackedAutoencoder``), not an encoder alone such as BYOL's.
"""

from __future__ import annotations

import os

import numpy as np

from fewlabel._base import to_float, validate_X
from fewlabel.errors import InputError
from fewlabel.io import load
from fewlabel.nets.encoder import EncoderSpec
from fewlabel.pretrain.autoencoder import AutoencoderBase
from fewlabel.train import predict_batches, resolve_device
from fewlabel.train.precision import inference_batch_size

PRETRAINERS = "Autoencoder, ConvAutoencoder, VariationalAutoencoder, StackedAutoencoder, BYOL"
AUTOENCODERS = "Autoencoder, ConvAutoencoder, VariationalAutoencoder, StackedAutoencoder"


def resolve_model(source, what: str = "encoder", expected: str = f"a fitted fewlabel pretrainer ({PRETRAINERS})"):
    """``source`` itself, or the model saved at ``source`` when it is a path (str or ``os.PathLike``)."""
    if isinstance(source, (str, os.PathLike)):
        if not os.path.exists(source):
            raise InputError(f"{what} must be {expected} or the path of one saved with fewlabel.save; "
                             f"{os.fspath(source)!r} is no such path")
        return load(source)
    return source


def encoder_of(source, pooling: str = "auto", what: str = "encoder") -> EncoderSpec:
    """The encoder of ``source`` (a fitted pretrainer, or the path of a saved one) as an ``EncoderSpec``."""
    model = resolve_model(source, what)
    export = getattr(model, "export_encoder", None)
    if not callable(export):
        raise InputError(f"{what} must be a fitted fewlabel pretrainer ({PRETRAINERS}: anything with "
                         f"export_encoder(pooling)) or the path of one saved with fewlabel.save; got a "
                         f"{type(model).__name__}")
    return export(pooling)


def autoencoder_of(source, what: str, why: str) -> AutoencoderBase:
    """``source`` (or the model saved there) when it is an autoencoder; else an error saying ``why`` the task
    needs one (e.g. "it scores rows by their reconstruction error")."""
    model = resolve_model(source, what, f"a fewlabel autoencoder ({AUTOENCODERS})")
    if not isinstance(model, AutoencoderBase):
        kind = "only encodes (it has no decoder)" if callable(getattr(model, "export_encoder", None)) else \
            "is not a fewlabel autoencoder"
        raise InputError(f"{what} must be a fewlabel autoencoder ({AUTOENCODERS}) or the path of a saved one: {why}; "
                         f"a {type(model).__name__} {kind}")
    return model


def encoder_codes(spec: EncoderSpec, X, name: str = "X", device="auto", precision=None) -> np.ndarray:
    """The codes ``(n_rows, code_size)`` of the encoder ``spec`` describes for the rows ``X`` (shaped as the
    pretrainer's rows; raw values, scaled as it scaled them): what its ``transform`` gives. ``precision``:
    'fp32' or 'bf16' (default: the pretrainer's own, ``spec.precision``)."""
    X = validate_X(X, name=name, expected_shape=tuple(spec.input_shape), estimator=spec.source)
    device = resolve_device(device)
    module, scale = spec.build().to(device), spec.scale
    return predict_batches(lambda x: module(to_float(x, scale)), X, batch_size=inference_batch_size(module),
                           device=device, precision=precision or spec.precision)
