"""Building blocks: plain ``nn.Module``s a researcher can take out and use alone."""

from fewlabel.nets.conv import ConvAutoencoderNet, ConvDecoder, ConvEncoder, stage_sizes
from fewlabel.nets.dense import ACTIVATIONS, MLP, activation
from fewlabel.nets.encoder import CodeEncoder
from fewlabel.nets.resnet import ResNet, resnet18

__all__ = ["ACTIVATIONS", "MLP", "CodeEncoder", "ConvAutoencoderNet", "ConvDecoder", "ConvEncoder", "ResNet",
           "activation", "resnet18", "stage_sizes"]
