"""anspack benchmark suite: size, encode and decode speed against the peers, side by side in one run.

    python -m benchmarks.run [--datasets mock minilm-int8 minilm-int4] [--repeats 9] [--lanes L]
                             [--workers 1 2] [--no-browser] [--no-node] [--quick] [--out PATH]

Prints markdown tables and writes everything as JSON to benchmarks/results/bench-<UTC time>.json
(or --out). Data sets and peers are described in benchmarks/peers.py. Per data set:

- size (bits/entry over all entries): the anspack file (header, table, models, states, streams; no
  dequant blocks, so that every coder stores the same integers) vs the sum of the per-tensor order-0
  empirical entropies, zlib-9 / zstd-19 / brotli-11 / xz on the concatenated int8 bytes
  (nibble-packed for 4-bit data), and constriction's AnsCoder with one Categorical per tensor
  (payload only). Also the worst per-tensor overhead over entropy (data block incl. model vs
  n * H) among tensors of >= 1M entries.
- encode throughput (M entries/s, best of 5, the two alternating): anspack.encode() of all tensors vs
  constriction's whole path (value counts -> Categorical -> AnsCoder.encode_reverse, per tensor).
- decode throughput in headless Chromium and in node (see benchmarks/bench_page/bench_core.js):
  decode() on one thread, decodeAsync() on pools of N workers, and the platform's gzip inflater
  (DecompressionStream('gzip') / zlib.gunzipSync) on the gzip -9 of the same integers -- in the same
  page / process, interleaved, best of --repeats rounds after a warm-up round.
- cold start (informational): the first decode() in a fresh node process (no JIT warm-up, the
  WebAssembly modules compiled on first use, fresh output memory) vs the first zlib.gunzipSync in a
  fresh process (bench_page/cold_node.mjs), and the first decode() in a freshly launched headless
  Chromium vs its first DecompressionStream('gzip') (bench_page/cold.html, which imports the decoder
  as one file, jsdecoder/dist/anspack.js, and times that too); --cold-rounds of each, alternating.

The machine is shared (2 cores, other jobs running): every figure is a best-of, and ratios are taken
between contenders measured in the same rounds. Targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import anspack
from anspack import bench

from . import peers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT / "tests" / "browser"))

TARGETS = {
    "entropy_overhead_pct_max": 0.5,  # within 0.5 % of entropy on >= 1M-entry tensors
    "size_vs_best_codec_max": 1.0,    # never larger than the best general-purpose codec
    "encode_vs_constriction_min": 1.5,
    "browser_decode_vs_gzip_min": 2.5,
    "workers2_vs_workers1_min": 1.8,
    "node_decode_vs_gunzip_min": 1.5,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# size and encode


def auto_raw(tensors: dict, lanes: int) -> list[str]:
    """Small tensors whose rANS block (model + states + words) would not be smaller than their raw
    bytes: stored raw (coding 1) -- e.g. 384-entry LayerNorm vectors with ~200 distinct int8 values."""
    out = []
    for name, a in tensors.items():
        if 0 < a.size < 1 << 16:
            t = anspack.read_header(anspack.encode({name: a}, lanes=lanes)).tensors[0]
            if t.data_size >= a.size * a.itemsize:
                out.append(name)
    return out


def partition_bound(sizes: list[int], k: int) -> float:
    """Best speedup k workers can get from per-tensor parallelism: total entries / the largest
    group's entries, with the groups of async.js (largest first onto the least loaded worker)."""
    loads = [0] * k
    for s in sorted(sizes, reverse=True):
        loads[loads.index(min(loads))] += s
    return sum(sizes) / max(loads) if max(loads) else float(k)


