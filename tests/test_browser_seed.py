"""The seed notebook's WebGL layout decoded in headless Chromium (jsdecoder/src/seed.js) against
anspack.seedbin: same ids, same checksums, same error codes and offsets."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from anspack import seedbin
from anspack.errors import FormatError

DECODE_JS = """async ([url, opts]) => {
  const bytes = await window.fetchBytes(url);
  const t0 = performance.now();
  const r = window.anspack.decodeSeedLayout(bytes, opts);
  const ms = performance.now() - t0;
  const out = {ms, checksums: r.checksums, types: [], sha256: [], lengths: [], spots: []};
  for (const ids of r.ids) {
    out.types.push(ids.constructor.name);
    out.lengths.push(ids.length);
    out.sha256.push(await window.sha256Hex(ids));
    out.spots.push([0, 1, 777, ids.length - 1].map((i) => ids[i]));
  }
  return out;
}"""

ERROR_JS = """async ([urls, opts]) => {
  const out = [];
  for (const url of urls) {
    const bytes = await window.fetchBytes(url);
    try {
      window.anspack.decodeSeedLayout(bytes, opts);
      out.push(null);
    } catch (e) {
      out.push(window.errorInfo(e));
    }
  }
  return out;
}"""


def _check_same(got, ids, checksums):
    M = ids.shape[0]
    flat = ids.reshape(M, -1)
    assert got["checksums"] == checksums
    assert got["lengths"] == [flat.shape[1]] * M
    expected_type = "Uint8Array" if ids.dtype == np.uint8 else "Uint16Array"
    assert got["types"] == [expected_type] * M
    for i in range(M):
        assert got["sha256"][i] == hashlib.sha256(flat[i].tobytes()).hexdigest()
        assert got["spots"][i] == [int(flat[i, j]) for j in (0, 1, 777 % flat.shape[1], flat.shape[1] - 1)]


def test_browser_decodes_seed_layout_10x256x256(served_dir, browser_page):
    q = seedbin.mock_matrices(10, 256, 256, seed=202404151)
    data = seedbin.encode(q)
    ids, checksums = seedbin.decode(data, matrices=10, rows=256, cols=256)
    assert ids.dtype == np.uint8
    url = served_dir.write("seed-10x256x256.bin", data)
    got = browser_page.evaluate(DECODE_JS, [url, {"matrices": 10, "rows": 256, "cols": 256}])
    _check_same(got, ids, checksums)
    # The ids really are the data: map them back through the vocabulary.
    for i, m in enumerate(seedbin.models(q)):
        assert (m.values[ids[i]] == q[i]).all()


def test_browser_decodes_uint16_ids_and_odd_shapes(served_dir, browser_page):
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((3, 37, 29)) * 150).round().astype(np.int16)  # > 256 symbols per matrix
    data = seedbin.encode(a)
    ids, checksums = seedbin.decode(data, matrices=3, rows=37, cols=29)
    assert ids.dtype == np.uint16
    url = served_dir.write("seed-wide.bin", data)
    got = browser_page.evaluate(DECODE_JS, [url, {"matrices": 3, "rows": 37, "cols": 29}])
    _check_same(got, ids, checksums)


MANY_JS = """async ([items]) => {
  const out = [];
  for (const [url, opts] of items) {
    const bytes = await window.fetchBytes(url);
    const r = window.anspack.decodeSeedLayout(bytes, opts);
    const sha = [];
    for (const ids of r.ids) sha.push(await window.sha256Hex(ids));
    out.push({checksums: r.checksums, sha256: sha, types: r.ids.map((a) => a.constructor.name)});
  }
  return out;
}"""


def test_browser_many_small_layouts(served_dir, browser_page):
    rng = np.random.default_rng(2024)
    items, expected = [], []
    for k in range(40):
        dtype = np.int16 if k % 5 == 0 else np.int8
        M, R, C = (int(x) for x in rng.integers(1, [6, 20, 20]))
        if dtype == np.int16:
            R, C = R + 20, C + 20  # enough entries for more than 256 distinct values
        scale = float(rng.choice([0.2, 1.0, 8.0, 60.0]))
        lim = 127 if dtype == np.int8 else 2000
        q = np.clip(np.round(rng.standard_normal((M, R, C)) * scale * (10 if dtype == np.int16 else 1)),
                    -lim, lim).astype(dtype)
        data = seedbin.encode(q)
        ids, checksums = seedbin.decode(data, matrices=M, rows=R, cols=C)
        flat = ids.reshape(M, -1)
        expected.append({"checksums": checksums,
                         "sha256": [hashlib.sha256(flat[i].tobytes()).hexdigest() for i in range(M)],
                         "types": ["Uint8Array" if ids.dtype == np.uint8 else "Uint16Array"] * M})
        items.append([served_dir.write(f"{k}.bin", data), {"matrices": M, "rows": R, "cols": C}])
    got = browser_page.evaluate(MANY_JS, [items])
    assert got == expected
    assert any("Uint16Array" in e["types"] for e in expected)


def _variants(data, M, R, C):
    """Corrupted copies of a small layout, each paired with a name."""
    N = R * C
    lay = seedbin.parse_layout(data, matrices=M, rows=R, cols=C)
    w = np.frombuffer(data, dtype="<u2")

    def edit(fn):
        v = w.copy()
        v = fn(v)
        return v.tobytes()

    def setw(pos, val):
        def f(v):
            v[pos] = val
            return v
        return f

    s2, V2 = int(lay.section_starts[2]), int(lay.vocab_sizes[2])
    ds, dn = int(lay.data_starts[3]), int(lay.data_sizes[3])

    def drop_word(v):
        v = np.delete(v, ds + dn - 1)
        v[2 * N + 6] -= 1
        return v

    def extra_word(v):
        v = np.insert(v, ds + dn, 9)
        v[2 * N + 6] += 1
        return v

    def flip(pos):
        def f(v):
            v[pos] ^= 0x0400
            return v
        return f

    return [
        ("odd", data[:-1]),
        ("short", data[:-2]),
        ("tiny", data[:64]),
        ("trailing", data + b"\0\0"),
        ("head", edit(setw(2 * 5, 0))),
        ("size<3", edit(setw(2 * N + 2, 2))),
        ("size huge", edit(setw(2 * N + 5, 3))),
        ("data_offset 2", edit(setw(s2, 2))),
        ("data_offset big", edit(setw(s2, 5000))),
        ("cdf0", edit(setw(s2 + 1, 3))),
        ("cdf flat", edit(setw(s2 + 3, int(w[s2 + 2])))),
        ("cdf end", edit(setw(s2 + 1 + V2, 4095))),
        ("drop word", edit(drop_word)),
        ("extra word", edit(extra_word)),
        ("flip head", edit(flip(1))),
        ("flip data", edit(flip(ds + dn // 2))),
    ]


def test_browser_errors_match_python(served_dir, browser_page):
    M, R, C = 5, 16, 24
    q = seedbin.mock_matrices(M, R, C, seed=3)
    data = seedbin.encode(q)
    variants = _variants(data, M, R, C)
    urls, expected = [], []
    for name, v in variants:
        try:
            seedbin.decode(v, matrices=M, rows=R, cols=C)
            pytest.fail(f"variant {name!r} decodes in Python")
        except FormatError as e:
            expected.append((name, e.code, e.offset))
        urls.append(served_dir.write(f"{len(urls)}.bin", v))
    got = browser_page.evaluate(ERROR_JS, [urls, {"matrices": M, "rows": R, "cols": C}])
    for (name, code, offset), g in zip(expected, got):
        assert g is not None, f"{name}: JS decoded a corrupt layout"
        assert g["isAnspackError"], name
        assert (name, g["code"], g["offset"]) == (name, code, offset)
    assert {c for _, c, _ in expected} >= {"Truncated", "SizeMismatch", "BadLayout", "BadModel", "CorruptStream"}


def test_browser_bad_options(served_dir, browser_page):
    data = seedbin.encode(seedbin.mock_matrices(2, 8, 8, seed=1))
    url = served_dir.write("s.bin", data)
    bad = [None, {}, {"matrices": 2, "rows": 8}, {"matrices": 0, "rows": 8, "cols": 8},
           {"matrices": 2, "rows": 8.5, "cols": 8}, {"matrices": "2", "rows": 8, "cols": 8},
           {"matrices": 2, "rows": 8, "cols": 8, "maxEntries": "x"}]
    got = browser_page.evaluate(
        """async ([url, opts]) => {
          const bytes = await window.fetchBytes(url);
          const out = [];
          for (const o of opts) {
            try { window.anspack.decodeSeedLayout(bytes, o); out.push(null); }
            catch (e) { out.push(window.errorInfo(e)); }
          }
          try { window.anspack.decodeSeedLayout('not a buffer', {matrices: 2, rows: 8, cols: 8}); out.push(null); }
          catch (e) { out.push(window.errorInfo(e)); }
          try {
            window.anspack.decodeSeedLayout(bytes, {matrices: 2, rows: 8, cols: 8, maxEntries: 127});
            out.push(null);
          } catch (e) { out.push(window.errorInfo(e)); }
          return out;
        }""", [url, bad])
    assert [g and g["code"] for g in got] == ["BadArgument"] * (len(bad) + 1) + ["LimitExceeded"]
    assert all(g["isAnspackError"] for g in got)
