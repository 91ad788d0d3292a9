"""The seed notebook's WebGL layout (spec/FORMAT.md, Appendix A): one 12-bit rANS coder per entry.

READ ME FIRST
- The seed notebook (003) encodes ``M`` matrices of ``N = rows * cols`` entries with ``N`` independent
  coders: coder ``c`` codes entry ``N-1-c`` of every matrix, matrices pushed ``M-1 … 0``. This module
  indexes coders by the entry they code (``e = N-1-c``), so "coder e" below is the notebook's coder
  ``N-1-e``.
- Each coder is the notebook's ``AnsCoder(precision=12, word_size=16, compressed=[1, 1])``: a 32-bit
  head that starts at ``0x00010001`` (the words ``[1, 1]`` popped into an empty head). Push of a symbol
  with frequency ``f`` and start ``c``: if ``x >> 20 >= f``, emit the low word and ``x >>= 16``; then
  ``x = (x // f) << 12 | (x % f + c)``. Pop is the inverse; a coder whose head falls below ``2^16``
  takes one word back.
- Layout (all ``u16``, little-endian): the ``N`` final heads in entry order, high word first; the ``M``
  section sizes (``u32`` in 16-bit units) as lo/hi pairs; then per matrix ``i`` the section
  ``[data_offset = V+2, cdf[0 … V], data…]``. Section ``i``'s data are the words emitted while pushing
  matrix ``i-1``, reversed, i.e. in entry order: the decoder reads them at the start of matrix ``i``,
  one per coder whose head is below ``2^16``, coders in row-major order. Section 0 has no data.
- Frequencies: anspack's rule (:func:`anspack.model.quantize_counts`, spec section 9), which equals the
  notebook's ``max(round(c * 4096 / N), 1)`` minus 1 for the ``excess`` most frequent symbols wherever
  the notebook's rule is defined. Vocabulary: count descending, ties by value ascending (the notebook's
  tie order came from numpy's unstable ``argsort`` and is not reproducible).
- The layout stores no values and no checksums: :func:`decode` returns symbol ids and the FxHash26 of
  each matrix's ids (spec section 11), as the notebook's debugging cell printed them.

    >>> import numpy as np
    >>> m = np.array([[[0, 1], [0, -1]], [[2, 2], [2, 0]]], dtype=np.int8)
    >>> data = encode(m)
    >>> ids, checksums = decode(data, matrices=2, rows=2, cols=2)
    >>> ids.tolist()
    [[[0, 2], [0, 1]], [[0, 0], [0, 1]]]
    >>> [s.values.tolist() for s in models(m)]
    [[0, -1, 1], [2, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .checksum import fxhash26_step
from .errors import BadLayout, BadModel, CorruptStream, LimitExceeded, SizeMismatch, Truncated
from .model import cross_entropy_bits, entropy_bits, quantize_counts

PRECISION = 12  # probability precision of the seed layout
TOTAL = 1 << PRECISION  # 4096
WORD_BITS = 16
INITIAL_HEAD = 0x00010001  # AnsCoder(12, 16, [1, 1]): the head after popping the words [1, 1]
HEAD_LOW = 1 << WORD_BITS  # a head below this takes one word back (decoder)
MAX_VOCAB = TOTAL  # every frequency is at least 1
DEFAULT_MAX_ENTRIES = 1 << 32  # decode refuses matrices * rows * cols above this unless raised

# Status codes of the decode kernel.
_OK = 0
_UNDERRUN = 1  # (matrix, entry): a coder needed a word after the section's last one
_LEFTOVER = 2  # (matrix, words read): the section has words no coder read
_BAD_FINAL = 3  # (entry, head): a coder did not end at INITIAL_HEAD


@dataclass(frozen=True)
class SeedModel:
    """The 12-bit entropy model of one matrix.

    Attributes:
        values: int64[V], the vocabulary in symbol-id order (count descending, value ascending).
        counts: int64[V], occurrences of each value.
        freqs: int64[V], 12-bit frequencies (each >= 1, summing to 4096).
        cdf: uint16[V+1], cumulative frequencies as stored in the layout.
    """

    values: np.ndarray
    counts: np.ndarray
    freqs: np.ndarray
    cdf: np.ndarray

    @property
    def entropy(self) -> float:
        """Empirical entropy of the matrix, bits per entry."""
        return entropy_bits(self.counts)

    @property
    def cross_entropy(self) -> float:
        """Bits per entry that ideal coding with the 12-bit model costs."""
        return cross_entropy_bits(self.counts, self.freqs, PRECISION)


@dataclass(frozen=True)
class SeedLayout:
    """The parsed structure of a seed-layout buffer (all positions in 16-bit words from the start).

    Attributes:
        heads: uint32[N], each coder's head in entry order.
        sizes: int64[M], the section sizes from the size table.
        section_starts: int64[M], where each section (its data_offset word) starts.
        vocab_sizes: int64[M], V of each matrix.
        cdfs: list of M uint16[V+1] arrays.
        data_starts, data_sizes: int64[M], where each section's data words start and how many.
    """

    heads: np.ndarray
    sizes: np.ndarray
    section_starts: np.ndarray
    vocab_sizes: np.ndarray
    cdfs: list
    data_starts: np.ndarray
    data_sizes: np.ndarray

    @property
    def stream_words(self) -> int:
        """Coder heads plus data words: the notebook's ``len(compressed_stream)``."""
        return int(2 * self.heads.size + self.data_sizes.sum())

    @property
    def file_words(self) -> int:
        """All 16-bit words of the buffer."""
        return int(2 * self.heads.size + 2 * self.sizes.size + self.sizes.sum())


