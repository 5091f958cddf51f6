"""Reads what normrt wrote (tests/test_serialize.cpp, SafetensorsInterop.FilesNormrtWritesLoadInPython) with the
safetensors package and checks it independently of normrt: the model's eval-mode forward is recomputed in numpy
(float64) from the loaded weights and compared with normrt's output.

Usage: check_safetensors.py DIR   (DIR holds model.safetensors, input.npy, normrt_output.npy)
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def main(directory):
    path = directory + "/model.safetensors"
    w = load_file(path)
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
    assert metadata == {"written_by": "normrt"}, metadata
    assert w["1.num_batches_tracked"].dtype == np.int64 and w["1.num_batches_tracked"].shape == (), w
    x = np.load(directory + "/input.npy").astype(np.float64)
    h = x @ w["0.weight"].astype(np.float64).T
    mean, var = w["1.running_mean"].astype(np.float64), w["1.running_var"].astype(np.float64)
    h = (h - mean) / np.sqrt(var + 1e-5) * w["1.weight"] + w["1.bias"]
    h = np.maximum(h, 0.0)
    y = h @ w["3.weight"].astype(np.float64).T + w["3.bias"]
    ours = np.load(directory + "/normrt_output.npy")
    err = np.max(np.abs(y - ours)) / max(1e-12, np.max(np.abs(y)))
    assert err < 1e-5, f"normrt's output differs from numpy's recomputation by {err:.3g} (relative)"
    print(f"safetensors interop: {len(w)} tensors read, outputs agree to {err:.2g}")


if __name__ == "__main__":
    main(sys.argv[1])
