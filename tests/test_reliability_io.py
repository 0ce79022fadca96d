"""Reliability of the readers and model folders: bounded memory, mismatched or broken folders."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from fewlabel import datasets
from fewlabel.errors import CorruptFileError


def _peak(fn):
    """(result, peak bytes traced while calling fn); NumPy reports its buffers to tracemalloc."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- IDX: memory stays bounded ----------------------------------------------------------------------


def test_gz_idx_is_read_in_about_its_own_size(real_data_root):
    path = real_data_root / "mnist" / "train-images-idx3-ubyte.gz"
    X, peak = _peak(lambda: datasets.read_idx(path))
    assert X.shape == (60000, 28, 28) and X.dtype == np.uint8 and X.flags.writeable and X.flags.owndata
    # The array itself plus a few MB of decompression buffers; the old reader peaked at 2.2x the array.
    assert peak < X.nbytes * 1.05 + 4_000_000, (peak, X.nbytes)
    assert 0 < X.mean() < 255


def test_big_endian_values_survive_the_in_place_swap(tmp_path):
    arr = np.random.default_rng(0).normal(size=(300, 50)).astype(np.float64)
    data = bytes([0, 0, 0x0E, 2]) + struct.pack(">2I", *arr.shape) + arr.astype(">f8").tobytes()
    path = tmp_path / "x.idx.gz"
    path.write_bytes(gzip.compress(data))
    out, peak = _peak(lambda: datasets.read_idx(path))
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.isnative and peak < arr.nbytes + 2_500_000


@pytest.mark.parametrize("compress", [False, True])
def test_a_header_claiming_more_than_the_file_can_hold_allocates_nothing(tmp_path, compress):
    # 200,000 x 28 x 28 = 157 MB claimed; the file holds 784 bytes (gzip: at most ~1032x its size).
    data = bytes([0, 0, 8, 3]) + struct.pack(">3I", 200_000, 28, 28) + bytes(784)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(CorruptFileError, match="can hold at most") as e:
        _peak(lambda: datasets.read_idx(path))
    assert str(path) in str(e.value) and "(200000, 28, 28)" in str(e.value)
    tracemalloc.start()
    with pytest.raises(CorruptFileError):
        datasets.read_idx(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000


def test_gzip_members_zero_padding_and_garbage(tmp_path):
    arr = np.arange(5000, dtype=np.uint8)
    data = bytes([0, 0, 8, 1]) + struct.pack(">I", len(arr)) + arr.tobytes()
    path = tmp_path / "x.gz"
    # two members (as `cat a.gz b.gz` makes), then zero padding: one valid file
    path.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]) + bytes(300))
    np.testing.assert_array_equal(datasets.read_idx(path), arr)
    path.write_bytes(gzip.compress(data) + b"\x00\x07junk")
    with pytest.raises(CorruptFileError, match="6 bytes of garbage after the gzip stream"):
        datasets.read_idx(path)
    path.write_bytes(gzip.compress(data + b"extra"))
    with pytest.raises(CorruptFileError, match="5 bytes of trailing garbage"):
        datasets.read_idx(path)


# --- model folders: every registered type, config against weights ----------------------------------


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """One saved folder of every registered type (estimators fitted for one epoch on 120 tiny digits)."""
    import torch
    from sklearn.datasets import load_digits

    import fewlabel
    from fewlabel.nets import resnet18
    from fewlabel.registry import REGISTRY

    X, y = load_digits(return_X_y=True)
    X, y = (X[:120] * 16).astype(np.uint8).reshape(-1, 8, 8), y[:120]
    s = dict(epochs=1, device="cpu", verbose=False)

    def ae():
        return fewlabel.Autoencoder(hidden=(16,), latent=4, **s)

    y_few = y.copy()
    y_few[60:] = -1
    objs = {
        "Autoencoder": ae().fit(X),
        "ConvAutoencoder": fewlabel.ConvAutoencoder(channels=(4, 8), latent=4, **s).fit(X),
        "VariationalAutoencoder": fewlabel.VariationalAutoencoder(hidden=(16,), latent=2, **s).fit(X),
        "StackedAutoencoder": fewlabel.StackedAutoencoder(hidden=(16,), latent=4, layer_epochs=1,
                                                          finetune_epochs=1, device="cpu").fit(X),
        "BYOL": fewlabel.BYOL(encoder="conv", channels=(4, 8), projection_dim=8, hidden_dim=16, batch_size=32,
                              **s).fit(X),
        # 20 steps: the default's floor of 200 a network (its route, first and final networks: 380 steps) is 20 s
        # of a model whose weights only need to exist
        "SemiSupervisedClassifier": fewlabel.SemiSupervisedClassifier(pretrain=None, hidden=(16,), latent=4,
                                                                      head_hidden=(8,), max_steps=20,
                                                                      **s).fit(X, y_few),
        "ReconstructionDetector": fewlabel.ReconstructionDetector(autoencoder=ae()).fit(X),
        "ClassAutoencoderClassifier": fewlabel.ClassAutoencoderClassifier(autoencoder=ae()).fit(X, y % 3),
    }
    objs["DeepClustering"] = fewlabel.DeepClustering(autoencoder=objs["Autoencoder"], n_clusters=3, epochs=1,
                                                     device="cpu").fit(X)
    from fewlabel.tasks.clusterer import ClusterModel

    objs["ClusterModel"] = ClusterModel(n_clusters=3, encoder=objs["Autoencoder"], manifold="pca", refine=None).fit(X)
    for o in list(objs.values()) + [resnet18((3, 16, 16), base=4)]:  # the networks inside them
        module = getattr(o, "module_", o)
        for sub in module.modules() if isinstance(module, torch.nn.Module) else ():
            name = type(sub).__name__
            if name in REGISTRY and name not in objs:
                objs[name] = sub
    assert set(objs) == set(REGISTRY), f"no test model for {sorted(set(REGISTRY) - set(objs))}"
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    return {name: fewlabel.save(o, root / name) for name, o in sorted(objs.items())}


