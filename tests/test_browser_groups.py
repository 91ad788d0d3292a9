"""Row groups (coding 2, spec section 7.4, revision 4) across languages: files written by the Python
encoder, decoded by the JS decoder in headless Chromium through every path -- decode() (js and wasm
engines), decodeTensor, readHeader, decodeAsync (1 and 2 workers, a big chunked sub-block cut into
chunk ranges), decodeStream over a fetched body, fetchTensor with HTTP Range, and decodeGPU
(WebGPU on SwiftShader) -- compared with Python's decoder and read_header entry for entry (SHA-256 of
the bytes and sampled values; checksums recomputed here from the arrays, group by group). Corrupt
words in group 1's sub-block and a wrong group checksum are rejected on every path with Python's error
code (and byte offset and tensor). Also: the fuzz corpus holds the groups vector, and a short
mutation run over it gives both decoders the same verdicts.

Fixtures come from tests/conftest.py (``served_dir``, ``browser_page``, ``http_server``), from
tests/test_browser_stream.py (``log_server``, ``page``: a Range-honouring server that logs requests)
and from tests/test_browser_gpu.py (``gpu_browser``, ``gpu_page``: Chromium with WebGPU).
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import anspack
from anspack import dequant
from anspack.fuzz import decode as py_decode
from anspack.fuzz import default_corpus, generate_cases, run_js, run_python
from test_browser_async import COMPARE_JS, le_sha
from test_browser_decode import (decode_in_browser, le_bytes, python_offset_error, table_checksum,
                                 refresh_block_checksum, spot_indices, spot_values)
from test_browser_gpu import compare, gpu_browser, gpu_decodes_all, gpu_page  # noqa: F401 (fixtures)
from test_browser_stream import FETCH_JS, log_server, page, stream_and_fetch_all  # noqa: F401 (fixtures)

VECTORS = Path(__file__).resolve().parent / "vectors"


# ------------------------------------------------------------------------------------------------
# files


def scaled_rows(rng: np.random.Generator, R: int, C: int, small: float, big: float, lo: int, hi: int,
                frac: float = 1 / 3) -> tuple[np.ndarray, np.ndarray]:
    """Rows quantized with one step each: a fraction ``frac`` of them at a small scale (their entries
    near 0), the others spread to the clip range. Returns the int8 rows and which rows are small."""
    is_small = rng.random(R) < frac
    scale = np.where(is_small, small, big)
    a = np.clip(np.round(rng.standard_normal((R, C)) * scale[:, None]), lo, hi).astype(np.int8)
    return a, is_small


def realistic_file() -> tuple[bytes, dict, dict]:
    """groups="auto" on weight matrices quantized per row: a 4-bit-range one (512 x 384 clipped to
    [-7, 7], a third of the rows at a small scale) and a full int8 one (256 distinct values), beside
    a small matrix (below 2^15 entries: not grouped) and a raw bias. Returns the bytes, the arrays and
    which rows of the grouped ones are small."""
    rng = np.random.default_rng(2026)
    q4, small4 = scaled_rows(rng, 512, 384, 0.7, 3.0, -7, 7)
    q8, small8 = scaled_rows(rng, 256, 512, 6.0, 40.0, -128, 127)
    arrays = {
        "layer.q4": q4,
        "layer.q8": q8,
        "layer.small": np.clip(np.round(rng.standard_normal((40, 30)) * 3), -7, 7).astype(np.int8),
        "layer.bias": rng.standard_normal(96).astype(np.float32),
    }
    assert np.unique(q8).size == 256
    # the per-row steps of the 4-bit one as an AFFINE dequant block (spec section 12)
    steps = np.where(small4, 0.01, 0.04).astype(np.float32)
    data = anspack.encode(arrays, groups="auto", metadata={"model": "groups"},
                          dequant={"layer.q4": dequant.affine_block(steps, axis=0)})
    return data, arrays, {"layer.q4": small4, "layer.q8": small8}


def group_map(rng: np.random.Generator, R: int, G: int) -> np.ndarray:
    """A random row map of R rows over G groups, every group owning at least one row."""
    m = np.concatenate([np.arange(G), rng.integers(0, G, R - G)])
    rng.shuffle(m)
    return m


def rows_by_group(rng: np.random.Generator, m: np.ndarray, C: int, dtype, spread: float, *, lo=None, hi=None):
    """Rows whose distribution depends on their group: group g's rows spread over ~spread * (1 + g % 5)."""
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    scale = spread * (1 + (m % 5))
    a = np.round(rng.laplace(0, 1, (m.size, C)) * scale[:, None]) + (m % 3)[:, None] * (0 if info.min < 0 else 1)
    return np.clip(a, lo, hi).astype(dtype)


