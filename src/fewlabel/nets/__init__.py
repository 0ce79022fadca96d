"""Building blocks: plain ``nn.Module``s a researcher can take out and use alone, and the encoder protocol
(:class:`EncoderSpec`, :func:`build_encoder`)."""

from fewlabel.nets.autoencoder import DenseAutoencoderNet, ImageRowsNet, LayerPair, TiedDecoder, linear_blocks
from fewlabel.nets.byol import BYOLNet, ProjectionMLP
from fewlabel.nets.classifier import EncoderClassifierNet
from fewlabel.nets.cluster import ClusteringNet
from fewlabel.nets.conv import ConvAutoencoderNet, ConvDecoder, ConvEncoder, stage_sizes
from fewlabel.nets.dense import ACTIVATIONS, MLP, activation
from fewlabel.nets.encoder import CodeEncoder, EncoderSpec, build_encoder
from fewlabel.nets.resnet import ResNet, resnet18
from fewlabel.nets.variational import VariationalAutoencoderNet

__all__ = ["ACTIVATIONS", "BYOLNet", "ClusteringNet", "CodeEncoder", "ConvAutoencoderNet", "ConvDecoder", "ConvEncoder",
           "DenseAutoencoderNet", "EncoderClassifierNet", "EncoderSpec", "ImageRowsNet", "LayerPair", "MLP",
           "ProjectionMLP", "ResNet", "TiedDecoder", "VariationalAutoencoderNet", "activation", "build_encoder",
           "linear_blocks", "resnet18", "stage_sizes"]
