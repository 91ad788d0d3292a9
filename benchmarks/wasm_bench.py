"""Benchmark of the WebAssembly decode loop: old loop vs new loop vs the platform's gzip, side by side.

    python -m benchmarks.wasm_bench [--datasets mock minilm-int8] [--lanes 4 8] [--repeats 7]
                                    [--chunk Q] [--old REV] [--no-browser] [--no-node]

Data (benchmarks/peers.py, as in benchmarks/run.py): the 8 x 1024^2 randn*8 int8 mock and
all-MiniLM-L6-v2 int8 per row, encoded with anspack (P = 12, each lane count of ``--lanes``, small
tensors stored raw as run.py does; one stream per tensor, or with ``--chunk Q`` chunks of Q symbols,
spec section 7.2, which the wasm engine decodes two at a time since d446959) and, for the peers, their int8 bytes concatenated and gzipped at
level 9. The decoder at git revision ``--old`` (``git archive`` of jsdecoder/src into a temporary
directory) and the working tree's decoder both decode every file with ``{engine: 'wasm'}`` (all
checksums verified) in the same rounds as ``zlib.gunzipSync`` (node) / ``DecompressionStream('gzip')``
(headless Chromium) inflates the gzip; see wasm_bench/core.js for the round order. Prints a markdown
table (best times, ratio gzip / decode of best times and the median of per-round ratios) and writes
JSON to benchmarks/results/wasm-bench-<UTC time>.json. The load average is recorded: on a shared
machine compare only figures from the same run (a process busy on the other core slows the
memory-bound decode loops by up to ~40%, gzip less).

``node benchmarks/wasm_bench/loop.mjs`` times the loops alone (old vs new module, each dispatched as
its engine.js does, and the FxHash26 step alone, the cap of any single-stream decoder).
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import anspack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT))
from benchmarks import peers  # noqa: E402
from benchmarks.run import auto_raw, run_page_bench  # noqa: E402

BASELINE = "ecb9d0e"  # main when the wasm loop work of issue 7 (session 2) started


def make_files(workdir: Path, datasets: list[str], lanes: list[int], chunk: int = 0) -> list[dict]:
    out = []
    for key in datasets:
        tensors = peers.DATASETS[key][1]()
        raw = b"".join(np.ascontiguousarray(a).tobytes() for a in tensors.values())
        gz = gzip.compress(raw, compresslevel=9, mtime=0)
        (workdir / f"{key}.gz").write_bytes(gz)
        for L in lanes:
            # By default one stream per tensor (chunk=0 where the encoder has chunks, spec 7.2): the old
            # decoder may predate chunks, and this compares the loop, not the chunking.
            extra = {"chunk": chunk} if "chunk" in inspect.signature(anspack.encode).parameters else {}
            data = anspack.encode(tensors, lanes=L, raw=auto_raw(tensors, L), **extra)
            name = f"{key}_L{L}.anspack"
            (workdir / name).write_bytes(data)
            out.append({"label": f"{key} L={L}", "anspack": name, "gz": f"{key}.gz", "entries": len(raw)})
    return out


def old_tree(workdir: Path, rev: str) -> Path:
    dest = workdir / "old"
    dest.mkdir()
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "jsdecoder/src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest / "jsdecoder" / "src" / "index.js"


def node_run(workdir: Path, files: list[dict], decoders: list[tuple[str, Path]], repeats: int) -> dict:
    cfg = {"repeats": repeats,
           "decoders": [{"label": lab, "indexPath": str(p)} for lab, p in decoders],
           "datasets": [{"label": f["label"], "anspackPath": str(workdir / f["anspack"]), "gzPath": str(workdir / f["gz"])} for f in files]}
    (workdir / "node_cfg.json").write_text(json.dumps(cfg))
    out = subprocess.run(["node", str(ROOT / "benchmarks" / "wasm_bench" / "node.mjs"), str(workdir / "node_cfg.json")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"node failed:\n{out.stderr}")
    return json.loads(out.stdout)


def browser_run(workdir: Path, files: list[dict], decoders: list[tuple[str, Path]], repeats: int) -> dict:
    from anspack_test_server import start_server

    static, server = start_server()
    try:
        base = static.mount(workdir)
        urls = []
        for lab, p in decoders:
            rel = p.resolve().relative_to(workdir.resolve()) if workdir.resolve() in p.resolve().parents else None
            urls.append({"label": lab, "indexUrl": base + str(rel) if rel else "/" + str(p.resolve().relative_to(ROOT))})
        cfg = {"repeats": repeats, "decoders": urls,
               "datasets": [{"label": f["label"], "anspackUrl": base + f["anspack"], "gzUrl": base + f["gz"]} for f in files]}
        out = run_page_bench(static, "benchmarks/wasm_bench/index.html", cfg)
    finally:
        server.shutdown()
        server.server_close()
    return out


def table(title: str, results: list[dict]) -> str:
    labels = [d["label"] for d in results[0]["decoders"]]
    lines = [f"### {title}", "",
             "| data | gzip M/s | " + " | ".join(f"{lab} M/s | {lab} / gzip (best; per-round median)" for lab in labels) + " |",
             "|---|---:|" + "---:|---:|" * len(labels)]
    for r in results:
        n = r["entries"]
        cells = [r["label"], f"{n / r['gzip']['best'] / 1e3:.0f}"]
        for d in r["decoders"]:
            cells += [f"{n / d['best'] / 1e3:.0f}", f"{d['ratioBest']:.2f}× ({d['ratioPerRoundMedian']:.2f}×)"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["mock", "minilm-int8"], choices=list(peers.DATASETS))
    ap.add_argument("--lanes", nargs="+", type=int, default=[4, 8])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--chunk", type=int, default=0, help="symbols per chunk (spec 7.2); 0: one stream per tensor")
    ap.add_argument("--old", default=BASELINE, help=f"git revision of the old decoder (default {BASELINE})")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-node", action="store_true")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    result = {"args": vars(args), "load_before": load0, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="anspack-wasm-bench-") as tmp:
        workdir = Path(tmp)
        files = make_files(workdir, args.datasets, args.lanes, args.chunk)
        decoders = [(f"old {args.old}", old_tree(workdir, args.old)), ("new", ROOT / "jsdecoder" / "src" / "index.js")]
        out = []
        if not args.no_node:
            result["node"] = node_run(workdir, files, decoders, args.repeats)
            out.append(table(f"node {result['node']['version']}: decode() engine 'wasm' vs zlib.gunzipSync", result["node"]["results"]))
        if not args.no_browser:
            result["browser"] = browser_run(workdir, files, decoders, args.repeats)
            out.append(table("headless Chromium: decode() engine 'wasm' vs DecompressionStream('gzip')", result["browser"]["results"]))
    result["load_after"] = os.getloadavg()
    out.append(f"load average before {load0[0]:.2f}, after {result['load_after'][0]:.2f} (2 cores)")
    print("\n\n".join(out))
    res_dir = ROOT / "benchmarks" / "results"
    res_dir.mkdir(exist_ok=True)
    path = res_dir / f"wasm-bench-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
