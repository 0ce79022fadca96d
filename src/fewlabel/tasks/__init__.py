"""What a learned encoder is used for."""

from fewlabel.tasks.classify import SemiSupervisedClassifier
from fewlabel.tasks.encoders import autoencoder_of, encoder_codes, encoder_of

__all__ = ["SemiSupervisedClassifier", "autoencoder_of", "encoder_codes", "encoder_of"]
