"""``anspack demo``: build the digit-classifier demo's data, print the seed-002 table, serve the page.

Build (into ``--out``, default ``demo/data/`` in the repository):

- ``model.safetensors``: the float32 MLP trained on ``load_digits`` (:mod:`anspack.digits`);
- one ``.anspack`` per compression setting (fp32, fp16, int8, int4 per row, 3-bit k-means,
  pruned 10/30/50 % + int4);
- ``testset.anspack``: the held-out test images (uint8, 0 … 16) and labels;
- ``reference.json``: Python's numbers for each setting (size, bits, accuracy, the predicted class of
  every test image, decode time, latency, per-tensor checksums) and the printed table;
- ``seed-small.bin`` (+ its expected checksums in ``reference.json``): the seed notebook's
  100-matrix WebGL layout at a small size; the full 100 x 1024 x 1024 file is built on the first
  request for ``seed-full.bin`` (it takes a while).

Then serve ``demo/`` (and ``/jsdecoder/`` for the decoder module) on 127.0.0.1 and print the URL.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[3]
DEMO_DIR = REPO_ROOT / "demo"
JS_DIR = REPO_ROOT / "jsdecoder"
DEFAULT_OUT = DEMO_DIR / "data"
DEFAULT_PORT = 8765

SEED_MOCK_SEED = 202404151  # the seed notebook's np.random.seed
SEED_SMALL = (10, 256, 256)
SEED_FULL = (100, 1024, 1024)


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="build the digit-classifier demo (models, table) and serve it in the browser",
        description="Train a small MLP on scikit-learn's 8x8 digits, compress it at eight settings with "
                    "the anspack quantizers, print the size / bits / accuracy / latency table, then serve "
                    "a page that decodes every file in the browser and runs the models there.")
    p.add_argument("--build-only", action="store_true", help="build the data and print the table; don't serve")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--out", default=None, help="data directory (default demo/data in the repository: "
                                               "the demo runs from a clone, installed with pip install -e '.[demo]')")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 40)")
    p.add_argument("--seed-full-shape", default="x".join(map(str, SEED_FULL)), metavar="MxRxC",
                   help="shape of the full seed layout, built when the page first asks for it "
                        "(default %(default)s, the seed notebook's)")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------------------------
# build


def build_seed_layout(out: Path, name: str, shape: tuple[int, int, int]) -> dict | None:
    """Write ``name``.bin in the seed layout and return its description (None if seedbin is missing)."""
    try:
        from anspack import seedbin
    except ImportError:
        return None
    from anspack.checksum import fxhash26

    mats = seedbin.mock_matrices(*shape, seed=SEED_MOCK_SEED)
    t0 = time.perf_counter()
    model_list, ids = seedbin.models_and_ids(mats)
    data = seedbin.encode_ids(ids, [m.cdf for m in model_list])
    t_enc = time.perf_counter() - t0
    checksums = [int(fxhash26(np.ascontiguousarray(ids[i]).reshape(-1))) for i in range(shape[0])]
    (out / f"{name}.bin").write_bytes(data)
    return {"file": f"{name}.bin", "matrices": shape[0], "rows": shape[1], "cols": shape[2],
            "bytes": len(data), "checksums": checksums, "encode_s": t_enc,
            "bits_per_entry": 8 * len(data) / mats.size}


def _shape_arg(text: str) -> tuple[int, int, int]:
    from anspack.cli import UsageError

    try:
        shape = tuple(int(x) for x in text.lower().replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--seed-full-shape must be MxRxC with positive sizes, got {text!r}")
    return shape


def build(out: Path, *, epochs: int | None = None, log=print, latency_repeats: int = 200,
          seed_full_shape: tuple[int, int, int] = SEED_FULL) -> dict:
    """Train, compress, evaluate; write everything into ``out``; return the reference dict.

    The full seed layout (``seed_full_shape``) is not built here but on its first request
    (:meth:`DemoServer.build_full_seed`); a stale one of another shape is removed.
    """
    import anspack
    from anspack import digits

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = digits.EPOCHS if epochs is None else int(epochs)
    X_train, X_test, y_train, y_test = digits.load_split()
    log(f"load_digits: {len(X_train)} training / {len(X_test)} test images (stratified, seed {digits.SEED})")
    t0 = time.perf_counter()
    weights = digits.train(X_train, y_train, epochs=epochs, log=lambda s: log("  " + s))
    t_train = time.perf_counter() - t0
    n_params = int(sum(w.size for w in weights.values()))
    log(f"trained {digits.layer_names(weights)} ({n_params} parameters) in {t_train:.1f} s")
    st_path = out / "model.safetensors"
    digits.save_safetensors(st_path, weights, metadata={"source": "anspack demo", "epochs": str(epochs)})
    st_bytes = st_path.stat().st_size
    # compress what was saved, read back as `anspack encode model.safetensors` reads it (same order)
    weights = digits.load_safetensors(st_path)
    ref64 = {k: v.astype(np.float64) for k, v in weights.items()}

    rows = []
    for s in digits.SETTINGS:
        data, quantizer = digits.compress(weights, s)
        (out / f"{s.name}.anspack").write_bytes(data)
        row = digits.evaluate_setting(data, X_test, y_test, n_params=n_params, reference=ref64,
                                      repeats=latency_repeats)
        row.update({"name": s.name, "label": s.label, "file": f"{s.name}.anspack", "quantizer": quantizer,
                    "kind": s.kind, "bits": s.bits, "per_row": s.per_row, "prune": s.prune,
                    "scheme": s.scheme, "cli": s.cli()})
        rows.append(row)
    # sanity: the fp32 file decodes to the trained weights exactly
    back = anspack.decode((out / "fp32.anspack").read_bytes())
    for k, v in weights.items():
        if not np.array_equal(back[k], v):
            raise RuntimeError(f"fp32 round trip changed {k}")

    # the held-out test set, itself shipped as an .anspack (uint8 images 0..16 and labels, rANS-coded)
    test_data = anspack.encode({"images": X_test.astype(np.uint8), "labels": y_test.astype(np.uint8)},
                               metadata={"source": "sklearn load_digits, held-out stratified split",
                                         "seed": digits.SEED})
    (out / "testset.anspack").write_bytes(test_data)
    log(f"test set: {X_test.size + y_test.size:,} bytes of uint8 -> testset.anspack, {len(test_data):,} bytes")
    seed = build_seed_layout(out, "seed-small", SEED_SMALL)
    full = {"file": "seed-full.bin", "matrices": seed_full_shape[0], "rows": seed_full_shape[1],
            "cols": seed_full_shape[2]}
    try:
        old = json.loads((out / "seed-full.json").read_text(encoding="utf-8"))
        stale = [old.get(k) for k in ("matrices", "rows", "cols")] != list(seed_full_shape)
    except (OSError, ValueError):
        stale = True
    if stale:
        for name in ("seed-full.bin", "seed-full.json"):
            (out / name).unlink(missing_ok=True)
    ref = {
        "model": {
            "layers": [{"name": n, "in": int(weights[f"{n}.weight"].shape[1]),
                        "out": int(weights[f"{n}.weight"].shape[0])} for n in digits.layer_names(weights)],
            "params": n_params, "input_scale": digits.INPUT_SCALE, "seed": digits.SEED, "epochs": epochs,
            "train_images": int(len(X_train)), "test_images": int(len(X_test)),
            "safetensors_bytes": st_bytes, "train_seconds": t_train,
        },
        "test": {"file": "testset.anspack", "images": int(len(X_test)), "tensors": ["images", "labels"]},
        "settings": rows,
        "seed_layout": {"small": seed, "full": full if seed else None},
        "python": {"version": sys.version.split()[0], "numpy": np.__version__, "anspack": anspack.__version__},
    }
    ref["table"] = digits.format_table(rows, safetensors_bytes=st_bytes)
    (out / "reference.json").write_text(json.dumps(ref, separators=(",", ":")), encoding="utf-8")
    return ref


# ----------------------------------------------------------------------------------------------
# serve

MIME = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
        ".css": "text/css", ".json": "application/json", ".anspack": "application/octet-stream",
        ".bin": "application/octet-stream", ".safetensors": "application/octet-stream",
        ".png": "image/png", ".svg": "image/svg+xml"}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "DemoServer"

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def _target(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        mounts = (("/demo/data/", self.server.data_dir), ("/demo/", DEMO_DIR), ("/jsdecoder/", JS_DIR))
        for prefix, root in mounts:
            if path.startswith(prefix):
                root = root.resolve()
                target = (root / path[len(prefix):]).resolve()
                if target != root and root not in target.parents:
                    return None
                if target.is_dir():
                    target = target / "index.html"
                if prefix == "/demo/data/" and target.name == "seed-full.bin" and not target.exists():
                    self.server.build_full_seed()
                return target if target.is_file() else None
        return None

    def _serve(self, head: bool) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/demo"):
            self.send_response(302)
            self.send_header("Location", "/demo/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        target = self._target()
        if target is None:
            self.send_error(404, "not found")
            return
        body_size = target.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", MIME.get(target.suffix.lower(), "application/octet-stream"))
        self.send_header("Content-Length", str(body_size))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if head:
            return
        with open(target, "rb") as f:
            while chunk := f.read(1 << 20):
                self.wfile.write(chunk)

    def do_GET(self):
        self._serve(False)

    def do_HEAD(self):
        self._serve(True)


class DemoServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Serves ``/demo/`` (the page), ``/demo/data/`` (``data_dir``) and ``/jsdecoder/`` on 127.0.0.1."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, data_dir: Path, port: int = 0, *, verbose: bool = False):
        super().__init__(("127.0.0.1", port), _Handler)
        self.data_dir = Path(data_dir)
        self.verbose = verbose
        self._seed_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/demo/"

    def build_full_seed(self) -> None:
        with self._seed_lock:
            if (self.data_dir / "seed-full.bin").exists():
                return
            try:
                full = json.loads((self.data_dir / "reference.json").read_text(encoding="utf-8"))["seed_layout"]["full"]
                shape = (int(full["matrices"]), int(full["rows"]), int(full["cols"]))
            except (OSError, ValueError, KeyError, TypeError):
                return
            print(f"building the full seed layout {shape} (first request only)...", flush=True)
            info = build_seed_layout(self.data_dir, "seed-full.tmp", shape)
            if info is None:
                return
            info["file"] = "seed-full.bin"
            (self.data_dir / "seed-full.json").write_text(json.dumps(info), encoding="utf-8")
            (self.data_dir / "seed-full.tmp.bin").replace(self.data_dir / "seed-full.bin")
            print(f"  seed-full.bin: {info['bytes']:,} bytes", flush=True)


def print_summary(ref: dict, out: Path, log=print) -> None:
    from anspack import digits

    log("")
    log("seed-002 table (Python decoder; one BLAS thread; fwd = float32 forward pass on the dequantized weights, "
        "1 image and per image of the 360-image batch; native = in the file's own format, fp16 or "
        "int8 x int8 -> int32, per image of the batch):")
    log(ref["table"])
    log(f"(vs fp32 = size of model.safetensors, {ref['model']['safetensors_bytes']} bytes, over the file size; "
        f"bits/param = 8 x file bytes / {ref['model']['params']} parameters)")
    s = ref["seed_layout"]["small"]
    if s:
        log(f"seed layout {s['matrices']}x{s['rows']}x{s['cols']}: {s['bytes']:,} bytes, "
            f"{s['bits_per_entry']:.3f} bits/entry")
    log(f"data written to {out}")


def run(args) -> int:
    from anspack.cli import UsageError

    out = Path(args.out) if args.out else DEFAULT_OUT
    if args.epochs is not None and args.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if not 0 <= args.port < 65536:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    if not (DEMO_DIR / "index.html").is_file() or not (JS_DIR / "src" / "index.js").is_file():
        raise UsageError(f"the demo page or the JS decoder is missing under {REPO_ROOT}: anspack demo serves "
                         "the repository's demo/ and jsdecoder/, so run it from a clone installed with "
                         "pip install -e '.[demo]'")
    seed_full = _shape_arg(args.seed_full_shape)
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        raise UsageError("anspack demo needs scikit-learn for its bundled digits data: pip install scikit-learn")
    server = None
    if not args.build_only:  # take the port first: fail before the build if it is busy
        try:
            server = DemoServer(out, args.port)
        except OSError as e:
            raise UsageError(f"cannot listen on 127.0.0.1:{args.port} ({e.strerror or e}); try --port 0") from None
    try:
        ref = build(out, epochs=args.epochs, seed_full_shape=seed_full)
        print_summary(ref, out)
    except BaseException:
        if server is not None:
            server.server_close()
        raise
    if server is None:
        return 0
    print(f"\nserving the demo at {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
