"""Building blocks: plain ``nn.Module``s a researcher can take out and use alone."""

from fewlabel.nets.dense import ACTIVATIONS, MLP, activation

__all__ = ["ACTIVATIONS", "MLP", "activation"]
