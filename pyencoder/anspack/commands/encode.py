"""``anspack encode IN -o OUT``: quantize a model's float tensors and entropy-code them.

Scheme per tensor: the first ``--rule GLOB=SCHEME`` whose glob matches the name (a glob with wildcards
and a quantizing scheme passes over non-float tensors), else the built-in
defaults (non-float tensors kept losslessly, 1-D float tensors such as biases and LayerNorm as float16),
else the scheme given by the options (default ``snr:40,tcq``: entropy-constrained trellis-coded
quantization at 40 dB weight SNR per tensor).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass

import numpy as np

DEFAULT_SCHEME = "snr:40,tcq"
SCHEMES_KEY = "anspack.schemes"
DTYPES_KEY = "anspack.dtypes"

EPILOG = """\
schemes (for --scheme and --rule GLOB=SCHEME; comma-separated tokens):
  keep | fp32 | fp16                       store unchanged / as float32 / as float16
  int4,row | int8,col,asym | int3,clip=mse fixed-width k-bit (2-8), per row/col/tensor, clip max|mse|pNN.N
  snr:30 | step:0.01 | bpw:3               entropy-constrained uniform quantization (free step) for a
                                           target SNR (dB), a step, or coded payload bits per weight; add
                                           rdo:0.1 for RD-optimized thresholds, mid for bin midpoints,
                                           tcq for trellis-coded quantization
  kmeans:16                                1-D k-means codebook (k <= 256)
  prune:30,int8                            zero the 30% smallest weights first
