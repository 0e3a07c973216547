"""Dask is an optional extra: importing refpattern and fitting arrays import none of it, and a Dask
array without Dask's modules installed gets an ``ImportError`` that names the extra to install."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refpattern as rp
from refpattern.patterns.distributed import import_dask, is_dask_collection

ROOT = Path(__file__).resolve().parents[1]


def test_importing_refpattern_and_fitting_arrays_imports_no_dask():
    code = ("import sys, numpy as np, refpattern as rp, refpattern.cli; "
            "net = rp.Sequential([rp.Dense(np.eye(3), None)], input_shape=(3,)); "
            "rp.fit_patterns(net, np.random.default_rng(0).normal(size=(8, 3))); "
            "refpattern.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'zarr')))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"


class LooksLikeADaskArray:
    """An object of a ``dask.array`` class (the collection protocol), for a machine without Dask."""

    __module__ = "dask.array.core"
    shape = (4, 3)

    def __dask_graph__(self):
        return {}


def test_a_dask_array_without_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)  # importing it now fails, as on a machine without it
    monkeypatch.setitem(sys.modules, "dask.array", None)
    X = LooksLikeADaskArray()
    assert is_dask_collection(X) and not is_dask_collection(np.zeros(3))
    net = rp.Sequential([rp.Dense(np.eye(3), None)], input_shape=(3,))
    with pytest.raises(ImportError, match=r'install it with: pip install "refpattern\[dask\]"'):
        rp.fit_patterns(net, X)
    with pytest.raises(ImportError, match=r"distributed is not installed .*refpattern\[dask\]"):
        monkeypatch.setitem(sys.modules, "distributed", None)
        import_dask("distributed")
