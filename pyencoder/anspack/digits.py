"""The demo's digit classifier: a small numpy MLP on scikit-learn's bundled 8x8 ``load_digits``.

This is the seed-002 lab ("model compression") done properly: a fixed seed, a stratified train/test
split, training on the training part only, accuracy on the held-out part, and the lab's table (size,
bits per weight, test accuracy, latency) for each compression setting.

Model: ``64 -> 128 -> 64 -> 10``, ReLU, softmax cross-entropy, trained with Adam in float64 and saved
as float32. Weights follow the PyTorch convention (``fcK.weight`` has shape ``(out, in)``), so
"per row" quantization means one scale per output unit.

Inputs are the raw ``load_digits`` intensities ``0 … 16`` divided by 16.

Exact predictions: :func:`forward_exact` evaluates the network in float64 with one fixed summation order
(``acc = bias[j]; for k in 0..in-1: acc += x[k] * W[j, k]``, then ReLU), which is what the demo page's
JavaScript does with its float64 numbers. Every step is a correctly rounded IEEE operation in both
languages, so the logits (and the predicted classes) are bit-identical; the demo test compares them
class by class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

SEED = 0
TEST_SIZE = 0.2
HIDDEN = (128, 64)
EPOCHS = 40
BATCH = 32
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
INPUT_SCALE = 16.0  # load_digits intensities are 0 .. 16


def load_bundled_test() -> tuple[np.ndarray, np.ndarray]:
    """The held-out test images (uint8, 0..16) and labels of :func:`load_split`, shipped with the package
    (``anspack/data/digits_test.npz``), so that no scikit-learn is needed to measure accuracy."""
    from importlib import resources

    with resources.files("anspack").joinpath("data", "digits_test.npz").open("rb") as f, \
            np.load(f, allow_pickle=False) as z:
        return z["images"], z["labels"].astype(np.int64)


def load_split(seed: int = SEED, test_size: float = TEST_SIZE):
    """``load_digits`` split into stratified train/test parts.

    Returns ``(X_train, X_test, y_train, y_test)``: images as uint8 ``(n, 64)`` with values 0 … 16,
    labels as int64.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = d.data.astype(np.uint8)
    y = d.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y)
    return X_train, X_test, y_train, y_test


def layer_names(weights: dict[str, np.ndarray]) -> list[str]:
    """The layer prefixes (``fc1``, ``fc2``, …) in forward order."""
    names = sorted({k.split(".")[0] for k in weights}, key=lambda s: int(s[2:]))
    return names


def _init(rng: np.random.Generator, sizes: list[int]) -> dict[str, np.ndarray]:
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"fc{i}.weight"] = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)
        params[f"fc{i}.bias"] = np.zeros(n_out)
    return params


def _forward_train(params, x, n_layers):
    acts = [x]
    h = x
    for i in range(1, n_layers + 1):
        z = h @ params[f"fc{i}.weight"].T + params[f"fc{i}.bias"]
        h = np.maximum(z, 0.0) if i < n_layers else z
        acts.append(h)
    return acts


def train(X_train: np.ndarray, y_train: np.ndarray, *, hidden=HIDDEN, epochs: int = EPOCHS,
          batch: int = BATCH, lr: float = LEARNING_RATE, weight_decay: float = WEIGHT_DECAY,
          seed: int = SEED, log=None) -> dict[str, np.ndarray]:
    """Train the MLP with mini-batch Adam on softmax cross-entropy; returns float32 weights.

    Deterministic for a given seed (the shuffles and the initialisation come from
    ``np.random.default_rng(seed)``).
    """
    rng = np.random.default_rng(seed)
    sizes = [X_train.shape[1], *hidden, 10]
    n_layers = len(sizes) - 1
    params = _init(rng, sizes)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    x_all = X_train.astype(np.float64) / INPUT_SCALE
    y_all = np.asarray(y_train, dtype=np.int64)
    n = len(x_all)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        lr_epoch = lr * (1.0 - 0.9 * epoch / max(epochs - 1, 1))  # linear decay to lr / 10
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            x, y = x_all[idx], y_all[idx]
            acts = _forward_train(params, x, n_layers)
            logits = acts[-1]
            logits = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            total += -np.log(p[np.arange(len(y)), y] + 1e-12).sum()
            g = p
            g[np.arange(len(y)), y] -= 1.0
            g /= len(y)
            grads = {}
            for i in range(n_layers, 0, -1):
                grads[f"fc{i}.weight"] = g.T @ acts[i - 1] + weight_decay * params[f"fc{i}.weight"]
                grads[f"fc{i}.bias"] = g.sum(axis=0)
                if i > 1:
                    g = (g @ params[f"fc{i}.weight"]) * (acts[i - 1] > 0)
            step += 1
            for k in params:
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
                mh = m[k] / (1 - b1 ** step)
                vh = v[k] / (1 - b2 ** step)
                params[k] -= lr_epoch * mh / (np.sqrt(vh) + eps)
        if log is not None and (epoch % 10 == 9 or epoch == epochs - 1):
            log(f"epoch {epoch + 1}/{epochs}: train loss {total / n:.4f}")
    return {k: np.ascontiguousarray(p, dtype=np.float32) for k, p in params.items()}