def explicit_file(lanes: int | None = None) -> tuple[bytes, dict, dict]:
    """Explicit row maps with G = 2, 5 and 256 over several dtypes (R*b not a multiple of 8 for G = 5),
    PRODUCT-pair and plain-pair sub-blocks, chunked sub-blocks (also PRODUCT and chunked), and a
    group count for k-means (groups=3). Returns the bytes, the arrays and the maps asked for."""
    rng = np.random.default_rng(7)
    maps = {"g2": group_map(rng, 64, 2), "g5.u16": group_map(rng, 301, 5), "g256": group_map(rng, 300, 256),
            "g5.i32": group_map(rng, 41, 5), "prod": group_map(rng, 96, 4), "pairs": group_map(rng, 50, 2),
            "chunked": group_map(rng, 200, 3), "prod.chunked": group_map(rng, 120, 2)}
    arrays = {
        "g2": rows_by_group(rng, maps["g2"], 96, np.int8, 1.5),
        "g5.u16": rows_by_group(rng, maps["g5.u16"], 12, np.uint16, 40.0),
        "g256": rows_by_group(rng, maps["g256"], 16, np.int8, 2.0),
        "g5.i32": rows_by_group(rng, maps["g5.i32"], 7, np.int32, 5000.0),
        "prod": rows_by_group(rng, maps["prod"], 64, np.int8, 0.6, lo=-8, hi=7),
        "pairs": rows_by_group(rng, maps["pairs"], 40, np.uint8, 0.3, lo=0, hi=2),
        "chunked": rows_by_group(rng, maps["chunked"], 100, np.int8, 2.0),
        "prod.chunked": rows_by_group(rng, maps["prod.chunked"], 64, np.int8, 0.8, lo=-8, hi=7),
        "kmeans": np.concatenate([rows_by_group(rng, np.zeros(30, np.int64), 50, np.int16, 1.0),
                                  rows_by_group(rng, np.full(30, 4), 50, np.int16, 3.0)]),
        "plain": rng.integers(-3, 3, size=(20, 20)).astype(np.int8),
    }
    groups = {**maps, "kmeans": 3, "plain": False}
    pairs = {"prod": "product", "prod.chunked": "product", "pairs": True}
    chunk = {"chunked": 500, "prod.chunked": 300}
    data = anspack.encode(arrays, groups=groups, lanes=lanes, precision=12,
                          pairs={k: pairs.get(k, False) for k in arrays}, chunk={k: chunk.get(k, 0) for k in arrays})
    return data, arrays, maps


def check_decode(page, url: str, data: bytes, arrays: dict, options: dict, seed: int) -> None:
    """decode() in the page: every tensor's shape, dtype, checksum, bytes and sampled values equal
    Python's (and the checksums equal those recomputed from the arrays)."""
    rng = np.random.default_rng(seed)
    spots = {name: spot_indices(a.size, rng, k=40) for name, a in arrays.items()}
    got = decode_in_browser(page, url, spots, options)
    py = anspack.decode(data)
    header = anspack.read_header(data)
    assert [t["name"] for t in got["tensors"]] == list(arrays)
    for t, info in zip(got["tensors"], header.tensors):
        a = arrays[t["name"]]
        assert np.array_equal(py[t["name"]], a)
        assert (t["shape"], t["dtype"], t["n"]) == (list(a.shape), a.dtype.name, a.size), t["name"]
        assert t["checksum"] == info.checksum == table_checksum(a, info), t["name"]
        assert t["sha256"] == hashlib.sha256(le_bytes(a)).hexdigest(), f"{t['name']}: decoded bytes differ"
        assert t["spots"] == spot_values(a, spots[t["name"]]), t["name"]


# ------------------------------------------------------------------------------------------------
# decode, decodeTensor, readHeader


def test_python_groups_the_rows_by_scale():
    """groups="auto" groups both per-row-quantized matrices, each group holding rows of one scale only,
    and leaves the small one alone; the grouped file is smaller than the ungrouped one."""
    data, arrays, small = realistic_file()
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    assert [infos[k].coding for k in arrays] == ["groups", "groups", "rans", "raw"]
    for name, is_small in small.items():
        t = infos[name]
        assert 2 <= len(t.groups) <= 4 and t.row_groups.shape == (arrays[name].shape[0],)
        for g in range(len(t.groups)):
            members = is_small[t.row_groups == g]
            assert members.all() or not members.any(), f"{name}: group {g} mixes small and large rows"
    assert len(data) - infos["layer.q4"].dequant_size < len(anspack.encode(arrays, groups=False))


@pytest.mark.parametrize("engine", ["js", "wasm"])
def test_realistic_groups_decode_like_python(served_dir, browser_page, engine):
    data, arrays, _ = realistic_file()
    url = served_dir.write(f"real_{engine}.anspack", data)
    check_decode(browser_page, url, data, arrays, {"engine": engine}, seed=1)
    # dequantized (the grouped 4-bit one through its per-row AFFINE block), also with verify off:
    # Python's floats bit for bit
    want = anspack.decode(data, dequantize=True)
    assert want["layer.q4"].dtype == np.float32
    for options in ({"dequantize": True}, {"dequantize": True, "verify": False}):
        got = decode_in_browser(browser_page, url, {}, {"engine": engine, **options})
        assert [(t["name"], t["dtype"], t["sha256"]) for t in got["tensors"]] == \
            [(k, v.dtype.name, hashlib.sha256(le_bytes(v)).hexdigest()) for k, v in want.items()]


