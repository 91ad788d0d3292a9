"""Row groups: which rows of a tensor share an entropy model (spec/FORMAT.md section 7.4, coding 2).

A weight matrix quantized with one step size per row has rows of different shapes: a row with an
outlier puts most of its entries near zero, a row without one spreads them over the whole range. One
model per tensor codes every row with the average shape. :func:`cluster_rows` splits the rows into a
few groups with k-means under the cross-entropy of each group's model, and :func:`choose_groups`
keeps the split when it is estimated to make the block smaller.

The rows are described by histograms over at most ~50 **bins** of values (:func:`value_bins`: the 16
most frequent values alone, rarer ones in bins of similar frequency). Within a bin, every grouping
codes the values alike (their split inside the bin is the tensor's, whatever the groups), so comparing
groupings on bins is comparing them on values, up to how each group's values spread inside a bin.

Everything is integer arithmetic (code lengths in units of 2^-16 bit from an integer logarithm table),
so the choice, and with it the file, is the same on every machine.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = np.concatenate([rng.integers(-1, 2, (40, 64)), rng.integers(-7, 8, (40, 64))]).astype(np.int8)
    >>> g = cluster_rows(a, 2)
    >>> bool((g[:40] == g[0]).all() and (g[40:] == g[40]).all() and g[0] != g[40])
    True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from .container import align8, groups_head_size
from .model import histogram

COST_BITS = 16  # code lengths in units of 2^-16 bit, of probabilities at 16 bits
MAX_GROUP_VOCAB = 256  # clustering: tensors of at most this many distinct values
ITERATIONS = 6  # k-means passes at most (most tensors settle in 4-8, gaining little after 4)
KMEANS_ROWS = 1024  # k-means passes on at most this many rows (evenly spaced), then one pass over all
SINGLE_BINS = 16  # the most frequent values get a bin each; the rest share bins of 2, 4, 8, ... values


@lru_cache(maxsize=1)
def cost_table() -> np.ndarray:
    """int64[2^16 + 1]: ``cost[f]`` = 2^16 * log2(2^16 / f) rounded down (``cost[0]`` unused), computed
    by integer squarings, bit by bit, so it is the same everywhere.

    >>> cost_table()[[1, 2, 3, 1 << 15, 1 << 16]].tolist()
    [1048576, 983040, 944704, 65536, 0]
    """
    f = np.arange(1, (1 << COST_BITS) + 1, dtype=np.int64)
    e = np.zeros_like(f)
    for k in range(1, COST_BITS + 1):  # e = floor(log2 f)
        e += f >= (1 << k)
    m = (f << 30) >> e  # f / 2^e in [1, 2) as Q30
    frac = np.zeros_like(f)
    for _ in range(COST_BITS):
        m = (m * m) >> 30  # < 2^62
        top = m >= (1 << 31)
        frac = (frac << 1) | top
        m = np.where(top, m >> 1, m)
    return np.concatenate([[0], (COST_BITS << COST_BITS) - (e << COST_BITS) - frac])


def value_bins(counts: np.ndarray) -> np.ndarray:
    """int64[V]: a bin for each value from the values' counts (zero counts allowed, their bins unused):
    the SINGLE_BINS most frequent values alone, then bins of 2, 4, 8, ... values of similar frequency,
    8 bins of each width (48 bins for 256 values)."""
    V = counts.size
    rank = np.empty(V, np.int64)
    rank[np.lexsort((np.arange(V), -counts.astype(np.int64)))] = np.arange(V)
    bins = rank.copy()
    present = int(np.count_nonzero(counts))
    start, width, b = SINGLE_BINS, 2, SINGLE_BINS
    while start < present:
        sel = (rank >= start) & (rank < start + 8 * width)
        bins[sel] = b + (rank[sel] - start) // width
        b, start, width = b + 8, start + 8 * width, width * 2
    bins[rank >= present] = 0  # values that never occur (ranked last): any bin will do
    return bins


@njit(cache=True, nogil=True)
def _row_hist(sym, lut, rows, cols, B):
    h = np.zeros((rows, B), np.int64)
    for r in range(rows):
        base = r * cols
        for j in range(cols):
            h[r, lut[sym[base + j]]] += 1
    return h


def row_histograms(array: np.ndarray, counts=None) -> tuple[np.ndarray, int] | None:
    """(int64[R, B]: each row's (``array.shape[0]`` rows) counts of the tensor's values in
    :func:`value_bins`, the number of distinct values); None with more than MAX_GROUP_VOCAB of them.
    ``counts``: the tensor's :func:`model.histogram` (1- and 2-byte dtypes), if the caller has it."""
    R = array.shape[0]
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype.itemsize <= 2:  # counts over the dtype's range (Numba), indexed by the unsigned bit pattern
        bits = 8 * flat.dtype.itemsize
        sym = flat.view(np.uint8 if bits == 8 else np.uint16)
        shift = (1 << (bits - 1)) if flat.dtype.kind == "i" else 0
        counts = (histogram(flat) if counts is None else counts)[(np.arange(1 << bits) - shift) & ((1 << bits) - 1)]
        if np.count_nonzero(counts) > MAX_GROUP_VOCAB:
            return None  # before any work per entry: wide int16 tensors stop here
    else:
        values, sym, counts = np.unique(flat, return_inverse=True, return_counts=True)
        if values.size > MAX_GROUP_VOCAB:
            return None
        sym = sym.astype(np.uint16).reshape(-1)
    lut = value_bins(counts)
    return _row_hist(sym, lut, R, flat.size // R, int(lut.max()) + 1), int(np.count_nonzero(counts))


@njit(cache=True, nogil=True)
def _lengths(hist, groups, G, table):
    """Code lengths (2^-16 bit) of each bin under each group's 16-bit model of its rows' counts (a bin
    it has not seen: 16 bits)."""
    B = hist.shape[1]
    counts = np.zeros((G, B), np.int64)
    for r in range(hist.shape[0]):
        for b in range(B):
            counts[groups[r], b] += hist[r, b]
    out = np.empty((G, B), np.int64)
    for g in range(G):
        n = max(counts[g].sum(), 1)
        for b in range(B):
            out[g, b] = table[min(max((counts[g, b] << 16) // n, 1), 1 << 16)]
    return out


@njit(cache=True, nogil=True)
def _row_costs(hist, lengths, groups):
    """Each row's code length under its group's lengths."""
    out = np.zeros(hist.shape[0], np.int64)
    for r in range(hist.shape[0]):
        c = 0
        for b in range(hist.shape[1]):
            c += hist[r, b] * lengths[groups[r], b]
        out[r] = c
    return out


@njit(cache=True, nogil=True)
def _assign(hist, lengths, groups):
    """Each row to the group of the shortest code (the first on ties); returns how many rows moved."""
    moved = 0
    G, B = lengths.shape
    for r in range(hist.shape[0]):
        best, best_g = -1, 0
        for g in range(G):
            c = 0
            for b in range(B):
                c += hist[r, b] * lengths[g, b]
            if best < 0 or c < best:
                best, best_g = c, g
        if groups[r] != best_g:
            moved += 1
            groups[r] = best_g
    return moved


@njit(cache=True, nogil=True)
def _kmeans(hist, groups, G, table, iterations, step):
    sample = hist[::step].copy()
    sgroups = groups[::step].copy()
    for _ in range(iterations):
        if _assign(sample, _lengths(sample, sgroups, G, table), sgroups) == 0:
            break
    if step > 1:
        _assign(hist, _lengths(sample, sgroups, G, table), groups)
        return groups
    return sgroups


def ranked_split(hist: np.ndarray, G: int) -> np.ndarray:
    """Rows ranked by their code length under the tensor's model (ties by row), cut into G equal runs:
    k-means' starting point."""
    R = hist.shape[0]
    zeros = np.zeros(R, np.int64)
    base = _row_costs(hist, _lengths(hist, zeros, 1, cost_table()), zeros)
    groups = np.empty(R, np.int64)
    for g, idx in enumerate(np.array_split(np.lexsort((np.arange(R), base)), G)):
        groups[idx] = g
    return groups


def kmeans_rows(hist: np.ndarray, G: int, iterations: int | None = None) -> np.ndarray:
    """Row groups (int64[R], numbered 0 … G'-1, G' ≤ G: groups left empty are dropped) from per-row
    histograms (int64[R, B]): start from :func:`ranked_split`, then move each row to the group whose
    model codes it shortest (ties to the lower group) until nothing moves or ITERATIONS passes. The
    passes run on at most KMEANS_ROWS evenly spaced rows; a last pass assigns every row."""
    R = hist.shape[0]
    groups = _kmeans(hist, ranked_split(hist, G), G, cost_table(), ITERATIONS if iterations is None else iterations,
                     -(-R // KMEANS_ROWS))
    used = np.flatnonzero(np.bincount(groups, minlength=G))
    return np.searchsorted(used, groups) if used.size < G else groups


def cluster_rows(array: np.ndarray, G: int) -> np.ndarray:
    """Row groups for at most ``G`` groups of ``array``'s rows (``array.shape[0]``); see :func:`kmeans_rows`."""
    binned = row_histograms(array)
    if binned is None:
        raise ValueError(f"row groups by clustering need at most {MAX_GROUP_VOCAB} distinct values")
    return kmeans_rows(binned[0], min(G, array.shape[0]))


def grouped_cost(hist: np.ndarray, groups: np.ndarray, G: int, vocab: int) -> int:
    """Estimated size (2^-16 bit) of the rows coded in these groups: the bins under each group's 16-bit
    model, plus per group a block header, 8 lane states and a model of ``vocab`` values (3 bytes each),
    plus the group header and row map when G > 1."""
    lengths = _lengths(hist, groups, G, cost_table())
    per_group = (24 + 32 + 3 * vocab + 2) * 8 * G
    head = 0 if G == 1 else map_bytes(G, hist.shape[0]) * 8
    return int(_row_costs(hist, lengths, groups).sum()) + ((per_group + head) << COST_BITS)


def map_bytes(G: int, R: int) -> int:
    """The group header and row map of G groups over R rows, padded (spec section 7.4)."""
    return align8(groups_head_size(G, R))


def choose_groups(hist: np.ndarray, vocab: int, candidates, tolerance: float) -> np.ndarray | None:
    """The row groups, among k-means into each of ``candidates`` groups (in increasing order, stopping
    at the first that does not improve), of the smallest estimated block, if it is at least
    ``tolerance`` smaller than one model for all rows; else None. ``hist``
    and ``vocab`` as :func:`row_histograms` returns them."""
    R = hist.shape[0]
    prev = grouped_cost(hist, np.zeros(R, np.int64), 1, vocab)
    best, best_cost = None, prev * (1 - tolerance)
    for G in candidates:
        if G > R:
            break
        groups = kmeans_rows(hist, G)
        cost = grouped_cost(hist, groups, int(groups.max()) + 1, vocab)
        if cost >= prev:
            break  # more groups seldom help where fewer did not (and each try costs a k-means)
        prev = cost
        if cost < best_cost:
            best, best_cost = groups, cost
    return best