# --------------------------------------------------------------------------------------------------
# Entropy models


@njit(cache=True)
def _histograms8(flat, offset):
    """Per-matrix counts of 8-bit values: ``flat`` is (M, N), result (M, 256) at ``value + offset``."""
    M, N = flat.shape
    out = np.zeros((M, 256), dtype=np.int64)
    for i in range(M):
        for e in range(N):
            out[i, np.int64(flat[i, e]) + offset] += 1
    return out


@njit(cache=True)
def _map8(flat, offset, luts, out):
    """``out[i, e] = luts[i, flat[i, e] + offset]``."""
    M, N = flat.shape
    for i in range(M):
        for e in range(N):
            out[i, e] = luts[i, np.int64(flat[i, e]) + offset]


def _check_matrices(matrices) -> np.ndarray:
    a = np.asarray(matrices)
    if a.ndim != 3:
        raise ValueError(f"matrices must have shape (M, rows, cols), got shape {a.shape}")
    if a.dtype.kind not in "iu" or a.dtype.itemsize > 4:
        raise TypeError(f"matrices must be integers of at most 32 bits (int8 in the notebook), got {a.dtype}")
    if 0 in a.shape:
        raise ValueError(f"matrices must have at least one matrix and one entry, got shape {a.shape}")
    return a


def _model_from(uniq: np.ndarray, counts: np.ndarray, n: int) -> tuple[SeedModel, np.ndarray]:
    """Model from ascending distinct values and their counts; also returns rank[j] = id of uniq[j]."""
    order = np.argsort(-counts, kind="stable")  # count descending, ties by value ascending
    V = order.size
    if V > MAX_VOCAB:
        raise ValueError(f"a matrix has {V} distinct values; the 12-bit seed layout holds at most {MAX_VOCAB}")
    c = counts[order].astype(np.int64)
    freqs = quantize_counts(c, n, PRECISION)
    cdf = np.zeros(V + 1, dtype=np.uint16)
    np.cumsum(freqs, out=cdf[1:])
    rank = np.empty(V, dtype=np.int64)
    rank[order] = np.arange(V)
    return SeedModel(uniq[order].astype(np.int64), c, freqs, cdf), rank


