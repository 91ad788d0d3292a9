"""Core coder benchmark: the Numba encoder's stages and the whole ``anspack.encode()`` against
constriction's whole path, decode throughput, and size vs entropy, zlib-9 (and brotli-11, zstd-19, xz
if installed), measured side by side in one run.

    python -m benchmarks.core_bench [--datasets mock minilm-int8 minilm-int4] [--rounds 7] [--json out.json]

Speed: every measured function runs once per round, the rounds interleaved (so background load hits all
alike), and the best round counts. Stages, single thread, per L:
- model: ``build_model`` (histogram, vocabulary, frequencies, id mapping), without / with its checksum;
- rANS: ``encode_interleaved`` alone, ``encode_interleaved_checksum`` (the ids' FxHash26 in the same
  loop), ``decode_interleaved``.
Whole path: ``anspack.encode()`` with 1 thread and with its default threads vs constriction
(counts -> Categorical -> AnsCoder.encode_reverse per tensor; as in benchmarks/peers.py).
Size: a 1024^2 slice of the mock at L = 1, 32, 1024.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import time
import zlib

import numpy as np

import anspack
from anspack.checksum import fxhash26
from anspack.model import build_model, entropy_bits
from anspack.rans import decode_interleaved, encode_interleaved, encode_interleaved_checksum

from . import peers


def interleaved(fns: dict, rounds: int) -> dict:
    """Best time of each function over ``rounds`` rounds, each round running every function once."""
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def speed(key: str, tensors: dict, rounds: int, lanes_list) -> dict:
    arrays = [a for a in tensors.values()]
    n = sum(a.size for a in arrays)
    models = [build_model(a, 12) for a in arrays]
    out = {"entries": n, "stages": [], "whole": []}
    print(f"\n## {key}: {len(arrays)} tensors, {n / 1e6:.2f} M entries (load {os.getloadavg()[0]:.2f})\n")
    print("Stages, single thread, P = 12, M entries/s (best of %d interleaved rounds)\n" % rounds)
    print("| L | model | model + checksum | rANS encode | rANS encode + checksum | (encode, then fxhash26) | rANS decode |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for L in lanes_list:
        coded = [encode_interleaved(m.ids, m.freqs, m.cdf, 12, min(L, m.ids.size)) for m in models]
        fns = {
            "model": lambda: [build_model(a, 12) for a in arrays],
            "model_checksum": lambda: [build_model(a, 12).checksum for a in arrays],
            "encode": lambda: [encode_interleaved(m.ids, m.freqs, m.cdf, 12, min(L, m.ids.size)) for m in models],
            "encode_checksum": lambda: [encode_interleaved_checksum(m.ids, m.freqs, m.cdf, 12, min(L, m.ids.size))
                                        for m in models],
            "encode_then_hash": lambda: [(encode_interleaved(m.ids, m.freqs, m.cdf, 12, min(L, m.ids.size)),
                                          fxhash26(m.ids)) for m in models],
            "decode": lambda: [decode_interleaved(s, w, m.cdf, 12, m.ids.size) for m, (s, w) in zip(models, coded)],
        }
        t = interleaved(fns, rounds)
        row = {"lanes": L, **{k: n / v / 1e6 for k, v in t.items()}}
        out["stages"].append(row)
        print(f"| {L} | {row['model']:.0f} | {row['model_checksum']:.0f} | {row['encode']:.0f} | "
              f"{row['encode_checksum']:.0f} | {row['encode_then_hash']:.0f} | {row['decode']:.0f} |")
    have_c = peers.constriction_available()
    print("\nWhole path, M entries/s (best of %d interleaved rounds)%s\n"
          % (rounds, "" if have_c else " -- constriction not installed"))
    print("| L | encode() 1 thread | encode() default threads | constriction whole path | ratio 1 thread | ratio default |")
    print("|---|---:|---:|---:|---:|---:|")
    for L in (4, 8):
        fns = {"api_1": lambda: anspack.encode(tensors, lanes=L, threads=1),
               "api": lambda: anspack.encode(tensors, lanes=L)}
        if have_c:
            fns["constriction"] = lambda: peers.constriction_encode(tensors)
        t = interleaved(fns, rounds)
        row = {"lanes": L, **{k: n / v / 1e6 for k, v in t.items()}}
        c = row.get("constriction")
        r1 = f"{row['api_1'] / c:.2f}x" if c else "-"
        r2 = f"{row['api'] / c:.2f}x" if c else "-"
        out["whole"].append(row)
        print(f"| {L} | {row['api_1']:.0f} | {row['api']:.0f} | {c or 0:.0f} | {r1} | {r2} |")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["mock"], choices=list(peers.DATASETS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 4, 8, 32, 256])
    ap.add_argument("--json", help="write the results as JSON here")
    args = ap.parse_args(argv)
    anspack.encode({"warm": np.arange(4, dtype=np.int8)})  # compile / load Numba caches
    results = {"speed": {}, "size": []}
    for key in args.datasets:
        results["speed"][key] = speed(key, peers.DATASETS[key][1](), args.rounds, args.lanes)

    mock = peers.mock_tensors()
    a = mock["mock.0"]
    H = entropy_bits(build_model(a, 12).counts)
    codecs = {"zlib-9": lambda b: len(zlib.compress(b, 9)), "xz-9": lambda b: len(lzma.compress(b, preset=9))}
    try:
        import brotli
        codecs["brotli-11"] = lambda b: len(brotli.compress(b, quality=11))
    except ImportError:
        pass
    try:
        import zstandard
        codecs["zstd-19"] = lambda b: len(zstandard.ZstdCompressor(level=19).compress(b))
    except ImportError:
        pass
    sizes = {k: 8 * f(a.tobytes()) / a.size for k, f in codecs.items()}
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
