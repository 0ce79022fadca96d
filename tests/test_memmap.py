"""Images in an .npy file larger than memory: memory-mapped, never written to, trained on with a held-out share
read from the file batch by batch, with the same result as the same images in memory; from the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fewlabel import Autoencoder, datasets, load
from fewlabel.errors import CorruptFileError
from fewlabel.train.data import RowsOf, is_mapped


@pytest.fixture(scope="module")
def images(mnist_small, tmp_path_factory):
    X = mnist_small[0][:1200]
    path = tmp_path_factory.mktemp("mapped") / "images.npy"
    np.save(path, X)
    return X, path


def test_an_image_file_is_mapped_copy_on_write(images):
    X, path = images
    before = path.read_bytes()
    assert not is_mapped(datasets.read_table(path)[0])  # read, unless asked: rewriting a mapped file crashes
    Xm, y, names = datasets.read_table(path, mmap=True)
    assert isinstance(Xm, np.memmap) and is_mapped(Xm) and y is None and names is None
    np.testing.assert_array_equal(Xm, X)
    Xm[:10] = 255  # fewlabel's own code, or the user's, may write into what it was given ...
    del Xm
    assert path.read_bytes() == before  # ... the file is never changed
    table, _, _ = datasets.read_table(_flat_copy(path), mmap=True)
    assert not is_mapped(table)  # a 2-D table is read (its columns are picked and converted)


def _flat_copy(path):
    flat = path.with_name("flat.npy")
    np.save(flat, np.load(path)[:50].reshape(50, -1))
    return flat


def test_a_truncated_image_file_is_named_before_it_is_mapped(images, tmp_path):
    _, path = images
    cut = tmp_path / "cut.npy"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptFileError, match="truncated"):
        datasets.read_table(cut, mmap=True)


def test_the_held_out_share_is_read_from_the_file_and_training_matches_memory(images):
    X, path = images
    Xm, _, _ = datasets.read_table(path, mmap=True)
    settings = {"hidden": (64,), "latent": 8, "epochs": 2, "batch_size": 100, "validation_fraction": 0.2,
                "random_state": 0, "device": "cpu"}
    resident = Autoencoder(**settings).fit(X)
    mapped = Autoencoder(**settings).fit(Xm)
    np.testing.assert_allclose(mapped.history_.history["loss"], resident.history_.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(mapped.history_.history["val_loss"], resident.history_.history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(mapped.transform(Xm[:200]), resident.transform(X[:200]), rtol=1e-4, atol=1e-5)
    assert mapped.training_data_["fingerprint"] == resident.training_data_["fingerprint"]


def test_mapped_rows_read_a_batch_in_one_go_in_any_order(images):
    X, path = images
    Xm = np.load(path, mmap_mode="r")
    rows = RowsOf(Xm, np.array([5, 900, 3, 41]))
    batch = rows.__getitems__([3, 0, 2])
    assert [r.shape for r in batch] == [(28, 28)] * 3
    np.testing.assert_array_equal(torch.stack(batch).numpy(), X[[41, 5, 3]])
    np.testing.assert_array_equal(rows[1].numpy(), X[900])
    assert len(rows) == 4


def test_pretrain_then_predict_on_a_mapped_file_from_the_command_line(images, tmp_path):
    X, path = images
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    cmd = [sys.executable, "-m", "fewlabel.cli"]
    done = subprocess.run([*cmd, "pretrain", "--data", str(path), "--hidden", "64", "--latent", "8", "--epochs", "1",
                           "--no-plots", "--out", str(tmp_path / "ae")], capture_output=True, text=True, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((tmp_path / "ae" / "history.json").read_text())
    assert history["rows"] == 1200 and history["val_loss"] is not None
    ae = load(tmp_path / "ae" / "model")
    assert ae.training_data_["rows"] == 1200 and ae.input_shape_ == (28, 28)
    done = subprocess.run([*cmd, "predict", "--model", str(tmp_path / "ae" / "model"), "--data", str(path),
                           "--out", str(tmp_path / "codes.npy")], capture_output=True, text=True, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (1200, 8)
    np.testing.assert_allclose(codes, ae.transform(X), rtol=1e-4, atol=1e-4)