def models_and_ids(matrices) -> tuple[list[SeedModel], np.ndarray]:
    """Each matrix's :class:`SeedModel`, and the symbol ids as a (M, N) array (uint8 or uint16)."""
    a = _check_matrices(matrices)
    M = a.shape[0]
    N = a.shape[1] * a.shape[2]
    flat = np.ascontiguousarray(a).reshape(M, N)
    out: list[SeedModel] = []
    if a.dtype.itemsize == 1:
        offset = 128 if a.dtype.kind == "i" else 0
        hist = _histograms8(flat, offset)
        luts = np.zeros((M, 256), dtype=np.uint16)
        for i in range(M):
            present = np.flatnonzero(hist[i])
            model, rank = _model_from(present.astype(np.int64) - offset, hist[i, present], N)
            luts[i, present] = rank
            out.append(model)
        id_dtype = np.uint8 if max(m.values.size for m in out) <= 256 else np.uint16
        ids = np.empty((M, N), dtype=id_dtype)
        _map8(flat, offset, luts.astype(id_dtype), ids)
        return out, ids
    ids = np.empty((M, N), dtype=np.uint16)
    for i in range(M):
        uniq, inverse, counts = np.unique(flat[i], return_inverse=True, return_counts=True)
        model, rank = _model_from(uniq, counts, N)
        ids[i] = rank[inverse.reshape(-1)]
        out.append(model)
    if max(m.values.size for m in out) <= 256:
        ids = ids.astype(np.uint8)
    return out, ids


def models(matrices) -> list[SeedModel]:
    """Each matrix's 12-bit :class:`SeedModel` (vocabulary, counts, frequencies, CDF)."""
    return models_and_ids(matrices)[0]


# --------------------------------------------------------------------------------------------------
# Encoder


@njit(cache=True)
def _push_matrix(heads, ids, freqs, cdf, scratch):
    """Push one matrix's ids into the coders, entries N-1 … 0 (the notebook's coder order 0 … N-1).

    ``heads[e]`` (uint32) is the head of the coder of entry ``e``; ``freqs`` and ``cdf`` are uint32
    (32-bit division is the hot spot). Emitted words go to ``scratch`` in emission order (entry
    descending); returns their number.
    """
    N = ids.size
    k = 0
    for e in range(N - 1, -1, -1):
        s = ids[e]
        f = freqs[s]
        x = heads[e]
        if x >= (f << np.uint32(20)):  # notebook: (head >> (32 - 12)) >= m[symbol]
            scratch[k] = x & np.uint32(0xFFFF)
            k += 1
            x >>= np.uint32(16)
        q = x // f
        heads[e] = (q << np.uint32(12)) | (x - q * f + cdf[s])
    return k


def encode_ids(ids, cdfs, *, progress: bool = False) -> bytes:
    """Write the seed layout for given symbol ids and CDFs (any vocabulary order).

    Args:
        ids: integer array of shape (M, N) (or (M, rows, cols)) of symbol ids; matrix ``i``'s ids must
            be below ``len(cdfs[i]) - 1``.
        cdfs: M cumulative-frequency arrays, each starting at 0, strictly increasing, ending at 4096.
        progress: show a tqdm progress bar over the matrices.

    :func:`encode` calls this with anspack's vocabulary; tests call it with other orders (the
    notebook's own tie order, for instance).
    """
    ids = np.asarray(ids)
    if ids.ndim < 2 or ids.dtype.kind not in "iu":
        raise ValueError("ids must be an integer array of shape (M, N) or (M, rows, cols)")
    M = ids.shape[0]
    ids = np.ascontiguousarray(ids).reshape(M, -1)
    N = ids.shape[1]
    if M == 0 or N == 0:
        raise ValueError("need at least one matrix and one entry")
    if len(cdfs) != M:
        raise ValueError(f"need {M} CDFs, got {len(cdfs)}")
    freq_list, cdf_list = [], []
    for i, cdf in enumerate(cdfs):
        c = np.asarray(cdf, dtype=np.int64)
        if c.ndim != 1 or c.size < 2 or c[0] != 0 or c[-1] != TOTAL or np.any(np.diff(c) < 1):
            raise ValueError(f"cdf of matrix {i} must start at 0, increase strictly and end at {TOTAL}")
        if c.size - 1 > MAX_VOCAB:
            raise ValueError(f"cdf of matrix {i} has more than {MAX_VOCAB} symbols")
        if int(ids[i].max()) >= c.size - 1 or int(ids[i].min()) < 0:
            raise ValueError(f"ids of matrix {i} must be in [0, {c.size - 1})")
        freq_list.append(np.diff(c).astype(np.uint32))
        cdf_list.append(c)
    cdf32 = [c.astype(np.uint32) for c in cdf_list]
    return _run_coders(M, N, lambda i: (ids[i], freq_list[i], cdf32[i]), cdf_list, progress)


