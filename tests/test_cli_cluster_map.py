"""``fewlabel cluster`` and ``fewlabel map`` on scikit-learn's real 8x8 digits (no download, CPU)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fewlabel.cli import main


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A dense autoencoder saved by ``fewlabel pretrain`` on the digits."""
    out = tmp_path_factory.mktemp("pretrained")
    assert main(["pretrain", "--data", "digits", "--epochs", "10", "--batch-size", "32", "--quiet", "--no-plots",
                 "--device", "cpu", "--out", str(out)]) == 0
    return out / "model"


def _one_line_error(capsys, *words):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_cluster_raw_digits_writes_metrics_and_maps(tmp_path, capsys):
    out = tmp_path / "raw"
    assert main(["cluster", "--data", "digits", "--encoder", "raw", "--method", "kmeans", "--manifold", "none",
                 "--k", "10", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["k"] == 10 and m["n_rows"] == 1347 and m["n_features"] == 64 and m["encoder"] is None
    assert m["nmi"] > 0.5 and m["ari"] > 0.4 and m["accuracy"] > 0.5  # measured: 0.74, 0.66, 0.79
    assert sum(m["cluster_sizes"]) == 1347 and m["k_selection"] is None
    assert {p.name for p in out.iterdir()} == {"metrics.json", "clusters.png", "labels.png", "model"}
    # the saved clusterer (here the raw input, k-means) gives every row its cluster again
    import fewlabel
    from fewlabel import datasets

    model = fewlabel.load(out / "model")
    X, _ = datasets.load("digits")
    assert type(model).__name__ == "ClusterModel" and model.encoder_ is None and model.network_ is None
    assert np.mean(model.predict(X) == model.labels_) == 1.0
    assert all((out / f).stat().st_size > 5000 for f in ("clusters.png", "labels.png"))
    printed = capsys.readouterr().out.strip()
    assert printed.count("\n") == 0 and "NMI 0.7" in printed and "ACC" in printed and "ARI" in printed


def test_cluster_codes_of_a_pretrained_encoder(tmp_path, encoder_dir, capsys):
    out = tmp_path / "codes"
    assert main(["cluster", "--data", "digits", "--encoder", str(encoder_dir), "--k", "10", "--method", "gmm",
                 "--manifold", "pca", "--manifold-dim", "8", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["encoder"] == "Autoencoder" and m["encoder_path"] == str(encoder_dir)
    assert m["n_features"] == 10 and m["method"] == "gmm" and m["manifold"] == "pca"
    assert m["nmi"] > 0.4  # measured 0.6 with k-means; chance is about 0.02
    assert "Autoencoder codes (10-d)" in capsys.readouterr().out


def test_cluster_auto_k_records_the_silhouettes(tmp_path, encoder_dir):
    out = tmp_path / "auto"
    assert main(["cluster", "--data", "digits", "--encoder", str(encoder_dir), "--k", "auto", "--max-rows", "600",
                 "--method", "kmeans", "--manifold", "none", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    sel = m["k_selection"]
    assert sel["criterion"] == "silhouette" and sel["ks"] == list(range(2, 16))
    scores = {int(k): v for k, v in sel["scores"].items()}
    assert sorted(scores) == list(range(2, 16)) and all(-1 <= v <= 1 for v in scores.values())
    assert m["k"] == sel["best_k"] == max(scores, key=scores.get)
    assert m["n_rows"] == 600 and m["max_rows"] == 600 and m["rows_in_split"] == 1347
    assert len(m["cluster_sizes"]) == m["k"]
    # --max-rows draws the same rows every time
    again = ["cluster", "--data", "digits", "--encoder", "raw", "--method", "kmeans", "--manifold", "none", "--k", "3",
             "--max-rows", "600", "--out"]
    assert main([*again, str(tmp_path / "a")]) == 0
    assert main([*again, str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab")
    assert a["cluster_sizes"] == b["cluster_sizes"] and a["nmi"] == b["nmi"]


@pytest.mark.parametrize("method, points", [("pca", None), ("tsne", 300)])
def test_map_writes_png_and_json(tmp_path, encoder_dir, capsys, method, points):
    out = tmp_path / method
    extra = [] if points is None else ["--max-points", str(points)]
    assert main(["map", "--data", "digits", "--encoder", str(encoder_dir), "--method", method, *extra,
                 "--out", str(out)]) == 0
    info = json.loads((out / "map.json").read_text())
    assert info["method"] == method and info["n_points"] == (points or 1347) and info["stratified"]
    assert info["encoder"] == "Autoencoder" and info["input_dim"] == 64 and info["code_dim"] == 10
    assert (out / "map.png").stat().st_size > 10_000
    assert str(out / "map.png") in capsys.readouterr().out


def test_map_without_encoder_shows_raw_input(tmp_path):
    assert main(["map", "--data", "digits", "--encoder", "raw", "--method", "pca", "--max-points", "200",
                 "--out", str(tmp_path)]) == 0
    info = json.loads((tmp_path / "map.json").read_text())
    assert info["encoder"] is None and info["code_dim"] == 64 and info["n_points"] == 200


@pytest.mark.parametrize("argv, words", [
    (["--k", "1"], ["--k must be at least 2"]),
    (["--k", "100000"], ["100000", "1347"]),
    (["--k", "10", "--encoder", "NOWHERE"], ["--encoder", "no such folder"]),
    (["--k", "10", "--max-rows", "0"], ["--max-rows"]),
    (["--k", "10", "--n-init", "0"], ["--n-init must be at least 1"]),
    (["--k", "10", "--n-maps", "0"], ["--n-maps must be at least 1"]),
])
def test_cluster_errors_are_one_line_and_write_nothing(tmp_path, capsys, argv, words):
    argv = [str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in argv]
    out = tmp_path / "out"
    assert main(["cluster", "--data", "digits", *argv, "--out", str(out)]) == 2
    assert _one_line_error(capsys, *words).startswith("fewlabel cluster: error:")
    assert not out.exists()


def test_encoder_for_another_input_shape_is_named(tmp_path, encoder_dir, capsys):
    data = tmp_path / "five.npy"
    np.save(data, np.random.default_rng(0).random((40, 5)).astype(np.float32))
    for command in ("cluster", "map"):
        out = tmp_path / command
        assert main([command, "--data", str(data), "--encoder", str(encoder_dir), "--out", str(out)]) == 2
        _one_line_error(capsys, "trained on rows of shape (8, 8)", "(5,)")
        assert not out.exists()
    assert main(["map", "--data", "digits", "--encoder", str(tmp_path / "missing"), "--out", str(tmp_path / "m")]) == 2
    _one_line_error(capsys, "no such folder")


def test_cli_cluster_error_in_a_subprocess(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fewlabel.cli", "cluster", "--data", "digits", "--k", "1",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "--k must be at least 2" in r.stderr
    assert not (tmp_path / "o").exists()
    r = subprocess.run([sys.executable, "-m", "fewlabel.cli", "cluster", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--k" in r.stdout and "--manifold" in r.stdout and "--max-rows" in r.stdout
