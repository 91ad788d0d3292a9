"""Bit allocation: one quantizer step per tensor, chosen for the task.

Model: each float tensor ``t`` gets entropy-constrained uniform quantization with its own step ``s_t``
(reconstruction at bin centroids, :func:`anspack.quantize.uniform`), optionally on column-scaled
weights ``W · d`` (``d`` from calibration input statistics, see
:func:`anspack.eval.sensitivity.column_scales`; stored as a SCALED_LUT dequant block with
``scale = 1/d`` per column), or float16 / float32 storage. For every candidate step the coded size
``R_t(s)`` (rANS payload + vocabulary + CDF + dequant block) and the per-weight squared error
``mse_t(s)`` are computed exactly from the sorted weights, and the task distortion is modelled as

    D = Σ_t g_t · mse_t(s_t)

with ``g_t`` the measured task gain (:func:`anspack.eval.sensitivity.perturbation_gains`). The
allocation minimizes ``Σ R_t + λ D`` tensor by tensor (every tensor at the same slope ``dD/dR = -1/λ``:
equal marginal return) and bisects ``λ`` to meet either a whole-file bit budget (``target_bits``, in
bits per weight over every entry of the file, headers included) or a distortion target with the fewest
bits (``target_distortion``, e.g. ``1 - 0.99`` for a mean embedding cosine of 0.99). With a task at hand
the distortion target is checked on the real model and tightened until it holds on the calibration set.

Typical use (what ``anspack encode --target-bits 3.5 --calibration builtin`` does)::

    from anspack.eval.allocate import allocate
    alloc = allocate(tensors, target_bits=3.5, calibration="builtin")
    quantized = alloc.quantize(tensors)     # name -> anspack.quantize.Quantized (q, block, recon, scheme)
    data = alloc.encode(tensors)            # or: the whole .anspack file
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .. import dequant as dq
from .. import quantize as qz

DEFAULT_PRECISION = 14
LANES = 4
# candidate steps: rms * 2^(k/4) for k in STEP_RANGE (2^-12 rms … 8 rms, a quarter octave apart)
STEP_RANGE = range(-48, 13)
META_BYTES_PER_TENSOR = 64  # estimate of the metadata JSON ("anspack.schemes") per tensor


@dataclass
class Option:
    """One way to store a tensor: ``kind`` is ``ecq`` (with ``step``; reconstruction at bin centroids
    through a lookup table, or at the bin midpoints ``j·step`` through an affine block when ``mid``),
    ``fp16`` or ``fp32``."""

    kind: str
    step: float | None
    bits: float          # estimated coded size of the data block + dequant block, in bits
    mse: float           # per-weight squared error in the (column-scaled) quantization domain
    mid: bool = False
    gptq: bool = False   # data-aware rounding (anspack.eval.gptq); mse is then the output-equivalent error

    def describe(self) -> str:
        if self.kind != "ecq":
            return self.kind
        return f"ecq,step={self.step:.6g}" + (",gptq" if self.gptq else ",mid" if self.mid else "")


@dataclass
class TensorPlan:
    name: str
    option: Option
    n: int
    gain: float
    col_scale: np.ndarray | None = None
    gram: np.ndarray | None = None

    @property
    def distortion(self) -> float:
        return self.gain * self.option.mse

    @property
    def bits_per_weight(self) -> float:
        return self.option.bits / max(self.n, 1)


@dataclass
class Allocation:
    plans: dict[str, TensorPlan]
    fixed_bits: float            # non-float tensors, headers, table, metadata estimate
    n_entries: int               # every entry of the file (the bits/weight denominator)
    lam: float
    rdo: float = 0.0
    history: list = field(default_factory=list)
    trellis: set = field(default_factory=set)     # tensors realized with trellis-coded quantization
    cache: dict = field(default_factory=dict, repr=False)
    realized: dict = field(default_factory=dict, repr=False)
    realized_snr: dict = field(default_factory=dict, repr=False)

    def target_snr(self, name: str, x: np.ndarray) -> float:
        """The weight SNR (dB) of the planned error of tensor ``name``."""
        x64 = np.asarray(x, np.float64)
        e = float(np.mean(x64 * x64)) if x64.size else 0.0
        mse = self.plans[name].option.mse
        return 10.0 * math.log10(e / mse) if mse > 0 and e > 0 else 99.0

    @property
    def est_bits(self) -> float:
        return self.fixed_bits + sum(p.option.bits for p in self.plans.values())

    @property
    def est_bits_per_weight(self) -> float:
        return self.est_bits / max(self.n_entries, 1)

    @property
    def est_distortion(self) -> float:
        return sum(p.distortion for p in self.plans.values())

    def schemes(self) -> dict[str, str]:
        out = {}
        for n, p in self.plans.items():
            s = p.option.describe()
            if p.col_scale is not None and p.option.kind == "ecq":
                s += ",colscale"
            if self.rdo and p.option.kind == "ecq":
                s += f",rdo={self.rdo:g}"
            if n in self.trellis:
                s = self.realized.get(n, "ecq,tcq")
            out[n] = s
        return out

    def rules(self) -> list[str]:
        """``NAME=SCHEME`` rules for :func:`anspack.quantize.parse_rules` / ``anspack encode --rule``.

        Exact for per-tensor steps; tensors planned with column scales (not expressible as a rule) get
        their step in the unscaled domain divided by the RMS column scale, an approximation. Prefer
        :meth:`quantize`."""
        out = []
        for n, p in self.plans.items():
            o = p.option
            if n in self.trellis and n in self.realized_snr:
                out.append(f"{n}=snr:{self.realized_snr[n]!r},tcq")
                continue
            if o.kind == "ecq":
                step = o.step
                if p.col_scale is not None:
                    step = o.step / float(np.sqrt(np.mean(np.asarray(p.col_scale, np.float64) ** 2)))
                out.append(f"{n}=step:{step!r}" + (f",rdo:{self.rdo!r}" if self.rdo else "")
                           + (",mid" if o.mid else ""))
            else:
                out.append(f"{n}={o.kind}")
        return out

    def quantize_one(self, name: str, x: np.ndarray) -> "qz.Quantized":
        p = self.plans[name]
        x = np.asarray(x)
        if p.option.kind == "fp16":
            return qz.to_fp16(x)
        if p.option.kind == "fp32":
            return qz.passthrough(x.astype(np.float32))
        x32 = x.astype(np.float32)
        step = p.option.step
        if p.option.gptq:
            from .gptq import gptq_round

            q = gptq_round(x32, p.gram, step)
            q = q.astype(qz._int_dtype(int(q.min()), int(q.max())) if q.size else np.int8)
            block = dq.affine_block(np.float32([step]))
            recon = dq.dequantize_block(memoryview(block), q, tensor=name, offset=0)
            return qz.Quantized(q, block, recon, f"ecq,step={step:.6g},gptq", {"step": step})
        if name in self.trellis:  # trellis-coded quantization at the planned error (fewer bits)
            key = (name, round(self.target_snr(name, x32), 4))
            if key not in self.cache:
                self.cache[key] = qz.trellis_for_snr(x32, key[1])
            self.realized[name] = self.cache[key].scheme
            self.realized_snr[name] = key[1]
            return self.cache[key]
        if p.option.mid:  # bin midpoints j * step: an AFFINE block (one scale, or one per column)
            d = np.ones(1, np.float32) if p.col_scale is None else np.asarray(p.col_scale, np.float32)
            r = qz.uniform(x32 * d if p.col_scale is not None else x32, step, rdo=self.rdo, centroid=False)
            if p.col_scale is None:
                block = dq.affine_block(np.float32([step]))
            else:
                block = dq.affine_block((np.float32(step) / d).astype(np.float32), axis=x.ndim - 1)
            recon = dq.dequantize_block(memoryview(block), r.q, tensor=name, offset=0)
            return qz.Quantized(r.q, block, recon, r.scheme + (",colscale" if p.col_scale is not None else ""),
                                dict(r.info))
        if p.col_scale is None:
            return qz.uniform(x32, step, rdo=self.rdo)
        d = np.asarray(p.col_scale, np.float32)
        r = qz.uniform(x32 * d, step, rdo=self.rdo)
        desc = dq.parse_block(memoryview(r.block), shape=r.q.shape, tensor=name, offset=0)
        if desc.kind == dq.KIND_LUT:
            table, base = desc.table, desc.base
        else:  # affine with zero = 0 (no live levels to move): plain multiples of the step
            base = int(r.q.min()) if r.q.size else 0
            hi = int(r.q.max()) if r.q.size else 0
            table = (np.arange(base, hi + 1, dtype=np.float64) * float(desc.scale[0])).astype(np.float32)
        inv = (np.float32(1.0) / d).astype(np.float32)
        block = dq.scaled_lut_block(table, inv, base=base, axis=x.ndim - 1)
        recon = dq.dequantize_block(memoryview(block), r.q, tensor=name, offset=0)
        return qz.Quantized(r.q, block, recon, r.scheme + ",colscale", dict(r.info, col_scale=True))

    def quantize(self, tensors: Mapping[str, np.ndarray]) -> dict[str, "qz.Quantized"]:
        """Quantize every planned tensor (tensors without a plan are left out)."""
        return {n: self.quantize_one(n, tensors[n]) for n in self.plans}

    def encode(self, tensors: Mapping[str, np.ndarray], *, metadata: dict | None = None,
               quantized: Mapping[str, "qz.Quantized"] | None = None) -> bytes:
        """The whole .anspack file: planned tensors quantized, the others stored losslessly."""
        return encode_with(tensors, quantized if quantized is not None else self.quantize(tensors),
                           metadata=metadata, schemes=self.schemes())


def encode_with(tensors: Mapping[str, np.ndarray], quantized: Mapping[str, "qz.Quantized"], *,
                metadata: dict | None = None, schemes: Mapping[str, str] | None = None) -> bytes:
    """Write an .anspack file from per-tensor :class:`~anspack.quantize.Quantized` results; tensors not
    in ``quantized`` are stored losslessly (int64 that fits int32 as int32, original dtype recorded)."""
    import anspack

    q, blocks, raw, dtypes = {}, {}, [], {}
    for name, arr in tensors.items():
        if name in quantized:
            r = quantized[name]
            q[name] = r.q
            if r.block:
                blocks[name] = r.block
            if np.asarray(arr).dtype != (np.float32 if r.block else r.q.dtype):
                dtypes[name] = np.asarray(arr).dtype.name
        else:
            a = _storable(name, np.asarray(arr))
            if a.dtype != np.asarray(arr).dtype:
                dtypes[name] = np.asarray(arr).dtype.name
            q[name] = a
    P = DEFAULT_PRECISION
    for name, a in q.items():
        if a.dtype.kind in "iu" and a.size:
            v = np.unique(a).size
            if v > (1 << 15) or qz.coded_bits(a, precision=15) > 8 * a.nbytes:
                raw.append(name)
                continue
            while (1 << P) < v:
                P += 1
    meta = dict(metadata or {})
    if schemes:
        meta["anspack.schemes"] = {k: v for k, v in schemes.items() if k in quantized}
    if dtypes:
        meta["anspack.dtypes"] = dtypes
    return anspack.encode(q, precision=P, metadata=meta, dequant=blocks, raw=raw)


def _storable(name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_:
        return a.astype(np.uint8)
    if a.dtype in (np.int64, np.uint64):
        if a.size and (a.min() < -(2 ** 31) or a.max() > 2 ** 31 - 1):
            raise ValueError(f"tensor {name!r}: {a.dtype} values do not fit int32")
        return a.astype(np.int32)
    if a.dtype == np.float64:
        return a.astype(np.float32)
    return a


# ----------------------------------------------------------------------------------------------
# rate-distortion curves


def _ecq_rate(design, itemsize_hint: int | None, extra_bytes: int, precision: int) -> float:
    j, cnt = design[0], design[3]
    itemsize = qz._int_dtype(int(j.min()), int(j.max())).itemsize if j.size else 1
    return qz.coded_bits_from_counts(cnt, itemsize, precision=precision, lanes=LANES) + 8.0 * (16 + 8 + 4 * j.size + extra_bytes)


def rd_options(x: np.ndarray, *, col_scale: np.ndarray | None = None, rdo: float = 0.0,
               precision: int = DEFAULT_PRECISION, steps: Sequence[float] | None = None,
               mids: bool = True, gram: np.ndarray | None = None, gram_split=None,
               gptq_per_octave: int = 4) -> list[Option]:
    """Candidate storage options for one float tensor with their coded size and per-weight error."""
    x = np.asarray(x, np.float32)
    xs = x * np.asarray(col_scale, np.float32) if col_scale is not None else x
    n = max(x.size, 1)
    opts = [Option("fp32", None, 32.0 * x.size, 0.0)]
    h = x.astype(np.float16).astype(np.float64)
    e = (x.astype(np.float64) - h)
    if col_scale is not None:
        e = e * np.asarray(col_scale, np.float64)
    opts.append(Option("fp16", None, 16.0 * x.size, float(np.mean(e * e)) if x.size else 0.0))
    if x.size == 0:
        return opts
    st = qz._Sorted(xs)
    rms = st.std if st.std > 0 else 1.0
    cols = xs.shape[-1] if xs.ndim else 1
    # a finer grid for big tensors, so that their bits can be traded in small amounts
    per_oct = 16 if x.size >= (1 << 20) else 8 if x.size >= (1 << 16) else 4
    cand = steps if steps is not None else [rms * 2.0 ** (k / per_oct) for k in
                                            range(STEP_RANGE.start * per_oct // 4, STEP_RANGE.stop * per_oct // 4)]
    for s in cand:
        for mid in ((False, True) if mids else (False,)):
            try:
                d = qz._uniform_design(st, float(s), rdo, not mid)
            except ValueError:  # too many levels
                continue
            if d[0].size > (1 << 15):
                continue
            if mid:  # AFFINE block: 8 bytes + (scale, zero) per slice, no table
                side = (8 + 8 * cols) - 4 * d[0].size if col_scale is not None else 8 - 4 * d[0].size
            else:  # LUT (kind 2) or SCALED_LUT (kind 3: + 8 bytes + a scale per column)
                side = 8 + 4 * cols if col_scale is not None else 0
            opts.append(Option("ecq", float(s), _ecq_rate(d, None, side, precision), d[4] / n, mid))
    if gram is not None and x.ndim == 2 and col_scale is None:
        from .gptq import gptq_round, output_mse

        # with a split, round on one half of the calibration inputs and measure on the other: an honest
        # (held-out) estimate of the output error, which in-sample would be optimistic
        fit, check = gram_split if gram_split is not None else (gram, gram)
        for k in range(-8 * gptq_per_octave, 2 * gptq_per_octave + 1):
            s = rms * 2.0 ** (k / gptq_per_octave)
            q = gptq_round(x, fit, float(s))
            lo, hi = int(q.min()), int(q.max())
            if hi - lo + 1 > (1 << 15):
                continue
            bits = qz.coded_bits(q.astype(qz._int_dtype(lo, hi)), precision=precision, lanes=LANES) + 8.0 * 32
            recon = (q.astype(np.float32) * np.float32(s)).astype(np.float64)
            opts.append(Option("ecq", float(s), bits, output_mse(x.astype(np.float64) - recon, check), True, True))
    return opts


def _file_overhead_bits(tensors: Mapping[str, np.ndarray]) -> float:
    b = 40
    for name, a in tensors.items():
        b += 48 + 8 * np.asarray(a).ndim + (len(name.encode()) + 7) // 8 * 8 + 8  # entry + block padding
        b += META_BYTES_PER_TENSOR
    return 8.0 * b


def _lossless_bits(name: str, a: np.ndarray, precision: int) -> float:
    s = _storable(name, np.asarray(a))
    if s.dtype.kind in "iu" and s.size:
        return min(qz.coded_bits(s, precision=15), 8.0 * s.nbytes)
    return 8.0 * s.nbytes


# ----------------------------------------------------------------------------------------------
# the allocator


def _pick(options: list[list[Option]], gains: np.ndarray, lam: float) -> list[int]:
    out = []
    for opts, g in zip(options, gains):
        costs = [o.bits + lam * g * o.mse for o in opts]
        out.append(int(np.argmin(costs)))
    return out


def solve(options: Mapping[str, list[Option]], gains: Mapping[str, float], *, sizes: Mapping[str, int],
          budget_bits: float | None = None, target_distortion: float | None = None) -> tuple[dict[str, Option], float]:
    """Lagrangian allocation: each tensor takes the option minimizing ``bits + λ·g·mse·n``; ``λ`` is
    bisected (log scale) for the largest-distortion choice within ``budget_bits`` or the fewest bits
    with ``Σ g·mse ≤ target_distortion``. Returns (choice per tensor, λ)."""
    if (budget_bits is None) == (target_distortion is None):
        raise ValueError("give exactly one of budget_bits and target_distortion")
    names = list(options)
    opts = [options[n] for n in names]
    g = np.array([max(float(gains[n]), 0.0) for n in names])

    def evaluate(lam):
        idx = _pick(opts, g, lam)
        bits = sum(o[i].bits for o, i in zip(opts, idx))
        dist = sum(gg * o[i].mse for o, i, gg in zip(opts, idx, g))
        return idx, bits, dist

    def ok(res):
        return res[1] <= budget_bits if budget_bits is not None else res[2] <= target_distortion

    lo, hi = -10.0, 40.0  # log10 λ (λ in bits per unit distortion)
    res_hi = evaluate(10.0 ** hi)
    if budget_bits is not None:
        res_lo = evaluate(10.0 ** lo)
        if not ok(res_lo):
            raise ValueError(f"budget of {budget_bits / 8e6:.3f} MB is below the smallest possible size "
                             f"({res_lo[1] / 8e6:.3f} MB)")
        for _ in range(60):  # largest λ (least distortion) that still fits the budget
            mid = 0.5 * (lo + hi)
            if ok(evaluate(10.0 ** mid)):
                lo = mid
            else:
                hi = mid
        lam = 10.0 ** lo
    else:
        if not ok(res_hi):
            lam = 10.0 ** hi
        else:
            for _ in range(60):  # smallest λ (fewest bits) that meets the distortion target
                mid = 0.5 * (lo + hi)
                if ok(evaluate(10.0 ** mid)):
                    hi = mid
                else:
                    lo = mid
            lam = 10.0 ** hi
    idx = evaluate(lam)[0]
    return {n: o[i] for n, o, i in zip(names, opts, idx)}, lam


def make_task(tensors: Mapping[str, np.ndarray], calibration, *, model_dir=None, max_sentences: int | None = 64):
    """A calibration task for these tensors: ``calibration`` may already be a
    :class:`~anspack.eval.sensitivity.Task`; otherwise the tensors must be a BERT-family checkpoint and
    ``calibration`` is ``"builtin"``, a sentence file or a list of sentences."""
    from .sensitivity import BertTask, Task, calibration_sentences

    if isinstance(calibration, Task):
        return calibration
    names = list(tensors)
    if names and all(k.split(".")[0][:2] == "fc" and k.split(".")[0][2:].isdigit() for k in names):
        if calibration not in (None, "builtin"):
            raise ValueError("the digits MLP is calibrated on its own training images: use --calibration builtin")
        from .. import digits
        from .sensitivity import DigitsTask

        return DigitsTask(tensors, digits.load_split()[0])
    from .bert import BertEncoder

    if not any(k.endswith("embeddings.word_embeddings.weight") for k in names):
        raise ValueError("calibration needs a BERT-family sentence encoder (*embeddings.word_embeddings.weight) "
                         "or the digits MLP (fc1.weight, ...); for other models pass a Task")
    sents = calibration_sentences(calibration)
    if max_sentences:
        sents = sents[:max_sentences]
    if not sents:
        raise ValueError("no calibration sentences")
    enc = BertEncoder.from_pretrained(model_dir, weights=tensors)
    return BertTask(enc, sents)


def allocate(tensors: Mapping[str, np.ndarray], *, target_bits: float | None = None,
             target_distortion: float | None = None, calibration=None, gains: Mapping[str, float] | None = None,
             column_scaling: bool = False, rdo: float = 0.0, precision: int = DEFAULT_PRECISION,
             verify: bool = True, model_dir=None, max_sentences: int | None = 64, refine: int = 0,
             trellis: bool = False, data_aware: bool = False, data_aware_max: int = 1 << 16,
             progress: Callable[[str], None] | None = None) -> Allocation:
    """Give each float tensor its own step for a whole-file budget or a distortion target.

    tensors: every tensor of the file (non-float ones are counted as stored losslessly).
    target_bits: bits per weight for the whole file (every entry, headers included).
    target_distortion: task distortion to meet (``1 - mean cosine`` for sentence encoders, mean KL for
        classifiers) with the fewest bits; with a task, verified on the calibration set and tightened.
    calibration: a :class:`~anspack.eval.sensitivity.Task`, or ``"builtin"`` / a sentence file / a list
        of sentences for a BERT checkpoint (see :func:`make_task`). Needed unless ``gains`` is given.
    gains: precomputed per-tensor gains (skip the perturbation measurement; must have been measured with
        the same ``column_scaling``).
    column_scaling: scale the input columns of linear weights by ``sqrt(E[x_j²])`` before quantizing
        (off by default: on all-MiniLM-L6-v2 it made no difference, on the digits MLP it hurt).
    refine: after solving, re-measure each tensor's gain at its chosen quantization (the secant
        ``D_t / mse_t`` of the real task, alone) and solve again, this many times: for low rates, where
        the distortion is no longer quadratic in the error (costs one task evaluation per tensor).
    trellis: realize big tensors with trellis-coded quantization at their planned error and spend the
        bits saved (see :meth:`Allocator.run`); about 0.1 bits/weight less at equal quality.
    data_aware: also offer GPTQ-style rounding for linear weights of at most ``data_aware_max`` entries
        (see :class:`Allocator`); with ``data_aware_max=1 << 20`` it covers every MiniLM linear layer
        (the figures in benchmarks/results/rate_quality_minilm_gptq.md) but takes ~20 min on 2 shared cores.

    To try several targets on one model, build an :class:`Allocator` once and call :meth:`Allocator.run`.
    """
    if (target_bits is None) == (target_distortion is None):
        raise ValueError("give exactly one of target_bits and target_distortion")
    return Allocator(tensors, calibration=calibration, gains=gains, column_scaling=column_scaling, rdo=rdo,
                     precision=precision, model_dir=model_dir, max_sentences=max_sentences,
                     data_aware=data_aware, data_aware_max=data_aware_max, progress=progress).run(
        target_bits=target_bits, target_distortion=target_distortion, verify=verify, refine=refine, trellis=trellis)


class Allocator:
    """Calibration, gains and rate-distortion curves of one model, ready for any number of targets."""

    def __init__(self, tensors: Mapping[str, np.ndarray], *, calibration=None,
                 gains: Mapping[str, float] | None = None, column_scaling: bool = False, rdo: float = 0.0,
                 precision: int = DEFAULT_PRECISION, model_dir=None, max_sentences: int | None = 64,
                 data_aware: bool = False, data_aware_max: int = 1 << 16,
                 progress: Callable[[str], None] | None = None):
        """``data_aware``: also offer GPTQ-style rounding (:mod:`anspack.eval.gptq`) for linear weights
        of at most ``data_aware_max`` entries whose input Gram matrix the task knows."""
        from .sensitivity import column_scales, perturbation_gains

        self.tensors = tensors
        self.rdo = rdo
        self.say = say = progress or (lambda s: None)
        floats = [n for n, a in tensors.items() if np.asarray(a).dtype.kind == "f" and np.asarray(a).size]
        self.task = task = None
        if calibration is None and gains is None:
            raise ValueError("allocation needs calibration data (or precomputed gains)")
        if calibration is not None:
            say("calibration pass")
            self.task = task = make_task(tensors, calibration, model_dir=model_dir, max_sentences=max_sentences)
        col = {}
        if column_scaling and task is not None:
            for n, m in task.input_moments().items():
                if n in tensors and np.asarray(tensors[n]).ndim == 2 and np.asarray(tensors[n]).shape[-1] == m.size:
                    col[n] = column_scales(m)
        self.col = col
        if gains is None:
            names = [n for n in floats if n in set(task.names())]
            gains = perturbation_gains(task, names, col_scales=col, progress=lambda n: say(f"sensitivity {n}"))
        # a tensor the task never reads has gain 0: it is stored as cheaply as possible
        self.gains = {n: float(gains.get(n, 0.0)) for n in floats}
        say("rate-distortion curves")
        self.grams = {}
        splits = {}
        if data_aware and task is not None:
            for n in floats:
                a = np.asarray(tensors[n])
                if a.ndim == 2 and a.size <= data_aware_max and n not in col:
                    g = task.gram(n)
                    if g is not None and g.shape == (a.shape[1], a.shape[1]):
                        self.grams[n] = g
                        splits[n] = task.gram_split(n)
        self.options = {n: rd_options(tensors[n], col_scale=col.get(n), rdo=rdo, precision=precision,
                                      gram=self.grams.get(n), gram_split=splits.get(n)) for n in floats}
        self.sizes = {n: int(np.asarray(tensors[n]).size) for n in floats}
        self.fixed = _file_overhead_bits(tensors) + sum(_lossless_bits(n, a, precision)
                                                        for n, a in tensors.items() if n not in self.options)
        self.n_entries = int(sum(np.asarray(a).size for a in tensors.values()))

    def _build(self, choice, lam, gains=None) -> Allocation:
        a = _build(choice, gains or self.gains, self.col, self.sizes, self.fixed, self.n_entries, lam, self.rdo)
        for n, p in a.plans.items():
            p.gram = self.grams.get(n)
        return a

    def _solve(self, gains, target_bits, budget, target):
        if target_bits is not None:
            return solve(self.options, gains, sizes=self.sizes, budget_bits=budget)
        return solve(self.options, gains, sizes=self.sizes, target_distortion=target)

    def run(self, *, target_bits: float | None = None, target_distortion: float | None = None,
            verify: bool = True, refine: int = 0, trellis: bool = False, trellis_min: int = 4096) -> Allocation:
        """Solve for a whole-file ``target_bits`` (bits/weight) or a ``target_distortion``.

        ``trellis``: realize every uniformly quantized tensor of at least ``trellis_min`` entries (without
        column scales) with trellis-coded quantization (:func:`anspack.quantize.trellis_for_snr`) at the
        error the plan gives it: the same distortion for fewer bits; with ``target_bits`` the budget is
        then raised, and the plan solved again, until the real file uses it (a few rounds)."""
        if (target_bits is None) == (target_distortion is None):
            raise ValueError("give exactly one of target_bits and target_distortion")
        if target_bits is not None and not target_bits > 0:
            raise ValueError(f"target_bits must be positive, got {target_bits}")
        tensors, task = self.tensors, self.task
        gains = dict(self.gains)
        budget = target_bits * self.n_entries - self.fixed if target_bits is not None else None
        target = float(target_distortion) if target_distortion is not None else None
        choice, lam = self._solve(gains, target_bits, budget, target)
        for _ in range(refine if task is not None else 0):
            alloc0 = self._build(choice, lam, gains)
            for n, p in alloc0.plans.items():
                if p.option.mse > 0 and gains[n] > 0:
                    Dn = task.distortion({n: alloc0.quantize_one(n, tensors[n]).recon})
                    if Dn > 0:
                        gains[n] = Dn / p.option.mse
            self.say("refined gains")
            choice, lam = self._solve(gains, target_bits, budget, target)
        alloc = self._build(choice, lam, gains)
        history = []
        if trellis:
            return self._trellis_rounds(alloc, gains, target_bits, budget, target, trellis_min)
        if target_bits is not None and verify:
            # the estimate is close but not exact (headers, metadata); confirm on the real file, give
            # back an overshoot and use up an undershoot of more than 0.2 %
            limit = target_bits * self.n_entries
            best = None
            for _ in range(4):
                size = 8.0 * len(alloc.encode(tensors))
                history.append({"est_bits": alloc.est_bits, "bits": size})
                if size <= limit and (best is None or alloc.est_distortion < best.est_distortion):
                    best = alloc
                gap = limit - size
                if 0 <= gap <= 0.002 * limit:
                    break
                budget += gap - (64.0 * len(self.options) if gap < 0 else 0.0)
                choice, lam = self._solve(gains, target_bits, budget, target)
                alloc = self._build(choice, lam, gains)
            if best is not None:
                alloc = best
        elif target_distortion is not None and verify and task is not None:
            # the additive model is a model: check on the real network, tighten until it holds
            for _ in range(4):
                rec = {n: r.recon for n, r in alloc.quantize(tensors).items()}
                actual = task.distortion(rec)
                history.append({"est_distortion": alloc.est_distortion, "distortion": actual})
                if actual <= target_distortion:
                    break
                target *= max(0.5, min(0.95, target_distortion / actual))
                choice, lam = self._solve(gains, target_bits, budget, target)
                alloc = self._build(choice, lam, gains)
        alloc.history = history
        return alloc

    def _trellis_set(self, alloc: Allocation, trellis_min: int) -> set:
        return {n for n, p in alloc.plans.items()
                if p.option.kind == "ecq" and p.col_scale is None and not p.option.gptq and p.n >= trellis_min and p.option.mse > 0}

    def _trellis_rounds(self, alloc, gains, target_bits, budget, target, trellis_min) -> Allocation:
        cache = getattr(self, "_tcq_cache", {})
        self._tcq_cache = cache
        history = []
        best = None
        for _ in range(5):
            alloc.trellis = self._trellis_set(alloc, trellis_min)
            alloc.cache = cache
            size = 8.0 * len(alloc.encode(self.tensors))
            history.append({"est_bits_ecsq": alloc.est_bits, "bits": size, "est_distortion": alloc.est_distortion})
            self.say(f"trellis round: {size / self.n_entries:.4f} bits/weight")
            if target_bits is None:
                best = alloc
                break
            limit = target_bits * self.n_entries
            if size <= limit and (best is None or alloc.est_distortion < best.est_distortion):
                best = alloc
            gap = limit - size
            if 0 <= gap < 0.002 * self.n_entries:
                break
            budget += gap * (0.95 if gap > 0 else 1.05)
            choice, lam = self._solve(gains, target_bits, budget, target)
            alloc = self._build(choice, lam, gains)
        if best is None:  # never under budget: fall back to plain uniform quantization
            return self.run(target_bits=target_bits, verify=True)
        best.history = history
        return best


def _build(choice, gains, col, sizes, fixed, n_entries, lam, rdo) -> Allocation:
    plans = {n: TensorPlan(n, o, sizes[n], gains[n], col.get(n)) for n, o in choice.items()}
    return Allocation(plans, fixed, n_entries, lam, rdo)


def format_plan(alloc: Allocation, *, limit: int | None = None) -> str:
    """A markdown table of the plan: tensor, storage, bits/weight, gain, share of the distortion."""
    tot = alloc.est_distortion or 1.0
    rows = ["| tensor | storage | bits/weight | gain/weight | share of D |", "|---|---|---:|---:|---:|"]
    plans = sorted(alloc.plans.values(), key=lambda p: -p.distortion)
    for p in plans[:limit]:
        rows.append(f"| {p.name} | {p.option.describe()}{',colscale' if p.col_scale is not None else ''} | "
                    f"{p.bits_per_weight:.3f} | {p.gain / max(p.n, 1):.3g} | {100 * p.distortion / tot:.1f}% |")
    return "\n".join(rows)