def _run_coders(M: int, N: int, matrix, cdf_list: list, progress: bool) -> bytes:
    """The encoding loop and the layout. ``matrix(i)`` returns (symbols, freqs, cdf) for matrix ``i``
    (uint32 tables indexed by the symbols) and, when ``cdf_list[i]`` is None, fills it in; it is
    called for i = M-1 … 0."""
    if N > 0xFFFFFFFF - MAX_VOCAB - 2:
        raise ValueError("too many entries per matrix for u32 section sizes")
    heads = np.full(N, INITIAL_HEAD, dtype=np.uint32)
    scratch = np.empty(N, dtype=np.uint16)
    data: list[np.ndarray] = [np.zeros(0, dtype=np.uint16)] * M  # section i's data words
    order = range(M - 1, -1, -1)
    if progress:
        from tqdm import tqdm

        order = tqdm(order, total=M, desc="encoding", unit="matrix")
    for i in order:
        symbols, freqs, cdf = matrix(i)
        k = _push_matrix(heads, symbols, freqs, cdf, scratch)
        if i == M - 1:
            # The first push of a coder never emits (0x10001 < f << 20), so nothing is lost here.
            assert k == 0
        else:
            data[i + 1] = scratch[:k][::-1].copy()  # entry (decoder) order
    sizes = np.array([c.size + 1 + d.size for c, d in zip(cdf_list, data)], dtype=np.int64)
    total = 2 * N + 2 * M + int(sizes.sum())
    out = np.empty(total, dtype="<u2")
    out[0 : 2 * N : 2] = heads >> 16
    out[1 : 2 * N : 2] = heads & 0xFFFF
    out[2 * N : 2 * N + 2 * M : 2] = sizes & 0xFFFF
    out[2 * N + 1 : 2 * N + 2 * M : 2] = sizes >> 16
    pos = 2 * N + 2 * M
    for i in range(M):
        c, d = cdf_list[i], data[i]
        out[pos] = c.size + 1  # data_offset = V + 2, relative to the section start
        out[pos + 1 : pos + 1 + c.size] = c
        pos += 1 + c.size
        out[pos : pos + d.size] = d
        pos += d.size
    assert pos == total
    return out.tobytes()


@njit(cache=True)
def _histogram_bytes(u):
    counts = np.zeros(256, dtype=np.int64)
    for e in range(u.size):
        counts[u[e]] += 1
    return counts


def _encode_bytes(a: np.ndarray, progress: bool) -> bytes:
    """Fast path for 8-bit matrices: each matrix is pushed as its raw bytes through 256-entry
    frequency / CDF tables indexed by the byte (no id array), right after its model is built."""
    M = a.shape[0]
    N = a.shape[1] * a.shape[2]
    u = np.ascontiguousarray(a).reshape(M, N).view(np.uint8)
    pattern_values = np.arange(256, dtype=np.int64)
    if a.dtype.kind == "i":
        pattern_values[128:] -= 256
    ascending = np.argsort(pattern_values, kind="stable")  # byte patterns in value order
    cdf_list: list = [None] * M

    def matrix(i):
        counts = _histogram_bytes(u[i])
        present = ascending[counts[ascending] > 0]
        model, rank = _model_from(pattern_values[present], counts[present], N)
        cdf_list[i] = model.cdf
        f256 = np.zeros(256, dtype=np.uint32)
        c256 = np.zeros(256, dtype=np.uint32)
        f256[present] = model.freqs[rank]
        c256[present] = model.cdf[rank]
        return u[i], f256, c256

    return _run_coders(M, N, matrix, cdf_list, progress)


