"""``anspack bench``: sizes and speeds against general-purpose codecs on the same integers (the figures'
consistency, not their values: no time is asserted)."""

from __future__ import annotations

import json
import lzma
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

import anspack
from anspack import bench
from anspack.cli import main

JS_DECODER = Path(__file__).resolve().parents[1] / "jsdecoder" / "src" / "index.js"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _tensors(bits=8):
    rng = np.random.default_rng(3)
    hi = (1 << (bits - 1)) - 1
    return {"a": np.clip(np.round(rng.standard_normal((64, 96)) * hi / 3), -hi - 1, hi).astype(np.int8),
            "b": np.clip(np.round(rng.laplace(size=999) * hi / 4), -hi - 1, hi).astype(np.int8)}


def test_bench_an_anspack_file(tmp_path, capsys):
    t = _tensors(8)
    data = anspack.encode(t, lanes=4)
    path = tmp_path / "m.anspack"
    path.write_bytes(data)
    code, out, err = run(["bench", path, "--rounds", "2", "--quick", "--json", tmp_path / "r.json"], capsys)
    assert code == 0, err
    r = json.loads((tmp_path / "r.json").read_text())
    n = sum(a.size for a in t.values())
    assert (r["entries"], r["tensors"], r["rounds"]) == (n, 2, 2)
    s = r["sizes_bytes"]
    # the file as it is (lanes=4, not re-encoded), its blocks, the codecs on the same int8 bytes
    assert s["anspack file"] == len(data)
    assert s["anspack blocks"] == sum(x.data_size for x in anspack.read_header(data).tensors)
    raw = bench.codec_bytes(t)
    assert r["codec_input_bytes"] == len(raw) == n and not r["nibble_packed_for_codecs"]
    assert s["zlib-9"] == len(zlib.compress(raw, 9))
    assert "xz-9e" not in s and "brotli-11" not in s  # --quick
    assert math.isclose(s["entropy"], sum(bench.entropy_bits(a) for a in t.values()) / 8)
    for kind, ours in (("decode", "anspack.decode"), ("encode", "anspack.encode")):
        sp = r["speed"][kind]
        assert ours in sp and "zlib-9" in sp
        for k, v in sp.items():
            assert v["best_s"] > 0 and v["best_s"] <= v["median_s"]
            assert math.isclose(v["entries_per_s"], n / v["best_s"])
            if k != ours:
                assert math.isclose(v["ratio_best"], v["best_s"] / sp[ours]["best_s"])
                assert v["ratio_paired_median"] > 0
    assert "| anspack file |" in out and "| zlib-9 |" in out and f"{n:,} entries" in out
    assert "bench: decode" in err  # progress lines
    code, out, err = run(["bench", path, "--rounds", "1", "--quick", "-q"], capsys)
    assert code == 0 and err == ""


def test_bench_integer_model_files_are_encoded_with_the_defaults(tmp_path, capsys):
    t = _tensors(4)
    path = tmp_path / "q.npz"
    np.savez(path, **t)
    code, out, err = run(["bench", path, "--rounds", "1", "--json", tmp_path / "r.json"], capsys)
    assert code == 0, err
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["sizes_bytes"]["anspack file"] == len(anspack.encode(t))
    # 4-bit data: two entries per byte for the codecs, as benchmarks/run.py does
    n = sum(a.size for a in t.values())
    assert r["nibble_packed_for_codecs"] and r["codec_input_bytes"] == (n + 1) // 2
    assert r["sizes_bytes"]["xz-9e"] == len(lzma.compress(bench.codec_bytes(t), preset=9 | lzma.PRESET_EXTREME))


def test_codec_bytes_layout():
    t = {"x": np.array([-8, 7, 1, -1, 3], np.int8), "y": np.array([2], np.int8)}
    # low nibble first, two's complement, each tensor packed on its own (an odd count padded)
    assert bench.codec_bytes(t) == bytes([0x78, 0xF1, 0x03, 0x02])
    mixed = {"u4": np.array([15, 0, 9], np.uint8), "i16": np.array([5], np.int16), "u8": np.array([16, 1], np.uint8)}
    assert [bench.fits_nibbles(a) for a in mixed.values()] == [True, False, False] and not bench.is_nibble(mixed)
    assert bench.codec_bytes(mixed) == bytes([0x0F, 0x09]) + np.array([5], "<i2").tobytes() + bytes([16, 1])
    wide = {"x": np.array([1, -2], ">i2"), "y": np.array([300], np.int16)}
    assert not bench.is_nibble(wide)
    assert bench.codec_bytes(wide) == np.array([1, -2, 300], "<i2").tobytes()  # little-endian
    assert bench.paired_median([2.0, 3.0, 10.0], [1.0, 1.0, 1.0]) == 3.0


