"""The WebAssembly decode engine (jsdecoder/src/wasm/) in headless Chromium, against Python.

Files written by the Python encoder are decoded in the page with ``{engine: 'wasm'}`` (which throws
if WebAssembly cannot run there, so a pass means the module really ran) and with ``{engine: 'js'}``;
the SHA-256 of every decoded array must equal the SHA-256 of the little-endian bytes numpy wrote,
and the checksums Python's. A corrupt stream gives the same AnspackError with both engines.
Fixtures (``served_dir``, ``browser_page``) are in tests/conftest.py.
"""

from __future__ import annotations

import hashlib

import numpy as np

import anspack


def le_sha256(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


def make_tensors() -> dict[str, tuple[np.ndarray, int, int]]:
    """name -> (array, lanes, precision): every integer dtype, unrolled and generic lane counts, long
    enough to cross the engine's 4096-entry blocks and 65536-entry staging calls."""
    rng = np.random.default_rng(2026)
    return {
        "w_int8_L4": (np.round(rng.standard_normal((300, 701)) * 8).clip(-128, 127).astype(np.int8), 4, 12),
        "w_uint8_L1": (rng.integers(0, 256, 20_001).astype(np.uint8), 1, 10),
        "w_int16_L7": (np.round(rng.standard_normal(70_001) * 300).astype(np.int16), 7, 15),
        "w_uint16_L256": (rng.integers(0, 2000, (64, 1031)).astype(np.uint16), 256, 13),
        "w_int32_L8": (np.round(rng.standard_normal(9_999) * 1e6).astype(np.int32) // 977, 8, 14),
        "w_uint32_L32": (rng.choice(np.array([0, 1, 2**31, 2**32 - 1, 12345], dtype=np.uint32), 5_000), 32, 8),
        "w_int8_L2_P1": (rng.choice(np.array([-1, 1], dtype=np.int8), 4_099), 2, 1),
    }


def test_wasm_engine_matches_python(served_dir, browser_page):
    tensors = make_tensors()
    urls = {}
    for name, (a, lanes, precision) in tensors.items():
        data = anspack.encode({name: a}, lanes=lanes, precision=precision)
        urls[name] = served_dir.write(f"{name}.anspack", data)
    available = browser_page.evaluate(
        "async () => (await import('/jsdecoder/src/wasm/engine.js')).wasmAvailable()")
    assert available is True, "WebAssembly did not compile in Chromium's main thread"
    for name, (a, lanes, precision) in tensors.items():
        header = anspack.read_header(anspack.encode({name: a}, lanes=lanes, precision=precision))
        want_checksum = header.tensors[0].checksum
        for engine in ("wasm", "js", "auto"):
            got = browser_page.evaluate("([u, o]) => window.decodeUrl(u, o, [0])", [urls[name], {"engine": engine}])
            t = got["tensors"][0]
            assert t["name"] == name
            assert t["dtype"] == a.dtype.name, (name, engine)
            assert t["shape"] == list(a.shape)
            assert t["checksum"] == want_checksum, (name, engine)
            assert t["sha256"] == le_sha256(a), (name, engine)
            assert t["spots"][0] == int(a.reshape(-1)[0])


def test_wasm_engine_errors_match_js(served_dir, browser_page):
    rng = np.random.default_rng(7)
    a = np.round(rng.standard_normal(50_000) * 6).astype(np.int8)
    data = bytearray(anspack.encode({"w": a}, lanes=8))
    info = anspack.read_header(bytes(data)).tensors[0]
    words_at = info.data_offset + info.data_size - 2 * info.words
    data[words_at + 2 * (info.words // 3)] ^= 0x10  # one word of the stream flipped
    url = served_dir.write("bad.anspack", bytes(data))
    results = {}
    for verify in (True, False):
        for engine in ("wasm", "js"):
            results[(engine, verify)] = browser_page.evaluate(
                "([u, o]) => window.decodeUrlError(u, o)", [url, {"engine": engine, "verify": verify}])
        wasm, js = results[("wasm", verify)], results[("js", verify)]
        assert wasm is not None and wasm["isAnspackError"], wasm
        assert wasm["code"] in ("CorruptStream", "ChecksumMismatch")
        assert wasm == js
    assert results[("wasm", False)]["code"] == "CorruptStream" or results[("wasm", True)]["code"] == "ChecksumMismatch"
