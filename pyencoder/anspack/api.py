"""The public Python API: encode / decode / save / load / read_header.

    >>> import numpy as np, anspack
    >>> w = np.array([[0, 1, 0], [-1, 0, 0]], dtype=np.int8)
    >>> data = anspack.encode({"w": w}, lanes=2)
    >>> out = anspack.decode(data)
    >>> out["w"].dtype, out["w"].tolist()
    (dtype('int8'), [[0, 1, 0], [-1, 0, 0]])
    >>> anspack.read_header(data)["w"].checksum == anspack.fxhash26([0, 2, 0, 1, 0, 0])
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import container
from .checksum import fxhash26
from .container import (CODING_GROUPS, CODING_RANS, CODING_RAW, DEFAULT_MAX_ENTRIES, MAX_GROUPS, Block, FileHeader,
                        TensorInfo)
from .grouping import choose_groups, cluster_rows, row_histograms
from .errors import ChecksumMismatch, CorruptStream, LimitExceeded
from .model import (MAX_PRECISION, VocabularyTooLarge, build_model, cross_entropy_bits, histogram, ids_to_values,
                    nonzero_bins, pair_histograms, product_freqs, product_model, product_vocabulary, quantize_counts)
from .rans import BAD_FINAL_STATE, LEFTOVER, OK, UNDERRUN, decode_interleaved, encode_interleaved_checksum

DEFAULT_LANES = 8  # the WebAssembly decoder's SIMD loop takes 4 lanes at a time; 16 bytes more per tensor than 4
SYMBOLS_PER_LANE = 1024  # ... but lanes=None gives small tensors one lane per 1024 symbols (a lane's state costs
# 4 bytes, ~1.3 KB on MiniLM's 384-entry vectors, whose decoding time does not matter)
DEFAULT_MAX_TOTAL_ENTRIES = 1 << 30
DEFAULT_PRECISION = 12  # for tensors of fewer than AUTO_PRECISION_SYMBOLS symbols ...
SMALL_PRECISION = 10  # ... but 10 below SMALL_PRECISION_SYMBOLS: a 2^P-slot decoder table for a few hundred symbols
SMALL_PRECISION_SYMBOLS = 1 << 12  # costs more than decoding them (MiniLM int4: 64 such tensors, same bytes at P=10)
LARGE_PRECISION = 14  # precision=None: bigger tensors get P = 14 (smaller model loss, same decode speed)
AUTO_PRECISION_SYMBOLS = 1 << 16
DEFAULT_CHUNK = 1 << 18  # chunk=None: tensors of more symbols than this are split into chunks of this many,
CHUNK_SYMBOLS_PER_LANE = 1 << 13  # ... or of 2^13 symbols per lane if that is more (states < ~0.1 % of a chunk)
PAIRS_MAX_VOCAB = 16  # pairs="auto": only tensors of at most 16 distinct values (4-bit and below) ...
PAIRS_MIN_ENTRIES = 1 << 12  # ... and at least this many entries ...
PAIRS_SIZE_TOLERANCE = 0.0025  # ... whose paired block is at most 0.25 % larger (it decodes ~2x faster)
GROUPS_MIN_ENTRIES = 1 << 15  # groups="auto": tensors of at least this many entries ...
GROUPS_MIN_ROWS = 8  # ... and rows (shape[0]), ...
GROUPS_CANDIDATES = (4,)  # ... split by k-means into at most 4 groups (trying 2 first found no more on MiniLM
# and took twice as long; 6 and 8 added < 1 % to the gain) ...
SPLIT_SYMBOLS = 1 << 15  # chunk=None: a block of more symbols gets at least 2 chunks, which the WebAssembly
# decoder runs side by side, two FxHash26 chains (MiniLM int4's row groups: 9.9 -> 9.1 ms in node, +1.6 KB;
# then all tensors: whole MiniLM int8 / int4 files 1.045-1.06x / 1.03x faster in node, +1.0 KB each) ...
SPLIT_SYMBOLS_PER_LANE = 1 << 10  # ... if each chunk holds at least this many symbols per lane (many lanes, e.g.
# one per entry: one chunk, the lanes' states would outweigh a second chain)
QUAD_LANES = 8  # ... and blocks of this many lanes with at least 4 x 2^10 symbols per lane get a multiple of 4
# chunks, which the WebAssembly decoder runs four at a time, four hash chains in one vector (rans_quad.wat:
# whole MiniLM int4 / int8 files 1.04x faster in node than with 2 chunks, +3.9 KB / +2.7 KB, +0.044 % / +0.013 %)
GROUPS_TOLERANCE = 0.005  # ... when the estimated block is at least 0.5 % smaller: decoding a grouped tensor
# costs more (its rows placed, a model per group, smaller streams); at 0.1 % MiniLM int4 grouped 93 % of its
# entries for 52 KB and decoded 1.2-1.5x slower in node, at 0.5 % 24 % of them for 32 KB
RANS_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32")
RAW_DTYPES = RANS_DTYPES + ("float16", "float32")
_PARALLEL_MIN_ENTRIES = 1 << 18  # below this many entries in all, encode/decode on the calling thread


def _raw_checksum(flat: np.ndarray) -> int:
    """FxHash26 of raw data in 16-bit units (bytes for 1-byte dtypes): FxHash26 ignores input bits
    above 26, so 32-bit values are hashed as their two little-endian halves (spec section 11)."""
    flat = np.ascontiguousarray(flat).reshape(-1)
    return fxhash26(flat.view("<u2") if flat.dtype.itemsize > 1 else flat.view("u1"))


def _map(fn, items, threads: int):
    """``list(map(fn, items))``, on a thread pool when ``threads > 1`` (the Numba kernels release the
    GIL). Results come back in order; an exception is raised for the first failing item in order."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


