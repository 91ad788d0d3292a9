"""decodeAsync in headless Chromium (Web Workers): the same tensors as decode() and as Python wrote,
for 1, 2 and 3 workers and a reused pool, also with chunked tensors split over the workers; the same
AnspackError codes as decode() for bad files.
Fixtures (``served_dir``, ``browser_page``, ``http_server``) are in tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import anspack
from anspack import dequant

VECTORS = Path(__file__).resolve().parent / "vectors"

COMPARE_JS = """
async ([url, workers, options]) => {
  const A = window.anspack;
  const bytes = await window.fetchBytes(url);
  const want = A.decode(bytes, options);
  const runs = [];
  for (const w of workers) runs.push(await A.decodeAsync(bytes, { ...options, workers: w }));
  const pool = await A.createDecoderPool(2);
  try {
    const both = await Promise.all([pool.decode(bytes, options), A.decodeAsync(bytes, { ...options, pool })]);
    runs.push(...both);
  } finally {
    await pool.terminate();
  }
  const sum = async (r) => {
    const out = [];
    for (const t of r.tensors) out.push({ name: t.name, shape: t.shape, dtype: t.dtype, storedDtype: t.storedDtype ?? null,
      checksum: t.checksum, arrayType: t.data.constructor.name, sha256: await window.sha256Hex(t.data),
      same: r.byName[t.name] === t,
      // an ArrayBuffer of the tensor's own (decodeAsync: also a split tensor, see async.js SPLIT_MIN)
      ownBuffer: t.data.buffer instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.buffer.byteLength === t.data.byteLength });
    return { metadata: r.metadata, tensors: out };
  };
  const out = { want: await sum(want), got: [] };
  for (const r of runs) out.got.push(await sum(r));
  out.inputIntact = bytes.byteLength;
  return out;
}
"""


def le_sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()


def model_file() -> tuple[bytes, dict]:
    rng = np.random.default_rng(11)
    tensors = {}
    for i in range(7):
        tensors[f"layer{i}.weight"] = np.round(rng.standard_normal((64 + 16 * i, 96)) * (2 + i)).clip(-127, 127).astype(np.int8)
    tensors["layer0.bias"] = rng.standard_normal(96).astype(np.float32)
    tensors["embed"] = rng.integers(0, 4000, size=(300, 20)).astype(np.uint16)
    tensors["const"] = np.full((5, 5), -3, dtype=np.int32)
    tensors["empty"] = np.zeros((0, 3), dtype=np.int8)
    tensors["half"] = rng.standard_normal(33).astype(np.float16)
    scale = (np.abs(rng.standard_normal(64)) + 0.1).astype(np.float32)
    block = dequant.affine_block(scale, np.zeros(64, np.float32), axis=0)
    data = anspack.encode(tensors, lanes=4, metadata={"model": "browser-async"}, dequant={"layer0.weight": block})
    return data, tensors


def test_decode_async_matches_decode_and_python(served_dir, browser_page):
    data, tensors = model_file()
    url = served_dir.write("m.anspack", data)
    for options in ({}, {"dequantize": True}):
        r = browser_page.evaluate(COMPARE_JS, [url, [1, 2, 3], options])
        assert r["want"]["metadata"] == {"model": "browser-async"}
        assert len(r["got"]) == 5
        for got in r["got"]:
            assert got == r["want"]
        assert r["inputIntact"] == len(data)
        if not options:  # raw integers: equal to what Python encoded
            by = {t["name"]: t for t in r["want"]["tensors"]}
            assert list(by) == list(tensors)
            for name, a in tensors.items():
                assert by[name]["sha256"] == le_sha(a if a.dtype != np.float16 else a.view(np.uint16)), name
                assert by[name]["shape"] == list(a.shape)
        else:
            assert {t["name"]: t["dtype"] for t in r["want"]["tensors"]}["layer0.weight"] == "float32"


ERRORS_JS = """
async ([urls, workers]) => {
  const A = window.anspack;
  const out = {};
  for (const [name, url] of Object.entries(urls)) {
    const bytes = await window.fetchBytes(url);
    let want = null;
    try { A.decode(bytes); } catch (e) { want = window.errorInfo(e); }
    let got = null;
    try { await A.decodeAsync(bytes, { workers }); } catch (e) { got = window.errorInfo(e); }
    out[name] = { want, got };
  }
  return out;
}
"""


def test_decode_async_errors(served_dir, browser_page, http_server):
    index = json.loads((VECTORS / "bad" / "index.json").read_text())
    urls = {name: http_server.url(f"tests/vectors/bad/{name}.anspack") for name in index}
    # and a corrupt word inside a tensor that a worker decodes
    data, _ = model_file()
    hdr = anspack.read_header(data)
    info = next(t for t in hdr.tensors if t.name == "layer5.weight")
    bad = bytearray(data)
    bad[info.data_offset + info.data_size - 9] ^= 0x33
    urls["flipped_layer5"] = served_dir.write("bad5.anspack", bytes(bad))
    index["flipped_layer5"] = None
    for workers in (1, 2):
        r = browser_page.evaluate(ERRORS_JS, [urls, workers])
        for name, code in index.items():
            want, got = r[name]["want"], r[name]["got"]
            assert got is not None, name
            assert got["isAnspackError"], (name, got)
            if code is not None:
                assert want["code"] == code
            else:
                assert want["code"] in ("CorruptStream", "ChecksumMismatch") and want["tensor"] == "layer5.weight"
            assert (got["code"], got["offset"], got["tensor"]) == (want["code"], want["offset"], want["tensor"]), (name, got, want)


def chunked_file() -> tuple[bytes, dict]:
    """Spec section 7.2: one chunked tensor holding 52 % of the entries (with a per-row dequant block),
    a paired and chunked one, a small plain one."""
    rng = np.random.default_rng(12)
    tensors = {
        "big": np.round(rng.standard_normal((520, 100)) * 5).clip(-127, 127).astype(np.int8),
        "pc": rng.integers(-3, 3, size=(200, 100)).astype(np.int8),
        "small": np.round(rng.standard_normal((280, 100)) * 3).clip(-127, 127).astype(np.int8),
    }
    scale = (np.abs(rng.standard_normal(520)) + 0.1).astype(np.float32)
    block = dequant.affine_block(scale, np.zeros(520, np.float32), axis=0)
    data = anspack.encode(tensors, lanes=8, pairs={"pc": True, "big": False, "small": False},
                          chunk={"big": 4096, "pc": 999, "small": 0}, dequant={"big": block})
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    assert infos["big"].chunks == 13 and infos["pc"].pairs and infos["pc"].chunks == 11 and infos["small"].chunks == 1
    return data, tensors


def corrupt_words(served_dir, data: bytes, t, prefix: str) -> dict:
    """URLs of three copies of ``data`` with a byte of tensor ``t``'s words flipped (early, in the
    middle, near the end)."""
    words_at = t.data_offset + t.data_size - 2 * t.words
    urls = {}
    for k, at in enumerate((words_at + 10, words_at + t.words, t.data_offset + t.data_size - 4)):
        b = bytearray(data)
        b[at] ^= 0x44
        urls[f"bad{k}"] = served_dir.write(f"{prefix}_bad{k}.anspack", bytes(b))
    return urls


def test_decode_async_splits_chunked_tensors(served_dir, browser_page):
    """decodeAsync with 2 workers on a chunked file (its chunks split over the workers) equals decode()
    and Python, also dequantized."""
    data, tensors = chunked_file()
    url = served_dir.write("chunked.anspack", data)
    for options in ({}, {"dequantize": True}, {"verify": False}):
        r = browser_page.evaluate(COMPARE_JS, [url, [2, 3], options])
        assert all(t["ownBuffer"] for t in r["want"]["tensors"])
        for got in r["got"]:
            assert got == r["want"]
        if not options:
            by = {t["name"]: t for t in r["want"]["tensors"]}
            for name, a in tensors.items():
                assert by[name]["sha256"] == le_sha(a), name
    # corruptions inside a split tensor: the same error code and offset as decode()
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    urls = corrupt_words(served_dir, data, infos["big"], "chunked")
    r = browser_page.evaluate(ERRORS_JS, [urls, 2])
    for name, x in r.items():
        assert x["want"] is not None and x["got"] == x["want"], (name, x)
        assert "chunk" in x["want"]["message"] and x["want"]["tensor"] == "big"


def test_decode_async_product_pairs(served_dir, browser_page):
    """Spec revision 3: PRODUCT pair tensors (section 7.3), one holding most of the entries and chunked
    (its chunks split over the workers, each range framed with the tensor's mode byte and entry model):
    decodeAsync with 1-3 workers and a pool equals decode() and Python; corruptions inside the split
    tensor (3 workers; 2 decode it whole) give decode()'s code, offset and tensor."""
    rng = np.random.default_rng(13)
    tensors = {
        "big": np.clip(np.round(rng.laplace(0, 2.0, (520, 100))), -8, 7).astype(np.int8),
        "tern": np.clip(np.round(rng.laplace(0, 0.5, (200, 100))), -1, 1).astype(np.int8),
        "small": np.clip(np.abs(np.round(rng.laplace(0, 3.0, (280, 100)))), 0, 20).astype(np.uint8),
    }
    data = anspack.encode(tensors, lanes=8, pairs="product", chunk={"big": 2048, "tern": 999, "small": 0},
                          precision=12)
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    assert all(t.product for t in infos.values())
    assert infos["big"].chunks == 13 and infos["tern"].chunks == 11 and infos["small"].chunks == 1
    url = served_dir.write("product_async.anspack", data)
    for options in ({}, {"verify": False}):
        r = browser_page.evaluate(COMPARE_JS, [url, [1, 2, 3], options])
        for got in r["got"]:
            assert got == r["want"]
    by = {t["name"]: t for t in r["want"]["tensors"]}
    for name, a in tensors.items():
        assert by[name]["sha256"] == le_sha(a), name
        assert by[name]["checksum"] == infos[name].checksum
    urls = corrupt_words(served_dir, data, infos["big"], "product")
    # 2 workers take "big" whole (below a worker's share by async.js's cost estimate: SPLIT_MIN),
    # 3 workers split it
    for workers in (2, 3):
        r = browser_page.evaluate(ERRORS_JS, [urls, workers])
        for name, x in r.items():
            assert x["want"] is not None and x["got"] == x["want"], (name, workers, x)
            assert "chunk" in x["want"]["message"] and x["want"]["tensor"] == "big"
