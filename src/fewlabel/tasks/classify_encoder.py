"""How the semi-supervised classifier gets its encoder: a named architecture built here, one pretrained here on
every row, or a fitted or saved pretrainer given by the user. Functions of the classifier's parameters.

The encoder (``encoder``; 'auto': 'conv' for image rows, 'dense' for vectors):
    'dense': an MLP ``input -> hidden... -> latent`` (``activation``, ``latent_activation``);
    'conv': a :class:`~fewlabel.nets.conv.ConvEncoder` (``channels``; ``convs`` 3x3 convolutions a stage, one
    number or one a stage, each with ``batch_norm``, then 2x2 max-pooling) whose last feature map is flattened
    (``pooling='flatten'``, or 'auto': 3x3x128 on 28x28 images) or averaged per channel (``pooling='global'``),
    image rows only; pretrained (``pretrain``), it is the pretrainer's encoder, one convolution a stage
    (``convs`` unused);
    'resnet18': :func:`~fewlabel.nets.resnet.resnet18` (``stem``, ``width`` channels in its first stage),
    its last feature map averaged per channel (``pooling='auto'`` or 'global': 8 * ``width`` values) or
    flattened, image rows only;
    a fitted fewlabel pretrainer (an autoencoder, :class:`~fewlabel.pretrain.byol.BYOL`: anything with
    ``export_encoder(pooling)``, see :class:`~fewlabel.nets.encoder.EncoderSpec`), or the path (str or Path)
    of one saved with ``fewlabel.save``: its encoder is copied (its rows must have X's shape; with
    ``pooling='auto'`` the head is fed exactly the codes the pretrainer's ``transform`` gives: for a
    variational autoencoder the mean code, for BYOL its representation) and ``pretrain`` is ignored.
    A model saved from such a
    classifier keeps ``encoder='pretrained'`` (:data:`PRETRAINED`) in its parameters (the
    architecture and weights are saved with it): to refit it, set ``encoder`` again.

Pretraining (``pretrain``), on *all* rows before the head is trained, as the encoder of the matching
autoencoder estimator (same architecture), for ``pretrain_epochs``: 'autoencoder' (reconstruction,
:class:`~fewlabel.pretrain.autoencoder.Autoencoder` / ``ConvAutoencoder``), 'denoising' (the same, from
inputs with 30% of the values masked), 'vae' (a :class:`~fewlabel.pretrain.variational.VariationalAutoencoder`:
its mean code, from its dense or convolutional encoder, which has no batch norm),
'byol' (:class:`~fewlabel.pretrain.byol.BYOL`, self-supervised from two augmented views of each image;
encoder 'conv' or 'resnet18', image rows only), or None (no pretraining: the supervised baseline).
``pretrain_params``: a dict of parameters for the pretraining estimator, over the ones this classifier
passes on (``optimizer``, ``lr``, ``weight_decay``, ``batch_size``, ``pretrain_epochs`` as ``epochs``,
and the architecture), e.g. ``{"lr": 3e-4, "crop_scale": [0.2, 1.0]}`` for BYOL.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from fewlabel._base import to_float
from fewlabel.checks import positive_int
from fewlabel.errors import InputError
from fewlabel.nets.conv import ConvEncoder, check_convs
from fewlabel.nets.encoder import POOLINGS, build_encoder
from fewlabel.nets.dense import MLP
from fewlabel.nets.resnet import ResNet
from fewlabel.tasks.encoders import encoder_of
from fewlabel.train import predict_batches
from fewlabel.train.precision import inference_batch_size

ENCODERS = ("auto", "dense", "conv", "resnet18")
PRETRAIN = (None, "autoencoder", "denoising", "vae", "byol")

#: Architecture parameters each named encoder does not use (set away from their defaults: a warning).
UNUSED_BY = {"dense": ("channels", "convs", "batch_norm", "stem", "width"),
             "conv": ("hidden", "latent", "latent_activation", "stem", "width"),
             "resnet18": ("hidden", "latent", "latent_activation", "channels", "convs", "batch_norm")}


#: What a classifier given a pretrained encoder does not use.
PRETRAINED_IGNORES = (*sorted({name for names in UNUSED_BY.values() for name in names}), "pretrain_epochs",
                      "pretrain_params")


def _same(a, b) -> bool:
    norm = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return norm(a) == norm(b)


#: What a saved model keeps as its ``encoder`` parameter when the encoder was passed as an estimator
#: object: the weights and the architecture are saved with the model, the object itself is not.
PRETRAINED = "pretrained"
DENOISING = {"noise": "mask", "noise_level": 0.3}


def check_encoder_params(est) -> None:
    """Raise :class:`~fewlabel.InputError` naming a bad encoder or pretraining parameter of ``est``."""
    if est.pretrain not in PRETRAIN:
        raise InputError(f"unknown pretrain {est.pretrain!r}: choose one of {PRETRAIN}")
    if est.pretrain == "byol" and isinstance(est.encoder, str) and est.encoder == "dense":
        raise InputError("pretrain='byol' trains a convolutional encoder on augmented images: use "
                         "encoder='conv' or 'resnet18' (a dense encoder can be pretrained with 'autoencoder', "
                         "'denoising' or 'vae')")
    if est.pretrain_params is not None and not isinstance(est.pretrain_params, dict):
        raise InputError(f"pretrain_params must be None or a dict of the pretraining estimator's parameters, "
                         f"got {est.pretrain_params!r}")
    if est.pooling not in POOLINGS:
        raise InputError(f"unknown pooling {est.pooling!r}: choose one of {POOLINGS}")
    positive_int("pretrain_epochs", est.pretrain_epochs)
    try:
        stages = len(list(est.channels))
    except TypeError:
        return  # channels itself is refused where the conv encoder is built, by name
    check_convs(est.convs, stages)


def is_images(shape) -> bool:
    return len(tuple(shape)) in (2, 3)


def warn_unused_architecture(est) -> None:
    """Say so when architecture parameters set away from their defaults do not apply to the encoder in
    use (a dense encoder has no ``channels``, a given pretrained encoder brings its own architecture):
    silently ignoring them would hide a mistake. ('auto' picks the encoder from the rows: nothing to say
    before they are seen.)"""
    if isinstance(est.encoder, str) and est.encoder == "auto":
        return
    if isinstance(est.encoder, str) and est.encoder in UNUSED_BY:
        unused = set(UNUSED_BY[est.encoder])
        if est.encoder == "conv" and est.pretrain == "vae":
            unused.discard("latent")  # a conv VAE's code has ``latent`` values
        if est.encoder == "conv" and est.pretrain is not None:
            unused.add("convs")  # the pretrainers' conv encoders have one convolution per stage
        what = f"encoder={est.encoder!r}"
    else:
        unused = set(PRETRAINED_IGNORES)
        what = "a given pretrained encoder (it brings its own architecture)"
    defaults = type(est)().get_params(deep=False)
    changed = sorted(n for n in unused if not _same(getattr(est, n), defaults[n]))
    if changed:
        warnings.warn(f"{', '.join(changed)} do(es) not apply to {what} and will be ignored", UserWarning,
                      stacklevel=4)

def encoder_kind(est, input_shape):
    """The named encoder in use ('auto': 'conv' for image rows, 'dense' for flat ones); None when an
    encoder is given."""
    enc = est.encoder
    if isinstance(enc, str) and enc == "auto":
        kind = "conv" if is_images(input_shape) else "dense"
    elif isinstance(enc, str) and enc in ENCODERS:
        kind = enc
    else:
        return None
    if est.pretrain == "byol" and kind == "dense":
        raise InputError("pretrain='byol' trains a convolutional encoder on augmented images: give image rows "
                         "(H, W) or (H, W, C) with encoder='auto', 'conv' or 'resnet18'")
    return kind

def resolve_encoder(est, X):
    """The given encoder (a fitted or saved pretrainer) as an ``EncoderSpec``; None for a named one."""
    enc = est.encoder
    if isinstance(enc, str) and enc in ENCODERS:
        return None
    if isinstance(enc, str) and enc == PRETRAINED:
        raise InputError(f"encoder={PRETRAINED!r} is what a saved classifier keeps when its encoder was passed "
                         "as an estimator object; to fit again, set encoder to that pretrainer (or the path "
                         "of its saved copy)")
    if isinstance(enc, (str, os.PathLike)) and not os.path.exists(enc):
        raise InputError(f"unknown encoder {enc!r}: choose one of {ENCODERS}, a fitted fewlabel pretrainer, "
                         "or the path of one saved with fewlabel.save (no such path exists)")
    spec = encoder_of(enc, est.pooling, what="encoder")
    if tuple(spec.input_shape) != tuple(X.shape[1:]):
        raise InputError(f"the pretrained encoder ({spec.source}) was fitted on rows of shape "
                         f"{tuple(spec.input_shape)}, but X has rows of shape {tuple(X.shape[1:])}: give X in the "
                         "encoder's shape (e.g. X.reshape(len(X), *shape))")
    if float(spec.scale) != float(est.scale_):
        warnings.warn(f"the pretrained encoder was fitted on {'uint8 images' if spec.scale != 1 else 'floats'} "
                      f"but X is {'uint8' if est.scale_ != 1 else 'float'}: make sure both are on the same scale",
                      stacklevel=3)
    return spec

def fresh_spec(est, input_shape) -> dict:
    if est.encoder_kind_ == "dense":
        positive_int("latent", est.latent)
        body = MLP([math.prod(input_shape), *[int(h) for h in est.hidden], int(est.latent)],
                   activations=est.activation, output_activation=est.latent_activation,
                   input_shape=input_shape)
        return {"body": {"type": "MLP", "config": body.config()}, "code": "flatten", "image_shape": None}
    need_images(input_shape, f"encoder={est.encoder_kind_!r}")
    if est.encoder_kind_ == "resnet18":
        body = ResNet(input_shape, blocks=(2, 2, 2, 2), base=int(est.width), stem=est.stem)
    else:
        body = ConvEncoder(input_shape, channels=tuple(est.channels), activation=est.activation,
                           batch_norm=est.batch_norm, latent=None, convs=est.convs)
    return {"body": {"type": type(body).__name__, "config": body.config()}, "code": code_mode(est),
            "image_shape": None}

def code_mode(est) -> str:
    """``pooling`` resolved: 'auto' flattens a conv encoder's map and averages a ResNet's."""
    if est.pooling != "auto":
        return est.pooling
    return "global" if est.encoder_kind_ == "resnet18" else "flatten"

def need_images(input_shape, what):
    if not is_images(input_shape):
        raise InputError(f"{what} needs image rows (H, W) or (H, W, C), but X has flat rows of shape "
                         f"{tuple(input_shape)}: reshape them, e.g. X.reshape(len(X), 28, 28) for 28x28 images")

def pretrainer(est):
    """The pretraining estimator whose encoder has this classifier's architecture (unfitted)."""
    model = pretrainer_defaults(est)
    if est.pretrain_params:
        valid = model.get_params(deep=False)
        unknown = sorted(set(est.pretrain_params) - set(valid))
        if unknown:
            raise InputError(f"pretrain_params has {unknown}, which {type(model).__name__} does not take; its "
                             f"parameters are {sorted(valid)}")
        model.set_params(**{k: tuple(v) if isinstance(v, list) else v for k, v in est.pretrain_params.items()})
    return model


