"""FxHash26: the 26-bit checksum of a sequence of non-negative integers (spec/FORMAT.md section 11).

    >>> from anspack.checksum import fxhash26
    >>> fxhash26([])
    0
    >>> fxhash26([1]) == 0x03220A95 & 0x3FFFFFF
    True
    >>> fxhash26([1, 2, 3]) == fxhash26_reference([1, 2, 3])
    True
"""

from __future__ import annotations

import numpy as np
from numba import njit

MASK26 = 0x3FFFFFF
MULTIPLIER = 0x03220A95  # low 26 bits of rustc-hash's 64-bit FxHash constant


@njit(cache=True, nogil=True)
def fxhash26_step(h, a):
    """One step: rotate ``h`` left by 5 within 26 bits, xor ``a``, multiply, keep 26 bits."""
    h = ((h & 0x1FFFFF) << 5) | (h >> 21)
    return ((h ^ a) * 0x03220A95) & 0x3FFFFFF


@njit(cache=True, nogil=True)
def _fxhash26_array(a, h):
    for i in range(a.size):
        h = fxhash26_step(h, np.int64(a[i]))
    return h


def fxhash26_bytes(data, h: int = 0) -> int:
    """FxHash26 of a byte string taken as a sequence of u8 values, continuing from ``h``.

    Used for the header and block checksums (spec section 11); ``h`` chains several byte ranges.

        >>> fxhash26_bytes(b"ab") == fxhash26_reference(b"ab") == fxhash26_bytes(b"b", fxhash26_bytes(b"a"))
        True
    """
    a = np.frombuffer(data, dtype=np.uint8)
    if a.size == 0:
        return h
    return int(_fxhash26_array(a, np.int64(h)))


def fxhash26(ids) -> int:
    """FxHash26 of ``ids`` (any integer array-like of values in ``[0, 2^32)``), in flattened order."""
    a = np.ascontiguousarray(np.asarray(ids)).reshape(-1)
    if a.size == 0:
        return 0
    if a.dtype.kind not in "iu":
        raise TypeError(f"fxhash26 needs integers, got dtype {a.dtype}")
    if a.dtype.kind == "i" and a.min() < 0:
        raise ValueError("fxhash26 needs non-negative integers")
    if a.dtype.itemsize == 8 and a.max() >= 1 << 32:
        raise ValueError("fxhash26 needs integers below 2^32")
    return int(_fxhash26_array(a, np.int64(0)))


def fxhash26_reference(ids) -> int:
    """Pure-Python FxHash26, a line-for-line transcription of the spec (slow; for tests)."""
    h = 0
    for a in ids:
        h = ((h & 0x1FFFFF) << 5) | (h >> 21)
        h = ((h ^ int(a)) * MULTIPLIER) & MASK26
    return h