def _threads(threads: int | None, entries: int) -> int:
    if threads is None:
        return 1 if entries < _PARALLEL_MIN_ENTRIES else (os.cpu_count() or 1)
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    return threads


@dataclass
class _Plan:
    """A tensor on its way into a coding-0 block: model built, lanes / chunks chosen."""

    name: str
    shape: tuple
    dtype: str
    model: object  # anspack.model.EntropyModel over the symbols
    pairs: bool
    entry_model: object  # PRODUCT pairs (spec section 7.3): the entries' model, stored in the block; else None
    lanes: int
    chunk: int  # Q, 0 = one stream
    dequant: bytes

    @property
    def chunk_ranges(self) -> list[tuple[int, int]]:
        N = self.model.ids.size
        K = -(-N // self.chunk) if self.chunk else 1
        return [container.chunk_bounds(N, self.chunk, k) for k in range(K)]


def _auto_precision(N: int, V: int = 1) -> int:
    """precision=None: 10 below 2^12 symbols, 12 below 2^16, 14 above, raised to fit V distinct symbols."""
    P = SMALL_PRECISION if N < SMALL_PRECISION_SYMBOLS else DEFAULT_PRECISION if N < AUTO_PRECISION_SYMBOLS else LARGE_PRECISION
    return max(P, (V - 1).bit_length())


def _block_estimate(counts: np.ndarray, precision: int | None, itemsize: int) -> float:
    """Bytes a block would take for symbols with these (nonzero) counts: the payload at the P-bit
    frequencies of spec section 9, plus the vocabulary and CDF."""
    c = np.sort(counts)[::-1].astype(np.int64)  # the frequencies depend only on the sorted counts
    N, V = int(c.sum()), c.size
    P = _auto_precision(N, V) if precision is None else precision
    if V > (1 << P):
        return float("inf")
    f = quantize_counts(c, N, P)
    return cross_entropy_bits(c, f, P) * N / 8 + V * itemsize + 2 * (V + 1)


PRODUCT_PRECISION = 14  # precision=None: PRODUCT pairs of >= 2^13 pair symbols get at least this P (below, the
PRODUCT_PRECISION_SYMBOLS = 1 << 13  # derived pair model's rounding costs 0.1-0.4 % at P = 12; the stored model is
# the same size at any P, only the decoder's slot table grows)


def _product_precision(N: int, V: int, precision: int | None) -> int:
    """P of PRODUCT pairs: the automatic rule over N pair symbols (at least PRODUCT_PRECISION from
    PRODUCT_PRECISION_SYMBOLS pair symbols on), raised so that V^2 <= 2^P."""
    if precision is not None:
        return precision
    P = _auto_precision(N, V * V)
    return max(P, PRODUCT_PRECISION) if N >= PRODUCT_PRECISION_SYMBOLS else P


def _product_estimate(hist1: np.ndarray, hist2: np.ndarray, signed: bool, precision: int | None) -> float:
    """Bytes of a PRODUCT-pairs block (spec section 7.3) for a 1-byte tensor with entry histogram
    ``hist1`` and pair histogram ``hist2`` (of the u16 pair values): the payload at the derived pair
    frequencies, plus the entries' vocabulary and CDF."""
    values, counts, pair_lut = product_vocabulary(hist1, signed)
    V, n = values.size, int(counts.sum())
    P = _product_precision(n // 2, V, precision)
    if V * V > 1 << P:
        return float("inf")
    f = product_freqs(quantize_counts(counts, n, P), P)
    seen = nonzero_bins(hist2)
    return cross_entropy_bits(hist2[seen], f[pair_lut[seen]], P) * (n // 2) / 8 + V + 2 * (V + 1)


def _pairs_choice(flat: np.ndarray, precision: int | None,
                  hist1: np.ndarray | None = None) -> tuple[str | None, np.ndarray, np.ndarray | None]:
    """pairs="auto": at most PAIRS_MAX_VOCAB distinct values, and a paired block (plain or PRODUCT,
    whichever is smaller) at most PAIRS_SIZE_TOLERANCE larger than the unpaired one. Returns (the
    kind: None, "plain" or "product"; the histogram to build the model from: of the pairs for plain
    pairs, else of the entries; for product pairs the pairs' histogram, else None)."""
    hist1 = histogram(flat) if hist1 is None else hist1  # 256 counts: cheap, and most tensors stop here
    single = hist1[hist1 > 0]
    if single.size > PAIRS_MAX_VOCAB:
        return None, hist1, None
    hist2 = histogram(flat.view("<u2"))
    plain = _block_estimate(hist2[nonzero_bins(hist2)], precision, 2)
    product = _product_estimate(hist1, hist2, flat.dtype.kind == "i", precision)
    if min(plain, product) > (1 + PAIRS_SIZE_TOLERANCE) * _block_estimate(single, precision, 1):
        return None, hist1, None
    return ("product", hist1, hist2) if product <= plain else ("plain", hist2, None)


def _build(sym: np.ndarray, precision: int | None, counts=None):
    """The entropy model of the symbols ``sym``; with ``precision=None`` P is 10 below 2^12 symbols, 12
    below 2^16 and 14 above, raised (up to 15) when the vocabulary needs it."""
    if precision is not None:
        return build_model(sym, int(precision), counts=counts)
    try:
        return build_model(sym, _auto_precision(sym.size), counts=counts)
    except VocabularyTooLarge:  # too many distinct values for that P: raise it as far as MAX_PRECISION
        V = np.unique(sym).size
        if V > (1 << MAX_PRECISION):
            raise VocabularyTooLarge(f"{V} distinct values, more than the 2^{MAX_PRECISION} of the highest precision; "
                                     f"store the tensor raw") from None
        return build_model(sym, _auto_precision(sym.size, V), counts=counts)


def _plan(name: str, a: np.ndarray, dtype: str, *, lanes, precision, pairs, chunk, dequant,
          group: bool = False, hist: np.ndarray | None = None) -> _Plan:
    """The model, lanes and chunks of one coding-0 block (``group``: a row group's sub-block, spec 7.4;
    ``hist``: the tensor's histogram if the caller counted it)."""
    flat = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).reshape(-1)
    n = flat.size
    pair_ok = np.dtype(dtype).itemsize == 1 and n % 2 == 0 and n >= 2
    if not (pairs is True or pairs is False or (isinstance(pairs, str) and pairs in ("auto", "product"))):
        raise ValueError(f"tensor {name!r}: pairs must be True, False, 'product' or 'auto', got {pairs!r}")
    if pairs in (True, "product") and not pair_ok:
        raise ValueError(f"tensor {name!r}: pairs need a 1-byte dtype and an even number of entries "
                         f"(dtype {dtype}, {n} entries)")
    try:
        kind, counts, pair_counts = {True: "plain", "product": "product"}.get(pairs), None, None
        if pairs == "auto" and pair_ok and n >= PAIRS_MIN_ENTRIES:
            kind, counts, pair_counts = _pairs_choice(flat, precision, hist)
        elif kind != "plain":
            counts = hist  # the entries' histogram (plain pairs count the pairs)
        entry_model = None
        if kind == "product":
            if counts is None:  # pairs="product", or a row group's sub-block: one pass over the pairs
                counts, pair_counts = pair_histograms(flat)
            P = _product_precision(n // 2, int(np.count_nonzero(counts)), precision)
            entry_model, model = product_model(flat, P, counts=counts, pair_counts=pair_counts)
        else:
            model = _build(flat.view("<u2") if kind == "plain" else flat, precision, counts)
    except ValueError as e:
        raise (VocabularyTooLarge if isinstance(e, VocabularyTooLarge) else ValueError)(
            f"tensor {name!r}: {e}") from None
    N = model.ids.size
    if N == 0:
        L = 0
    else:
        L = min(DEFAULT_LANES, -(-N // SYMBOLS_PER_LANE)) if lanes is None else int(lanes)
        if L < 1:
            raise ValueError(f"tensor {name!r}: lanes must be at least 1, got {lanes}")
        L = min(L, N)
    if chunk is None:
        Q = max(DEFAULT_CHUNK, CHUNK_SYMBOLS_PER_LANE * L)  # many lanes: bigger chunks (lane states cost 4L each)
        # the fewest chunks of at most Q symbols, an even number of them (a multiple of 4 at 8 lanes), of
        # equal sizes: the WebAssembly decoder decodes chunks two by two (four by four at 8 lanes), side by
        # side only for the rows they all have (2^18 + 2^15 symbols gave 2^15 rows of that; an odd chunk
        # out decodes alone, as one hash chain)
        K = -(-N // Q)
        if N > SPLIT_SYMBOLS and N >= 2 * SPLIT_SYMBOLS_PER_LANE * L:
            K = max(K, 2)  # two chunks, so that the WebAssembly loop runs two hash chains side by side
            if L == QUAD_LANES and N >= 4 * SPLIT_SYMBOLS_PER_LANE * L:
                K = -(-max(K, 4) // 4) * 4  # ... or four at a time, for L = 8: a multiple of four
        Q = -(-N // (K + K % 2)) if K > 1 else 0
        if group and Q:  # a multiple of L: the WebAssembly decoder then writes the rows in place
            Q = -(-Q // L) * L
    else:
        Q = int(chunk)
        if Q < 0:
            raise ValueError(f"tensor {name!r}: chunk must be a non-negative number of symbols, got {chunk}")
        if Q >= N:
            Q = 0  # one chunk: the unchunked layout (spec section 7.2 requires Q < N)
    if Q:
        L = min(L, Q)
    return _Plan(name, a.shape, dtype, model, kind is not None, entry_model, L, Q, dequant)


@dataclass
class _GroupPlan:
    """A tensor on its way into a coding-2 block (spec section 7.4): its row map and one plan per group."""

    name: str
    shape: tuple
    dtype: str
    row_groups: np.ndarray
    subs: list  # _Plan per group, in group order
    dequant: bytes


def _row_groups(name: str, a: np.ndarray, groups, precision: int | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The row map for the ``groups`` option (None: one coding-0 block), and the tensor's histogram
    where ``groups="auto"`` counted it (1- and 2-byte dtypes; else None), for _plan to reuse."""
    is_count = isinstance(groups, (int, np.integer)) and not isinstance(groups, bool)
    if groups is None or groups is False or (is_count and groups in (0, 1)):
        return None, None
    if isinstance(groups, str):
        if groups != "auto":
            raise ValueError(f"tensor {name!r}: groups must be 'auto', False, a group count or a row map, "
                             f"got {groups!r}")
        if a.ndim < 2 or a.shape[0] < GROUPS_MIN_ROWS or a.size < GROUPS_MIN_ENTRIES:
            return None, None
        hist = histogram(a) if a.dtype.itemsize <= 2 else None
        binned = row_histograms(a, hist)
        return (None if binned is None else choose_groups(*binned, GROUPS_CANDIDATES, GROUPS_TOLERANCE)), hist
    if a.ndim == 0 or a.size == 0 or a.shape[0] < 2:
        raise ValueError(f"tensor {name!r}: row groups need at least 2 rows and entries, shape is {a.shape}")
    if is_count:
        if not 2 <= groups <= MAX_GROUPS:
            raise ValueError(f"tensor {name!r}: groups must be 2 to {MAX_GROUPS}, got {groups}")
        rows = cluster_rows(a, int(groups))
        return (rows if rows.max() > 0 else None), None
    rows = np.asarray(groups)
    if rows.shape != (a.shape[0],) or rows.dtype.kind not in "iu":
        raise ValueError(f"tensor {name!r}: a row map must be {a.shape[0]} integers (one per row), got "
                         f"{rows.dtype} {rows.shape}")
    G = int(rows.max()) + 1
    if rows.min() < 0 or not 2 <= G <= MAX_GROUPS or not np.bincount(rows, minlength=G).all():
        raise ValueError(f"tensor {name!r}: a row map must use every group 0 … G-1 with 2 <= G <= {MAX_GROUPS}")
    return rows.astype(np.int64), None


def _plan_tensor(name: str, a: np.ndarray, dtype: str, *, groups, precision, dequant, **options):
    """A _Plan, or a _GroupPlan when the tensor's rows are split into groups."""
    rows, hist = _row_groups(name, a, groups, precision)
    if rows is None:
        return _plan(name, a, dtype, precision=precision, dequant=dequant, hist=hist, **options)
    flat = a.reshape(a.shape[0], -1)
    parts = [flat[rows == g].reshape((-1,) + a.shape[1:]) for g in range(int(rows.max()) + 1)]
    pairs = options.pop("pairs")
    if pairs == "auto" and a.dtype.itemsize == 1 and a.size >= PAIRS_MIN_ENTRIES:
        # decided once, on the largest group, instead of per group: the estimates cost more than the
        # groups' coding; each group takes it where the spec allows
        kind = _pairs_choice(np.ascontiguousarray(max(parts, key=np.size)).reshape(-1), precision)[0]
        pairs = {"plain": True, "product": "product", None: False}[kind]
    subs = [_plan(name, p, dtype, precision=precision, dequant=b"", pairs=pairs if pairs == "auto" or (
        p.size % 2 == 0) else False, group=True, **options) for p in parts]
    return _GroupPlan(name, a.shape, dtype, rows, subs, dequant)


def _plans(plan) -> list:
    """The coding-0 plans of a tensor plan (its groups' for a _GroupPlan)."""
    return plan.subs if isinstance(plan, _GroupPlan) else [plan]


def _encode_chunk(job) -> tuple[np.ndarray, np.ndarray, int]:
    plan, a, b = job
    m = plan.model
    return encode_interleaved_checksum(m.ids[a:b], m.freqs, m.cdf, m.precision, plan.lanes)


def _finish(plan: _Plan, coded) -> Block:
    m = plan.model
    stored = plan.entry_model or m  # the model the block stores: PRODUCT pairs store the entries' model
    product = plan.entry_model is not None
    states = np.concatenate([c[0] for c in coded]) if coded else np.zeros(0, np.uint32)
    words = [c[1] for c in coded]  # the chunks' streams, joined by rans_block
    W = sum(w.size for w in words)
    if plan.chunk:
        chunk_checksums = np.array([c[2] for c in coded], dtype=np.uint32)
        checksum = fxhash26(chunk_checksums)
        data = container.rans_block(plan.dtype, plan.lanes, m.precision, states, stored.values, stored.cdf, words,
                                    pairs=plan.pairs, product=product, chunk=plan.chunk,
                                    chunk_words=[c[1].size for c in coded], chunk_checksums=chunk_checksums)
    else:
        checksum = coded[0][2] if coded else 0  # the ids' FxHash26, from the coding loop
        data = container.rans_block(plan.dtype, plan.lanes, m.precision, states, stored.values, stored.cdf, words,
                                    pairs=plan.pairs, product=product)
    return Block(plan.name, plan.shape, plan.dtype, CODING_RANS, checksum, data, plan.dequant,
                 side_size=len(data) - 2 * W)


def _finish_tensor(plan, coded) -> Block:
    """The Block of a _Plan or _GroupPlan from its chunks' coder output (all groups' chunks in order)."""
    if not isinstance(plan, _GroupPlan):
        return _finish(plan, coded)
    coded = iter(coded)
    subs = [_finish(p, [next(coded) for _ in p.chunk_ranges]) for p in plan.subs]
    data, checksum, spans = container.groups_block(plan.row_groups, subs)
    return Block(plan.name, plan.shape, plan.dtype, CODING_GROUPS, checksum, data, plan.dequant, side_spans=spans)


def _chunk_jobs(plan) -> list:
    return [(p, a, b) for p in _plans(plan) if p.model.ids.size for a, b in p.chunk_ranges]


def _prepare(name: str, array: np.ndarray, *, raw: bool, dequant: bytes):
    """dtype checks; returns (array, dtype, raw Block or None)."""
    a = np.asarray(array)
    dtype = a.dtype.newbyteorder("=").name if a.dtype.byteorder not in "=|" else a.dtype.name
    if dtype == "bool":
        raise TypeError(f"tensor {name!r}: bool tensors are not supported; cast to uint8")
    if dtype not in RAW_DTYPES:
        raise TypeError(f"tensor {name!r}: dtype {a.dtype} is not supported (use one of {', '.join(RAW_DTYPES)})")
    if raw or dtype not in RANS_DTYPES:
        flat = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).reshape(-1)
        return a, dtype, Block(name, a.shape, dtype, CODING_RAW, _raw_checksum(flat), flat.tobytes(), dequant)
    if a.dtype.byteorder not in "=|":
        a = a.astype(dtype)  # native byte order for the Numba kernels (an npz may hold big-endian arrays)
    return a, dtype, None


def encode_tensor(name: str, array: np.ndarray, *, lanes: int | None = None, precision: int | None = None,
                  raw: bool = False, dequant: bytes = b"", pairs: bool | str = "auto",
                  chunk: int | None = None, groups="auto") -> Block:
    """Model and code one tensor into a :class:`~anspack.container.Block` ready for the writer
    (options as for :func:`encode`, for this one tensor; on the calling thread)."""
    a, dtype, block = _prepare(name, array, raw=raw, dequant=dequant)
    if block is not None:
        return block
    plan = _plan_tensor(name, a, dtype, lanes=lanes, precision=precision, pairs=pairs, chunk=chunk, dequant=dequant,
                        groups=groups)
    return _finish_tensor(plan, [_encode_chunk(job) for job in _chunk_jobs(plan)])


def encode(tensors: Mapping[str, np.ndarray], *, lanes: int | Mapping[str, int] | None = None,
           precision: int | None = None,
           metadata: dict | None = None, dequant: Mapping[str, bytes] | None = None,
           raw: bool | str | Mapping[str, bool | str] | Iterable[str] = "auto",
           pairs: bool | str | Mapping[str, bool | str] = "auto",
           chunk: int | Mapping[str, int] | None = None, groups="auto",
           threads: int | None = None) -> bytes:
    """Encode named tensors into the bytes of an .anspack file.

    Args:
        tensors: name -> array. Integer arrays (int8, uint8, int16, uint16, int32, uint32) are
            entropy-coded losslessly with rANS; float16/float32 arrays are stored raw (to quantize
            float weights first, use :func:`anspack.encode_model`, the CLI's ``anspack encode``).
        lanes: interleaved rANS lanes per tensor (default 8, or one per 1024 symbols for smaller tensors;
            clamped to the symbol count), or a mapping
            name -> lanes (tensors not named get the default); see :func:`anspack.gpu.gpu_lanes` for
            many-lane layouts suited to GPU decoding.
        precision: probability precision P in bits (1-15). Default (None): 10 for tensors of fewer than
            2^12 symbols, 12 below 2^16, 14 above (raised to fit the vocabulary). A tensor with more than 2^P distinct
            values raises ValueError.
        metadata: a JSON-serializable dict stored with the file.
        dequant: name -> a complete dequantization block (spec section 12) stored with that tensor.
        raw: store integer tensors raw (coding 1) instead of entropy-coded: "auto" (default: each one whose
            rANS block would not be smaller than its raw bytes, e.g. a 384-entry int8 vector with ~200
            distinct values, whose model outweighs its data -- raw tensors decode fastest -- and each one
            of more than 2^15 distinct values, which no model fits (ValueError with raw=False); unless
            lanes, chunk, pairs or groups is given for it: then it is entropy-coded), True, False; or
            a mapping name -> one of those ("auto" for tensors not named); or an iterable of names: those
            raw, the others entropy-coded.
        pairs: code pairs of consecutive entries as one symbol (spec section 7.1; 1-byte dtypes, even
            entry counts): True (plain pairs: the pairs' model is stored), "product" (PRODUCT pairs,
            section 7.3: the entries' model is stored and the pairs' derived from it; needs V^2 <= 2^P,
            the automatic precision is raised to fit), False, or "auto" (default: tensors of >= 4096
            entries with at most 16 distinct values, when the smaller paired block, plain or product, is
            at most 0.25 % larger -- it decodes about twice as fast); or a mapping name -> one of those
            ("auto" for tensors not named).
        chunk: symbols per chunk (spec section 7.2): 0 = one stream; default (None): tensors of more
            than 2^15 symbols (and 2^11 per lane) in the fewest even number (at least 2) of chunks of at
            most max(2^18, 2^13 * lanes) symbols, of equal size, a multiple of 4 of them (at least 4) for 8
            lanes and 2^12 symbols per lane (about 40 bytes each at 8 lanes: parallel decoding on threads,
            workers, and four chunks at a time in the WebAssembly loop at 8 lanes, else two); or a
            mapping name -> chunk size.
        groups: split a tensor's rows (``shape[0]``) into groups coded with a model each (coding 2, spec
            section 7.4): "auto" (default: at most 4 groups found by k-means over the rows' histograms,
            for tensors of >= 2^15 entries, >= 8 rows and at most 256 distinct values, when the estimated
            block is at least 0.5 % smaller), False, a group count G (2-256: k-means into at most G
            groups), or a row map (one group id per row, using every id 0 … G-1); or a mapping name ->
            one of those ("auto" for tensors not named).
        threads: encoder threads (default: all cores for inputs of >= 2^18 entries, else 1). The output
            does not depend on it.

    Returns:
        The file's bytes. Equal inputs and options give equal bytes.
    """
    raw_of = _raw_option(raw)
    dequant = dict(dequant or {})
    named = set() if isinstance(raw, (str, bool)) else set(raw)  # a mapping's keys, or the names
    for opt in (lanes, pairs, chunk, groups):
        if isinstance(opt, Mapping):
            named |= set(opt)
    unknown = (set(dequant) | named) - set(tensors)
    if unknown:
        raise KeyError(f"raw/dequant/lanes/pairs/chunk/groups name tensors that are not given: {sorted(unknown)}")
    lanes_of = lanes.get if isinstance(lanes, Mapping) else (lambda name: lanes)
    pairs_of = (lambda name: pairs.get(name, "auto")) if isinstance(pairs, Mapping) else (lambda name: pairs)
    chunk_of = chunk.get if isinstance(chunk, Mapping) else (lambda name: chunk)
    groups_of = (lambda name: groups.get(name, "auto")) if isinstance(groups, Mapping) else (lambda name: groups)
    prepared = [(name, *_prepare(name, arr, raw=raw_of(name) is True, dequant=dequant.get(name, b"")))
                for name, arr in tensors.items()]
    nthreads = _threads(threads, sum(int(np.asarray(arr).size) for arr in tensors.values()))
    # raw="auto" decides for tensors whose coding options are all left at their defaults (options given
    # mean rANS): raw where the rANS block would not be smaller (the same dequant block either way)
    def auto(name):
        return (raw_of(name) == "auto" and lanes_of(name) is None and chunk_of(name) is None
                and _is_auto(pairs_of(name)) and _is_auto(groups_of(name)))

    def plan(name, a, dtype):
        try:
            return _plan_tensor(name, a, dtype, lanes=lanes_of(name), precision=precision, pairs=pairs_of(name),
                                chunk=chunk_of(name), dequant=dequant.get(name, b""), groups=groups_of(name))
        except VocabularyTooLarge:  # more than 2^15 distinct values: raw, where "auto" may choose it
            if precision is None and auto(name):
                return None
            raise

    todo = [(name, a, dtype) for name, a, dtype, block in prepared if block is None]
    plans = [p for p in _map(lambda x: plan(*x), todo, nthreads) if p is not None]
    jobs = [_chunk_jobs(p) for p in plans]
    coded = iter(_map(_encode_chunk, [j for js in jobs for j in js], nthreads))
    finished = {p.name: _finish_tensor(p, [next(coded) for _ in js]) for p, js in zip(plans, jobs)}
    for name, a, _, block in prepared:
        if block is None and (name not in finished or (auto(name) and len(finished[name].data) >= a.nbytes)):
            finished[name] = _prepare(name, a, raw=True, dequant=dequant.get(name, b""))[2]
    blocks = [block if block is not None else finished[name] for name, _, _, block in prepared]
    return container.write_file(blocks, metadata)


def _is_auto(option) -> bool:
    return isinstance(option, str) and option == "auto"


def _raw_option(raw):
    """encode()'s ``raw`` as name -> True, False or "auto"."""
    def check(v, what):
        if v is not True and v is not False and v != "auto":
            raise ValueError(f"raw{what} must be True, False or 'auto', got {v!r}")
        return v
    if isinstance(raw, (str, bool)):
        check(raw, "")
        return lambda name: raw
    if isinstance(raw, Mapping):
        opts = {name: check(v, f"[{name!r}]") for name, v in raw.items()}
        return lambda name: opts.get(name, "auto")
    names = set(raw)
    return lambda name: name in names


def read_header(data, *, max_entries: int = DEFAULT_MAX_ENTRIES, verify: bool = True) -> FileHeader:
    """Validate a file's header, table, metadata and layout and list its tensors without decoding.

    With ``verify`` (default) the header checksum over header, table and metadata is compared too.
    """
    return container.read_header(data, max_entries=max_entries, verify=verify)


def _decode_chunk(job):
    """Decode chunk ``k`` of a coding-0 tensor into ``out`` (its symbols' values, the stream's slice of
    the tensor's array: on the worker thread, so that the mapping runs in parallel too): (out,
    checksum, status, where). The ids are always < V, so a stream that turns out corrupt maps safely."""
    t, r, k, values, out = job
    a, b = t.chunk_bounds(k)
    ids, h, status, where = decode_interleaved(r.states[k], r.words[r.word_starts[k]:r.word_starts[k + 1]], r.cdf,
                                               t.precision, b - a)
    ids_to_values(values, ids, out[a:b])
    return out, h, status, where


def _prepare_decode(buf: memoryview, t: TensorInfo, verify: bool):
    """Checks before decoding (raw checksum, block checksum, rANS arrays). Returns the RansArrays of a
    coding-0 tensor, a list of them for a coding-2 tensor's groups, None for raw."""
    if verify and t.coding in ("raw", "groups"):
        container.verify_block_checksum(buf, t)
    if t.coding == "raw":
        return None
    if t.coding == "groups":
        return [s.arrays for s in t.groups]
    r = t.arrays if t.arrays is not None else container.rans_arrays(buf, t)  # read_header checked them
    if verify:
        container.verify_block_checksum(buf, t)
    return r


def _finish_decode(buf: memoryview, t: TensorInfo, r, results, *, verify: bool, dequantize: bool) -> np.ndarray:
    """Stream / checksum checks on the decoded chunks, then values, shape and dequantization."""
    dt = np.dtype(t.dtype)
    if t.coding == "raw":
        arr = np.frombuffer(buf, dtype=dt.newbyteorder("<"), count=t.size, offset=t.data_offset).astype(dt)
        if verify and _raw_checksum(arr) != t.checksum:
            raise ChecksumMismatch(f"raw data hashes to {_raw_checksum(arr)}, table says {t.checksum}",
                                   offset=t.entry_offset + 32, tensor=t.name)
    elif t.size == 0:
        arr = np.zeros(0, dt)
        if verify and t.checksum != 0:  # the hash of the empty sequence (spec section 11)
            raise ChecksumMismatch(f"an empty tensor hashes to 0, table says {t.checksum}",
                                   offset=t.entry_offset + 32, tensor=t.name)
    else:
        K = t.chunks
        chunk_table_at = t.data_offset + container.RANS_HEADER_SIZE + 4 * t.lanes * K
        for k, (ids, h, status, where) in enumerate(results):
            of = ("" if K == 1 else f" of chunk {k}") + _in_group(t)
            a, _ = t.chunk_bounds(k)
            W_k = int(r.word_starts[k + 1] - r.word_starts[k])
            words_at = r.words_at + 2 * int(r.word_starts[k])
            if status == UNDERRUN:
                raise CorruptStream(f"stream under-run: symbol {a + where} needs a word after all {W_k} words{of} "
                                    f"were read", offset=words_at + 2 * W_k, tensor=t.name)
            if status == LEFTOVER:
                raise CorruptStream(f"{W_k - where} of {W_k} words{of} left over after its last symbol",
                                    offset=words_at + 2 * where, tensor=t.name)
            if status == BAD_FINAL_STATE:
                raise CorruptStream(f"lane {where}{of} ends in a state other than 2^16",
                                    offset=t.data_offset + container.RANS_HEADER_SIZE + 4 * (k * t.lanes + where),
                                    tensor=t.name)
            assert status == OK
            if verify and r.chunk_checksums is not None and h != r.chunk_checksums[k]:
                raise ChecksumMismatch(f"chunk {k}{_in_group(t)}'s ids hash to {h}, its chunk checksum says "
                                       f"{r.chunk_checksums[k]}",
                                       offset=chunk_table_at + 4 * K + 4 * k, tensor=t.name)
        total = results[0][1] if r.chunk_checksums is None else fxhash26(np.asarray(r.chunk_checksums, dtype=np.int64))
        if verify and total != t.checksum:
            what = "decoded ids hash" if r.chunk_checksums is None else "the chunk checksums hash"
            raise ChecksumMismatch(f"{what} to {total}, {_checksum_name(t)} says {t.checksum}",
                                   offset=t.checksum_field, tensor=t.name)
        arr = results[0][0]  # the values, put in place by _decode_chunk
        if t.pairs:
            arr = arr.view(dt)
    arr = arr.reshape(t.shape)
    return _dequantize(buf, t, arr) if dequantize else arr


def _in_group(t: TensorInfo) -> str:
    return "" if t.group is None else f" in group {t.group}"


def _checksum_name(t: TensorInfo) -> str:
    return "table" if t.group is None else f"group_checksums[{t.group}]"


def _finish_groups(buf: memoryview, t: TensorInfo, results, *, verify: bool, dequantize: bool) -> np.ndarray:
    """Decode a coding-2 tensor's groups (spec section 7.4) and put their rows in place."""
    parts = [_finish_decode(buf, s, s.arrays, res, verify=verify, dequantize=False)
             for s, res in zip(t.groups, results)]
    total = container.groups_checksum([s.checksum for s in t.groups])
    if verify and total != t.checksum:
        raise ChecksumMismatch(f"the group checksums hash to {total}, table says {t.checksum}",
                               offset=t.entry_offset + 32, tensor=t.name)
    arr = np.empty(t.shape, np.dtype(t.dtype))
    rows = arr.reshape(t.shape[0], -1)
    for g, part in enumerate(parts):
        rows[t.row_groups == g] = part.reshape(part.shape[0], -1)
    return _dequantize(buf, t, arr) if dequantize else arr


def _dequantize(buf: memoryview, t: TensorInfo, arr: np.ndarray) -> np.ndarray:
    """float32 through the tensor's dequant block; float16 widened; other tensors as they are."""
    if t.dequant_size:
        from .dequant import dequantize_block

        block = buf[t.dequant_offset:t.dequant_offset + t.dequant_size]
        return dequantize_block(block, arr, tensor=t.name, offset=t.dequant_offset)
    return arr.astype(np.float32) if arr.dtype.kind == "f" else arr


def _streams(t: TensorInfo) -> list[TensorInfo]:
    """The coding-0 blocks of a tensor: itself, its groups' sub-blocks (coding 2), or none (raw, empty)."""
    if t.coding == "groups":
        return t.groups
    return [t] if t.coding == "rans" and t.size else []


def _decode_all(buf: memoryview, tensors: list[TensorInfo], *, verify: bool, dequantize: bool,
                threads: int | None) -> list[np.ndarray]:
    """Decode ``tensors``, chunks on a thread pool; errors as a one-by-one decode in table order raises."""
    prepared = []
    for t in tensors:
        try:
            prepared.append(_prepare_decode(buf, t, verify))
        except Exception as e:  # raised below, in table order after earlier tensors' errors
            prepared.append(e)
    jobs = []
    for t, r in zip(tensors, prepared):
        if isinstance(r, Exception):
            continue
        for s in _streams(t):
            values = s.arrays.values.astype(np.uint16 if s.pairs else np.dtype(s.dtype))
            out = np.empty(s.symbols, dtype=values.dtype)  # one array per coding-0 block, filled by its chunks
            jobs += [(s, s.arrays, k, values, out) for k in range(s.chunks)]
    nthreads = _threads(threads, sum(t.size for t in tensors))
    decoded = iter(_map(_decode_chunk, jobs, nthreads))
    out = []
    for t, r in zip(tensors, prepared):
        if isinstance(r, Exception):
            raise r
        if t.coding == "groups":
            results = [[next(decoded) for _ in range(s.chunks)] for s in t.groups]
            out.append(_finish_groups(buf, t, results, verify=verify, dequantize=dequantize))
            continue
        results = [next(decoded) for _ in range(t.chunks)] if t.coding == "rans" and t.size else []
        out.append(_finish_decode(buf, t, r, results, verify=verify, dequantize=dequantize))
    return out


def decode(data, *, dequantize: bool = False, verify: bool = True, max_entries: int = DEFAULT_MAX_ENTRIES,
           max_total_entries: int = DEFAULT_MAX_TOTAL_ENTRIES, threads: int | None = None) -> dict[str, np.ndarray]:
    """Decode every tensor of an .anspack file.

    Args:
        data: the file's bytes (bytes, bytearray, memoryview or a uint8 numpy array).
        dequantize: return float32 tensors, applying each tensor's dequantization descriptor
            (float16 tensors are widened; integer tensors without a descriptor stay integers).
        verify: compare each tensor's FxHash26 with the stored checksum (default True).
        max_entries: reject a tensor with more entries than this before allocating anything.
        max_total_entries: reject a file whose tensors hold more entries than this in all.
        threads: decoder threads over tensors and chunks (default: all cores for files of >= 2^18
            entries). The result does not depend on it.

    Returns:
        name -> numpy array, in table order, with the stored names, shapes and dtypes.

    Raises:
        anspack.FormatError: a subclass named as in spec section 14, for any malformed file.
    """
    buf = memoryview(data).cast("B")
    header = container.read_header(buf, max_entries=max_entries, verify=verify)
    total = sum(t.size for t in header.tensors)
    if total > max_total_entries:
        raise LimitExceeded(f"the file's tensors hold {total} entries in all, above the limit "
                            f"max_total_entries={max_total_entries}", offset=container.HEADER_SIZE)
    arrays = _decode_all(buf, header.tensors, verify=verify, dequantize=dequantize, threads=threads)
    return {t.name: a for t, a in zip(header.tensors, arrays)}


def decode_tensor(data, name: str, **options) -> np.ndarray:
    """Decode one tensor by name (the rest of the file is validated but not decoded)."""
    buf = memoryview(data).cast("B")
    header = container.read_header(buf, max_entries=options.get("max_entries", DEFAULT_MAX_ENTRIES),
                                   verify=options.get("verify", True))
    return _decode_all(buf, [header[name]], verify=options.get("verify", True),
                       dequantize=options.get("dequantize", False), threads=options.get("threads"))[0]


def save(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], **options) -> int:
    """Encode ``tensors`` (see :func:`encode`) and write them to ``path``. Returns the file size."""
    data = encode(tensors, **options)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def load(path: str | os.PathLike, **options) -> dict[str, np.ndarray]:
    """Read and decode the .anspack file at ``path`` (see :func:`decode` for the options)."""
    with open(path, "rb") as f:
        data = f.read()
    return decode(data, **options)
