"""The clustering / codes-as-features case studies in examples/ on real MNIST (CPU, small settings)."""

import json


def test_rotation_sixes_recovers_the_angle_and_nines_look_like_upside_down_sixes(tmp_path, real_data_root, load_script):
    result = load_script("examples", "rotation_sixes").main(["--epochs", "10", "--device", "cpu", "--no-raw",
                                                  "--root", str(real_data_root / "mnist"), "--out", str(tmp_path)])
    assert result["train_rows"] == 4 * result["train_sixes"] > 20_000 and result["test_nines"] > 900
    codes = result["runs"][0]
    # measured with 10 epochs, seeds 0-2: accuracy 0.91-0.94, NMI 0.76-0.80; k-means on 4 classes: chance ~0.25
    assert codes["test"]["accuracy"] > 0.8 and codes["test"]["nmi"] > 0.6
    assert sorted(codes["cluster_to_angle"].values()) == [0, 90, 180, 270]  # one cluster per angle
    nines = codes["nines_per_cluster_angle"]
    assert abs(sum(nines.values()) - 1) < 1e-9
    # measured 0.73-0.92 of the nines in the 180-degree cluster
    assert codes["nines_top_angle"] == 180 and nines["180"] > 0.5
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["runs"][0]["nines_per_cluster_angle"] == nines
    assert (tmp_path / "codes_map.png").stat().st_size > 20_000


def test_codes_as_features_feed_knn_and_forest_pipelines(tmp_path, real_data_root, load_script):
    result = load_script("examples", "codes_as_features").main([
        "--ae-rows", "3000", "--epochs", "10", "--labels", "300", "--test-rows", "2000", "--trees", "50",
        "--device", "cpu", "--root", str(real_data_root / "mnist"), "--out", str(tmp_path)])
    acc = result["accuracy"]
    assert set(acc) == {"raw pixels", "autoencoder 2-d", "autoencoder 10-d", "autoencoder 32-d", "union 2+10+32"}
    assert all(set(row) == {"knn", "random_forest"} for row in acc.values())
    # ten classes: chance is 0.1
    assert acc["raw pixels"]["knn"] > 0.7
    assert acc["autoencoder 32-d"]["knn"] > 0.65 and acc["union 2+10+32"]["knn"] > 0.65  # measured 0.81, 0.80
    assert acc["union 2+10+32"]["random_forest"] > 0.65  # measured 0.80
    assert acc["autoencoder 2-d"]["knn"] > 0.2
    assert result["labels"] == 300 and result["ae_rows"] == 3000 and result["test_rows"] == 2000
    assert json.loads((tmp_path / "results.json").read_text())["accuracy"] == acc