def size_and_encode(key: str, tensors: dict, args, workdir: Path) -> dict:
    n = sum(a.size for a in tensors.values())
    anspack.encode({"warm": np.arange(4, dtype=np.int8)})  # load the Numba caches
    raw_names = [] if args.no_auto_raw else auto_raw(tensors, args.lanes)
    groups = {"auto": "auto", "off": False}[args.groups]
    # anspack and constriction encode alternately, so that background load hits both alike
    do_c = not args.decode_only and peers.constriction_available()
    t_enc = t_enc1 = t_c = float("inf")
    data = enc = None
    for _ in range(args.encode_repeats):
        t, data = peers.best_of(lambda: anspack.encode(tensors, lanes=args.lanes, raw=raw_names, chunk=args.chunk,
                                                       groups=groups), 1)
        t_enc = min(t_enc, t)
        t, data1 = peers.best_of(lambda: anspack.encode(tensors, lanes=args.lanes, raw=raw_names, chunk=args.chunk,
                                                        groups=groups, threads=1), 1)
        t_enc1 = min(t_enc1, t)
        if data1 != data:
            raise AssertionError(f"{key}: anspack.encode(threads=1) wrote other bytes than the default")
        if do_c:
            t, enc = peers.best_of(lambda: peers.constriction_encode(tensors), 1)
            t_c = min(t_c, t)
    back = anspack.decode(data)
    for name, a in tensors.items():
        if not np.array_equal(back[name], a):
            raise AssertionError(f"{key}: anspack round trip failed for {name}")
    hdr = anspack.read_header(data)
    ent = {name: peers.entropy_bits(a) for name, a in tensors.items()}
    big = []
    for t in hdr.tensors:
        if t.data_size and int(np.prod(t.shape)) >= 1_000_000 and ent[t.name] > 0:
            big.append({"name": t.name, "entries": int(np.prod(t.shape)), "entropy_bits": ent[t.name],
                        "block_bits": 8 * t.data_size, "overhead_pct": 100 * (8 * t.data_size / ent[t.name] - 1)})
    # the units decodeAsync hands to 2 workers: tensors, or the chunks of a chunked tensor costing more
    # than a worker's share (async.js SPLIT_MIN; its cost(): symbols + 4096 per rANS tensor, the rows
    # two chunks decode together at 0.8, bytes / 8 + 1024 per raw tensor)
    def blocks(t):  # the coding-0 blocks: the tensor's, or its row groups' (coding 2)
        return t.groups if t.coding == "groups" else [t]

    def cost(t):
        if t.coding == "groups":
            return sum(cost(s) for s in t.groups)
        if t.coding != "rans":
            return t.data_size / 8 + 1024
        sizes = [b - a for a, b in map(t.chunk_bounds, range(t.chunks))] if t.chunk else [t.symbols]
        paired = sum(2 * min(sizes[k], sizes[k + 1]) for k in range(0, len(sizes) - 1, 2)) if t.lanes % 4 == 0 else 0
        return t.symbols - 0.2 * paired + 4096
    share = sum(cost(t) for t in hdr.tensors) / 2
    sizes = []
    for t in hdr.tensors:
        for b in blocks(t):
            if b.coding == "rans" and b.chunk and cost(b) > share:
                sizes += [(y - x) * (2 if b.pairs else 1) for x, y in map(b.chunk_bounds, range(b.chunks))]
            else:
                sizes.append(b.size)
    res = {
        "entries": n, "tensors": len(tensors), "lanes": sorted({t.lanes for t in hdr.tensors if t.lanes}), "raw_tensors": raw_names,
        "two_worker_partition_bound": partition_bound(sizes, 2),
        "nibble_packed_for_codecs": peers.is_nibble(tensors),
        "sizes_bytes": {"entropy": sum(ent.values()) / 8, "anspack": len(data),
                        "anspack blocks": sum(t.data_size for t in hdr.tensors)},
        "big_tensors": big,
        "encode": {"anspack_s": t_enc, "anspack_1thread_s": t_enc1, "threads": os.cpu_count()},
        "layout": {"row_grouped": sum(t.coding == "groups" for t in hdr.tensors),
                   "row_groups": sum(len(t.groups) for t in hdr.tensors if t.coding == "groups"),
                   **{k: sum(f(b) for t in hdr.tensors for b in blocks(t)) for k, f in (
                       ("pairs (blocks)", lambda b: b.pairs), ("product_pairs (blocks)", lambda b: b.product),
                       ("chunked (blocks)", lambda b: bool(b.chunk)), ("chunks", lambda b: b.chunks))},
                   "precisions": sorted({b.precision for t in hdr.tensors for b in blocks(t) if b.precision})},
        "compress_s": {},
    }
    raw = peers.codec_bytes(tensors)
    for name, fn in peers.general_codecs().items():
        if (args.quick and name in ("brotli-11", "xz-9e")) or (args.decode_only and name != "zlib-9"):
            continue
        log(f"  {key}: {name} on {len(raw)} bytes")
        t0 = time.perf_counter()
        res["sizes_bytes"][name] = len(fn(raw))
        res["compress_s"][name] = time.perf_counter() - t0
    if args.decode_only:
        pass
    elif do_c:
        peers.constriction_check(tensors, enc)
        res["sizes_bytes"]["constriction (payload)"] = sum(4 * w.size for w, _, _ in enc)
        res["encode"]["constriction_s"] = t_c
    else:
        log("  constriction is not installed (pip install constriction): skipped")
    # files for the decode benchmarks
    gz = gzip.compress(raw, compresslevel=9, mtime=0)
    (workdir / f"{key}.anspack").write_bytes(data)
    (workdir / f"{key}.gz").write_bytes(gz)
    res["files"] = {"anspack": f"{key}.anspack", "gz": f"{key}.gz", "raw_bytes": len(raw), "gz_bytes": len(gz)}
    return res


