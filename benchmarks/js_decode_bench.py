"""Benchmark: the JS decoder in headless Chromium (and node) against native gzip inflation.

    python benchmarks/js_decode_bench.py [--repeats 5] [--lanes 1 4 8 32 256] [--engines js wasm]

Data: the 8 x 1024^2 int8 mock ``np.round(np.random.randn(8, 1024, 1024) * 8)`` with seed 0, encoded
with anspack (P = 12, lanes L) and, separately, its raw int8 bytes gzipped at level 9. In one page
the script times ``decode()`` (all checksums verified) for each L and each decode engine (``js``: the
pure-JS loops, ``wasm``: the WebAssembly core of jsdecoder/src/wasm/) and ``DecompressionStream('gzip')``
inflating the gzip to the same bytes; in node it times ``decode()`` against ``zlib.gunzipSync``.
Runs are interleaved (gzip, then each file, repeated ``--repeats`` times after two warm-up rounds) so
that load drifting on a shared machine affects every contender alike. It prints a markdown table of
M entries/s (= MB/s of int8 output) and the speed ratio to gzip: best over best, median over median,
and the median over rounds of the ratio within each round (the most robust to a drifting load).
No thresholds: figures only. The load average is printed too; compare figures from one run only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import anspack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from anspack_test_server import launch_chromium, start_server  # noqa: E402


def make_files(directory: Path, lanes: list[int]) -> dict:
    np.random.seed(0)
    w = np.round(np.random.randn(8, 1024, 1024) * 8).astype(np.int8)
    raw = w.tobytes()
    (directory / "mock.int8").write_bytes(raw)
    gz = gzip.compress(raw, compresslevel=9, mtime=0)
    (directory / "mock.int8.gz").write_bytes(gz)
    sizes = {"raw": len(raw), "gzip": len(gz)}
    for L in lanes:
        data = anspack.encode({"w": w}, lanes=L, precision=12)
        (directory / f"mock_L{L}.anspack").write_bytes(data)
        sizes[f"L{L}"] = len(data)
    return sizes


def browser_bench(directory: Path, lanes: list[int], repeats: int, engines: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    static, server = start_server()
    try:
        base = static.mount(directory)
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page()
            page.goto(static.url("tests/browser/index.html"))
            page.wait_for_function("window.anspackReady === true")
            cfg = {
                "files": [{"label": f"L={L}", "url": f"{base}mock_L{L}.anspack"} for L in lanes],
                "gzUrl": f"{base}mock.int8.gz", "rawUrl": f"{base}mock.int8", "repeats": repeats,
                "engines": engines,
            }
            result = page.evaluate(
                "async cfg => (await import('/benchmarks/js_bench_page.js')).runBench(cfg)", cfg)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return result


def node_bench(directory: Path, lanes: list[int], repeats: int, engines: list[str]) -> dict:
    out = subprocess.run(
        ["node", str(ROOT / "benchmarks" / "js_decode_bench_node.mjs"), str(directory), str(repeats),
         ",".join(engines), *map(str, lanes)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def table(title: str, result: dict, gzip_name: str) -> str:
    n = result["entries"]
    g = result["gzip"]
    rate = lambda ms: n / ms / 1e3  # noqa: E731  (M entries/s = MB/s of int8 output)
    lines = [f"### {title}", "",
             "| decoder | input bytes | best ms | median ms | M entries/s (best) | × gzip, best / median | "
             "× gzip, median of per-round ratios |",
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| {gzip_name} | {result['gzBytes']} | {g['best']:.1f} | {g['median']:.1f} | {rate(g['best']):.0f} | "
             f"1.00 / 1.00 | 1.00 |"]
    for d in result["decode"]:
        paired = sorted(a / b for a, b in zip(g["times"], d["times"]))
        lines.append(f"| anspack decode, {d['label']}, checksums on | {d['fileBytes']} | {d['best']:.1f} | "
                     f"{d['median']:.1f} | {rate(d['best']):.0f} | {g['best'] / d['best']:.2f} / "
                     f"{g['median'] / d['median']:.2f} | {paired[len(paired) // 2]:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 4, 8, 32, 256])
    ap.add_argument("--engines", nargs="+", default=["js", "wasm"], choices=["js", "wasm", "auto"],
                    help="decode()'s engine option; each file is timed with each")
    ap.add_argument("--no-node", action="store_true")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="anspack-bench-") as tmp:
        directory = Path(tmp)
        sizes = make_files(directory, args.lanes)
        print(f"8 x 1024^2 int8 mock (randn*8, seed 0): raw {sizes['raw']} B, gzip -9 {sizes['gzip']} B, "
              + ", ".join(f"anspack {k} {v} B" for k, v in sizes.items() if k.startswith("L")))
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        print()
        if not args.no_browser:
            r = browser_bench(directory, args.lanes, args.repeats, args.engines)
            print(table(f"Headless Chromium {r['userAgent'].split('Chrome/')[-1].split(' ')[0]}", r,
                        "DecompressionStream('gzip')"))
            print()
        if not args.no_node:
            r = node_bench(directory, args.lanes, args.repeats, args.engines)
            print(table(f"node {r['version']}", r, "zlib.gunzipSync"))
        print()
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
