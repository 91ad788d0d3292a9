"""The WebGPU decoder (jsdecoder/src/gpu.js, issue 10) against the CPU decoders, in headless Chromium.

Chromium exposes WebGPU without a GPU through SwiftShader when launched with
``--enable-unsafe-webgpu --enable-unsafe-swiftshader`` on a secure origin (the 127.0.0.1 test server).
If WebGPU is unavailable these tests FAIL (never skip), saying so.

Every decodeGPU result is compared with decode() (the JS CPU decoder) on the same bytes in the same
page -- values (SHA-256 of the typed array), dtype, shape, checksum, and for bad files the error code,
offset and tensor -- and the random many-lane files also with the Python decoder. SwiftShader is slow:
the files are kept to ~10^5 entries. No timing is asserted here (see benchmarks/gpu_bench.py).
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import anspack
import anspack.api
import anspack.container

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from anspack_test_server import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT  # noqa: E402

GPU_ARGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader"]
GPU_PAGE = "tests/browser/gpu/index.html"
VECTORS = Path(__file__).resolve().parent / "vectors"
VALID = sorted(p.name for p in VECTORS.glob("*.anspack"))
BAD = json.loads((VECTORS / "bad" / "index.json").read_text())


@pytest.fixture(scope="module")
def gpu_browser(browser):
    """A second Chromium (same playwright instance as the ``browser`` fixture) with WebGPU enabled."""
    try:
        b = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + GPU_ARGS)
    except Exception as e:  # pragma: no cover - environment problem
        pytest.fail(f"could not launch {CHROMIUM} with {GPU_ARGS}: {e}", pytrace=False)
    yield b
    b.close()


@pytest.fixture(scope="module")
def gpu_page(gpu_browser, http_server):
    page = gpu_browser.new_page()
    page.set_default_timeout(300_000)
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(http_server.url(GPU_PAGE))
    page.wait_for_function("window.anspackReady === true || window.anspackLoadError !== undefined")
    load_error = page.evaluate("window.anspackLoadError")
    if load_error is not None:
        pytest.fail(f"the GPU test page could not import the decoder: {load_error}", pytrace=False)
    probe = page.evaluate("gpuProbe()")
    if not probe["ok"]:
        pytest.fail(f"WebGPU is unavailable in this Chromium ({CHROMIUM} with {GPU_ARGS}, page on "
                    f"127.0.0.1): {probe['why']}. The GPU decoder cannot be tested.", pytrace=False)
    page.probe = probe
    yield page
    page.close()
    if errors:
        pytest.fail("uncaught errors in the GPU test page:\n" + "\n".join(errors), pytrace=False)


def compare(page, url, **options):
    return page.evaluate("([u, o]) => compareUrl(u, o)", [url, options])


def assert_same(result, *, expect_gpu=None):
    assert result["cpuError"] is None, result["cpuError"]
    assert result["gpuError"] is None, result["gpuError"]
    cpu, gpu = result["cpu"], result["gpu"]
    assert [t["name"] for t in gpu] == [t["name"] for t in cpu]
    for c, g in zip(cpu, gpu):
        for key in ("shape", "dtype", "checksum", "arrayType", "n", "sha256"):
            assert g[key] == c[key], (c["name"], key, g[key], c[key])
    if expect_gpu is not None:
        assert [t["decodedOn"] for t in gpu] == expect_gpu


def header_gpu_expectation(data: bytes) -> list[str]:
    """Which tensors decodeGPU decodes on the GPU: rANS tensors (coding 0, or row groups: coding 2) with at
    least one entry."""
    return ["gpu" if t.coding in ("rans", "groups") and int(np.prod(t.shape)) > 0 else "cpu"
            for t in anspack.read_header(data).tensors]


def gpu_decodes_all(gpu_page, url, data: bytes, infos: dict, strategy: str, count: int) -> None:
    """decodeGPU decodes all ``count`` tensors of ``url`` on the GPU, equal to the CPU decoder and to
    Python (bytes and checksums), also with dequantize and without verify."""
    r = compare(gpu_page, url, strategy=strategy)
    assert_same(r, expect_gpu=["gpu"] * count)
    want = anspack.decode(data)
    for g in r["gpu"]:
        assert g["sha256"] == hashlib.sha256(want[g["name"]].tobytes()).hexdigest(), g["name"]
        assert g["checksum"] == infos[g["name"]].checksum
    assert r["stats"]["gpuTensors"] == count
    assert_same(compare(gpu_page, url, strategy=strategy, dequantize=True))
    assert_same(compare(gpu_page, url, strategy=strategy, verify=False))


def test_webgpu_adapter_is_available(gpu_page):
    assert gpu_page.probe["ok"] is True
    assert gpu_page.evaluate("typeof window.anspack.decodeGPU") == "function"


@pytest.mark.parametrize("strategy", ["single", "rows"])
@pytest.mark.parametrize("name", VALID)
def test_vectors_gpu_equals_cpu(gpu_page, http_server, name, strategy):
    data = (VECTORS / name).read_bytes()
    r = compare(gpu_page, http_server.url(f"tests/vectors/{name}"), strategy=strategy)
    assert_same(r, expect_gpu=header_gpu_expectation(data))
    assert r["stats"]["gpuTensors"] == header_gpu_expectation(data).count("gpu")
    # and the stored checksums
    table = {t.name: t.checksum for t in anspack.read_header(data).tensors}
    assert {t["name"]: t["checksum"] for t in r["gpu"]} == table


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_vectors_same_error_as_cpu(gpu_page, http_server, name):
    r = compare(gpu_page, http_server.url(f"tests/vectors/bad/{name}.anspack"))
    assert r["cpuError"] is not None and r["gpuError"] is not None, r
    assert r["gpuError"]["isAnspackError"]
    assert r["gpuError"]["code"] == r["cpuError"]["code"] == BAD[name]
    assert (r["gpuError"]["offset"], r["gpuError"]["tensor"]) == (r["cpuError"]["offset"], r["cpuError"]["tensor"])


def _tensor(rng, dtype, n, spread):
    info = np.iinfo(dtype)
    a = np.round(rng.laplace(0, spread, n))
    if info.min == 0:
        a = np.abs(a)
    return np.clip(a, info.min, info.max).astype(dtype)


# (dtype, n, lanes, precision, spread): many lanes, partial last rows, V > 256 (u16 id readback),
# every integer dtype; 'auto' gives 'rows' for L >= 16384.
RANDOM_CASES = [
    ("int8", 100_000, 1024, 12, 2.0),
    ("uint8", 65_536 * 2 + 77, 65_536, 8, 3.0),
    ("int16", 60_001, 4096, 15, 400.0),
    ("uint16", 50_000, 2048, 11, 30.0),
    ("int32", 40_000, 16_384, 14, 1000.0),
    ("uint32", 30_000, 8192, 12, 5.0),
    ("int8", 20_000, 20_000, 5, 0.7),
]


@pytest.mark.parametrize("case", RANDOM_CASES, ids=lambda c: f"{c[0]}-n{c[1]}-L{c[2]}-P{c[3]}")
def test_random_many_lane_tensors(gpu_page, served_dir, case):
    dtype, n, lanes, precision, spread = case
    rng = np.random.default_rng(RANDOM_CASES.index(case))
    a = _tensor(rng, dtype, n, spread)
    if n % 7 == 0:
        a = a.reshape(-1, 7)
    data = anspack.encode({"w": a}, lanes=lanes, precision=precision)
    info = anspack.read_header(data).tensors[0]
    assert info.lanes == lanes and info.coding == "rans"
    url = served_dir.write("t.anspack", data)
    expect_sha = hashlib.sha256(anspack.decode(data)["w"].tobytes()).hexdigest()
    for strategy in ("auto", "single", "rows"):
        r = compare(gpu_page, url, strategy=strategy)
        assert_same(r, expect_gpu=["gpu"])
        g = r["gpu"][0]
        assert g["sha256"] == expect_sha and g["checksum"] == info.checksum
        want = strategy if strategy != "auto" else ("rows" if lanes >= 16384 else "single")
        assert g["strategy"] == want


def test_multi_tensor_file_with_raw_and_dequant(gpu_page, served_dir):
    rng = np.random.default_rng(5)
    tensors = {
        "a": _tensor(rng, "int8", 5000, 2.0).reshape(50, 100),
        "const": np.full((300, 10), 7, dtype=np.int16),      # V = 1: no words at all
        "empty": np.zeros((0, 4), dtype=np.int8),
        "f": rng.normal(size=(17,)).astype(np.float32),         # raw, on the CPU
        "u": _tensor(rng, "uint8", 4096, 9.0),
    }
    data = anspack.encode(tensors, lanes=256, metadata={"k": "v"})
    url = served_dir.write("m.anspack", data)
    r = compare(gpu_page, url)
    assert_same(r, expect_gpu=["gpu", "gpu", "cpu", "cpu", "gpu"])
    r = compare(gpu_page, url, verify=False)
    assert_same(r)
    r = compare(gpu_page, url, dequantize=True)
    assert_same(r)


def test_keep_buffers_hold_the_values(gpu_page, served_dir):
    rng = np.random.default_rng(6)
    data = anspack.encode({"i8": _tensor(rng, "int8", 10_001, 2.0), "u16": _tensor(rng, "uint16", 9_999, 40.0),
                           "f": np.arange(5, dtype=np.float32)}, lanes=512)
    got = gpu_page.evaluate("u => gpuBufferHashes(u)", served_dir.write("k.anspack", data))
    for name, h in got.items():
        assert h["buffer"] == h["data"], name
        assert h["bufferSize"] % 4 == 0
    assert got["i8"]["bufferSize"] == 10_004 and got["u16"]["bufferSize"] == 20_000


def chunk_offsets(data: bytes, t) -> tuple[int, int, int, tuple]:
    """A chunked rANS block's (spec 7.2) file offsets of its states, chunk tables and words, and its
    chunk_words."""
    states_at = t.data_offset + 24
    table_at = states_at + 4 * t.lanes * t.chunks
    words_at = t.data_offset + t.data_size - 2 * t.words
    return states_at, table_at, words_at, struct.unpack_from(f"<{t.chunks}I", data, table_at)


def gpu_errors_match_cpu(gpu_page, served_dir, prefix: str, files) -> set:
    """Each corrupt file, with and without verify: decodeGPU fails exactly when the CPU decoder does,
    with the same code, offset and tensor (and equal tensors where neither sees the fault). Returns
    the error codes seen."""
    codes = set()
    for m, bad in enumerate(files):
        url = served_dir.write(f"{prefix}{m}.anspack", bad)
        for verify in (True, False):
            r = compare(gpu_page, url, verify=verify)
            if r["cpuError"] is None:  # a mutation the decoders cannot see without verify
                assert not verify
                assert_same(r)
                continue
            assert r["gpuError"] is not None, (m, verify, r["cpuError"])
            for key in ("code", "offset", "tensor"):
                assert r["gpuError"][key] == r["cpuError"][key], (m, verify, key, r["gpuError"], r["cpuError"])
            codes.add(r["gpuError"]["code"])
    return codes


def _mutations(data: bytes, seed: int, count: int):
    """Structurally valid corruptions of the first tensor's states and words."""
    info = anspack.read_header(data).tensors[0]
    states_at = info.data_offset + 24
    words_at = info.data_offset + info.data_size - 2 * info.words
    rng = np.random.default_rng(seed)
    for m in range(count):
        b = bytearray(data)
        if m % 2 == 0:
            p = words_at + int(rng.integers(0, 2 * info.words))
            b[p] ^= 1 << int(rng.integers(0, 8))
        else:
            lane = int(rng.integers(0, info.lanes))
            x = int(rng.integers(1 << 16, 1 << 32))
            b[states_at + 4 * lane: states_at + 4 * lane + 4] = x.to_bytes(4, "little")
        yield bytes(b)


