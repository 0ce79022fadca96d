"""The names under which fewlabel's savable types are known: what ``fewlabel.load`` looks a type up in.

This module imports nothing of fewlabel, so that networks (``fewlabel.nets``) can register themselves
without importing the save/load code (``fewlabel.io``), which imports the estimators in turn.
"""

from __future__ import annotations

#: Registered class name -> class. ``fewlabel.io.load`` looks up the ``type`` a ``config.json`` names here.
REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Make a class savable by ``fewlabel.save`` and loadable by ``fewlabel.load`` under its class name."""
    REGISTRY[cls.__name__] = cls
    return cls
