"""Shared pytest fixtures: a static HTTP server and headless Chromium for the cross-language tests.

Fixtures (use them from any test module under tests/):

- ``http_server`` (session): a threaded static server on 127.0.0.1 serving the repository root at
  ``http_server.base_url`` (e.g. ``http://127.0.0.1:PORT/``), with ``text/javascript`` for .js/.mjs,
  ``application/octet-stream`` for .anspack/.bin, ``Cache-Control: no-store``, and single-range
  ``Range: bytes=a-b`` requests (206 responses) for partial fetches. ``http_server.mount(path)``
  serves another directory under a fresh URL prefix and returns that prefix.
- ``served_dir`` (function): an empty temporary directory served over HTTP. ``served_dir.path`` is
  the ``pathlib.Path``, ``served_dir.url`` its URL prefix (ends with "/"),
  ``served_dir.write(name, data)`` writes bytes (or str) and returns the file's URL, and
  ``served_dir.url_for(name)`` gives the URL of a file already there.
- ``browser`` (session): Debian's Chromium (/usr/bin/chromium) launched headless through Python
  playwright with the project's flags. If playwright or Chromium is missing the tests FAIL (never
  skip); ``bash tests/run.sh`` installs both.
- ``browser_page`` (function): a fresh page that has loaded ``tests/browser/index.html`` from
  ``http_server``; the decoder module is imported and these helpers are ready on ``window``
  (see tests/browser/harness.js)::

      window.anspack                       // the module namespace of jsdecoder/src/index.js
      await window.fetchBytes(url)         // -> Uint8Array of the file
      await window.decodeUrl(url, options, spots)
          // -> {metadata, tensors: [{name, shape, dtype, storedDtype, checksum, n, arrayType,
          //     byteLength, sha256 (hex of the data's bytes), spots: [value at each flat index]}]}
      await window.decodeUrlError(url, options)
          // -> null if it decodes, else {isAnspackError, name, code, message, offset, tensor}
      await window.readHeaderUrl(url, options)   // -> readHeader's result
      await window.sha256Hex(typedArrayOrBuffer) // -> hex SHA-256 of the bytes

  Uncaught page errors fail the test at teardown; ``browser_page.console_messages`` lists the
  console output. Import other modules in the page with ``browser_page.evaluate("async () => {
  const m = await import('/jsdecoder/src/seed.js'); ... }")``.

Example::

    def test_roundtrip(served_dir, browser_page):
        url = served_dir.write("w.anspack", anspack.encode({"w": np.arange(10, dtype=np.int8)}))
        got = browser_page.evaluate("u => window.decodeUrl(u)", url)
        assert got["tensors"][0]["dtype"] == "int8"
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socketserver
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
TEST_PAGE = "tests/browser/index.html"

MIME_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html; charset=utf-8",
    ".json": "application/json", ".anspack": "application/octet-stream", ".bin": "application/octet-stream",
    ".wasm": "application/wasm", ".css": "text/css", ".txt": "text/plain; charset=utf-8",
    ".safetensors": "application/octet-stream", ".gz": "application/gzip",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD of files under the server's mounts, with single byte ranges."""

    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def _resolve(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        for prefix, root in sorted(self.server.mounts.items(), key=lambda kv: -len(kv[0])):
            if path.startswith(prefix):
                rel = path[len(prefix):]
                target = (root / rel).resolve()
                if target != root and root not in target.parents:
                    return None  # path traversal
                if target.is_dir():
                    target = target / "index.html"
                return target if target.is_file() else None
        return None

    def _send(self, head_only: bool) -> None:
        target = self._resolve()
        if target is None:
            self.send_error(404, "not found")
            return
        size = target.stat().st_size
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            m = _RANGE.match(rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if m.group(1) == "":  # suffix range: last N bytes
                start, end = max(0, size - int(m.group(2))), size - 1
            else:
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", MIME_TYPES.get(target.suffix.lower(), "application/octet-stream"))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head_only:
            return
        with open(target, "rb") as f:
            f.seek(start)
            remaining = length
            while remaining:
                chunk = f.read(min(1 << 20, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def do_GET(self):
        self._send(head_only=False)

    def do_HEAD(self):
        self._send(head_only=True)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mounts: dict[str, Path] = {"/": REPO_ROOT}


class StaticServer:
    """The running server: ``base_url``, ``url(relpath)``, ``mount(dir) -> url prefix``."""

    def __init__(self, server: _Server):
        self._server = server
        self.port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/"

    def url(self, relpath: str) -> str:
        """URL of a path relative to the repository root."""
        return self.base_url + relpath.lstrip("/")

    def mount(self, directory: os.PathLike | str) -> str:
        """Serve ``directory`` under a fresh prefix; returns its URL (ending with "/")."""
        prefix = f"/_served/{uuid.uuid4().hex}/"
        self._server.mounts[prefix] = Path(directory).resolve()
        return f"http://127.0.0.1:{self.port}{prefix}"

    def unmount(self, url: str) -> None:
        self._server.mounts.pop(urlsplit(url).path, None)


@pytest.fixture(scope="session")
def http_server():
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, name="anspack-test-http", daemon=True)
    thread.start()
    try:
        yield StaticServer(server)
    finally:
        server.shutdown()
        server.server_close()


class ServedDir:
    """A temporary directory served over HTTP (see the module docstring)."""

    def __init__(self, path: Path, url: str):
        self.path = path
        self.url = url

    def url_for(self, name: str) -> str:
        return self.url + name

    def write(self, name: str, data: bytes | str) -> str:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            target.write_text(data, encoding="utf-8")
        else:
            target.write_bytes(bytes(data))
        return self.url_for(name)


@pytest.fixture
def served_dir(http_server):
    path = Path(tempfile.mkdtemp(prefix="anspack-served-"))
    url = http_server.mount(path)
    try:
        yield ServedDir(path, url)
    finally:
        http_server.unmount(url)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # pragma: no cover - environment problem
        pytest.fail(f"playwright is not installed ({e}); run `bash tests/run.sh` to install the test "
                    f"dependencies", pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing; run `bash tests/run.sh` (it installs Debian's chromium)",
                    pytrace=False)
    pw = sync_playwright().start()
    try:
        try:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Exception as e:  # pragma: no cover - environment problem
            pytest.fail(f"could not launch {CHROMIUM} through playwright: {e}", pytrace=False)
        yield b
        b.close()
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def browser_context(browser):
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture
def browser_page(browser_context, http_server):
    page = browser_context.new_page()
    page.set_default_timeout(120_000)
    page.console_messages = []
    page.page_errors = []
    page.on("console", lambda msg: page.console_messages.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: page.page_errors.append(str(err)))
    page.goto(http_server.url(TEST_PAGE))
    page.wait_for_function("window.anspackReady === true || window.anspackLoadError !== undefined")
    load_error = page.evaluate("window.anspackLoadError")
    if load_error is not None:
        page.close()
        pytest.fail(f"the test page could not import the decoder: {load_error}", pytrace=False)
    yield page
    errors = list(page.page_errors)
    page.close()
    if errors:
        pytest.fail("uncaught errors in the test page:\n" + "\n".join(errors), pytrace=False)
