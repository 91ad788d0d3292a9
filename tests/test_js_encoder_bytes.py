"""Two independent encoders, one file: the JS test encoder (jsdecoder/test/helpers/encoder.js, written
from spec/FORMAT.md alone) writes byte-for-byte the files ``anspack.encode`` writes, over random tensors,
dtypes, lane counts and precisions, with and without pairs and chunks (spec revision 2, sections 7.1
and 7.2), PRODUCT pairs (revision 3, section 7.3) and row groups (revision 4, coding 2, section 7.4).
This checks the spec's claim that the encoder rule (section 9), the coder (section 10), the checksums
(section 11) and the placement (section 6) determine every byte.
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


def assert_same_bytes(js: bytes, py: bytes) -> None:
    assert len(js) == len(py)
    if js != py:
        first = next(i for i in range(len(py)) if js[i] != py[i])
        pytest.fail(f"first differing byte at offset {first}: JS {js[first]:#04x}, Python {py[first]:#04x}")


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
    assert_same_bytes(js, py)


def rev2_case(rng: np.random.Generator):
    """Tensors for spec revision 2: pairs (section 7.1) and chunks (section 7.2), every integer dtype."""
    arrays = {
        "p.i8": rng.integers(-4, 4, size=(30, 10)).astype(np.int8),
        "p.u8": rng.integers(0, 3, size=(64,)).astype(np.uint8),
        "pc.i8": rng.integers(-2, 2, size=(202,)).astype(np.int8),
        "c.i8": np.clip(np.round(rng.standard_normal((23, 17)) * 6), -128, 127).astype(np.int8),
        "c.u8": rng.integers(0, 40, size=(99,)).astype(np.uint8),
        "c.i16": rng.integers(-300, 300, size=(250,)).astype(np.int16),
        "c.u16": rng.integers(0, 900, size=(61,)).astype(np.uint16),
        "c.i32": rng.choice(np.array([-2**31, 2**31 - 1, 0, 5, -7]), size=(40,)).astype(np.int32),
        "c.u32": rng.choice(np.array([0, 2**32 - 1, 12345], dtype=np.uint64), size=(33,)).astype(np.uint32),
        "c.const": np.full((77,), 9, dtype=np.int16),
        "short.tail": rng.integers(-9, 9, size=(23,)).astype(np.int8),  # last chunk: 3 symbols < L = 8
        "q.too.big": rng.integers(-9, 9, size=(20,)).astype(np.int8),   # Q >= N: written unchunked
    }
    pairs = {"p.i8": True, "p.u8": True, "pc.i8": True}
    chunk = {"pc.i8": 13, "c.i8": 50, "c.u8": 10, "c.i16": 7, "c.u16": 60, "c.i32": 9, "c.u32": 16,
             "c.const": 20, "short.tail": 10, "q.too.big": 20}
    lanes = {"short.tail": 8, "c.i16": 3}
    return arrays, pairs, chunk, lanes


@pytest.mark.parametrize("precision", [10, 12])
def test_js_encoder_writes_python_bytes_pairs_and_chunks(tmp_path, precision):
    rng = np.random.default_rng(precision)
    arrays, pairs, chunk, lanes = rev2_case(rng)
    all_pairs = {k: pairs.get(k, False) for k in arrays}
    all_chunk = {k: chunk.get(k, 0) for k in arrays}
    all_lanes = {k: lanes.get(k, 4) for k in arrays}
    py = anspack.encode(arrays, lanes=all_lanes, precision=precision, pairs=all_pairs, chunk=all_chunk)
    infos = {t.name: t for t in anspack.read_header(py).tensors}
    assert infos["pc.i8"].pairs and infos["pc.i8"].chunks == 8 and infos["short.tail"].chunks == 3
    assert infos["q.too.big"].chunk == 0
    tensors = []
    for k, v in arrays.items():
        d = to_json(k, v, all_lanes[k], precision, False)
        d.update(pairs=all_pairs[k], chunk=all_chunk[k])
        tensors.append(d)
    assert_same_bytes(js_encode(tmp_path, tensors, None), py)


def product_case(rng: np.random.Generator):
    """Tensors for spec revision 3: PRODUCT pairs (section 7.3), beside plain pairs and single entries."""
    def skewed(n, v, lo, dtype):
        return (lo + np.minimum(v - 1, np.abs(rng.standard_normal(n)) * v / 2.5).astype(np.int64)).astype(dtype)
    arrays = {
        "x.i4": skewed(16 * 24, 16, -8, np.int8).reshape(16, 24),      # int4 weights: V <= 16
        "x.u8": skewed(998, 9, 100, np.uint8),
        "x.tern": rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(2, 301), p=[0.2, 0.6, 0.2]),
        "xc.i8": skewed(2 * 777, 7, -3, np.int8),                       # chunked: K = 8, short last chunk
        "xc.odd": skewed(2 * 301, 5, 0, np.uint8),                      # V = 5: one padding byte
        "x.const": np.full((64,), -7, dtype=np.int8),                   # V = 1
        "plain": rng.integers(-3, 3, size=(200,)).astype(np.int8),      # plain pairs beside
        "single": rng.integers(-20, 20, size=(99,)).astype(np.int8),    # no pairs
    }
    pairs = {k: ("product" if k.startswith("x") else k == "plain") for k in arrays}
    chunk = {k: (100 if k == "xc.i8" else 40 if k == "xc.odd" else 0) for k in arrays}
    lanes = {"x.i4": 3, "x.u8": 8, "x.tern": 5, "xc.i8": 8, "xc.odd": 4, "x.const": 2, "plain": 4, "single": 7}
    return arrays, pairs, chunk, lanes


@pytest.mark.parametrize("precision", [8, 11, 15, None])
def test_js_encoder_writes_python_bytes_product(tmp_path, precision):
    """JS encoder's ``product`` option == ``anspack.encode(..., pairs={name: "product"})``, byte for byte;
    with precision None the Python encoder's automatic P (raised to fit V^2) is handed to the JS one."""
    rng = np.random.default_rng(300 + (precision or 0))
    arrays, pairs, chunk, lanes = product_case(rng)
    py = anspack.encode(arrays, lanes=lanes, precision=precision, pairs=pairs, chunk=chunk)
    infos = {t.name: t for t in anspack.read_header(py).tensors}
    for k in arrays:
        assert infos[k].product == (pairs[k] == "product"), k
        assert infos[k].pairs == (pairs[k] is not False), k
    assert infos["xc.i8"].chunks == 8 and infos["xc.odd"].chunks == 8 and infos["x.const"].vocab_size == 1
    assert infos["x.i4"].vocab_size ** 2 <= 1 << infos["x.i4"].precision
    tensors = []
    for k, v in arrays.items():
        d = to_json(k, v, lanes[k], infos[k].precision, False)
        d.update(pairs=pairs[k] is True, product=pairs[k] == "product", chunk=chunk[k])
        tensors.append(d)
    assert_same_bytes(js_encode(tmp_path, tensors, None), py)


