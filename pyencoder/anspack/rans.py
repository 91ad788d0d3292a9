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

How the loops are made fast (same bytes as the spec's loop; tests/test_rans_fast.py holds both to a
line-by-line transcription of the spec):
- No division: ``x // f`` is ``(x * rcp[s]) >> (32+P)`` with ``rcp = ceil(2^(32+P) / f)``, exact for
  every state the encoder divides (proof at :func:`encoder_table`), and ``C(s, x) = x + c + q (M - f)``.
- No unpredictable branch: whether a word goes out (or in) depends on the data, so the low word is
  always stored and the cursor moves by the comparison's 0/1; the shift is a select.
- For L = 1, 2, 4, 8 the lanes live in registers, rows of L walked backwards; any other L walks rows
  over a state array. Unsigned indices keep Numba's negative-index code out of the loops.
- :func:`encode_interleaved_checksum` hashes the ids (FxHash26, spec section 11) in the same loop: the
  hash is a serial chain of multiplies that runs beside the lanes instead of in a pass of its own.

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


STATE_LOW = 1 << 16  # lower bound of I, and every lane's initial encoder state

# Status codes returned by decode_interleaved (mapped to CorruptStream errors by the container).
OK = 0
UNDERRUN = 1  # a lane needed a word after the last one (``where`` = entry index)
LEFTOVER = 2  # words remain after the last entry (``where`` = number of words read)
BAD_FINAL_STATE = 3  # a lane did not end at 2^16 (``where`` = lane index)


_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U16 = np.uint64(16)


@njit(cache=True, nogil=True)
def encoder_table(freqs, cdf, precision):
    """The encoder's per-symbol constants, four uint64 per symbol ``s`` at ``4s … 4s+3``:
    ``x_max = 2^(32-P) f``, ``rcp = ceil(2^(32+P) / f)``, ``start = c[s]``, ``M - f``.

    ``rcp`` replaces the division in ``C``: for every state the encoder divides (``x < x_max``, so
    ``x < f 2^(32-P)``), ``q = (x * rcp) >> (32+P)`` equals ``x // f`` and the product fits 64 bits.
    Proof: with ``rcp f = 2^(32+P) + e``, ``0 <= e < f <= 2^P``, ``x rcp / 2^(32+P) = x/f + x e /
    (f 2^(32+P))`` and ``x e < f^2 2^(32-P) <= 2^(32+P)``, so the error term is below ``1/f`` and cannot
    carry ``x/f = q + r/f`` (``r <= f-1``) past ``q + 1``; and ``x rcp < x 2^(32+P)/f + 2^(32+P)/f <=
    2^64``. Then ``C(s, x) = q M + (x - q f) + c = x + c + q (M - f)``.
    """
    V = freqs.size
    t = np.empty(4 * V, dtype=np.uint64)
    sh = np.uint64(32 - precision)
    big = np.uint64(1) << np.uint64(32 + precision)
    M = np.uint64(1) << np.uint64(precision)
    for s in range(V):
        f = np.uint64(freqs[s])
        t[4 * s] = f << sh
        t[4 * s + 1] = (big + f - _U1) // f
        t[4 * s + 2] = np.uint64(cdf[s])
        t[4 * s + 3] = M - f
    return t


@njit(cache=True, nogil=True, inline="always")
def _put(x, s, t, buf, pos, sh):
    """One encoder step ``x = C(s, x)`` with its renormalization, branch-free: the low word of ``x``
    is always stored below ``pos`` and ``pos`` moves down only when it is emitted (``x >= x_max``).
    ``pos >= 1`` whenever this runs, since at most one word was emitted per symbol already coded."""
    k = np.uint64(s) << _U2
    e = np.uint64(x >= t[k])
    buf[pos - _U1] = np.uint16(x & np.uint64(0xFFFF))
    x = x >> (e << np.uint64(4))  # a shift, not a branch: whether a word goes out is unpredictable
    pos = pos - e
    q = (x * t[k + _U1]) >> sh
    return x + t[k + _U2] + q * t[k + _U3], pos


@njit(cache=True, nogil=True, inline="always")
def _put_sel(x, s, t, buf, pos, sh):
    """:func:`_put` with the renormalization as a select, which LLVM turns into a ``cmov`` in the
    register loops (one cycle shorter per step than the shift: it matters for L = 1)."""
    k = np.uint64(s) << _U2
    e = x >= t[k]
    buf[pos - _U1] = np.uint16(x & np.uint64(0xFFFF))
    if e:
        x = x >> _U16
    pos = pos - np.uint64(e)
    q = (x * t[k + _U1]) >> sh
    return x + t[k + _U2] + q * t[k + _U3], pos


