"""Side-by-side measurements of anspack against general-purpose codecs on the same integers, for
``anspack bench`` (and benchmarks/peers.py, which adds the browser, node and constriction).

Everything is measured in one process, in interleaved rounds whose order rotates every round, so that
a change of the machine's load hits every contender alike; each contender's best time is reported,
and for two contenders the paired median: the median over rounds of their ratio within one round.

    >>> t = {"w": np.array([[0, 1, -1, 0], [2, 0, 0, -1]], dtype=np.int8)}
    >>> is_nibble(t), len(codec_bytes(t))   # 8 entries of 4 bits: 4 bytes
    (True, 4)
    >>> entropy_bits(t["w"])                # counts 4, 2, 1, 1 of 8: 1.75 bits each
    14.0
"""

from __future__ import annotations

import lzma
import statistics
import time
import zlib
from typing import Callable, Mapping

import numpy as np


def entropy_bits(a: np.ndarray) -> float:
    """Order-0 empirical entropy of the tensor's values, in bits for the whole tensor."""
    _, counts = np.unique(np.asarray(a), return_counts=True)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


def fits_nibbles(a) -> bool:
    """A 1-byte integer tensor whose values fit 4 bits: int8 in [-8, 7], uint8 in [0, 15] (as the JS
    decoder's ``nibbles`` option)."""
    a = np.asarray(a)
    if a.dtype.itemsize != 1 or a.dtype.kind not in "iu":
        return False
    lo, hi = (-8, 7) if a.dtype.kind == "i" else (0, 15)
    return a.size == 0 or (int(np.min(a)) >= lo and int(np.max(a)) <= hi)


def is_nibble(tensors: Mapping[str, np.ndarray]) -> bool:
    """True if every tensor fits 4 bits (:func:`fits_nibbles`): the codecs get nibble-packed bytes only."""
    return all(fits_nibbles(a) for a in tensors.values())


def codec_bytes(tensors: Mapping[str, np.ndarray]) -> bytes:
    """The bytes a general-purpose codec gets: every tensor's little-endian bytes in order (1-byte
    tensors as int8), a tensor that :func:`fits_nibbles` as two 4-bit values per byte (low nibble first,
    an odd count padded with a zero nibble)."""
    out = []
    for a in tensors.values():
        if fits_nibbles(a):
            u = (np.asarray(a).reshape(-1).astype(np.int16) & 0xF).astype(np.uint8)
            if u.size % 2:
                u = np.append(u, np.uint8(0))
            out.append((u[0::2] | (u[1::2] << 4)).tobytes())
        else:
            out.append(np.ascontiguousarray(a, dtype=_le(a)).tobytes())
    return b"".join(out)


def _le(a) -> np.dtype:
    a = np.asarray(a)
    return np.dtype(np.int8) if a.dtype.itemsize == 1 and a.dtype.kind in "iub" else a.dtype.newbyteorder("<")


def general_codecs(slow: bool = True) -> dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]]:
    """name -> (compress, decompress): zlib-9 and xz (preset 9 | extreme) from the standard library,
    zstd-19 and brotli-11 where their packages are installed; ``slow=False`` leaves out brotli-11 and xz."""
    codecs = {"zlib-9": (lambda b: zlib.compress(b, 9), zlib.decompress)}
    try:
        import zstandard
        codecs["zstd-19"] = (lambda b: zstandard.ZstdCompressor(level=19).compress(b),
                             lambda b: zstandard.ZstdDecompressor().decompress(b))
    except ImportError:
        pass
    if slow:
        try:
            import brotli
            codecs["brotli-11"] = (lambda b: brotli.compress(b, quality=11), brotli.decompress)
        except ImportError:
            pass
        codecs["xz-9e"] = (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress)
    return codecs