@pytest.mark.parametrize("argv,msg", [
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
])
def test_bench_option_errors(tmp_path, capsys, argv, msg):
    path = tmp_path / "m.anspack"
    path.write_bytes(anspack.encode(_tensors()))
    code, out, err = run(["bench", path, *argv], capsys)
    assert code == 2 and msg in err


def test_bench_refuses_float_models_and_empty_files(tmp_path, capsys):
    path = tmp_path / "f.npz"
    np.savez(path, w=np.ones((4, 4), np.float32), i=np.ones(3, np.int8))
    code, out, err = run(["bench", path], capsys)
    assert code == 2 and "not integers" in err and "'w'" in err and "anspack encode" in err
    empty = tmp_path / "e.anspack"
    empty.write_bytes(anspack.encode({"f": np.ones(3, np.float32)}))  # a float tensor only: nothing to measure
    code, out, err = run(["bench", empty], capsys)
    assert code == 2 and "no integer entries" in err
    code, out, err = run(["bench", tmp_path / "missing.anspack"], capsys)
    assert code == 2


def test_bench_node_times_the_js_decoder_against_gunzip(tmp_path, capsys):
    t = _tensors(4)
    path = tmp_path / "m.anspack"
    path.write_bytes(anspack.encode(t))
    code, out, err = run(["bench", path, "--rounds", "2", "--quick", "-q", "--node", JS_DECODER,
                          "--json", tmp_path / "r.json"], capsys)
    assert code == 0, err
    js = json.loads((tmp_path / "r.json").read_text())["node"]
    assert js["entries"] == sum(a.size for a in t.values()) and js["version"].startswith("v")
    assert len(js["decode_s"]) == len(js["gunzip_s"]) == 2 and min(js["decode_s"] + js["gunzip_s"]) > 0
    assert "| zlib.gunzipSync (gzip -9 of the same integers) |" in out and str(JS_DECODER) in out
    code, out, err = run(["bench", path, "--node", tmp_path / "nope.js"], capsys)
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.js"
    bad.write_text("export const decode = () => { throw new Error('broken decoder'); };\n")
    code, out, err = run(["bench", path, "--rounds", "1", "--quick", "-q", "--node", bad], capsys)
    assert code == 2 and "node failed" in err and "broken decoder" in err


def test_bench_node_takes_the_package_folder(tmp_path, capsys):
    """--node node_modules/anspack: the folder's package.json main (dist/anspack.js)."""
    from anspack.commands.bench import node_entry

    pkg = JS_DECODER.parents[1]
    assert Path(node_entry(str(pkg))).resolve() == (pkg / "dist" / "anspack.js").resolve()
    empty = tmp_path / "empty_pkg"
    empty.mkdir()
    path = tmp_path / "m.anspack"
    path.write_bytes(anspack.encode(_tensors()))
    code, out, err = run(["bench", path, "--node", empty], capsys)
    assert code == 2 and "folder without the JS decoder" in err


def test_bench_on_a_cli_file_compares_the_integers_blocks(tmp_path, capsys):
    """An `anspack encode --bits 4` file holds float16 tensors and a kept int64->int32 tensor beside the
    4-bit weights: the codecs get the integers (the 4-bit tensors nibble-packed, the others as bytes) and
    are compared with those tensors' blocks, not with the whole file."""
    from anspack.commands.encode import encode_model

    rng = np.random.default_rng(3)
    model = {"w": rng.standard_normal((64, 32)).astype(np.float32), "b": rng.standard_normal(64).astype(np.float32),
             "ids": np.arange(10, dtype=np.int64)}
    path = tmp_path / "m.anspack"
    data = encode_model(model, base="int4,row").data
    path.write_bytes(data)
    code, out, err = run(["bench", path, "--rounds", "1", "--quick", "-q", "--json", tmp_path / "r.json"], capsys)
    assert code == 0, err
    r = json.loads((tmp_path / "r.json").read_text())
    h = anspack.read_header(data)
    assert r["tensors"] == 2 and r["file_tensors"] == 3 and r["nibble_packed_tensors"] == 1
    assert r["codec_input_bytes"] == 64 * 32 // 2 + 4 * 10
    assert r["sizes_bytes"]["anspack blocks"] == sum(t.data_size for t in h.tensors if t.name in ("w", "ids"))
    assert "1 of the 2 tensors nibble-packed" in out and "1 float tensor and" in out
