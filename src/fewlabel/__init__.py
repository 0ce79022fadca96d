"""fewlabel: learn an encoder from lots of unlabeled data, then classify, cluster, map and detect.

The names below that need PyTorch are imported on first use, so that ``fewlabel --help``,
``fewlabel datasets`` and ``from fewlabel import datasets`` start without loading torch.
"""

from importlib import import_module

from fewlabel.errors import (
    CorruptFileError,
    DataNotFoundError,
    DownloadError,
    FewlabelError,
    InputError,
    TrainingDivergedError,
)

__version__ = "0.1.0"

_LAZY = {
    "Autoencoder": "fewlabel.estimators",
    "BYOL": "fewlabel.estimators",
    "ClassAutoencoderClassifier": "fewlabel.estimators",
    "ClusterModel": "fewlabel.estimators",
    "CodeClustering": "fewlabel.estimators",
    "ConvAutoencoder": "fewlabel.estimators",
    "DeepClustering": "fewlabel.estimators",
    "ReconstructionDetector": "fewlabel.estimators",
    "StackedAutoencoder": "fewlabel.estimators",
    "VariationalAutoencoder": "fewlabel.estimators",
    "SemiSupervisedClassifier": "fewlabel.estimators",
    "save": "fewlabel.io",
    "load": "fewlabel.io",
    "datasets": "fewlabel.datasets",
}

__all__ = [
    "CorruptFileError",
    "DataNotFoundError",
    "DownloadError",
    "FewlabelError",
    "InputError",
    "TrainingDivergedError",
    "__version__",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        module = import_module(_LAZY[name])
        value = module if name == "datasets" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fewlabel' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
