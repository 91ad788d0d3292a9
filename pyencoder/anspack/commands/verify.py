"""``anspack verify FILE [--against IN]``: decode with checksums; compare with the original weights."""

from __future__ import annotations

import math


def register(sub) -> None:
    p = sub.add_parser("verify", help="decode an .anspack file, check checksums, compare with the original",
                       description="Decode every tensor and check its FxHash26 checksum. With --against, "
                                   "compare the dequantized float32 values with the original model: max abs "
                                   "error, RMSE and SNR per tensor, and the weight SNR (size-weighted mean of "
                                   "per-tensor SNR over float tensors with 2+ dimensions).")
    p.add_argument("file", help="an .anspack file")
    p.add_argument("--against", metavar="IN", help="the original model (.safetensors, .npz, .npy)")
    p.add_argument("--min-snr", type=float, metavar="DB", help="exit 1 if the weight SNR is below DB")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    import anspack
    from anspack import io as aio
    from anspack.cli import UsageError
    from anspack.commands.decode import decode_file
    from anspack.commands.encode import fmt_db, weight_stats

    if args.min_snr is not None and not args.against:
        raise UsageError("--min-snr needs --against IN")
    # the reference first: a bad --against (missing, unreadable) is reported before the whole file is decoded
    orig = aio.read_tensors(args.against) if args.against else None
    with open(args.file, "rb") as f:
        data = f.read()
    header = anspack.read_header(data)
    back = decode_file(data, dequantize=True)   # raises ChecksumMismatch etc. (exit 1)
    n = sum(t.size for t in header.tensors)
    print(f"{args.file}: {len(back)} tensors, {n:,} entries, all checksums OK")
    if orig is None:
        return 0
    status = 0
    missing = [k for k in orig if k not in back]
    extra = [k for k in back if k not in orig]
    if missing or extra:
        print(f"name mismatch: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
              f"extra {extra[:5]}{'...' if len(extra) > 5 else ''}")
        status = 1
    for k in orig:
        if k in back and tuple(np.shape(orig[k])) != tuple(back[k].shape):
            print(f"shape mismatch for {k}: {np.shape(orig[k])} vs {back[k].shape}")
            status = 1
        elif k in back and np.asarray(orig[k]).dtype.kind != "f" and not np.array_equal(orig[k], back[k]):
            print(f"value mismatch for non-float tensor {k}")
            status = 1
    common = {k: v for k, v in orig.items() if k in back and tuple(np.shape(v)) == tuple(back[k].shape)}
    stats = weight_stats(common, back)
    print(f"{'tensor':<60} {'max abs err':>12} {'RMSE':>12} {'SNR':>10}")
    for k, r in stats["tensors"].items():
        snr = "exact" if r["snr"] == math.inf else f"{r['snr']:.2f}"
        print(f"{k:<60} {r['max_abs']:>12.4g} {r['rmse']:>12.4g} {snr:>10}")
    print(f"weight SNR {fmt_db(stats['weight_snr'])} (pooled {fmt_db(stats['pooled_snr'])}); "
          f"{8 * len(data) / max(n, 1):.3f} bits/weight")
    if args.min_snr is not None and stats["weight_snr"] < args.min_snr:
        print(f"weight SNR below --min-snr {args.min_snr}")
        status = 1
    return status