def pretrainer_defaults(est):
    from fewlabel.pretrain.autoencoder import Autoencoder, ConvAutoencoder
    from fewlabel.pretrain.byol import BYOL
    from fewlabel.pretrain.variational import VariationalAutoencoder

    common = dict(optimizer=est.optimizer, lr=est.lr, weight_decay=est.weight_decay,
                  epochs=est.pretrain_epochs, batch_size=est.batch_size, device=est.device,
                  precision=est.precision, compile=est.compile, random_state=est.random_state,
                  verbose=est.verbose)
    if est.pretrain == "byol":
        return BYOL(encoder=est.encoder_kind_, stem=est.stem, width=int(est.width), channels=tuple(est.channels),
                    batch_norm=est.batch_norm, pooling=code_mode(est),
                    **common)
    if est.encoder_kind_ == "resnet18":
        raise InputError(f"pretrain={est.pretrain!r} trains an autoencoder, which fewlabel builds with a dense "
                         "or conv encoder: use encoder='conv' or 'dense', or pretrain='byol' for a ResNet-18")
    noise = DENOISING if est.pretrain == "denoising" else {}
    common["standardize"] = False  # the classifier hands it the columns already centred and scaled, or as asked
    if est.pretrain == "vae":
        if est.encoder_kind_ == "dense":
            return VariationalAutoencoder(hidden=tuple(est.hidden), latent=int(est.latent),
                                          activation=est.activation, architecture="dense", **common)
        return VariationalAutoencoder(latent=int(est.latent), activation=est.activation, architecture="conv",
                                      channels=tuple(est.channels), **common)
    if est.encoder_kind_ == "dense":
        return Autoencoder(hidden=tuple(est.hidden), latent=int(est.latent), activation=est.activation,
                           latent_activation=est.latent_activation, **noise, **common)
    return ConvAutoencoder(channels=tuple(est.channels), activation=est.activation, batch_norm=est.batch_norm,
                           latent=None, code="flatten", **noise, **common)


def map_rows(X, given, scale: float, device) -> tuple[np.ndarray, float]:
    """What propagation's map is drawn from, and the scale its values are read at: the rows, flattened (a view,
    read at ``scale``: images are not copied as float32 here), or with a pretrained encoder (``given``, an
    :class:`~fewlabel.nets.encoder.EncoderSpec`) its codes."""
    if given is None:
        return X.reshape(len(X), -1), float(scale)
    module = build_encoder(given.config)
    module.load_state_dict(given.state_dict)
    module.to(device).eval()
    Z = predict_batches(lambda x: module(to_float(x, scale)), X, batch_size=inference_batch_size(module), device=device)
    return Z.reshape(len(Z), -1), 1.0
