import importlib.util
import os
import sys
from pathlib import Path


def _share_the_cores() -> None:
    """Under pytest-xdist (``-n N``), each worker process gets its share of the cores for PyTorch, numpy's BLAS,
    numba and the commands the tests start: N processes each running as many threads as there are cores would
    oversubscribe the machine, and OpenMP's waiting threads then slow everything down. Set before numpy or torch
    is imported, which read these variables once."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        share = str(max(1, cores // workers))
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ[name] = share


_share_the_cores()

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _real_data_root():
    """Where the real MNIST / Fashion-MNIST files are: $FEWLABEL_DATA, else ../shared/data beside the repo."""
    candidates = []
    if os.environ.get("FEWLABEL_DATA"):
        candidates.append(Path(os.environ["FEWLABEL_DATA"]))
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if (c / "mnist" / "train-images-idx3-ubyte.gz").exists() or (c / "mnist" / "train-images-idx3-ubyte").exists():
            return c
    return None


@pytest.fixture(scope="session")
def real_data_root():
    root = _real_data_root()
    if root is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have the real MNIST files: set FEWLABEL_DATA (see .ci/run)")
        pytest.skip("real MNIST/Fashion-MNIST files not found: set FEWLABEL_DATA")
    return root


@pytest.fixture(scope="session")
def mnist_small(real_data_root):
    """A real, fixed subset of MNIST: 3,000 training and 1,000 test images (uint8) with labels."""
    from fewlabel import datasets

    X, y = datasets.load("mnist", split="train", root=real_data_root / "mnist")
    Xt, yt = datasets.load("mnist", split="test", root=real_data_root / "mnist")
    rng = np.random.default_rng(0)
    i = rng.choice(len(X), 3000, replace=False)
    j = rng.choice(len(Xt), 1000, replace=False)
    return X[i], y[i], Xt[j], yt[j]


@pytest.fixture(scope="session")
def load_script():
    """Import one of the repository's scripts by its path: ``load_script("examples", "toy_8bit")``."""
    def load(folder: str, name: str):
        if str(REPO / folder) not in sys.path:  # as when run as a script: its folder's modules import
            sys.path.append(str(REPO / folder))
        spec = importlib.util.spec_from_file_location(f"{folder}_{name}", REPO / folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


#: The classifier's floor of optimizer steps in the tests: SemiSupervisedClassifier trains at least
#: ``min_steps`` (200) steps per network when no max_steps is given, so that few rows are not under-trained.
#: Tests of other behaviour train on a few hundred rows with a few epochs, where that floor made every fit 200+
#: steps (the suite took minutes longer); they run with this lower default (a classifier built with its own
#: ``min_steps`` keeps it). The real floor and the default route are tested under ``@pytest.mark.real_step_floor``
#: (test_semi_default, test_training_settings, the compare budget).
TEST_STEP_FLOOR = 40


@pytest.fixture(autouse=True)
def _test_step_floor(request, monkeypatch):
    if request.node.get_closest_marker("real_step_floor") is None:
        from fewlabel.tasks.classify import SemiSupervisedClassifier

        init = SemiSupervisedClassifier.__init__

        def lower_floor(self, *args, **kwargs):
            kwargs.setdefault("min_steps", TEST_STEP_FLOOR)
            init(self, *args, **kwargs)

        signature = init.__signature__
        lower_floor.__signature__ = signature.replace(parameters=[
            p.replace(default=TEST_STEP_FLOOR) if p.name == "min_steps" else p for p in signature.parameters.values()])
        monkeypatch.setattr(SemiSupervisedClassifier, "__init__", lower_floor)


#: The rows a step of the networks of the three modules that run the defaults as a user meets them (own data,
#: the semi-supervised defaults, the clustering defaults), unless ``pytest --full-defaults``: the same route and the
#: same networks, each trained by the defaults' rule for its length (epochs over all rows, or the floor of steps where
#: they make fewer), on batches of 64 rather than 256. On their few thousand rows that is fewer rows seen (the
#: classifier's networks: 10 epochs, 470 steps of 64 on 3,000 rows, against the floor's 200 steps of 256). Those
#: networks are most of the suite's time on two cores, and their checks hold at both sizes (the figures beside them
#: say where each was measured).
DEFAULTS_TEST_BATCH = 64


def pytest_addoption(parser):
    parser.addoption("--full-defaults", action="store_true",
                     help="the modules that run the defaults as a user meets them train on the defaults' own batch "
                          f"size (256), not on batches of {DEFAULTS_TEST_BATCH}: two to three times their time")


@pytest.fixture(scope="session")
def defaults_batch(request):
    """None under ``--full-defaults`` (the defaults' own batch size), else :data:`DEFAULTS_TEST_BATCH`."""
    return None if request.config.getoption("--full-defaults") else DEFAULTS_TEST_BATCH


def pytest_collection_modifyitems(config, items):
    """The modules marked ``slow`` (one fitted fixture of minutes) run first, in the order of their ``slow``
    mark's ``rank``: with parallel workers (``-n N --dist loadfile --no-loadscope-reorder``) the longest
    modules then start at once and the many short ones fill the other workers around them, instead of one
    long module starting last and running alone."""
    def rank(item):
        mark = item.get_closest_marker("slow")
        return mark.kwargs.get("rank", 0) if mark is not None else float("inf")

    items.sort(key=rank)  # stable: the tests of a module keep their order
