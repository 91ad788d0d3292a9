"""jsdecoder/dist/anspack.js (the decoder as one ES module, built by jsdecoder/scripts/bundle.mjs) in
headless Chromium: imported by a page, it decodes to what Python encoded and to what src/index.js
decodes, runs decodeAsync on Web Workers loaded from dist/worker.js, and fails with its own
AnspackError on a bad file; and its `nibbles` option (4-bit tensors packed two a byte) in the page
against numpy's packing of Python's decode. Fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import hashlib

import numpy as np

import anspack

BUNDLE_JS = """
async ([url, badUrl]) => {
  const B = await import('/jsdecoder/dist/anspack.js');
  const S = window.anspack;  // src/index.js
  const bytes = await window.fetchBytes(url);
  const sum = async (r) => {
    const out = [];
    for (const t of r.tensors) out.push([t.name, t.dtype, t.shape, t.checksum, t.data.constructor.name, await window.sha256Hex(t.data)]);
    return out;
  };
  const got = { exports: Object.keys(B).sort(), srcExports: Object.keys(S).sort() };
  got.decode = await sum(B.decode(bytes));
  got.src = await sum(S.decode(bytes));
  got.async = await sum(await B.decodeAsync(bytes, { workers: 2 }));
  got.workerUrls = performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/jsdecoder/'));
  try {
    B.decode(await window.fetchBytes(badUrl));
    got.error = null;
  } catch (e) {
    got.error = { code: e.code, own: e instanceof B.AnspackError, src: e instanceof S.AnspackError };
  }
  return got;
}
"""


def test_bundle_in_chromium(served_dir, browser_page, http_server):
    rng = np.random.default_rng(21)
    tensors = {
        "big": np.round(rng.standard_normal((300, 128)) * 6).clip(-127, 127).astype(np.int8),
        "small": rng.integers(0, 9, size=(40, 30)).astype(np.uint8),
        "bias": rng.standard_normal(64).astype(np.float32),
    }
    data = anspack.encode(tensors, lanes=8, chunk=4096)
    url = served_dir.write("b.anspack", data)
    bad = http_server.url("tests/vectors/bad/flipped_word.anspack")
    r = browser_page.evaluate(BUNDLE_JS, [url, bad])
    assert r["exports"] == r["srcExports"]
    assert r["decode"] == r["src"] == r["async"]
    for (name, _dtype, shape, *_rest, sha), (want_name, a) in zip(r["decode"], tensors.items()):
        assert name == want_name and shape == list(a.shape)
        assert sha == hashlib.sha256(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()
    # the workers ran the bundled worker, not src/worker.js
    assert any(u.endswith("/jsdecoder/dist/worker.js") for u in r["workerUrls"]), r["workerUrls"]
    assert not any(u.endswith("/jsdecoder/src/worker.js") for u in r["workerUrls"]), r["workerUrls"]
    assert r["error"] == {"code": "CorruptStream", "own": True, "src": False}


NIBBLES_JS = """
async (url) => {
  const B = await import('/jsdecoder/dist/anspack.js');
  const bytes = await window.fetchBytes(url);
  const out = {};
  for (const [label, r] of [['decode', B.decode(bytes, { nibbles: true })],
                            ['js', B.decode(bytes, { nibbles: true, engine: 'js' })],
                            ['workers', await B.decodeAsync(bytes, { nibbles: true, workers: 2 })]]) {
    out[label] = [];
    for (const t of r.tensors) out[label].push([t.name, t.dtype, t.storedDtype ?? null, t.data.constructor.name, await window.sha256Hex(t.data)]);
  }
  return out;
}
"""


def test_nibbles_in_chromium_equal_numpy_packing(served_dir, browser_page):
    """decode(buf, {nibbles: true}) in the page: the 4-bit tensors Python encoded (pairs, product pairs,
    row groups, a raw one) come back as the bytes numpy packs from Python's decode, low nibble first."""
    rng = np.random.default_rng(23)
    tensors = {
        "w4": np.round(rng.standard_normal((96, 64)) * 2).clip(-8, 7).astype(np.int8),
        "u4": rng.integers(0, 16, size=(33, 7)).astype(np.uint8),
        "odd": rng.integers(-8, 8, size=101).astype(np.int8),
        "wide": rng.integers(-100, 100, size=64).astype(np.int8),
    }
    data = anspack.encode(tensors, lanes=8, raw={"odd": True})
    back = anspack.decode(data)
    url = served_dir.write("n.anspack", data)
    r = browser_page.evaluate(NIBBLES_JS, url)

    def pack(a):
        flat = (a.reshape(-1).astype(np.int16) & 15).astype(np.uint8)
        if flat.size % 2:
            flat = np.append(flat, np.uint8(0))
        return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)

    for label in ("decode", "js", "workers"):
        got = {name: rest for name, *rest in r[label]}
        for name in ("w4", "u4", "odd"):
            dtype, stored, ctor, sha = got[name]
            assert (dtype, stored, ctor) == ({"int8": "int4", "uint8": "uint4"}[str(back[name].dtype)], str(back[name].dtype), "Uint8Array"), (label, name)
            assert sha == hashlib.sha256(pack(back[name]).tobytes()).hexdigest(), (label, name)
        assert got["wide"][:3] == ["int8", None, "Int8Array"]
        assert got["wide"][3] == hashlib.sha256(back["wide"].tobytes()).hexdigest()
