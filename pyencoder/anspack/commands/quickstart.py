"""``anspack quickstart``: compress the bundled digit classifier at several settings and compare them.

The bundled model (``anspack/data/digits_mlp.safetensors``) is the demo's 64-128-64-10 MLP trained on
scikit-learn's 8x8 ``load_digits`` (seed 0, stratified 80/20 split); its held-out test set ships
beside it (``digits_test.npz``), so nothing is downloaded and scikit-learn is not needed.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import numpy as np

SETTINGS = (
    ("fp32", "fp32", ["*=fp32"]),
    ("fp16", "fp16", []),
    ("int8 per row", "int8,row", []),
    ("int4 per row", "int4,row", []),
    ("3-bit k-means", "kmeans:8", []),
    ("pruned 50 % + int4/row", "prune:50,int4,row", []),
    ("free step, 25 dB", "snr:25", []),
    ("trellis, 20 dB", "snr:20,tcq", []),
)


def register(sub) -> None:
    p = sub.add_parser("quickstart", help="compress the bundled digit classifier at several settings, compare them",
                       description="Compress the bundled digit classifier (a numpy MLP on load_digits) with "
                                   "several quantization schemes, decode each file back (checksums verified), "
                                   "and print size, bits/weight, weight SNR and held-out accuracy.")
    p.add_argument("-o", "--output", default="digits-trellis.anspack",
                   help="where to write the last setting's .anspack file (default: %(default)s)")
    p.set_defaults(func=run)


def load_bundled() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The bundled digit-classifier weights and its held-out test images (0..16) and labels."""
    from safetensors.numpy import load

    from anspack.digits import load_bundled_test

    weights = load(resources.files("anspack").joinpath("data", "digits_mlp.safetensors").read_bytes())
    return (weights, *load_bundled_test())


def run(args) -> int:
    import anspack
    from anspack.commands.encode import encode_model
    from anspack.digits import predict
    from anspack.quantize import snr_db

    weights, X, y = load_bundled()
    n_params = sum(a.size for a in weights.values())
    fp32_bytes = sum(a.nbytes for a in weights.values())
    print(f"bundled model: digit classifier 64-128-64-10, {n_params:,} parameters ({fp32_bytes:,} bytes float32), "
          f"{len(y)} held-out test images\n")
    print(f"| setting | scheme | bytes | ratio | bits/weight | weight SNR dB | test accuracy | decode ms (warm) |")
    print(f"|---|---|---:|---:|---:|---:|---:|---:|")
    data = b""
    for label, scheme, rules in SETTINGS:
        data = encode_model(weights, base=scheme, rules=rules).data
        back = anspack.decode(data, dequantize=True)   # the first decode of a process compiles (Numba)
        dt = float("inf")
        for _ in range(3):   # warm: the best of three
            t = time.perf_counter()
            anspack.decode(data, dequantize=True)
            dt = min(dt, time.perf_counter() - t)
        mats = [k for k, a in weights.items() if a.ndim == 2]
        snr = snr_db(np.concatenate([weights[k].ravel() for k in mats]),
                     np.concatenate([back[k].ravel() for k in mats]))
        acc = 100.0 * float((predict(back, X) == y).mean())
        print(f"| {label} | `{scheme}` | {len(data):,} | {fp32_bytes / len(data):.1f}x | "
              f"{8 * len(data) / n_params:.2f} | {snr:.1f} | {acc:.2f} % | {1e3 * dt:.1f} |")
    Path(args.output).write_bytes(data)
    print(f"\nevery file decoded with its FxHash26 checksums verified; wrote {args.output} "
          f"(inspect it with `anspack info {args.output}`)")
    return 0
