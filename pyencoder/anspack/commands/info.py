"""``anspack info FILE``: per tensor shape, scheme, bits/weight, entropy, bytes and checksum."""

from __future__ import annotations

import math
import re


def register(sub) -> None:
    p = sub.add_parser("info", help="list the tensors of an .anspack file with their sizes and schemes",
                       description="Print one line per tensor: shape, stored dtype and coding, quantization "
                                   "scheme, bits per weight (data + dequant block), order-0 entropy of the "
                                   "stored values, bytes, FxHash26 checksum; then the totals.")
    p.add_argument("file", help="an .anspack file")
    p.add_argument("--no-entropy", action="store_true", help="do not decode (skip the entropy column)")
    p.set_defaults(func=run)


def scheme_of(t, metadata: dict) -> str:
    from anspack.commands.encode import SCHEMES_KEY

    s = (metadata.get(SCHEMES_KEY) or {}).get(t.name) if isinstance(metadata.get(SCHEMES_KEY), dict) else None
    if s:
        s = str(s)
        return re.sub(r",step=[^,]*", "", s) if ("snr=" in s or "bpw=" in s) else s
    return "raw" if t.coding == "raw" else "lossless"


def stream_of(t) -> str:
    """rANS stream layout: precision, lanes, pairs (spec 7.1; "product pairs": 7.3), chunks (spec 7.2);
    for row groups (spec 7.4) "G groups: " and each group's layout."""
    if t.coding == "groups":
        return f"{len(t.groups)} row groups: " + " | ".join(stream_of(s) for s in t.groups)
    if t.coding != "rans" or not t.size:
        return "-"
    parts = [f"P{t.precision}", f"L{t.lanes}"]
    if t.pairs:
        parts.append("product pairs" if t.product else "pairs")
    if t.chunk:
        parts.append(f"{t.chunks} chunks")
    return " ".join(parts)


def run(args) -> int:
    import anspack
    from anspack.quantize import entropy_bits

    with open(args.file, "rb") as f:
        data = f.read()
    header = anspack.read_header(data)
    values = {} if args.no_entropy else anspack.decode(data)
    rows = []
    for t in header.tensors:
        nbytes = t.data_size + t.dequant_size
        bpw = 8 * nbytes / t.size if t.size else 0.0
        ent = "-" if args.no_entropy else f"{entropy_bits(values[t.name]):.3f}"
        rows.append((t.name, "x".join(map(str, t.shape)) or "scalar", f"{t.dtype}/{t.coding}", scheme_of(t, header.metadata),
                     f"{bpw:.3f}", ent, f"{nbytes:,}", f"{t.checksum:07x}", stream_of(t)))
    heads = ("tensor", "shape", "stored", "scheme", "bits/w", "entropy", "bytes", "checksum", "stream")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)]
    right = {4, 5, 6}
    line = lambda r: "  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip()   # no trailing spaces
    print(line(heads))
    for r in rows:
        print(line(r))
    n = sum(t.size for t in header.tensors)
    print(f"{len(header.tensors)} tensors, {n:,} entries, {len(data):,} bytes, "
          f"{(8 * len(data) / n) if n else math.nan:.3f} bits/entry over the whole file")
    return 0