examples:
  anspack encode model.safetensors -o model.anspack --target-snr 20
  anspack encode model.safetensors -o m.anspack --bits 4 --per-row --rule '*.bias=fp16'
  anspack encode model.npz -o m.anspack --kmeans 16 --rule 'embeddings.*=snr:30'
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("encode", help="quantize and compress a model (safetensors/npz/npy) to .anspack",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="model file: .safetensors, .npz or .npy")
    p.add_argument("-o", "--output", required=True, help="the .anspack file to write")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--bits", type=int, metavar="K", help="fixed-width K-bit quantization (2-8)")
    g.add_argument("--step", type=float, metavar="S", help="uniform quantization with step S (free step)")
    g.add_argument("--target-snr", type=float, metavar="DB", help="uniform quantization reaching DB dB per tensor")
    g.add_argument("--target-bits", type=float, metavar="B", help="uniform quantization at B coded bits/weight")
    g.add_argument("--kmeans", type=int, metavar="K", help="1-D k-means codebook with K clusters (<= 256)")
    g.add_argument("--fp16", action="store_true", help="store float tensors as float16")
    g.add_argument("--scheme", metavar="SCHEME", help=f"any scheme (see below; default {DEFAULT_SCHEME})")
    gr = p.add_mutually_exclusive_group()
    gr.add_argument("--per-row", dest="axis", action="store_const", const="row", help="one scale per row (default)")
    gr.add_argument("--per-col", dest="axis", action="store_const", const="col", help="one scale per column")
    gr.add_argument("--per-tensor", dest="axis", action="store_const", const="tensor", help="one scale per tensor")
    p.add_argument("--asym", action="store_true", help="with --bits: asymmetric (min/max + zero point)")
    p.add_argument("--clip", default=None, metavar="MODE", help="with --bits: range tuning max | mse | pNN.N")
    p.add_argument("--rdo", type=float, default=None, metavar="A",
                   help="uniform quantization: RD-optimized thresholds with lambda = A * step^2")
    p.add_argument("--no-centroid", action="store_true", help="uniform quantization: reconstruct at bin midpoints")
    p.add_argument("--tcq", action="store_true",
                   help="with --step/--target-snr/--target-bits: trellis-coded (dependent) quantization, ~0.1 bit/weight smaller")
    p.add_argument("--prune", type=float, default=None, metavar="P", help="zero the P%% smallest weights first")
    p.add_argument("--prune-global", action="store_true", help="with --prune: one threshold over all tensors")
    p.add_argument("--rule", action="append", default=[], metavar="GLOB=SCHEME",
                   help="scheme for tensors whose name matches GLOB (first match wins; repeatable)")
    p.add_argument("--calibration", metavar="FILE|builtin", default=None,
                   help="with --target-bits: allocate the bits across tensors for the task (whole-file budget; "
                        "sentence encoders: 'builtin' sentences or a text file, one per line; the digits MLP: "
                        "'builtin'); see anspack.eval.allocate")
    p.add_argument("--gptq", action="store_true",
                   help="with --calibration: also offer GPTQ-style data-aware rounding for the linear weights "
                        "(slow: ~20 min for all-MiniLM-L6-v2 on 2 cores)")
    p.add_argument("--lanes", type=int, default=None, metavar="L", help="rANS lanes per tensor (default 8)")
    p.add_argument("--target", choices=("cpu", "gpu"), default="cpu",
                   help="decoder to lay the lanes out for: cpu (default: few lanes, fastest on one core) or gpu "
                        "(many lanes per tensor for decodeGPU, about 1%% larger; anspack.gpu.gpu_lanes)")
    p.add_argument("--precision", type=int, default=None, metavar="P",
                   help="rANS probability precision in bits, 1-15 (default 14, raised as needed)")
    p.add_argument("--pairs", choices=("auto", "on", "product", "off"), default="auto",
                   help="code two 1-byte entries per rANS symbol (spec 7.1): auto (default: tensors of at most 16 "
                        "values, when it costs at most 0.25%% in size; they decode about 2x faster), on (plain "
                        "pairs: the pairs' model is stored), product (spec 7.3: the entries' model is stored and "
                        "the pairs' derived; tensors of at most 2^(P/2) distinct values), off")
    p.add_argument("--groups", default="auto", metavar="auto|off|G",
                   help="split a tensor's rows into groups with a model each (spec 7.4): auto (default: at most 4 "
                        "groups by k-means over the rows' histograms, when the block is estimated >= 0.5%% "
                        "smaller), off, or G (k-means into at most G groups, 2-256, for every tensor of >= 2 rows)")
    p.add_argument("--chunk", type=int, default=None, metavar="Q",
                   help="symbols per chunk (spec 7.2; independent streams decoded in parallel): 0 = none; default "
                        "an even number of equal chunks of at most 2^18 symbols for tensors of more than 2^15 "
                        "(a multiple of 4 at 8 lanes)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def _groups_arg(text: str):
    from anspack.cli import UsageError

    if text in ("auto", "off"):
        return "auto" if text == "auto" else False
    try:
        G = int(text)
    except ValueError:
        raise UsageError(f"--groups must be auto, off or a group count, got {text!r}") from None
    if not 2 <= G <= 256:
        raise UsageError(f"--groups G must be 2 to 256, got {G}")
    return G


def base_scheme_text(args) -> str:
    """The scheme text the quantizing options describe."""
    if args.scheme:
        text = args.scheme
    elif args.bits is not None:
        text = f"int{args.bits}"
    elif args.step is not None:
        text = f"step:{args.step!r}"
    elif args.target_snr is not None:
        text = f"snr:{args.target_snr!r}"
    elif args.target_bits is not None:
        text = f"bpw:{args.target_bits!r}"
    elif args.kmeans is not None:
        text = f"kmeans:{args.kmeans}"
    elif args.fp16:
        text = "fp16"
    else:
        text = DEFAULT_SCHEME
    extra = []
    if args.axis:
        extra.append(args.axis)
    if args.asym:
        extra.append("asym")
    if args.clip:
        extra.append(f"clip:{args.clip}")
    if args.rdo is not None:
        extra.append(f"rdo:{args.rdo!r}")
    if args.no_centroid:
        extra.append("mid")
    if args.tcq:
        extra.append("tcq")
    if args.prune is not None and not args.prune_global:
        extra.append(f"prune:{args.prune!r}")
    return ",".join([text] + extra)


@dataclass
class Encoded:
    """The result of :func:`encode_model`."""

    data: bytes
    schemes: dict
    recon: dict          # name -> float32 (or integer) array the decoder will return with dequantize=True
    precision: int


def _needed_precision(q: dict, P: int) -> int:
    for a in q.values():
        if a.dtype.kind in "iu" and a.size:
            v = np.unique(a).size
            while (1 << P) < v and P < 15:
                P += 1
    return P


def encode_model(tensors: dict, *, base: str = DEFAULT_SCHEME, rules: list[str] = (), prune_global: float | None = None,
                 lanes: int | str | None = None, precision: int | None = None, progress: bool = False,
                 pairs: bool | str = "auto", chunk: int | None = None, groups: str | int = "auto") -> Encoded:
    """Quantize and encode a dict of tensors: ``anspack encode`` as a function (``anspack.encode_model``).

    ``base`` is the scheme text for float tensors (``--scheme``: e.g. ``"int4,row"``, ``"snr:16.7,tcq"``,
    ``"kmeans:16"``; see the CLI's ``--help``), ``rules`` a list of ``GLOB=SCHEME`` texts (``--rule``);
    see the module doc for how the scheme of each tensor is chosen. Returns an :class:`Encoded`:
    ``.data`` (the file's bytes), ``.schemes`` (name -> scheme text of each quantized tensor),
    ``.recon`` (what ``decode(data, dequantize=True)`` returns) and ``.precision``.

    ``lanes``: rANS lanes per tensor (default 8), or ``"gpu"`` for a many-lane layout per tensor
    (:func:`anspack.gpu.gpu_lanes`) that ``decodeGPU`` decodes with one invocation per lane.

    Raises ValueError for bad schemes or rules (the CLI turns it into a usage error).
    """
    from tqdm import tqdm

    import anspack
    from anspack import io as aio
    from anspack import quantize as qz

    base_scheme = qz.parse_scheme(base)
    parsed_rules = qz.parse_rules(list(rules))
    chosen = {name: qz.choose_scheme(name, arr, parsed_rules, base_scheme) for name, arr in tensors.items()}
    for name, arr in tensors.items():
        if chosen[name].method != "keep" and np.asarray(arr).dtype.kind != "f":
            raise ValueError(f"tensor {name!r} is {np.asarray(arr).dtype}; scheme {chosen[name]} needs floats "
                             "(use keep)")
    work = dict(tensors)
    pruned = set()
    if prune_global:
        targets = {n: a for n, a in tensors.items() if chosen[n].method in ("int", "ecq", "kmeans")}
        pruned_arrays, _ = qz.prune_global(targets, prune_global)
        work.update(pruned_arrays)
        pruned = set(targets)
    q, blocks, schemes, recon, dtypes, raw = {}, {}, {}, {}, {}, []
    P = 14 if precision is None else int(precision)
    it = tqdm(work.items(), total=len(work), desc="quantize", unit="tensor", disable=not progress, file=sys.stderr,
              leave=False)
    for name, arr in it:
        arr = np.asarray(arr)
        scheme = chosen[name]
        if scheme.method == "keep":
            stored, _ = aio.to_storable(name, arr)
            r = qz.passthrough(stored)
        else:
            r = qz.quantize(arr.astype(np.float32) if arr.dtype.name == "float64" else arr, scheme,
                            pruned=name in pruned, precision=P)
            if name in pruned:
                r.scheme = f"prune={prune_global:g}(global)," + r.scheme
        decoded_dtype = np.dtype(np.float32) if (r.block or r.q.dtype.kind == "f") else r.q.dtype
        orig_dtype = np.asarray(tensors[name]).dtype
        if orig_dtype != decoded_dtype:
            dtypes[name] = orig_dtype.name
        q[name] = r.q
        recon[name] = r.recon
        if r.block:
            blocks[name] = r.block
        if scheme.method != "keep":
            schemes[name] = r.scheme
        if r.q.dtype.kind in "iu" and r.q.size:
            too_many = np.unique(r.q).size > (1 << 15)
            if too_many or qz.coded_bits(r.q, precision=15) > 8 * r.q.nbytes:
                raw.append(name)  # stored raw when entropy coding would not make it smaller
    if precision is None:
        P = _needed_precision({n: a for n, a in q.items() if n not in raw}, P)
    meta = {SCHEMES_KEY: schemes}
    if dtypes:
        meta[DTYPES_KEY] = dtypes
    if lanes == "gpu":
        from anspack.gpu import gpu_lanes

        lanes = gpu_lanes({n: a for n, a in q.items() if n not in raw})
    if pairs in (True, "product"):  # every tensor the spec allows them for; "auto" for the rest
        pairs = {n: pairs for n, a in q.items()
                 if n not in raw and np.asarray(a).dtype.itemsize == 1 and a.size % 2 == 0 and a.size >= 2
                 and (pairs is True or np.unique(a).size ** 2 <= 1 << P)}
    if isinstance(groups, int) and not isinstance(groups, bool) and groups >= 2:  # tensors with rows; auto for others
        groups = {n: groups for n, a in q.items() if n not in raw and np.ndim(a) >= 1 and np.shape(a)[0] >= 2
                  and np.asarray(a).dtype.kind in "iu" and np.unique(a).size <= 256}
    # the tensors found incompressible above raw, the others too where their rANS block would not be smaller
    data = anspack.encode(q, lanes=lanes, precision=P, metadata=meta, dequant=blocks, raw=dict.fromkeys(raw, True),
                          pairs=pairs, chunk=chunk, groups=groups)
    return Encoded(data, schemes, recon, P)


def weight_stats(original: dict, decoded: dict) -> dict:
    """Per-tensor errors and the model-level figures used by the summaries.

    ``weight_snr`` is the size-weighted mean over float tensors with ndim >= 2 ("weight matrices") of
    each tensor's SNR in dB; ``pooled_snr`` is the SNR of all those entries together.
    """
    rows = {}
    num = den = 0.0
    wsum = wn = 0.0
    for name, x in original.items():
        x = np.asarray(x)
        if x.dtype.kind != "f" or name not in decoded:
            continue
        x64 = x.astype(np.float64)
        y64 = np.asarray(decoded[name]).astype(np.float64).reshape(x.shape)
        d = x64 - y64
        e2 = float(np.sum(d * d))
        s2 = float(np.sum(x64 * x64))
        snr = math.inf if e2 == 0 else (10 * math.log10(s2 / e2) if s2 > 0 else -math.inf)
        rows[name] = {"max_abs": float(np.max(np.abs(d))) if d.size else 0.0,
                      "rmse": math.sqrt(e2 / d.size) if d.size else 0.0, "snr": snr, "n": x.size}
        if x.ndim >= 2:
            num += s2
            den += e2
            if math.isfinite(snr):
                wsum += snr * x.size
                wn += x.size
            elif snr == math.inf:
                wn += 0  # exact tensors do not enter the mean
    return {"tensors": rows,
            "weight_snr": (wsum / wn) if wn else math.inf,
            "pooled_snr": (10 * math.log10(num / den)) if den > 0 else math.inf}


def fmt_db(x: float) -> str:
    return "exact" if x == math.inf else f"{x:.2f} dB"


def _encode_allocated(tensors: dict, args) -> Encoded:
    """``--target-bits B --calibration C``: one step per tensor from the task's sensitivities, meeting a
    whole-file budget of B bits/weight (:func:`anspack.eval.allocate.allocate`)."""
    from anspack.cli import UsageError
    from anspack.eval.allocate import allocate

    if args.target_bits is None:
        raise UsageError("--calibration goes with --target-bits B (bits/weight for the whole file)")
    if args.rule or args.bits is not None or args.prune is not None or args.lanes is not None:
        raise UsageError("--calibration chooses every tensor's scheme: drop --rule/--bits/--prune/--lanes")
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    try:
        alloc = allocate(tensors, target_bits=args.target_bits, calibration=args.calibration, trellis=args.tcq,
                         data_aware=args.gptq, data_aware_max=1 << 20, progress=log)
    except (ValueError, OSError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    quantized = alloc.quantize(tensors)
    data = alloc.encode(tensors, quantized=quantized)
    from anspack import read_header

    return Encoded(data, {n: r.scheme for n, r in quantized.items()}, {n: r.recon for n, r in quantized.items()},
                   max((t.precision or 0) for t in read_header(data).tensors))


def run(args) -> int:
    from anspack import decode
    from anspack import io as aio
    from anspack.cli import UsageError

    if args.prune_global and args.prune is None:
        raise UsageError("--prune-global needs --prune P")
    if args.lanes is not None and args.lanes < 1:
        raise UsageError(f"--lanes must be at least 1, got {args.lanes}")
    if args.target == "gpu":
        if args.lanes is not None:
            raise UsageError("--target gpu chooses the lanes: drop --lanes")
        args.lanes = "gpu"
    if args.chunk is not None and args.chunk < 0:
        raise UsageError(f"--chunk must be 0 or a positive number of symbols, got {args.chunk}")
    if args.precision is not None and not 1 <= args.precision <= 15:
        raise UsageError(f"--precision must be 1..15, got {args.precision}")
    if not args.output.lower().endswith(".anspack"):
        raise UsageError(f"output {args.output!r} should end in .anspack")
    aio.check_output_dir(args.output)   # before minutes of quantization, not after
    tensors = aio.read_tensors(args.input)
    if args.gptq and args.calibration is None:
        raise UsageError("--gptq goes with --target-bits B --calibration C")
    if args.calibration is not None:
        enc = _encode_allocated(tensors, args)
    else:
        enc = None
    try:
        enc = enc or encode_model(tensors, base=base_scheme_text(args), rules=args.rule,
                           prune_global=args.prune if args.prune_global else None, lanes=args.lanes,
                           precision=args.precision, progress=not args.quiet,
                           pairs={"auto": "auto", "on": True, "product": "product", "off": False}[args.pairs],
                           chunk=args.chunk, groups=_groups_arg(args.groups))
    except (ValueError, TypeError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    with open(args.output, "wb") as f:
        f.write(enc.data)
    if args.quiet:
        return 0
    back = decode(enc.data, dequantize=True)
    stats = weight_stats(tensors, back)
    orig_bytes = sum(np.asarray(a).nbytes for a in tensors.values())
    n = sum(np.asarray(a).size for a in tensors.values())
    size = len(enc.data)
    counts: dict[str, int] = {}
    for s in enc.schemes.values():
        key = re.sub(r",step=[^,]*", "", s)
        counts[key] = counts.get(key, 0) + 1
    if len(tensors) > len(enc.schemes):
        counts["keep"] = len(tensors) - len(enc.schemes)   # non-float tensors stored losslessly
    print(f"wrote {args.output}: {len(tensors)} tensors, precision {enc.precision}")
    print("schemes: " + "; ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    print(f"original {orig_bytes / 1e6:.2f} MB -> compressed {size / 1e6:.3f} MB: ratio {orig_bytes / size:.2f}x, "
          f"{8 * size / max(n, 1):.3f} bits/weight, weight SNR {fmt_db(stats['weight_snr'])} "
          f"(pooled {fmt_db(stats['pooled_snr'])})")
    return 0