@pytest.mark.parametrize("engine", ["js", "wasm"])
@pytest.mark.parametrize("lanes", [None, 1, 5])
def test_explicit_groups_decode_like_python(served_dir, browser_page, engine, lanes):
    data, arrays, maps = explicit_file(lanes)
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    for name, m in maps.items():
        t = infos[name]
        assert t.coding == "groups" and t.row_groups.tolist() == m.tolist(), name
        assert len(t.groups) == m.max() + 1
    assert len(infos["g256"].groups) == 256 and len(infos["g5.u16"].groups) == 5
    assert all(s.product and s.pairs for s in infos["prod"].groups + infos["prod.chunked"].groups)
    assert all(s.pairs and not s.product for s in infos["pairs"].groups)
    assert all(s.chunks > 1 for s in infos["chunked"].groups + infos["prod.chunked"].groups)
    assert infos["kmeans"].coding == "groups" and 2 <= len(infos["kmeans"].groups) <= 3
    assert infos["plain"].coding == "rans"
    url = served_dir.write(f"explicit_{engine}_{lanes}.anspack", data)
    check_decode(browser_page, url, data, arrays, {"engine": engine}, seed=2 + (lanes or 0))


DECODE_TENSOR_JS = """
async ([url, names]) => {
  const A = window.anspack;
  const bytes = await window.fetchBytes(url);
  const out = {};
  for (const name of names) {
    const r = {};
    for (const engine of ['js', 'wasm']) {
      const t = A.decodeTensor(bytes, name, { engine });
      r[engine] = { sha256: await window.sha256Hex(t.data), checksum: t.checksum, shape: t.shape, dtype: t.dtype };
    }
    // a caller-supplied output array (longer than n): the tensor lands at its start, same buffer
    const n = A.readHeader(bytes).tensors.find((x) => x.name === name).n;
    const Ctor = A.ARRAY_TYPES[r.js.dtype];
    const buf = new Ctor(n + 3).fill(0x7f);
    const t = A.decodeTensor(bytes, name, { out: buf });
    r.out = { same: t.data.buffer === buf.buffer, sha256: await window.sha256Hex(buf.subarray(0, n)),
              tail: Array.from(buf.subarray(n)) };
    out[name] = r;
  }
  return out;
}
"""


@pytest.mark.parametrize("which", ["realistic", "explicit"])
def test_decode_tensor_engines_and_out(served_dir, browser_page, which):
    data, arrays, _ = realistic_file() if which == "realistic" else explicit_file(4)
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    names = [k for k in arrays if infos[k].coding == "groups"]
    assert len(names) >= 2
    got = browser_page.evaluate(DECODE_TENSOR_JS, [served_dir.write(f"dt_{which}.anspack", data), names])
    for name in names:
        a, r = arrays[name], got[name]
        want = hashlib.sha256(le_bytes(a)).hexdigest()
        for engine in ("js", "wasm"):
            assert r[engine] == {"sha256": want, "checksum": infos[name].checksum, "shape": list(a.shape),
                                 "dtype": a.dtype.name}, (name, engine)
        assert r["out"]["same"] and r["out"]["sha256"] == want, name
        assert r["out"]["tail"] == [0x7f] * 3, name  # nothing written past n


HEADER_JS = """
async (url) => {
  const h = window.anspack.readHeader(await window.fetchBytes(url));
  return { fileSize: h.fileSize, metadata: h.metadata, tensors: h.tensors.map((t) => ({ ...t,
    rowMap: t.rowMap === undefined ? null : Array.from(t.rowMap) })) };
}
"""


@pytest.mark.parametrize("which", ["realistic", "explicit"])
def test_read_header_matches_python(served_dir, browser_page, which):
    """readHeader's fields of a coding-2 tensor (coding 'groups', groupCount, rowMap, and per group its
    rows, n, shape, checksum, block placement and sub-block header) equal Python's read_header."""
    data, arrays, _ = realistic_file() if which == "realistic" else explicit_file(3)
    py = anspack.read_header(data)
    js = browser_page.evaluate(HEADER_JS, served_dir.write(f"hdr_{which}.anspack", data))
    assert js["fileSize"] == py.file_size == len(data) and js["metadata"] == py.metadata
    grouped = 0
    for j, p in zip(js["tensors"], py.tensors):
        assert (j["name"], j["shape"], j["dtype"], j["coding"], j["checksum"], j["blockChecksum"]) == \
            (p.name, list(p.shape), p.dtype, p.coding, p.checksum, p.block_checksum)
        assert (j["dataOffset"], j["dataSize"], j["n"]) == (p.data_offset, p.data_size, p.size)
        if p.coding != "groups":
            assert "groups" not in j and j["rowMap"] is None
            continue
        grouped += 1
        assert j["groupCount"] == len(p.groups) == len(j["groups"])
        assert j["rowMap"] == p.row_groups.tolist()
        assert p.checksum == anspack.fxhash26([s.checksum for s in p.groups])
        for g, (jg, s) in enumerate(zip(j["groups"], p.groups)):
            assert (jg["group"], jg["rows"], jg["n"], jg["shape"]) == (g, s.shape[0], s.size, list(s.shape))
            assert (jg["checksum"], jg["dataOffset"], jg["dataSize"]) == (s.checksum, s.data_offset, s.data_size)
            assert (jg["vocabSize"], jg["lanes"], jg["words"], jg["precision"]) == \
                (s.vocab_size, s.lanes, s.words, s.precision), (p.name, g)
            assert (jg["pairs"], jg["product"], jg["chunkSize"], jg["chunks"], jg["symbols"]) == \
                (s.pairs, s.product, s.chunk, s.chunks, s.symbols), (p.name, g)
    assert grouped == sum(t.coding == "groups" for t in py.tensors) >= 2


