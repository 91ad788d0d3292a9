"""``anspack decode FILE -o OUT``: decode an .anspack file to .npz or .safetensors (float32 weights)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("decode", help="decode an .anspack file to .npz or .safetensors",
                       description="Decode every tensor (checksums verified), dequantize quantized tensors to "
                                   "float32, restore the original dtypes recorded by `anspack encode`, and "
                                   "write an .npz or .safetensors file.")
    p.add_argument("file", help="an .anspack file")
    p.add_argument("-o", "--output", required=True, help="OUT.npz or OUT.safetensors")
    p.add_argument("--integers", action="store_true",
                   help="write the stored integers instead of dequantized floats")
    p.set_defaults(func=run)


def decode_file(data: bytes, *, dequantize: bool = True) -> dict:
    """Decode and (with ``dequantize``) restore the original dtypes recorded in the metadata."""
    import anspack
    from anspack import io as aio
    from anspack.commands.encode import DTYPES_KEY

    out = anspack.decode(data, dequantize=dequantize)
    if dequantize:
        dtypes = anspack.read_header(data).metadata.get(DTYPES_KEY) or {}
        if isinstance(dtypes, dict):
            for name, dt in dtypes.items():
                if name in out and isinstance(dt, str):
                    try:
                        out[name] = aio.restore_dtype(out[name], dt)
                    except TypeError:
                        pass
    return out


def run(args) -> int:
    from anspack import io as aio
    from anspack.cli import UsageError

    if not args.output.lower().endswith(aio.SUFFIXES_OUT):
        raise UsageError(f"output {args.output!r} must end in .npz or .safetensors")
    aio.check_output_dir(args.output)
    with open(args.file, "rb") as f:
        data = f.read()
    out = decode_file(data, dequantize=not args.integers)
    aio.write_tensors(args.output, out)
    print(f"wrote {args.output}: {len(out)} tensors")
    return 0