def encode(matrices, *, progress: bool = False) -> bytes:
    """Encode integer matrices of shape (M, rows, cols) into the seed notebook's WebGL layout.

    Every matrix needs at most 4096 distinct values. Byte-identical to the notebook's algorithm given
    the same vocabulary order (count descending, ties by value ascending).
    """
    a = _check_matrices(matrices)
    if a.dtype.itemsize == 1:
        return _encode_bytes(a, progress)
    model_list, ids = models_and_ids(a)
    return encode_ids(ids, [m.cdf for m in model_list], progress=progress)


# --------------------------------------------------------------------------------------------------
# Decoder


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def _words_of(data) -> np.ndarray:
    if isinstance(data, np.ndarray):
        buf = data.reshape(-1).view(np.uint8) if data.dtype != np.uint8 else data.reshape(-1)
    else:
        buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buf.size % 2:
        raise Truncated(f"the seed layout is made of 16-bit words, but the buffer has {buf.size} bytes (odd)",
                        offset=buf.size - 1)
    return buf.view("<u2") if buf.ctypes.data % 2 == 0 else buf.copy().view("<u2")


def parse_layout(data, *, matrices: int, rows: int, cols: int) -> SeedLayout:
    """Check and parse the structure of a seed-layout buffer (everything except the coded words).

    Raises the spec's errors (section 14) with byte offsets: ``Truncated``, ``SizeMismatch``,
    ``BadLayout`` (section sizes, data offsets), ``BadModel`` (CDFs, heads below 2^16).
    """
    M = _positive_int("matrices", matrices)
    N = _positive_int("rows", rows) * _positive_int("cols", cols)
    return _parse_words(_words_of(data), M, N)


def _parse_words(w: np.ndarray, M: int, N: int) -> SeedLayout:
    table_end = 2 * N + 2 * M
    if w.size < table_end:
        raise Truncated(f"the coder heads and size table need {2 * table_end} bytes, the buffer has {2 * w.size}",
                        offset=2 * w.size)
    hw = w[: 2 * N].astype(np.uint32)
    heads = (hw[0::2] << 16) | hw[1::2]
    low = np.flatnonzero(heads < HEAD_LOW)
    if low.size:
        e = int(low[0])
        raise BadModel(f"coder head of entry {e} is {int(heads[e])}, below 2^16", offset=4 * e)
    st = w[2 * N : table_end].astype(np.int64)
    sizes = st[0::2] | (st[1::2] << 16)
    section_starts = np.empty(M, dtype=np.int64)
    vocab_sizes = np.empty(M, dtype=np.int64)
    data_starts = np.empty(M, dtype=np.int64)
    data_sizes = np.empty(M, dtype=np.int64)
    cdfs = []
    pos = table_end
    for i in range(M):
        size = int(sizes[i])
        if size < 3:
            raise BadLayout(f"section size of matrix {i} is {size}, at least 3 (data_offset, cdf[0], cdf[1])",
                            offset=2 * (2 * N + 2 * i))
        if pos + size > w.size:
            raise Truncated(f"section of matrix {i} ends at byte {2 * (pos + size)}, the buffer has {2 * w.size}",
                            offset=2 * pos)
        data_offset = int(w[pos])
        V = data_offset - 2
        if not 1 <= V <= MAX_VOCAB or data_offset > size:
            raise BadLayout(f"data_offset of matrix {i} is {data_offset}; expected V+2 with 1 <= V <= {MAX_VOCAB} "
                            f"and at most the section size {size}", offset=2 * pos)
        cdf = w[pos + 1 : pos + 1 + V + 1]
        d = np.diff(cdf.astype(np.int64))
        if cdf[0] != 0 or cdf[V] != TOTAL or np.any(d < 1):
            bad = 0 if cdf[0] != 0 else (int(np.flatnonzero(d < 1)[0]) + 1 if np.any(d < 1) else V)
            raise BadModel(f"cdf of matrix {i} must start at 0, increase strictly and end at {TOTAL} "
                           f"(cdf[{bad}] = {int(cdf[bad])})", offset=2 * (pos + 1 + bad))
        section_starts[i] = pos
        vocab_sizes[i] = V
        data_starts[i] = pos + data_offset
        data_sizes[i] = size - data_offset
        cdfs.append(cdf)
        pos += size
    if pos != w.size:
        raise SizeMismatch(f"{2 * (w.size - pos)} bytes follow the last section", offset=2 * pos)
    return SeedLayout(heads, sizes, section_starts, vocab_sizes, cdfs, data_starts, data_sizes)