def _copy_with_weights(src, dst, change):
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(str(dst / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(dst / "model.safetensors"))
    return dst


def _grow(tensors):
    key = sorted(k for k, v in tensors.items() if k.endswith("weight") and v.ndim >= 1)[0]  # a layer's weight
    t = tensors[key]
    tensors[key] = t.new_zeros((t.shape[0] + 1, *t.shape[1:]))


@pytest.mark.parametrize("change", ["size mismatch", "missing tensor", "extra tensor"])
def test_weights_that_do_not_match_the_config_name_the_folder_for_every_type(saved_models, tmp_path, change):
    import torch

    import fewlabel

    edit = {
        "size mismatch": _grow,
        "missing tensor": lambda t: t.pop(sorted(t)[-1]),
        "extra tensor": lambda t: t.update({"stray.weight": torch.zeros(3)}),
    }[change]
    for name, src in saved_models.items():
        fewlabel.load(src)  # the untouched folder loads
        bad = _copy_with_weights(src, tmp_path / name, edit)
        with pytest.raises(CorruptFileError, match="do not match the architecture") as e:
            fewlabel.load(bad)
        assert str(bad) in str(e.value), name


def test_broken_model_folders_give_clear_errors(saved_models, tmp_path):
    import json
    import shutil

    import fewlabel
    from fewlabel.errors import DataNotFoundError, InputError

    src = saved_models["Autoencoder"]
    path = tmp_path / "m"

    def fresh():
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(src, path)
        return json.loads((path / "config.json").read_text())

    fresh()
    (path / "config.json").write_bytes(b"\x89PNG not json")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        fewlabel.load(path)
    fresh()
    (path / "model.safetensors").unlink()
    with pytest.raises(CorruptFileError, match="model.safetensors is missing"):
        fewlabel.load(path)
    fresh()
    (path / "config.json").unlink()
    (path / "config.json").mkdir()
    with pytest.raises(CorruptFileError, match="config.json is a folder"):
        fewlabel.load(path)
    with pytest.raises(InputError, match="is a file"):
        fewlabel.load(src / "config.json")
    with pytest.raises(DataNotFoundError):
        fewlabel.load(tmp_path / "nothing")
    with pytest.raises(InputError, match="refusing to overwrite"):
        fewlabel.save(fewlabel.load(src), src / "config.json")  # a file given as the folder to save to
    fresh()
    weights = (path / "model.safetensors").read_bytes()
    for cut in (4, 100, len(weights) - 1):
        (path / "model.safetensors").write_bytes(weights[:cut])
        with pytest.raises(CorruptFileError, match="not a readable safetensors") as e:
            fewlabel.load(path)
        assert str(path) in str(e.value)
    header = fresh()
    header["type"] = "Autoencoder9000"
    (path / "config.json").write_text(json.dumps(header))
    with pytest.raises(CorruptFileError, match="unknown model type 'Autoencoder9000'"):
        fewlabel.load(path)
    header = fresh()
    header["fewlabel_format"] = 7
    (path / "config.json").write_text(json.dumps(header))
    with pytest.raises(CorruptFileError, match="newer fewlabel.*format 7"):
        fewlabel.load(path)
    # a config describing a network far larger than its weights is refused before anything is allocated
    header = fresh()
    header["config"]["params"]["hidden"] = [2**34]
    (path / "config.json").write_text(json.dumps(header))
    with pytest.raises(CorruptFileError, match="do not match the architecture|weights, more than the") as e:
        fewlabel.load(path)
    assert str(path) in str(e.value)


def test_an_empty_idx_array_with_impossible_other_sizes_is_refused(tmp_path):
    # found by scripts/fuzz_parsers.py: shape (0, 4e9, 4e9) holds no bytes but NumPy cannot make it
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 0xFFFFFFFF, 0xFFFFFFFF))
    with pytest.raises(CorruptFileError, match="can hold at most"):
        datasets.read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 2]) + struct.pack(">2I", 0, 5))
    assert datasets.read_idx(path).shape == (0, 5)


# --- every savable type loads in a fresh process ------------------------------------------------------------
def _registered_types(code: str) -> set[str]:
    import subprocess
    import sys

    code += "\nfrom fewlabel.registry import REGISTRY\nprint(*sorted(REGISTRY))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


def test_load_knows_every_savable_type_without_its_module_imported_first():
    """``fewlabel.load`` in a fresh process (a notebook opening a saved model) must know every type that
    ``fewlabel.save`` can write, not only those whose module the session happened to import: a saved
    ClusterModel was once refused as an unknown type."""
    every = _registered_types("import importlib, pkgutil, fewlabel\n"
                              "for m in pkgutil.walk_packages(fewlabel.__path__, 'fewlabel.'):\n"
                              "    if not m.name.endswith('__main__'):\n"
                              "        importlib.import_module(m.name)")
    assert {"ClusterModel", "SemiSupervisedClassifier", "Autoencoder"} <= every
    known_to_load = _registered_types("from fewlabel.io import _import_all\n_import_all()")
    assert known_to_load == every, sorted(every - known_to_load)
