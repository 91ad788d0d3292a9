"""Benchmark the WebGPU decoder's WGSL outside a browser, through the ``wgpu`` Python package.

    pip install wgpu            # wgpu-native; any Vulkan / Metal / D3D12 GPU (or Mesa's lavapipe)
    python benchmarks/gpu_bench_wgpu.py [--sizes 1000000 4000000] [--lanes auto 65536] [--repeats 5]

This runs the very shaders of jsdecoder/src/gpu.js (WGSL and WGSL_FUSED, read from that file) with a
small Python host that mirrors gpu.js's buffer layout -- the fused 'single' schedule (one workgroup
per tensor, all tensors in one dispatch) and the 'rows' schedule (two dispatches per row) -- on the
same data as benchmarks/gpu_bench.py (int8 Laplace tensors; MiniLM-L6's weights as int8 at
``gpu_layout`` lanes, when the bundled model is installed). It checks the decoded values and the
ids checksum against ``anspack.decode`` and prints, per file and schedule:

- on a real GPU: GPU decode time (submit to completion, inputs already uploaded, decode + pack
  dispatches), end to end (upload + decode + readback of values and ids, not the CPU checksum), and the
  CPU decoder's time (``anspack.decode``, Numba) measured in the same process, as M entries/s;
- on a CPU adapter (lavapipe / llvmpipe / SwiftShader): only "works" -- never a speed.

This is how to get GPU figures on a headless GPU server (e.g. the H100 the project's device tool
lends), where Chromium's WebGPU is awkward to set up.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

import anspack
from anspack.checksum import fxhash26
from anspack.container import rans_arrays
from anspack.gpu import entropy_bits, gpu_layout

ROOT = Path(__file__).resolve().parent.parent
WG = 256


def shaders() -> tuple[str, str]:
    src = (ROOT / "jsdecoder" / "src" / "gpu.js").read_text()
    found = dict(re.findall(r"export const (WGSL\w*) = /\* wgsl \*/ `(.*?)`;", src, flags=re.S))
    return found["WGSL"], found["WGSL_FUSED"]


def model_table(t, data: memoryview) -> np.ndarray:
    """As gpu.js buildModel: 2 u32 per slot (id, f << 16 | bias), then the values' bit patterns."""
    r = rans_arrays(data, t)
    M = 1 << t.precision
    cdf = r.cdf.astype(np.int64)
    f = np.diff(cdf)
    sym = np.repeat(np.arange(t.vocab_size), f)
    slots = np.arange(M)
    out = np.zeros(2 * M + t.vocab_size, dtype=np.uint32)
    out[0:2 * M:2] = sym
    out[1:2 * M:2] = (f[sym] << 16) | (slots - cdf[sym])
    size = np.dtype(t.dtype).itemsize
    out[2 * M:] = r.values.view(f"<u{size}").astype(np.uint32)
    return out


