"""Interleaved rANS with 32-bit states, 16-bit words and P-bit probabilities (spec/FORMAT.md section 10).

READ ME FIRST
- Notation as in Duda's paper and ryg_rans: ``x`` is a state, ``f[s]`` and ``c[s]`` the frequency and
  cumulative start of symbol ``s``, ``M = 2^P``. Every state lives in ``I = [2^16, 2^32)``.
- ``x = C(s, x) = (x // f[s]) * M + x % f[s] + c[s]`` encodes, ``s, x = D(x)`` decodes:
  ``slot = x % M``, ``s`` is the symbol owning ``slot``, ``x = f[s] * (x >> P) + slot - c[s]``.
- Entry ``i`` belongs to lane ``i mod L``. rANS is a stack, so the encoder walks the entries backwards
  (``i = n-1 … 0``) and the decoder forwards. Before ``C`` the encoder emits the low word of ``x`` and
  shifts it out when ``x >= x_max(s) = 2^(32-P) * f[s]`` (this keeps ``C(s, x)`` inside ``I``); the
  decoder, after ``D``, reads a word back when ``x < 2^16``. Emissions and reads happen at the same
  entries in opposite orders, so the encoder fills its word buffer from the end and the file stores
  the buffer's tail: words in the order the decoder reads them.
- At most one word per entry: after one shift ``x < 2^16 < x_max``; after ``D``, ``x >= f * (x >> P)
  >= 2`` so one refill brings it back into ``I``. Hence ``W <= n``.
- The encoder starts every lane at ``2^16``; a decoder that reaches the end checks that every lane is
  back at ``2^16`` and every word was read. This detects most corrupt streams before the checksum does.

    >>> import numpy as np
    >>> from anspack.model import build_model
    >>> m = build_model(np.array([3, 3, 3, 7, 3, 3, 1, 3], dtype=np.int8), precision=12)
    >>> states, words = encode_interleaved(m.ids, m.freqs, m.cdf, 12, 2)
    >>> ids, checksum, status, where = decode_interleaved(states, words, m.cdf, 12, m.ids.size)
    >>> status == OK and bool((ids == m.ids).all())
    True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .checksum import fxhash26_step

STATE_LOW = 1 << 16  # lower bound of I, and every lane's initial encoder state

# Status codes returned by decode_interleaved (mapped to CorruptStream errors by the container).
OK = 0
UNDERRUN = 1  # a lane needed a word after the last one (``where`` = entry index)
LEFTOVER = 2  # words remain after the last entry (``where`` = number of words read)
BAD_FINAL_STATE = 3  # a lane did not end at 2^16 (``where`` = lane index)


@njit(cache=True, nogil=True)
def encode_interleaved(ids, freqs, cdf, precision, lanes):
    """Encode symbol ids with ``lanes`` interleaved rANS states.

    Args:
        ids: integer array[n] of symbol ids, each < len(freqs).
        freqs, cdf: the model (``cdf[s] = sum(freqs[:s])``, ``sum(freqs) = 2^precision``).
        precision: P in [1, 16].
        lanes: L in [1, n] (n > 0), or 0 when n = 0.

    Returns:
        (states uint32[L], words uint16[W]): the decoder's initial states and the word stream.
    """
    n = ids.size
    states = np.full(lanes, STATE_LOW, dtype=np.uint64)
    buf = np.empty(n, dtype=np.uint16)
    pos = n
    if n == 0:
        return states.astype(np.uint32), buf
    shift = np.uint64(32 - precision)
    f64 = freqs.astype(np.uint64)
    c64 = cdf.astype(np.uint64)
    P = np.uint64(precision)
    j = (n - 1) % lanes
    for i in range(n - 1, -1, -1):
        s = ids[i]
        f = f64[s]
        x = states[j]
        if x >= (f << shift):
            pos -= 1
            buf[pos] = np.uint16(x & np.uint64(0xFFFF))
            x >>= np.uint64(16)
        q = x // f
        x = (q << P) + (x - q * f) + c64[s]
        states[j] = x
        if j == 0:
            j = lanes - 1
        else:
            j -= 1
    return states.astype(np.uint32), buf[pos:].copy()


@njit(cache=True, nogil=True)
def slot_table(cdf, precision):
    """The symbol owning each of the 2^P slots (``cdf`` must be valid)."""
    sym = np.empty(1 << precision, dtype=np.uint16)
    for s in range(cdf.size - 1):
        for slot in range(cdf[s], cdf[s + 1]):
            sym[slot] = s
    return sym


@njit(cache=True, nogil=True)
def decode_interleaved(states_in, words, cdf, precision, n):
    """Decode ``n`` symbol ids and their FxHash26 (fused into the loop).

    ``cdf`` and ``states_in`` must already be validated (spec section 13, rule 7).

    Returns:
        (ids uint16[n], checksum, status, where) with status one of OK, UNDERRUN, LEFTOVER,
        BAD_FINAL_STATE and ``where`` locating the problem (see the status constants).
    """
    L = states_in.size
    ids = np.empty(n, dtype=np.uint16)
    if n == 0:
        return ids, 0, OK, 0
    sym = slot_table(cdf, precision)
    c64 = cdf.astype(np.int64)
    states = states_in.astype(np.int64)
    mask = (1 << precision) - 1
    W = words.size
    k = 0
    h = np.int64(0)
    j = 0
    for i in range(n):
        x = states[j]
        slot = x & mask
        s = sym[slot]
        c = c64[s]
        x = (c64[s + 1] - c) * (x >> precision) + slot - c
        if x < STATE_LOW:
            if k >= W:
                return ids, h, UNDERRUN, i
            x = (x << 16) | words[k]
            k += 1
        states[j] = x
        ids[i] = s
        h = fxhash26_step(h, np.int64(s))
        j += 1
        if j == L:
            j = 0
    if k != W:
        return ids, h, LEFTOVER, k
    for lane in range(L):
        if states[lane] != STATE_LOW:
            return ids, h, BAD_FINAL_STATE, lane
    return ids, h, OK, 0
