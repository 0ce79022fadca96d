"""Values as JSON holds them, for every file fewlabel writes: saved models' parameters, experiment
settings, comparison results.

This module imports nothing but the standard library and fewlabel's errors, so that checking an experiment
file does not load torch.
"""

from __future__ import annotations

import json
from pathlib import PurePath

from fewlabel.errors import InputError

UNKNOWN = ("raise", "name")


def json_safe(value, *, unknown: str = "raise"):
    """``value`` as JSON gives it back: tuples become lists, paths strings, numbers plain Python numbers,
    dict keys strings.

    ``unknown`` says what happens to a value JSON cannot hold (an estimator, a function): ``'raise'`` (an
    :class:`~fewlabel.errors.InputError` naming it; what a saved model needs, since loading must rebuild
    every parameter) or ``'name'`` (its type's name, as a record of what was used that nothing rebuilds).
    """
    if unknown not in UNKNOWN:
        raise ValueError(f"unknown must be one of {UNKNOWN}, got {unknown!r}")

    def other(v):
        if isinstance(v, PurePath):
            return str(v)
        if type(v).__module__ == "numpy" and getattr(v, "ndim", None) == 0:  # np.int64(8): checks accept it
            return v.item()
        if unknown == "name":
            return type(v).__name__
        raise InputError(f"cannot save {v!r} ({type(v).__name__}) as JSON: only numbers, strings, booleans, None, "
                         "paths and lists or dicts of them can be saved")

    try:
        return json.loads(json.dumps(value, default=other))
    except InputError:
        raise
    except (TypeError, ValueError) as e:  # keys JSON cannot hold; a list that contains itself
        raise InputError(f"cannot save {value!r} as JSON: {e}") from None