@njit(cache=True)
def _decode_kernel(words, heads_in, cdf_flat, cdf_start, vocab, data_start, data_size, ids, checksums):
    """Pop every matrix 0 … M-1 from the N coders; fills ``ids`` (M, N) and ``checksums`` (M).

    Returns (status, a, b) with status one of _OK, _UNDERRUN, _LEFTOVER, _BAD_FINAL.
    """
    M, N = ids.shape
    heads = heads_in.astype(np.int64)
    sym = np.empty(4096, dtype=np.int64)
    start = np.empty(4096, dtype=np.int64)
    freq = np.empty(4096, dtype=np.int64)
    for i in range(M):
        base = cdf_start[i]
        for s in range(vocab[i]):
            lo = np.int64(cdf_flat[base + s])
            hi = np.int64(cdf_flat[base + s + 1])
            for slot in range(lo, hi):
                sym[slot] = s
                start[slot] = lo
                freq[slot] = hi - lo
        k = data_start[i]
        end = k + data_size[i]
        h = np.int64(0)
        for e in range(N):
            x = heads[e]
            if x < 65536:
                if k == end:
                    return _UNDERRUN, i, e
                x = (x << 16) | np.int64(words[k])
                k += 1
            slot = x & 4095
            s = sym[slot]
            x = freq[slot] * (x >> 12) + slot - start[slot]
            heads[e] = x
            ids[i, e] = s
            h = fxhash26_step(h, s)
        if k != end:
            return _LEFTOVER, i, k - data_start[i]
        checksums[i] = h
    for e in range(N):
        if heads[e] != 0x00010001:
            return _BAD_FINAL, e, heads[e]
    return _OK, 0, 0


def decode(data, *, matrices: int, rows: int, cols: int, max_entries: int = DEFAULT_MAX_ENTRIES):
    """Decode a seed-layout buffer into symbol ids and per-matrix FxHash26 checksums.

    Args:
        data: bytes-like (or a uint8/uint16 numpy array) holding the layout.
        matrices, rows, cols: the shape, which the layout does not store.
        max_entries: refuse (``LimitExceeded``) to decode more than this many entries in all.

    Returns:
        (ids, checksums): ids of shape (M, rows, cols), uint8 if every matrix has at most 256 symbols
        else uint16; checksums a list of M ints (FxHash26 of each matrix's ids in row-major order).

    Raises the spec's errors: those of :func:`parse_layout`, ``LimitExceeded``, and ``CorruptStream``
    when a section's words run out, are left over, or a coder does not end at its initial head.
    """
    M = _positive_int("matrices", matrices)
    R, C = _positive_int("rows", rows), _positive_int("cols", cols)
    N = R * C
    if M * N > max_entries:
        raise LimitExceeded(f"{M} x {R} x {C} = {M * N} entries exceed max_entries = {max_entries}")
    words = _words_of(data)
    layout = _parse_words(words, M, N)
    ids = np.empty((M, N), dtype=np.uint8 if layout.vocab_sizes.max() <= 256 else np.uint16)
    checksums = np.zeros(M, dtype=np.int64)
    status, a, b = _decode_kernel(words, layout.heads, words, layout.section_starts + 1, layout.vocab_sizes,
                                  layout.data_starts, layout.data_sizes, ids, checksums)
    if status == _UNDERRUN:
        raise CorruptStream(f"matrix {a}: the coder of entry {b} needs a word after the section's last one",
                            offset=int(2 * (layout.data_starts[a] + layout.data_sizes[a])))
    if status == _LEFTOVER:
        raise CorruptStream(f"matrix {a}: {int(layout.data_sizes[a]) - b} of its {int(layout.data_sizes[a])} "
                            "data words are never read", offset=int(2 * (layout.data_starts[a] + b)))
    if status == _BAD_FINAL:
        raise CorruptStream(f"the coder of entry {a} ends at head {b:#x}, expected {INITIAL_HEAD:#x}",
                            offset=4 * a)
    return ids.reshape(M, R, C), [int(h) for h in checksums]