@pytest.mark.parametrize("lanes", [300, 4096])
def test_corrupt_streams_same_error_as_cpu(gpu_page, served_dir, lanes):
    rng = np.random.default_rng(lanes)
    data = anspack.encode({"w": _tensor(rng, "int8", 12_000, 3.0)}, lanes=lanes)
    codes = gpu_errors_match_cpu(gpu_page, served_dir, "bad", _mutations(data, seed=lanes, count=8))
    assert "CorruptStream" in codes and "ChecksumMismatch" in codes


def test_limits_and_bad_arguments(gpu_page, served_dir):
    data = anspack.encode({"w": np.arange(1000, dtype=np.int16) % 13}, lanes=64)
    url = served_dir.write("l.anspack", data)
    r = compare(gpu_page, url, maxEntries=999)
    assert r["gpuError"]["code"] == r["cpuError"]["code"] == "LimitExceeded"
    r = compare(gpu_page, url, maxTotalEntries=999)
    assert r["gpuError"]["code"] == r["cpuError"]["code"] == "LimitExceeded"
    r = compare(gpu_page, url, strategy="fastest")
    assert r["gpuError"]["code"] == "BadArgument" and "strategy" in r["gpuError"]["message"]


def test_decode_gpu_without_webgpu_is_a_typed_error():
    """In node (no navigator.gpu) decodeGPU rejects with AnspackError BadArgument naming WebGPU."""
    script = (
        "import { decodeGPU } from './jsdecoder/src/index.js';\n"
        "import { readFileSync } from 'node:fs';\n"
        "const b = readFileSync('tests/vectors/worked_example.anspack');\n"
        "try { await decodeGPU(b); console.log('no error'); }\n"
        "catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }\n"
    )
    out = subprocess.run(["node", "--input-type=module", "-e", script], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["name"] == "AnspackError" and got["code"] == "BadArgument" and "WebGPU" in got["message"]


# anspack.gpu.gpu_layout: the lane count `anspack encode --target gpu` should use (no browser needed).

def test_gpu_layout_rule():
    from anspack.gpu import gpu_layout

    assert [gpu_layout(n) for n in (0, 1, 2, 31)] == [1, 1, 2, 31]
    for n in (32, 1000, 10**5, 10**6, 10**7, 10**8, 10**9):
        L = gpu_layout(n)
        assert 32 <= L <= 65536 and L & (L - 1) == 0 and L <= n
        # the lanes' ~4 bytes each stay within 1 % of n entries at 4 bits, unless clamped to 32
        assert L == 32 or 4 * L <= 0.01 * n * 4 / 8
    assert gpu_layout(10**6, bits_per_entry=3.5) == 1024
    assert gpu_layout(10**6, bits_per_entry=3.5, max_overhead=0.04) == 4096
    with pytest.raises(ValueError):
        gpu_layout(100, min_lanes=0)


def test_gpu_layout_overhead_is_within_budget():
    """Measured: the recommended L costs at most ~1 % of the file over L = 4 (plus rounding)."""
    from anspack.gpu import entropy_bits, gpu_lanes, gpu_layout

    rng = np.random.default_rng(11)
    w = _tensor(rng, "int8", 400_000, 2.0)
    L = gpu_layout(w.size, bits_per_entry=entropy_bits(w))
    assert gpu_lanes({"w": w, "f": np.zeros(3, np.float32)}) == {"w": L}
    small = len(anspack.encode({"w": w}, lanes=4))
    big = len(anspack.encode({"w": w}, lanes=L))
    assert L >= 256
    assert 0 < big - small <= 0.012 * small


def test_batches_and_first_error_in_table_order(gpu_page, served_dir):
    """All tensors of a batch are submitted together; errors still come in table order, as decode()'s."""
    rng = np.random.default_rng(8)
    tensors = {f"t{k}": _tensor(rng, "int8", 3000 + 17 * k, 2.0) for k in range(4)}
    data = anspack.encode(tensors, lanes=128)
    url = served_dir.write("b.anspack", data)
    for batch in (0, 1 << 30):
        r = compare(gpu_page, url, batchBytes=batch)
        assert_same(r, expect_gpu=["gpu"] * 4)
        assert r["stats"]["submits"] == (4 if batch == 0 else 1)
        # 'single' tensors of a batch share one decode dispatch (+ one pack dispatch)
        assert r["stats"]["dispatches"] == (8 if batch == 0 else 2)
    # a 'rows' tensor between 'single' ones, in one batch
    mixed = {"a": tensors["t0"], "big": _tensor(rng, "int16", 40_000, 50.0), "c": tensors["t2"]}
    blocks = [anspack.api.encode_tensor(k, v, lanes=16384 if k == "big" else 100) for k, v in mixed.items()]
    r = compare(gpu_page, served_dir.write("mixed.anspack", anspack.container.write_file(blocks)))
    assert_same(r, expect_gpu=["gpu"] * 3)
    assert r["stats"]["strategies"] == {"a": "single", "big": "rows", "c": "single"}
    infos = anspack.read_header(data).tensors
    bad = bytearray(data)
    t1, t3 = infos[1], infos[3]
    bad[t1.data_offset + t1.data_size - 3] ^= 0x40  # a word of t1: stream / ids error
    bad[t3.data_offset + 24] ^= 0x01                # a state of t3: block checksum error
    r = compare(gpu_page, served_dir.write("b2.anspack", bytes(bad)))
    assert r["cpuError"]["tensor"] == "t1"
    for key in ("code", "offset", "tensor"):
        assert r["gpuError"][key] == r["cpuError"][key]


def _resize_words(data: bytes, delta: int) -> bytes:
    """The one-tensor file with its last word dropped (delta = -1) or a zero word appended (+1),
    sizes patched so that it stays structurally valid (checksums are not: decode with verify=False)."""
    info = anspack.read_header(data).tensors[0]
    b = bytearray(data[:len(data) - 2] if delta < 0 else data + b"\0\0")
    struct.pack_into("<Q", b, 16, len(b))                                   # file_size
    struct.pack_into("<Q", b, info.entry_offset + 8, info.data_size + 2 * delta)  # data_size
    struct.pack_into("<Q", b, info.data_offset + 8, info.words + delta)     # W
    return bytes(b)


@pytest.mark.parametrize("strategy", ["single", "rows"])
def test_underrun_and_leftover_words(gpu_page, served_dir, strategy):
    rng = np.random.default_rng(9)
    data = anspack.encode({"w": _tensor(rng, "int8", 30_000, 2.0)}, lanes=1024)
    for delta, word in ((-1, "under-run"), (1, "left over")):
        url = served_dir.write(f"w{delta}.anspack", _resize_words(data, delta))
        r = compare(gpu_page, url, verify=False, strategy=strategy)
        assert r["cpuError"]["code"] == r["gpuError"]["code"] == "CorruptStream"
        assert (r["gpuError"]["offset"], r["gpuError"]["tensor"]) == (r["cpuError"]["offset"], r["cpuError"]["tensor"])
        assert word in r["gpuError"]["message"]


@pytest.mark.parametrize("lanes", [64, 16384])
def test_declared_size_far_beyond_the_stream(gpu_page, served_dir, lanes):
    """A small stream under a shape declaring 4M entries: an under-run, found by both decoders (the
    GPU stops decoding once the word count passes W and skips packing)."""
    rng = np.random.default_rng(12)
    data = bytearray(anspack.encode({"w": _tensor(rng, "int8", 16_000, 2.0).reshape(16, 1000)}, lanes=lanes))
    info = anspack.read_header(bytes(data)).tensors[0]
    struct.pack_into("<Q", data, info.entry_offset + 48 + 8, 262_144)  # shape (16, 1000) -> (16, 262144)
    r = compare(gpu_page, served_dir.write("big.anspack", bytes(data)), verify=False)
    assert r["cpuError"]["code"] == r["gpuError"]["code"] == "CorruptStream"
    assert r["gpuError"]["offset"] == r["cpuError"]["offset"] and "under-run" in r["gpuError"]["message"]


def test_buffers_only(gpu_page, served_dir):
    """readback: false -> no typed arrays; the ids still come back for the checksum unless verify is off."""
    rng = np.random.default_rng(13)
    data = anspack.encode({"a": _tensor(rng, "int16", 5000, 30.0), "f": np.ones(3, np.float32)}, lanes=256)
    url = served_dir.write("bo.anspack", data)
    got = gpu_page.evaluate("""async (u) => {
        const bytes = await fetchBytes(u);
        const device = await window.anspack.requestGPUDevice();
        const out = [];
        for (const verify of [true, false]) {
            const r = await window.anspack.decodeGPU(bytes, { device, verify, readback: false, keepBuffers: true });
            out.push(r.tensors.map((t) => ({ name: t.name, hasData: 'data' in t, size: t.buffer.size, checksum: t.checksum })));
            for (const t of r.tensors) t.buffer.destroy();
        }
        return out;
    }""", url)
    table = {t.name: t.checksum for t in anspack.read_header(data).tensors}
    assert got[0] == [{"name": "a", "hasData": False, "size": 10_000, "checksum": table["a"]},
                      {"name": "f", "hasData": False, "size": 12, "checksum": table["f"]}]
    assert got[1][0]["checksum"] is None and got[1][0]["size"] == 10_000


# Spec revision 2: pairs (section 7.1) and chunks (section 7.2) on the GPU. Each chunk is decoded as
# a part of its own (parallel workgroups), joined on the CPU; paired tensors as u16 symbols.

def _dequant_scale(scale: float) -> bytes:
    """A kind-1 dequant block: one scale for the whole tensor (spec section 12)."""
    return struct.pack("<IIQIIf4x", 1, 0, 16, 0xFFFFFFFF, 1, scale)


@pytest.mark.parametrize("strategy", ["single", "rows"])
def test_pairs_and_chunks_gpu_equals_cpu(gpu_page, served_dir, strategy):
    rng = np.random.default_rng(21)
    tensors = {
        "chunked": _tensor(rng, "int8", 40_000, 3.0).reshape(400, 100),   # K = 5, last chunk short
        "paired": _tensor(rng, "int8", 30_002, 0.8),                       # pairs, one stream
        "both": _tensor(rng, "uint8", 20_000, 1.0),                        # pairs and chunks
        "wide": _tensor(rng, "int32", 9_001, 300.0),                       # 4-byte values, chunked
        "const": np.full((5000,), -4, dtype=np.int16),                     # V = 1, chunked
        "tail": _tensor(rng, "int16", 1030, 50.0),                         # last chunk: 6 symbols < L
    }
    lanes = {"chunked": 1024, "paired": 512, "both": 300, "wide": 256, "const": 64, "tail": 512}
    chunk = {"chunked": 9000, "paired": 0, "both": 3333, "wide": 2000, "const": 1000, "tail": 512}
    pairs = {"chunked": False, "paired": True, "both": True, "wide": False, "const": False, "tail": False}
    data = anspack.encode(tensors, lanes=lanes, chunk=chunk, pairs=pairs, precision=12,
                          dequant={"chunked": _dequant_scale(0.5)})
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    assert infos["chunked"].chunks == 5 and infos["both"].pairs and infos["both"].chunks == 4
    assert infos["paired"].pairs and infos["paired"].chunks == 1 and infos["tail"].chunks == 3
    gpu_decodes_all(gpu_page, served_dir.write(f"rev2-{strategy}.anspack", data), data, infos, strategy, 6)


# Spec revision 3: PRODUCT pairs (section 7.3). decodeGPU uploads the pair model derived on the CPU
# from the stored entry model (V^2 pair ids, u16 pair values) and decodes the tensor as plain pairs.

@pytest.mark.parametrize("strategy", ["single", "rows"])
def test_product_pairs_gpu_equals_cpu(gpu_page, served_dir, strategy):
    rng = np.random.default_rng(31)
    tensors = {
        "int4": np.clip(np.round(rng.laplace(0, 2.0, 30_002)), -8, 7).astype(np.int8),     # one stream
        "tern": np.clip(np.round(rng.laplace(0, 0.5, 20_000)), -1, 1).astype(np.int8),     # chunked
        "wide": np.clip(np.abs(np.round(rng.laplace(0, 12.0, 9_000))), 0, 60).astype(np.uint8),  # V^2 > 256: u16 ids
        "const": np.full((5000,), 9, dtype=np.uint8),                                        # V = 1, chunked
        "plain": np.clip(np.round(rng.laplace(0, 1.0, 8_000)), -8, 7).astype(np.int8),      # plain pairs beside
    }
    lanes = {"int4": 512, "tern": 300, "wide": 256, "const": 64, "plain": 128}
    chunk = {"int4": 0, "tern": 3333, "wide": 2000, "const": 1000, "plain": 1500}
    pairs = {"int4": "product", "tern": "product", "wide": "product", "const": "product", "plain": True}
    data = anspack.encode(tensors, lanes=lanes, chunk=chunk, pairs=pairs, precision=14,
                          dequant={"int4": _dequant_scale(0.25)})
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    assert all(infos[k].product for k in ("int4", "tern", "wide", "const")) and not infos["plain"].product
    assert infos["tern"].chunks == 4 and infos["wide"].vocab_size ** 2 > 256 and infos["const"].vocab_size == 1
    gpu_decodes_all(gpu_page, served_dir.write(f"product-{strategy}.anspack", data), data, infos, strategy, 5)


def test_product_corruptions_same_error_as_cpu(gpu_page, served_dir):
    rng = np.random.default_rng(32)
    data = anspack.encode({"w": np.clip(np.round(rng.laplace(0, 2.0, 12_000)), -8, 7).astype(np.int8)},
                          lanes=200, chunk=2500, pairs="product", precision=12)
    t = anspack.read_header(data).tensors[0]
    assert t.product and t.chunks == 3
    K = t.chunks
    states_at, table_at, words_at, cw = chunk_offsets(data, t)
    cases = []
    b = bytearray(data); b[words_at + 2 * (cw[0] + 3)] ^= 0x24; cases.append(b)                  # a word of chunk 1
    b = bytearray(data); b[states_at + 4 * (2 * t.lanes + 7)] ^= 0x01; cases.append(b)           # a state of chunk 2
    b = bytearray(data); b[table_at + 4 * K + 4] ^= 0x01; cases.append(b)                         # chunk 1's checksum
    b = bytearray(data); b[t.entry_offset + 32] ^= 0x01; cases.append(b)                           # table checksum
    codes = gpu_errors_match_cpu(gpu_page, served_dir, "pbad", [bytes(b) for b in cases])
    assert codes == {"CorruptStream", "ChecksumMismatch"}


def test_chunked_keep_buffers(gpu_page, served_dir):
    """keepBuffers: chunks whose values fill whole 4-byte words are joined on the GPU; otherwise the
    tensor is decoded on the CPU path and uploaded. Either way the buffer holds the values."""
    rng = np.random.default_rng(22)
    data = anspack.encode({"aligned": _tensor(rng, "int8", 10_001, 2.0), "odd": _tensor(rng, "int8", 10_001, 2.0),
                           "pairs": _tensor(rng, "uint8", 8_000, 1.0)},
                          lanes=128, chunk={"aligned": 4000, "odd": 3001, "pairs": 1002}, pairs={"pairs": True})
    got = gpu_page.evaluate("u => gpuBufferHashes(u)", served_dir.write("kc.anspack", data))
    for name, h in got.items():
        assert h["buffer"] == h["data"], name
    assert got["aligned"]["bufferSize"] == 10_004 and got["pairs"]["bufferSize"] == 8_000
    on = gpu_page.evaluate("""async (u) => {
        const r = await window.anspack.decodeGPU(await fetchBytes(u), { device: await window.anspack.requestGPUDevice(), keepBuffers: true });
        for (const t of r.tensors) t.buffer.destroy();
        return r.tensors.map((t) => t.decodedOn);
    }""", served_dir.write("kc2.anspack", data))
    assert on == ["gpu", "cpu", "gpu"]


def test_chunk_corruptions_same_error_as_cpu(gpu_page, served_dir):
    rng = np.random.default_rng(23)
    data = anspack.encode({"w": _tensor(rng, "int8", 12_000, 3.0)}, lanes=200, chunk=2500, pairs=False)
    t = anspack.read_header(data).tensors[0]
    K = t.chunks
    states_at, table_at, words_at, cw = chunk_offsets(data, t)
    cases = []
    b = bytearray(data); b[words_at + 2 * (cw[0] + cw[1] + 3)] ^= 0x24; cases.append(b)          # a word of chunk 2
    b = bytearray(data); b[states_at + 4 * (3 * t.lanes + 7)] ^= 0x01; cases.append(b)           # a state of chunk 3
    b = bytearray(data); struct.pack_into("<II", b, table_at, cw[0] + 1, cw[1] - 1); cases.append(b)  # words moved
    b = bytearray(data); b[t.entry_offset + 32] ^= 0x01; cases.append(b)                           # table checksum
    codes = gpu_errors_match_cpu(gpu_page, served_dir, "cbad", [bytes(b) for b in cases])
    assert codes == {"CorruptStream", "ChecksumMismatch"}


# decode()'s nibbles option on the GPU: the pack kernel writes 4 bits per entry (8 per pair value).

def _int4(rng, n: int, spread: float, dtype="int8"):
    a = np.round(rng.laplace(0, spread, n))
    return (np.clip(a, -8, 7) if dtype == "int8" else np.clip(np.abs(a), 0, 15)).astype(dtype)


def _nibble_file(rng) -> tuple[bytes, dict]:
    """Every path of decodeGPU with nibbles: one stream (odd n), PAIRS, PRODUCT, chunks with an even
    chunk size (packed on the GPU), an odd one (packed when joined), chunked pairs, row groups, raw,
    uint8, and tensors that stay unpacked (int8 beyond 4 bits, int16, one returned dequantized)."""
    r = rng.integers(0, 3, 60)
    tensors = {
        "plain": _int4(rng, 9_001, 1.5),
        "pairs": _int4(rng, 8_000, 1.0),
        "product": _int4(rng, 6_002, 2.0).reshape(3001, 2),
        "even": _int4(rng, 10_001, 2.0),
        "odd": _int4(rng, 9_999, 2.0),
        "pairchunks": _int4(rng, 12_000, 1.0, "uint8"),
        "groups": (_int4(rng, 60 * 50, 1.0).reshape(60, 50) * (1 + r[:, None])).clip(-8, 7).astype(np.int8),
        "raw": _int4(rng, 40, 2.0),
        "u4": _int4(rng, 5_000, 3.0, "uint8"),
        "wide8": _tensor(rng, "int8", 4_000, 6.0),
        "i16": _tensor(rng, "int16", 3_000, 2.0),
        "deq": _int4(rng, 4_000, 1.5),
    }
    lanes = {"plain": 256, "pairs": 128, "product": 64, "even": 128, "odd": 128, "pairchunks": 100,
             "groups": 32, "u4": 200, "wide8": 64, "i16": 64, "deq": 64}
    chunk = {"even": 2000, "odd": 2001, "pairchunks": 1600}
    pairs = {k: False for k in tensors} | {"pairs": True, "product": "product", "pairchunks": True}
    data = anspack.encode(tensors, lanes=lanes, chunk=chunk, pairs=pairs, groups={"groups": r},
                          raw={"raw": True}, precision=12, dequant={"deq": _dequant_scale(0.1)})
    infos = {t.name: t for t in anspack.read_header(data).tensors}
    assert infos["even"].chunks == 6 and infos["odd"].chunks == 5 and infos["pairchunks"].chunks == 4
    assert infos["pairs"].pairs and infos["product"].product and infos["groups"].coding == "groups"
    assert infos["raw"].coding == "raw" and not infos["plain"].pairs
    return data, infos


@pytest.mark.parametrize("strategy", ["single", "rows"])
def test_nibbles_gpu_equals_cpu(gpu_page, served_dir, strategy):
    data, infos = _nibble_file(np.random.default_rng(41))
    url = served_dir.write(f"nib-{strategy}.anspack", data)
    r = compare(gpu_page, url, strategy=strategy, nibbles=True)
    assert_same(r, expect_gpu=["cpu" if infos[t["name"]].coding == "raw" else "gpu" for t in r["cpu"]])
    packed = {"plain", "pairs", "product", "even", "odd", "pairchunks", "groups", "raw", "u4", "deq"}
    want = anspack.decode(data)
    for g in r["gpu"]:
        a = want[g["name"]].reshape(-1)
        if g["name"] in packed:
            assert g["dtype"] == ("uint4" if a.dtype == np.uint8 else "int4"), g["name"]
            q = (a.astype(np.uint8) & 15)
            q = np.concatenate([q, np.zeros(q.size % 2, np.uint8)])
            a = q[0::2] | (q[1::2] << 4)
        else:
            assert g["dtype"] == str(a.dtype), g["name"]
        assert g["sha256"] == hashlib.sha256(a.tobytes()).hexdigest(), g["name"]
    # dequantize: "deq" comes back as float32, the others still packed; without verify: the same
    assert_same(compare(gpu_page, url, strategy=strategy, nibbles=True, dequantize=True))
    assert_same(compare(gpu_page, url, strategy=strategy, nibbles=True, verify=False))


def test_nibbles_keep_buffers(gpu_page, served_dir):
    """keepBuffers with nibbles: the buffers hold the packed bytes; chunked tensors whose packed chunks
    fill whole 4-byte words are joined on the GPU, the others decoded on the CPU and uploaded."""
    data, _ = _nibble_file(np.random.default_rng(42))
    url = served_dir.write("nibk.anspack", data)
    got = gpu_page.evaluate("u => gpuBufferHashes(u, { nibbles: true })", url)
    for name, h in got.items():
        assert h["buffer"] == h["data"], name
    assert got["plain"]["bufferSize"] == 4504 and got["even"]["bufferSize"] == 5004
    on = gpu_page.evaluate("""async (u) => {
        const r = await window.anspack.decodeGPU(await fetchBytes(u), { device: await window.anspack.requestGPUDevice(), keepBuffers: true, nibbles: true });
        for (const t of r.tensors) t.buffer.destroy();
        return Object.fromEntries(r.tensors.map((t) => [t.name, [t.decodedOn, t.dtype]]));
    }""", url)
    # even: 2000 entries a chunk = 1000 packed bytes, whole words; odd: chunks start mid-byte;
    # pairchunks: 1600 pair values a chunk = 1600 bytes
    assert on["even"] == ["gpu", "int4"] and on["odd"] == ["cpu", "int4"] and on["pairchunks"] == ["gpu", "uint4"]
    assert on["wide8"] == ["gpu", "int8"] and on["raw"] == ["cpu", "int4"]


def test_nibbles_dtype_without_readback(gpu_page, served_dir):
    """keepBuffers without readback: the buffers hold packed nibbles, and every tensor says so (dtype
    int4 / uint4, storedDtype the file's) as it does with readback."""
    data, infos = _nibble_file(np.random.default_rng(43))
    url = served_dir.write("nibr.anspack", data)
    got = gpu_page.evaluate("""async (u) => {
        const bytes = await fetchBytes(u);
        const device = await window.anspack.requestGPUDevice();
        const out = {};
        for (const readback of [true, false]) {
          const r = await window.anspack.decodeGPU(bytes, { device, keepBuffers: true, readback, nibbles: true });
          for (const t of r.tensors) { t.buffer.destroy(); out[`${t.name}:${readback}`] = [t.dtype, t.storedDtype ?? null]; }
        }
        return out;
    }""", url)
    for name in infos:
        assert got[f"{name}:false"] == got[f"{name}:true"], name
    assert got["plain:false"] == ["int4", "int8"] and got["u4:false"] == ["uint4", "uint8"]
    assert got["pairs:false"][0] == got["product:false"][0] == "int4" and got["wide8:false"] == ["int8", None]


def test_no_gpu_buffers_left_after_an_error(gpu_page, served_dir):
    """A corrupt stream in the last chunk of the second tensor: decodeGPU throws CorruptStream and
    destroys the buffers it had made for the caller (the first tensor's, the earlier chunks')."""
    rng = np.random.default_rng(44)
    t = {"first": _int4(rng, 3000, 1.5), "c": _int4(rng, 10_000, 2.0)}
    data = bytearray(anspack.encode(t, lanes={"first": 32, "c": 64}, chunk={"c": 2000}, pairs=False))
    c = anspack.read_header(bytes(data)).tensors[1]
    assert c.chunks == 5
    data[c.data_offset + c.data_size - 3] ^= 0x5A   # a word of the last chunk
    url = served_dir.write("leak.anspack", bytes(data))
    for nibbles in (False, True):
        for strategy in ("single", "rows"):
            r = gpu_page.evaluate("""async ([u, opts]) => {
                const bytes = await fetchBytes(u);
                const dev = await window.anspack.requestGPUDevice();
                const made = [];
                const create = dev.createBuffer.bind(dev);
                dev.createBuffer = (d) => {
                  const b = create(d);
                  const rec = { label: d.label, size: d.size, destroyed: false };
                  made.push(rec);
                  const destroy = b.destroy.bind(b);
                  b.destroy = () => { rec.destroyed = true; destroy(); };
                  return b;
                };
                let code = null;
                try { await window.anspack.decodeGPU(bytes, { ...opts, device: dev, keepBuffers: true }); } catch (e) { code = e.code; }
                dev.createBuffer = create;
                return { code, made: made.length, live: made.filter((m) => !m.destroyed).map((m) => `${m.label}:${m.size}`) };
            }""", [url, {"nibbles": nibbles, "strategy": strategy}])
            assert r["code"] == "CorruptStream" and r["made"] > 5, r
            assert r["live"] == [], (nibbles, strategy, r)