def test_golden_groups_vector(http_server, browser_page):
    """tests/vectors/groups.anspack: readHeader's row map and per-group fields equal its JSON."""
    import json

    expected = json.loads((VECTORS / "groups.json").read_text())
    js = browser_page.evaluate(HEADER_JS, http_server.url("tests/vectors/groups.anspack"))
    assert js["fileSize"] == expected["file_size"]
    seen = 0
    for j, e in zip(js["tensors"], expected["tensors"]):
        assert (j["name"], j["coding"], j["checksum"]) == (e["name"], e["coding"], e["checksum"])
        if e["coding"] != "groups":
            continue
        seen += 1
        assert j["rowMap"] == e["row_groups"]
        for jg, eg in zip(j["groups"], e["groups"]):
            assert (jg["rows"], jg["checksum"], jg["vocabSize"], jg["lanes"], jg["words"], jg["precision"], jg["pairs"],
                    jg["product"], jg["chunkSize"], jg["chunks"]) == \
                (eg["rows"], eg["checksum"], eg["vocab_size"], eg["lanes"], eg["words"], eg["precision"], eg["pairs"],
                 eg["product"], eg["chunk"], eg["chunks"])
    assert seen >= 2


# ------------------------------------------------------------------------------------------------
# decodeAsync, decodeStream, fetchTensor


def async_file() -> tuple[bytes, dict]:
    """A grouped tensor whose big group (about 80 % of the rows, chunked in 20+ chunks) costs more than
    a worker's share of 2, beside a grouped PRODUCT tensor and a plain one."""
    rng = np.random.default_rng(31)
    m = (rng.random(400) < 0.8).astype(np.int64)
    m[:2] = [0, 1]
    m3 = group_map(rng, 64, 3)
    arrays = {
        "big": rows_by_group(rng, m, 256, np.int8, 2.0),
        "prod": rows_by_group(rng, m3, 64, np.int8, 0.6, lo=-8, hi=7),
        "plain": rng.integers(-20, 20, size=(50, 50)).astype(np.int8),
    }
    data = anspack.encode(arrays, groups={"big": m, "prod": m3, "plain": False},
                          lanes=8, chunk={"big": 4096, "prod": 0, "plain": 0},
                          pairs={"big": False, "prod": "product", "plain": False})
    return data, arrays


PLAN_JS = """
async ([url, workers]) => {
  const { __test } = await import('/jsdecoder/src/async.js');
  const { parseHeader } = await import('/jsdecoder/src/header.js');
  const hdr = parseHeader(await window.fetchBytes(url), {});
  const plan = __test.planItems(hdr.tensors, workers);
  return plan.items.map((it) => ({ tensor: hdr.tensors[it.tensor].name, group: it.group ?? null,
    k0: it.k0 ?? null, k1: it.k1 ?? null }));
}
"""


