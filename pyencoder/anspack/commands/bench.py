"""``anspack bench FILE``: size and speed of a file against general-purpose codecs, side by side.

FILE is an .anspack file (its stored integers are the data) or a .safetensors / .npz / .npy file of
integer tensors (encoded with the default options first). On the same integers, in one process:
sizes (the integer tensors' data blocks, the whole file, the per-tensor order-0 entropy, zlib-9, xz, and
zstd-19 and brotli-11 where installed: pip install 'anspack[bench]'; 4-bit tensors nibble-packed for the
codecs), decode speed (anspack.decode with every checksum verified vs each codec's decompress) and
encode speed (anspack.encode vs zlib-9), best of interleaved rounds with paired medians (see
anspack.bench). With ``--node DECODER`` (the JS package's folder, e.g. node_modules/anspack after
``npm install anspack``, or a module path) also the JS decoder in node against zlib.gunzipSync on the
same integers. For the browser, worker pools and constriction, see ``python -m benchmarks.run`` in a
source checkout.
"""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("bench", help="size and speed against zlib/zstd/brotli/xz on the same integers",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("file", help="an .anspack file, or .safetensors / .npz / .npy integer tensors")
    p.add_argument("--rounds", type=int, default=5, metavar="N", help="timed rounds per contender (default 5)")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="anspack encoder/decoder threads (default: all cores for big inputs)")
    p.add_argument("--quick", action="store_true", help="leave out brotli-11 and xz (slow to compress)")
    p.add_argument("--node", metavar="DECODER",
                   help="also time the JS decoder in node against zlib.gunzipSync on the same integers: the "
                        "package's folder (e.g. node_modules/anspack) or a module path (its dist/anspack.js)")
    p.add_argument("--json", metavar="OUT", help="also write every figure as JSON to OUT")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def load(path: str):
    """(tensors, .anspack bytes) of FILE: the stored integers of an .anspack file, or the integer
    tensors of a model file and their encoding with the default options."""
    import numpy as np

    import anspack
    from anspack import io as aio
    from anspack.cli import UsageError

    with open(path, "rb") as f:
        head = f.read(8)
    if head[:8] == anspack.container.MAGIC:
        with open(path, "rb") as f:
            data = f.read()
        tensors = anspack.decode(data)
        return {k: v for k, v in tensors.items() if v.dtype.kind in "iu"}, data
    tensors = aio.read_tensors(path)
    floats = [k for k, v in tensors.items() if np.asarray(v).dtype.kind not in "iu"]
    if floats:
        raise UsageError(f"{path}: {len(floats)} tensors are not integers (e.g. {floats[0]!r}, "
                         f"{np.asarray(tensors[floats[0]]).dtype}); quantize them first with anspack encode "
                         "and bench the .anspack file")
    return tensors, anspack.encode(tensors)


def node_entry(path: str) -> str:
    """The JS decoder module for --node: a file as given, or in a package folder its package.json's
    "main" (else dist/anspack.js, else src/index.js)."""
    import os

    from anspack.cli import UsageError

    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        main = None
        try:
            with open(os.path.join(path, "package.json")) as f:
                main = json.load(f).get("main")
        except (OSError, ValueError):
            pass
        for rel in (main, "dist/anspack.js", "src/index.js"):
            if rel and os.path.isfile(os.path.join(path, rel)):
                return os.path.join(path, rel)
        raise UsageError(f"--node: {path} is a folder without the JS decoder (no package.json main, "
                         "dist/anspack.js or src/index.js)")
    raise UsageError(f"--node: no such file or folder: {path} (the JS package, e.g. node_modules/anspack)")


def run(args) -> int:
    from anspack import bench
    from anspack.cli import UsageError

    if args.rounds < 1:
        raise UsageError(f"--rounds must be at least 1, got {args.rounds}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    if args.node is not None:
        import shutil
        if shutil.which("node") is None:
            raise UsageError("--node needs node on the PATH")
        args.node = node_entry(args.node)
    tensors, data = load(args.file)
    if not tensors or not sum(v.size for v in tensors.values()):
        raise UsageError(f"{args.file}: no integer entries to measure")
    log = None if args.quiet else (lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
    result = bench.run(tensors, data, rounds=args.rounds, threads=args.threads, slow_codecs=not args.quick,
                       progress=log)
    if args.node is not None:
        if log:
            log(f"node: {args.node} vs zlib.gunzipSync, {args.rounds} rounds")
        try:
            result["node"] = {**bench.node_decode(data, bench.codec_bytes(tensors), args.node, args.rounds),
                              "decoder": args.node}
        except RuntimeError as e:
            raise UsageError(f"--node {args.node}: {e}") from None
    result["file"] = args.file
    print(f"{args.file}: {result['tensors']} integer tensors, {result['entries']:,} entries\n")
    print(bench.report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0
