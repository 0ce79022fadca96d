"""Ways to learn an encoder from unlabeled data."""

from fewlabel.pretrain.autoencoder import Autoencoder, DenseAutoencoderNet, reconstruction_loss

__all__ = ["Autoencoder", "DenseAutoencoderNet", "reconstruction_loss"]
