"""Ways to learn an encoder from unlabeled data; each exports it with ``export_encoder(pooling)`` (their
networks are in ``fewlabel.nets``)."""

from fewlabel.pretrain.autoencoder import Autoencoder, AutoencoderBase, ConvAutoencoder, reconstruction_loss
from fewlabel.pretrain.byol import BYOL
from fewlabel.pretrain.stacked import StackedAutoencoder
from fewlabel.pretrain.variational import VariationalAutoencoder

__all__ = ["BYOL", "Autoencoder", "AutoencoderBase", "ConvAutoencoder", "StackedAutoencoder", "VariationalAutoencoder",
           "reconstruction_loss"]