# ------------------------------------------------------------------------------------------------
# decode


def run_page_bench(static, page: str, cfg: dict):
    """Open ``page`` (a path in the repo, served by ``static``) in headless Chromium, wait for
    ``window.benchReady`` and return ``window.runPageBench(cfg)``; page errors raise."""
    from anspack_test_server import launch_chromium
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page_ = browser.new_page()
            errors = []
            page_.on("pageerror", lambda e: errors.append(str(e)))
            page_.set_default_timeout(1_800_000)
            page_.goto(static.url(page))
            page_.wait_for_function("window.benchReady === true")
            out = page_.evaluate("cfg => window.runPageBench(cfg)", cfg)
            if errors:
                raise RuntimeError("page errors: " + "; ".join(errors))
            return out
        finally:
            browser.close()


def browser_decode(datasets: dict, args, workdir: Path) -> dict:
    from anspack_test_server import start_server

    static, server = start_server()
    try:
        base = static.mount(workdir)
        cfg = {"repeats": args.repeats, "workers": args.workers, "datasets": [
            {"label": k, "anspackUrl": base + d["files"]["anspack"], "gzUrl": base + d["files"]["gz"],
             "entries": d["entries"], "rawBytes": d["files"]["raw_bytes"]} for k, d in datasets.items()]}
        return run_page_bench(static, "benchmarks/bench_page/index.html", cfg)
    finally:
        server.shutdown()
        server.server_close()


def node_decode(datasets: dict, args, workdir: Path) -> dict:
    cfg = {"repeats": args.repeats, "workers": args.workers, "datasets": [
        {"label": k, "anspackPath": str(workdir / d["files"]["anspack"]), "gzPath": str(workdir / d["files"]["gz"]),
         "entries": d["entries"], "rawBytes": d["files"]["raw_bytes"]} for k, d in datasets.items()]}
    path = workdir / "node_cfg.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run(["node", str(ROOT / "benchmarks" / "bench_page" / "bench_node.mjs"), str(path)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _cold_runs(datasets: dict, rounds: int, gzip_mode: str, first_call) -> dict:
    """Per data set: ``rounds`` first calls of decode() and of the gzip inflater (``gzip_mode``), alternating
    which goes first; ``first_call(key, mode, file name)`` runs one in a fresh process or browser and returns
    {firstMs, importMs (decode)}. Every call's times (ms) kept."""
    out = {}
    for key, d in datasets.items():
        runs = {"decode": [], "import": [], gzip_mode: []}
        for r in range(rounds):
            for mode in (("decode", gzip_mode) if r % 2 == 0 else (gzip_mode, "decode")):
                got = first_call(key, mode, d["files"]["anspack" if mode == "decode" else "gz"])
                runs[mode].append(got["firstMs"])
                if mode == "decode":
                    runs["import"].append(got["importMs"])
        out[key] = runs
    return out


