"""umap-learn's numba compilations kept on disk (fewlabel.tasks.manifold.cache_umap_compilations): a second
process loads them instead of compiling again, and draws the same map."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("umap")

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher
    from sklearn.datasets import load_digits
    from fewlabel.tasks.manifold import UMAP_JIT_MODULES, UMAPReducer

    X = (load_digits().data[:400] / 16.0).astype(np.float32)
    reducer = UMAPReducer(n_components=2, random_state=0)
    E = reducer.fit_transform(X)
    T = reducer.transform(X[:20])
    compiled = [fn for name in UMAP_JIT_MODULES for fn in vars(sys.modules[name]).values()
                if isinstance(fn, Dispatcher) and fn.__module__ == name and fn.overloads
                and fn._can_compile]  # not those compiled for given signatures on import
    print(json.dumps({"compiled": len(compiled),
                      "uncached": [fn.__name__ for fn in compiled if isinstance(fn._cache, NullCache)],
                      "hits": sum(sum(fn.stats.cache_hits.values()) for fn in compiled),
                      "misses": sum(sum(fn.stats.cache_misses.values()) for fn in compiled),
                      "map": E.round(4).tolist(), "new": T.round(4).tolist()}))
""")


def run_child():
    # numba's own cache folder (beside umap-learn's source, shared with the rest of the suite): a fresh folder
    # would also recompile pynndescent's cached functions, half a minute more
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600, check=False,
                          env={k: v for k, v in os.environ.items() if k != "FEWLABEL_NUMBA_CACHE"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_umaps_compilations_and_draws_the_same_map():
    first = run_child()  # compiles and writes, unless an earlier process did
    assert first["compiled"] >= 3 and first["uncached"] == []
    second = run_child()
    assert second["misses"] == 0 and second["hits"] >= second["compiled"], second
    assert second["map"] == first["map"] and second["new"] == first["new"]


def test_fewlabel_numba_cache_0_leaves_umap_alone(monkeypatch):
    from fewlabel.tasks import manifold

    monkeypatch.setattr(manifold, "_umap_cached", False)
    monkeypatch.setenv("FEWLABEL_NUMBA_CACHE", "0")
    assert manifold.cache_umap_compilations() == 0
    assert manifold._umap_cached  # asked once per process


def test_pynndescents_functions_are_cached_but_not_those_given_a_function():
    """Above the exact-neighbour rows, UMAP searches with pynndescent, which compiles about half of its functions
    without numba's cache: they are switched to it. A function handed a numba function (the distance) is not: its
    compilation is keyed by that function's address, never found again, and each process would add a copy."""
    child = textwrap.dedent("""
        import json, sys
        from numba.core.caching import NullCache
        from fewlabel.tasks.manifold import PYNNDESCENT_JIT_MODULES, import_umap
        import_umap()
        nnd = sys.modules["pynndescent.pynndescent_"]
        print(json.dumps({"modules": all(name in sys.modules for name in PYNNDESCENT_JIT_MODULES),
                          "nn_descent": isinstance(nnd.nn_descent._cache, NullCache),
                          "init_rp_tree": isinstance(nnd.init_rp_tree._cache, NullCache),
                          "compute_degrees": isinstance(nnd.compute_degrees._cache, NullCache)}))
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300, check=False,
                          env={k: v for k, v in os.environ.items() if k != "FEWLABEL_NUMBA_CACHE"})
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"modules": True, "nn_descent": True, "init_rp_tree": True, "compute_degrees": False}
