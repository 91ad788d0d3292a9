"""Entropy model: a tensor's vocabulary, counts, and P-bit frequencies (spec/FORMAT.md section 9).

The vocabulary is the tensor's distinct values ordered by count descending, ties by value ascending.
Counts become integer frequencies summing to ``2^P`` by :func:`quantize_counts`::

    >>> import numpy as np
    >>> m = build_model(np.array([[0, 1, 0], [-1, 0, 0]], dtype=np.int8), precision=4)
    >>> m.values.tolist(), m.counts.tolist(), m.freqs.tolist(), m.cdf.tolist()
    ([0, -1, 1], [4, 1, 1], [10, 3, 3], [0, 10, 13, 16])
    >>> m.ids.tolist()
    [0, 2, 0, 1, 0, 0]
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from .checksum import fxhash26

MAX_PRECISION = 15
MIN_PRECISION = 1


class EntropyModel:
    """The entropy model of one tensor.

    Attributes:
        values: int64[V], the vocabulary in symbol-id order.
        counts: int64[V], how often each symbol occurs.
        freqs: int64[V], P-bit frequencies (each >= 1, summing to 2^P).
        cdf: uint16[V+1], cumulative frequencies (empty for an empty tensor).
        ids: uint16/uint32[n], the flattened tensor as symbol ids.
        precision: P.
        checksum: FxHash26 of ``ids`` (spec section 11), computed on first use (once, thread-safe):
            hashing is a serial chain of multiplies, as slow as the whole rANS loop, and a caller that
            gets the checksum elsewhere (``anspack.rans.encode_interleaved_checksum`` hashes the ids
            inside the coding loop, per chunk) or never needs it should not pay for it.

    The attributes are read-only.
    """

    __slots__ = ("values", "counts", "freqs", "cdf", "ids", "precision", "_checksum", "_lock")

    def __init__(self, values, counts, freqs, cdf, ids, precision, checksum=None):
        _set = object.__setattr__
        _set(self, "values", values)
        _set(self, "counts", counts)
        _set(self, "freqs", freqs)
        _set(self, "cdf", cdf)
        _set(self, "ids", ids)
        _set(self, "precision", precision)
        _set(self, "_checksum", checksum)
        _set(self, "_lock", threading.Lock())

    def __setattr__(self, name, value):
        raise AttributeError(f"EntropyModel is read-only ({name})")

    @property
    def checksum(self) -> int:
        h = self._checksum
        if h is None:
            with self._lock:
                if self._checksum is None:
                    object.__setattr__(self, "_checksum", fxhash26(self.ids))
                h = self._checksum
        return h

    def __repr__(self) -> str:
        return f"EntropyModel(V={self.values.size}, n={self.ids.size}, precision={self.precision})"


class VocabularyTooLarge(ValueError):
    """A tensor has more distinct values than the 2^P slots of its model."""


def quantize_counts(counts, n: int, precision: int) -> np.ndarray:
    """P-bit frequencies from counts given in vocabulary order (spec section 9, steps 2 and 3).

    ``f = max(1, round_half_even(c * 2^P / n))`` in exact integer arithmetic, then the sum is fixed by
    passes over the vocabulary in order: subtracting 1 from frequencies above 1 while the sum is too
    large, adding 1 while it is too small.

        >>> quantize_counts([6, 1, 1], 8, 3).tolist()   # 6, 1, 1 -> exact
        [6, 1, 1]
        >>> quantize_counts([5, 2, 1], 8, 2).tolist()   # round -> [2, 1, 0] -> at least 1 -> [2, 1, 1]
        [2, 1, 1]
        >>> quantize_counts([1, 1, 1], 3, 2).tolist()   # 4/3 each -> [1, 1, 1] -> deficit 1 -> [2, 1, 1]
        [2, 1, 1]
    """
    c = np.asarray(counts, dtype=np.int64)
    V = c.size
    total = 1 << precision
    if V == 0:
        return np.zeros(0, dtype=np.int64)
    if V > total:
        raise VocabularyTooLarge(f"{V} distinct values do not fit precision P={precision} (at most {total})")
    if n <= 0 or c.min() < 1 or int(c.sum()) != n:
        raise ValueError("counts must be positive and sum to n")
    # c * 2^P fits int64 for n < 2^48; fall back to Python ints beyond that.
    if n < (1 << 48):
        return _quantize(c, n, precision)
    f = np.array([_round_half_even(int(x) << precision, n) for x in c], dtype=np.int64)  # pragma: no cover
    f = np.maximum(f, 1)  # pragma: no cover - tensors of 2^48 entries
    _fix_sum(f, total)  # pragma: no cover
    return f  # pragma: no cover


def _round_half_even(num: int, den: int) -> int:
    q, r = divmod(num, den)
    return q + (1 if 2 * r > den or (2 * r == den and q % 2 == 1) else 0)


@njit(cache=True, nogil=True)
def _quantize(c, n, precision):
    """Steps 2 and 3 for n < 2^48 (c * 2^P < 2^63): ``max(1, round_half_even(c * 2^P / n))``, then
    _fix_sum. Numba: the encoder quantizes a few hundred small count vectors per model (candidates
    for pairs, row groups, sub-blocks); in numpy, with the bisection's passes, that was ~10 % of
    encoding all-MiniLM-L6-v2 on one thread."""
    f = np.empty(c.size, dtype=np.int64)
    for i in range(c.size):
        num = np.int64(c[i]) << precision
        q = num // n
        r = num - q * n
        if 2 * r > n or (2 * r == n and q % 2 == 1):
            q += 1
        f[i] = max(q, 1)
    _fix_sum(f, np.int64(1) << precision)
    return f


@njit(cache=True, nogil=True)
def _fix_sum(f, total):
    """Section 9 step 3 on ``f`` (int64, in place), the passes counted instead of replayed: ``k`` full
    passes of the ``d > 0`` loop take ``min(k, f[s] - 1)`` from each ``f[s]``, so the largest ``k``
    whose total is at most ``d`` is found by bisection and the rest is one partial pass; the ``d < 0``
    loop adds ``k = -d // V`` to each and 1 more to the first ``-d % V``. Same result as the passes, in
    O(V log 2^P) instead of up to ~V * d steps (V^2 = 2^15 PRODUCT pairs of one dominant entry value:
    ~10^9 steps)."""
    V = f.size
    d = np.int64(0)
    for i in range(V):
        d += f[i]
    d -= total
    if d > 0:
        lo = np.int64(0)
        hi = np.int64(0)
        for i in range(V):
            hi = max(hi, f[i] - 1)
        while lo < hi:  # the largest k with sum(min(f - 1, k)) <= d
            mid = (lo + hi + 1) // 2
            t = np.int64(0)
            for i in range(V):
                t += min(f[i] - 1, mid)
            if t <= d:
                lo = mid
            else:
                hi = mid - 1
        for i in range(V):
            take = min(f[i] - 1, lo)
            f[i] -= take
            d -= take
        # d is now fewer than the entries still above 1 (else lo + 1 would fit): one partial pass
        for i in range(V):
            if d == 0:
                break
            if f[i] > 1:
                f[i] -= 1
                d -= 1
    elif d < 0:
        k = (-d) // V
        rest = (-d) % V
        for i in range(V):
            f[i] += k + (1 if i < rest else 0)


@njit(cache=True, nogil=True)
def _count_small(flat, offset, size):
    """Histogram of ``flat + offset`` over ``[0, size)``. Four interleaved sub-histograms for small
    ranges, so that runs of one value do not wait on their own increments; unsigned indices, so that
    Numba adds no negative-index wraparound."""
    off = np.int64(offset)
    n = flat.size
    c0 = np.zeros(size, dtype=np.int64)
    if size <= 1024:
        c1 = np.zeros(size, dtype=np.int64)
        c2 = np.zeros(size, dtype=np.int64)
        c3 = np.zeros(size, dtype=np.int64)
        n4 = n - n % 4
        for i in range(0, n4, 4):
            c0[np.uint64(np.int64(flat[i]) + off)] += 1
            c1[np.uint64(np.int64(flat[i + 1]) + off)] += 1
            c2[np.uint64(np.int64(flat[i + 2]) + off)] += 1
            c3[np.uint64(np.int64(flat[i + 3]) + off)] += 1
        for i in range(n4, n):
            c0[np.uint64(np.int64(flat[i]) + off)] += 1
        for v in range(size):
            c0[v] += c1[v] + c2[v] + c3[v]
    else:
        for i in range(n):
            c0[np.uint64(np.int64(flat[i]) + off)] += 1
    return c0


@njit(cache=True, nogil=True)
def _map_small(flat, offset, lut, out):
    """Values -> symbol ids through ``lut``."""
    off = np.int64(offset)
    for i in range(flat.size):
        out[i] = lut[np.uint64(np.int64(flat[i]) + off)]


@njit(cache=True, nogil=True)
def ids_to_values(values, ids, out):
    """``out[i] = values[ids[i]]``: symbol ids back to values, without the GIL (np.take holds it: the
    Python decoder's chunk threads then waited on it for a third of MiniLM int4's decode)."""
    for i in range(ids.size):
        out[i] = values[ids[i]]


@njit(cache=True, nogil=True)
def _present(counts_all):
    """The indices of the nonzero counts, ascending (np.flatnonzero, 5x faster on a 2^16-bin histogram)."""
    out = np.empty(counts_all.size, dtype=np.int64)
    V = 0
    for v in range(counts_all.size):
        out[V] = v
        V += counts_all[v] != 0
    return out[:V].copy()


def histogram(array) -> np.ndarray:
    """Counts of every value of a 1- or 2-byte integer tensor over its dtype's whole range:
    ``counts[v - iinfo.min]`` (256 or 65536 entries; Numba, several times faster than np.bincount).

        >>> histogram(np.array([-128, 127, 127], dtype=np.int8))[[0, 255]].tolist()
        [1, 2]
    """
    a = np.asarray(array)
    if a.dtype.kind not in "iu" or a.dtype.itemsize > 2:
        raise TypeError(f"histogram needs an integer tensor of at most 16 bits, got {a.dtype}")
    info = np.iinfo(a.dtype)
    return _count_small(np.ascontiguousarray(a).reshape(-1), -int(info.min), int(info.max) - int(info.min) + 1)


@njit(cache=True, nogil=True)
def _entry_counts(hist2, flip):
    """The entries' histogram of a 1-byte tensor from the histogram of its u16 pairs (each pair value p
    holds the entries p & 255 and p >> 8, as bytes; ``flip`` = 0x80 for int8, whose histogram index is
    the byte ^ 0x80)."""
    out = np.zeros(256, dtype=np.int64)
    for p in range(hist2.size):
        c = hist2[p]
        if c:
            out[(p & 255) ^ flip] += c
            out[(p >> 8) ^ flip] += c
    return out


def pair_histograms(array) -> tuple[np.ndarray, np.ndarray]:
    """``(histogram(array), histogram(array.view("<u2")))`` of a 1-byte tensor with an even number of
    entries, from one pass over the pairs (the entries' counts are summed from the pairs' 2^16 bins).

        >>> h1, h2 = pair_histograms(np.array([-1, 2, 2, 2], dtype=np.int8))
        >>> int(h1[127]), int(h1[130]), int(h2[0x0202]), int(h2[0x02FF])
        (1, 3, 1, 1)
    """
    a = np.ascontiguousarray(array).reshape(-1)
    if a.dtype.kind not in "iu" or a.dtype.itemsize != 1 or a.size % 2:
        raise TypeError(f"pair_histograms needs a 1-byte integer tensor of even size, got {a.dtype} {a.size}")
    hist2 = histogram(a.view("<u2"))
    return _entry_counts(hist2, 0x80 if a.dtype.kind == "i" else 0), hist2


def build_model(array: np.ndarray, precision: int = 12, *, counts=None) -> EntropyModel:
    """Vocabulary, counts, frequencies, CDF and symbol ids of an integer tensor (spec section 9).

    ``counts``: optionally the tensor's :func:`histogram` (1- and 2-byte dtypes), already computed by
    the caller, so that the tensor is not counted twice.
    """
    if not MIN_PRECISION <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be in [{MIN_PRECISION}, {MAX_PRECISION}], got {precision}")
    a = np.asarray(array)
    if a.dtype.kind not in "iu" or a.dtype.itemsize > 4:
        raise TypeError(f"build_model needs an integer tensor of at most 32 bits, got {a.dtype}")
    flat = np.ascontiguousarray(a).reshape(-1)
    n = flat.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return EntropyModel(empty, empty, empty, np.zeros(0, np.uint16), np.zeros(0, np.uint16), precision, 0)
    small_range = a.dtype.itemsize <= 2
    if small_range:  # a direct histogram over the dtype's whole range
        info = np.iinfo(a.dtype)
        offset = -int(info.min)
        size = int(info.max) - int(info.min) + 1
    elif counts is None:  # 4-byte values: a histogram too when they span fewer than 2^16 integers
        lo, hi = int(flat.min()), int(flat.max())
        small_range = hi - lo < 1 << 16
        offset, size = -lo, hi - lo + 1
    if small_range:
        if counts is None:
            counts_all = _count_small(flat, offset, size)
        else:
            counts_all = np.asarray(counts, dtype=np.int64)
            if counts_all.shape != (size,) or int(counts_all.sum()) != n:
                raise ValueError(f"counts must be the tensor's histogram: {size} entries summing to {n}")
        present = _present(counts_all)
        uniq = present.astype(np.int64) - offset
        counts = counts_all[present]
        inverse = None
    else:
        if counts is not None:
            raise TypeError("counts= is for 1- and 2-byte dtypes")
        uniq, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        uniq = uniq.astype(np.int64)
        counts = counts.astype(np.int64)
    # Count descending, ties by value ascending: uniq is ascending, so a stable sort on -count works.
    order = np.argsort(-counts, kind="stable")
    values = uniq[order]
    counts = counts[order]
    V = values.size
    if V > (1 << precision):
        raise VocabularyTooLarge(
            f"{V} distinct values do not fit precision P={precision} (at most {1 << precision}); "
            f"use a higher precision (up to {MAX_PRECISION}) or store the tensor raw"
        )
    freqs = quantize_counts(counts, n, precision)
    cdf = np.zeros(V + 1, dtype=np.int64)
    np.cumsum(freqs, out=cdf[1:])
    id_dtype = np.uint16 if V <= (1 << 16) else np.uint32
    rank = np.empty(V, dtype=np.int64)
    rank[order] = np.arange(V)
    if inverse is None:
        lut = np.zeros(counts_all.size, dtype=id_dtype)
        lut[present] = rank.astype(id_dtype)
        ids = np.empty(n, dtype=id_dtype)
        _map_small(flat, offset, lut, ids)
    else:
        ids = rank.astype(id_dtype)[inverse.reshape(-1)]
    return EntropyModel(values, counts, freqs, cdf.astype(np.uint16), ids, precision)


nonzero_bins = _present  # public name, for the encoder's size estimates


def product_freqs(entry_freqs, precision: int) -> np.ndarray:
    """The pair frequencies of ``PRODUCT`` pairs (spec section 7.3): section 9 steps 2 and 3 applied to
    the counts ``g[a] * g[b]`` of pair id ``a*V + b``, with ``n = 2^(2P)``.

        >>> product_freqs([3, 1], 2).tolist()   # 9/4, 3/4, 3/4, 1/4 -> 2, 1, 1, 1: sum 5, 1 off pair 0
        [1, 1, 1, 1]
        >>> product_freqs([12, 3, 1], 4).tolist()  # 9, 2, 1, 2, 1, 1, 1, 1, 1: sum 19, fix-up takes 3
        [8, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    g = np.asarray(entry_freqs, dtype=np.int64)
    V = g.size
    if V * V > 1 << precision:
        raise ValueError(f"PRODUCT pairs of {V} distinct entries need V^2 = {V * V} <= 2^P, but P={precision}")
    return quantize_counts(np.outer(g, g).reshape(-1), 1 << (2 * precision), precision)


def product_values(entry_values: np.ndarray) -> np.ndarray:
    """The u16 pair value of each pair id ``a*V + b`` (spec sections 7.1, 7.3): low byte ``values[a]``,
    high byte ``values[b]``.

        >>> product_values(np.array([0, -1], dtype=np.int8)).tolist()
        [0, 65280, 255, 65535]
    """
    b = np.asarray(entry_values).astype(np.uint8).astype(np.uint16)
    return (b[:, None] | (b[None, :] << np.uint16(8))).reshape(-1)


def derive_product(entry_values: np.ndarray, entry_cdf: np.ndarray, precision: int) -> tuple[np.ndarray, np.ndarray]:
    """The coder's model of a ``PRODUCT`` pairs block (spec section 7.3) from its stored entries' model:
    ``(product_values(values), the CDF of product_freqs(diff(cdf), P))`` in one Numba pass (a decoder
    derives it for every such block: numpy took ~70 us a block). The caller has checked the stored CDF
    (strictly increasing from 0 to 2^P) and V^2 <= 2^P.

        >>> v, c = derive_product(np.array([0, -1], np.int8), np.array([0, 3, 4], np.uint16), 2)
        >>> v.tolist(), c.tolist()   # product_freqs([3, 1], 2) == [1, 1, 1, 1]
        ([0, 65280, 255, 65535], [0, 1, 2, 3, 4])
    """
    return _derive_product(np.ascontiguousarray(entry_values).view(np.uint8), np.asarray(entry_cdf), precision)


@njit(cache=True, nogil=True)
def _derive_product(vals, cdf, precision):
    V = vals.size
    c = np.empty(V * V, np.int64)
    pv = np.empty(V * V, np.uint16)
    for a in range(V):
        ga = np.int64(cdf[a + 1]) - np.int64(cdf[a])
        for b in range(V):
            c[a * V + b] = ga * (np.int64(cdf[b + 1]) - np.int64(cdf[b]))
            pv[a * V + b] = np.uint16(vals[a]) | (np.uint16(vals[b]) << np.uint16(8))
    f = _quantize(c, np.int64(1) << (2 * precision), precision)
    out = np.empty(V * V + 1, np.uint16)
    out[0] = 0
    acc = np.int64(0)
    for i in range(V * V):
        acc += f[i]
        out[i + 1] = np.uint16(acc)
    return pv, out


def product_vocabulary(hist1: np.ndarray, signed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Section 9's vocabulary of a 1-byte tensor from its :func:`histogram`: (values, their counts,
    ``pair_lut``), where ``pair_lut[u]`` is the pair id ``a*V + b`` (spec section 7.3) of the u16 pair
    value ``u`` (low byte entry ``2t``, high byte entry ``2t + 1``); 0 for pairs of absent values."""
    present = _present(hist1)  # ascending values: a stable sort on -count breaks ties by value
    counts = hist1[present]
    order = np.argsort(-counts, kind="stable")
    offset = 128 if signed else 0  # hist1 is indexed by value - min
    V = present.size
    values = present[order] - offset
    pair_lut = np.zeros(1 << 16, dtype=np.uint16)
    if V * V <= 1 << 16:  # (V^2 <= 2^15 wherever the ids are used)
        pair_lut[product_values(values)] = np.arange(V * V, dtype=np.uint16)
    return values, counts[order].astype(np.int64), pair_lut


def product_model(array: np.ndarray, precision: int, *, counts=None,
                  pair_counts=None) -> tuple[EntropyModel, EntropyModel]:
    """The models of a 1-byte tensor coded as ``PRODUCT`` pairs (spec section 7.3): ``(entries, pairs)``.
    ``entries`` is what the block stores (section 9 over the entries; its ``ids`` are not computed:
    empty); ``pairs`` is what the coder uses: pair ids ``a*V + b``, their u16 pair values and the pair
    frequencies derived from the entries' (what a decoder derives). ``counts`` / ``pair_counts``: the
    :func:`histogram` of the entries / of the u16 pair values, if the caller has them.

        >>> e, m = product_model(np.array([0, 0, 0, 5, 5, 0], dtype=np.int8), precision=3)
        >>> e.values.tolist(), e.freqs.tolist(), m.ids.tolist(), m.freqs.tolist(), m.values.tolist()
        ([0, 5], [5, 3], [0, 1, 2], [3, 2, 2, 1], [0, 1280, 5, 1285])
    """
    a = np.ascontiguousarray(array).reshape(-1)
    if a.dtype.itemsize != 1 or a.size % 2:
        raise ValueError(f"PRODUCT pairs need a 1-byte dtype and an even number of entries ({a.dtype}, {a.size})")
    n = a.size
    pairs = a.view("<u2")
    if counts is None and pair_counts is None:
        hist1, hist2 = pair_histograms(a)
    else:
        hist1 = histogram(a) if counts is None else np.asarray(counts, dtype=np.int64)
        hist2 = histogram(pairs) if pair_counts is None else np.asarray(pair_counts, dtype=np.int64)
    values, c, pair_lut = product_vocabulary(hist1, a.dtype.kind == "i")
    V = values.size
    g = quantize_counts(c, n, precision)
    freqs = product_freqs(g, precision)  # checks V^2 <= 2^P
    ids = np.empty(n // 2, dtype=np.uint16)
    _map_small(pairs, 0, pair_lut, ids)
    seen = _present(hist2)
    pc = np.zeros(V * V, dtype=np.int64)
    pc[pair_lut[seen]] = hist2[seen]  # distinct pair values have distinct ids
    entries = EntropyModel(values, c, g, np.concatenate([[0], np.cumsum(g)]).astype(np.uint16),
                           np.zeros(0, dtype=np.uint16), precision)
    cdf = np.concatenate([[0], np.cumsum(freqs)]).astype(np.uint16)
    return entries, EntropyModel(product_values(values).astype(np.int64), pc, freqs, cdf, ids, precision)


def entropy_bits(counts) -> float:
    """Empirical order-0 entropy in bits per entry of a count vector."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    n = c.sum()
    if n == 0:
        return 0.0
    return float(np.log2(n) - (c @ np.log2(c)) / n)


def array_entropy_bits(array) -> float:
    """Empirical order-0 entropy in bits per entry of an array's values (0 for an empty array).

        >>> array_entropy_bits([1, 1, 2, 3])
        1.5
    """
    a = np.asarray(array).reshape(-1)
    if a.size == 0:
        return 0.0
    return entropy_bits(np.unique(a, return_counts=True)[1])


def cross_entropy_bits(counts, freqs, precision: int) -> float:
    """Bits per entry that ideal coding with the P-bit ``freqs`` costs for ``counts``."""
    c = np.asarray(counts, dtype=np.float64)
    f = np.asarray(freqs, dtype=np.float64)
    n = c.sum()
    if n == 0:
        return 0.0
    return float(precision - (c @ np.log2(f)) / n)
