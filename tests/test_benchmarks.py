"""The benchmark scripts run end to end at a small scale (their full runs are on demand, on a GPU)."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow(rank=3)  # runs early: see tests/conftest.py


def test_cluster_benchmark_reports_codes_beside_raw_baselines_and_idec(tmp_path, real_data_root, load_script):
    bench = load_script("benchmarks", "cluster_codes")
    out = tmp_path / "cluster.json"
    report = bench.main(["--data", "mnist", "--root", str(real_data_root), "--rows", "2000", "--epochs", "8",
                         "--seeds", "1", "--model", "conv", "--idec-epochs", "2", "--refine-rounds", "1",
                         "--refine-min-steps", "60", "--device", "cpu", "--out", str(out)])
    res = report["results"]["mnist"]
    assert res["rows"] == 2000
    # measured: raw k-means NMI 0.49, raw UMAP + GMM 0.69, conv codes (8 epochs) + UMAP + GMM 0.68, then IDEC 0.61;
    # self-labelled for 60 steps 0.71 (10.7% of the rows moved)
    assert 0.4 < res["raw_kmeans"]["nmi"] < 0.6
    assert res["raw_umap_gmm"]["nmi"] > res["raw_kmeans"]["nmi"]
    ae = res["autoencoder_umap_gmm"]
    run = ae["runs"][0]
    assert ae["model"] == run["model"] == "conv" and run["epochs"] == 8 and run["seed"] == 0
    assert run["gmm"]["nmi"] > res["raw_kmeans"]["nmi"] + 0.1
    # one self-labelling round on top of the mixture: recorded beside it, and the run's scores are its
    assert len(run["refine"]["rounds"]) == 1 and 0 < run["refine"]["rounds"][0]["changed"] < 0.3
    assert run["nmi"] > res["raw_kmeans"]["nmi"] + 0.1 and ae["before_refine"]["nmi"]["values"] == [run["gmm"]["nmi"]]
    assert ae["nmi"]["values"] == [run["nmi"]] and ae["nmi"]["std"] == 0
    assert run["idec"]["epochs"] == 2 and 0 <= run["idec"]["nmi"] <= 1 and ae["idec"]["nmi"]["mean"] == run["idec"]["nmi"]
    assert json.loads(out.read_text())["results"]["mnist"]["autoencoder_umap_gmm"]["runs"][0]["nmi"] == run["nmi"]


def test_cluster_benchmark_with_no_seeds_runs_the_raw_baselines_alone(tmp_path, real_data_root, load_script):
    report = load_script("benchmarks", "cluster_codes").main(["--data", "mnist", "--root", str(real_data_root), "--rows", "1000",
                                                   "--seeds", "0", "--out", str(tmp_path / "raw.json")])
    res = report["results"]["mnist"]
    assert res["autoencoder_umap_gmm"]["runs"] == [] and res["raw_umap_gmm"]["nmi"] > 0.5


def test_scaling_rows_are_mnist_then_shifted_copies_with_their_labels(real_data_root, load_script):
    import numpy as np

    from fewlabel import datasets

    X, y = load_script("benchmarks", "scaling").rows_of_mnist(75_000, real_data_root)
    train, labels = datasets.load("mnist", root=real_data_root / "mnist")
    assert X.shape == (75_000, 28, 28) and X.dtype == np.uint8 and len(y) == 75_000
    np.testing.assert_array_equal(X[:60_000], train)
    np.testing.assert_array_equal(y[70_000:], labels[:5_000])
    # the first copy is moved one pixel up: its last row is blank (not the digit's top rolled round)
    assert not X[70_000:, -1].any()
    np.testing.assert_array_equal(X[70_000:, :-1], train[:5_000, 1:])


def test_map_on_a_sample_keeps_the_sample_and_places_the_rest_by_their_neighbours(load_script):
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.metrics import normalized_mutual_info_score
    from sklearn.mixture import GaussianMixture

    map_on_sample = load_script("benchmarks", "map_sample").map_on_sample
    X, y = load_digits(return_X_y=True)
    Z = PCA(10, random_state=0).fit_transform(X).astype(np.float32)
    E, _ = map_on_sample(Z, 600)
    pick = np.sort(np.random.default_rng(0).choice(len(Z), 600, replace=False))
    whole, seconds = map_on_sample(Z, 0)
    assert seconds == 0.0 and E.shape == whole.shape == (len(Z), 10)
    # the sample's own map is its rows' embedding; every other row lands beside its nearest sampled neighbour's
    again, _ = map_on_sample(Z[pick], 0)
    np.testing.assert_allclose(E[pick], again, atol=1e-4)
    rest = np.setdiff1d(np.arange(len(Z)), pick)
    nearest = pick[((Z[rest, None] - Z[None, pick]) ** 2).sum(-1).argmin(1)]
    same = ((E[rest] - E[nearest]) ** 2).sum(1) < ((E[rest] - E[rest[::-1]]) ** 2).sum(1)
    assert same.mean() > 0.9
    for emb in (E, whole):
        labels = GaussianMixture(10, random_state=0).fit_predict(emb)
        assert normalized_mutual_info_score(y, labels) > 0.7


def test_scaling_reads_each_commands_phases_and_scores_classify_by_its_predictions(tmp_path, load_script):
    import numpy as np

    scaling = load_script("benchmarks", "scaling")
    cluster = {"encoder_trained": {"cpu_seconds": 10.0}, "phase_cpu_seconds": {"map and mixture": 2.0,
                                                                                 "self-labelling": 5.0}}
    assert scaling.phases(cluster) == {"encoder": 10.0, "map and mixture": 2.0, "self-labelling": 5.0}
    classify = {"times": {"fit": {"seconds": 9, "cpu_seconds": 9, "phases": {
        "map and mixture": {"seconds": 2, "cpu_seconds": 2.5}, "route": {"seconds": 3, "cpu_seconds": 3.0}}},
        "unfamiliarity detector": {"seconds": 1, "cpu_seconds": 1.5}, "total": {"seconds": 11, "cpu_seconds": 12}}}
    assert scaling.phases(classify) == {"map and mixture": 2.5, "route": 3.0, "unfamiliarity detector": 1.5}
    # predictions.csv names rows from 1, and holds the unlabeled rows only
    (tmp_path / "predictions.csv").write_text("row,label,confidence\n2,7,0.9\n3,1,0.8\n5,4,0.7\n")
    y = np.array([0, 7, 2, 3, 9])
    assert scaling.classify_accuracy(tmp_path, y) == 1 / 3


def test_cluster_starts_scores_single_starts_and_the_default_on_a_kept_map(tmp_path, load_script):
    """The benchmark on a map already in its cache (the test map: no encoder to train): each single start's
    likelihood and scores, best-of-n, and the command's mixture with one start and with its default starts."""
    import numpy as np

    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS

    from pathlib import Path

    with np.load(Path(__file__).parent / "data" / "fashion_mnist_map_5000.npz") as d:
        E, y = d["E"].astype(np.float32), d["y"].astype(np.int64)
    cache = tmp_path / "maps"
    cache.mkdir()
    np.savez(cache / "fashion-mnist-5000rows-0.npz", Z=E, E=E, y=y)
    report = load_script("benchmarks", "cluster_starts").main(
        ["--data", "fashion-mnist", "--rows", "5000", "--seeds", "0", "--cache", str(cache),
         "--test-map", str(tmp_path / "again.npz"), "--out", str(tmp_path / "starts.json")])
    r = report["results"]["fashion-mnist"]["0"]
    assert report["n_init"] == CLUSTER_DEFAULTS["n_init"] and len(r["single_starts"]) == 50
    assert r["best_of"]["10"]["nmi"] > r["best_of"]["1"]["nmi"] + 0.005 and r["best_of"]["50"]["nmi_std"] == 0
    assert r["default_starts"]["nmi"] >= r["one_start"]["nmi"] - 0.02 and "refined" not in r["one_start"]
    with np.load(tmp_path / "again.npz") as d:  # the test map of a test map: 5,000 of 5,000 rows, reordered
        assert sorted(d["y"].tolist()) == sorted(y.tolist()) and d["E"].dtype == np.float16
    assert json.loads((tmp_path / "starts.json").read_text())["summary"]["fashion-mnist"]["one_start"]["mixture"]