def groups_case(rng: np.random.Generator):
    """Tensors for spec revision 4: row groups (coding 2, section 7.4), with explicit row maps (G = 2 to
    256, R*b a multiple of 8 or not), every integer dtype, and groups coded with pairs, PRODUCT pairs and
    chunks; beside a tensor that is not grouped."""
    def row_map(R, G):
        m = np.concatenate([np.arange(G), rng.integers(0, G, R - G)])
        rng.shuffle(m)
        return m

    def rows(m, C, dtype, spread, lo, hi):
        a = np.round(rng.standard_normal((m.size, C)) * spread * (1 + m % 4)[:, None]) + (m % 3)[:, None]
        return np.clip(a, lo, hi).astype(dtype)

    maps = {"g2": row_map(23, 2), "g5.u16": row_map(41, 5), "g256": row_map(260, 256), "g3.i32": row_map(9, 3),
            "g4.u32": row_map(16, 4), "g2.i16": row_map(60, 2), "gp": row_map(16, 3), "gpc": row_map(30, 2),
            "gq": row_map(20, 2)}
    arrays = {
        "g2": rows(maps["g2"], 17, np.int8, 2.0, -128, 127),
        "g5.u16": rows(maps["g5.u16"], 3, np.uint16, 30.0, 0, 65535),
        "g256": rows(maps["g256"], 4, np.int8, 1.0, -128, 127),
        "g3.i32": rows(maps["g3.i32"], 5, np.int32, 1e5, -2**31, 2**31 - 1),
        "g4.u32": rows(maps["g4.u32"], 6, np.uint32, 7.0, 0, 2**32 - 1),
        "g2.i16": rows(maps["g2.i16"], 10, np.int16, 20.0, -32768, 32767),     # chunked groups
        "gp": rows(maps["gp"], 24, np.int8, 1.0, -8, 7),                        # PRODUCT pairs
        "gpc": rows(maps["gpc"], 20, np.uint8, 0.4, 0, 3),                      # plain pairs, chunked
        "gq": rows(maps["gq"], 64, np.int8, 0.6, -8, 7),                        # PRODUCT pairs, chunked
        "plain": rng.integers(-5, 5, size=(30,)).astype(np.int8),
    }
    pairs = {"gp": "product", "gpc": True, "gq": "product"}
    chunk = {"g2.i16": 50, "gpc": 40, "gq": 100}
    return arrays, maps, {k: pairs.get(k, False) for k in arrays}, {k: chunk.get(k, 0) for k in arrays}


@pytest.mark.parametrize("lanes,precision", [(4, 12), (1, 10), (3, None), (None, None)])
def test_js_encoder_writes_python_bytes_groups(tmp_path, lanes, precision):
    """JS encoder's ``groups`` (a row map) == ``anspack.encode(..., groups={name: row map})``, byte for
    byte; where Python picks lanes or P per group (None), its choices are handed to the JS encoder
    through ``groupOptions``."""
    rng = np.random.default_rng(400 + (lanes or 0) + (precision or 0))
    arrays, maps, pairs, chunk = groups_case(rng)
    py = anspack.encode(arrays, lanes=lanes, precision=precision, pairs=pairs, chunk=chunk,
                        groups={k: maps.get(k, False) for k in arrays})
    infos = {t.name: t for t in anspack.read_header(py).tensors}
    for k, m in maps.items():
        assert infos[k].coding == "groups" and infos[k].row_groups.tolist() == m.tolist(), k
    assert len(infos["g256"].groups) == 256 and infos["plain"].coding == "rans"
    assert all(s.product for s in infos["gp"].groups + infos["gq"].groups)
    assert all(s.chunks > 1 for s in infos["g2.i16"].groups + infos["gpc"].groups + infos["gq"].groups)
    tensors = []
    for k, v in arrays.items():
        t = infos[k]
        d = to_json(k, v, lanes or 8, precision or (t.groups[0].precision if k in maps else t.precision), False)
        d.update(pairs=pairs[k] is True, product=pairs[k] == "product", chunk=chunk[k])
        if k in maps:
            d["groups"] = maps[k].tolist()
            d["groupOptions"] = [{"lanes": s.lanes, "precision": s.precision} for s in t.groups]
        elif lanes is None:
            d["lanes"] = t.lanes
        tensors.append(d)
    assert_same_bytes(js_encode(tmp_path, tensors, None), py)
