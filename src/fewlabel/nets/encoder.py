"""How an encoder network's output becomes one code vector per example, and how encoders are handed over.

A :class:`CodeEncoder` wraps a body (an :class:`~fewlabel.nets.dense.MLP`, a
:class:`~fewlabel.nets.conv.ConvEncoder` or a :class:`~fewlabel.nets.resnet.ResNet`) and says how its
output is read: flattened, averaged per channel, or the mean half of a variational encoder's output.

The encoder protocol: every pretrainer (the autoencoders, the variational and stacked ones, BYOL) has
``export_encoder(pooling="auto") -> EncoderSpec``, its encoder as a JSON-able :class:`CodeEncoder` config,
the weights, and the rows it takes. :func:`build_encoder` (or :meth:`EncoderSpec.build`) makes the module
from that; the tasks use nothing else of a pretrainer, so a new pretrainer plugs in by implementing
``export_encoder`` alone. With ``pooling="auto"`` the exported encoder computes exactly what the
pretrainer's own ``transform`` gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from fewlabel.errors import InputError
from fewlabel.nets.conv import ConvEncoder
from fewlabel.nets.dense import MLP
from fewlabel.nets.resnet import ResNet
from fewlabel.registry import register

#: How ``export_encoder`` reads a convolutional feature map: 'auto' (as the pretrainer's ``transform`` does),
#: 'flatten' (the whole map) or 'global' (its average per channel).
POOLINGS = ("auto", "flatten", "global")
#: What an encoder body may be (rebuilt from its config).
BODIES = {"MLP": MLP, "ConvEncoder": ConvEncoder, "ResNet": ResNet}


@register
class CodeEncoder(nn.Module):
    """An encoder network and how its output becomes one code vector per example.

    ``body``: ``{"type": "MLP" | "ConvEncoder" | "ResNet", "config": <the module's config()>}``. ``code``:
    'flatten' (the output, flattened: an MLP's units, a convolutional body's whole feature map or its dense
    latent), 'global' (global average pooling of a convolutional feature map: one value per channel) or 'mean'
    (the first half of a vector output: the mean of a variational encoder's Gaussian; a convolutional body
    then ends in a dense ``latent`` layer giving mean and log-variance).
    ``image_shape``: flat rows are folded into images of this shape first (an encoder taken from a
    ``ConvAutoencoder`` fitted with ``image_shape``). ``standardize``: None, or the number of values in a row;
    then each value is first centred and scaled by the buffers ``input_mean`` and ``input_spread`` (an
    autoencoder that learnt a table's columns centred and scaled hands its encoder over with that scaling, so
    whoever uses the encoder gives it the columns in their own units).
    """

    def __init__(self, body: dict, code: str = "flatten", image_shape=None, standardize=None):
        super().__init__()
        if standardize is not None:
            if not isinstance(standardize, int) or isinstance(standardize, bool) or standardize < 1:
                raise InputError(f"an encoder's standardize is None or the number of values in a row, "
                                 f"got {standardize!r}")
            self.register_buffer("input_mean", torch.zeros(standardize))
            self.register_buffer("input_spread", torch.ones(standardize))
        self.standardize = standardize
        if not isinstance(body, dict) or body.get("type") not in BODIES or not isinstance(body.get("config"), dict):
            raise InputError(f"an encoder body is {{'type': one of {sorted(BODIES)}, 'config': {{...}}}}, "
                             f"got {body!r}")
        if code not in ("flatten", "global", "mean"):
            raise InputError(f"unknown code {code!r}: choose 'flatten', 'global' or 'mean'")
        self.body_spec = {"type": body["type"], "config": dict(body["config"])}
        self.body = BODIES[body["type"]](**body["config"])
        self.code = code
        self.image_shape = None if image_shape is None else [int(s) for s in image_shape]
        if isinstance(self.body, MLP):
            if code == "global":
                raise InputError("global pooling needs a convolutional encoder's feature maps; a dense encoder "
                                 "has none: use pooling='flatten'")
            out = math.prod(self.body.output_shape)
        else:
            if code == "global" and self.body.latent is not None:
                raise InputError(f"global pooling needs the encoder's feature maps, but this convolutional encoder "
                                 f"ends in a dense latent of {self.body.latent}: use pooling='flatten'")
            if code == "mean" and getattr(self.body, "latent", None) is None:
                raise InputError("code='mean' takes the first half of a vector output (a variational encoder's "
                                 "mean and log-variance); this convolutional encoder gives feature maps: build it "
                                 "with a dense latent, or use code 'flatten' or 'global'")
            out = self.body.pooled_size if code == "global" else self.body.code_size
        if code == "mean" and out % 2:
            raise InputError(f"code='mean' takes the first half of the encoder's output, but it has {out} values")
        self.code_size = out // 2 if code == "mean" else out

    def config(self) -> dict:
        config = {"body": self.body_spec, "code": self.code, "image_shape": self.image_shape}
        if self.standardize is not None:  # written only when set: older saved configs stay as they were
            config["standardize"] = self.standardize
        return config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardize is not None:
            x = ((x.reshape(len(x), -1) - self.input_mean) / self.input_spread).reshape(x.shape)
        if self.image_shape is not None:
            x = x.reshape(len(x), *self.image_shape)
        h = self.body(x)
        if self.code == "global":
            return self.body.pool(h)
        h = h.reshape(len(h), -1)
        return h[:, : self.code_size] if self.code == "mean" else h


def build_encoder(config: dict) -> CodeEncoder:
    """The :class:`CodeEncoder` a config describes (``{"body": ..., "code": ..., "image_shape": ...}`` and
    optionally ``"standardize"``, as :meth:`CodeEncoder.config` and :attr:`EncoderSpec.config` give it), with
    fresh weights."""
    if not isinstance(config, dict) or "body" not in config:
        raise InputError(f"an encoder config is {{'body': {{'type': ..., 'config': ...}}, 'code': ..., "
                         f"'image_shape': ...}}, got {config!r}")
    unknown = sorted(set(config) - {"body", "code", "image_shape", "standardize"})
    if unknown:
        raise InputError(f"an encoder config has the keys 'body', 'code', 'image_shape' and 'standardize', "
                         f"not {unknown}")
    return CodeEncoder(**config)


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder handed from a pretrainer to a task (what ``export_encoder`` returns).

    ``config``: the JSON-able :class:`CodeEncoder` config (:func:`build_encoder` builds it); ``state_dict``:
    its weights (copies, on the CPU); ``input_shape``: the rows it takes (as the pretrainer was fitted on);
    ``scale``: the factor raw values are multiplied by first (1/255 when fitted on uint8 images, else 1);
    ``source``: the pretrainer's class name (for messages); ``precision``: the arithmetic its ``transform``
    computes codes in ('fp32', or 'bf16' when it was trained in bf16). A pretrainer that centred and scaled a
    table's columns puts that scaling in the encoder itself (:class:`CodeEncoder`'s ``standardize``).
    """

    config: dict
    state_dict: dict
    input_shape: tuple
    scale: float = 1.0
    source: str = "encoder"
    precision: str = "fp32"

    @classmethod
    def of(cls, body: nn.Module, code: str, *, input_shape, scale: float, image_shape=None, state_dict=None,
           source: str = "encoder", precision: str = "fp32", standardize=None) -> "EncoderSpec":
        """The spec of ``body`` (a module with ``config()``, of a type :class:`CodeEncoder` takes) read as
        ``code``; ``state_dict``: the body's weights when they are not ``body``'s own (renamed ones);
        ``standardize``: None, or the ``(mean, spread)`` of each input value the encoder centres and scales by."""
        state = body.state_dict() if state_dict is None else state_dict
        config = {"body": {"type": type(body).__name__, "config": body.config()}, "code": code,
                  "image_shape": None if image_shape is None else [int(s) for s in image_shape]}
        weights = {f"body.{k}": v.detach().cpu().clone() for k, v in state.items()}
        if standardize is not None:
            mean, spread = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in standardize)
            config["standardize"] = int(mean.numel())
            weights.update({"input_mean": mean.clone(), "input_spread": spread.clone()})
        spec = cls(config, weights, tuple(int(s) for s in input_shape), float(scale), source, precision)
        spec.build()  # a code the body cannot give, or weights that do not fit, fail here, at the export
        return spec

    @property
    def code_size(self) -> int:
        return build_encoder(self.config).code_size

    def build(self) -> CodeEncoder:
        """The encoder with these weights, in eval mode."""
        module = build_encoder(self.config)
        try:
            missing, unexpected = module.load_state_dict(self.state_dict, strict=False)
        except RuntimeError as e:  # a tensor of the wrong shape
            raise InputError(f"the weights exported by {self.source} do not fit its encoder config: {e}") from None
        if missing or unexpected:
            raise InputError(f"the weights exported by {self.source} do not fit its encoder config "
                             f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
        return module.eval()


def check_exportable(estimator, pooling) -> dict:
    """What every ``export_encoder`` checks first: ``pooling`` is known and the pretrainer is fitted. Returns
    the :meth:`EncoderSpec.of` keywords every pretrainer passes the same way (rows, scale, source, precision)."""
    if pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}: choose one of {POOLINGS}")
    if not hasattr(estimator, "module_"):
        raise InputError(f"the {type(estimator).__name__} is not fitted, so it has no encoder to export: fit it first")
    history = getattr(estimator, "history_", None)
    info = getattr(history, "info", None) or {}
    return {"input_shape": estimator.input_shape_, "scale": estimator.scale_, "source": type(estimator).__name__,
            "precision": info.get("precision", "fp32"), "standardize": getattr(estimator, "standardize_", None)}
