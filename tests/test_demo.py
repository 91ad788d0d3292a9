"""The demo: `anspack demo --build-only` builds the data; the page decodes every model in Chromium and
its predictions on the held-out test images equal Python's, class by class.

Uses the ``browser`` fixture of tests/conftest.py (Debian's /usr/bin/chromium through playwright; the
test fails, never skips, if it is missing). The demo's own server (``anspack.commands.demo.DemoServer``)
serves the page, the data and the JS decoder, as ``anspack demo`` does.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading

import numpy as np
import pytest

import anspack
from anspack import digits
from anspack.cli import main as cli_main
from anspack.commands import demo

EPOCHS = 15  # enough for > 95 % test accuracy, fast to train
SEED_FULL = (3, 64, 96)  # the "full" seed layout the server builds on demand (small in the test)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "data"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli_main(["demo", "--build-only", "--out", str(out), "--epochs", str(EPOCHS),
                       "--seed-full-shape", "x".join(map(str, SEED_FULL))])
    assert rc == 0
    ref = json.loads((out / "reference.json").read_text())
    return out, ref, buf.getvalue()


@pytest.fixture(scope="module")
def server(built):
    out, _, _ = built
    srv = demo.DemoServer(out, 0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def load_test_images(out) -> np.ndarray:
    t = anspack.decode((out / "testset.anspack").read_bytes())
    return t["images"]


def load_test_labels(out) -> np.ndarray:
    return anspack.decode((out / "testset.anspack").read_bytes())["labels"].astype(np.int64)


def python_predictions(out, ref) -> dict[str, np.ndarray]:
    """Predictions recomputed here from the files (independently of what the build wrote)."""
    X = load_test_images(out)
    return {s["name"]: digits.predict(anspack.decode((out / s["file"]).read_bytes(), dequantize=True), X)
            for s in ref["settings"]}


def test_build_prints_the_seed_002_table(built):
    out, ref, printed = built
    names = [s.name for s in digits.SETTINGS]
    assert [s["name"] for s in ref["settings"]] == names
    assert "seed-002 table" in printed
    for s in digits.SETTINGS:
        assert s.label in printed
    for name in names:
        assert (out / f"{name}.anspack").is_file()
    assert (out / "model.safetensors").is_file()
    rows = {s["name"]: s for s in ref["settings"]}
    # the baseline is a sensible classifier and compression shrinks the file in the expected order
    assert rows["fp32"]["accuracy"] > 0.93
    assert rows["int8"]["accuracy"] > 0.90 and rows["int4-row"]["accuracy"] > 0.90
    assert rows["fp32"]["bytes"] > rows["fp16"]["bytes"] > rows["int8"]["bytes"] > rows["int4-row"]["bytes"]
    assert rows["kmeans3"]["bytes"] < rows["int4-row"]["bytes"]
    assert rows["prune50-int4"]["bytes"] < rows["prune10-int4"]["bytes"]
    assert 31 < rows["fp32"]["bits_per_param"] < 33
    for r in ref["settings"]:
        assert r["bytes"] == (out / r["file"]).stat().st_size
        assert r["latency_us_one"] > 0 and r["decode_ms"] > 0
    # the fp32 file holds exactly the saved safetensors weights
    st = digits.load_safetensors(out / "model.safetensors")
    back = anspack.decode((out / "fp32.anspack").read_bytes())
    assert set(st) == set(back)
    for k in st:
        assert back[k].dtype == np.float32 and np.array_equal(back[k], st[k])
    # the shipped test set is the held-out part of the split
    _, X_test, _, y_test = digits.load_split()
    assert np.array_equal(load_test_images(out), X_test) and np.array_equal(load_test_labels(out), y_test)
    assert ref["test"]["images"] == len(y_test)
    # the stored predictions are what decoding the files gives
    preds = python_predictions(out, ref)
    y = load_test_labels(out)
    for r in ref["settings"]:
        assert preds[r["name"]].tolist() == r["predictions"]
        assert r["accuracy"] == pytest.approx(np.mean(preds[r["name"]] == y), abs=0)


def test_split_is_stratified_and_training_deterministic():
    X_train, X_test, y_train, y_test = digits.load_split()
    assert len(X_test) == 360 and X_train.max() <= 16
    counts = np.bincount(y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 per class
    a = digits.train(X_train[:300], y_train[:300], epochs=2)
    b = digits.train(X_train[:300], y_train[:300], epochs=2)
    assert all(np.array_equal(a[k], b[k]) and a[k].dtype == np.float32 for k in a)
    c = digits.train(X_train[:300], y_train[:300], epochs=2, seed=1)
    assert not np.array_equal(a["fc1.weight"], c["fc1.weight"])


def test_exact_forward_agrees_with_blas_forward(built):
    out, ref, _ = built
    w = digits.load_safetensors(out / "model.safetensors")
    X = load_test_images(out)
    exact = digits.forward_exact(w, X)
    fast = digits.forward_fast(w, X)
    assert np.allclose(exact, fast, atol=1e-4)
    assert np.mean(np.argmax(fast, 1) == np.argmax(exact, 1)) > 0.99


def test_page_matches_python_and_classifies_a_drawing(built, server, browser, tmp_path):
    out, ref, _ = built
    preds = python_predictions(out, ref)
    y = load_test_labels(out).tolist()
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url)
        page.wait_for_function("window.demo && window.demo.ready === true", timeout=120_000)
        assert page.evaluate("window.demo.error") is None, page.evaluate("window.demo.error")
        results = page.evaluate("window.demo.results")
        assert sorted(results) == sorted(s["name"] for s in ref["settings"])
        for s in ref["settings"]:
            r = results[s["name"]]
            # exact: every predicted class equals Python's
            assert r["predictions"] == preds[s["name"]].tolist(), s["name"]
            assert r["samePredictions"] == len(y)
            assert r["correct"] == int(np.sum(preds[s["name"]] == np.array(y)))
            # checksums the JS decoder verified equal the ones Python's header holds
            header = anspack.read_header((out / s["file"]).read_bytes())
            assert r["checksums"] == {t.name: t.checksum for t in header.tensors}
            assert r["checksumsMatchPython"] is True
            assert r["bytes"] == s["bytes"]
            # what the table shows
            row = page.locator(f"#row-{s['name']}")
            shown_js = row.locator(".acc-js").inner_text()
            shown_py = row.locator(".acc-py").inner_text()
            assert shown_js == shown_py == f"{100 * s['accuracy']:.2f} %"
            assert row.locator(".same").inner_text() == f"{len(y)} / {len(y)}"
            assert "verified" in row.locator(".checks").inner_text()
        assert "every prediction equals Python" in page.locator("#status").inner_text()

        # draw a "1": one vertical stroke with mouse events
        box = page.locator("#pad").bounding_box()
        x = box["x"] + box["width"] * 0.5
        page.mouse.move(x, box["y"] + box["height"] * 0.15)
        page.mouse.down()
        for i in range(1, 21):
            page.mouse.move(x + i * 0.5, box["y"] + box["height"] * (0.15 + 0.035 * i))
        page.mouse.up()
        page.wait_for_function("window.demo.drawn !== null", timeout=10_000)
        drawn = page.evaluate("window.demo.drawn")
        assert len(drawn["pixels"]) == 64 and max(drawn["pixels"]) > 0 and max(drawn["pixels"]) <= 16
        assert sorted(drawn["predictions"]) == sorted(results)
        for name, p in drawn["predictions"].items():
            assert 0 <= p["class"] <= 9
            cell = page.locator(f"#row-{name} .pred").inner_text()
            assert cell.startswith(str(p["class"]))
        big = page.locator("#prediction .big").inner_text()
        assert big == str(drawn["predictions"]["fp32"]["class"])
        # the histogram and the SVG plots were drawn
        assert page.locator("#bits svg rect").count() >= len(results) * 3
        assert page.locator("#scatter svg circle").count() == len(results)
        shot = tmp_path / "demo.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    finally:
        page.close()
    assert not errors, errors


def test_page_decodes_the_seed_layout(built, server, browser):
    from anspack import seedbin

    out, ref, _ = built
    small = ref["seed_layout"]["small"]
    assert small is not None and (out / small["file"]).is_file()
    assert not (out / "seed-full.bin").exists()  # built on the first request only
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url)
        page.wait_for_function("window.demo && window.demo.ready === true", timeout=120_000)
        page.click("#seed-small")
        page.wait_for_function("window.demo.seed.small !== undefined", timeout=120_000)
        res = page.evaluate("window.demo.seed.small")
        assert res.get("error") is None, res.get("error")
        _, py_checksums = seedbin.decode((out / small["file"]).read_bytes(), matrices=small["matrices"],
                                         rows=small["rows"], cols=small["cols"])
        assert res["checksums"] == small["checksums"] == list(py_checksums)
        assert res["ok"] is True
        assert "match Python" in page.locator("#seed-row-small").inner_text()

        # the "full" button: the server builds the file on demand, the page decodes and checks it
        page.click("#seed-full")
        page.wait_for_function("window.demo.seed.full !== undefined", timeout=120_000)
        res = page.evaluate("window.demo.seed.full")
        assert res.get("error") is None, res.get("error")
        assert (res["matrices"], res["rows"], res["cols"]) == SEED_FULL
        data = (out / "seed-full.bin").read_bytes()
        assert res["bytes"] == len(data)
        _, py_checksums = seedbin.decode(data, matrices=SEED_FULL[0], rows=SEED_FULL[1], cols=SEED_FULL[2])
        assert res["checksums"] == list(py_checksums) and res["ok"] is True
        assert "match Python" in page.locator("#seed-row-full").inner_text()
    finally:
        page.close()
    assert not errors, errors


def test_server_serves_only_its_mounts(built, server):
    import urllib.error
    import urllib.request

    base = server.url.rsplit("/demo/", 1)[0]
    with urllib.request.urlopen(base + "/demo/data/reference.json") as r:
        assert r.headers["Content-Type"] == "application/json"
    for js in ("/jsdecoder/src/index.js", "/jsdecoder/dist/anspack.js"):  # the page imports the bundle
        with urllib.request.urlopen(base + js) as r:
            assert r.headers["Content-Type"] == "text/javascript"
    for bad in ("/demo/../pyproject.toml", "/demo/data/%2e%2e/%2e%2e/etc/passwd", "/pyproject.toml"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + bad)
        assert e.value.code == 404


def test_bad_options_are_usage_errors(tmp_path, capsys):
    assert cli_main(["demo", "--build-only", "--out", str(tmp_path), "--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert cli_main(["demo", "--build-only", "--out", str(tmp_path), "--port", "70000"]) == 2
    assert cli_main(["demo", "--build-only", "--out", str(tmp_path), "--seed-full-shape", "10x0x3"]) == 2
    assert not any(tmp_path.iterdir())  # nothing was built


@pytest.mark.parametrize("name", ["fp32", "int4-row", "kmeans3", "prune30-int4"])
def test_files_are_what_the_encode_cli_writes(built, tmp_path, name):
    """The demo compresses through the quantizers behind `anspack encode`: the CLI, run on the saved
    model with the setting's options, writes the same bytes."""
    out, ref, _ = built
    s = digits.SETTINGS_BY_NAME[name]
    target = tmp_path / f"{name}.anspack"
    argv = ["encode", str(out / "model.safetensors"), "-o", str(target), "--scheme", s.scheme, "-q"]
    for r in s.rules:
        argv += ["--rule", r]
    assert cli_main(argv) == 0
    assert target.read_bytes() == (out / f"{name}.anspack").read_bytes()
    row = next(r for r in ref["settings"] if r["name"] == name)
    assert row["quantizer"] == "anspack encode" and row["cli"] == s.cli()


