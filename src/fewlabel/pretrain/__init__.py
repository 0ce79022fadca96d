"""Ways to learn an encoder from unlabeled data."""

from fewlabel.pretrain.autoencoder import (
    Autoencoder,
    AutoencoderBase,
    ConvAutoencoder,
    DenseAutoencoderNet,
    reconstruction_loss,
)
from fewlabel.pretrain.byol import BYOL, BYOLNet
from fewlabel.pretrain.stacked import StackedAutoencoder
from fewlabel.pretrain.variational import VariationalAutoencoder, VariationalAutoencoderNet

__all__ = ["BYOL", "BYOLNet", "Autoencoder", "AutoencoderBase", "ConvAutoencoder", "DenseAutoencoderNet", "StackedAutoencoder",
           "VariationalAutoencoder", "VariationalAutoencoderNet", "reconstruction_loss"]
