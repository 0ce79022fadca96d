"""What a learned encoder is used for."""

from fewlabel.tasks.classify import CodeEncoder, EncoderClassifierNet, SemiSupervisedClassifier

__all__ = ["CodeEncoder", "EncoderClassifierNet", "SemiSupervisedClassifier"]
