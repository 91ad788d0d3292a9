"""Two independent encoders, one file: the JS test encoder (jsdecoder/test/helpers/encoder.js, written
from spec/FORMAT.md alone) writes byte-for-byte the files ``anspack.encode`` writes, over random tensors,
dtypes, lane counts and precisions. This checks the spec's claim that the encoder rule (section 9), the
coder (section 10), the checksums (section 11) and the placement (section 6) determine every byte.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import anspack

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "jsdecoder" / "scripts" / "test-encoder-cli.mjs"


def js_encode(tmp_path: Path, tensors: list[dict], metadata: dict | None) -> bytes:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (the JS decoder's tests need node >= 18)", pytrace=False)
    spec = tmp_path / "in.json"
    out = tmp_path / "out.anspack"
    spec.write_text(json.dumps({"metadata": metadata, "tensors": tensors}))
    subprocess.run([node, str(CLI), str(spec), str(out)], check=True, timeout=120)
    return out.read_bytes()


def case(rng: np.random.Generator, precision: int):
    limit = 1 << precision
    arrays = {
        "i8": np.clip(np.round(rng.standard_normal((23, 17)) * min(8, limit / 16)), -128, 127).astype(np.int8),
        "u8": rng.integers(0, min(255, limit - 1), size=(40,), endpoint=True).astype(np.uint8),
        "i16": rng.choice(rng.integers(-32768, 32767, size=min(limit, 50)), size=(9, 9)).astype(np.int16),
        "u16": rng.choice(rng.integers(0, 65535, size=min(limit, 50)), size=(30,)).astype(np.uint16),
        "i32": rng.choice(np.array([-2**31, 2**31 - 1, 0, 5, -7]), size=(6, 5)).astype(np.int32),
        "u32": rng.choice(np.array([0, 2**32 - 1, 2**31, 12345], dtype=np.uint64), size=(11,)).astype(np.uint32),
        "scalar": np.array(-3, dtype=np.int8),
        "empty": np.zeros((2, 0), dtype=np.int16),
        "const": np.full((50,), 7, dtype=np.uint8),
        "f16": rng.standard_normal(5).astype(np.float16),
        "f32": rng.standard_normal((2, 3)).astype(np.float32),
        "raw.i16": rng.integers(-300, 300, size=(4,)).astype(np.int16),
    }
    return arrays


def to_json(name: str, a: np.ndarray, lanes: int, precision: int, raw: bool) -> dict:
    flat = a.reshape(-1)
    data = flat.view(np.uint16).tolist() if a.dtype == np.float16 else flat.tolist()
    return {"name": name, "dtype": a.dtype.name, "shape": list(a.shape), "data": data, "lanes": lanes,
            "precision": precision, "raw": raw}


@pytest.mark.parametrize("lanes,precision", [(1, 12), (4, 12), (3, 8), (32, 15), (1 << 20, 10)])
def test_js_encoder_writes_python_bytes(tmp_path, lanes, precision):
    rng = np.random.default_rng(lanes * 100 + precision)
    arrays = case(rng, precision)
    raw = ("raw.i16",)
    metadata = {"b": [1, 2.5, None], "a": "ünï"}
    py = anspack.encode(arrays, lanes=lanes, precision=precision, raw=raw, metadata=metadata)
    # The Python encoder writes metadata with sorted keys and no spaces; JSON.stringify keeps insertion
    # order, so hand it the keys already sorted.
    js = js_encode(tmp_path, [to_json(k, v, lanes, precision, k in raw) for k, v in arrays.items()],
                   dict(sorted(metadata.items())))
    assert len(js) == len(py)
    if js != py:
        first = next(i for i in range(len(py)) if js[i] != py[i])
        pytest.fail(f"first differing byte at offset {first}: JS {js[first]:#04x}, Python {py[first]:#04x}")
