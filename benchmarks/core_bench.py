"""Core coder benchmark: Numba rANS encode/decode throughput and size vs entropy, zlib-9 (and brotli-11,
zstd-19, xz if installed), measured side by side on the same int8 bytes in one run.

    python benchmarks/core_bench.py [--json out.json]

Data: the 8 x 1024^2 randn*8 int8 mock (seed 0) for speed; a 1024^2 slice for size at L = 1, 32, 1024.
"""

from __future__ import annotations

import argparse
import json
import lzma
import time
import zlib

import numpy as np

import anspack
from anspack.model import build_model, entropy_bits
from anspack.rans import decode_interleaved, encode_interleaved


def best_of(fn, repeat=5):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results as JSON here")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    mock = np.round(rng.standard_normal((8, 1024, 1024)) * 8).astype(np.int8)
    n = mock.size
    anspack.encode({"warm": mock[0, :4]})  # compile / load Numba caches
    results = {"speed": [], "size": []}

    print(f"## Speed: 8 x 1024^2 int8 randn*8 ({n / 1e6:.1f} M entries), single thread, best of 5\n")
    print("| L | model M/s | rANS encode M/s | whole encode() M/s | rANS decode M/s | whole decode() M/s | zlib-9 compress M/s | zlib inflate M/s |")
    print("|---|---|---|---|---|---|---|---|")
    raw = mock.tobytes()
    t_zc, z = best_of(lambda: zlib.compress(raw, 9), 1)
    t_zd, _ = best_of(lambda: zlib.decompress(z))
    for L in (1, 4, 8, 32, 256):
        t_model, m = best_of(lambda: build_model(mock, 12))
        t_enc, (states, words) = best_of(lambda: encode_interleaved(m.ids, m.freqs, m.cdf, 12, L))
        t_all, data = best_of(lambda: anspack.encode({"m": mock}, lanes=L))
        t_dec, _ = best_of(lambda: decode_interleaved(states, words, m.cdf, 12, n))
        t_dall, _ = best_of(lambda: anspack.decode(data))
        row = dict(lanes=L, model=n / t_model / 1e6, encode=n / t_enc / 1e6, encode_api=n / t_all / 1e6,
                   decode=n / t_dec / 1e6, decode_api=n / t_dall / 1e6, zlib9_compress=n / t_zc / 1e6,
                   zlib_inflate=n / t_zd / 1e6)
        results["speed"].append(row)
        print(f"| {L} | {row['model']:.0f} | {row['encode']:.0f} | {row['encode_api']:.0f} | {row['decode']:.0f} | "
              f"{row['decode_api']:.0f} | {row['zlib9_compress']:.1f} | {row['zlib_inflate']:.0f} |")

    a = mock[0]
    H = entropy_bits(build_model(a, 12).counts)
    peers = {"zlib-9": lambda b: len(zlib.compress(b, 9)), "xz-9": lambda b: len(lzma.compress(b, preset=9))}
    try:
        import brotli
        peers["brotli-11"] = lambda b: len(brotli.compress(b, quality=11))
    except ImportError:
        pass
    try:
        import zstandard
        peers["zstd-19"] = lambda b: len(zstandard.ZstdCompressor(level=19).compress(b))
    except ImportError:
        pass
    sizes = {k: 8 * f(a.tobytes()) / a.size for k, f in peers.items()}
    print(f"\n## Size: 1024^2 int8 randn*8, empirical entropy {H:.4f} bits/entry\n")
    print("| coder | bits/entry | vs entropy |")
    print("|---|---|---|")
    for L in (1, 32, 1024):
        t = anspack.read_header(anspack.encode({"m": a}, lanes=L))["m"]
        bits = 8 * t.data_size / a.size
        results["size"].append(dict(coder=f"anspack L={L}", bits=bits, overhead=bits / H - 1))
        print(f"| anspack L={L} (whole tensor section) | {bits:.4f} | {100 * (bits / H - 1):+.2f} % |")
    for k, bits in sizes.items():
        results["size"].append(dict(coder=k, bits=bits, overhead=bits / H - 1))
        print(f"| {k} | {bits:.4f} | {100 * (bits / H - 1):+.2f} % |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
