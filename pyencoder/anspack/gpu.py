"""Lane layouts for GPU decoding (issue 10; the WebGPU decoder is jsdecoder/src/gpu.js).

The GPU decoder runs one invocation per lane. Entry ``i`` belongs to lane ``i mod L``, so a tensor is
``R = ceil(n / L)`` rows that must be decoded one after another: every row ends with a prefix sum of
the lanes' refill flags (which word each lane reads next depends on all lanes before it). More lanes
mean fewer sequential rows, but each lane costs its 4-byte final state plus about one partly-used word
of flush: measured ~3-4 bytes per lane (1M int8 Laplace entries, 3.46 bits/entry at L = 4:
+0.17 % at L = 256, +0.70 % at 1024, +2.8 % at 4096, +11 % at 16384, +46 % at 65536).

:func:`gpu_layout` picks the largest power-of-two ``L`` whose lane overhead stays within a size budget
(default 1 % of the compressed tensor), clamped to ``[min_lanes, max_lanes]`` and to ``n``.
Powers of two >= 256 tile the decoder's 256-invocation workgroups exactly.

    >>> gpu_layout(1_000_000, bits_per_entry=3.5)
    1024
    >>> gpu_layout(100)
    32
    >>> gpu_layout(22_000_000, bits_per_entry=4)
    16384

``anspack encode --target gpu`` (commands/encode.py) should call, per tensor,
``gpu_layout(a.size, bits_per_entry=entropy_bits(a))`` (or :func:`gpu_lanes` for a dict of tensors)
and pass the result as that tensor's ``lanes``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .model import array_entropy_bits

#: Measured bytes of file size per lane (final state + flush), rounded up.
BYTES_PER_LANE = 4.0
#: The decoder's workgroup size (invocations); lane counts that are multiples of it fill workgroups.
WORKGROUP = 256


entropy_bits = array_entropy_bits  # order-0 entropy of an array's values, bits per entry (model.py)


def gpu_layout(n: int, *, bits_per_entry: float = 4.0, max_overhead: float = 0.01, min_lanes: int = 32,
               max_lanes: int = 65536) -> int:
    """Recommended lane count ``L`` for GPU decoding of an ``n``-entry rANS tensor.

    Args:
        n: number of entries.
        bits_per_entry: expected compressed size per entry (e.g. :func:`entropy_bits`); default 4.
        max_overhead: allowed size overhead of the lanes, as a fraction of the compressed size.
        min_lanes, max_lanes: bounds on ``L`` (powers of two are kept; ``max_lanes`` 65536 gives
            256 workgroups per row, enough to fill a large GPU).

    Returns:
        ``L`` in ``[1, n]`` (1 for ``n <= 1``): a power of two unless clamped to ``n``.
    """
    n = int(n)
    if n <= 1:
        return 1
    if not (bits_per_entry >= 0 and max_overhead >= 0 and 1 <= min_lanes <= max_lanes):
        raise ValueError(f"bad gpu_layout arguments: bits_per_entry={bits_per_entry}, "
                         f"max_overhead={max_overhead}, min_lanes={min_lanes}, max_lanes={max_lanes}")
    budget = max_overhead * n * bits_per_entry / 8 / BYTES_PER_LANE
    lanes = 1 << max(0, int(np.floor(np.log2(budget)))) if budget >= 1 else 1
    lanes = min(max(lanes, min_lanes), max_lanes)
    return min(lanes, n)


def gpu_lanes(tensors: Mapping[str, np.ndarray], **options) -> dict[str, int]:
    """``gpu_layout`` for each integer tensor of a dict, with its own entropy as ``bits_per_entry``."""
    out = {}
    for name, a in tensors.items():
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            out[name] = gpu_layout(a.size, bits_per_entry=max(entropy_bits(a), 0.05), **options)
    return out