def test_decode_async_grouped(served_dir, browser_page):
    """decodeAsync on 1 and 2 workers (and a pool) equals decode() and Python; with 2 workers the big
    group's chunked sub-block is cut into chunk ranges (async.js planItems)."""
    data, arrays = async_file()
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    big = infos["big"]
    assert big.coding == "groups" and big.groups[1].chunks >= 18 and big.groups[0].chunks >= 2
    url = served_dir.write("async_groups.anspack", data)
    items = browser_page.evaluate(PLAN_JS, [url, 2])
    ranges = [(it["k0"], it["k1"]) for it in items if it["tensor"] == "big" and it["group"] == 1]
    assert len(ranges) >= 2 and all(k0 is not None for k0, _ in ranges), items
    assert sorted(ranges)[0][0] == 0 and sorted(ranges)[-1][1] == big.groups[1].chunks
    assert all(a[1] == b[0] for a, b in zip(sorted(ranges), sorted(ranges)[1:])), "the ranges tile the chunks"
    assert [(it["k0"], it["k1"]) for it in items if it["tensor"] == "big" and it["group"] == 0] == [(None, None)]
    one = browser_page.evaluate(PLAN_JS, [url, 1])
    assert [it["k0"] for it in one if it["tensor"] == "big"] in ([None], [None, None]), one  # not cut
    for options in ({}, {"verify": False}, {"engine": "js"}):
        r = browser_page.evaluate(COMPARE_JS, [url, [1, 2], options])
        assert len(r["got"]) == 4
        for got in r["got"]:
            assert got == r["want"], options
    by = {t["name"]: t for t in r["want"]["tensors"]}
    for name, a in arrays.items():
        assert by[name]["sha256"] == le_sha(a) and by[name]["checksum"] == infos[name].checksum, name
    # the realistic file (groups="auto"), dequantized: decodeAsync equals decode() and Python's floats
    # (on 2 workers the paired 4-bit one, below a worker's share, goes to a worker whole; the int8 one,
    # about a share by the cost estimate, goes whole or split into its groups' sub-blocks, each whole:
    # no group is cut into chunk ranges)
    real, _, _ = realistic_file()
    real_url = served_dir.write("async_real.anspack", real)
    plan = [(it["tensor"], it["group"], it["k0"]) for it in browser_page.evaluate(PLAN_JS, [real_url, 2])]
    assert [p for p in plan if p[0] == "layer.q4"] == [("layer.q4", None, None)], plan
    G8 = len(anspack.read_header(real)["layer.q8"].groups)
    assert G8 >= 2 and [p for p in plan if p[0] == "layer.q8"] in (
        [("layer.q8", None, None)], [("layer.q8", g, None) for g in range(G8)]), plan
    r = browser_page.evaluate(COMPARE_JS, [real_url, [1, 2], {"dequantize": True}])
    for got in r["got"]:
        assert got == r["want"]
    want = anspack.decode(real, dequantize=True)
    assert [(t["name"], t["sha256"]) for t in r["want"]["tensors"]] == [(k, le_sha(v)) for k, v in want.items()]


def test_stream_and_fetch_grouped(page, log_server):
    """decodeStream (the fetched body, 7-byte chunks, 2 workers) and fetchTensor give Python's arrays;
    fetchTensor of a grouped tensor asks for the header, the table and exactly its data block."""
    data, arrays = async_file()
    real, real_arrays, _ = realistic_file()
    dequantized = 0
    for name, d, a in (("g_async.anspack", data, arrays), ("g_real.anspack", real, real_arrays)):
        stream_and_fetch_all(page, log_server, name, d, a)
        hdr = anspack.read_header(d)
        prefix = 40 + int.from_bytes(d[28:32], "little") + int.from_bytes(d[32:36], "little")
        url = log_server.base + "data/" + name
        for info in hdr.tensors:
            if info.coding != "groups":
                continue
            log_server.log.clear()
            got = page.evaluate(FETCH_JS, [url, info.name, {}])
            assert got["checksum"] == info.checksum and got["sha256"] == le_sha(a[info.name])
            end = info.dequant_offset + info.dequant_size if info.dequant_size else info.data_offset + info.data_size
            assert [e[1] for e in log_server.log] == [(0, 39), (40, prefix - 1), (info.data_offset, end - 1)]
            assert sum(e[2] for e in log_server.log) == prefix + end - info.data_offset < len(d)
            if info.dequant_size:  # the grouped 4-bit tensor, dequantized through its AFFINE block
                got = page.evaluate(FETCH_JS, [url, info.name, {"dequantize": True}])
                floats = anspack.decode(d, dequantize=True)[info.name]
                assert got["dtype"] == "float32" and got["sha256"] == le_sha(floats)
                dequantized += 1
    assert dequantized == 1


# ------------------------------------------------------------------------------------------------
# errors: every path against Python


ALL_PATHS_JS = """
async ([url, name]) => {
  const A = window.anspack;
  const bytes = await window.fetchBytes(url);
  const run = async (f) => { try { await f(); return null; } catch (e) { return window.errorInfo(e); } };
  const drain = async (options) => { for await (const t of A.decodeStream((await fetch(url)).body, options)) void t; };
  return {
    'decode js': await run(() => A.decode(bytes, { engine: 'js' })),
    'decode wasm': await run(() => A.decode(bytes, { engine: 'wasm' })),
    'decodeTensor js': await run(() => A.decodeTensor(bytes, name, { engine: 'js' })),
    'decodeTensor wasm': await run(() => A.decodeTensor(bytes, name, { engine: 'wasm' })),
    'decodeAsync 1': await run(() => A.decodeAsync(bytes, { workers: 1 })),
    'decodeAsync 2': await run(() => A.decodeAsync(bytes, { workers: 2 })),
    'decodeStream': await run(() => drain({})),
    'decodeStream 2 workers': await run(() => drain({ workers: 2 })),
    'fetchTensor': await run(() => A.fetchTensor(url, name)),
  };
}
"""

PATHS = ["decode js", "decode wasm", "decodeTensor js", "decodeTensor wasm", "decodeAsync 1", "decodeAsync 2",
         "decodeStream", "decodeStream 2 workers", "fetchTensor"]