@njit(cache=True, nogil=True, inline="always")
def _mix(h, a):
    """One FxHash26 step (spec section 11) on an unmasked 64-bit ``h`` whose low 26 bits are the hash:
    the product's low 26 bits depend only on its operands' low 26 bits, so the masks can wait until
    the end (``& 0x3FFFFFF``), which shortens the serial chain to shift, and, xor, multiply."""
    return (((h << np.uint64(5)) ^ np.uint64(a)) ^ ((h >> np.uint64(21)) & np.uint64(31))) * np.uint64(0x03220A95)


@njit(cache=True, nogil=True, inline="always")
def _tail(ids, lanes, st, t, buf, pos, sh):
    """Code the last ``n mod L`` symbols (the partial top row, lanes ``0 … n mod L - 1``), backwards."""
    n = ids.size
    base = n - n % lanes
    for ii in range(n - 1, base - 1, -1):
        i = np.uint64(ii)
        j = np.uint64(ii - base)
        x, pos = _put(st[j], ids[i], t, buf, pos, sh)
        st[j] = x
    return pos


@njit(cache=True, nogil=True, inline="always")
def _hash_tail(ids, lanes, h):
    """Hash the ids of the partial top row, after the full rows."""
    n = ids.size
    for i in range(n - n % lanes, n):
        h = _mix(h, ids[i])
    return h


# The kernels code ``ids`` backwards into ``buf`` (from its end) with the states ``st`` and return
# (pos, h): the words are ``buf[pos:]``; with ``hashing`` the ids are hashed forwards in the same loop
# (``h``, before the final mask), an independent chain that the out-of-order core runs alongside.


@njit(cache=True, nogil=True)
def _enc_1(ids, t, sh, buf, st, hashing):
    pos = np.uint64(buf.size)
    h = np.uint64(0)
    n = ids.size
    x0 = st[0]
    last = np.uint64(n - 1)
    for ii in range(n - 1, -1, -1):
        i = np.uint64(ii)  # unsigned indices: no negative-index wraparound code in the loop
        x0, pos = _put_sel(x0, ids[i], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[last - i])
    st[0] = x0
    return pos, h


@njit(cache=True, nogil=True)
def _enc_2(ids, t, sh, buf, st, hashing):
    pos = _tail(ids, 2, st, t, buf, np.uint64(buf.size), sh)
    h = np.uint64(0)
    R = ids.size // 2
    x0 = st[0]
    x1 = st[1]
    for r in range(R - 1, -1, -1):
        b = np.uint64(r) << _U1
        f = np.uint64(R - 1 - r) << _U1
        x1, pos = _put_sel(x1, ids[b + _U1], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f])
        x0, pos = _put_sel(x0, ids[b], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + _U1])
    st[0] = x0
    st[1] = x1
    if hashing:
        h = _hash_tail(ids, 2, h)
    return pos, h


@njit(cache=True, nogil=True)
def _enc_4(ids, t, sh, buf, st, hashing):
    pos = _tail(ids, 4, st, t, buf, np.uint64(buf.size), sh)
    h = np.uint64(0)
    R = ids.size // 4
    x0 = st[0]
    x1 = st[1]
    x2 = st[2]
    x3 = st[3]
    for r in range(R - 1, -1, -1):
        b = np.uint64(r) << _U2
        f = np.uint64(R - 1 - r) << _U2
        x3, pos = _put_sel(x3, ids[b + _U3], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f])
        x2, pos = _put_sel(x2, ids[b + _U2], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + _U1])
        x1, pos = _put_sel(x1, ids[b + _U1], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + _U2])
        x0, pos = _put_sel(x0, ids[b], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + _U3])
    st[0] = x0
    st[1] = x1
    st[2] = x2
    st[3] = x3
    if hashing:
        h = _hash_tail(ids, 4, h)
    return pos, h


@njit(cache=True, nogil=True)
def _enc_8(ids, t, sh, buf, st, hashing):
    pos = _tail(ids, 8, st, t, buf, np.uint64(buf.size), sh)
    h = np.uint64(0)
    R = ids.size // 8
    x0 = st[0]
    x1 = st[1]
    x2 = st[2]
    x3 = st[3]
    x4 = st[4]
    x5 = st[5]
    x6 = st[6]
    x7 = st[7]
    for r in range(R - 1, -1, -1):
        b = np.uint64(r) << _U3
        f = np.uint64(R - 1 - r) << _U3
        x7, pos = _put_sel(x7, ids[b + np.uint64(7)], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f])
        x6, pos = _put_sel(x6, ids[b + np.uint64(6)], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + _U1])
        x5, pos = _put_sel(x5, ids[b + np.uint64(5)], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + _U2])
        x4, pos = _put_sel(x4, ids[b + np.uint64(4)], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + _U3])
        x3, pos = _put_sel(x3, ids[b + _U3], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + np.uint64(4)])
        x2, pos = _put_sel(x2, ids[b + _U2], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + np.uint64(5)])
        x1, pos = _put_sel(x1, ids[b + _U1], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + np.uint64(6)])
        x0, pos = _put_sel(x0, ids[b], t, buf, pos, sh)
        if hashing:
            h = _mix(h, ids[f + np.uint64(7)])
    st[0] = x0
    st[1] = x1
    st[2] = x2
    st[3] = x3
    st[4] = x4
    st[5] = x5
    st[6] = x6
    st[7] = x7
    if hashing:
        h = _hash_tail(ids, 8, h)
    return pos, h


