"""A small static HTTP server and a Chromium launcher for the browser tests and the JS benchmarks.

Used by tests/conftest.py (fixtures) and benchmarks/js_decode_bench.py. The server serves the
repository root on 127.0.0.1 with the right MIME types (text/javascript for .js), no caching, and
single byte ranges (206), and can mount other directories under fresh URL prefixes.
"""

from __future__ import annotations

import http.server
import os
import re
import socketserver
import threading
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]

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




def start_server() -> tuple[StaticServer, "_Server"]:
    """Start a server thread; returns (StaticServer, raw server) -- call raw.shutdown() to stop."""
    server = _Server()
    threading.Thread(target=server.serve_forever, name="anspack-http", daemon=True).start()
    return StaticServer(server), server


def launch_chromium(playwright):
    """Launch Debian's Chromium headless through a started playwright instance."""
    if not os.access(CHROMIUM, os.X_OK):
        raise FileNotFoundError(f"{CHROMIUM} is missing; run `bash tests/run.sh` (it installs Debian's chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
