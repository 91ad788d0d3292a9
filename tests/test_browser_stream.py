"""decodeStream and fetchTensor in headless Chromium.

- decodeStream(response.body) and decodeStream over a ReadableStream built in the page that delivers
  the file in 7-byte chunks yield each tensor equal to decode()'s, each one before the bytes after its
  blocks have been delivered;
- fetchTensor against a local server that honours Range and logs every request: it must ask for the
  40-byte header, then the table + metadata, then exactly the tensor's blocks, and the server must
  have sent exactly those bytes;
- errors are AnspackErrors with decode()'s code.

The page and the files are served by a small logging server defined here (same origin, so the
Range requests and Content-Range headers need no CORS); Chromium comes from tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import socketserver
import threading
from pathlib import Path

import numpy as np
import pytest

import anspack
from anspack import dequant

REPO = Path(__file__).resolve().parent.parent
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html; charset=utf-8"}


class _LoggingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.startswith("/data/"):
            body = self.server.files.get(path[len("/data/"):])
        else:
            target = (REPO / path.lstrip("/")).resolve()
            body = target.read_bytes() if REPO in target.parents and target.is_file() else None
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng or "")
        if path.startswith("/data/") and m and not self.server.ignore_range:
            start, end = int(m.group(1)), min(int(m.group(2)), len(body) - 1)
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            part = body[start:end + 1]
            self.server.log.append((path, (start, end), len(part)))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        else:
            part = body
            if path.startswith("/data/"):
                self.server.log.append((path, None, len(part)))
            self.send_response(200)
        self.send_header("Content-Type", TYPES.get(Path(path).suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(part)


class _LoggingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _LoggingHandler)
        self.files: dict[str, bytes] = {}
        self.log: list = []
        self.ignore_range = False


@pytest.fixture(scope="module")
def log_server():
    server = _LoggingServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.base = f"http://127.0.0.1:{server.server_address[1]}/"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser_context, log_server):
    p = browser_context.new_page()
    p.set_default_timeout(120_000)
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(log_server.base + "tests/browser/index.html")
    p.wait_for_function("window.anspackReady === true || window.anspackLoadError !== undefined")
    assert p.evaluate("window.anspackLoadError") is None
    yield p
    p.close()
    assert not errors, errors


def model_file() -> tuple[bytes, dict]:
    rng = np.random.default_rng(5)
    tensors = {
        "w1": np.round(rng.standard_normal((120, 64)) * 5).clip(-127, 127).astype(np.int8),
        "b1": rng.standard_normal(64).astype(np.float32),
        "w2": rng.integers(0, 15, size=(64, 33)).astype(np.uint8),
        "ids": rng.integers(-40000, 40000, size=500).astype(np.int32),
        "one": np.full(77, 9, dtype=np.int16),
    }
    block = dequant.affine_block(np.full(120, 0.25, np.float32), np.zeros(120, np.float32), axis=0)
    return anspack.encode(tensors, lanes=4, metadata={"m": 1}, dequant={"w1": block}), tensors


STREAM_JS = """
async ([url, chunk]) => {
  const A = window.anspack;
  const bytes = await window.fetchBytes(url);
  const want = A.decode(bytes).tensors;
  const info = A.readHeader(bytes).tensors;
  const same = async (t, w) => t.name === w.name && JSON.stringify(t.shape) === JSON.stringify(w.shape) &&
    t.dtype === w.dtype && t.checksum === w.checksum && (await window.sha256Hex(t.data)) === (await window.sha256Hex(w.data));
  const out = { body: [], chunked: [], deliveredAt: [], ends: [] };
  let i = 0;
  for await (const t of A.decodeStream((await fetch(url)).body)) out.body.push(await same(t, want[i++]));
  let pos = 0;
  const stream = new ReadableStream({
    pull(c) {
      if (pos >= bytes.length) { c.close(); return; }
      c.enqueue(bytes.slice(pos, pos + chunk)); pos = Math.min(bytes.length, pos + chunk);
    },
  }, { highWaterMark: 0 });
  i = 0;
  for await (const t of A.decodeStream(stream)) {
    out.deliveredAt.push(pos);
    const d = info[i];
    out.ends.push(d.dequantSize > 0 ? d.dequantOffset + d.dequantSize : d.dataOffset + d.dataSize);
    out.chunked.push(await same(t, want[i++]));
  }
  // decoded on two Web Workers while the 7-byte chunks keep coming
  out.workers = [];
  pos = 0;
  const stream2 = new ReadableStream({
    pull(c) {
      if (pos >= bytes.length) { c.close(); return; }
      c.enqueue(bytes.slice(pos, pos + chunk)); pos = Math.min(bytes.length, pos + chunk);
    },
  }, { highWaterMark: 0 });
  i = 0;
  for await (const t of A.decodeStream(stream2, { workers: 2 })) out.workers.push(await same(t, want[i++]));
  out.count = want.length;
  return out;
}
"""


def stream_and_fetch_all(page, log_server, name, data, tensors):
    """Serve ``data``; decodeStream (body, chunked transfer, workers) gives every tensor right, and
    fetchTensor (HTTP Range) each one with the table's checksum and the original bytes."""
    hdr = anspack.read_header(data)
    log_server.files[name] = data
    url = log_server.base + "data/" + name
    r = page.evaluate(STREAM_JS, [url, 7])
    assert r["body"] == r["chunked"] == r["workers"] == [True] * len(tensors)
    for info in hdr.tensors:
        got = page.evaluate(FETCH_JS, [url, info.name, {}])
        a = tensors[info.name]
        assert got["checksum"] == info.checksum and got["shape"] == list(a.shape)
        assert got["sha256"] == hashlib.sha256(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()


def test_decode_stream(page, log_server):
    data, tensors = model_file()
    log_server.files["s.anspack"] = data
    r = page.evaluate(STREAM_JS, [log_server.base + "data/s.anspack", 7])
    assert r["count"] == len(tensors)
    assert r["body"] == [True] * len(tensors)
    assert r["chunked"] == [True] * len(tensors)
    assert r["workers"] == [True] * len(tensors)
    for at, end in zip(r["deliveredAt"], r["ends"]):
        assert end <= at < end + 7  # yielded as soon as its blocks had arrived


FETCH_JS = """
async ([url, name, options]) => {
  const A = window.anspack;
  try {
    const t = await A.fetchTensor(url, name, options);
    return { name: t.name, shape: t.shape, dtype: t.dtype, checksum: t.checksum, sha256: await window.sha256Hex(t.data) };
  } catch (e) {
    return { error: window.errorInfo(e) };
  }
}
"""


def test_fetch_tensor_ranges(page, log_server):
    data, tensors = model_file()
    log_server.files["f.anspack"] = data
    hdr = anspack.read_header(data)
    prefix = 40 + int.from_bytes(data[28:32], "little") + int.from_bytes(data[32:36], "little")
    url = log_server.base + "data/f.anspack"
    for info in hdr.tensors:
        log_server.log.clear()
        got = page.evaluate(FETCH_JS, [url, info.name, {}])
        assert "error" not in got, got
        a = tensors[info.name]
        assert got["shape"] == list(a.shape) and got["checksum"] == info.checksum
        assert got["sha256"] == hashlib.sha256(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()
        end = info.dequant_offset + info.dequant_size if info.dequant_size else info.data_offset + info.data_size
        assert [e[1] for e in log_server.log] == [(0, 39), (40, prefix - 1), (info.data_offset, end - 1)], info.name
        served = sum(e[2] for e in log_server.log)
        assert served == prefix + end - info.data_offset < len(data)
    # dequantized, through the AFFINE block
    got = page.evaluate(FETCH_JS, [url, "w1", {"dequantize": True}])
    assert got["dtype"] == "float32"
    # errors
    assert page.evaluate(FETCH_JS, [url, "nope", {}])["error"]["code"] == "BadArgument"
    assert page.evaluate(FETCH_JS, [log_server.base + "data/missing.anspack", "w1", {}])["error"]["code"] == "BadArgument"
    bad = bytearray(data)
    w2 = next(t for t in hdr.tensors if t.name == "w2")
    bad[w2.data_offset + w2.data_size - 4] ^= 0x10
    log_server.files["bad.anspack"] = bytes(bad)
    err = page.evaluate(FETCH_JS, [log_server.base + "data/bad.anspack", "w2", {}])["error"]
    assert err["isAnspackError"] and err["code"] in ("CorruptStream", "ChecksumMismatch") and err["tensor"] == "w2"
    assert "error" not in page.evaluate(FETCH_JS, [log_server.base + "data/bad.anspack", "w1", {}])
    log_server.files["junk.anspack"] = b"\x00" * 100
    assert page.evaluate(FETCH_JS, [log_server.base + "data/junk.anspack", "w1", {}])["error"]["code"] == "BadMagic"
    # a server that ignores Range: one plain GET of the whole file, still correct
    log_server.ignore_range = True
    try:
        log_server.log.clear()
        got = page.evaluate(FETCH_JS, [url, "ids", {}])
        assert got["checksum"] == next(t for t in hdr.tensors if t.name == "ids").checksum
        assert [e[1] for e in log_server.log] == [None]
    finally:
        log_server.ignore_range = False


STREAM_ERR_JS = """
async ([url, chunk]) => {
  const A = window.anspack;
  const bytes = await window.fetchBytes(url);
  let want = null;
  try { A.decode(bytes); } catch (e) { want = window.errorInfo(e); }
  let pos = 0;
  const stream = new ReadableStream({ pull(c) {
    if (pos >= bytes.length) { c.close(); return; }
    c.enqueue(bytes.slice(pos, pos + chunk)); pos += chunk; } });
  let got = null, yielded = 0;
  try { for await (const t of A.decodeStream(stream)) yielded++; } catch (e) { got = window.errorInfo(e); }
  return { want, got, yielded };
}
"""


def test_decode_stream_errors(page, log_server):
    data, _ = model_file()
    hdr = anspack.read_header(data)
    w2 = next(t for t in hdr.tensors if t.name == "w2")
    bad = bytearray(data)
    bad[w2.data_offset + w2.data_size - 4] ^= 0x10
    log_server.files["bad.anspack"] = bytes(bad)
    log_server.files["cut.anspack"] = data[:-5]
    log_server.files["long.anspack"] = data + b"\x00\x00"
    r = page.evaluate(STREAM_ERR_JS, [log_server.base + "data/bad.anspack", 7])
    assert r["got"]["isAnspackError"]
    assert (r["got"]["code"], r["got"]["offset"], r["got"]["tensor"]) == (r["want"]["code"], r["want"]["offset"], "w2")
    assert r["yielded"] == [t.name for t in hdr.tensors].index("w2")  # the tensors before w2 came out
    r = page.evaluate(STREAM_ERR_JS, [log_server.base + "data/cut.anspack", 7])
    assert r["got"]["code"] == "Truncated" and r["yielded"] == len(hdr.tensors) - 1
    r = page.evaluate(STREAM_ERR_JS, [log_server.base + "data/long.anspack", 7])
    assert r["got"]["code"] == "SizeMismatch" and r["yielded"] == len(hdr.tensors)


COUNTED_FETCH_JS = """
async ([url, name]) => {
  const A = window.anspack;
  const seen = [];
  const countingFetch = async (u, init) => {
    const r = await fetch(u, init);
    const body = await r.arrayBuffer();
    seen.push({ range: new Headers(init?.headers).get('Range'), status: r.status, bytes: body.byteLength,
                contentRange: r.headers.get('Content-Range') });
    return new Response(body, { status: r.status, headers: r.headers });
  };
  const t = await A.fetchTensor(url, name, { fetch: countingFetch });
  const whole = A.decodeTensor(await window.fetchBytes(url), name);
  return { seen, same: (await window.sha256Hex(t.data)) === (await window.sha256Hex(whole.data)) && t.checksum === whole.checksum };
}
"""


def test_fetch_tensor_with_the_harness_server(served_dir, browser_page):
    """The test harness's own static server (tests/browser/anspack_test_server.py) honours Range too."""
    data, _ = model_file()
    url = served_dir.write("h.anspack", data)
    info = next(t for t in anspack.read_header(data).tensors if t.name == "w2")
    prefix = 40 + int.from_bytes(data[28:32], "little") + int.from_bytes(data[32:36], "little")
    r = browser_page.evaluate(COUNTED_FETCH_JS, [url, "w2"])
    assert r["same"]
    end = info.data_offset + info.data_size - 1
    assert [(s["range"], s["status"], s["bytes"]) for s in r["seen"]] == [
        ("bytes=0-39", 206, 40), (f"bytes=40-{prefix - 1}", 206, prefix - 40),
        (f"bytes={info.data_offset}-{end}", 206, info.data_size)]
    assert r["seen"][2]["contentRange"] == f"bytes {info.data_offset}-{end}/{len(data)}"


def test_stream_and_fetch_pairs_and_chunks(page, log_server):
    """Spec revision 2 files: decodeStream (7-byte chunks; on two workers a chunked tensor's chunks are
    spread over both) and fetchTensor give Python's arrays."""

    rng = np.random.default_rng(17)
    tensors = {
        "chunked": np.round(rng.standard_normal((300, 40)) * 6).clip(-127, 127).astype(np.int8),
        "paired": rng.integers(-8, 8, size=(64, 30)).astype(np.int8),
        "both": rng.integers(0, 3, size=(2002,)).astype(np.uint8),
        "u16": rng.integers(0, 5000, size=(999,)).astype(np.uint16),
    }
    data = anspack.encode(tensors, lanes=4, pairs={"paired": True, "both": True, "chunked": False, "u16": False},
                          chunk={"chunked": 1000, "paired": 0, "both": 150, "u16": 100})
    hdr = anspack.read_header(data)
    assert [(t.pairs, t.chunks) for t in hdr.tensors] == [(False, 12), (True, 1), (True, 7), (False, 10)]
    stream_and_fetch_all(page, log_server, "r2.anspack", data, tensors)


def test_stream_and_fetch_product_pairs(page, log_server):
    """Spec revision 3 files (PRODUCT pairs, section 7.3): decodeStream (7-byte chunks; on two workers
    a chunked tensor's chunks spread over both) and fetchTensor give Python's arrays."""

    rng = np.random.default_rng(19)
    tensors = {
        "int4": np.clip(np.round(rng.laplace(0, 2.0, (300, 40))), -8, 7).astype(np.int8),
        "tern": np.clip(np.round(rng.laplace(0, 0.5, 2002)), -1, 1).astype(np.int8),
        "plain": rng.integers(0, 3, size=(2002,)).astype(np.uint8),
        "u16": rng.integers(0, 5000, size=(999,)).astype(np.uint16),
    }
    data = anspack.encode(tensors, lanes=4, pairs={"int4": "product", "tern": "product", "plain": True, "u16": False},
                          chunk={"int4": 1000, "tern": 0, "plain": 150, "u16": 100}, precision=12)
    hdr = anspack.read_header(data)
    assert [(t.product, t.pairs, t.chunks) for t in hdr.tensors] == [(True, True, 6), (True, True, 1), (False, True, 7), (False, False, 10)]
    stream_and_fetch_all(page, log_server, "r3.anspack", data, tensors)
