"""fewlabel: learn an encoder from lots of unlabeled data, then classify, cluster, map and detect."""

from fewlabel.errors import (
    CorruptFileError,
    DataNotFoundError,
    DownloadError,
    FewlabelError,
    InputError,
    TrainingDivergedError,
)
from fewlabel.io import load, save
from fewlabel.estimators import Autoencoder, SemiSupervisedClassifier
from fewlabel import datasets

__version__ = "0.1.0"

__all__ = [
    "Autoencoder",
    "CorruptFileError",
    "DataNotFoundError",
    "DownloadError",
    "FewlabelError",
    "InputError",
    "SemiSupervisedClassifier",
    "TrainingDivergedError",
    "__version__",
    "datasets",
    "load",
    "save",
]