def mock_matrices(matrices: int = 100, rows: int = 1024, cols: int = 1024, seed: int = 202404151,
                  *, progress: bool = False) -> np.ndarray:
    """The notebook's mock data: ``np.random.seed(seed); np.round(np.random.randn(M, rows, cols) * 8)``
    as int8, drawn one matrix at a time (the legacy generator's stream is the same as one big call, and
    this needs 8 bytes per entry of one matrix instead of all of them). A private
    ``np.random.RandomState(seed)`` gives the stream of the notebook's ``np.random.seed(seed)`` without
    touching numpy's global generator.
    """
    M = _positive_int("matrices", matrices)
    R, C = _positive_int("rows", rows), _positive_int("cols", cols)
    rng = np.random.RandomState(seed)
    out = np.empty((M, R, C), dtype=np.int8)
    it = range(M)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="generating", unit="matrix")
    for i in it:
        out[i] = np.round(rng.randn(R, C) * 8).astype(np.int8)
    return out


def stats(matrices, data: bytes | None = None) -> dict:
    """Figures the notebook printed, and the true coding costs next to them.

    Returns a dict with ``models`` (the M :class:`SeedModel`), per matrix (arrays of M):
    ``entropies`` (empirical entropy, bits/entry),
    ``model_entropies`` (``12 - sum(f log2 f) / 4096``, the entropy of the 12-bit model itself: what
    the notebook called ``cross_entropies_12bit``) and ``cross_entropies`` (the true cost of coding the
    counts with the model, ``12 - sum(c log2 f) / n``); the maxima of ``model_entropies - entropies``
    (``notebook_overhead_abs``, ``notebook_overhead_rel_percent``: the notebook's "0.0471" and
    "0.93 %") and of ``cross_entropies - entropies`` (``overhead_abs``, ``overhead_rel_percent``).
    With ``data`` (the encoded layout) also ``stream_words`` (the notebook's
    ``len(compressed_stream)``), ``file_words``, ``bits_per_entry`` and ``sizes``.
    """
    a = _check_matrices(matrices)
    model_list = models(a)
    M, N = a.shape[0], a.shape[1] * a.shape[2]
    ent = np.array([m.entropy for m in model_list])
    mod = np.array([PRECISION - float(m.freqs @ np.log2(m.freqs)) / TOTAL for m in model_list])
    xent = np.array([m.cross_entropy for m in model_list])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "models": model_list,
            "entropies": ent,
            "model_entropies": mod,
            "cross_entropies": xent,
            "notebook_overhead_abs": float((mod - ent).max()),
            "notebook_overhead_rel_percent": float(((mod - ent) * 100 / ent).max()),
            "overhead_abs": float((xent - ent).max()),
            "overhead_rel_percent": float(((xent - ent) * 100 / ent).max()),
        }
    if data is not None:
        layout = parse_layout(data, matrices=M, rows=a.shape[1], cols=a.shape[2])
        out["stream_words"] = layout.stream_words
        out["file_words"] = layout.file_words
        out["bits_per_entry"] = layout.stream_words * 16 / (M * N)
        out["sizes"] = layout.sizes
    return out