@njit(cache=True, nogil=True)
def _enc_rows(ids, t, sh, buf, st, hashing):
    """Any L: full rows of L symbols walked backwards, lanes L-1 … 0 within a row."""
    L = st.size
    pos = _tail(ids, L, st, t, buf, np.uint64(buf.size), sh)
    h = np.uint64(0)
    R = ids.size // L
    UL = np.uint64(L)
    for r in range(R - 1, -1, -1):
        b = np.uint64(r) * UL
        f = np.uint64(R - r) * UL - _U1
        for jj in range(L - 1, -1, -1):
            j = np.uint64(jj)
            x, pos = _put(st[j], ids[b + j], t, buf, pos, sh)
            st[j] = x
            if hashing:
                h = _mix(h, ids[f - j])
    if hashing:
        h = _hash_tail(ids, L, h)
    return pos, h


@njit(cache=True, nogil=True, inline="always")
def _setup(ids, freqs, cdf, precision, lanes):
    st = np.full(lanes, STATE_LOW, dtype=np.uint64)
    return encoder_table(freqs, cdf, precision), np.uint64(32 + precision), np.empty(ids.size, dtype=np.uint16), st


@njit(cache=True, nogil=True, inline="always")
def _result(st, buf, pos, h):
    # The words are the tail of ``buf``, returned as a view, not copied: ``buf`` is written from its
    # end, so the pages below ``pos`` were never touched and take no memory.
    return st.astype(np.uint32), buf[pos:], np.int64(h & np.uint64(0x3FFFFFF))


# One entry point per (kernel, hashing): the constant flag lets Numba drop the unused chain from the
# loop (a runtime flag costs about a third of the speed), and Python picks the entry point, so only
# the loops a program uses get compiled.