def words_of(sub) -> tuple[int, int]:
    """File offset and byte length of a sub-block's words (the end of its block, section 7)."""
    return sub.data_offset + sub.data_size - 2 * sub.words, 2 * sub.words


def corrupt_group_words(data: bytes, name: str, g: int, count: int, seed: int) -> list[bytes]:
    """Copies of ``data`` with one bit of group ``g``'s words flipped (first, last and random words)."""
    t = next(x for x in anspack.read_header(data).tensors if x.name == name)
    at, size = words_of(t.groups[g])
    assert size >= 8
    rng = np.random.default_rng(seed)
    spots = [at, at + size - 1] + [at + int(rng.integers(0, size)) for _ in range(count - 2)]
    out = []
    for p in spots:
        b = bytearray(data)
        b[p] ^= 1 << int(rng.integers(0, 8))
        out.append(bytes(b))
    return out


def wrong_group_checksums(data: bytes, name: str, g: int) -> list[bytes]:
    """group_checksums[g] changed (still below 2^26), block and header checksums re-signed: once with
    the table checksum left as it was (it no longer equals the FxHash26 of the group checksums), once
    with it re-signed too (only the group's decoded ids disagree)."""
    t = next(x for x in anspack.read_header(data).tensors if x.name == name)
    G = len(t.groups)
    at = t.data_offset + 8 + 8 * G + 4 * g
    (old,) = struct.unpack_from("<I", data, at)
    assert old == t.groups[g].checksum
    b = bytearray(data)
    struct.pack_into("<I", b, at, old ^ 0x155)
    left = bytes(refresh_block_checksum(b, t))
    sums = [s.checksum for s in t.groups]
    sums[g] ^= 0x155
    struct.pack_into("<I", b, t.entry_offset + 32, anspack.fxhash26(sums))
    both = bytes(refresh_block_checksum(b, t))
    return [left, both]


def python_error_info(data: bytes) -> tuple[str, int, str]:
    try:
        anspack.decode(data)
    except anspack.FormatError as e:
        return e.code, e.offset, e.tensor
    pytest.fail("Python decoded a corrupt file without error")


def check_all_paths(page, served_dir, files: list[bytes], name: str, prefix: str, *, offsets: bool = True) -> set:
    """Every JS path rejects each file with Python's error code and tensor (and byte offset where
    ``offsets``). Returns the codes seen."""
    codes = set()
    for i, f in enumerate(files):
        want = python_error_info(f)
        got = page.evaluate(ALL_PATHS_JS, [served_dir.write(f"{prefix}{i}.anspack", f), name])
        assert list(got) == PATHS
        for path, err in got.items():
            assert err is not None, f"file {i}: {path} decoded without error; Python: {want}"
            assert err["isAnspackError"], (i, path, err)
            assert (err["code"], err["tensor"]) == (want[0], want[2]), (i, path, err["message"], want)
            if offsets:
                assert err["offset"] == want[1], (i, path, err["message"], want)
        codes.add(want[0])
    return codes


@pytest.mark.parametrize("name", ["big", "prod"])
def test_corrupt_group_words_every_path(served_dir, browser_page, name):
    """A bit flipped in group 1's words (a chunked sub-block for "big", PRODUCT pairs for "prod"):
    every path reports Python's error code, byte offset and tensor, naming group 1."""
    data, _ = async_file()
    files = corrupt_group_words(data, name, 1, 6, seed=len(name))
    codes = check_all_paths(browser_page, served_dir, files, name, f"w_{name}")
    assert codes <= {"CorruptStream", "ChecksumMismatch"} and codes
    msg = browser_page.evaluate("u => window.decodeUrlError(u)", served_dir.write("w_msg.anspack", files[0]))
    assert "group 1" in msg["message"], msg


def test_corrupt_group_words_realistic(served_dir, browser_page):
    data, _, _ = realistic_file()
    files = corrupt_group_words(data, "layer.q8", 1, 4, seed=3) + corrupt_group_words(data, "layer.q4", 1, 4, seed=4)
    codes = check_all_paths(browser_page, served_dir, files[:4], "layer.q8", "wr8_")
    codes |= check_all_paths(browser_page, served_dir, files[4:], "layer.q4", "wr4_")
    assert codes and codes <= {"CorruptStream", "ChecksumMismatch"}


@pytest.mark.parametrize("name,g", [("big", 1), ("prod", 1), ("prod", 2)])
def test_wrong_group_checksum_every_path(served_dir, browser_page, name, g):
    data, _ = async_file()
    files = wrong_group_checksums(data, name, g)
    assert [python_error_info(f)[0] for f in files] == ["ChecksumMismatch"] * 2
    check_all_paths(browser_page, served_dir, files, name, f"cs_{name}{g}_")
    # the re-signed table checksum leaves only the group's own check: its message names the group
    err = browser_page.evaluate("u => window.decodeUrlError(u)", served_dir.write(f"cs_{name}{g}_m.anspack", files[1]))
    assert err["code"] == "ChecksumMismatch" and f"group {g}" in err["message"], err
    # and with verify off both decode to the original tensors
    ok = browser_page.evaluate("async u => { const r = window.anspack.decode(await window.fetchBytes(u), {verify: false});"
                               " return await window.sha256Hex(r.byName[%r].data); }" % name,
                               served_dir.write(f"cs_{name}{g}_v.anspack", files[1]))
    assert ok == le_sha(anspack.decode(data)[name])


