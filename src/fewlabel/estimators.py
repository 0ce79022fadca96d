"""The scikit-learn compatible front: every estimator fewlabel offers, in one place."""

from fewlabel.pretrain.autoencoder import Autoencoder, ConvAutoencoder
from fewlabel.pretrain.stacked import StackedAutoencoder
from fewlabel.pretrain.variational import VariationalAutoencoder
from fewlabel.tasks.classify import SemiSupervisedClassifier

__all__ = ["Autoencoder", "ConvAutoencoder", "SemiSupervisedClassifier", "StackedAutoencoder",
           "VariationalAutoencoder"]