@njit(cache=True, nogil=True)
def _code_1(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_1(ids, t, sh, buf, st, False)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_1h(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_1(ids, t, sh, buf, st, True)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_2(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_2(ids, t, sh, buf, st, False)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_2h(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_2(ids, t, sh, buf, st, True)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_4(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_4(ids, t, sh, buf, st, False)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_4h(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_4(ids, t, sh, buf, st, True)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_8(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_8(ids, t, sh, buf, st, False)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_8h(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_8(ids, t, sh, buf, st, True)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_rows(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_rows(ids, t, sh, buf, st, False)
    return _result(st, buf, pos, h)


@njit(cache=True, nogil=True)
def _code_rowsh(ids, freqs, cdf, precision, lanes):
    t, sh, buf, st = _setup(ids, freqs, cdf, precision, lanes)
    pos, h = _enc_rows(ids, t, sh, buf, st, True)
    return _result(st, buf, pos, h)


_CODERS = {(1, False): _code_1, (1, True): _code_1h, (2, False): _code_2, (2, True): _code_2h,
           (4, False): _code_4, (4, True): _code_4h, (8, False): _code_8, (8, True): _code_8h}


def _encode(ids, freqs, cdf, precision, lanes, hashing):
    """(states, words, checksum) of ``ids``; the checksum is 0 unless ``hashing``."""
    ids = np.asarray(ids)
    lanes = int(lanes)
    if ids.size == 0:
        return np.full(lanes, STATE_LOW, dtype=np.uint32), np.empty(0, dtype=np.uint16), 0
    if lanes < 1:
        raise ValueError(f"lanes must be at least 1 for {ids.size} symbols, got {lanes}")
    code = _CODERS.get((lanes, hashing)) or (_code_rowsh if hashing else _code_rows)
    return code(ids.reshape(-1), np.asarray(freqs), np.asarray(cdf), int(precision), lanes)


def encode_interleaved(ids, freqs, cdf, precision, lanes):
    """Encode symbol ids with ``lanes`` interleaved rANS states.

    Args:
        ids: integer array[n] of symbol ids, each < len(freqs).
        freqs, cdf: the model (``cdf[s] = sum(freqs[:s])``, ``sum(freqs) = 2^precision``).
        precision: P in [1, 16].
        lanes: L in [1, n] (n > 0), or 0 when n = 0. A larger L is allowed (a short last chunk,
            spec section 7.2): lanes without a symbol keep the state 2^16.

    Returns:
        (states uint32[L], words uint16[W]): the decoder's initial states and the word stream.

    The loops for L = 1, 2, 4, 8 keep the states in registers; every L gives exactly the bytes of the
    spec's loop (``tests/test_rans_fast.py`` checks them against a transcription of it). The work runs
    in Numba without the GIL.
    """
    states, words, _ = _encode(ids, freqs, cdf, precision, lanes, False)
    return states, words


def encode_interleaved_checksum(ids, freqs, cdf, precision, lanes):
    """:func:`encode_interleaved` and the FxHash26 of ``ids`` (spec section 11) from the same loop.

    Returns:
        (states uint32[L], words uint16[W], checksum int): the checksum is what ``fxhash26(ids)``
        gives -- the table checksum of an unchunked tensor, or ``chunk_checksums[k]`` of a chunk.
        The hash chain runs beside the coder's lanes, which hides most of its cost.
    """
    states, words, h = _encode(ids, freqs, cdf, precision, lanes, True)
    return states, words, int(h)


@njit(cache=True, nogil=True)
def slot_table(cdf, precision):
    """The symbol owning each of the 2^P slots (``cdf`` must be valid)."""
    sym = np.empty(1 << precision, dtype=np.uint16)
    for s in range(cdf.size - 1):
        for slot in range(cdf[s], cdf[s + 1]):
            sym[slot] = s
    return sym


@njit(cache=True, nogil=True)
def decoder_table(cdf, precision):
    """Per slot of ``[0, 2^P)``: the symbol owning it, and ``f | (slot - c) << 16`` (P <= 15, so both
    fit 16 bits), so that ``D`` takes two loads indexed by the slot and no search."""
    M = 1 << precision
    fb = np.empty(M, dtype=np.uint32)
    sym = np.empty(M, dtype=np.uint16)
    for s in range(cdf.size - 1):
        c = np.int64(cdf[s])
        f = np.int64(cdf[s + 1]) - c
        for slot in range(c, c + f):
            sym[slot] = s
            fb[slot] = np.uint32(f | ((slot - c) << 16))
    return sym, fb


@njit(cache=True, nogil=True, inline="always")
def _get(x, sym, fb, mask, P, wp, k):
    """One decoder step ``s, x = D(x)`` and its refill, branch-free: ``wp[k]`` is read whether or not
    it is needed (``wp`` holds one spare zero word) and taken by a select; returns (x, s, need)."""
    slot = x & mask
    s = sym[slot]
    e = np.uint64(fb[slot])
    x = (e & np.uint64(0xFFFF)) * (x >> P) + (e >> np.uint64(16))
    need = np.uint64(x < np.uint64(STATE_LOW))
    y = (x << _U16) | np.uint64(wp[k])
    if need:
        x = y
    return x, s, need


@njit(cache=True, nogil=True)
def decode_interleaved(states_in, words, cdf, precision, n):
    """Decode ``n`` symbol ids and their FxHash26 (fused into the loop).

    ``cdf`` and ``states_in`` must already be validated (spec section 13, rule 7; P <= 15).

    Returns:
        (ids uint16[n], checksum, status, where) with status one of OK, UNDERRUN, LEFTOVER,
        BAD_FINAL_STATE and ``where`` locating the problem (see the status constants).
    """
    L = states_in.size
    ids = np.empty(n, dtype=np.uint16)
    if n == 0:
        return ids, 0, OK, 0
    sym, fb = decoder_table(cdf, precision)
    W = words.size
    wp = np.zeros(W + 1, dtype=np.uint16)
    wp[:W] = words
    st = states_in.astype(np.uint64)
    mask = np.uint64((1 << precision) - 1)
    P = np.uint64(precision)
    UW = np.uint64(W)
    k = np.uint64(0)
    h = np.uint64(0)
    i = 0
    R = n // L
    for r in range(R + 1):
        for jj in range(L if r < R else n - R * L):  # full rows, then the partial last row
            j = np.uint64(jj)
            x, s, need = _get(st[j], sym, fb, mask, P, wp, k)
            if k + need > UW:  # (predictable: only at a corrupt stream's end)
                return ids, np.int64(h & np.uint64(0x3FFFFFF)), UNDERRUN, i
            k += need
            st[j] = x
            ids[np.uint64(i)] = s
            h = _mix(h, s)
            i += 1
    checksum = np.int64(h & np.uint64(0x3FFFFFF))
    if k != UW:
        return ids, checksum, LEFTOVER, np.int64(k)
    for lane in range(L):
        if st[lane] != STATE_LOW:
            return ids, checksum, BAD_FINAL_STATE, lane
    return ids, checksum, OK, 0