def test_golden_bad_group_vectors_every_path(http_server, browser_page):
    """tests/vectors/bad/groups_*: every path gives the index's code (and Python's offset)."""
    import json

    index = {k: v for k, v in json.loads((VECTORS / "bad" / "index.json").read_text()).items() if k.startswith("groups_")}
    assert len(index) >= 10
    for bad, code in sorted(index.items()):
        data = (VECTORS / "bad" / f"{bad}.anspack").read_bytes()
        want = python_error_info(data)
        assert want[0] == code, (bad, want)
        name = want[2] or first_tensor_name(data)
        got = browser_page.evaluate(ALL_PATHS_JS, [http_server.url(f"tests/vectors/bad/{bad}.anspack"), name])
        for path, err in got.items():
            assert err is not None and (err["code"], err["offset"]) == want[:2], (bad, path, err, want)
            assert err["tensor"] == want[2] or (want[2] is None and err["tensor"] == name), (bad, path, err, want)


def first_tensor_name(data: bytes) -> str:
    """The name of table entry 0 (spec section 4), read without validating anything."""
    ndim, name_len = data[40 + 38], struct.unpack_from("<H", data, 40 + 40)[0]
    return data[40 + 48 + 8 * ndim:40 + 48 + 8 * ndim + name_len].decode()


def group_mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    """Copies of ``data`` with one byte changed inside a grouped tensor's data block -- in a quarter of
    them in the group header / row map / padding, a quarter in a sub-block's header and lane states,
    the rest anywhere in the block -- its block checksum and the header checksum re-signed, so that the
    damaged field's own check (rules 7 and 9) decides."""
    rng = np.random.default_rng(seed)
    grouped = [t for t in anspack.read_header(data).tensors if t.coding == "groups"]
    out = []
    for i in range(count):
        t = grouped[int(rng.integers(0, len(grouped)))]
        if i % 4 == 0:
            p = t.data_offset + int(rng.integers(0, t.groups[0].data_offset - t.data_offset))
        elif i % 4 == 1:
            s = t.groups[int(rng.integers(0, len(t.groups)))]
            p = s.data_offset + int(rng.integers(0, min(s.data_size, 24 + 4 * s.lanes * s.chunks)))
        else:
            p = t.data_offset + int(rng.integers(0, t.data_size))
        b = bytearray(data)
        if rng.random() < 0.5:
            b[p] ^= 1 << int(rng.integers(0, 8))
        else:
            b[p] = int(rng.choice([0, 1, 0xFF, int(rng.integers(0, 256))]))
        if bytes(b) != data:
            out.append(bytes(refresh_block_checksum(b, t)))
    return out


def same_as_python(py: tuple | None, js: dict | None) -> bool:
    """The same verdict, code and byte offset; or the one ordering the spec leaves open here: a shrunk
    group size moves the later sub-blocks, so that both a padding rule (ReservedNonZero; Python checks
    the padding sub-block by sub-block) and the block-end rule (BadModel at data_size; the JS decoder
    checks the placement first) are broken."""
    if py is None or js is None:
        return py is None and js is None
    return py == (js["code"], js["offset"]) or (py[0] == "ReservedNonZero" and js["code"] == "BadModel"
                                                and "the block must end there" in js["message"])


@pytest.mark.parametrize("engine", ["js", "wasm"])
def test_group_block_mutations_agree_with_python(served_dir, browser_page, engine):
    """Single-byte changes inside row-group blocks (re-signed): the page rejects each exactly when
    Python does, with Python's code and byte offset."""
    files = group_mutations((VECTORS / "groups.anspack").read_bytes(), 200, 1)
    files += group_mutations(explicit_file(3)[0], 200, 2)
    want = [python_offset_error(f) for f in files]
    url = served_dir.write(f"mut_{engine}.bin", b"".join(files))
    got = browser_page.evaluate("([u, s, o]) => window.decodeErrorsInBlob(u, s, o)", [url, [len(f) for f in files],
                                                                                   {"engine": engine}])
    bad = [(i, w, g) for i, (w, g) in enumerate(zip(want, got)) if not same_as_python(w, g)]
    assert not bad, "\n".join(f"case {i}: Python {w}, JS {g and g['message']}" for i, w, g in bad[:10])
    codes = {w[0] for w in want if w}
    assert {"BadModel", "ReservedNonZero", "CorruptStream", "ChecksumMismatch"} <= codes, codes
    exact = sum(w is None or w == (g["code"], g["offset"]) for w, g in zip(want, got))
    assert exact >= len(files) - 5, "the ordering exception stays rare"


# ------------------------------------------------------------------------------------------------
# decodeGPU


