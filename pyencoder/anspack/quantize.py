"""Quantizers: float tensors -> (integers, dequant block) for the entropy coder.

Every quantizer returns a :class:`Quantized`: the integer (or float16/float32) array to store, the
dequant block that maps it back to float32 (spec section 12.1), and ``recon``, the float32 values a
decoder will produce from the two (computed with :mod:`anspack.dequant`, so bit-exact).

Techniques (seed notebooks 000-004, plus what entropy coding changes):

* :func:`symmetric` / :func:`asymmetric`: fixed-width k-bit (2-8) per tensor, row or column, with range
  tuning (``max``, a percentile ``pNN.N`` or the MSE-optimal clip ``mse``) -> AFFINE.
* :func:`uniform`: entropy-constrained uniform quantization with a free step, reconstruction at bin
  centroids and optional rate-distortion-optimized thresholds (``rdo`` = lambda / step^2) -> LUT.
  :func:`uniform_for_snr` / :func:`uniform_for_bits` find the step by bisection for a target weight SNR
  (dB) or coded bits per weight.
* :func:`trellis` / :func:`trellis_for_snr` / :func:`trellis_for_bits`: entropy-constrained trellis-coded (dependent) quantization,
  a Viterbi search over a 4-state trellis of two interleaved grids -> TRELLIS; about 0.1 bit/weight
  below :func:`uniform` at the same SNR.
* :func:`kmeans`: deterministic 1-D k-means codebook (k <= 256, quantile init, fixed iterations) -> LUT.
* :func:`prune` / :func:`prune_global`: magnitude pruning (then quantize; zeros stay exactly zero).
* :func:`to_fp16` / :func:`passthrough`: raw float16 / unchanged tensors.

:func:`quantize` applies a :class:`Scheme` (parsed from text like ``"int4,row"``, ``"snr:30"``,
``"kmeans:16"``, ``"fp16"``, see :func:`parse_scheme`).

    >>> import numpy as np
    >>> x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(4, 16)
    >>> r = quantize(x, parse_scheme("int4,row"))
    >>> r.q.dtype.name, int(abs(r.q).max()), bool(snr_db(x, r.recon) > 20)
    ('int8', 7, True)
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field, replace

import numpy as np
from numba import njit

from . import dequant as dq
from .model import array_entropy_bits, quantize_counts

DEFAULT_PRECISION = 12
MAX_LEVELS = 1 << 15


# ----------------------------------------------------------------------------------------------
# results and metrics


@dataclass
class Quantized:
    """A quantized tensor: ``q`` to store, its dequant ``block`` (b"" for none), ``recon`` = decoded float32."""

    q: np.ndarray
    block: bytes
    recon: np.ndarray
    scheme: str
    info: dict = field(default_factory=dict)


def snr_db(x, r) -> float:
    """Signal-to-noise ratio of the reconstruction ``r`` of ``x`` in dB (inf if exact, 0-signal -> -inf/nan safe)."""
    x = np.asarray(x, dtype=np.float64)
    e = float(np.sum((x - np.asarray(r, dtype=np.float64)) ** 2))
    s = float(np.sum(x * x))
    if e == 0.0:
        return math.inf
    if s == 0.0:
        return -math.inf
    return 10.0 * math.log10(s / e)


entropy_bits = array_entropy_bits  # order-0 entropy of an array's values, bits per entry (model.py)


def coded_bits_from_counts(counts, itemsize: int, *, precision: int = DEFAULT_PRECISION, lanes: int = 4) -> float:
    """Size in bits of the rANS data block for a tensor with these symbol counts (spec sections 7, 9).

    The payload is what the static P-bit model costs (``sum c * log2(2^P / f)``); the rest is the block
    header, lane states, vocabulary and CDF. Accurate to a few words per lane.
    """
    c = np.sort(np.asarray(counts, dtype=np.int64))[::-1]
    c = c[c > 0]
    n = int(c.sum())
    V = c.size
    if n == 0:
        return 24 * 8.0
    if V > (1 << precision):
        return math.inf
    f = quantize_counts(c, n, precision)
    payload = float(np.sum(c * (precision - np.log2(f))))
    L = min(lanes, n)
    vs = V * itemsize + (V * itemsize) % 2
    return payload + 8.0 * (24 + 4 * L + vs + 2 * (V + 1)) + 16.0 * L


def payload_bits(counts, *, precision: int = DEFAULT_PRECISION) -> float:
    """Bits of the rANS-coded symbols alone (``sum c * log2(2^P / f)``, spec section 9 frequencies)."""
    c = np.sort(np.asarray(counts, dtype=np.int64))[::-1]
    c = c[c > 0]
    if c.size <= 1:
        return 0.0
    if c.size > (1 << precision):
        return math.inf
    f = quantize_counts(c, int(c.sum()), precision)
    return float(np.sum(c * (precision - np.log2(f))))


def coded_bits(q, *, precision: int = DEFAULT_PRECISION, lanes: int = 4) -> float:
    """Estimated coded size (bits) of an integer tensor's rANS block; see :func:`coded_bits_from_counts`."""
    q = np.asarray(q)
    _, c = np.unique(q.reshape(-1), return_counts=True)
    return coded_bits_from_counts(c, q.dtype.itemsize, precision=precision, lanes=lanes)


def _int_dtype(lo: int, hi: int) -> np.dtype:
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    raise ValueError("quantized values do not fit int32")


def _finish(q: np.ndarray, block: bytes, scheme: str, **info) -> Quantized:
    recon = dq.dequantize_block(memoryview(block), q, tensor="", offset=0) if block else np.asarray(q, np.float32)
    return Quantized(q, block, recon, scheme, info)


