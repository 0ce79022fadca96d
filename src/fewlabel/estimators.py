"""The scikit-learn compatible front: every estimator fewlabel offers, in one place."""

from fewlabel.pretrain.autoencoder import Autoencoder, ConvAutoencoder
from fewlabel.pretrain.byol import BYOL
from fewlabel.pretrain.stacked import StackedAutoencoder
from fewlabel.pretrain.variational import VariationalAutoencoder
from fewlabel.tasks.classify import SemiSupervisedClassifier
from fewlabel.tasks.cluster import CodeClustering
from fewlabel.tasks.clusterer import ClusterModel
from fewlabel.tasks.deep_cluster import DeepClustering
from fewlabel.tasks.detect import ClassAutoencoderClassifier, ReconstructionDetector

__all__ = ["BYOL", "Autoencoder", "ClassAutoencoderClassifier", "ClusterModel", "CodeClustering", "ConvAutoencoder",
           "DeepClustering", "ReconstructionDetector", "SemiSupervisedClassifier", "StackedAutoencoder", "VariationalAutoencoder"]