def test_busy_port_is_a_usage_error(server, tmp_path, capsys):
    port = server.server_address[1]
    assert cli_main(["demo", "--out", str(tmp_path), "--epochs", "1", "--port", str(port)]) == 2
    assert "try --port 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # the port is taken before anything is built


def test_native_format_inference(built):
    """The lab's FP16 / INT8 inference: computed in the file's own format, close to the float result."""
    out, ref, printed = built
    X = load_test_images(out)
    y = load_test_labels(out)
    rows = {r["name"]: r for r in ref["settings"]}
    for s in digits.SETTINGS:
        data = (out / f"{s.name}.anspack").read_bytes()
        layers = digits.native_model(data)
        if s.kind == "kmeans":
            assert layers is None and rows[s.name]["native"] is None
            continue
        assert [L.kind for L in layers] == [{"fp32": "fp32", "fp16": "fp16", "int": "int"}[s.kind]] * 3
        if s.kind == "int":
            assert all(L.W.dtype == np.int8 and L.scale.dtype == np.float32 for L in layers)
            assert int(np.abs(layers[0].W).max()) <= (1 << (s.bits - 1)) - 1
        native = digits.forward_native(layers, X).astype(np.float64)
        ref_logits = digits.forward_exact(anspack.decode(data, dequantize=True), X)
        # 8-bit activations / float16 arithmetic: close, not equal
        err = np.abs(native - ref_logits).max() / np.abs(ref_logits).max()
        assert err < (0.05 if s.kind == "int" else 1e-2), (s.name, err)
        acc = float(np.mean(np.argmax(native, 1) == y))
        assert rows[s.name]["native"]["accuracy"] == acc
        assert acc > 0.9
    assert "native" in printed


def test_page_reports_a_corrupt_file(built, browser, tmp_path):
    """Flip one bit of one file: the page names the error in that row and still runs the others."""
    import shutil

    out, ref, _ = built
    bad = tmp_path / "data"
    shutil.copytree(out, bad)
    target = bad / "int8.anspack"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0x10
    target.write_bytes(bytes(data))
    with pytest.raises(anspack.FormatError):
        anspack.decode(bytes(data))
    srv = demo.DemoServer(bad, 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    page = browser.new_page()
    try:
        page.goto(srv.url)
        page.wait_for_function("window.demo && window.demo.ready === true", timeout=120_000)
        error = page.evaluate("window.demo.error")
        assert error is not None and error.startswith("int8: ")
        assert "Checksum" in error or "CorruptStream" in error
        assert page.locator("#row-int8 .checks").inner_text().startswith("\u2717")
        results = page.evaluate("window.demo.results")
        assert sorted(results) == sorted(s["name"] for s in ref["settings"] if s["name"] != "int8")
        assert "decoded 7 of 8 models" in page.locator("#status").inner_text()
    finally:
        page.close()
        srv.shutdown()
        srv.server_close()