def browser_cold(datasets: dict, args, workdir: Path) -> dict:
    """The first decode() and the first DecompressionStream('gzip'), each in a freshly launched headless
    Chromium loading bench_page/cold.html once (see _cold_runs)."""
    from anspack_test_server import launch_chromium, start_server
    from playwright.sync_api import sync_playwright

    static, server = start_server()
    try:
        base = static.mount(workdir)
        with sync_playwright() as pw:
            def first_call(key, mode, name):
                browser = launch_chromium(pw)
                try:
                    page = browser.new_page()
                    page.goto(static.url("benchmarks/bench_page/cold.html") + f"?m={mode}&f={base + name}")
                    page.wait_for_function("window.coldResult !== undefined", timeout=300_000)
                    got = page.evaluate("window.coldResult")
                finally:
                    browser.close()
                if "error" in got:
                    raise RuntimeError(f"cold.html ({mode}, {key}): {got['error']}")
                return got

            return _cold_runs(datasets, args.cold_rounds, "gzip", first_call)
    finally:
        server.shutdown()
        server.server_close()


def node_cold(datasets: dict, args, workdir: Path) -> dict:
    """The first decode() and the first zlib.gunzipSync, each in a fresh node process (see _cold_runs)."""
    script = str(ROOT / "benchmarks" / "bench_page" / "cold_node.mjs")

    def first_call(key, mode, name):
        return json.loads(subprocess.run(["node", script, mode, str(workdir / name)], check=True, capture_output=True,
                                         text=True).stdout)

    return _cold_runs(datasets, args.cold_rounds, "gunzip", first_call)


# ------------------------------------------------------------------------------------------------
# report


def paired_median(res: dict, a: str, b: str, scale: float = 1.0) -> float | None:
    """Median over the timed rounds of scale * time(a) / time(b): the contenders of one round ran back
    to back, so each ratio compares them under the same load (bench_core.js keeps every round's time)."""
    ta, tb = res.get(a, {}).get("times"), res.get(b, {}).get("times")
    if not ta or not tb or len(ta) != len(tb):
        return None
    return scale * bench.paired_median(ta, tb)