def interleaved(contenders: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each contender over ``rounds`` rounds (after ``warmup`` untimed ones); in
    round r the contenders run in their order rotated by r."""
    keys = list(contenders)
    times = {k: [] for k in keys}
    for r in range(warmup + rounds):
        for j in range(len(keys)):
            k = keys[(j + r) % len(keys)]
            t0 = time.perf_counter()
            contenders[k]()
            dt = time.perf_counter() - t0
            if r >= warmup:
                times[k].append(dt)
    return times


def paired_median(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[r] / b[r] (how many times faster b was than a, round by round)."""
    return float(statistics.median(x / y for x, y in zip(a, b)))


def run(tensors: Mapping[str, np.ndarray], data: bytes, *, rounds: int = 5, threads: int | None = None,
        slow_codecs: bool = True, progress: Callable[[str], None] | None = None) -> dict:
    """Measure one file: ``data`` (an .anspack file) holding ``tensors`` (its stored integers).

    Sizes: the file, its data blocks, the per-tensor order-0 entropy and each general-purpose codec on
    :func:`codec_bytes`. Speed: anspack.decode(data) (every checksum verified) against each codec's
    decompress of its own output (the same integers), and anspack.encode(tensors) (default options)
    against zlib-9's compress, the one codec always available. Returns a dict (``anspack bench --json``)."""
    import anspack

    say = progress or (lambda msg: None)
    header = anspack.read_header(data)
    n = sum(int(np.asarray(a).size) for a in tensors.values())
    raw = codec_bytes(tensors)
    # the integers' own blocks (models included) are what the codecs' outputs compare with; the whole
    # file also holds names, checksums, dequant blocks and any float tensors the codecs do not get
    sizes = {"entropy": sum(entropy_bits(a) for a in tensors.values()) / 8,
             "anspack blocks": sum(t.data_size for t in header.tensors if t.name in tensors),
             "anspack file": len(data)}
    dec = {"anspack.decode": lambda: anspack.decode(data, threads=threads)}
    for name, (compress, decompress) in general_codecs(slow_codecs).items():
        say(f"{name} on {len(raw):,} bytes")
        packed = compress(raw)
        sizes[name] = len(packed)
        dec[name] = (lambda f, b: (lambda: f(b)))(decompress, packed)
    say(f"decode: anspack vs {', '.join(list(dec)[1:])}, {rounds} rounds")
    t_dec = interleaved(dec, rounds)
    say(f"encode: anspack vs zlib-9, {rounds} rounds")
    enc = {"anspack.encode": lambda: anspack.encode(dict(tensors), threads=threads),
           "zlib-9": lambda: zlib.compress(raw, 9)}
    t_enc = interleaved(enc, rounds)
    speed = {}
    for kind, t in (("decode", t_dec), ("encode", t_enc)):
        ours = "anspack." + kind
        speed[kind] = {k: {"best_s": min(v), "median_s": float(statistics.median(v)),
                           "entries_per_s": n / min(v),
                           **({} if k == ours else {"ratio_best": min(v) / min(t[ours]),
                                                    "ratio_paired_median": paired_median(v, t[ours])})}
                       for k, v in t.items()}
    return {"entries": n, "tensors": len(tensors), "nibble_packed_for_codecs": is_nibble(tensors),
            "nibble_packed_tensors": sum(fits_nibbles(a) for a in tensors.values()),
            "file_tensors": len(header.tensors),
            "codec_input_bytes": len(raw), "sizes_bytes": sizes, "rounds": rounds, "threads": threads,
            "speed": speed}


NODE_SCRIPT = r"""
// anspack bench --node: the JS decoder (an ES module path) on a file vs zlib.gunzipSync on the gzip of
// the same integers, interleaved rounds (order rotating), after one warm-up round; prints JSON.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
const [decoder, file, gz, rounds] = process.argv.slice(2);
const A = await import(pathToFileURL(decoder).href);
const data = new Uint8Array(readFileSync(file)), packed = new Uint8Array(readFileSync(gz));
const contenders = [['decode', () => A.decode(data)], ['gunzip', () => gunzipSync(packed)]];
let entries = 0;
for (const t of A.decode(data).tensors) entries += t.data.length;
const times = { decode: [], gunzip: [] };
for (let r = 0; r <= Number(rounds); r++) {
  for (let j = 0; j < contenders.length; j++) {
    const [k, fn] = contenders[(j + r) % contenders.length];
    const t0 = performance.now();
    fn();
    if (r > 0) times[k].push((performance.now() - t0) / 1000);
  }
}
console.log(JSON.stringify({ times, entries, version: process.version }));
"""


def node_decode(data: bytes, raw: bytes, decoder: str, rounds: int, node: str = "node") -> dict:
    """Time the JS decoder at ``decoder`` (its src/index.js, e.g. node_modules/anspack/src/index.js)
    decoding ``data`` in node against zlib.gunzipSync on the gzip -9 of ``raw`` (the same integers), in
    the same rounds. Returns {decode_s, gunzip_s (lists, round order), entries, version}."""
    import gzip
    import json
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="anspack-bench-") as d:
        paths = [os.path.join(d, x) for x in ("bench.mjs", "file.anspack", "raw.gz")]
        for path, content in zip(paths, (NODE_SCRIPT.encode(), data, gzip.compress(raw, 9, mtime=0))):
            with open(path, "wb") as f:
                f.write(content)
        out = subprocess.run([node, paths[0], os.path.abspath(decoder), paths[1], paths[2], str(rounds)],
                             capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"node failed: {out.stderr.strip()[-800:]}")
    r = json.loads(out.stdout)
    return {"decode_s": r["times"]["decode"], "gunzip_s": r["times"]["gunzip"], "entries": r["entries"],
            "version": r["version"]}


