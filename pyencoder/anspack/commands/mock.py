"""``anspack mock``: the seed notebook's mock matrices, written in its WebGL layout (spec Appendix A).

    anspack mock --matrices 100 --rows 1024 --cols 1024 --seed 202404151 -o 100-compressed-matrices.bin
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser(
        "mock", help="write the seed notebook's mock int8 matrices in its WebGL layout (seed layout)",
        description="Draw np.round(np.random.randn(M, rows, cols) * 8).astype(int8) after "
                    "np.random.seed(SEED), as the seed notebook did, encode the matrices with one 12-bit "
                    "rANS coder per entry into the notebook's WebGL layout (spec/FORMAT.md, Appendix A), "
                    "check it decodes back, and print the word count, bits per entry, the section-size "
                    "table and each matrix's FxHash26 checksum of its symbol ids.")
    p.add_argument("--matrices", type=int, default=100, help="number of matrices M (default 100)")
    p.add_argument("--rows", type=int, default=1024, help="rows per matrix (default 1024)")
    p.add_argument("--cols", type=int, default=1024, help="columns per matrix (default 1024)")
    p.add_argument("--seed", type=int, default=202404151, help="numpy legacy seed (default 202404151)")
    p.add_argument("-o", "--output", required=True, help="where to write the layout (.bin)")
    p.add_argument("--no-verify", action="store_true", help="skip decoding the file back")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from anspack import seedbin
    from anspack.cli import UsageError

    for name in ("matrices", "rows", "cols"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be in [0, 2^32), got {args.seed}")
    M, R, C = args.matrices, args.rows, args.cols
    progress = not args.quiet
    t0 = time.perf_counter()
    q = seedbin.mock_matrices(M, R, C, seed=args.seed, progress=progress)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = seedbin.encode(q, progress=progress)
    t_enc = time.perf_counter() - t0
    Path(args.output).write_bytes(data)
    st = seedbin.stats(q, data)
    t_dec = float("nan")
    if not args.no_verify:
        t0 = time.perf_counter()
        back, checksums = seedbin.decode(data, matrices=M, rows=R, cols=C)
        t_dec = time.perf_counter() - t0
        for i, m in enumerate(st["models"]):
            if not np.array_equal(m.values[back[i]], q[i]):
                print(f"MISMATCH: matrix {i} does not decode back to the mock data")
                return 1
    else:
        from anspack.checksum import fxhash26

        _, ids = seedbin.models_and_ids(q)
        checksums = [fxhash26(ids[i]) for i in range(M)]

    n = q.size
    print(f"wrote {args.output}: {len(data):,} bytes ({st['file_words']:,} uint16 words)")
    print(f"{M} matrices x {R} x {C} = {n:,} entries, one 12-bit coder per entry ({R * C:,} coders)")
    print(f"total words (coder heads + data, the notebook's len(compressed_stream)): {st['stream_words']:,}")
    print(f"bits/entry: {st['bits_per_entry']:.6f}  (file incl. size table and CDFs: "
          f"{st['file_words'] * 16 / n:.6f})")
    print(f"entropy (mean): {st['entropies'].mean():.6f} bits/entry; 12-bit model entropy (the notebook's "
          f"'cross_entropies_12bit', mean): {st['model_entropies'].mean():.6f}; "
          f"true 12-bit cross-entropy (mean): {st['cross_entropies'].mean():.6f}")
    print(f"max overhead of the 12-bit models, notebook's measure: {st['notebook_overhead_abs']:.4f} bits "
          f"({st['notebook_overhead_rel_percent']:.2f} %); true coding cost: {st['overhead_abs']:.4f} bits "
          f"({st['overhead_rel_percent']:.2f} %)")
    print(f"time: generate {t_gen:.2f} s, encode {t_enc:.2f} s"
          + ("" if args.no_verify else f", decode {t_dec:.2f} s"))
    print("section sizes (uint16 words: data_offset + CDF + data), max "
          f"{int(st['sizes'].max()):,} (matrix {int(np.argmax(st['sizes']))}):")
    sizes = st["sizes"].tolist()
    for i in range(0, M, 8):
        print("  " + " ".join(f"{s:>8}" for s in sizes[i:i + 8]))
    print("checksums (FxHash26 of each matrix's symbol ids, row-major):")
    for i, h in enumerate(checksums):
        print(f"  checksum of matrix {i}: {h}")
    return 0