def _as_float(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"quantizers take float tensors, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("tensor has NaN or infinite values")
    return x


# ----------------------------------------------------------------------------------------------
# slices (per tensor / row / column)


def _slices(x: np.ndarray, axis: str) -> tuple[np.ndarray, int | None]:
    """View ``x`` as [slices, entries] for granularity ``axis`` ('tensor', 'row', 'col')."""
    if axis == "tensor" or x.ndim < 2:
        return x.reshape(1, x.size), None
    ax = 0 if axis == "row" else x.ndim - 1
    rest = int(np.prod([d for i, d in enumerate(x.shape) if i != ax], dtype=np.int64))
    return np.moveaxis(x, ax, 0).reshape(x.shape[ax], rest), ax


def _unslice(q2: np.ndarray, shape: tuple[int, ...], ax: int | None) -> np.ndarray:
    if ax is None:
        return q2.reshape(shape)
    moved = (shape[ax],) + tuple(d for i, d in enumerate(shape) if i != ax)
    return np.ascontiguousarray(np.moveaxis(q2.reshape(moved), 0, ax))


@njit(cache=True)
def _clip_search(x2, alphas, nlev, asym):
    """Per slice, the clip factor (from ``alphas``) minimizing the squared error of k-bit quantization."""
    S, m = x2.shape
    best = np.ones(S)
    for r in range(S):
        lo = 0.0
        hi = 0.0
        amax = 0.0
        for j in range(m):
            v = x2[r, j]
            lo = min(lo, v)
            hi = max(hi, v)
            amax = max(amax, abs(v))
        if amax == 0.0:
            continue
        best_e = np.inf
        for a in alphas:
            e = 0.0
            if asym:
                scale = a * (hi - lo) / (nlev - 1)
                zero = np.floor(-a * lo / scale + 0.5)
                for j in range(m):
                    q = np.floor(x2[r, j] / scale + 0.5) + zero
                    q = min(max(q, 0.0), nlev - 1.0)
                    d = x2[r, j] - (q - zero) * scale
                    e += d * d
            else:
                qmax = (nlev - 1) // 2
                scale = a * amax / qmax
                for j in range(m):
                    q = np.floor(x2[r, j] / scale + 0.5)
                    q = min(max(q, -qmax), qmax)
                    d = x2[r, j] - q * scale
                    e += d * d
            if e < best_e:
                best_e = e
                best[r] = a
    return best


def _ranges(x2: np.ndarray, clip: str, nlev: int, asym: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-slice (lo, hi) range after range tuning; always lo <= 0 <= hi."""
    if x2.shape[1] == 0:
        z = np.zeros(x2.shape[0])
        return z, z
    x64 = x2.astype(np.float64)
    if clip == "max":
        lo, hi = x64.min(1), x64.max(1)
    elif clip.startswith("p"):
        p = float(clip[1:])
        if not 50.0 < p <= 100.0:
            raise ValueError(f"percentile clip must be in (50, 100], got {p}")
        if asym:
            lo, hi = np.percentile(x64, 100.0 - p, axis=1), np.percentile(x64, p, axis=1)
        else:
            a = np.percentile(np.abs(x64), p, axis=1)
            lo, hi = -a, a
    elif clip == "mse":
        alphas = np.linspace(0.3, 1.0, 36)
        best = _clip_search(np.ascontiguousarray(x64), alphas, nlev, asym)
        lo, hi = x64.min(1) * best, x64.max(1) * best
        if not asym:
            a = np.maximum(-x64.min(1), x64.max(1)) * best
            lo, hi = -a, a
    else:
        raise ValueError(f"unknown clip {clip!r} (max, mse or pNN.N)")
    if not asym:
        a = np.maximum(np.abs(lo), np.abs(hi))
        lo, hi = -a, a
    return np.minimum(lo, 0.0), np.maximum(hi, 0.0)


# ----------------------------------------------------------------------------------------------
# fixed-width k-bit


def symmetric(x, bits: int, *, axis: str = "row", clip: str = "max") -> Quantized:
    """Symmetric k-bit: ``q = clip(round(x / s), -(2^(k-1)-1), 2^(k-1)-1)``, ``x ~ q * s`` (AFFINE, zero 0)."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be 2..8, got {bits}")
    x = _as_float(x)
    qmax = (1 << (bits - 1)) - 1
    x2, ax = _slices(x, axis)
    _, hi = _ranges(x2, clip, 2 * qmax + 1, False)
    scale = (hi / qmax).astype(np.float32)
    scale[scale == 0] = 1.0
    q2 = np.clip(np.floor(x2.astype(np.float64) / scale[:, None].astype(np.float64) + 0.5), -qmax, qmax)
    q = _unslice(q2.astype(np.int8), x.shape, ax)
    block = dq.affine_block(scale, np.zeros_like(scale), axis=ax)
    return _finish(q, block, f"int{bits},{axis},sym,clip={clip}")


def asymmetric(x, bits: int, *, axis: str = "row", clip: str = "max") -> Quantized:
    """Asymmetric k-bit: ``q in [0, 2^k-1]``, integer zero point, ``x ~ (q - zero) * s`` (AFFINE)."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be 2..8, got {bits}")
    x = _as_float(x)
    nlev = 1 << bits
    x2, ax = _slices(x, axis)
    lo, hi = _ranges(x2, clip, nlev, True)
    scale = ((hi - lo) / (nlev - 1)).astype(np.float32)
    scale[scale == 0] = 1.0
    s64 = scale.astype(np.float64)
    zero = np.clip(np.floor(-lo / s64 + 0.5), 0, nlev - 1)
    q2 = np.clip(np.floor(x2.astype(np.float64) / s64[:, None] + 0.5) + zero[:, None], 0, nlev - 1)
    q = _unslice(q2.astype(np.uint8), x.shape, ax)
    block = dq.affine_block(scale, zero.astype(np.float32), axis=ax)
    return _finish(q, block, f"int{bits},{axis},asym,clip={clip}")


# ----------------------------------------------------------------------------------------------
# entropy-constrained uniform quantization


class _Sorted:
    """A tensor's values sorted, with prefix sums: bin statistics for any thresholds in O(bins log n)."""

    def __init__(self, x: np.ndarray):
        self.v = np.sort(x.astype(np.float64).reshape(-1))
        self.n = self.v.size
        self.s1 = np.concatenate([[0.0], np.cumsum(self.v)])
        self.s2 = np.concatenate([[0.0], np.cumsum(self.v * self.v)])
        self.energy = float(self.s2[-1])
        self.std = float(np.sqrt(self.energy / max(self.n, 1)))

    def bins(self, thresholds: np.ndarray):
        """Counts, sums and sums of squares of the bins cut at ``thresholds`` (x >= t goes up)."""
        cut = np.concatenate([[0], np.searchsorted(self.v, thresholds, side="left"), [self.n]])
        return np.diff(cut), np.diff(self.s1[cut]), np.diff(self.s2[cut])


def _envelope(c: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower envelope of ``(x - c_j)^2 + cost_j`` over levels sorted by ``c``: (kept level indices, thresholds)."""
    keep: list[int] = []
    cuts: list[float] = []
    for j in range(c.size):
        while keep:
            k = keep[-1]
            t = (c[j] ** 2 - c[k] ** 2 + cost[j] - cost[k]) / (2.0 * (c[j] - c[k]))
            if cuts and t <= cuts[-1]:
                keep.pop()
                cuts.pop()
                continue
            cuts.append(t)
            break
        keep.append(j)
    return np.array(keep, dtype=np.int64), np.array(cuts, dtype=np.float64)


def _uniform_design(st: _Sorted, step: float, rdo: float, centroid: bool, iters: int = 8):
    """Design the quantizer for one step: (levels j, reconstruction c_j, thresholds, counts, distortion)."""
    lo = math.floor(st.v[0] / step + 0.5) if st.n else 0
    hi = math.floor(st.v[-1] / step + 0.5) if st.n else 0
    if hi - lo + 1 > MAX_LEVELS:
        raise ValueError(f"step {step:.3g} gives {hi - lo + 1} levels (at most {MAX_LEVELS}); use a larger step")
    j = np.arange(lo, hi + 1, dtype=np.int64)
    c = j * step
    thr = (j[:-1] + 0.5) * step
    lam = rdo * step * step
    for it in range(iters if (rdo > 0 or centroid) else 1):
        cnt, s1, s2 = st.bins(thr)
        if centroid:
            c = np.where(cnt > 0, s1 / np.maximum(cnt, 1), c)
            c[j == 0] = 0.0
        if rdo <= 0 or it == iters - 1:
            break
        live = cnt > 0
        jl, cl = j[live], c[live]
        rate = -np.log2(cnt[live] / st.n)
        keep, thr_l = _envelope(cl, lam * rate)
        j, c = jl[keep], cl[keep]
        thr = thr_l
    cnt, s1, s2 = st.bins(thr)
    live = cnt > 0
    j, c, cnt, s1, s2 = j[live], c[live], cnt[live], s1[live], s2[live]
    thr = _thresholds_for_live(thr, live)
    c32 = c.astype(np.float32).astype(np.float64)
    dist = float(np.sum(s2 - 2.0 * c32 * s1 + c32 * c32 * cnt))
    return j, c32, thr, cnt, max(dist, 0.0)


def _thresholds_for_live(thr: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Drop the thresholds around empty bins (bin b lies between thr[b-1] and thr[b])."""
    idx = np.flatnonzero(live)
    if idx.size <= 1:
        return np.zeros(0)
    # the boundary between consecutive live bins a < b: any threshold between them works (bins between are empty)
    return thr[idx[1:] - 1]


@njit(cache=True)
def _assign(x, thr, labels, out):
    """out[i] = labels[number of thresholds <= x[i]] (binary search; thresholds sorted)."""
    m = thr.size
    for i in range(x.size):
        v = np.float64(x[i])
        lo = 0
        hi = m
        while lo < hi:
            mid = (lo + hi) >> 1
            if thr[mid] <= v:
                lo = mid + 1
            else:
                hi = mid
        out[i] = labels[lo]


def _uniform_apply(x: np.ndarray, j, c32, thr, step: float, rdo: float, centroid: bool) -> Quantized:
    dt = _int_dtype(int(j.min()), int(j.max())) if j.size else np.dtype(np.int8)
    flat = np.zeros(x.size, dtype=dt)
    if j.size:
        _assign(np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(thr, dtype=np.float64),
                j.astype(dt), flat)
    q = flat.reshape(x.shape)
    scheme = f"ecq,step={step:.6g}" + (f",rdo={rdo:g}" if rdo > 0 else "") + ("" if centroid else ",mid")
    if j.size == 0:
        return _finish(q, dq.affine_block(np.float32([step]), np.float32([0])), scheme, step=step)
    if not centroid and rdo <= 0:
        block = dq.affine_block(np.float32([step]), np.float32([0]))
    else:
        base = int(j.min())
        table = (np.arange(base, int(j.max()) + 1) * step).astype(np.float32)
        table[j - base] = c32
        block = dq.lut_block(table, base=base)
    return _finish(q, block, scheme, step=step)


def uniform(x, step: float, *, rdo: float = 0.0, centroid: bool = True) -> Quantized:
    """Entropy-constrained uniform quantization with a free step.

    Bins of width ``step`` around ``j * step``; reconstruction at each bin's centroid (``centroid=True``,
    except the zero bin, which stays exactly 0) or at ``j * step``. ``rdo > 0`` moves the thresholds to
    minimize ``error^2 + rdo * step^2 * bits`` (an entropy-constrained scalar quantizer, a few Lloyd-style
    iterations from the uniform start), which widens the dead zone and empties rare outer bins.
    """
    x = _as_float(x)
    if not step > 0 or not math.isfinite(step):
        raise ValueError(f"step must be a positive number, got {step}")
    st = _Sorted(x)
    j, c32, thr, _, _ = _uniform_design(st, step, rdo, centroid)
    return _uniform_apply(x, j, c32, thr, step, rdo, centroid)


def _bisect_step(st: _Sorted, ok, rdo: float, centroid: bool, iters: int = 36) -> float:
    """Largest step (log-bisection) for which ``ok(design)`` holds; ``ok`` must hold for small steps."""
    base = st.std if st.std > 0 else 1.0
    lo, hi = math.log(base * 2.0 ** -16), math.log(base * 8.0)
    if ok(_uniform_design(st, math.exp(hi), rdo, centroid)):
        return math.exp(hi)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        try:
            good = ok(_uniform_design(st, math.exp(mid), rdo, centroid))
        except ValueError:  # too many levels: step too small
            lo = mid
            continue
        if good:
            lo = mid
        else:
            hi = mid
    return math.exp(lo)


def uniform_for_snr(x, snr: float, *, rdo: float = 0.0, centroid: bool = True) -> Quantized:
    """:func:`uniform` with the largest step whose reconstruction reaches ``snr`` dB (checked exactly)."""
    x = _as_float(x)
    st = _Sorted(x)
    if st.energy == 0.0:
        return replace(uniform(x, 1.0, rdo=rdo, centroid=centroid), scheme=f"ecq,snr={snr:g}")
    max_dist = st.energy / 10.0 ** (snr / 10.0)
    step = _bisect_step(st, lambda d: d[4] <= max_dist * (1 - 1e-6), rdo, centroid)
    for _ in range(60):  # the design's distortion is computed in float64; confirm on the float32 output
        j, c32, thr, _, _ = _uniform_design(st, step, rdo, centroid)
        r = _uniform_apply(x, j, c32, thr, step, rdo, centroid)
        if snr_db(x, r.recon) >= snr or step < st.std * 2.0 ** -16:
            break
        step *= 0.999
    r.scheme = f"ecq,snr={snr:g},step={step:.6g}" + (f",rdo={rdo:g}" if rdo > 0 else "") + ("" if centroid else ",mid")
    return r


def uniform_for_bits(x, bits: float, *, rdo: float = 0.0, centroid: bool = True,
                     precision: int = DEFAULT_PRECISION) -> Quantized:
    """:func:`uniform` with the smallest step whose coded payload is at most ``bits`` per weight.

    The payload is the rANS-coded symbols under the tensor's static P-bit model; the per-tensor side
    information (block header, lane states, vocabulary, CDF, dequant table: a few hundred bytes) is
    not counted, so that tiny tensors still get a sensible step.
    """
    x = _as_float(x)
    st = _Sorted(x)
    n = max(st.n, 1)
    if st.energy == 0.0:
        return replace(uniform(x, 1.0, rdo=rdo, centroid=centroid), scheme=f"ecq,bpw={bits:g}")

    def rate(d) -> float:  # the entropy-coded payload: what the static P-bit model costs
        return payload_bits(d[3], precision=precision)

    step = _bisect_step(st, lambda d: rate(d) > bits * n, rdo, centroid)
    # _bisect_step found the largest step still *over* budget; move just past it
    step *= 1.0 + 2.0 ** -20
    for _ in range(200):
        d = _uniform_design(st, step, rdo, centroid)
        if rate(d) <= bits * n:
            break
        step *= 1.01
    j, c32, thr, _, _ = _uniform_design(st, step, rdo, centroid)
    r = _uniform_apply(x, j, c32, thr, step, rdo, centroid)
    r.scheme = f"ecq,bpw={bits:g},step={step:.6g}" + (f",rdo={rdo:g}" if rdo > 0 else "") + ("" if centroid else ",mid")
    return r


# ----------------------------------------------------------------------------------------------
# trellis-coded (dependent) quantization


TCQ_CHUNK = 1024
TCQ_DEFAULT_A = 0.2


@njit(cache=True)
def _tcq_pass(x, step, lam, bits, kmin, big, next_state, out):
    """Viterbi over the 4-state trellis of spec 12.1 kind 4, chunk by chunk (the state carries over).

    Minimizes sum (x - v)^2 + lam * bits[k - kmin]; candidates per state: the two nearest levels of
    the state's grid and zero (only zero for an exact 0, so pruned weights stay 0). Writes the chosen k
    into ``out``.
    """
    n = x.size
    nb = bits.size
    bp_s = np.zeros((TCQ_CHUNK, 4), np.int8)
    bp_k = np.zeros((TCQ_CHUNK, 4), np.int64)
    cost = np.empty(4)
    nc = np.empty(4)
    cands = np.empty(3, np.int64)
    s0 = 0
    for start in range(0, n, TCQ_CHUNK):
        end = min(n, start + TCQ_CHUNK)
        for s in range(4):
            cost[s] = np.inf
        cost[s0] = 0.0
        for i in range(start, end):
            v = x[i]
            for s in range(4):
                nc[s] = np.inf
            for s in range(4):
                if cost[s] == np.inf:
                    continue
                if s < 2:
                    k0 = np.int64(np.floor(v / (2.0 * step)))
                    cands[0] = k0
                    cands[1] = k0 + 1
                else:
                    o = np.int64(np.floor(v / step))
                    if o % 2 == 0:
                        o0 = o - 1
                        o1 = o + 1
                    else:
                        o0 = o
                        o1 = o + 2
                    cands[0] = (o0 + 1) // 2 if o0 > 0 else (o0 - 1) // 2
                    cands[1] = (o1 + 1) // 2 if o1 > 0 else (o1 - 1) // 2
                cands[2] = 0
                for c in range(3 if v != 0.0 else 1):   # exact zeros (pruned weights) stay 0
                    k = cands[c] if v != 0.0 else 0
                    if s < 2:
                        r = 2 * k
                    elif k > 0:
                        r = 2 * k - 1
                    elif k < 0:
                        r = 2 * k + 1
                    else:
                        r = 0
                    d = v - r * step
                    j = k - kmin
                    b = bits[j] if 0 <= j < nb else big
                    total = cost[s] + d * d + lam * b
                    ns = next_state[s, k & 1]
                    if total < nc[ns]:
                        nc[ns] = total
                        bp_s[i - start, ns] = s
                        bp_k[i - start, ns] = k
            for s in range(4):
                cost[s] = nc[s]
        best = 0
        for s in range(1, 4):
            if cost[s] < cost[best]:
                best = s
        s0 = best
        s = best
        for i in range(end - 1, start - 1, -1):
            out[i] = bp_k[i - start, s]
            s = bp_s[i - start, s]


def _tcq_run(flat64: np.ndarray, step: float, a: float, bits=None, kmin: int = 0, iters: int = 3):
    """Run the trellis search (rate model re-estimated ``iters`` times): (k, bits model, kmin)."""
    out = np.zeros(flat64.size, np.int64)
    lam = a * step * step
    for it in range(iters):
        if bits is None:
            _tcq_pass(flat64, step, 0.0, np.zeros(1), 0, 0.0, dq.TRELLIS_NEXT, out)
        else:
            _tcq_pass(flat64, step, lam, bits, kmin, float(bits.max()) + 4.0, dq.TRELLIS_NEXT, out)
        if out.size == 0:
            break
        kmin = int(out.min())
        cnt = np.bincount(out - kmin)
        bits = np.where(cnt > 0, -np.log2(np.maximum(cnt, 1) / out.size), 0.0)
        bits[cnt == 0] = bits.max() + 4.0
    return out, bits, kmin


def _tcq_result(x: np.ndarray, k: np.ndarray, step: float, scheme: str) -> Quantized:
    lo, hi = (int(k.min()), int(k.max())) if k.size else (0, 0)
    q = k.astype(_int_dtype(lo, hi)).reshape(x.shape)
    return _finish(q, dq.trellis_block(np.float32(step)), scheme, step=step)


def trellis(x, step: float, *, a: float = TCQ_DEFAULT_A) -> Quantized:
    """Entropy-constrained trellis-coded quantization (spec 12.1 kind 4) with step ``step``.

    A Viterbi search over the 4-state trellis picks each integer to minimize squared error plus
    ``a * step^2`` times its bits under the tensor's own order-0 model (re-estimated over 3 passes).
    """
    x = _as_float(x)
    if not step > 0 or not math.isfinite(step):
        raise ValueError(f"step must be a positive number, got {step}")
    step = float(np.float32(step))
    flat = x.astype(np.float64).reshape(-1)
    k, _, _ = _tcq_run(flat, step, a)
    return _tcq_result(x, k, step, f"ecq,step={step:.6g},tcq" + (f",rdo={a:g}" if a != TCQ_DEFAULT_A else ""))


def _tcq_snr(flat64, k, step) -> float:
    r = dq.trellis_levels(k, dq.TRELLIS_NEXT).astype(np.float32) * np.float32(step)
    return snr_db(flat64, r)


def _subset(flat: np.ndarray, limit: int = 1 << 18) -> np.ndarray:
    """Evenly spaced contiguous blocks of a long tensor (for a quick step search)."""
    if flat.size <= limit:
        return flat
    blocks = limit // 4096
    starts = np.linspace(0, flat.size - 4096, blocks).astype(np.int64)
    return np.concatenate([flat[s:s + 4096] for s in starts])


def trellis_for_snr(x, snr: float, *, a: float = TCQ_DEFAULT_A) -> Quantized:
    """:func:`trellis` with (nearly) the largest step whose reconstruction reaches ``snr`` dB."""
    x = _as_float(x)
    flat = x.astype(np.float64).reshape(-1)
    energy = float(np.sum(flat * flat))
    tag = f"ecq,snr={snr:g}"
    if energy == 0.0 or flat.size == 0:
        return _tcq_result(x, np.zeros(flat.size, np.int64), 1.0, tag + ",step=1,tcq")
    sub = _subset(flat)
    std = math.sqrt(float(np.mean(sub * sub))) or math.sqrt(energy / flat.size)
    # safeguarded Newton on log(step): about -8.69 dB per unit of log(step) (6.02 dB per octave)
    lo, hi = math.log(std * 2.0 ** -14), math.log(std * 8.0)   # SNR(lo) >= target > SNR(hi) assumed
    ls = math.log(max(std * math.sqrt(3.0 * 10.0 ** (-snr / 10.0)), std * 2.0 ** -13))
    for _ in range(24):
        stp = float(np.float32(math.exp(ls)))
        k, _, _ = _tcq_run(sub, stp, a)
        got = _tcq_snr(sub, k, stp)
        if got >= snr:
            lo = ls
            if got - snr < 0.004:
                break
        else:
            hi = ls
        if hi - lo < 1e-4:
            break
        nxt = ls + (got - snr - 0.004) / 8.69
        ls = nxt if lo < nxt < hi else 0.5 * (lo + hi)
    step = float(np.float32(math.exp(lo)))
    best = None
    for _ in range(12):   # confirm on the whole tensor; about 8.7 dB per factor e of the step
        k, _, _ = _tcq_run(flat, step, a)
        got = _tcq_snr(flat, k, step)
        if got >= snr:
            if best is None or step > best[0]:
                best = (step, k)
            if got - snr < 0.008:
                break
            step = float(np.float32(step * math.exp((got - snr - 0.003) / 8.69)))
        else:
            step = float(np.float32(step * math.exp((got - snr - 0.005) / 8.69)))
            if best is not None and step <= best[0]:
                break
    if best is None:  # pragma: no cover - the loop above converges long before
        raise ValueError(f"could not reach {snr} dB with trellis quantization")
    step, k = best
    return _tcq_result(x, k, step, tag + f",step={step:.6g},tcq" + (f",rdo={a:g}" if a != TCQ_DEFAULT_A else ""))


def trellis_for_bits(x, bits: float, *, a: float = TCQ_DEFAULT_A, precision: int = DEFAULT_PRECISION) -> Quantized:
    """:func:`trellis` with (nearly) the smallest step whose coded payload is at most ``bits`` per weight."""
    x = _as_float(x)
    flat = x.astype(np.float64).reshape(-1)
    energy = float(np.sum(flat * flat))
    tag = f"ecq,bpw={bits:g}"
    if energy == 0.0 or flat.size == 0:
        return _tcq_result(x, np.zeros(flat.size, np.int64), 1.0, tag + ",step=1,tcq")

    def rate(k) -> float:
        return payload_bits(np.bincount(k - k.min()), precision=precision) / k.size

    sub = _subset(flat)
    std = math.sqrt(float(np.mean(sub * sub))) or math.sqrt(energy / flat.size)
    lo, hi = math.log(std * 2.0 ** -14), math.log(std * 8.0)   # rate(lo) > target >= rate(hi) assumed
    ls = math.log(std) - bits * math.log(2.0) + 0.5
    for _ in range(24):   # safeguarded Newton on log(step): about -1/ln 2 bits per unit of log(step)
        stp = float(np.float32(math.exp(ls)))
        got = rate(_tcq_run(sub, stp, a)[0])
        if got <= bits:
            hi = ls
            if bits - got < 0.002:
                break
        else:
            lo = ls
        if hi - lo < 1e-4:
            break
        nxt = ls + (got - bits + 0.001) * math.log(2.0)
        ls = nxt if lo < nxt < hi else 0.5 * (lo + hi)
    step = float(np.float32(math.exp(hi)))
    best = None
    for _ in range(12):   # confirm on the whole tensor
        k, _, _ = _tcq_run(flat, step, a)
        got = rate(k)
        if got <= bits:
            if best is None or step < best[0]:
                best = (step, k)
            if bits - got < 0.004:
                break
        elif best is not None and step >= best[0]:
            break
        step = float(np.float32(step * math.exp((got - bits + 0.001) * math.log(2.0))))
    if best is None:  # pragma: no cover
        raise ValueError(f"could not reach {bits} bits/weight with trellis quantization")
    step, k = best
    return _tcq_result(x, k, step, tag + f",step={step:.6g},tcq" + (f",rdo={a:g}" if a != TCQ_DEFAULT_A else ""))


# ----------------------------------------------------------------------------------------------
# k-means codebooks


def kmeans(x, k: int, *, iters: int = 30, pin_zero: bool = False) -> Quantized:
    """Deterministic 1-D k-means (Lloyd) codebook: ids (uint8) + LUT of float32 centroids.

    Centroids start at the quantiles ``(i + 0.5) / k`` of the values (duplicates merged), then ``iters``
    Lloyd iterations (stopping early once nothing moves); empty clusters keep their centroid.
    ``pin_zero`` keeps one centroid at exactly 0 (for pruned tensors).
    """
    if not 1 <= k <= 256:
        raise ValueError(f"k must be 1..256, got {k}")
    x = _as_float(x)
    st = _Sorted(x)
    if st.n == 0:
        return _finish(np.zeros(x.shape, np.uint8), dq.lut_block([0.0]), f"kmeans={k}")
    pos = np.minimum(((np.arange(k) + 0.5) / k * st.n).astype(np.int64), st.n - 1)
    c = np.unique(st.v[pos])
    if pin_zero and not np.any(c == 0.0):
        c = np.unique(np.concatenate([c, [0.0]]))
        if c.size > k:  # drop the centroid nearest to zero's neighbour to stay within k
            z = int(np.flatnonzero(c == 0.0)[0])
            drop = z - 1 if z > 0 and (z + 1 >= c.size or abs(c[z - 1]) < abs(c[z + 1])) else z + 1
            c = np.delete(c, drop)
    for _ in range(iters):
        thr = 0.5 * (c[:-1] + c[1:])
        cnt, s1, _ = st.bins(thr)
        new = np.where(cnt > 0, s1 / np.maximum(cnt, 1), c)
        if pin_zero:
            new[c == 0.0] = 0.0
        new = np.maximum.accumulate(new)  # keep sorted (ties only from empty clusters)
        if np.array_equal(new, c):
            break
        c = new
    c32 = np.unique(c.astype(np.float32))
    thr = 0.5 * (c32[:-1].astype(np.float64) + c32[1:].astype(np.float64))
    ids = np.zeros(x.size, dtype=np.uint8)
    _assign(np.ascontiguousarray(x).reshape(-1), thr, np.arange(c32.size).astype(np.uint8), ids)
    q = ids.reshape(x.shape)
    return _finish(q, dq.lut_block(c32, base=0), f"kmeans={k}", clusters=int(c32.size))


# ----------------------------------------------------------------------------------------------
# pruning and passthrough


def prune(x, percent: float) -> np.ndarray:
    """Zero the ``percent`` % smallest-magnitude entries (ties broken by position); returns a copy."""
    if not 0 <= percent <= 100:
        raise ValueError(f"prune percent must be 0..100, got {percent}")
    x = np.array(x, dtype=np.float32, copy=True)
    k = int(math.floor(x.size * percent / 100.0))
    if k:
        flat = x.reshape(-1)
        flat[np.argsort(np.abs(flat), kind="stable")[:k]] = 0.0
    return x


def prune_global(tensors: dict, percent: float) -> tuple[dict, float]:
    """Magnitude pruning with one threshold over all given tensors: (pruned copies, threshold).

    Entries with ``|x| <= threshold`` become 0, where the threshold is the magnitude of rank
    ``floor(N * percent / 100)`` over all N entries (ties may prune slightly more).
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"prune percent must be 0..100, got {percent}")
    mags = np.concatenate([np.abs(np.asarray(v, np.float32)).reshape(-1) for v in tensors.values()]) \
        if tensors else np.zeros(0, np.float32)
    k = int(math.floor(mags.size * percent / 100.0))
    if k == 0:
        return {n: np.array(v, np.float32) for n, v in tensors.items()}, -1.0
    thr = float(np.partition(mags, k - 1)[k - 1])
    out = {}
    for n, v in tensors.items():
        a = np.array(v, dtype=np.float32, copy=True)
        a[np.abs(a) <= thr] = 0.0
        out[n] = a
    return out, thr


def to_fp16(x) -> Quantized:
    """Store as IEEE float16 (raw); decoders widen it to float32 exactly."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and np.any(np.abs(x[np.isfinite(x)]) > 65504):
        raise ValueError("values beyond the float16 range (65504)")
    h = x.astype(np.float16)
    return Quantized(h, b"", h.astype(np.float32), "fp16")


def passthrough(x) -> Quantized:
    """Store unchanged (float32, or an integer dtype losslessly)."""
    x = np.asarray(x)
    if x.dtype.name in ("float16", "float32"):
        return Quantized(x, b"", x.astype(np.float32), "keep")
    if x.dtype.kind == "f":
        x32 = x.astype(np.float32)
        return Quantized(x32, b"", x32, "fp32")
    return Quantized(x, b"", x, "keep")


# ----------------------------------------------------------------------------------------------
# schemes and rules


@dataclass(frozen=True)
class Scheme:
    """What to do with one tensor. ``method``: keep, fp16, fp32, int, ecq, kmeans."""

    method: str = "ecq"
    bits: int = 8
    axis: str = "row"
    asym: bool = False
    clip: str = "max"
    step: float | None = None
    snr: float | None = None
    bpw: float | None = None
    rdo: float = 0.0
    centroid: bool = True
    k: int = 16
    iters: int = 30
    prune: float = 0.0
    tcq: bool = False

    def __str__(self) -> str:
        p = f"prune={self.prune:g}," if self.prune else ""
        if self.method in ("keep", "fp16", "fp32"):
            return p + self.method
        if self.method == "int":
            return p + f"int{self.bits},{self.axis},{'asym' if self.asym else 'sym'},clip={self.clip}"
        if self.method == "kmeans":
            return p + f"kmeans={self.k}"
        target = (f"step={self.step:g}" if self.step is not None else f"snr={self.snr:g}" if self.snr is not None
                  else f"bpw={self.bpw:g}")
        if self.tcq:
            return p + "ecq," + target + ",tcq" + (f",rdo={self.rdo:g}" if self.rdo else "")
        return p + "ecq," + target + (f",rdo={self.rdo:g}" if self.rdo else "") + ("" if self.centroid else ",mid")


def parse_scheme(text: str, base: Scheme | None = None) -> Scheme:
    """Parse a scheme, e.g. ``fp16``, ``int4,row``, ``int8,col,asym,clip=mse``, ``snr:30``,
    ``step=0.01,rdo=0.1``, ``bpw:3``, ``kmeans:16``, ``prune:30,int8``.

    Tokens are separated by commas; a value follows ``:`` or ``=``. ``keep`` (or ``raw``) stores a tensor
    unchanged, ``fp32`` as float32, ``fp16`` as float16. Raises ValueError on anything unknown.

        >>> str(parse_scheme("int4,row"))
        'int4,row,sym,clip=max'
        >>> str(parse_scheme("snr:30,rdo:0.1"))
        'ecq,snr=30,rdo=0.1'
    """
    s = base or Scheme()
    kw: dict = {}
    method = None
    text = text.strip()
    if not text:
        raise ValueError("empty scheme")
    for tok in text.split(","):
        tok = tok.strip().lower()
        key, _, val = tok.replace("=", ":").partition(":")
        try:
            if key in ("keep", "raw", "fp16", "fp32", "float32", "float16") and not val:
                method = {"raw": "keep", "float32": "fp32", "float16": "fp16"}.get(key, key)
            elif key.startswith(("int", "uint")) and key.lstrip("uint").isdigit() and not val:
                method, kw["bits"] = "int", int(key.lstrip("uint"))
                if key.startswith("uint"):
                    kw["asym"] = True
            elif key == "bits":
                method, kw["bits"] = "int", int(val)
            elif key in ("row", "col", "tensor") and not val:
                kw["axis"] = key
            elif key in ("per-row", "per-col", "per-tensor") and not val:
                kw["axis"] = key[4:]
            elif key in ("asym", "sym") and not val:
                kw["asym"] = key == "asym"
            elif key == "clip":
                kw["clip"] = val
            elif key == "step":
                method, kw["step"], kw["snr"], kw["bpw"] = "ecq", float(val), None, None
            elif key == "snr":
                method, kw["snr"], kw["step"], kw["bpw"] = "ecq", float(val), None, None
            elif key in ("bpw", "rate"):
                method, kw["bpw"], kw["step"], kw["snr"] = "ecq", float(val), None, None
            elif key == "ecq" and not val:
                method = "ecq"
            elif key == "rdo":
                kw["rdo"] = float(val)
            elif key == "mid" and not val:
                kw["centroid"] = False
            elif key == "tcq" and not val:
                method, kw["tcq"] = "ecq", True
            elif key == "kmeans":
                method, kw["k"] = "kmeans", int(val) if val else s.k
            elif key == "iters":
                kw["iters"] = int(val)
            elif key == "prune":
                kw["prune"] = float(val)
            else:
                raise ValueError
        except ValueError as e:
            if str(e).startswith("scheme "):
                raise
            raise ValueError(f"bad scheme token {tok!r} in {text!r}") from None
    out = replace(s, **kw, **({"method": method} if method else {}))
    if out.tcq and out.step is None and out.snr is None and out.bpw is None and re.search(r"(^|,)\s*(u?int\d|bits[:=])", text.lower()):
        raise ValueError(f"scheme {text!r}: tcq goes with a free step (snr:, step: or bpw:; "
                         "--target-snr, --step or --target-bits), not with fixed-width int")
    if out.method == "ecq" and out.step is None and out.snr is None and out.bpw is None:
        raise ValueError(f"scheme {text!r}: ecq needs step=, snr= or bpw=")
    if out.tcq and out.method != "ecq":
        raise ValueError(f"scheme {text!r}: tcq goes with step=, snr= or bpw=")
    if out.method == "int" and not 2 <= out.bits <= 8:
        raise ValueError(f"scheme {text!r}: bits must be 2..8")
    if out.method == "kmeans" and not 1 <= out.k <= 256:
        raise ValueError(f"scheme {text!r}: kmeans k must be 1..256")
    if out.clip != "max" and out.clip != "mse" and not (out.clip.startswith("p") and _isfloat(out.clip[1:])):
        raise ValueError(f"scheme {text!r}: clip must be max, mse or pNN.N")
    if not 0 <= out.prune < 100:
        raise ValueError(f"scheme {text!r}: prune must be in [0, 100)")
    for name in ("step", "snr", "bpw"):
        v = getattr(out, name)
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise ValueError(f"scheme {text!r}: {name} must be a positive number"
                             + (" (a target SNR in dB above 0)" if name == "snr" else ""))
    return out


def _isfloat(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def quantize(x, scheme: Scheme | str, *, pruned: bool = False, precision: int = DEFAULT_PRECISION) -> Quantized:
    """Quantize one tensor with a scheme (a :class:`Scheme` or its text).

    ``pruned``: the tensor was already pruned elsewhere (global pruning); zeros are kept exact.
    """
    if isinstance(scheme, str):
        scheme = parse_scheme(scheme)
    x = np.asarray(x)
    if scheme.method == "keep":
        return passthrough(x)
    if x.dtype.kind != "f":
        raise TypeError(f"scheme {scheme} needs a float tensor, got {x.dtype}")
    if scheme.prune:
        x = prune(x, scheme.prune)
        pruned = True
    if scheme.method == "fp16":
        r = to_fp16(x)
    elif scheme.method == "fp32":
        x32 = x.astype(np.float32)
        r = Quantized(x32, b"", x32, "fp32")
    elif scheme.method == "int":
        f = asymmetric if scheme.asym else symmetric
        r = f(x, scheme.bits, axis=scheme.axis, clip=scheme.clip)
    elif scheme.method == "kmeans":
        r = kmeans(x, scheme.k, iters=scheme.iters, pin_zero=pruned)
    elif scheme.method == "ecq" and scheme.tcq:
        a = scheme.rdo if scheme.rdo > 0 else TCQ_DEFAULT_A
        if scheme.step is not None:
            r = trellis(x, scheme.step, a=a)
        elif scheme.snr is not None:
            r = trellis_for_snr(x, scheme.snr, a=a)
        else:
            r = trellis_for_bits(x, scheme.bpw, a=a, precision=precision)
    elif scheme.method == "ecq":
        if scheme.step is not None:
            r = uniform(x, scheme.step, rdo=scheme.rdo, centroid=scheme.centroid)
        elif scheme.snr is not None:
            r = uniform_for_snr(x, scheme.snr, rdo=scheme.rdo, centroid=scheme.centroid)
        else:
            r = uniform_for_bits(x, scheme.bpw, rdo=scheme.rdo, centroid=scheme.centroid, precision=precision)
    else:  # pragma: no cover - parse_scheme only makes the methods above
        raise ValueError(f"unknown method {scheme.method}")
    if scheme.prune:
        r.scheme = f"prune={scheme.prune:g}," + r.scheme
    return r


def default_scheme_for(name: str, arr: np.ndarray, base: Scheme) -> Scheme:
    """Built-in rules: non-float tensors are kept losslessly, 0-D/1-D float tensors (biases, LayerNorm)
    become float16, everything else gets ``base``."""
    a = np.asarray(arr)
    if a.dtype.kind != "f":
        return Scheme(method="keep")
    if a.ndim <= 1:
        return Scheme(method="fp16")
    return base


def parse_rules(rules: list[str]) -> list[tuple[str, Scheme]]:
    """``GLOB=SPEC`` strings -> [(glob, Scheme)]. The first ``=`` splits the glob from the scheme."""
    out = []
    for r in rules:
        glob, sep, spec = r.partition("=")
        if not sep or not glob.strip() or not spec.strip():
            raise ValueError(f"rule {r!r} is not GLOB=SCHEME (e.g. '*.bias=fp16')")
        out.append((glob.strip(), parse_scheme(spec)))
    return out


def choose_scheme(name: str, arr: np.ndarray, rules: list[tuple[str, Scheme]], base: Scheme) -> Scheme:
    """The first rule whose glob matches ``name`` (fnmatch, case-sensitive), else the built-in default.

    A rule with wildcards (``*``, ``?``, ``[``) and a scheme other than ``keep`` passes over tensors that
    are not floats (``'embeddings.*=snr:30'`` leaves an int64 ``embeddings.position_ids`` to the
    defaults, which keep it); a rule naming one tensor exactly applies to it whatever its dtype (and
    encoding then says that the scheme needs floats)."""
    is_float = np.asarray(arr).dtype.kind == "f"
    for glob, scheme in rules:
        if not fnmatch.fnmatchcase(name, glob):
            continue
        if not is_float and scheme.method != "keep" and any(c in glob for c in "*?["):
            continue
        return scheme
    return default_scheme_for(name, arr, base)
