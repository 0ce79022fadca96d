"""What every autoencoder network shares: an ``encoder``, a ``decoder`` computing logits, and an
``output_fn`` turning them into the reconstruction (so losses can use the logits where that is more
stable, e.g. binary cross-entropy with a sigmoid)."""

from __future__ import annotations

import torch
from torch import nn


class EncoderDecoderNet(nn.Module):
    """``encode`` -> code, ``decode_logits`` -> the decoder's logits, ``decode`` -> the reconstruction.
    Subclasses set ``encoder``, ``decoder`` and ``output_fn`` (and may override ``encode``)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.output_fn(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