def forward_exact(weights: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Logits in float64 with the page's summation order (bit-identical to the demo's JS).

    ``X`` holds raw intensities 0 … 16; it is divided by 16 in float64 first.
    """
    h = np.asarray(X, dtype=np.float64) / INPUT_SCALE
    names = layer_names(weights)
    for li, name in enumerate(names):
        W = np.asarray(weights[f"{name}.weight"], dtype=np.float64)
        b = np.asarray(weights[f"{name}.bias"], dtype=np.float64)
        n_out, n_in = W.shape
        acc = np.repeat(b[None, :], len(h), axis=0)
        for k in range(n_in):
            acc += h[:, k:k + 1] * W[None, :, k]  # product rounded, then sum rounded: as in JS
        h = np.maximum(acc, 0.0) if li < len(names) - 1 else acc
    return h


def predict(weights: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Predicted classes (int64), the first maximum winning ties (as the page's JS)."""
    return np.argmax(forward_exact(weights, X), axis=1).astype(np.int64)


def forward_fast(weights: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Float32 BLAS inference (what a deployed numpy model would run); used for latency."""
    h = np.asarray(X, dtype=np.float32) * np.float32(1.0 / INPUT_SCALE)
    names = layer_names(weights)
    for li, name in enumerate(names):
        h = h @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]
        if li < len(names) - 1:
            np.maximum(h, 0.0, out=h)
    return h


def latency_us(weights, X: np.ndarray, *, repeats: int = 200, forward=None) -> tuple[float, float]:
    """Median time of a one-image forward pass, and best-of-20 time per image of a whole-test-set pass
    (best of, because other processes share the CPU), in microseconds, on one BLAS thread.

    ``forward(model, X)`` defaults to :func:`forward_fast` on float32 copies of ``weights``; with another
    ``forward``, ``weights`` is passed to it as is.
    """
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    if forward is None:
        weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        forward = forward_fast
    with threadpool_limits(limits=1):  # one BLAS thread: stable numbers on a shared machine
        one = X[:1]
        forward(weights, one)
        t1 = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            forward(weights, one)
            t1.append(time.perf_counter() - t0)
        tb = []
        for _ in range(20):
            t0 = time.perf_counter()
            forward(weights, X)
            tb.append(time.perf_counter() - t0)
    return float(np.median(t1) * 1e6), float(np.min(tb) / len(X) * 1e6)


# ----------------------------------------------------------------------------------------------
# native-format inference (the seed-002 lab's "FP16 and INT8 inference methods")


@dataclass(frozen=True)
class NativeLayer:
    """One layer in the file's own number format.

    ``kind`` "fp16": ``W`` float16, computed in float16. ``kind`` "int": ``W`` the integer codes (int8)
    with ``scale`` (float32, one per row), computed as int8 x int8 -> int32 with the activations
    quantized per image (symmetric, 8 bits) and then rescaled. ``kind`` "fp32": float32 BLAS.
    """

    kind: str
    W: np.ndarray
    b: np.ndarray
    scale: np.ndarray | None = None


def native_model(data: bytes) -> list[NativeLayer] | None:
    """The layers of a compressed file for native-format inference, or None where there is none
    (lookup-table codebooks, mixed formats): see :class:`NativeLayer`."""
    import anspack
    from anspack import dequant as dq

    header = anspack.read_header(data)
    raw = anspack.decode(data)  # integer codes / float16 as stored
    info = {t.name: t for t in header.tensors}
    layers = []
    for name in layer_names(raw):
        t = info[f"{name}.weight"]
        W = raw[f"{name}.weight"]
        b = np.asarray(raw[f"{name}.bias"], dtype=np.float32)
        if t.dequant_size:
            d = dq.parse_block(memoryview(data)[t.dequant_offset:t.dequant_offset + t.dequant_size],
                               shape=tuple(t.shape), tensor=t.name, offset=t.dequant_offset)
            if (d.kind != dq.KIND_AFFINE or W.dtype != np.int8 or d.axis not in (None, 0)
                    or (d.zero is not None and np.any(d.zero != 0))):
                return None
            scale = np.broadcast_to(np.asarray(d.scale, dtype=np.float32), (W.shape[0],)).copy()
            layers.append(NativeLayer("int", W, b, scale))
        elif W.dtype == np.float16:
            layers.append(NativeLayer("fp16", W, b.astype(np.float16)))
        elif W.dtype == np.float32:
            layers.append(NativeLayer("fp32", W, b))
        else:
            return None
    return layers if len({L.kind for L in layers}) == 1 else None


def forward_native(layers: list[NativeLayer], X: np.ndarray) -> np.ndarray:
    """Logits computed in the layers' own formats (see :class:`NativeLayer`)."""
    if layers[0].kind == "fp16":
        h = np.asarray(X, dtype=np.float16) / np.float16(INPUT_SCALE)
    else:
        h = np.asarray(X, dtype=np.float32) * np.float32(1.0 / INPUT_SCALE)
    for li, L in enumerate(layers):
        if L.kind == "int":
            amax = np.abs(h).max(axis=1, keepdims=True)
            sx = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
            hq = np.rint(h / sx).astype(np.int8)
            acc = hq.astype(np.int32) @ L.W.T.astype(np.int32)  # int8 x int8 products, int32 sums
            h = acc.astype(np.float32) * (sx * L.scale[None, :]) + L.b
        else:
            h = h @ L.W.T + L.b
        if li < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def save_safetensors(path, weights: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Save float32 weights as safetensors (no pickle)."""
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}, str(path),
              metadata=metadata)


def load_safetensors(path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(str(path)))


# ----------------------------------------------------------------------------------------------
# compression settings (the seed-002 lab's versions, plus the ones the format makes cheap)


@dataclass(frozen=True)
class Setting:
    """One compression setting of the demo."""

    name: str  # file stem and id on the page
    label: str  # human-readable
    kind: str  # "fp32", "fp16", "int", "kmeans"
    bits: int = 32  # code width for "int" / "kmeans"
    per_row: bool = False  # one scale per output unit (else per tensor)
    prune: float = 0.0  # fraction of each weight matrix zeroed (smallest |w|) before quantizing
    scheme: str = ""  # the `anspack encode --scheme` text for the weight matrices
    rules: tuple[str, ...] = ()  # extra `--rule GLOB=SCHEME` options (biases default to float16)

    def cli(self, model: str = "model.safetensors") -> str:
        """The equivalent `anspack encode` command line."""
        rules = "".join(f" --rule '{r}'" for r in self.rules)
        return f"anspack encode {model} -o {self.name}.anspack --scheme '{self.scheme}'{rules}"


SETTINGS: tuple[Setting, ...] = (
    Setting("fp32", "float32 (baseline)", "fp32", scheme="fp32", rules=("*=fp32",)),
    Setting("fp16", "float16", "fp16", bits=16, scheme="fp16"),
    Setting("int8", "int8 per tensor", "int", bits=8, scheme="int8,tensor"),
    Setting("int4-row", "int4 per row", "int", bits=4, per_row=True, scheme="int4,row"),
    Setting("kmeans3", "3-bit k-means", "kmeans", bits=3, scheme="kmeans:8"),
    Setting("prune10-int4", "pruned 10% + int4 per row", "int", bits=4, per_row=True, prune=0.10,
            scheme="prune:10,int4,row"),
    Setting("prune30-int4", "pruned 30% + int4 per row", "int", bits=4, per_row=True, prune=0.30,
            scheme="prune:30,int4,row"),
    Setting("prune50-int4", "pruned 50% + int4 per row", "int", bits=4, per_row=True, prune=0.50,
            scheme="prune:50,int4,row"),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def compress(weights: dict[str, np.ndarray], setting: Setting) -> tuple[bytes, str]:
    """Compress the model at one setting with the quantizers behind ``anspack encode``
    (:func:`anspack.commands.encode.encode_model`, the call the CLI makes, so the bytes equal what
    ``setting.cli()`` writes from the saved model); returns ``(file bytes, "anspack encode")``.
    """
    from anspack.commands.encode import encode_model

    enc = encode_model(weights, base=setting.scheme, rules=list(setting.rules))
    return enc.data, "anspack encode"


# ----------------------------------------------------------------------------------------------
# the seed-002 table


def evaluate_setting(data: bytes, X_test: np.ndarray, y_test: np.ndarray, *, n_params: int,
                     reference: dict[str, np.ndarray] | None = None, repeats: int = 200) -> dict:
    """Decode one compressed file with the Python decoder and measure it (one table row)."""
    import anspack

    anspack.decode(data, dequantize=True)  # warm (Numba cache load) before timing
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        w = anspack.decode(data, dequantize=True)
        times.append(time.perf_counter() - t0)
    header = anspack.read_header(data)
    pred = predict(w, X_test)
    lat1, latb = latency_us(w, X_test, repeats=repeats)
    layers = []
    for t in header.tensors:
        n = int(np.prod(t.shape)) if t.shape else 1
        nbytes = t.data_size + t.dequant_size
        layers.append({"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "coding": t.coding,
                       "checksum": t.checksum, "bytes": nbytes, "bits_per_entry": 8 * nbytes / max(n, 1),
                       "dequant": t.dequant_size > 0})
    row = {
        "bytes": len(data),
        "bits_per_param": 8 * len(data) / n_params,
        "accuracy": float(np.mean(pred == y_test)),
        "correct": int(np.sum(pred == y_test)),
        "predictions": pred.tolist(),
        "decode_ms": float(np.median(times) * 1e3),
        "latency_us_one": lat1,
        "latency_us_per_image_batch": latb,
        "tensors": layers,
    }
    native = native_model(data)
    if native is not None:
        pn = np.argmax(forward_native(native, X_test), axis=1)
        n1, nb = latency_us(native, X_test, repeats=repeats, forward=forward_native)
        row["native"] = {"kind": native[0].kind, "accuracy": float(np.mean(pn == y_test)),
                         "latency_us_one": n1, "latency_us_per_image_batch": nb}
    else:
        row["native"] = None
    if reference is not None:
        row["max_abs_error"] = float(max(np.max(np.abs(w[k].astype(np.float64) - reference[k])) for k in reference))
    return row


def format_table(rows: list[dict], *, safetensors_bytes: int) -> str:
    """The seed-002 lab's table: size, bits per weight, test accuracy, latency per setting.

    "fwd" columns: float32 BLAS on the dequantized weights (what the demo runs). "native" columns: the
    file's own number format (float16 arithmetic; int8 x int8 -> int32 with 8-bit activations), as the
    lab's FP16 / INT8 inference methods; "-" for codebooks (no native arithmetic).
    """
    base = rows[0]["accuracy"] if rows else 0.0
    lines = [f"{'setting':<26} {'bytes':>6} {'vs fp32':>7} {'bits/param':>10} {'test acc':>8} {'delta':>7} "
             f"{'decode ms':>9} {'fwd us 1 img':>12} {'fwd us/img':>10} | {'native':>6} {'acc':>7} "
             f"{'us/img':>7}"]
    for r in rows:
        n = r.get("native")
        native = (f"{n['kind']:>6} {100 * n['accuracy']:>6.2f}% {n['latency_us_per_image_batch']:>7.2f}" if n
                  else f"{'-':>6} {'-':>7} {'-':>7}")
        lines.append(
            f"{r['label']:<26} {r['bytes']:>6} {safetensors_bytes / r['bytes']:>6.2f}x {r['bits_per_param']:>10.3f} "
            f"{100 * r['accuracy']:>7.2f}% {100 * (r['accuracy'] - base):>+6.2f}% {r['decode_ms']:>9.3f} "
            f"{r['latency_us_one']:>12.1f} {r['latency_us_per_image_batch']:>10.2f} | {native}")
    return "\n".join(lines)
