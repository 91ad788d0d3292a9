"""The JS package inside an app built by a bundler (Vite, pinned in tests/browser/bundlers/vite/package.json;
tests/run.sh installs it with `npm ci`), as ML engineers ship it: built for production, served, run in
headless Chromium. decode, decodeAsync on 2 Web Workers (Vite must find and build the decoder's worker
from its `new Worker(new URL('./worker.js', import.meta.url), ...)`), decodeStream with and without
workers -- each equal to Python's decode. (webpack 5 and esbuild were checked by hand: README.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import anspack

APP = Path(__file__).resolve().parent / "browser" / "bundlers" / "vite"
VITE = APP / "node_modules" / ".bin" / "vite"


def _hash(a: np.ndarray) -> int:
    """The page's hash of a tensor's values: s = s * 31 + v over the entries, in int32."""
    s = 0
    for v in a.reshape(-1).tolist():
        s = (s * 31 + int(v)) & 0xFFFFFFFF
    return s - (1 << 32) if s >= 1 << 31 else s


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not VITE.exists():
        pytest.fail(f"{VITE} is missing: run `bash tests/run.sh` (it runs `npm ci` in {APP})", pytrace=False)
    out = tmp_path_factory.mktemp("vite-build")
    r = subprocess.run([str(VITE), "build", "--base", "./", "--outDir", str(out), "--emptyOutDir", "--logLevel", "warn"],
                       cwd=APP, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"vite build failed:\n{r.stdout}\n{r.stderr}"
    return out


def test_vite_build_runs_every_entry_point(built, served_dir, browser):
    rng = np.random.default_rng(8)
    tensors = {"big": np.clip(np.round(rng.laplace(0, 2.0, (600, 500))), -8, 7).astype(np.int8),
               "u16": rng.integers(0, 3000, 5000).astype(np.uint16),
               "small": np.arange(-50, 50, dtype=np.int8)}
    data = anspack.encode(tensors, chunk={"big": 40_000})
    assert anspack.read_header(data).tensors[0].chunks > 2   # decodeAsync splits it over the workers
    for f in built.rglob("*"):
        if f.is_file():
            served_dir.write(str(f.relative_to(built)), f.read_bytes())
    workers = [f.name for f in (built / "assets").iterdir() if f.name.startswith("worker")]
    assert workers, f"Vite did not build the decoder's worker: {sorted(p.name for p in (built / 'assets').iterdir())}"
    served_dir.write("m.anspack", data)
    page = browser.new_page()
    bad, errors, used = [], [], []
    page.on("worker", lambda w: used.append(w.url))
    page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(served_dir.url_for("index.html"))
        page.wait_for_function("document.title === 'DONE'", timeout=120_000)
        results = page.evaluate("window.__results")
    finally:
        page.close()
    assert not errors and not [b for b in bad if not b.endswith("favicon.ico")], (errors, bad)
    header = {t.name: t for t in anspack.read_header(data).tensors}
    want = [{"name": k, "dtype": str(a.dtype), "n": a.size, "checksum": header[k].checksum, "hash": _hash(a)}
            for k, a in anspack.decode(data).items()]
    for call in ("decode", "decodeAsync", "decodeStream", "decodeStreamWorkers"):
        assert results[call] == want, (call, results[call])
    assert len(used) >= 4 and all("/assets/worker" in u for u in used), used   # Vite's worker chunk, 2 pools of 2
