"""``anspack quickstart``: encode the bundled example, decode it back, print a summary."""

from __future__ import annotations

import time
import zlib
from importlib import resources
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("quickstart", help="encode the bundled example model, verify it, print a summary",
                       description="Encode the bundled example (two int8 layers of all-MiniLM-L6-v2, "
                                   "quantized per row, with their float32 scales), decode it back, "
                                   "check every tensor, and print sizes against the entropy and zlib-9.")
    p.add_argument("-o", "--output", default="example.anspack", help="where to write the .anspack file")
    p.add_argument("--lanes", type=int, default=None, help="rANS lanes per tensor (default 4)")
    p.set_defaults(func=run)


def run(args) -> int:
    import anspack
    from anspack.model import build_model, entropy_bits

    with resources.files("anspack").joinpath("data/example.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as z:
            tensors = {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    data = anspack.encode(tensors, lanes=args.lanes, metadata={"source": "anspack quickstart example"})
    t_enc = time.perf_counter() - t0
    Path(args.output).write_bytes(data)
    t0 = time.perf_counter()
    back = anspack.decode(data)
    t_dec = time.perf_counter() - t0
    header = anspack.read_header(data)
    rows = []
    for t in header.tensors:
        a = tensors[t.name]
        if not np.array_equal(back[t.name], a) or back[t.name].dtype != a.dtype:
            print(f"MISMATCH in {t.name}")
            return 1
        H = entropy_bits(build_model(a, 12).counts) if t.coding == "rans" else float("nan")
        zl = len(zlib.compress(a.tobytes(), 9))
        rows.append((t.name, "x".join(map(str, t.shape)), t.dtype, t.coding, a.nbytes, t.data_size,
                     8 * t.data_size / max(a.size, 1), H, 8 * zl / max(a.size, 1), t.checksum))
    print(f"{'tensor':<48} {'shape':>9} {'dtype':>7} {'coding':>6} {'bytes':>8} {'coded':>8} "
          f"{'bits/entry':>10} {'entropy':>8} {'zlib-9':>7} {'checksum':>9}")
    for r in rows:
        print(f"{r[0]:<48} {r[1]:>9} {r[2]:>7} {r[3]:>6} {r[4]:>8} {r[5]:>8} {r[6]:>10.3f} {r[7]:>8.3f} "
              f"{r[8]:>7.3f} {r[9]:>9}")
    raw = sum(a.nbytes for a in tensors.values())
    print(f"\nwrote {args.output}: {len(data):,} bytes from {raw:,} ({raw / len(data):.2f}x smaller); "
          f"encode {t_enc * 1e3:.0f} ms, decode {t_dec * 1e3:.0f} ms (first call includes Numba's cache load)")
    print("decoded tensors and FxHash26 checksums verified: OK")
    return 0
