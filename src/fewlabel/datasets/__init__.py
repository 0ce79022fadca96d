"""Datasets as NumPy arrays: named benchmarks, image folders, tables, and few-label subsets.

>>> from fewlabel import datasets
>>> X, y = datasets.load("mnist")                 # (60000, 28, 28) uint8, (60000,) int64
>>> y_few = datasets.labeled_subset(y, 100)       # 100 labels kept, the rest -1
>>> X, y, classes = datasets.read_image_folder("photos/", size=(64, 64))
>>> X, y, names = datasets.read_table("iris.csv", label_column="species")

Images are uint8: grayscale (N, H, W), colour (N, H, W, C). Labels are int64 0..K-1, or None for
unlabeled data; -1 marks "unlabeled" inside a label vector, as in scikit-learn.
"""

from fewlabel.datasets.catalog import describe, format_description, load
from fewlabel.datasets.cifar import read_cifar10
from fewlabel.datasets.download import cache_dir
from fewlabel.datasets.folders import read_image_folder
from fewlabel.datasets.idx import read_idx
from fewlabel.datasets.registry import DATASETS
from fewlabel.datasets.stl10 import read_stl10
from fewlabel.datasets.subsets import labeled_subset
from fewlabel.datasets.tables import read_table

__all__ = [
    "DATASETS",
    "cache_dir",
    "describe",
    "format_description",
    "labeled_subset",
    "load",
    "read_cifar10",
    "read_idx",
    "read_image_folder",
    "read_stl10",
    "read_table",
]
