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
          // spots: a list of flat indices for every tensor, or {tensorName: [indices]}
      await window.decodeUrlError(url, options)
          // -> null if it decodes, else {isAnspackError, name, code, message, offset, tensor}
      await window.decodeErrorsInBlob(url, sizes, options)
          // many files concatenated in one served blob (byte sizes in order) -> decodeUrlError of each
      await window.readHeaderUrl(url, options)   // -> readHeader's result
      await window.sha256Hex(typedArrayOrBuffer) // -> hex SHA-256 of the bytes

  Uncaught page errors fail the test at teardown; ``browser_page.console_messages`` lists the
  console output. Import other modules in the page with ``browser_page.evaluate("async () => {
  const m = await import('/jsdecoder/src/seed.js'); ... }")``.

The server and the Chromium launcher live in tests/browser/anspack_test_server.py (also used by
benchmarks/js_decode_bench.py).

Example::

    def test_roundtrip(served_dir, browser_page):
        url = served_dir.write("w.anspack", anspack.encode({"w": np.arange(10, dtype=np.int8)}))
        got = browser_page.evaluate("u => window.decodeUrl(u)", url)
        assert got["tensors"][0]["dtype"] == "int8"
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from anspack_test_server import CHROMIUM, REPO_ROOT, StaticServer, launch_chromium, start_server  # noqa: E402

TEST_PAGE = "tests/browser/index.html"


@pytest.fixture(scope="session")
def http_server():
    static, server = start_server()
    try:
        yield static
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
            b = launch_chromium(pw)
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