def fmt_ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def report(result: dict) -> tuple[str, dict]:
    lines = []
    checks = {}
    notes = []
    ds = result["datasets"]
    # size
    decode_only = result["config"].get("decode_only", False)
    if decode_only:
        lines += ["(--decode-only: sizes and encode speed not measured in this run)", ""]
    else:
        lines += ["## Size (bits per entry over all entries)", "",
                  "anspack file = the whole .anspack file (header, table with names and shapes, models, states, "
                  "streams); anspack blocks = its data blocks only (models, states, streams: everything needed to "
                  "decode the integers, as the peers' outputs hold only the integers). Ratios: anspack / peer.", ""]
        codecs = [c for c in ("zlib-9", "zstd-19", "brotli-11", "xz-9e", "constriction (payload)")
                  if any(c in d["sizes_bytes"] for d in ds.values())]
        lines.append("| data | entries | entropy | anspack file | anspack blocks | " + " | ".join(codecs)
                     + " | blocks / entropy | blocks / best general-purpose | file / best general-purpose |")
        lines.append("|---|---:|---:|---:|---:|" + "---:|" * len(codecs) + "---:|---:|---:|")
        for key, d in ds.items():
            n = d["entries"]
            s = d["sizes_bytes"]
            bpe = lambda b: 8 * b / n  # noqa: E731
            general = {c: s[c] for c in ("zlib-9", "zstd-19", "brotli-11", "xz-9e") if c in s}
            best_name = min(general, key=general.get)
            best_general = general[best_name]
            cells = [f"{bpe(s[c]):.4f}" if c in s else "–" for c in codecs]
            pack = " (codecs: nibble-packed)" if d["nibble_packed_for_codecs"] else ""
            lines.append(f"| {key}{pack} | {n} | {bpe(s['entropy']):.4f} | {bpe(s['anspack']):.4f} | "
                         f"{bpe(s['anspack blocks']):.4f} | " + " | ".join(cells)
                         + f" | {s['anspack blocks'] / s['entropy']:.4f} | {s['anspack blocks'] / best_general:.4f} ({best_name})"
                         f" | {s['anspack'] / best_general:.4f} |")
            checks[f"{key}: blocks <= best general-purpose codec ({best_name})"] = (
                s["anspack blocks"] / best_general, s["anspack blocks"] <= best_general)
            checks[f"{key}: whole file <= best general-purpose codec ({best_name})"] = (
                s["anspack"] / best_general, s["anspack"] <= best_general)
            for t in d["big_tensors"]:
                ok = t["overhead_pct"] <= TARGETS["entropy_overhead_pct_max"]
                checks[f"{key}: {t['name']} ({t['entries']} entries) overhead over entropy, % (<= 0.5)"] = (t["overhead_pct"], ok)
            if d.get("raw_tensors"):
                notes.append(f"{key}: {len(d['raw_tensors'])} small tensors stored raw (their rANS block would not be smaller).")
        lines += [""] + notes + ([""] if notes else [])
        big = [(k, t) for k, d in ds.items() for t in d["big_tensors"]]
        if big:
            lines += ["Tensors of >= 1M entries (data block incl. model, states and vocabulary vs n·H):", "",
                      "| data | tensor | entries | entropy bits/entry | anspack bits/entry | overhead |", "|---|---|---:|---:|---:|---:|"]
            for k, t in big:
                lines.append(f"| {k} | {t['name']} | {t['entries']} | {t['entropy_bits'] / t['entries']:.4f} | "
                             f"{t['block_bits'] / t['entries']:.4f} | {t['overhead_pct']:+.3f} % |")
            lines.append("")
    # encode
    lines += [] if decode_only else ["## Encode throughput (M entries/s, best of %d)" % result["config"]["encode_repeats"], "",
              "| data | anspack.encode() (all threads) | anspack.encode(threads=1) | constriction whole path (1 thread) "
              "| ratio (all threads) | ratio (1 thread) |", "|---|---:|---:|---:|---:|---:|"]
    for key, d in ({} if decode_only else ds).items():
        e = d["encode"]
        a = d["entries"] / e["anspack_s"] / 1e6
        a1 = d["entries"] / e["anspack_1thread_s"] / 1e6 if "anspack_1thread_s" in e else None
        c = d["entries"] / e["constriction_s"] / 1e6 if "constriction_s" in e else None
        ratio = e["constriction_s"] / e["anspack_s"] if c else None
        ratio1 = e["constriction_s"] / e["anspack_1thread_s"] if c and a1 else None
        lines.append(f"| {key} | {a:.1f} | {'–' if a1 is None else f'{a1:.1f}'} | {'–' if c is None else f'{c:.1f}'} | "
                     f"{fmt_ratio(ratio)} | {fmt_ratio(ratio1)} |")
        if ratio is not None:
            checks[f"{key}: encode >= 1.5x constriction (anspack on {e.get('threads', '?')} threads)"] = (
                ratio, ratio >= TARGETS["encode_vs_constriction_min"])
    if not decode_only:
        lines.append("")
    # decode
    for env, title, gname, key_single, key_workers in (
            ("browser", "headless Chromium", "DecompressionStream('gzip')", "browser_decode_vs_gzip_min", True),
            ("node", "node", "zlib.gunzipSync", "node_decode_vs_gunzip_min", True)):
        r = result.get(env)
        if not r:
            continue
        ver = r.get("userAgent", r.get("version", ""))
        if "Chrome/" in ver:
            ver = "Chromium " + ver.split("Chrome/")[-1].split(" ")[0]
        workers = result["config"]["workers"]
        lines += [f"## Decode throughput, {title} ({ver}): M entries/s, best of {result['config']['repeats']} "
                  f"(median in brackets); ratios of best times (in brackets: paired medians, the median over the rounds of "
                  f"the two contenders' ratio in the same round)", ""]
        head = f"| data | {gname} | decode() 1 thread | " + " | ".join(f"decodeAsync {w} worker{'s' if w > 1 else ''}" for w in workers)
        multi = [w for w in workers if w != 1] if 1 in workers else []
        head += " | 1 thread / gzip | " + " | ".join(
            f"{w}w / 1w (paired median) | control: spin loop {w}w / 1w | control: parallel decode {w}w / 1w (paired median)"
            " | share of the control" for w in multi)
        head += " | partition bound 2w |" if 2 in multi else " |"
        lines += [head, "|---|" + "---:|" * (2 + len(workers) + 1 + 4 * len(multi) + (2 in multi))]
        unpack_notes = []
        for res in r["results"]:
            n = res["entries"]
            rate = lambda k: f"{n / res[k]['best'] / 1e3:.0f} ({n / res[k]['median'] / 1e3:.0f})"  # noqa: E731
            single = res["gzip"]["best"] / res["decode"]["best"]
            single_med = paired_median(res, "gzip", "decode")
            cells = [rate("gzip"), rate("decode")] + [rate(f"w{w}") for w in workers] + [f"{single:.2f}× ({fmt_ratio(single_med)})"]
            target = TARGETS[key_single]
            checks[f"{res['label']}: {env} 1-thread decode >= {target}x {gname} (ratio of best times; paired median "
                   f"{fmt_ratio(single_med)})"] = (single, single >= target)
            for w in multi:
                sp = res["w1"]["best"] / res[f"w{w}"]["best"]
                ctrl = res["spin1"]["best"] / res[f"spin{w}"]["best"] if f"spin{w}" in res else None
                par = w * res["par1"]["best"] / res[f"par{w}"]["best"] if f"par{w}" in res else None
                sp_med = paired_median(res, "w1", f"w{w}")
                par_med = paired_median(res, "par1", f"par{w}", w)
                cells += [f"{sp:.2f}× ({fmt_ratio(sp_med)})", fmt_ratio(ctrl),
                          "–" if par is None else f"{par:.2f}× ({fmt_ratio(par_med)})",
                          "–" if par is None else f"{sp / par:.0%}"]
                if w == 2:
                    note = f" (ratio of best times; paired median {fmt_ratio(sp_med)}"
                    note += "" if ctrl is None else f"; machine ceiling in this run: spin loop {ctrl:.2f}x"
                    note += "" if par is None else f", parallel decode {par:.2f}x (paired median {fmt_ratio(par_med)})"
                    checks[f"{res['label']}: {env} 2 workers >= 1.8x 1 worker{note})"] = (sp, sp >= TARGETS["workers2_vs_workers1_min"])
            if 2 in multi:
                cells.append(f"{ds[res['label']]['two_worker_partition_bound']:.2f}×")
            lines.append(f"| {res['label']} | " + " | ".join(cells) + " |")
            if "gzipUnpack" in res:
                unpack_notes.append(
                    f"{res['label']}: {gname} + unpacking the nibbles into an Int8Array (what a page needs to get "
                    f"the array decode() returns) runs at {rate('gzipUnpack')} M entries/s; decode() 1 thread is "
                    f"{res['gzipUnpack']['best'] / res['decode']['best']:.2f}x that (informational: the target "
                    f"compares with {gname} alone).")
            if "decodeNibbles" in res:
                unpack_notes.append(
                    f"{res['label']}: decode() with nibbles: true (the 4-bit tensors packed two entries a byte, the "
                    f"bytes {gname} outputs) runs at {rate('decodeNibbles')} M entries/s: "
                    f"{res['gzip']['best'] / res['decodeNibbles']['best']:.2f}× {gname} "
                    f"(paired median {fmt_ratio(paired_median(res, 'gzip', 'decodeNibbles'))}), "
                    f"{res['decode']['best'] / res['decodeNibbles']['best']:.2f}× decode() without it "
                    f"(paired median {fmt_ratio(paired_median(res, 'decode', 'decodeNibbles'))}; informational).")
        lines += [""] + unpack_notes + ([""] if unpack_notes else [])
    for env, gname, gkey, what, imported in (
            ("node_cold", "zlib.gunzipSync", "gunzip", "node: a fresh process", ": dist/anspack.js"),
            ("browser_cold", "DecompressionStream('gzip')", "gzip", "headless Chromium: a freshly launched browser",
             ": dist/anspack.js from 127.0.0.1, uncached")):
        cold = result.get(env)
        if not cold:
            continue
        lines += [f"## Cold start, {what} for each first call, median of {result['config']['cold_rounds']} each "
                  "(informational: a page that decodes once; the targets compare warm rounds)", "",
                  f"| data | {gname}, first call (ms) | decode(), first call (ms) | importing the decoder{imported} (ms) "
                  "| gzip / decode | gzip / (import + decode) |", "|---|---:|---:|---:|---:|---:|"]
        for key, c in cold.items():
            g, d, i = (float(np.median(c[k])) for k in (gkey, "decode", "import"))
            lines.append(f"| {key} | {g:.1f} | {d:.1f} | {i:.1f} | {g / d:.2f}× | {g / (i + d):.2f}× |")
        lines.append("")
    lines += ["## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for name, (value, ok) in checks.items():
        lines.append(f"| {name} | {value:.3f} | {'yes' if ok else '**no**'} |")
    lines.append("")
    m = result["machine"]
    lines.append(f"Machine: {m['cpus']} CPUs ({m['platform']}), shared with other jobs (1-min load average "
                 f"{m['loadavg_start'][0]:.1f} at the start, {m['loadavg_end'][0]:.1f} at the end); speeds are best-of "
                 "figures, ratios are between contenders measured in the same interleaved rounds. The spin-loop control "
                 "is a CPU-bound loop split over the same number of plain workers; the parallel-decode control is N "
                 "workers each decoding a whole copy of the file with decode() at once (N × one alone / N at once): "
                 "the parallel speedup the machine allowed at that time, without and with the decoder's memory "
                 "traffic. 'Share of the control' = decodeAsync's speedup / the parallel-decode control's. Paired "
                 "medians: the median over rounds of the ratio of two contenders' times in the same round.")
    return "\n".join(lines), {k: {"value": v, "met": ok} for k, (v, ok) in checks.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(peers.DATASETS), choices=list(peers.DATASETS))
    ap.add_argument("--repeats", type=int, default=9, help="timed decode rounds (after one warm-up round; the README's runs used the default, 9)")
    ap.add_argument("--encode-repeats", type=int, default=5)
    ap.add_argument("--lanes", type=int, default=None,
                    help="rANS lanes for the anspack files (default: the encoder's, 8 or one per 1024 symbols in small tensors)")
    ap.add_argument("--chunk", type=int, default=None,
                    help="symbols per chunk for the anspack files (default: the encoder's; 0 = unchunked)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker pool sizes to time")
    ap.add_argument("--groups", choices=("auto", "off"), default="auto",
                    help="row groups (spec 7.4) in the anspack files: the encoder's default (auto) or none")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-node", action="store_true")
    ap.add_argument("--cold-rounds", type=int, default=5,
                    help="fresh node processes / Chromium launches per contender and data set for the cold-start "
                         "tables (0: none)")
    ap.add_argument("--no-auto-raw", action="store_true",
                    help="rANS for every tensor (default: small tensors whose rANS block is not smaller go raw)")
    ap.add_argument("--quick", action="store_true", help="skip brotli-11 and xz (slow) -- for a smoke run")
    ap.add_argument("--decode-only", action="store_true",
                    help="skip the slow size peers and constriction (only zlib-9): for repeated decode timing")
    ap.add_argument("--out", help="JSON output path (default benchmarks/results/bench-<UTC time>.json)")
    args = ap.parse_args(argv)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp,
        "config": {"datasets": args.datasets, "repeats": args.repeats, "encode_repeats": args.encode_repeats,
                   "lanes": args.lanes, "auto_raw": not args.no_auto_raw, "decode_only": args.decode_only, "workers": args.workers, "precision": "auto (12 below 2^16 symbols, else 14)", "pairs": "auto", "chunk": "auto (above 2^15 symbols: an even number of chunks of at most max(2^18, 2^13 L), a multiple of four at L = 8)",
                   "groups": args.groups, "cold_rounds": args.cold_rounds},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_start": os.getloadavg()},
        "targets": TARGETS, "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="anspack-bench-") as tmp:
        workdir = Path(tmp)
        for key in args.datasets:
            title, make = peers.DATASETS[key]
            log(f"{key}: {title}")
            tensors = make()
            result["datasets"][key] = {"title": title, **size_and_encode(key, tensors, args, workdir)}
            del tensors
        if not args.no_browser:
            log("decode in headless Chromium")
            result["browser"] = browser_decode(result["datasets"], args, workdir)
            if args.cold_rounds > 0:
                log("cold start in headless Chromium")
                result["browser_cold"] = browser_cold(result["datasets"], args, workdir)
        if not args.no_node:
            log("decode in node")
            result["node"] = node_decode(result["datasets"], args, workdir)
            if args.cold_rounds > 0:
                log("cold start in node")
                result["node_cold"] = node_cold(result["datasets"], args, workdir)
    result["machine"]["loadavg_end"] = os.getloadavg()
    text, checks = report(result)
    result["checks"] = checks
    print(text)
    out = Path(args.out) if args.out else RESULTS / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