def test_own_tables_benchmark_scores_the_detectors_beside_their_peers(tmp_path, load_script):
    """The wine table, one seed, the fast parts (the clusterer's own runs are the slow part, left out here)."""
    out = tmp_path / "tables.json"
    assert load_script("benchmarks", "own_tables").main(["--tables", "wine", "--seeds", "0", "--parts", "cluster",
                                                         "detect", "per_class", "--out", str(out)]) == 0
    r = json.loads(out.read_text())["tables"]["wine"]["seeds"]["0"]
    # measured: AUROC 0.986 scaled against 0.470 unscaled; accuracy 0.972 against 0.403; k-means 0.876 / 0.429
    assert r["detect_auroc"]["fewlabel_default"] > 0.95 > r["detect_auroc"]["fewlabel_unscaled"]
    assert r["per_class_accuracy"]["fewlabel_default"] > 0.9 > r["per_class_accuracy"]["fewlabel_unscaled"]
    assert r["cluster_nmi"]["kmeans_scaled"] > r["cluster_nmi"]["kmeans_raw"] + 0.3
    assert "fewlabel_default" not in r["cluster_nmi"]


def test_semi_curve_takes_newer_draws_of_the_default_and_keeps_the_peers(tmp_path, load_script):
    """After a change to the default only fewlabel's two networks are re-measured: their draws replace the same
    draws of the first runs, the peers stay, and a draw the newer file lacks keeps its first figure."""
    def run(seed, **methods):
        return {"seed": seed, **{k: {"accuracy": v} for k, v in methods.items()}}

    first = {"data": "fashion-mnist", "labels": 1000,
             "runs": [run(0, fewlabel_default=0.85, supervised_baseline=0.84, logistic_regression=0.75),
                      run(1, fewlabel_default=0.84, supervised_baseline=0.83, logistic_regression=0.74)]}
    (tmp_path / "semi_default-fashion-mnist-1000.json").write_text(json.dumps(first))
    newer = tmp_path / "semi_recipe-new.json"
    newer.write_text(json.dumps({"data": "fashion-mnist", "labels": 1000,
                                 "runs": [run(1, fewlabel_default=0.87, supervised_baseline=0.85)]}))
    curve = load_script("benchmarks", "semi_curve")
    table = curve.main(["--results", str(tmp_path), "--newer", str(newer)])
    assert table["SemiSupervisedClassifier() (default)"] == {1000: [0.85, 0.87]}
    assert table["same network, labels only"] == {1000: [0.84, 0.85]}
    assert table["LogisticRegression (pixels)"] == {1000: [0.75, 0.74]}
    saved = json.loads((tmp_path / "semi_curve-fashion-mnist.json").read_text())
    assert saved["newer_runs_from"] == ["semi_recipe-new.json"]
    assert (tmp_path / "semi_curve-fashion-mnist.png").stat().st_size > 5000
    mnist = tmp_path / "mnist.json"
    mnist.write_text(json.dumps({"data": "mnist", "labels": 100, "runs": []}))
    with pytest.raises(SystemExit, match="'mnist' runs"):
        curve.main(["--results", str(tmp_path), "--newer", str(mnist)])


