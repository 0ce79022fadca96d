"""Building blocks: plain ``nn.Module``s a researcher can take out and use alone."""

from fewlabel.nets.conv import ConvAutoencoderNet, ConvDecoder, ConvEncoder, stage_sizes
from fewlabel.nets.dense import ACTIVATIONS, MLP, activation

__all__ = ["ACTIVATIONS", "MLP", "ConvAutoencoderNet", "ConvDecoder", "ConvEncoder", "activation", "stage_sizes"]
