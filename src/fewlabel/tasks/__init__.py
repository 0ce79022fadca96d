"""What a learned encoder is used for."""

from fewlabel.tasks.classify import EncoderClassifierNet, SemiSupervisedClassifier

__all__ = ["EncoderClassifierNet", "SemiSupervisedClassifier"]
