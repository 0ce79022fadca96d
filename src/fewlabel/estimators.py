"""The scikit-learn compatible front: every estimator fewlabel offers, in one place."""

from fewlabel.pretrain.autoencoder import Autoencoder
from fewlabel.tasks.classify import SemiSupervisedClassifier

__all__ = ["Autoencoder", "SemiSupervisedClassifier"]
