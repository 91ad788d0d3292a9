"""``anspack rd IN``: bits/weight vs weight SNR for each quantization scheme, as a table and a PNG."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("rd", help="rate-distortion report of every quantization scheme on a model",
                       description="Quantize the model's weight tensors (float, 2+ dimensions) with each scheme "
                                   "family over a range of settings; print a markdown table of coded bits/weight, "
                                   "entropy, weight SNR and the Gaussian bound, and plot it.")
    p.add_argument("input", help="model file: .safetensors, .npz or .npy")
    p.add_argument("--png", default=None, metavar="PATH",
                   help="where to write the plot (default rd.png when matplotlib is installed: "
                        "pip install 'anspack[plot]'; '' = none)")
    p.add_argument("--md", default=None, metavar="PATH", help="also write the table to this markdown file")
    p.add_argument("--quick", action="store_true", help="a few points per family only")
    p.add_argument("--scheme", action="append", default=[], metavar="SCHEME",
                   help="evaluate these schemes instead of the built-in families (repeatable)")
    p.add_argument("--precision", type=int, default=14, metavar="P", help="rANS precision for the coded sizes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _have_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def run(args) -> int:
    from anspack import io as aio
    from anspack import quantize as qz
    from anspack import rd
    from anspack.cli import UsageError

    png, skipped = args.png, False
    if png is None:
        png, skipped = ("rd.png", False) if _have_matplotlib() else ("", True)
    elif png and not _have_matplotlib():
        raise UsageError("--png needs matplotlib: pip install 'anspack[plot]' (or --png '' for the table only)")
    for out in (png, args.md):
        if out:
            aio.check_output_dir(out)
    tensors = aio.read_tensors(args.input)
    if args.scheme:
        try:
            for s in args.scheme:
                qz.parse_scheme(s)
        except ValueError as e:
            raise UsageError(str(e)) from None
        families = {"custom": args.scheme}
    else:
        families = rd.FAMILIES_QUICK if args.quick else rd.FAMILIES_FULL
    if not 1 <= args.precision <= 15:
        raise UsageError(f"--precision must be 1..15, got {args.precision}")
    try:
        points = rd.sweep(tensors, families, precision=args.precision, progress=not args.quiet)
    except ValueError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    weights = rd.weight_tensors(tensors)
    bound = [rd.gaussian_bound(weights, p.snr) if p.snr < 200 else float("nan") for p in points]
    table = rd.markdown(points, bound, weights)
    print(table)
    if args.md:
        with open(args.md, "w") as f:
            f.write(table + "\n")
    if png:
        import os

        rd.plot(points, weights, png, title=f"anspack rate-distortion: {os.path.basename(args.input)}")
        print(f"plot: {png}")
    elif skipped:
        print("plot: none (matplotlib is not installed: pip install 'anspack[plot]')")
    return 0