def report(result: dict) -> str:
    """Markdown tables of :func:`run`'s result."""
    n = result["entries"]
    s = result["sizes_bytes"]
    lines = ["| | bytes | bits/entry | this / anspack blocks |", "|---|---:|---:|---:|"]
    for k, v in s.items():
        ratio = "–" if k == "anspack blocks" or s["anspack blocks"] == 0 else f"{v / s['anspack blocks']:.4f}"
        lines.append(f"| {k} | {v:,.0f} | {8 * v / n:.4f} | {ratio} |")
    k, m = result.get("nibble_packed_tensors", 0), result["tensors"]
    pack = (" (nibble-packed: two 4-bit entries per byte)" if k == m else
            f" ({k} of the {m} tensors nibble-packed: two 4-bit entries per byte)" if k else "")
    other = result.get("file_tensors", m) - m
    lines += ["", f"The codecs compress the same integers: {result['codec_input_bytes']:,} bytes{pack}; "
              "\"anspack blocks\" are the data blocks of those tensors, models included"
              + (f"; the whole file also holds {other} float tensor{'s' if other != 1 else ''} and every name, shape and checksum." if other else
                 "; the whole file also holds every name, shape and checksum."), ""]
    for kind in ("decode", "encode"):
        sp = result["speed"][kind]
        ours = "anspack." + kind
        lines += [f"| {kind} | M entries/s (best of {result['rounds']}) | anspack's speed / this (best; paired median) |",
                  "|---|---:|---:|"]
        for k, v in sp.items():
            rel = "–" if k == ours else f"{v['ratio_best']:.2f}× ({v['ratio_paired_median']:.2f}×)"
            lines.append(f"| {k} | {v['entries_per_s'] / 1e6:.1f} | {rel} |")
        lines.append("")
    js = result.get("node")
    if js:
        d, g = min(js["decode_s"]), min(js["gunzip_s"])  # rates over the integers (n), as gunzip's
        lines += [f"| node {js['version']} | M entries/s (best of {len(js['decode_s'])}) | decode() / this (best; paired median) |",
                  "|---|---:|---:|",
                  f"| decode() ({js['decoder']}) | {n / d / 1e6:.1f} | – |",
                  f"| zlib.gunzipSync (gzip -9 of the same integers) | {n / g / 1e6:.1f} | {g / d:.2f}× "
                  f"({paired_median(js['gunzip_s'], js['decode_s']):.2f}×) |", ""]
    return "\n".join(lines)