def gpu_file() -> tuple[bytes, dict]:
    """~6 * 10^4 entries (SwiftShader is slow): a grouped int8 tensor with chunked sub-blocks, a grouped
    PRODUCT one, a grouped uint16 one with G = 5, and a plain tensor."""
    rng = np.random.default_rng(41)
    m1, m2, m3 = group_map(rng, 120, 2), group_map(rng, 64, 3), group_map(rng, 101, 5)
    arrays = {
        "chunked": rows_by_group(rng, m1, 256, np.int8, 2.0),
        "prod": rows_by_group(rng, m2, 128, np.int8, 0.6, lo=-8, hi=7),
        "u16": rows_by_group(rng, m3, 50, np.uint16, 40.0),
        "plain": rng.integers(-9, 9, size=(40, 40)).astype(np.int8),
    }
    data = anspack.encode(arrays, groups={"chunked": m1, "prod": m2, "u16": m3, "plain": False},
                          lanes={"chunked": 128, "prod": 64, "u16": 32, "plain": 64},
                          chunk={"chunked": 4000, "prod": 0, "u16": 0, "plain": 0},
                          pairs={"chunked": False, "prod": "product", "u16": False, "plain": False})
    return data, arrays


@pytest.mark.parametrize("strategy", ["single", "rows"])
def test_gpu_grouped_equals_cpu_and_python(gpu_page, served_dir, strategy):
    data, arrays = gpu_file()
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    assert [infos[k].coding for k in arrays] == ["groups", "groups", "groups", "rans"]
    assert any(s.chunks > 1 for s in infos["chunked"].groups) and all(s.product for s in infos["prod"].groups)
    assert all(np.array_equal(v, arrays[k]) for k, v in anspack.decode(data).items())
    gpu_decodes_all(gpu_page, served_dir.write(f"gpu_groups_{strategy}.anspack", data), data, infos, strategy, 4)


def test_gpu_grouped_keep_buffers(gpu_page, served_dir):
    """keepBuffers: each grouped tensor's GPUBuffer holds the joined tensor (rows in place), the same
    bytes as its typed array and as Python's array."""
    data, arrays = gpu_file()
    got = gpu_page.evaluate("u => gpuBufferHashes(u)", served_dir.write("gpu_keep.anspack", data))
    assert sorted(got) == sorted(arrays)
    for name, h in got.items():
        assert h["buffer"] == h["data"] == le_sha(arrays[name]), name
        assert h["bufferSize"] % 4 == 0 and h["bufferSize"] >= arrays[name].nbytes


def test_gpu_grouped_errors_like_python(gpu_page, served_dir):
    """Corrupt words of group 1 and wrong group checksums: decodeGPU gives the CPU decoder's code,
    offset and tensor, which are Python's."""
    data, _ = gpu_file()
    files = corrupt_group_words(data, "chunked", 1, 3, seed=9) + corrupt_group_words(data, "prod", 1, 3, seed=10)
    files += wrong_group_checksums(data, "chunked", 1) + wrong_group_checksums(data, "prod", 2)
    codes = set()
    for i, f in enumerate(files):
        want = python_error_info(f)
        r = compare(gpu_page, served_dir.write(f"gpu_bad{i}.anspack", f))
        assert r["cpuError"] is not None and r["gpuError"] is not None, (i, r)
        for err in (r["cpuError"], r["gpuError"]):
            assert err["isAnspackError"] and (err["code"], err["offset"], err["tensor"]) == want, (i, err, want)
        codes.add(want[0])
    assert "ChecksumMismatch" in codes


# ------------------------------------------------------------------------------------------------
# fuzzing with the groups vector


def test_fuzz_corpus_holds_the_groups_vector_and_both_decoders_agree():
    """anspack.fuzz's default corpus picks up tests/vectors/groups.anspack; mutations of it alone give
    the Python and JS (node) decoders the same verdict case by case (the same tensors when accepted),
    neither crashing nor hanging."""
    node = shutil.which("node")
    assert node, "node is needed for the JS decoder"
    groups = (VECTORS / "groups.anspack").read_bytes()
    corpus = default_corpus()
    assert groups in corpus
    files = [groups]
    originals = [py_decode(groups)]
    cases = list(generate_cases(files, 600, seed=44))
    py, py_fail = run_python(cases, originals, files, time_limit=5.0)
    js, js_fail = run_js(cases, originals, files, time_limit=5.0, node=node)
    assert not py_fail and not js_fail, (py_fail[:5], js_fail[:5])
    for c, a, b in zip(cases, py.sequence, js.sequence):
        assert a.startswith("rejected") == b.startswith("rejected"), (c.index, c.mutations, a, b)
        if not a.startswith("rejected"):
            assert a == b, (c.index, c.mutations, a, b)
    # the mutations reached the row-group checks and the streams behind them
    for code in ("BadModel", "ChecksumMismatch"):
        assert py[f"rejected {code}"] > 0 and js[f"rejected {code}"] > 0, (py, js)
    assert sum(a == b for a, b in zip(py.sequence, js.sequence)) > 0.6 * len(cases)
