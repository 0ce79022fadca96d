"""fewlabel.jsonsafe.json_safe: what a saved model, an experiment's settings and a comparison's record hold."""

from pathlib import Path

import numpy as np
import pytest

from fewlabel.errors import InputError
from fewlabel.jsonsafe import json_safe


def test_tuples_paths_and_numpy_scalars_become_json():
    value = {"hidden": (128, (64,)), "encoder": Path("runs") / "ae", "latent": np.int64(8), "lr": np.float32(0.5),
             "flag": np.bool_(True), "none": None}
    assert json_safe(value) == {"hidden": [128, [64]], "encoder": str(Path("runs") / "ae"), "latent": 8, "lr": 0.5,
                                "flag": True, "none": None}


def test_what_json_cannot_hold_is_refused_or_named():
    with pytest.raises(InputError, match=r"cannot save <built-in function len> \(builtin_function_or_method\)"):
        json_safe({"fn": len})
    with pytest.raises(InputError, match="cannot save array"):
        json_safe({"init": np.zeros(3)})
    assert json_safe({"encoder": object(), "hidden": (8,), "steps": [len]}, unknown="name") == {
        "encoder": "object", "hidden": [8], "steps": ["builtin_function_or_method"]}
    loop = []
    loop.append(loop)
    with pytest.raises(InputError, match="Circular reference"):
        json_safe(loop)
    with pytest.raises(ValueError, match="unknown must be one of"):
        json_safe({}, unknown="skip")
