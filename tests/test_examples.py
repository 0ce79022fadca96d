"""The runnable reproductions in examples/ do what they claim (small settings, real data)."""

import json

import numpy as np


def test_toy_autoencoder_memorises_its_one_input(tmp_path, load_script):
    """8-6-4-2-4-6-8 sigmoid autoencoder, SGD, one input: reconstructed, and its inverse is not."""
    result = load_script("examples", "toy_8bit").main(["--epochs", "2000", "--lr", "1.0", "--out", str(tmp_path)])
    assert result["mse_trained_input"] < 0.05
    assert result["mse_inverse_input"] > 0.3
    # it answers the inverse with (roughly) the input it memorised
    assert np.round(result["reconstruction_inverse_input"]).tolist() == [0, 0, 1, 0, 0, 1, 1, 1]
    assert json.loads((tmp_path / "results.json").read_text())["epochs"] == 2000
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_mnist_latent2_trains_four_depths_and_draws_them(tmp_path, real_data_root, load_script):
    rows = load_script("examples", "mnist_latent2").main(["--epochs", "1", "--device", "cpu", "--root", str(real_data_root / "mnist"),
                                               "--out", str(tmp_path)])
    assert [r["encoder"] for r in rows] == ["784-392-28-10-2", "784-28-10-2", "784-10-2", "784-2"]
    assert all(0 < r["val_loss"] < 0.7 for r in rows)  # binary cross-entropy per pixel, below chance (ln 2)
    for name in ("latent_spaces.png", "reconstructions.png", "results.md", "results.json"):
        assert (tmp_path / name).exists()
    again = load_script("examples", "mnist_latent2").main(["--reuse", "--root", str(real_data_root / "mnist"), "--out", str(tmp_path)])
    assert [r["val_loss"] for r in again] == [r["val_loss"] for r in rows]  # the saved models, not new ones


def test_fashion_conv_example_reconstructs_and_maps_pooled_codes(tmp_path, real_data_root, load_script):
    result = load_script("examples", "fashion_conv").main(["--epochs", "4", "--batch-size", "64", "--rows", "3000", "--device", "cpu", "--method", "pca",
                                                "--points", "1000", "--root", str(real_data_root / "fashion-mnist"),
                                                "--out", str(tmp_path)])
    assert result["train_rows"] == 3000 and result["pooled_code"] == 64
    assert result["test_mse"] < 0.05  # predicting the mean image gives about 0.09
    assert {p.name for p in tmp_path.iterdir()} == {"reconstructions.png", "loss.png", "map_pca.png", "results.json"}