class Host:
    def __init__(self):
        import wgpu

        self.wgpu = wgpu
        self.adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        lim = self.adapter.limits
        self.device = self.adapter.request_device_sync(required_limits={
            "max-storage-buffer-binding-size": lim["max-storage-buffer-binding-size"],
            "max-buffer-size": lim["max-buffer-size"]})
        rows_src, fused_src = shaders()
        self.rows = self._pipelines(rows_src, ["rowStep", "rowScan", "pack"])
        self.fused = self._pipelines(fused_src, ["decodeFused", "packFused"])

    def _pipelines(self, code, names):
        wgpu, d = self.wgpu, self.device
        module = d.create_shader_module(code=code)
        entries = [{"binding": 0, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": wgpu.BufferBindingType.uniform}}]
        for b in range(1, 8):
            kind = wgpu.BufferBindingType.read_only_storage if b <= 2 else wgpu.BufferBindingType.storage
            entries.append({"binding": b, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": kind}})
        layout = d.create_bind_group_layout(entries=entries)
        pl = d.create_pipeline_layout(bind_group_layouts=[layout])
        out = {"layout": layout}
        for name in names:
            out[name] = d.create_compute_pipeline(layout=pl, compute={"module": module, "entry_point": name})
        return out

    @property
    def is_cpu(self) -> bool:
        info = self.adapter.info
        text = " ".join(str(info.get(k, "")) for k in ("vendor", "device", "description", "adapter_type")).lower()
        return any(w in text for w in ("llvmpipe", "lavapipe", "swiftshader", "cpu"))

    def buf(self, data=None, size=None, usage=0):
        U = self.wgpu.BufferUsage
        if data is not None:
            raw = np.ascontiguousarray(data).tobytes()
            raw += b"\0" * (-len(raw) % 4 or (4 if not raw else 0))
            return self.device.create_buffer_with_data(data=raw, usage=usage | U.COPY_SRC)
        return self.device.create_buffer(size=max(4, -(-size // 4) * 4), usage=usage | U.COPY_SRC)

    def bind(self, pls, buffers):
        return self.device.create_bind_group(layout=pls["layout"], entries=[
            {"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}} for i, b in enumerate(buffers)])

    def run(self, passes):
        """Record passes [(pipeline, bind group, (x, y, z))...] in one compute pass, submit, wait."""
        enc = self.device.create_command_encoder()
        cp = enc.begin_compute_pass()
        for pipeline, bg, grid in passes:
            cp.set_pipeline(pipeline)
            cp.set_bind_group(0, bg)
            cp.dispatch_workgroups(*grid)
        cp.end()
        self.device.queue.submit([enc.finish()])
        self.device.queue.read_buffer(self._sync)  # waits for the queue


def plan(t, n):
    L, V = t.lanes, t.vocab_size
    size = np.dtype(t.dtype).itemsize
    id_bytes = 1 if V <= 256 else 2
    p = dict(n=n, L=L, W=t.words, P=t.precision, M=1 << t.precision, G=-(-L // WG), rows=-(-n // L),
             id_bytes=id_bytes, val_bytes=size, id_words=-(-n * id_bytes // 4), val_words=-(-n * size // 4))
    p["pack_groups"] = -(-max(p["id_words"], p["val_words"]) // WG)
    return p


def decode_fused(h: Host, data: bytes, infos):
    """All given tensors with the fused 'single' schedule. Returns (timings, {name: (values, checksum, ok)})."""
    U = h.wgpu.BufferUsage
    mv = memoryview(data)
    t_start = time.perf_counter()
    descs, models, words, states = [], [], [], []
    mo = wo = so = io = oi = ov = pg = 0
    plans = []
    for t in infos:
        n = int(np.prod(t.shape))
        p = plan(t, n)
        r = rans_arrays(mv, t)
        m = model_table(t, mv)
        p.update(modelOff=mo, wordOff=wo, stateOff=so, idOff=io, outIdOff=oi, outValOff=ov, packStart=pg)
        models.append(m); words.append(np.asarray(r.words, dtype="<u2")); states.append(np.asarray(r.states, dtype="<u4"))
        mo += m.size; wo += t.words; so += t.lanes; io += n; oi += p["id_words"]; ov += p["val_words"]; pg += p["pack_groups"]
        plans.append(p)
    inp16 = np.concatenate([np.concatenate(models).view("<u2"), np.concatenate(words) if words else np.zeros(0, "<u2")])
    if inp16.size % 2:
        inp16 = np.concatenate([inp16, np.zeros(1, "<u2")])
    desc = np.zeros((len(plans), 20), dtype=np.uint32)
    for k, p in enumerate(plans):
        desc[k] = [p["n"], p["L"], p["W"], p["P"], p["rows"], p["G"], p["modelOff"], p["modelOff"] + 2 * p["M"],
                   2 * mo + p["wordOff"], p["stateOff"], p["idOff"], p["outIdOff"], p["outValOff"], p["id_bytes"],
                   p["val_bytes"], p["id_words"], p["val_words"], p["packStart"], 0, 0]
    nwgx = min(max(pg, 1), 65535)
    nwgy = -(-pg // nwgx)
    bufs = [h.buf(np.array([len(plans), nwgx, pg, 0], np.uint32), usage=U.UNIFORM),
            h.buf(desc, usage=U.STORAGE), h.buf(inp16, usage=U.STORAGE),
            h.buf(np.concatenate(states), usage=U.STORAGE), h.buf(size=4 * io, usage=U.STORAGE),
            h.buf(size=4 * len(plans), usage=U.STORAGE), h.buf(size=4 * oi, usage=U.STORAGE),
            h.buf(size=4 * ov, usage=U.STORAGE)]
    h._sync = bufs[5]
    bg = h.bind(h.fused, bufs)
    t_up = time.perf_counter()
    h.run([(h.fused["decodeFused"], bg, (len(plans), 1, 1)), (h.fused["packFused"], bg, (nwgx, nwgy, 1))])
    t_dec = time.perf_counter()
    counts = np.frombuffer(h.device.queue.read_buffer(bufs[5]), np.uint32)
    fin = np.frombuffer(h.device.queue.read_buffer(bufs[3]), np.uint32)
    out_ids = bytes(h.device.queue.read_buffer(bufs[6]))
    out_vals = bytes(h.device.queue.read_buffer(bufs[7]))
    t_end = time.perf_counter()
    results = {}
    for k, (t, p) in enumerate(zip(infos, plans)):
        ids = np.frombuffer(out_ids, dtype=f"<u{p['id_bytes']}", count=p["n"], offset=4 * p["outIdOff"])
        vals = np.frombuffer(out_vals, dtype=np.dtype(t.dtype).newbyteorder("<"), count=p["n"], offset=4 * p["outValOff"])
        ok = counts[k] == p["W"] and (fin[p["stateOff"]:p["stateOff"] + p["L"]] == 65536).all()
        results[t.name] = (vals, fxhash26(ids.astype(np.uint32)), bool(ok))
    return {"decode": t_dec - t_up, "total": t_end - t_start, "dispatches": 2}, results


def decode_rows(h: Host, data: bytes, t):
    """One tensor with the 'rows' schedule (2R+2 dispatches)."""
    U = h.wgpu.BufferUsage
    mv = memoryview(data)
    t_start = time.perf_counter()
    n = int(np.prod(t.shape))
    p = plan(t, n)
    r = rans_arrays(mv, t)
    m = model_table(t, mv)
    nwgx = min(p["pack_groups"], 65535)
    nwgy = -(-p["pack_groups"] // nwgx)
    pend = 2 + 2 * p["G"]
    params = np.array([n, p["L"], p["W"], p["P"], p["rows"], p["G"], p["G"], p["M"], 2 * p["M"], p["id_bytes"],
                       p["val_bytes"], nwgx, p["id_words"], p["val_words"], pend, 0], np.uint32)
    w16 = np.asarray(r.words, dtype="<u2")
    bufs = [h.buf(params, usage=U.UNIFORM), h.buf(m, usage=U.STORAGE), h.buf(w16, usage=U.STORAGE),
            h.buf(np.asarray(r.states, "<u4"), usage=U.STORAGE), h.buf(size=4 * n, usage=U.STORAGE),
            h.buf(size=4 * (pend + p["L"]), usage=U.STORAGE), h.buf(size=4 * p["id_words"], usage=U.STORAGE),
            h.buf(size=4 * p["val_words"], usage=U.STORAGE)]
    h._sync = bufs[0]
    bg = h.bind(h.rows, bufs)
    passes = []
    for _ in range(p["rows"]):
        passes += [(h.rows["rowStep"], bg, (p["G"], 1, 1)), (h.rows["rowScan"], bg, (1, 1, 1))]
    passes += [(h.rows["rowStep"], bg, (p["G"], 1, 1)), (h.rows["pack"], bg, (nwgx, nwgy, 1))]
    t_up = time.perf_counter()
    h.run(passes)
    t_dec = time.perf_counter()
    ctl = np.frombuffer(h.device.queue.read_buffer(bufs[5]), np.uint32)
    fin = np.frombuffer(h.device.queue.read_buffer(bufs[3]), np.uint32)
    ids = np.frombuffer(h.device.queue.read_buffer(bufs[6]), dtype=f"<u{p['id_bytes']}", count=n)
    vals = np.frombuffer(h.device.queue.read_buffer(bufs[7]), dtype=np.dtype(t.dtype).newbyteorder("<"), count=n)
    t_end = time.perf_counter()
    ok = ctl[0] == p["W"] and (fin[:p["L"]] == 65536).all()
    return ({"decode": t_dec - t_up, "total": t_end - t_start, "dispatches": len(passes)},
            {t.name: (vals, fxhash26(ids.astype(np.uint32)), bool(ok))})


def files(sizes, lanes, with_model):
    rng = np.random.default_rng(0)
    for n in sizes:
        w = np.clip(np.round(rng.laplace(0, 2.0, n)), -128, 127).astype(np.int8)
        for spec in lanes:
            L = gpu_layout(n, bits_per_entry=entropy_bits(w)) if spec == "auto" else min(int(spec), n)
            yield f"n{n}_L{L}", anspack.encode({"w": w}, lanes=L)
    if with_model:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import tempfile

        from gpu_bench import minilm_file

        with tempfile.TemporaryDirectory() as tmp:
            info = minilm_file(Path(tmp))
            if info is not None:
                yield "minilm_int8", (Path(tmp) / info["name"]).read_bytes()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--lanes", nargs="+", default=["auto", "65536"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-model", action="store_true")
    args = ap.parse_args(argv)
    try:
        h = Host()
    except Exception as e:  # no wgpu, no adapter
        print(f"wgpu unavailable: {e}")
        return 1
    print("adapter:", dict(h.adapter.info))
    cpu_adapter = h.is_cpu
    if cpu_adapter:
        print("CPU adapter (software Vulkan): correctness only, no speed figures.")
    rows_out = []
    all_ok = True
    for label, data in files(args.sizes, args.lanes, not args.no_model):
        infos = [t for t in anspack.read_header(data).tensors if t.coding == "rans" and np.prod(t.shape) > 0]
        ref = anspack.decode(data)
        n = sum(int(np.prod(t.shape)) for t in infos)
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            anspack.decode(data)
        cpu_s = (time.perf_counter() - t0) / args.repeats
        for schedule in ("single", "rows"):
            best = None
            for _ in range(1 if cpu_adapter else args.repeats):
                if schedule == "single":
                    tm, res = decode_fused(h, data, infos)
                else:
                    tm = {"decode": 0.0, "total": 0.0, "dispatches": 0}
                    res = {}
                    for t in infos:
                        a, b = decode_rows(h, data, t)
                        res.update(b)
                        for k in tm:
                            tm[k] += a[k]
                best = tm if best is None or tm["decode"] < best["decode"] else best
            ok = all(res[t.name][2] and res[t.name][1] == t.checksum
                     and np.array_equal(res[t.name][0], ref[t.name].reshape(-1)) for t in infos)
            all_ok &= ok
            rows_out.append((label, len(infos), n, schedule, best, cpu_s, ok))
    print()
    if cpu_adapter:
        print("| file | tensors | entries | schedule | dispatches | result |")
        print("|------|--------:|--------:|----------|-----------:|--------|")
        for label, k, n, sch, tm, _, ok in rows_out:
            print(f"| {label} | {k} | {n} | {sch} | {tm['dispatches']} | {'works' if ok else 'FAILS'} |")
    else:
        print("| file | tensors | entries | schedule | dispatches | GPU decode ms | GPU end-to-end ms | CPU (Numba) ms | GPU decode M/s | CPU M/s | decode speed-up | end-to-end speed-up | equal |")
        print("|------|--------:|--------:|----------|-----------:|--------------:|------------------:|---------------:|---------------:|--------:|----------------:|--------------------:|-------|")
        for label, k, n, sch, tm, cpu_s, ok in rows_out:
            print(f"| {label} | {k} | {n} | {sch} | {tm['dispatches']} | {1e3 * tm['decode']:.2f} | {1e3 * tm['total']:.2f} | "
                  f"{1e3 * cpu_s:.2f} | {n / tm['decode'] / 1e6:.0f} | {n / cpu_s / 1e6:.0f} | {cpu_s / tm['decode']:.2f}x | "
                  f"{cpu_s / tm['total']:.2f}x | {ok} |")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