def test_semi_default_trains_on_a_drawn_subset_of_the_rows(tmp_path, load_script):
    """``--rows``: each draw trains on its own random rows (a folder's size), ``--test-rows`` scores on the first
    test rows; the default and its twin see the same rows and labels, and the file records the subset."""
    out = tmp_path / "sub.json"
    result = load_script("benchmarks", "semi_default").main(
        ["--data", "digits", "--labels", "40", "--rows", "600", "--test-rows", "200", "--seeds", "1",
         "--skip-peers", "--params", '{"propagate": "pca"}', "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["rows"] == 600 and saved["test_rows"] == 200 and saved["complete"]
    for run in result["runs"]:
        assert set(run) == {"seed", "fewlabel_default", "supervised_baseline"}
        # the tests' floor of 40 steps a network (conftest) on 40 labeled digits: far above chance (0.1)
        assert 0.4 < run["fewlabel_default"]["accuracy"] <= 1 and 0.3 < run["supervised_baseline"]["accuracy"] <= 1
        assert run["fewlabel_default"]["propagation"]["unlabeled"] == 560
    twin = load_script("benchmarks", "semi_default").main(
        ["--data", "digits", "--labels", "40", "--rows", "600", "--test-rows", "200", "--seeds", "1",
         "--baseline-only", "--params", '{"propagate": "pca"}', "--out", str(tmp_path / "twin.json")])
    # the same draw's twin alone: the same rows and labels give the same network
    assert set(twin["runs"][0]) == {"seed", "supervised_baseline"}
    assert twin["runs"][0]["supervised_baseline"]["accuracy"] == result["runs"][0]["supervised_baseline"]["accuracy"]
    with pytest.raises(SystemExit, match="--rows must be in 1..1347"):
        load_script("benchmarks", "semi_default").main(["--data", "digits", "--rows", "5000", "--out", str(out)])
    with pytest.raises(SystemExit, match="--test-rows must be at least 1"):
        load_script("benchmarks", "semi_default").main(["--data", "digits", "--test-rows", "0", "--out", str(out)])


def test_cluster_merge_joins_the_components_the_network_confuses(load_script):
    """Over-cluster and merge: components whose rows give each other probability are joined first, until k
    groups remain; a component the network tells apart stays alone."""
    merge = load_script("benchmarks", "cluster_merge").merge_by_confusion
    rng = np.random.default_rng(0)
    rows = []
    # components 0 and 1 look alike (their rows split 0.6 / 0.4 between them), 2 and 3 likewise, 4 stands apart
    for owner, other in ((0, 1), (1, 0), (2, 3), (3, 2), (4, 4)):
        for _ in range(20):
            p = np.full(5, 0.01)
            p[owner] += 0.6 + 0.05 * rng.random()
            p[other] += 0.35 if other != owner else 0.0
            rows.append(p / p.sum())
    proba = np.array(rows)
    merged = merge(proba, 3)
    owner = proba.argmax(axis=1)
    assert len(np.unique(merged)) == 3
    assert len(np.unique(merged[np.isin(owner, [0, 1])])) == 1 and len(np.unique(merged[np.isin(owner, [2, 3])])) == 1
    assert set(merged[owner == 4]).isdisjoint(merged[owner != 4])
    assert len(np.unique(merge(proba, 5))) == 5  # nothing to merge
    with pytest.raises(SystemExit, match="at least --k"):
        load_script("benchmarks", "cluster_merge").main(["--components", "5", "30"])


def test_every_benchmark_script_imports(load_script):
    """A benchmark is run on demand, often sessions after its last change: each one's imports (of fewlabel and of the
    other scripts' helpers) resolve, so a rename elsewhere cannot leave one broken until someone runs it."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    scripts = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    assert len(scripts) >= 20
    for name in scripts:
        module = load_script("benchmarks", name)
        assert callable(getattr(module, "main", None)), name


def test_phone_photos_folder_is_made_as_a_phone_leaves_it_and_the_peers_score_it(tmp_path, real_data_root,
                                                                                   load_script):
    """The phone-photo benchmark's folder: six sizes, colour JPEGs, some stored sideways with their EXIF tag,
    the labeled ones in class folders; read with the defaults at one size (said in a note), and the peers score
    it against the labels kept aside (well above chance on 300 photos with 10 labels a class)."""
    from PIL import Image

    bench = load_script("benchmarks", "phone_photos")
    truth = bench.make_folder(tmp_path / "photos", 300, 10, 0, real_data_root)
    files = sorted(p for p in (tmp_path / "photos").rglob("*.jpg"))
    assert len(files) == len(truth) == 300 and sum(not k.startswith("unlabeled/") for k in truth) == 100
    assert all(truth[k] == k.split("/")[0] for k in truth if not k.startswith("unlabeled/"))
    sideways = 0
    for f in files[:60]:
        with Image.open(f) as im:
            sideways += im.getexif().get(0x0112, 1) == 6
            assert im.format == "JPEG" and im.mode == "RGB"
    assert 8 <= sideways <= 30
    result = bench.peers(tmp_path / "photos", truth, 0)
    assert result["read_shape"] == [64, 51, 3] and "6 sizes" in result["notes"][0]
    assert 0.5 < result["LogisticRegression"] < 0.9 and 0.4 < result["LabelSpreading"] < 0.9, result


def test_the_tables_benchmark_scores_every_unlabeled_row_beside_the_peers(tmp_path, load_script):
    bench = load_script("benchmarks", "semi_tables")
    X, y = bench.load_table("circles")
    # two rings, 4 columns of noise beside them: a logistic regression cannot separate them
    assert X.shape == (1000, 6) and X.dtype == np.float32 and np.bincount(y).tolist() == [500, 500]
    # Seattle's weather with its date read as --dates reads it (five columns in its place), and without it
    X, y = bench.load_table("seattle")
    measures, _ = bench.load_table("seattle_measures")
    assert X.shape == (1461, 9) and measures.shape == (1461, 4) and np.array_equal(X[:, 5:], measures)
    assert X[0, 0] == 15340 and np.bincount(y).tolist() == [54, 411, 259, 23, 714]
    out = tmp_path / "tables.json"
    assert bench.main(["--every-row", "--tables", "iris", "--labels", "iris=9", "--seeds", "0", "--out",
                       str(out)]) == 0
    run = json.loads(out.read_text())["tables"]["iris"]
    r = run["seeds"]["0"]
    assert run["labels"] == 9 and r["scored_rows"] == 141 and run["mean"]["default"] == r["default"]
    assert r["default_route"]["labels_model"] in ("network", "linear")
    # on iris's own rows with 9 labels each method beats chance (1/3) by far, by each class's recall too
    assert min(r["default"], r["compared"], r["logreg"], r["spreading"]) > 0.6, r
    assert min(r[f"{k}_balanced"] for k in ("default", "compared", "logreg", "spreading")) > 0.6, r
    assert run["mean"]["default_balanced"] == r["default_balanced"]
    with pytest.raises(SystemExit):
        bench.main(["--tables", "moons", "--out", str(tmp_path / "no.json")])


def test_the_long_tail_benchmark_draws_classes_ten_times_apart_and_scores_every_class(load_script):
    bench = load_script("benchmarks", "imbalanced")
    y = np.repeat(np.arange(10), 1000)
    pick = bench.long_tail(y, 3000, 10.0, seed=0)
    sizes = np.bincount(y[pick], minlength=10)
    assert len(pick) == len(set(pick)) == 3000 and sorted(sizes)[-1] == 738 and sorted(sizes)[0] == 73
    # the rarest class is drawn by the seed, and each seed draws the same rows again
    assert np.argmin(sizes) != np.argmin(np.bincount(y[bench.long_tail(y, 3000, 10.0, seed=1)], minlength=10))
    assert np.array_equal(pick, bench.long_tail(y, 3000, 10.0, seed=0))
    # a method that answers the commonest class everywhere: high accuracy, balanced accuracy one class in ten
    truth = y[pick]
    common = np.full(len(truth), np.argmax(sizes))
    rare = np.argsort(sizes)[:3]
    s = bench.scores(truth, common, rare)
    assert s["accuracy"] == round(738 / 3000, 4) and s["balanced_accuracy"] == 0.1 and s["rare_recall"] == 0.0
    assert bench.scores(truth, truth, rare) == {"accuracy": 1.0, "balanced_accuracy": 1.0, "rare_recall": 1.0,
                                                "macro_f1": 1.0}
